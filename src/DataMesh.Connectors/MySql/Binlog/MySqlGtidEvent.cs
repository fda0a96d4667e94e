namespace DataMesh.Connectors.MySql.Binlog;

/// <summary>MySQL's GTID (33) and ANONYMOUS_GTID (34): the next transaction's id, source UUID and sequence number (gno).</summary>
internal readonly struct MySqlGtidEvent
{
    private MySqlGtidEvent(byte flags, Guid sourceId, long sequence)
    {
        Flags = flags;
        SourceId = sourceId;
        Sequence = sequence;
    }

    public byte Flags { get; }

    /// <summary>The source server's UUID (its bytes in the order MySQL prints them).</summary>
    public Guid SourceId { get; }

    /// <summary>The gno, 1 or more; 0 for ANONYMOUS_GTID.</summary>
    public long Sequence { get; }

    /// <summary>Parses the event body (after the header, without the checksum).</summary>
    public static MySqlGtidEvent Parse(ReadOnlySpan<byte> body)
    {
        var reader = new Protocol.PayloadReader(body, "GTID", BinlogEventHeader.Length);
        var flags = reader.ReadByte("flags");
        var sid = reader.ReadSpan(16, "sid");
        var gno = reader.ReadUInt64("gno");
        if (gno > long.MaxValue)
        {
            throw reader.Error("gno", $"gno {gno} is out of range");
        }

        return new MySqlGtidEvent(flags, new Guid(sid, bigEndian: true), (long)gno);
    }
}
