namespace DataMesh.Connectors.MySql.Binlog;

/// <summary>MariaDB's GTID (162): starts an event group (a transaction, or a stand-alone DDL) with its global
/// transaction id domain-server-sequence.</summary>
internal readonly struct MariaDbGtidEvent
{
    /// <summary>FL_STANDALONE: no COMMIT or XID ends the group (DDL).</summary>
    public const byte StandaloneFlag = 1;

    /// <summary>FL_DDL: the group holds DDL.</summary>
    public const byte DdlFlag = 32;

    /// <summary>FL_PREPARED_XA: the group is an XA transaction's XA PREPARE (it ends with XA_PREPARE, not COMMIT).</summary>
    public const byte PreparedXaFlag = 64;

    /// <summary>FL_COMPLETED_XA: the group is the XA COMMIT or XA ROLLBACK of a prepared XA transaction.</summary>
    public const byte CompletedXaFlag = 128;

    private MariaDbGtidEvent(ulong sequence, uint domain, uint serverId, byte flags)
    {
        Sequence = sequence;
        Domain = domain;
        ServerId = serverId;
        Flags = flags;
    }

    public ulong Sequence { get; }

    public uint Domain { get; }

    public uint ServerId { get; }

    public byte Flags { get; }

    public bool IsStandalone => (Flags & StandaloneFlag) != 0;

    /// <summary>Whether the group is an XA PREPARE: its rows are not committed yet.</summary>
    public bool IsPreparedXa => (Flags & PreparedXaFlag) != 0;

    public MariaDbGtid Gtid => new(Domain, ServerId, Sequence);

    /// <summary>Parses the event body; the server id comes from the event header.</summary>
    public static MariaDbGtidEvent Parse(ReadOnlySpan<byte> body, uint serverId)
    {
        var reader = new Protocol.PayloadReader(body, "GTID (MariaDB)", BinlogEventHeader.Length);
        var sequence = reader.ReadUInt64("seq_no");
        var domain = reader.ReadUInt32("domain_id");
        var flags = reader.ReadByte("flags");
        return new MariaDbGtidEvent(sequence, domain, serverId, flags);
    }
}
