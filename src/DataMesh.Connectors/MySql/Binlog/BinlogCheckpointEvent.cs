namespace DataMesh.Connectors.MySql.Binlog;

/// <summary>MariaDB's BINLOG_CHECKPOINT (161): the oldest binlog file that crash recovery still needs.</summary>
internal sealed class BinlogCheckpointEvent
{
    private BinlogCheckpointEvent(string file) => File = file;

    public string File { get; }

    /// <summary>Parses the event body (after the header, without the checksum).</summary>
    public static BinlogCheckpointEvent Parse(ReadOnlySpan<byte> body)
    {
        var reader = new Protocol.PayloadReader(body, "BINLOG_CHECKPOINT", BinlogEventHeader.Length);
        var length = reader.ReadUInt32("file_length");
        if (length > (uint)reader.Remaining)
        {
            throw reader.Error("file_length", $"a name of {length} bytes does not fit the {reader.Remaining} bytes left");
        }

        return new BinlogCheckpointEvent(reader.ReadString((int)length, "file"));
    }
}
