using System.Buffers.Binary;
using System.Numerics;

namespace DataMesh.Connectors.Cassandra.Mutations;

/// <summary>
/// A bounds-checked reader over one serialized mutation: bytes, big-endian integers and Cassandra's unsigned vints
/// (the count of leading 1-bits of the first byte is the count of extra bytes, which follow big-endian). Every read
/// names its field, so a malformed mutation says what was being read and where.
/// </summary>
internal ref struct MutationReader
{
    private readonly ReadOnlySpan<byte> _data;
    private readonly string _segment;
    private readonly long _baseOffset;
    private int _position;

    /// <param name="data">The mutation.</param>
    /// <param name="segment">The segment's name, for errors.</param>
    /// <param name="baseOffset">The segment offset of the mutation's first byte, for errors.</param>
    public MutationReader(ReadOnlySpan<byte> data, string segment, long baseOffset)
    {
        _data = data;
        _segment = segment;
        _baseOffset = baseOffset;
    }

    public readonly int Position => _position;

    /// <summary>The column being read, named in errors (null between columns).</summary>
    public Schema.CassandraColumn? Column { get; set; }

    public readonly int Remaining => _data.Length - _position;

    public readonly ReadOnlySpan<byte> Data => _data;

    public byte ReadByte(string field)
    {
        if (_position >= _data.Length)
        {
            throw Truncated(field, 1);
        }

        return _data[_position++];
    }

    public ReadOnlySpan<byte> ReadBytes(int count, string field)
    {
        if (count < 0 || count > Remaining)
        {
            throw Truncated(field, count);
        }

        var bytes = _data.Slice(_position, count);
        _position += count;
        return bytes;
    }

    /// <summary>Reads n bytes and returns where they are in the mutation.</summary>
    public (int Offset, int Length) ReadRange(int count, string field)
    {
        var offset = _position;
        ReadBytes(count, field);
        return (offset, count);
    }

    public ushort ReadUInt16(string field) => BinaryPrimitives.ReadUInt16BigEndian(ReadBytes(2, field));

    public ulong ReadUnsignedVInt(string field)
    {
        var first = ReadByte(field);
        var extra = BitOperations.LeadingZeroCount((uint)(byte)~first) - 24;
        if (extra == 0)
        {
            return first;
        }

        var bytes = ReadBytes(extra, field);
        var value = (ulong)(first & (0xFF >> extra));
        foreach (var b in bytes)
        {
            value = (value << 8) | b;
        }

        return value;
    }

    /// <summary>An unsigned vint that must fit a non-negative int (a count or a length).</summary>
    public int ReadLength(string field)
    {
        var start = _position;
        var value = ReadUnsignedVInt(field);
        if (value > int.MaxValue)
        {
            throw Error(start, $"{field}: {value} is not a length");
        }

        return (int)value;
    }

    /// <summary>A count of items of at least <paramref name="minimumItemLength"/> bytes each, checked against what is left.</summary>
    public int ReadCount(string field, int minimumItemLength)
    {
        var start = _position;
        var count = ReadLength(field);
        if ((long)count * minimumItemLength > Remaining)
        {
            throw Error(start, $"{field}: {count} cannot fit in the {Remaining} bytes left");
        }

        return count;
    }

    /// <summary>A vint length, then that many bytes.</summary>
    public (int Offset, int Length) ReadLengthPrefixed(string field)
    {
        var length = ReadLength(field);
        return ReadRange(length, field);
    }

    /// <summary>An error at a mutation offset.</summary>
    public readonly CommitLogFormatException Error(int position, string detail, CommitLogError error = CommitLogError.Corrupt) =>
        new(error, _segment, _baseOffset + position, Column is null
            ? $"mutation byte {position}: {detail}"
            : $"mutation byte {position}, column '{Column.Name}' ({Column.Type}): {detail}");

    public readonly CommitLogFormatException Error(string detail) => Error(_position, detail);

    private readonly CommitLogFormatException Truncated(string field, int wanted) =>
        Error(_position, $"{field}: {wanted} bytes wanted, {Remaining} left in the mutation");
}
