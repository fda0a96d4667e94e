namespace DataMesh.Connectors.MySql.Binlog;

/// <summary>ROTATE (4): the next events come from another binlog file, starting at a position. Also sent, marked
/// artificial, at the start of a dump to name the file being read.</summary>
internal sealed class RotateEvent
{
    private RotateEvent(long position, string nextFile)
    {
        Position = position;
        NextFile = nextFile;
    }

    public long Position { get; }

    public string NextFile { get; }

    /// <summary>Parses the event body (after the header, without the checksum).</summary>
    public static RotateEvent Parse(ReadOnlySpan<byte> body)
    {
        var reader = new Protocol.PayloadReader(body, "ROTATE", BinlogEventHeader.Length);
        var position = reader.ReadUInt64("position");
        if (position > long.MaxValue)
        {
            throw reader.Error("position", $"position {position} is out of range");
        }

        var name = reader.ReadRestString();
        if (name.Length == 0)
        {
            throw reader.Error("next_file", "the next file's name is empty");
        }

        return new RotateEvent((long)position, name);
    }
}
