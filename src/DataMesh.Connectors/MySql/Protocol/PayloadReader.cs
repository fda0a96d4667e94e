using System.Buffers.Binary;
using System.Runtime.CompilerServices;
using System.Text;

namespace DataMesh.Connectors.MySql.Protocol;

/// <summary>
/// A bounds-checked reader over one protocol payload or binlog event. Every read names the field it reads, so that
/// running out of bytes throws a <see cref="BinlogFormatException"/> that names the message, the field and the byte
/// offset (counted from <see cref="BaseOffset"/>, the start of the event) instead of an index error.
/// </summary>
internal ref struct PayloadReader
{
    private readonly ReadOnlySpan<byte> _data;
    private readonly string _what;
    private int _offset;

    /// <summary>Creates a reader.</summary>
    /// <param name="data">The bytes.</param>
    /// <param name="what">The message or event type, for error messages.</param>
    /// <param name="baseOffset">The offset of <paramref name="data"/>'s first byte within the event, for error messages.</param>
    public PayloadReader(ReadOnlySpan<byte> data, string what, int baseOffset = 0)
    {
        _data = data;
        _what = what;
        _offset = 0;
        BaseOffset = baseOffset;
    }

    /// <summary>The offset of the data's first byte within the event.</summary>
    public int BaseOffset { get; }

    /// <summary>The read position within the data.</summary>
    public int Offset
    {
        readonly get => _offset;
        set
        {
            if ((uint)value > (uint)_data.Length)
            {
                throw Error("offset", $"offset {value} is beyond the {_data.Length} bytes");
            }

            _offset = value;
        }
    }

    /// <summary>Bytes left.</summary>
    public readonly int Remaining => _data.Length - _offset;

    /// <summary>The unread bytes.</summary>
    public readonly ReadOnlySpan<byte> Rest => _data[_offset..];

    /// <summary>The whole data.</summary>
    public readonly ReadOnlySpan<byte> Data => _data;

    /// <summary>An error at the current offset.</summary>
    public readonly BinlogFormatException Error(string field, string detail) =>
        new(_what, field, BaseOffset + _offset, detail);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public byte ReadByte(string field)
    {
        if (_offset >= _data.Length)
        {
            throw Truncated(field, 1);
        }

        return _data[_offset++];
    }

    public ushort ReadUInt16(string field) => BinaryPrimitives.ReadUInt16LittleEndian(ReadSpan(2, field));

    public int ReadUInt24(string field)
    {
        var span = ReadSpan(3, field);
        return span[0] | (span[1] << 8) | (span[2] << 16);
    }

    public uint ReadUInt32(string field) => BinaryPrimitives.ReadUInt32LittleEndian(ReadSpan(4, field));

    public long ReadUInt48(string field)
    {
        var span = ReadSpan(6, field);
        return BinaryPrimitives.ReadUInt32LittleEndian(span) | ((long)BinaryPrimitives.ReadUInt16LittleEndian(span[4..]) << 32);
    }

    public ulong ReadUInt64(string field) => BinaryPrimitives.ReadUInt64LittleEndian(ReadSpan(8, field));

    /// <summary>Reads a length-encoded integer (1, 3, 4 or 9 bytes).</summary>
    public ulong ReadLengthEncoded(string field)
    {
        var first = ReadByte(field);
        return first switch
        {
            < 0xFB => first,
            0xFC => ReadUInt16(field),
            0xFD => (ulong)ReadUInt24(field),
            0xFE => ReadUInt64(field),
            _ => throw new BinlogFormatException(_what, field, BaseOffset + _offset - 1, $"0x{first:X2} is not a length-encoded integer"),
        };
    }

    /// <summary>Reads a length-encoded integer that must fit an <see cref="int"/> and the bytes left (a count or a length).</summary>
    public int ReadLengthEncodedCount(string field)
    {
        var start = _offset;
        var value = ReadLengthEncoded(field);
        if (value > int.MaxValue)
        {
            throw new BinlogFormatException(_what, field, BaseOffset + start, $"length {value} is too large");
        }

        return (int)value;
    }

    /// <summary>Reads a length-encoded byte string.</summary>
    public ReadOnlySpan<byte> ReadLengthEncodedBytes(string field)
    {
        var length = ReadLengthEncodedCount(field);
        return ReadSpan(length, field);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public ReadOnlySpan<byte> ReadSpan(int length, string field)
    {
        if ((uint)length > (uint)(_data.Length - _offset))
        {
            throw Truncated(field, length);
        }

        var span = _data.Slice(_offset, length);
        _offset += length;
        return span;
    }

    /// <summary>Reads bytes up to a NUL and skips the NUL.</summary>
    public ReadOnlySpan<byte> ReadNullTerminated(string field)
    {
        var end = _data[_offset..].IndexOf((byte)0);
        if (end < 0)
        {
            throw Error(field, "the string has no terminating NUL byte");
        }

        var span = _data.Slice(_offset, end);
        _offset += end + 1;
        return span;
    }

    public string ReadNullTerminatedString(string field) => Encoding.UTF8.GetString(ReadNullTerminated(field));

    public string ReadString(int length, string field) => Encoding.UTF8.GetString(ReadSpan(length, field));

    public string ReadRestString() => Encoding.UTF8.GetString(ReadSpan(Remaining, "rest"));

    public void Skip(int length, string field) => ReadSpan(length, field);

    private readonly BinlogFormatException Truncated(string field, int wanted) =>
        new(_what, field, BaseOffset + _offset, $"truncated: {wanted} bytes needed, {_data.Length - _offset} left");
}
