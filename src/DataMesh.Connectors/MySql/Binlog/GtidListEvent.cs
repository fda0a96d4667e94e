namespace DataMesh.Connectors.MySql.Binlog;

/// <summary>MariaDB's GTID_LIST (163), at the start of each binlog file: the last GTID of every replication domain before it.</summary>
internal sealed class GtidListEvent
{
    private GtidListEvent(IReadOnlyList<MariaDbGtid> gtids) => Gtids = gtids;

    public IReadOnlyList<MariaDbGtid> Gtids { get; }

    /// <summary>Parses the event body (after the header, without the checksum).</summary>
    public static GtidListEvent Parse(ReadOnlySpan<byte> body)
    {
        var reader = new Protocol.PayloadReader(body, "GTID_LIST", BinlogEventHeader.Length);
        var count = reader.ReadUInt32("count") & 0x0FFFFFFF; // the top four bits are flags
        if (count > (uint)reader.Remaining / 16)
        {
            throw reader.Error("count", $"{count} GTIDs do not fit the {reader.Remaining} bytes left");
        }

        var gtids = new MariaDbGtid[count];
        for (var i = 0; i < gtids.Length; i++)
        {
            var domain = reader.ReadUInt32("domain_id");
            var server = reader.ReadUInt32("server_id");
            var sequence = reader.ReadUInt64("seq_no");
            gtids[i] = new MariaDbGtid(domain, server, sequence);
        }

        return new GtidListEvent(gtids);
    }
}
