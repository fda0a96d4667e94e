using System.Buffers.Binary;
using System.Numerics;
using System.Text;

namespace DataMesh.Tests.Cassandra;

/// <summary>
/// Writes mutations in the serialization of messaging versions 10–12 (fixture README, "Mutation"), field by field, for
/// what the real fixtures lack: every CQL type, collections, UDTs, static rows, deletions, TTLs, range tombstones,
/// column subsets of 64+ columns. Deltas are taken from the minima given to <see cref="Partition"/>.
/// </summary>
internal sealed class MutationWriter
{
    public const long TimestampEpoch = 1442880000000000;
    public const int DeletionTimeEpoch = 1442880000;

    private readonly MemoryStream _out = new();
    private long _minTimestamp;
    private int _minLocalDeletionTime;

    public byte[] ToArray() => _out.ToArray();

    public MutationWriter UVInt(ulong value)
    {
        var magnitude = BitOperations.LeadingZeroCount(value | 1);
        var size = (639 - (magnitude * 9)) >> 6;
        var extra = size - 1;
        Span<byte> bytes = stackalloc byte[9];
        for (var i = size - 1; i >= 1; i--)
        {
            bytes[i] = (byte)value;
            value >>= 8;
        }

        bytes[0] = extra == 8 ? (byte)0xFF : (byte)((0xFF << (8 - extra)) | (int)value);
        _out.Write(bytes[..size]);
        return this;
    }

    public MutationWriter Byte(int value)
    {
        _out.WriteByte((byte)value);
        return this;
    }

    public MutationWriter Raw(ReadOnlySpan<byte> bytes)
    {
        _out.Write(bytes);
        return this;
    }

    public MutationWriter VBytes(ReadOnlySpan<byte> bytes) => UVInt((ulong)bytes.Length).Raw(bytes);

    public MutationWriter VText(string text) => VBytes(Encoding.UTF8.GetBytes(text));

    public MutationWriter Short(int value)
    {
        Span<byte> bytes = stackalloc byte[2];
        BinaryPrimitives.WriteUInt16BigEndian(bytes, (ushort)value);
        return Raw(bytes);
    }

    /// <summary>A partition update's start: table id, key, flags, encoding statistics.</summary>
    public MutationWriter Partition(Guid table, ReadOnlySpan<byte> key, int flags, long minTimestamp, int minLocalDeletionTime, int minTtl)
    {
        _minTimestamp = minTimestamp;
        _minLocalDeletionTime = minLocalDeletionTime;
        Raw(table.ToByteArray(bigEndian: true)).VBytes(key).Byte(flags);
        return UVInt((ulong)(minTimestamp - TimestampEpoch)).UVInt((ulong)(minLocalDeletionTime - DeletionTimeEpoch)).UVInt((ulong)minTtl);
    }

    public MutationWriter Columns(params string[] names)
    {
        UVInt((ulong)names.Length);
        foreach (var name in names)
        {
            VText(name);
        }

        return this;
    }

    public MutationWriter Timestamp(long timestamp) => UVInt((ulong)(timestamp - _minTimestamp));

    public MutationWriter LocalDeletionTime(int time) => UVInt((ulong)(long)(time - _minLocalDeletionTime));

    public MutationWriter Deletion(long timestamp, int localDeletionTime) => Timestamp(timestamp).LocalDeletionTime(localDeletionTime);

    /// <summary>A clustering block header (bit 2i+1 null, bit 2i empty) for up to 32 values.</summary>
    public MutationWriter ClusteringHeader(ulong bits = 0) => UVInt(bits);

    public static byte[] Int(int value)
    {
        var bytes = new byte[4];
        BinaryPrimitives.WriteInt32BigEndian(bytes, value);
        return bytes;
    }

    public static byte[] Long(long value)
    {
        var bytes = new byte[8];
        BinaryPrimitives.WriteInt64BigEndian(bytes, value);
        return bytes;
    }

    public static byte[] Text(string value) => Encoding.UTF8.GetBytes(value);

    /// <summary>A frozen collection's or tuple's value: [int32 count] then int32-length elements (-1 for null); a map's
    /// count is of its pairs.</summary>
    public static byte[] Elements(int? count, params byte[]?[] elements)
    {
        var stream = new MemoryStream();
        if (count is { } n)
        {
            stream.Write(Int(n));
        }

        foreach (var element in elements)
        {
            stream.Write(Int(element?.Length ?? -1));
            stream.Write(element ?? []);
        }

        return stream.ToArray();
    }
}
