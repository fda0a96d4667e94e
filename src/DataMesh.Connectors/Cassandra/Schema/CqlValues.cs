using System.Buffers.Binary;
using System.Net;
using System.Numerics;
using System.Text;

namespace DataMesh.Connectors.Cassandra.Schema;

/// <summary>A CQL <c>duration</c>: months, days and nanoseconds, each signed, none normalised into another.</summary>
/// <param name="Months">Months.</param>
/// <param name="Days">Days.</param>
/// <param name="Nanoseconds">Nanoseconds.</param>
internal readonly record struct CqlDuration(int Months, int Days, long Nanoseconds);

/// <summary>A CQL <c>decimal</c>: an unscaled varint and a scale (value = unscaled × 10^-scale), kept exact.</summary>
/// <param name="Unscaled">The unscaled value.</param>
/// <param name="Scale">The scale.</param>
internal readonly record struct CqlDecimal(BigInteger Unscaled, int Scale)
{
    public override string ToString()
    {
        var digits = BigInteger.Abs(Unscaled).ToString(System.Globalization.CultureInfo.InvariantCulture);
        var sign = Unscaled.Sign < 0 ? "-" : string.Empty;
        if (Scale <= 0)
        {
            return sign + digits + new string('0', -Scale);
        }

        digits = digits.PadLeft(Scale + 1, '0');
        return $"{sign}{digits[..^Scale]}.{digits[^Scale..]}";
    }
}

/// <summary>
/// Decodes CQL values from their serialized bytes (the native protocol's value formats, which the commit log keeps):
/// integers big-endian, <c>date</c> as days with the epoch at 2^31, <c>time</c> as nanoseconds of the day, <c>timestamp</c>
/// as milliseconds, <c>duration</c> as three zig-zag vints, frozen collections, tuples and UDTs as an int32 count (collections)
/// and int32-length elements. The primitive methods allocate nothing; <see cref="ToObject"/> is the object path for tools
/// and tests.
/// </summary>
internal static class CqlValues
{
    private const long DateEpoch = 1L << 31;

    /// <summary>Days since 1970-01-01 of a <c>date</c>.</summary>
    public static int ReadDate(ReadOnlySpan<byte> value) => (int)(BinaryPrimitives.ReadUInt32BigEndian(Fixed(value, 4, "date")) - DateEpoch);

    /// <summary>Nanoseconds since midnight of a <c>time</c>.</summary>
    public static long ReadTime(ReadOnlySpan<byte> value) => BinaryPrimitives.ReadInt64BigEndian(Fixed(value, 8, "time"));

    /// <summary>Whether a <c>timestamp</c> or <c>date</c> falls in years 1-9999, which <see cref="ToObject"/> can return.</summary>
    public static bool IsInCalendarRange(CqlType type, ReadOnlySpan<byte> value) => type.Kind == CqlKind.Timestamp
        ? ReadTimestamp(value) is >= MinMilliseconds and <= MaxMilliseconds
        : (long)DateOnly.FromDateTime(DateTime.UnixEpoch).DayNumber + ReadDate(value) is >= 0 and <= 3_652_058;

    private const long MinMilliseconds = -62_135_596_800_000; // 0001-01-01T00:00:00Z
    private const long MaxMilliseconds = 253_402_300_799_999; // 9999-12-31T23:59:59.999Z

    /// <summary>Milliseconds since the epoch of a <c>timestamp</c>.</summary>
    public static long ReadTimestamp(ReadOnlySpan<byte> value) => BinaryPrimitives.ReadInt64BigEndian(Fixed(value, 8, "timestamp"));

    public static Guid ReadUuid(ReadOnlySpan<byte> value) => new(Fixed(value, 16, "uuid"), bigEndian: true);

