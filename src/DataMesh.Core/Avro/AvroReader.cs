using System.Buffers.Binary;
using System.Globalization;
using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.Unicode;

namespace DataMesh.Avro;

/// <summary>
/// Reads Avro binary encoding (specification 1.12) from a <see cref="ReadOnlySpan{T}"/>, in place and without allocating
/// (except the methods that return a <see cref="string"/> or <see cref="BigInteger"/>).
/// </summary>
/// <remarks>
/// Every read is bounds-checked; every length and count is checked against the bytes remaining before it is used.
/// Malformed data throws <see cref="AvroFormatException"/> with the byte offset (relative to the start of the span)
/// where the bad value begins; nothing else escapes for bad data. Spans returned by <see cref="ReadBytes"/>,
/// <see cref="ReadStringUtf8"/> and <see cref="ReadFixed"/> are slices of the input, valid as long as it is.
/// This is a <see langword="ref struct"/>: pass it by <see langword="ref"/> to helpers, never by value.
/// </remarks>
[SkipLocalsInit]
public ref struct AvroReader
{
    /// <summary>The largest scale <see cref="ReadDecimalScale"/> accepts: 16,383, PostgreSQL's largest numeric scale (MySQL's is 30).</summary>
    public const int MaxDecimalScale = 16_383;

    private const int MaxUuidStringLength = 68;

    private readonly ReadOnlySpan<byte> _data;
    private int _position;

    /// <summary>Creates a reader over <paramref name="data"/>, positioned at its first byte.</summary>
    /// <param name="data">The Avro-encoded bytes.</param>
    public AvroReader(ReadOnlySpan<byte> data)
    {
        _data = data;
        _position = 0;
    }

    /// <summary>The offset of the next byte to read, from the start of the span.</summary>
    public readonly int Position => _position;

    /// <summary>The number of bytes not yet read.</summary>
    public readonly int Remaining => _data.Length - _position;

    /// <summary>Whether every byte has been read.</summary>
    public readonly bool End => _position >= _data.Length;

    /// <summary>The whole span this reader reads.</summary>
    public readonly ReadOnlySpan<byte> Data => _data;

    /// <summary>Reads a null: Avro encodes it as zero bytes, so this reads nothing.</summary>
    public readonly void ReadNull()
    {
    }

    /// <summary>Reads a boolean: one byte that must be 0 or 1.</summary>
    /// <returns>The value.</returns>
    public bool ReadBoolean()
    {
        if (_position >= _data.Length)
        {
            throw Truncated(_position, "boolean", 1);
        }

        var b = _data[_position];
        if (b > 1)
        {
            throw Error(_position, AvroReader.Format("boolean byte is {0}, not 0 or 1", b));
        }

        _position++;
        return b == 1;
    }

    /// <summary>Reads an int: a zig-zag varint of at most 5 bytes whose value fits 32 bits.</summary>
    /// <returns>The value.</returns>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public int ReadInt()
    {
        var pos = _position;
        if ((uint)pos < (uint)_data.Length)
        {
            uint b = _data[pos];
            if (b < 0x80)
            {
                _position = pos + 1;
                return (int)(b >> 1) ^ -(int)(b & 1);
            }
        }

        return ReadIntSlow();
    }

    /// <summary>Reads a long: a zig-zag varint of at most 10 bytes whose value fits 64 bits.</summary>
    /// <returns>The value.</returns>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public long ReadLong()
    {
        var pos = _position;
        if ((uint)pos < (uint)_data.Length)
        {
            ulong b = _data[pos];
            if (b < 0x80)
            {
                _position = pos + 1;
                return (long)(b >> 1) ^ -(long)(b & 1);
            }
        }

        var raw = ReadVarULongSlow();
        return (long)(raw >> 1) ^ -(long)(raw & 1);
    }

    /// <summary>Reads a float: 4 bytes, IEEE 754 little-endian.</summary>
    /// <returns>The value, bit for bit.</returns>
    public float ReadFloat()
    {
        if (_data.Length - _position < 4)
        {
            throw Truncated(_position, "float", 4);
        }

        var value = BinaryPrimitives.ReadSingleLittleEndian(_data.Slice(_position, 4));
        _position += 4;
        return value;
    }

    /// <summary>Reads a double: 8 bytes, IEEE 754 little-endian.</summary>
    /// <returns>The value, bit for bit.</returns>
    public double ReadDouble()
    {
        if (_data.Length - _position < 8)
        {
            throw Truncated(_position, "double", 8);
        }

        var value = BinaryPrimitives.ReadDoubleLittleEndian(_data.Slice(_position, 8));
        _position += 8;
        return value;
    }

    /// <summary>Reads bytes: a long length, checked against the bytes remaining, then that many bytes.</summary>
    /// <returns>A slice of the input (no copy).</returns>
    public ReadOnlySpan<byte> ReadBytes() => ReadLengthPrefixed("bytes");

    /// <summary>Reads a string as UTF-8 bytes, validated as well-formed UTF-8.</summary>
    /// <returns>A slice of the input (no copy).</returns>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public ReadOnlySpan<byte> ReadStringUtf8()
    {
        var start = _position;
        var value = ReadLengthPrefixed("string");
        if (!IsValidUtf8(value))
        {
            throw InvalidUtf8(start, value);
        }

        return value;
    }

    /// <summary>Reads a string, validated as UTF-8, into a new <see cref="string"/>.</summary>
    /// <returns>The string.</returns>
    public string ReadString()
    {
        var start = _position;
        var value = ReadLengthPrefixed("string");
        if (!IsValidUtf8(value))
        {
            throw InvalidUtf8(start, value);
        }

        return Encoding.UTF8.GetString(value);
    }

    /// <summary>Reads a fixed of <paramref name="size"/> bytes.</summary>
    /// <param name="size">The size declared by the schema.</param>
    /// <returns>A slice of the input (no copy).</returns>
    public ReadOnlySpan<byte> ReadFixed(int size)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(size);
        if (_data.Length - _position < size)
        {
            throw Truncated(_position, "fixed", size);
        }

        var value = _data.Slice(_position, size);
        _position += size;
        return value;
    }

    /// <summary>
    /// Reads the scale of a variable-scale decimal (the <c>scale</c> field of DataMesh's
    /// <c>io.datamesh.data.VariableScaleDecimal</c> record) and checks it is from 0 to <see cref="MaxDecimalScale"/>, so that
    /// malformed bytes cannot make a reader write billions of zeros.
    /// </summary>
    /// <returns>The scale.</returns>
    public int ReadDecimalScale()
    {
        var start = _position;
        var scale = ReadInt();
        if ((uint)scale > MaxDecimalScale)
        {
            throw Error(start, Format("decimal scale {0} is not from 0 to {1}", scale, MaxDecimalScale));
        }

        return scale;
    }

    /// <summary>Reads an enum symbol index and checks it against the number of symbols.</summary>
    /// <param name="symbolCount">The number of symbols in the schema.</param>
    /// <returns>The zero-based symbol index.</returns>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public int ReadEnum(int symbolCount)
    {
        var start = _position;
        var index = ReadInt();
        if ((uint)index >= (uint)symbolCount)
        {
            throw IndexOutOfRange(start, "enum index {0} is out of range for {1} symbols", index, symbolCount);
        }

        return index;
    }

    /// <summary>Reads a union branch index and checks it against the number of branches.</summary>
    /// <param name="branchCount">The number of branches in the union.</param>
    /// <returns>The zero-based branch index.</returns>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public int ReadUnionIndex(int branchCount)
    {
        var start = _position;
        var index = ReadInt();
        if ((uint)index >= (uint)branchCount)
        {
            throw IndexOutOfRange(start, "union index {0} is out of range for {1} branches", index, branchCount);
        }

        return index;
    }

    /// <summary>
    /// Reads the header of the next block of an array or map: the number of items in the block, 0 at the end. A negative
    /// count (the sized form) is followed by the block's byte size, which is read, checked and discarded.
    /// </summary>
    /// <returns>The number of items in the block; 0 when the array or map is complete.</returns>
    /// <remarks>The count is not bounded by the bytes remaining because items can be zero bytes long (nulls); callers
    /// that know each item takes at least one byte should check <c>count &lt;= Remaining</c>.</remarks>
    public long ReadBlockCount() => ReadBlockCount(out _);

    /// <summary>
    /// Reads the header of the next block of an array or map: the number of items, and, for the sized form (negative
    /// count), the block's byte size, checked against the bytes remaining.
    /// </summary>
    /// <param name="byteSize">The block's byte size, or -1 when the block does not carry one.</param>
    /// <returns>The number of items in the block; 0 when the array or map is complete.</returns>
    public long ReadBlockCount(out long byteSize)
    {
        var start = _position;
        var count = ReadLong();
        byteSize = -1;
        if (count >= 0)
        {
            return count;
        }

        if (count == long.MinValue)
        {
            throw Error(start, "block count -9223372036854775808 cannot be negated");
        }

        var sizeStart = _position;
        byteSize = ReadLong();
        if (byteSize < 0)
        {
            throw Error(sizeStart, AvroReader.Format("block byte size {0} is negative", byteSize));
        }

        if (byteSize > Remaining)
        {
            throw Error(sizeStart, AvroReader.Format("block byte size {0} exceeds the {1} bytes remaining", byteSize, Remaining));
        }

        return -count;
    }

    /// <summary>Reads a <c>decimal</c> logical value on <c>bytes</c> as a <see cref="decimal"/>.</summary>
    /// <param name="scale">The schema's scale.</param>
    /// <returns>The value.</returns>
    /// <exception cref="AvroFormatException">The value cannot be represented exactly by <see cref="decimal"/> (use <see cref="ReadDecimalUnscaled"/>).</exception>
    public decimal ReadDecimal(int scale)
    {
        var start = _position;
        var bytes = ReadLengthPrefixed("decimal");
        if ((uint)scale <= 28 && bytes.Length <= 8)
        {
            return SmallDecimal(bytes, scale);
        }

        return ToDecimal(start, bytes, scale);
    }

    /// <summary>Reads a <c>decimal</c> logical value on <c>fixed</c> as a <see cref="decimal"/>.</summary>
    /// <param name="size">The fixed size.</param>
    /// <param name="scale">The schema's scale.</param>
    /// <returns>The value.</returns>
    /// <exception cref="AvroFormatException">The value cannot be represented exactly by <see cref="decimal"/> (use <see cref="ReadDecimalFixedUnscaled"/>).</exception>
    public decimal ReadDecimalFixed(int size, int scale)
    {
        var start = _position;
        var bytes = ReadFixed(size);
        if ((uint)scale <= 28 && bytes.Length <= 8)
        {
            return SmallDecimal(bytes, scale);
        }

        return ToDecimal(start, bytes, scale);
    }

    /// <summary>Reads the unscaled value of a <c>decimal</c> logical value on <c>bytes</c>, of any precision (allocates).</summary>
    /// <returns>The unscaled value; the decimal value is this times 10^-scale.</returns>
    public BigInteger ReadDecimalUnscaled() => new(ReadLengthPrefixed("decimal"), isUnsigned: false, isBigEndian: true);

    /// <summary>Reads the unscaled value of a <c>decimal</c> logical value on <c>fixed</c>, of any precision (allocates).</summary>
    /// <param name="size">The fixed size.</param>
    /// <returns>The unscaled value; the decimal value is this times 10^-scale.</returns>
    public BigInteger ReadDecimalFixedUnscaled(int size) => new(ReadFixed(size), isUnsigned: false, isBigEndian: true);

    /// <summary>Reads a <c>uuid</c> logical value on <c>string</c>.</summary>
    /// <returns>The value.</returns>
    public Guid ReadUuid()
    {
        var start = _position;
        var utf8 = ReadLengthPrefixed("uuid");
        Span<char> chars = stackalloc char[MaxUuidStringLength];
        if (utf8.Length > MaxUuidStringLength
            || Utf8.ToUtf16(utf8, chars, out _, out var written, replaceInvalidSequences: false) != System.Buffers.OperationStatus.Done
            || !Guid.TryParse(chars[..written], out var value))
        {
            throw Error(start, AvroReader.Format("uuid string of {0} bytes is not a UUID", utf8.Length));
        }

        return value;
    }

    /// <summary>Reads a <c>uuid</c> logical value on <c>fixed(16)</c>: 16 bytes in RFC 4122 (big-endian) order.</summary>
    /// <returns>The value.</returns>
    public Guid ReadUuidFixed() => new(ReadFixed(16), bigEndian: true);

    /// <summary>Reads a <c>date</c> logical value: days since 1970-01-01.</summary>
    /// <returns>The date.</returns>
    /// <exception cref="AvroFormatException">The day number is outside <see cref="DateOnly"/>'s range (use <see cref="ReadInt"/> for the raw value).</exception>
    public DateOnly ReadDate()
    {
        var start = _position;
        var days = ReadInt();
        var dayNumber = (long)days + AvroTime.EpochDayNumber;
        if (dayNumber < DateOnly.MinValue.DayNumber || dayNumber > DateOnly.MaxValue.DayNumber)
        {
            throw Error(start, AvroReader.Format("date {0} days from 1970-01-01 is outside the range of DateOnly", days));
        }

        return DateOnly.FromDayNumber((int)dayNumber);
    }

    /// <summary>Reads a <c>time-millis</c> logical value: milliseconds after midnight (an int; not range-checked).</summary>
    /// <returns>The raw value.</returns>
    public int ReadTimeMillis() => ReadInt();

    /// <summary>Reads a <c>time-micros</c> logical value: microseconds after midnight (a long; not range-checked).</summary>
    /// <returns>The raw value.</returns>
    public long ReadTimeMicros() => ReadLong();

    /// <summary>Reads a <c>timestamp-millis</c> logical value as a UTC <see cref="DateTime"/>.</summary>
    /// <returns>The instant, <see cref="DateTimeKind.Utc"/>.</returns>
    /// <exception cref="AvroFormatException">The value is outside <see cref="DateTime"/>'s range (use <see cref="ReadLong"/> for the raw value).</exception>
    public DateTime ReadTimestampMillis() => ReadDateTime(TimeSpan.TicksPerMillisecond, DateTimeKind.Utc);

    /// <summary>Reads a <c>timestamp-micros</c> logical value as a UTC <see cref="DateTime"/>.</summary>
    /// <returns>The instant, <see cref="DateTimeKind.Utc"/>.</returns>
    /// <exception cref="AvroFormatException">The value is outside <see cref="DateTime"/>'s range (use <see cref="ReadLong"/> for the raw value).</exception>
    public DateTime ReadTimestampMicros() => ReadDateTime(TimeSpan.TicksPerMicrosecond, DateTimeKind.Utc);

    /// <summary>Reads a <c>local-timestamp-millis</c> logical value as a wall-clock <see cref="DateTime"/>.</summary>
    /// <returns>The date and time, <see cref="DateTimeKind.Unspecified"/>.</returns>
    /// <exception cref="AvroFormatException">The value is outside <see cref="DateTime"/>'s range (use <see cref="ReadLong"/> for the raw value).</exception>
    public DateTime ReadLocalTimestampMillis() => ReadDateTime(TimeSpan.TicksPerMillisecond, DateTimeKind.Unspecified);

    /// <summary>Reads a <c>local-timestamp-micros</c> logical value as a wall-clock <see cref="DateTime"/>.</summary>
    /// <returns>The date and time, <see cref="DateTimeKind.Unspecified"/>.</returns>
    /// <exception cref="AvroFormatException">The value is outside <see cref="DateTime"/>'s range (use <see cref="ReadLong"/> for the raw value).</exception>
    public DateTime ReadLocalTimestampMicros() => ReadDateTime(TimeSpan.TicksPerMicrosecond, DateTimeKind.Unspecified);

    /// <summary>Skips an int or long varint (checking its length).</summary>
    public void SkipVarint() => ReadVarULong();

    /// <summary>Skips a float (4 bytes).</summary>
    public void SkipFloat() => Skip(4);

    /// <summary>Skips a double (8 bytes).</summary>
    public void SkipDouble() => Skip(8);

    /// <summary>Skips bytes or a string (its length, then that many bytes; UTF-8 is not validated).</summary>
    public void SkipBytes() => ReadLengthPrefixed("bytes");

    /// <summary>Skips <paramref name="count"/> bytes (a fixed, or a sized block).</summary>
    /// <param name="count">The number of bytes.</param>
    public void Skip(long count)
    {
        if (count < 0 || count > Remaining)
        {
            throw Error(_position, AvroReader.Format("cannot skip {0} bytes with {1} bytes remaining", count, Remaining));
        }

        _position += (int)count;
    }

    /// <summary>Formats an error message (invariant culture); kept out of line so that hot paths carry no formatting state.</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    internal static string Format(string format, params object?[] args) => string.Format(CultureInfo.InvariantCulture, format, args);

    [MethodImpl(MethodImplOptions.NoInlining)]
    internal readonly AvroFormatException Error(int offset, string reason) => new(reason, offset, string.Empty);

    [MethodImpl(MethodImplOptions.NoInlining)]
    internal readonly AvroFormatException Truncated(int offset, string what, long needed) =>
        Error(offset, AvroReader.Format("{0} needs {1} bytes but {2} remain", what, needed, _data.Length - offset));

    private AvroFormatException InvalidUtf8(int start, ReadOnlySpan<byte> value)
    {
        var valid = Utf8ValidPrefixLength(value);
        var lengthBytes = _position - value.Length - start;
        return Error(start + lengthBytes + valid, AvroReader.Format("string of {0} bytes starting at byte {1} is not valid UTF-8 (bad sequence at its byte {2})", value.Length, start, valid));
    }

    private static int Utf8ValidPrefixLength(ReadOnlySpan<byte> value)
    {
        var offset = 0;
        while (offset < value.Length)
        {
            var status = Rune.DecodeFromUtf8(value[offset..], out _, out var consumed);
            if (status != System.Buffers.OperationStatus.Done)
            {
                return offset;
            }

            offset += consumed;
        }

        return offset;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private ReadOnlySpan<byte> ReadLengthPrefixed(string what)
    {
        // Fast path: a one-byte, non-negative length (up to 63 bytes) that the data holds.
        var pos = _position;
        if ((uint)pos < (uint)_data.Length)
        {
            uint b = _data[pos];
            var length = (int)(b >> 1);
            if ((b & 0x81) == 0 && length <= _data.Length - pos - 1)
            {
                _position = pos + 1 + length;
                return _data.Slice(pos + 1, length);
            }
        }

        return ReadLengthPrefixedSlow(what);
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private ReadOnlySpan<byte> ReadLengthPrefixedSlow(string what)
    {
        var start = _position;
        var length = ReadLong();
        if (length < 0)
        {
            throw Error(start, AvroReader.Format("{0} length {1} is negative", what, length));
        }

        if (length > _data.Length - _position)
        {
            throw Error(start, AvroReader.Format("{0} length {1} exceeds the {2} bytes remaining", what, length, _data.Length - _position));
        }

        var value = _data.Slice(_position, (int)length);
        _position += (int)length;
        return value;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private DateTime ReadDateTime(long ticksPerUnit, DateTimeKind kind)
    {
        var start = _position;
        var units = ReadLong();
        if (!AvroTime.TryToTicks(units, ticksPerUnit, out var ticks))
        {
            throw Error(start, AvroReader.Format("timestamp {0} is outside the range of DateTime", units));
        }

        return new DateTime(ticks, kind);
    }

    /// <summary>Converts at most 8 big-endian two's-complement bytes and a scale of at most 28 to a <see cref="decimal"/>.</summary>
    private static decimal SmallDecimal(ReadOnlySpan<byte> bytes, int scale)
    {
        long unscaled = 0;
        if (!bytes.IsEmpty)
        {
            unscaled = (sbyte)bytes[0];
            for (var i = 1; i < bytes.Length; i++)
            {
                unscaled = (unscaled << 8) | bytes[i];
            }
        }

        var magnitude = unscaled < 0 ? (ulong)-unscaled : (ulong)unscaled;
        return new decimal((int)(uint)magnitude, (int)(uint)(magnitude >> 32), 0, unscaled < 0, (byte)scale);
    }

    /// <summary>
    /// Whether <paramref name="value"/> is well-formed UTF-8: short all-ASCII strings are checked inline, the rest by
    /// the vectorized <see cref="Utf8.IsValid(ReadOnlySpan{byte})"/>.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static bool IsValidUtf8(ReadOnlySpan<byte> value)
    {
        ref var p = ref MemoryMarshal.GetReference(value);
        var n = value.Length;
        if (n >= 8)
        {
            if (n <= 32)
            {
                var acc = Unsafe.ReadUnaligned<ulong>(ref Unsafe.Add(ref p, n - 8));
                for (var i = 0; i < n - 8; i += 8)
                {
                    acc |= Unsafe.ReadUnaligned<ulong>(ref Unsafe.Add(ref p, i));
                }

                if ((acc & 0x8080_8080_8080_8080) == 0)
                {
                    return true;
                }
            }
        }
        else if (n >= 4)
        {
            if (((Unsafe.ReadUnaligned<uint>(ref p) | Unsafe.ReadUnaligned<uint>(ref Unsafe.Add(ref p, n - 4))) & 0x8080_8080) == 0)
            {
                return true;
            }
        }
        else if (n >= 2)
        {
            if (((Unsafe.ReadUnaligned<ushort>(ref p) | Unsafe.ReadUnaligned<ushort>(ref Unsafe.Add(ref p, n - 2))) & 0x8080) == 0)
            {
                return true;
            }
        }
        else if (n == 0 || p < 0x80)
        {
            return true;
        }

        return Utf8.IsValid(value);
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private readonly AvroFormatException IndexOutOfRange(int start, string format, int index, int count) =>
        Error(start, AvroReader.Format(format, index, count));

    private readonly decimal ToDecimal(int start, ReadOnlySpan<byte> bytes, int scale)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(scale);
        if (!AvroDecimals.TryReadInt128(bytes, out var unscaled) || !AvroDecimals.TryToDecimal(unscaled, scale, out var value))
        {
            throw Error(start, AvroReader.Format("decimal of {0} bytes at scale {1} cannot be represented exactly by System.Decimal; read it as an unscaled BigInteger", bytes.Length, scale));
        }

        return value;
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private int ReadIntSlow()
    {
        var data = _data;
        var pos = _position;
        var start = pos;
        if (TryDecodeVarint8(data, pos, out var raw, out var length) && length <= 5 && raw >> 32 == 0)
        {
            _position = pos + length;
            return (int)((uint)raw >> 1) ^ -(int)((uint)raw & 1);
        }

        uint result = 0;
        for (var shift = 0; ; shift += 7)
        {
            if ((uint)pos >= (uint)data.Length)
            {
                throw Error(start, "varint is truncated by the end of the data");
            }

            uint b = data[pos++];
            result |= (b & 0x7F) << shift;
            if (b < 0x80)
            {
                if (shift == 28 && b > 0x0F)
                {
                    break;
                }

                _position = pos;
                return (int)(result >> 1) ^ -(int)(result & 1);
            }

            if (shift == 28)
            {
                break;
            }
        }

        throw Error(start, "int varint is longer than 5 bytes or overflows 32 bits");
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private ulong ReadVarULong()
    {
        var pos = _position;
        if ((uint)pos < (uint)_data.Length)
        {
            ulong b = _data[pos];
            if (b < 0x80)
            {
                _position = pos + 1;
                return b;
            }
        }

        return ReadVarULongSlow();
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private ulong ReadVarULongSlow()
    {
        var data = _data;
        var pos = _position;
        var start = pos;
        if (TryDecodeVarint8(data, pos, out var raw, out var length))
        {
            _position = pos + length;
            return raw;
        }

        ulong result = 0;
        for (var shift = 0; ; shift += 7)
        {
            if ((uint)pos >= (uint)data.Length)
            {
                throw Error(start, "varint is truncated by the end of the data");
            }

            ulong b = data[pos++];
            result |= (b & 0x7F) << shift;
            if (b < 0x80)
            {
                if (shift == 63 && b > 0x01)
                {
                    break;
                }

                _position = pos;
                return result;
            }

            if (shift == 63)
            {
                break;
            }
        }

        throw Error(start, "long varint is longer than 10 bytes or overflows 64 bits");
    }

    /// <summary>
    /// Decodes a varint of at most 8 bytes with one 8-byte load, when 8 bytes remain at <paramref name="pos"/>;
    /// <see langword="false"/> otherwise (longer, truncated or near the end: the byte loop handles those).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static bool TryDecodeVarint8(ReadOnlySpan<byte> data, int pos, out ulong value, out int length)
    {
        if (data.Length - pos >= 8)
        {
            var x = BinaryPrimitives.ReadUInt64LittleEndian(data.Slice(pos, 8));
            var stops = ~x & 0x8080_8080_8080_8080;
            if (stops != 0)
            {
                length = (BitOperations.TrailingZeroCount(stops) + 1) >> 3;
                x &= (stops ^ (stops - 1)) & 0x7F7F_7F7F_7F7F_7F7F;
                x = (x & 0x007F_007F_007F_007F) | ((x & 0x7F00_7F00_7F00_7F00) >> 1);
                x = (x & 0x0000_3FFF_0000_3FFF) | ((x & 0x3FFF_0000_3FFF_0000) >> 2);
                value = (x & 0x0FFF_FFFF) | ((x & 0x0FFF_FFFF_0000_0000) >> 4);
                return true;
            }
        }

        value = 0;
        length = 0;
        return false;
    }
}
