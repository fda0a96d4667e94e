using System.Buffers.Binary;
using System.IO.Hashing;

namespace DataMesh.Connectors.Cassandra.CommitLog;

/// <summary>The CRC-32 (zlib's) of the commit log, fed the way Cassandra feeds it: ints as their 4 big-endian bytes.</summary>
internal static class CommitLogCrc
{
    public static void AppendInt(this Crc32 crc, int value)
    {
        Span<byte> bytes = stackalloc byte[4];
        BinaryPrimitives.WriteInt32BigEndian(bytes, value);
        crc.Append(bytes);
    }

    /// <summary>The CRC of a sync marker at <paramref name="markerOffset"/>: the id's low half, its high half, the offset.</summary>
    public static uint SyncMarker(long segmentId, int markerOffset)
    {
        Span<byte> bytes = stackalloc byte[12];
        BinaryPrimitives.WriteInt32BigEndian(bytes, (int)(segmentId & 0xFFFFFFFF));
        BinaryPrimitives.WriteInt32BigEndian(bytes[4..], (int)(segmentId >>> 32));
        BinaryPrimitives.WriteInt32BigEndian(bytes[8..], markerOffset);
        return Crc32.HashToUInt32(bytes);
    }

    /// <summary>The CRC of an entry's size field.</summary>
    public static uint Size(int size)
    {
        Span<byte> bytes = stackalloc byte[4];
        BinaryPrimitives.WriteInt32BigEndian(bytes, size);
        return Crc32.HashToUInt32(bytes);
    }
}
