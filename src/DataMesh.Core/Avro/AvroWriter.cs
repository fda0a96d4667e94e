using System.Buffers;
using System.Buffers.Binary;
using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Text;
using System.Text.Unicode;

namespace DataMesh.Avro;

/// <summary>
/// Writes Avro binary encoding (specification 1.12) into an <see cref="IBufferWriter{T}"/> without allocating.
/// </summary>
/// <remarks>
/// <para>
/// The writer holds the span last returned by <see cref="IBufferWriter{T}.GetSpan(int)"/> and calls
/// <see cref="IBufferWriter{T}.Advance(int)"/> only when that span is full, on <see cref="Flush"/> and on
/// <see cref="Dispose"/>. Until then the bytes written are not yet visible to the buffer writer's owner:
/// call <see cref="Flush"/> (or use <c>using var writer = new AvroWriter(output);</c>) before reading the output,
/// and do not use the buffer writer directly while an <see cref="AvroWriter"/> over it has unflushed bytes.
/// Flushing does not flush a <c>PipeWriter</c> to its reader; that remains the caller's job.
/// </para>
/// <para>
/// This is a <see langword="ref struct"/>: pass it by <see langword="ref"/> to helper methods, never by value,
/// or the copy's progress is lost. Arguments the Avro type cannot represent exactly (a decimal with more fractional
/// digits than the scale, a timestamp finer than the unit, a lone surrogate in a string) throw
/// <see cref="ArgumentException"/>; nothing is rounded or replaced silently.
/// </para>
/// <para>
/// Arrays and maps: call <see cref="WriteArrayStart(int)"/> with the item count, write the items, then
/// <see cref="WriteArrayEnd"/>. Several blocks can be written with <see cref="WriteBlockCount(int)"/> before each
/// block and one <see cref="WriteBlockEnd"/>; a block that carries its byte size (the negative-count form that lets
/// readers skip it) is written with <see cref="WriteSizedBlock(int, ReadOnlySpan{byte})"/>.
/// </para>
/// </remarks>
[SkipLocalsInit]
public ref struct AvroWriter
{
    private const int MinimumRequest = 256;
    private const int MaxVarLongLength = 10;

    private static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    private readonly IBufferWriter<byte> _output;
    private Span<byte> _span;
    private int _buffered;
    private long _committed;

    /// <summary>Creates a writer that appends to <paramref name="output"/>.</summary>
    /// <param name="output">The destination; bytes are committed to it in batches (see <see cref="Flush"/>).</param>
    public AvroWriter(IBufferWriter<byte> output)
    {
        ArgumentNullException.ThrowIfNull(output);
        _output = output;
        _span = default;
        _buffered = 0;
        _committed = 0;
    }

    /// <summary>The number of bytes written by this writer so far, flushed or not.</summary>
    public readonly long BytesWritten => _committed + _buffered;

    /// <summary>The number of bytes written but not yet committed to the buffer writer with <see cref="IBufferWriter{T}.Advance(int)"/>.</summary>
    public readonly int BytesPending => _buffered;

    /// <summary>Commits every byte written so far to the buffer writer (one <see cref="IBufferWriter{T}.Advance(int)"/> call).</summary>
    public void Flush()
    {
        if (_buffered > 0)
        {
            _output.Advance(_buffered);
            _committed += _buffered;
            _buffered = 0;
        }

        _span = default;
    }

    /// <summary>Flushes the writer; see <see cref="Flush"/>. The writer may still be used afterwards.</summary>
    public void Dispose() => Flush();

    /// <summary>Writes a null: Avro encodes it as zero bytes, so this writes nothing.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public readonly void WriteNull()
    {
    }

    /// <summary>Writes a boolean as one byte, 0 or 1.</summary>
    /// <param name="value">The value.</param>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void WriteBoolean(bool value)
    {
        Ensure(1);
        _span[_buffered++] = value ? (byte)1 : (byte)0;
    }

    /// <summary>Writes an int as a zig-zag variable-length integer (1 to 5 bytes).</summary>
    /// <param name="value">The value.</param>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void WriteInt(int value) => WriteVarULong((uint)((value << 1) ^ (value >> 31)));

    /// <summary>Writes a long as a zig-zag variable-length integer (1 to 10 bytes).</summary>
    /// <param name="value">The value.</param>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void WriteLong(long value) => WriteVarULong((ulong)((value << 1) ^ (value >> 63)));

    /// <summary>Writes a float as 4 bytes, IEEE 754 little-endian (NaN payloads and -0.0 are kept bit for bit).</summary>
    /// <param name="value">The value.</param>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void WriteFloat(float value)
    {
        Ensure(4);
        BinaryPrimitives.WriteSingleLittleEndian(_span[_buffered..], value);
        _buffered += 4;
    }

    /// <summary>Writes a double as 8 bytes, IEEE 754 little-endian (NaN payloads and -0.0 are kept bit for bit).</summary>
    /// <param name="value">The value.</param>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void WriteDouble(double value)
    {
        Ensure(8);
        BinaryPrimitives.WriteDoubleLittleEndian(_span[_buffered..], value);
        _buffered += 8;
    }

    /// <summary>Writes bytes: a long length, then the bytes.</summary>
    /// <param name="value">The bytes.</param>
    public void WriteBytes(scoped ReadOnlySpan<byte> value)
    {
        WriteLong(value.Length);
        WriteRaw(value);
    }

    /// <summary>Writes a string already encoded as UTF-8: a long length, then the bytes (not validated; see <see cref="WriteString(ReadOnlySpan{char})"/>).</summary>
    /// <param name="utf8">The UTF-8 bytes of the string.</param>
    public void WriteStringUtf8(scoped ReadOnlySpan<byte> utf8) => WriteBytes(utf8);

    /// <summary>Writes a string: a long UTF-8 byte length, then the UTF-8 bytes, transcoded straight into the output.</summary>
    /// <param name="value">The string.</param>
    /// <exception cref="ArgumentException"><paramref name="value"/> contains a lone surrogate, which UTF-8 cannot encode.</exception>
    public void WriteString(scoped ReadOnlySpan<char> value)
    {
        // Fast path: transcode straight after room for the length and fill the length in afterwards. Up to 63 chars
        // the room is one byte, right for an ASCII string (as many bytes as chars); from 64 to 2730 chars (at most 8190
        // bytes) it is two, always right. A 22-to-63-char string that turns out longer than 63 bytes moves by one.
        var length = value.Length;
        if (length <= 2730)
        {
            Ensure(2 + (length * 3));
            var offset = length <= 63 ? 1 : 2;
            ref var start = ref Unsafe.Add(ref MemoryMarshal.GetReference(_span), _buffered);
            var ascii = NarrowAscii(ref MemoryMarshal.GetReference(value), length, ref Unsafe.Add(ref start, offset));
            if (ascii == length && offset == 1)
            {
                start = (byte)(length << 1);
                _buffered += 1 + length;
                return;
            }

            FinishString(value, ascii, offset);
            return;
        }

        int byteCount;
        try
        {
            byteCount = StrictUtf8.GetByteCount(value);
        }
        catch (EncoderFallbackException e)
        {
            throw new ArgumentException("The string contains a lone surrogate, which cannot be encoded as UTF-8.", nameof(value), e);
        }

        WriteLong(byteCount);
        while (true)
        {
            Ensure(Math.Min(value.Length * 3, 4096));
            var status = Utf8.FromUtf16(value, _span[_buffered..], out var read, out var written, replaceInvalidSequences: false);
            _buffered += written;
            value = value[read..];
            if (status == System.Buffers.OperationStatus.Done)
            {
                return;
            }

            if (status != System.Buffers.OperationStatus.DestinationTooSmall)
            {
                throw InvalidUtf16(nameof(value));
            }

            Flush();
        }
    }

    /// <summary>Writes a fixed: the bytes only, no length. The caller is responsible for the declared size; see <see cref="WriteFixed(ReadOnlySpan{byte}, int)"/>.</summary>
    /// <param name="value">The bytes.</param>
    public void WriteFixed(scoped ReadOnlySpan<byte> value) => WriteRaw(value);

    /// <summary>Writes a fixed of a declared size: the bytes only, no length.</summary>
    /// <param name="value">The bytes.</param>
    /// <param name="size">The size declared by the schema.</param>
    /// <exception cref="ArgumentException"><paramref name="value"/> is not exactly <paramref name="size"/> bytes long.</exception>
    public void WriteFixed(scoped ReadOnlySpan<byte> value, int size)
    {
        if (value.Length != size)
        {
            throw new ArgumentException($"A fixed of size {size} cannot hold {value.Length} bytes.", nameof(value));
        }

        WriteRaw(value);
    }

    /// <summary>Writes an enum symbol by its zero-based index in the schema's symbol list (an int).</summary>
    /// <param name="index">The symbol index.</param>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void WriteEnum(int index)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(index);
        WriteInt(index);
    }

    /// <summary>Writes the zero-based index of the union branch whose value follows (an int).</summary>
    /// <param name="index">The branch index.</param>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void WriteUnionIndex(int index)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(index);
        WriteInt(index);
    }

    /// <summary>
    /// Starts an array written as one block: writes <paramref name="count"/> (nothing when it is 0). Write the
    /// <paramref name="count"/> items, then call <see cref="WriteArrayEnd"/>.
    /// </summary>
    /// <param name="count">The number of items that follow.</param>
    public void WriteArrayStart(int count)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        if (count > 0)
        {
            WriteLong(count);
        }
    }

    /// <summary>Ends an array: writes the terminating empty block (a 0 count).</summary>
    public void WriteArrayEnd() => WriteBlockEnd();

    /// <summary>
    /// Starts a map written as one block: writes <paramref name="count"/> (nothing when it is 0). Write
    /// <paramref name="count"/> pairs of a string key and a value, then call <see cref="WriteMapEnd"/>.
    /// </summary>
    /// <param name="count">The number of entries that follow.</param>
    public void WriteMapStart(int count) => WriteArrayStart(count);

    /// <summary>Ends a map: writes the terminating empty block (a 0 count).</summary>
    public void WriteMapEnd() => WriteBlockEnd();

    /// <summary>
    /// Starts one block of an array or map written in several blocks: writes <paramref name="count"/>, which must be
    /// positive. Write that many items, then the next block or <see cref="WriteBlockEnd"/>.
    /// </summary>
    /// <param name="count">The number of items in the block.</param>
    public void WriteBlockCount(int count)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(count);
        WriteLong(count);
    }

    /// <summary>
    /// Writes a whole block of an array or map in the sized form: the negated item count, the block's byte size, then
    /// <paramref name="encodedItems"/> (the items already Avro-encoded, for example with another <see cref="AvroWriter"/>).
    /// Readers can skip such a block without decoding it. End the array or map with <see cref="WriteBlockEnd"/>.
    /// </summary>
    /// <param name="count">The number of items encoded in <paramref name="encodedItems"/>; must be positive.</param>
    /// <param name="encodedItems">The encoded items.</param>
    public void WriteSizedBlock(int count, scoped ReadOnlySpan<byte> encodedItems)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(count);
        WriteLong(-(long)count);
        WriteLong(encodedItems.Length);
        WriteRaw(encodedItems);
    }

    /// <summary>Ends an array or map: writes a 0 count.</summary>
    public void WriteBlockEnd()
    {
        Ensure(1);
        _span[_buffered++] = 0;
    }

    /// <summary>Copies bytes that are already Avro-encoded (for example a field cut from another datum) to the output.</summary>
    /// <param name="encoded">The encoded bytes.</param>
    public void WriteRaw(scoped ReadOnlySpan<byte> encoded)
    {
        if (encoded.Length <= _span.Length - _buffered)
        {
            encoded.CopyTo(_span[_buffered..]);
            _buffered += encoded.Length;
            return;
        }

        while (!encoded.IsEmpty)
        {
            Ensure(Math.Min(encoded.Length, 4096));
            var chunk = Math.Min(encoded.Length, _span.Length - _buffered);
            encoded[..chunk].CopyTo(_span[_buffered..]);
            _buffered += chunk;
            encoded = encoded[chunk..];
        }
    }

    /// <summary>
    /// Writes a <c>decimal</c> logical value on <c>bytes</c>: the unscaled value at <paramref name="scale"/> as a
    /// minimal big-endian two's-complement integer.
    /// </summary>
    /// <param name="value">The value.</param>
    /// <param name="precision">The schema's precision: the maximum number of digits of the unscaled value.</param>
    /// <param name="scale">The schema's scale: the number of digits after the decimal point.</param>
    /// <exception cref="ArgumentException">The value has more fractional digits than <paramref name="scale"/>, or more
    /// digits than <paramref name="precision"/> allows.</exception>
    public void WriteDecimal(decimal value, int precision, int scale)
    {
        if (AvroDecimals.TryGetUnscaledInt64(value, precision, scale, out var small))
        {
            WriteDecimalInt64(small);
            return;
        }

        if (!AvroDecimals.TryGetUnscaled(value, precision, scale, out var unscaled))
        {
            WriteDecimal(AvroDecimals.GetUnscaledBig(value, precision, scale), precision);
            return;
        }

        Span<byte> buffer = stackalloc byte[16];
        BinaryPrimitives.WriteInt128BigEndian(buffer, unscaled);
        WriteBytes(buffer[AvroDecimals.RedundantSignBytes(buffer)..]);
    }

    /// <summary>
    /// Writes a <c>decimal</c> logical value on <c>bytes</c> from its unscaled value (any precision): a minimal
    /// big-endian two's-complement integer.
    /// </summary>
    /// <param name="unscaled">The unscaled value (the decimal value times 10^scale).</param>
    /// <param name="precision">The schema's precision: the maximum number of digits of <paramref name="unscaled"/>.</param>
    /// <exception cref="ArgumentException"><paramref name="unscaled"/> has more digits than <paramref name="precision"/>.</exception>
    public void WriteDecimal(BigInteger unscaled, int precision)
    {
        AvroDecimals.CheckPrecision(unscaled, precision);
        var length = unscaled.GetByteCount(isUnsigned: false);
        WriteLong(length);
        WriteBigIntegerBytes(unscaled, length);
    }

    /// <summary>
    /// Writes a <c>decimal</c> logical value on a <c>fixed</c> of <paramref name="size"/> bytes: the unscaled value at
    /// <paramref name="scale"/> as big-endian two's complement, sign-extended to the size.
    /// </summary>
    /// <param name="value">The value.</param>
    /// <param name="precision">The schema's precision.</param>
    /// <param name="scale">The schema's scale.</param>
    /// <param name="size">The fixed size.</param>
    /// <exception cref="ArgumentException">The value does not fit the scale, the precision or the fixed size.</exception>
    public void WriteDecimalFixed(decimal value, int precision, int scale, int size)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(size);
        if (!AvroDecimals.TryGetUnscaled(value, precision, scale, out var unscaled))
        {
            WriteDecimalFixed(AvroDecimals.GetUnscaledBig(value, precision, scale), precision, size);
            return;
        }

        Span<byte> buffer = stackalloc byte[16];
        BinaryPrimitives.WriteInt128BigEndian(buffer, unscaled);
        var minimal = buffer[AvroDecimals.RedundantSignBytes(buffer)..];
        if (minimal.Length > size)
        {
            throw new ArgumentException($"The decimal {value} needs {minimal.Length} bytes at scale {scale}, more than the fixed size {size}.", nameof(value));
        }

        WriteSignExtended(minimal, size, unscaled < 0);
    }

    /// <summary>
    /// Writes a <c>decimal</c> logical value on a <c>fixed</c> of <paramref name="size"/> bytes from its unscaled value:
    /// big-endian two's complement, sign-extended to the size.
    /// </summary>
    /// <param name="unscaled">The unscaled value (the decimal value times 10^scale).</param>
    /// <param name="precision">The schema's precision.</param>
    /// <param name="size">The fixed size.</param>
    /// <exception cref="ArgumentException">The value has more digits than the precision or does not fit the fixed size.</exception>
    public void WriteDecimalFixed(BigInteger unscaled, int precision, int size)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(size);
        AvroDecimals.CheckPrecision(unscaled, precision);
        var length = unscaled.GetByteCount(isUnsigned: false);
        if (length > size)
        {
            throw new ArgumentException($"The unscaled decimal value needs {length} bytes, more than the fixed size {size}.", nameof(unscaled));
        }

        var fill = unscaled.Sign < 0 ? (byte)0xFF : (byte)0;
        for (var i = length; i < size; i++)
        {
            Ensure(1);
            _span[_buffered++] = fill;
        }

        WriteBigIntegerBytes(unscaled, length);
    }

    /// <summary>Writes a big-endian two's-complement number as Avro <c>bytes</c> (a <c>decimal</c>'s unscaled value) in its
    /// shortest form: leading bytes that only repeat the sign are dropped.</summary>
    /// <param name="bigEndian">The number's bytes.</param>
    public void WriteTwosComplement(scoped ReadOnlySpan<byte> bigEndian) => WriteBytes(bigEndian[AvroDecimals.RedundantSignBytes(bigEndian)..]);

    /// <summary>Writes a <c>uuid</c> logical value on <c>string</c>: the canonical 36-character lower-case form.</summary>
    /// <param name="value">The value.</param>
    public void WriteUuid(Guid value)
    {
        Ensure(37);
        _span[_buffered] = 36 << 1;
        value.TryFormat(_span[(_buffered + 1)..], out var written, "D");
        _buffered += 1 + written;
    }

    /// <summary>Writes a <c>uuid</c> logical value on <c>fixed(16)</c> (Avro 1.12): the 16 bytes in RFC 4122 (big-endian) order.</summary>
    /// <param name="value">The value.</param>
    public void WriteUuidFixed(Guid value)
    {
        Ensure(16);
        value.TryWriteBytes(_span[_buffered..], bigEndian: true, out _);
        _buffered += 16;
    }

    /// <summary>Writes a <c>date</c> logical value: an int, the number of days since 1970-01-01.</summary>
    /// <param name="value">The date.</param>
    public void WriteDate(DateOnly value) => WriteInt(value.DayNumber - AvroTime.EpochDayNumber);

    /// <summary>Writes a <c>time-millis</c> logical value: an int, milliseconds after midnight.</summary>
    /// <param name="millisecondsOfDay">Milliseconds after midnight.</param>
    public void WriteTimeMillis(int millisecondsOfDay) => WriteInt(millisecondsOfDay);

    /// <summary>Writes a <c>time-millis</c> logical value from a time of day.</summary>
    /// <param name="value">The time; it must be a whole number of milliseconds.</param>
    /// <exception cref="ArgumentException">The time has a fraction of a millisecond.</exception>
    public void WriteTimeMillis(TimeOnly value) => WriteInt((int)AvroTime.ExactDivide(value.Ticks, TimeSpan.TicksPerMillisecond, nameof(value)));

    /// <summary>Writes a <c>time-micros</c> logical value: a long, microseconds after midnight.</summary>
    /// <param name="microsecondsOfDay">Microseconds after midnight.</param>
    public void WriteTimeMicros(long microsecondsOfDay) => WriteLong(microsecondsOfDay);

    /// <summary>Writes a <c>time-micros</c> logical value from a time of day.</summary>
    /// <param name="value">The time; it must be a whole number of microseconds.</param>
    /// <exception cref="ArgumentException">The time has a fraction of a microsecond.</exception>
    public void WriteTimeMicros(TimeOnly value) => WriteLong(AvroTime.ExactDivide(value.Ticks, TimeSpan.TicksPerMicrosecond, nameof(value)));

    /// <summary>Writes a <c>timestamp-millis</c> logical value: a long, milliseconds since 1970-01-01T00:00:00Z.</summary>
    /// <param name="millisecondsSinceEpoch">Milliseconds since the Unix epoch, UTC.</param>
    public void WriteTimestampMillis(long millisecondsSinceEpoch) => WriteLong(millisecondsSinceEpoch);

    /// <summary>Writes a <c>timestamp-millis</c> logical value from an instant.</summary>
    /// <param name="value">The instant; it must be a whole number of milliseconds.</param>
    /// <exception cref="ArgumentException">The instant has a fraction of a millisecond.</exception>
    public void WriteTimestampMillis(DateTimeOffset value) =>
        WriteLong(AvroTime.ExactDivide(value.UtcTicks - AvroTime.EpochTicks, TimeSpan.TicksPerMillisecond, nameof(value)));

    /// <summary>Writes a <c>timestamp-millis</c> logical value from a <see cref="DateTime"/>; <see cref="DateTimeKind.Local"/> is converted to UTC, other kinds are taken as UTC.</summary>
    /// <param name="value">The instant; it must be a whole number of milliseconds.</param>
    /// <exception cref="ArgumentException">The instant has a fraction of a millisecond.</exception>
    public void WriteTimestampMillis(DateTime value) =>
        WriteLong(AvroTime.ExactDivide(AvroTime.UtcTicks(value) - AvroTime.EpochTicks, TimeSpan.TicksPerMillisecond, nameof(value)));

    /// <summary>Writes a <c>timestamp-micros</c> logical value: a long, microseconds since 1970-01-01T00:00:00Z.</summary>
    /// <param name="microsecondsSinceEpoch">Microseconds since the Unix epoch, UTC.</param>
    public void WriteTimestampMicros(long microsecondsSinceEpoch) => WriteLong(microsecondsSinceEpoch);

    /// <summary>Writes a <c>timestamp-micros</c> logical value from an instant.</summary>
    /// <param name="value">The instant; it must be a whole number of microseconds.</param>
    /// <exception cref="ArgumentException">The instant has a fraction of a microsecond.</exception>
    public void WriteTimestampMicros(DateTimeOffset value) =>
        WriteLong(AvroTime.ExactDivide(value.UtcTicks - AvroTime.EpochTicks, TimeSpan.TicksPerMicrosecond, nameof(value)));

    /// <summary>Writes a <c>timestamp-micros</c> logical value from a <see cref="DateTime"/>; <see cref="DateTimeKind.Local"/> is converted to UTC, other kinds are taken as UTC.</summary>
    /// <param name="value">The instant; it must be a whole number of microseconds.</param>
    /// <exception cref="ArgumentException">The instant has a fraction of a microsecond.</exception>
    public void WriteTimestampMicros(DateTime value) =>
        WriteLong(AvroTime.ExactDivide(AvroTime.UtcTicks(value) - AvroTime.EpochTicks, TimeSpan.TicksPerMicrosecond, nameof(value)));

    /// <summary>Writes a <c>local-timestamp-millis</c> logical value: a long, milliseconds from 1970-01-01T00:00 on a wall clock of no particular time zone.</summary>
    /// <param name="milliseconds">The raw value.</param>
    public void WriteLocalTimestampMillis(long milliseconds) => WriteLong(milliseconds);

    /// <summary>Writes a <c>local-timestamp-millis</c> logical value from the wall-clock reading of <paramref name="value"/> (its <see cref="DateTime.Kind"/> is ignored).</summary>
    /// <param name="value">The wall-clock date and time; it must be a whole number of milliseconds.</param>
    /// <exception cref="ArgumentException">The value has a fraction of a millisecond.</exception>
    public void WriteLocalTimestampMillis(DateTime value) =>
        WriteLong(AvroTime.ExactDivide(value.Ticks - AvroTime.EpochTicks, TimeSpan.TicksPerMillisecond, nameof(value)));

    /// <summary>Writes a <c>local-timestamp-micros</c> logical value: a long, microseconds from 1970-01-01T00:00 on a wall clock of no particular time zone.</summary>
    /// <param name="microseconds">The raw value.</param>
    public void WriteLocalTimestampMicros(long microseconds) => WriteLong(microseconds);

    /// <summary>Writes a <c>local-timestamp-micros</c> logical value from the wall-clock reading of <paramref name="value"/> (its <see cref="DateTime.Kind"/> is ignored).</summary>
    /// <param name="value">The wall-clock date and time; it must be a whole number of microseconds.</param>
    /// <exception cref="ArgumentException">The value has a fraction of a microsecond.</exception>
    public void WriteLocalTimestampMicros(DateTime value) =>
        WriteLong(AvroTime.ExactDivide(value.Ticks - AvroTime.EpochTicks, TimeSpan.TicksPerMicrosecond, nameof(value)));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void WriteVarULong(ulong value)
    {
        if (_span.Length - _buffered < MaxVarLongLength)
        {
            Grow(MaxVarLongLength);
        }

        if (value < 0x80)
        {
            Unsafe.Add(ref MemoryMarshal.GetReference(_span), _buffered) = (byte)value;
            _buffered++;
            return;
        }

        WriteVarULongMultiByte(value);
    }

    /// <summary>Writes a varint of 2 or more bytes; at least <see cref="MaxVarLongLength"/> bytes must be free in the span.</summary>
    private void WriteVarULongMultiByte(ulong value)
    {
        ref var destination = ref Unsafe.Add(ref MemoryMarshal.GetReference(_span), _buffered);
        if (value < 1UL << 56)
        {
            // Spread the 7-bit groups into the low 7 bits of 8 bytes, then set the continuation bit on all but the last
            // used byte, and store all 8 at once (there is room for 10); only the used bytes are counted.
            var x = (value & 0x0FFF_FFFF) | ((value & 0x00FF_FFFF_F000_0000) << 4);
            x = (x & 0x0000_3FFF_0000_3FFF) | ((x & 0x0FFF_C000_0FFF_C000) << 2);
            x = (x & 0x007F_007F_007F_007F) | ((x & 0x3F80_3F80_3F80_3F80) << 1);
            var length = ((64 - BitOperations.LeadingZeroCount(value)) + 6) / 7;
            x |= 0x8080_8080_8080_8080 & ((1UL << ((length - 1) * 8)) - 1);
            Unsafe.WriteUnaligned(ref destination, BitConverter.IsLittleEndian ? x : BinaryPrimitives.ReverseEndianness(x));
            _buffered += length;
            return;
        }

        var i = 0;
        while (value >= 0x80)
        {
            Unsafe.Add(ref destination, i++) = (byte)(value | 0x80);
            value >>= 7;
        }

        Unsafe.Add(ref destination, i++) = (byte)value;
        _buffered += i;
    }

    /// <summary>Writes a decimal's unscaled value that fits a long: its minimal big-endian two's-complement bytes after their length.</summary>
    private void WriteDecimalInt64(long unscaled)
    {
        Ensure(9);
        var length = (72 - BitOperations.LeadingZeroCount((ulong)(unscaled ^ (unscaled >> 63)))) >> 3;
        var span = _span.Slice(_buffered, 9);
        span[0] = (byte)(length << 1);
        BinaryPrimitives.WriteInt64BigEndian(span[1..], unscaled << (64 - (8 * length)));
        _buffered += 1 + length;
    }

    /// <summary>
    /// Copies the leading ASCII chars of a string to bytes and returns how many it copied (it stops at the first
    /// non-ASCII char). <paramref name="destination"/> must have room for <paramref name="length"/> bytes.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static int NarrowAscii(ref char source, int length, ref byte destination)
    {
        var i = 0;
        ref var source16 = ref Unsafe.As<char, ushort>(ref source);
        if (Vector128.IsHardwareAccelerated && length >= 8)
        {
            var nonAscii = Vector128.Create((ushort)0xFF80);
            var last = length - 8;
            while (true)
            {
                var chars = Vector128.LoadUnsafe(ref source16, (nuint)i);
                if ((chars & nonAscii) != Vector128<ushort>.Zero)
                {
                    break;
                }

                Unsafe.WriteUnaligned(ref Unsafe.Add(ref destination, i), Vector128.Narrow(chars, chars).AsUInt64().ToScalar());
                if (i == last)
                {
                    return length;
                }

                // The last block may overlap the one before; the overlap is written twice with the same bytes.
                i = Math.Min(i + 8, last);
            }
        }

        if (BitConverter.IsLittleEndian)
        {
            for (; i + 4 <= length; i += 4)
            {
                var four = Unsafe.ReadUnaligned<ulong>(ref Unsafe.As<ushort, byte>(ref Unsafe.Add(ref source16, i)));
                if ((four & 0xFF80_FF80_FF80_FF80) != 0)
                {
                    break;
                }

                var packed = (uint)(four & 0xFF) | (uint)((four >> 8) & 0xFF00) | (uint)((four >> 16) & 0xFF_0000) | (uint)((four >> 24) & 0xFF00_0000);
                Unsafe.WriteUnaligned(ref Unsafe.Add(ref destination, i), packed);
            }

            if (i < length && i > length - 4 && length >= 4)
            {
                // All chars so far were ASCII: the last 4, overlapping the block before.
                var four = Unsafe.ReadUnaligned<ulong>(ref Unsafe.As<ushort, byte>(ref Unsafe.Add(ref source16, length - 4)));
                if ((four & 0xFF80_FF80_FF80_FF80) == 0)
                {
                    var packed = (uint)(four & 0xFF) | (uint)((four >> 8) & 0xFF00) | (uint)((four >> 16) & 0xFF_0000) | (uint)((four >> 24) & 0xFF00_0000);
                    Unsafe.WriteUnaligned(ref Unsafe.Add(ref destination, length - 4), packed);
                    return length;
                }
            }
        }

        for (; i < length; i++)
        {
            var c = Unsafe.Add(ref source16, i);
            if (c >= 0x80)
            {
                break;
            }

            Unsafe.Add(ref destination, i) = (byte)c;
        }

        return i;
    }

    /// <summary>
    /// Finishes the fast path of <see cref="WriteString(ReadOnlySpan{char})"/>: transcodes the chars after the ASCII
    /// prefix already written at <paramref name="offset"/> and writes the length in front, moving the bytes by one when
    /// a one-byte room turns out too small.
    /// </summary>
    private void FinishString(scoped ReadOnlySpan<char> value, int ascii, int offset)
    {
        var destination = _span[(_buffered + offset)..];
        var written = ascii;
        if (ascii != value.Length)
        {
            written += TranscodeNonAscii(value[ascii..], destination[ascii..]);
        }

        var zigZag = written << 1;
        if (zigZag < 0x80)
        {
            _span[_buffered] = (byte)zigZag;
            _buffered += 1 + written;
            return;
        }

        if (offset == 1)
        {
            destination[..written].CopyTo(_span[(_buffered + 2)..]);
        }

        _span[_buffered] = (byte)(zigZag | 0x80);
        _span[_buffered + 1] = (byte)(zigZag >> 7);
        _buffered += 2 + written;
    }

    /// <summary>Transcodes the rest of a string from its first non-ASCII char; throws on a lone surrogate.</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static int TranscodeNonAscii(scoped ReadOnlySpan<char> value, Span<byte> destination)
    {
        if (Utf8.FromUtf16(value, destination, out _, out var written, replaceInvalidSequences: false) != System.Buffers.OperationStatus.Done)
        {
            throw InvalidUtf16(nameof(value));
        }

        return written;
    }

    private void WriteSignExtended(scoped ReadOnlySpan<byte> minimal, int size, bool negative)
    {
        var fill = negative ? (byte)0xFF : (byte)0;
        for (var i = minimal.Length; i < size; i++)
        {
            Ensure(1);
            _span[_buffered++] = fill;
        }

        WriteRaw(minimal);
    }

    private void WriteBigIntegerBytes(BigInteger value, int length)
    {
        if (length <= 1024)
        {
            Ensure(length);
            value.TryWriteBytes(_span.Slice(_buffered, length), out var written, isUnsigned: false, isBigEndian: true);
            _buffered += written;
            return;
        }

        var rented = ArrayPool<byte>.Shared.Rent(length);
        try
        {
            value.TryWriteBytes(rented.AsSpan(0, length), out var written, isUnsigned: false, isBigEndian: true);
            WriteRaw(rented.AsSpan(0, written));
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(rented);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void Ensure(int count)
    {
        if (_span.Length - _buffered < count)
        {
            Grow(count);
        }
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private void Grow(int count)
    {
        Flush();
        _span = _output.GetSpan(Math.Max(count, MinimumRequest));
        if (_span.Length < count)
        {
            throw new InvalidOperationException($"The buffer writer returned {_span.Length} bytes when at least {count} were requested.");
        }
    }

    private static ArgumentException InvalidUtf16(string paramName) =>
        new("The string contains a lone surrogate, which cannot be encoded as UTF-8.", paramName);
}