    public static CqlDuration ReadDuration(ReadOnlySpan<byte> value)
    {
        var months = ReadSignedVInt(ref value);
        var days = ReadSignedVInt(ref value);
        var nanos = ReadSignedVInt(ref value);
        if (!value.IsEmpty || months is < int.MinValue or > int.MaxValue || days is < int.MinValue or > int.MaxValue)
        {
            throw new FormatException("not a duration: three signed vints (months, days, nanoseconds) expected");
        }

        return new CqlDuration((int)months, (int)days, nanos);
    }

    public static CqlDecimal ReadDecimal(ReadOnlySpan<byte> value)
    {
        if (value.Length < 5)
        {
            throw new FormatException($"a decimal has an int32 scale and at least one byte of unscaled value, not {value.Length} bytes");
        }

        return new CqlDecimal(new BigInteger(value[4..], isUnsigned: false, isBigEndian: true), BinaryPrimitives.ReadInt32BigEndian(value));
    }

    /// <summary>The object form of a value: long/int/short/sbyte, bool, float/double, string, byte[], Guid,
    /// <see cref="BigInteger"/>, <see cref="CqlDecimal"/>, <see cref="CqlDuration"/>, <see cref="IPAddress"/>,
    /// <see cref="DateOnly"/> (date), <see cref="TimeSpan"/> (time, to 100 ns), <see cref="DateTimeOffset"/> (timestamp),
    /// lists, sets (as lists), maps (as lists of key/value pairs), tuples and UDTs (as arrays, null for a missing field).</summary>
    /// <exception cref="FormatException">Bytes that are not a value of the type.</exception>
    public static object? ToObject(CqlType type, ReadOnlySpan<byte> value)
    {
        switch (type.Kind)
        {
            case CqlKind.Ascii:
                return value.ContainsAnyExceptInRange((byte)0, (byte)0x7F) ? throw new FormatException("an ascii value with a byte above 0x7F") : Encoding.ASCII.GetString(value);
            case CqlKind.Text:
                try
                {
                    return new UTF8Encoding(false, true).GetString(value);
                }
                catch (DecoderFallbackException ex)
                {
                    throw new FormatException("a text value that is not UTF-8", ex);
                }

            case CqlKind.Blob:
                return value.ToArray();
            case CqlKind.Boolean:
                return Fixed(value, 1, "boolean")[0] != 0;
            case CqlKind.Tinyint:
                return (sbyte)Fixed(value, 1, "tinyint")[0];
            case CqlKind.Smallint:
                return BinaryPrimitives.ReadInt16BigEndian(Fixed(value, 2, "smallint"));
            case CqlKind.Int:
                return BinaryPrimitives.ReadInt32BigEndian(Fixed(value, 4, "int"));
            case CqlKind.Bigint:
                return BinaryPrimitives.ReadInt64BigEndian(Fixed(value, 8, "bigint"));
            case CqlKind.Float:
                return BinaryPrimitives.ReadSingleBigEndian(Fixed(value, 4, "float"));
            case CqlKind.Double:
                return BinaryPrimitives.ReadDoubleBigEndian(Fixed(value, 8, "double"));
            case CqlKind.Varint:
                return value.IsEmpty ? throw new FormatException("an empty varint") : new BigInteger(value, isUnsigned: false, isBigEndian: true);
            case CqlKind.Decimal:
                return ReadDecimal(value);
            case CqlKind.Uuid or CqlKind.Timeuuid:
                return ReadUuid(value);
            case CqlKind.Timestamp:
            {
                var milliseconds = ReadTimestamp(value);
                return IsInCalendarRange(type, value)
                    ? DateTimeOffset.UnixEpoch.AddMilliseconds(milliseconds)
                    : throw new FormatException($"timestamp {milliseconds} ms is outside years 1–9999 (use {nameof(ReadTimestamp)} for the raw value)");
            }

            case CqlKind.Date:
            {
                return IsInCalendarRange(type, value)
                    ? DateOnly.FromDayNumber(DateOnly.FromDateTime(DateTime.UnixEpoch).DayNumber + ReadDate(value))
                    : throw new FormatException($"date {ReadDate(value)} days from 1970-01-01 is outside years 1–9999 (use {nameof(ReadDate)} for the raw value)");
            }

            case CqlKind.Time:
                var nanos = ReadTime(value);
                return nanos is < 0 or >= 86_400_000_000_000 ? throw new FormatException($"time {nanos} ns is not within a day") : TimeSpan.FromTicks(nanos / 100);
            case CqlKind.Duration:
                return ReadDuration(value);
            case CqlKind.Inet:
                return value.Length is 4 or 16 ? new IPAddress(value) : throw new FormatException($"an inet of {value.Length} bytes (4 or 16 expected)");
            case CqlKind.List or CqlKind.Set:
            {
                var count = ReadCount(ref value);
                var list = new List<object?>(Math.Min(count, 1024));
                for (var i = 0; i < count; i++)
                {
                    list.Add(ReadElement(type.Parameters[0], ref value));
                }

                return End(value, list);
            }

            case CqlKind.Map:
            {
                var count = ReadCount(ref value);
                var map = new List<KeyValuePair<object?, object?>>(Math.Min(count, 1024));
                for (var i = 0; i < count; i++)
                {
                    var key = ReadElement(type.Parameters[0], ref value);
                    map.Add(new(key, ReadElement(type.Parameters[1], ref value)));
                }

                return End(value, map);
            }

            case CqlKind.Tuple or CqlKind.Udt:
            {
                // Fields may be missing at the end (a UDT that gained fields after the value was written).
                var fields = new object?[type.Parameters.Count];
                for (var i = 0; i < fields.Length && !value.IsEmpty; i++)
                {
                    fields[i] = ReadElement(type.Parameters[i], ref value);
                }

                return End(value, fields);
            }

            default:
                throw new FormatException($"no decoding for {type}");
        }
    }

