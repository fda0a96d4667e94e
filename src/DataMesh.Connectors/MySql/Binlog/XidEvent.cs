using System.Buffers.Binary;

namespace DataMesh.Connectors.MySql.Binlog;

/// <summary>XID (16): the commit of a transaction of a transactional engine, with its XA id.</summary>
internal readonly struct XidEvent
{
    private XidEvent(ulong xid) => Xid = xid;

    public ulong Xid { get; }

    /// <summary>Parses the event body (after the header, without the checksum).</summary>
    public static XidEvent Parse(ReadOnlySpan<byte> body)
    {
        if (body.Length < 8)
        {
            throw new BinlogFormatException("XID", "xid", BinlogEventHeader.Length, $"truncated: 8 bytes needed, {body.Length} left");
        }

        return new XidEvent(BinaryPrimitives.ReadUInt64LittleEndian(body));
    }
}