    private static object End(ReadOnlySpan<byte> rest, object value) =>
        rest.IsEmpty ? value : throw new FormatException($"{rest.Length} bytes follow the last element");

    private static int ReadCount(ref ReadOnlySpan<byte> value)
    {
        if (value.Length < 4)
        {
            throw new FormatException("a collection without its int32 element count");
        }

        var count = BinaryPrimitives.ReadInt32BigEndian(value);
        value = value[4..];
        if (count < 0 || count > value.Length / 4)
        {
            throw new FormatException($"a collection of {count} elements cannot fit in {value.Length} bytes");
        }

        return count;
    }

    private static object? ReadElement(CqlType type, ref ReadOnlySpan<byte> value)
    {
        if (value.Length < 4)
        {
            throw new FormatException("an element without its int32 length");
        }

        var length = BinaryPrimitives.ReadInt32BigEndian(value);
        value = value[4..];
        if (length < 0)
        {
            return null;
        }

        if (length > value.Length)
        {
            throw new FormatException($"an element of {length} bytes, {value.Length} left");
        }

        var element = ToObject(type, value[..length]);
        value = value[length..];
        return element;
    }

    private static long ReadSignedVInt(ref ReadOnlySpan<byte> value)
    {
        if (value.IsEmpty)
        {
            throw new FormatException("a vint is missing");
        }

        var first = value[0];
        var extra = BitOperations.LeadingZeroCount((uint)(byte)~first) - 24;
        if (value.Length < 1 + extra)
        {
            throw new FormatException("a vint is cut short");
        }

        var raw = (ulong)(first & (0xFF >> extra));
        for (var i = 1; i <= extra; i++)
        {
            raw = (raw << 8) | value[i];
        }

        value = value[(1 + extra)..];
        return (long)(raw >> 1) ^ -(long)(raw & 1);
    }

    private static ReadOnlySpan<byte> Fixed(ReadOnlySpan<byte> value, int length, string type) =>
        value.Length == length ? value : throw new FormatException($"a {type} has {length} bytes, not {value.Length}");
}
