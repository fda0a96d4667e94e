using System.Buffers.Binary;
using System.Globalization;
using System.Numerics;
using System.Text;
using DataMesh.Events;

namespace DataMesh.Connectors.MySql.Binlog;

/// <summary>
/// Decodes one column value from its binlog bytes (a cell of a <see cref="RowImage"/>) into the typed values of the
/// change-event contract: integers, exact decimals, microseconds, days, UTF-8 text. The primitive methods allocate
/// nothing; <see cref="ToObject"/> is the object path for tools and tests.
/// </summary>
internal static class CellValues
{
    /// <summary>Microseconds from 0001-01-01 to 1970-01-01.</summary>
    private const long EpochDayNumber = 719_162;
    private const long MicrosPerDay = 86_400_000_000;

    public static long ReadSigned(ReadOnlySpan<byte> cell, MySqlColumnType type) => type switch
    {
        MySqlColumnType.Tiny => (sbyte)cell[0],
        MySqlColumnType.Short => BinaryPrimitives.ReadInt16LittleEndian(cell),
        MySqlColumnType.Int24 => (cell[0] | (cell[1] << 8) | (cell[2] << 16)) << 8 >> 8,
        MySqlColumnType.Long => BinaryPrimitives.ReadInt32LittleEndian(cell),
        _ => BinaryPrimitives.ReadInt64LittleEndian(cell),
    };

    public static ulong ReadUnsigned(ReadOnlySpan<byte> cell, MySqlColumnType type) => type switch
    {
        MySqlColumnType.Tiny => cell[0],
        MySqlColumnType.Short => BinaryPrimitives.ReadUInt16LittleEndian(cell),
        MySqlColumnType.Int24 => (ulong)(cell[0] | (cell[1] << 8) | (cell[2] << 16)),
        MySqlColumnType.Long => BinaryPrimitives.ReadUInt32LittleEndian(cell),
        _ => BinaryPrimitives.ReadUInt64LittleEndian(cell),
    };

    /// <summary>YEAR: 0 for the zero year, else 1900 + the byte.</summary>
    public static int ReadYear(ReadOnlySpan<byte> cell) => cell[0] == 0 ? 0 : 1900 + cell[0];

    /// <summary>DATE: days since 1970-01-01; <see cref="int.MinValue"/> for the zero date and dates with a zero part.</summary>
    /// <exception cref="FormatException">A day that does not exist in its month (ALLOW_INVALID_DATES).</exception>
    public static int ReadDate(ReadOnlySpan<byte> cell)
    {
        var packed = cell[0] | (cell[1] << 8) | (cell[2] << 16);
        var day = packed & 31;
        var month = (packed >> 5) & 15;
        var year = packed >> 9;
        return DaysOf(year, month, day);
    }

    /// <summary>TIME2: signed microseconds.</summary>
    public static long ReadTime2(ReadOnlySpan<byte> cell, int fsp)
    {
        long packed;
        switch (fsp)
        {
            case 1 or 2:
            {
                long intPart = ReadBigEndian24(cell) - 0x800000;
                long fraction = cell[3];
                if (intPart < 0 && fraction != 0)
                {
                    intPart++;
                    fraction -= 0x100;
                }

                packed = (intPart << 24) + (fraction * 10000);
                break;
            }

            case 3 or 4:
            {
                long intPart = ReadBigEndian24(cell) - 0x800000;
                long fraction = BinaryPrimitives.ReadUInt16BigEndian(cell[3..]);
                if (intPart < 0 && fraction != 0)
                {
                    intPart++;
                    fraction -= 0x10000;
                }

                packed = (intPart << 24) + (fraction * 100);
                break;
            }

            case 5 or 6:
                packed = (long)BinaryDecimal.ReadBigEndian(cell[..6]) - 0x800000000000L;
                break;
            default:
                packed = (ReadBigEndian24(cell) - 0x800000L) << 24;
                break;
        }

        var negative = packed < 0;
        var magnitude = negative ? -packed : packed;
        var hms = magnitude >> 24;
        var micros = magnitude % (1L << 24);
        var hours = (hms >> 12) % (1 << 10);
        var minutes = (hms >> 6) % (1 << 6);
        var seconds = hms % (1 << 6);
        var total = ((((hours * 60) + minutes) * 60) + seconds) * 1_000_000 + micros;
        return negative ? -total : total;
    }

    /// <summary>TIME (before MySQL 5.6): a signed HHMMSS integer, in microseconds.</summary>
    public static long ReadTime(ReadOnlySpan<byte> cell)
    {
        var value = (cell[0] | (cell[1] << 8) | (cell[2] << 16)) << 8 >> 8;
        var negative = value < 0;
        value = Math.Abs(value);
        long total = ((value / 10000 * 3600L) + (value / 100 % 100 * 60L) + (value % 100)) * 1_000_000;
        return negative ? -total : total;
    }

    /// <summary>DATETIME2: microseconds since 1970-01-01T00:00 on the wall clock; <see cref="long.MinValue"/> for the zero datetime.</summary>
    public static long ReadDateTime2(ReadOnlySpan<byte> cell, int fsp)
    {
        var intPart = (long)BinaryDecimal.ReadBigEndian(cell[..5]) - 0x8000000000L;
        var fraction = ReadFraction(cell[5..], fsp);
        var ymd = intPart >> 17;
        var ym = ymd >> 5;
        var hms = intPart % (1 << 17);
        var days = DaysOf((int)(ym / 13), (int)(ym % 13), (int)(ymd % (1 << 5)));
        if (days == int.MinValue)
        {
            return long.MinValue;
        }

        var seconds = ((hms >> 12) * 3600) + (((hms >> 6) % (1 << 6)) * 60) + (hms % (1 << 6));
        return (days * MicrosPerDay) + (seconds * 1_000_000) + fraction;
    }

    /// <summary>DATETIME (before MySQL 5.6): a YYYYMMDDhhmmss integer.</summary>
    public static long ReadDateTime(ReadOnlySpan<byte> cell)
    {
        var value = BinaryPrimitives.ReadUInt64LittleEndian(cell);
        var date = value / 1_000_000;
        var time = value % 1_000_000;
        var days = DaysOf((int)(date / 10000), (int)(date / 100 % 100), (int)(date % 100));
        if (days == int.MinValue)
        {
            return long.MinValue;
        }

        return (days * MicrosPerDay) + ((long)((time / 10000 * 3600) + (time / 100 % 100 * 60) + (time % 100)) * 1_000_000);
    }

    /// <summary>TIMESTAMP2: microseconds since the epoch (UTC); <see cref="long.MinValue"/> for the zero timestamp.</summary>
    public static long ReadTimestamp2(ReadOnlySpan<byte> cell, int fsp)
    {
        var seconds = BinaryPrimitives.ReadUInt32BigEndian(cell);
        var fraction = ReadFraction(cell[4..], fsp);
        return seconds == 0 && fraction == 0 ? long.MinValue : (seconds * 1_000_000L) + fraction;
    }

    /// <summary>TIMESTAMP (before MySQL 5.6): seconds since the epoch, little-endian.</summary>
    public static long ReadTimestamp(ReadOnlySpan<byte> cell)
    {
        var seconds = BinaryPrimitives.ReadUInt32LittleEndian(cell);
        return seconds == 0 ? long.MinValue : seconds * 1_000_000L;
    }

    /// <summary>BIT: the big-endian value.</summary>
    public static ulong ReadBits(ReadOnlySpan<byte> cell) => BinaryDecimal.ReadBigEndian(cell);

    /// <summary>Writes the bits of a BIT(n) as '0'/'1' characters, first bit first.</summary>
    public static void FormatBits(ulong value, int length, Span<byte> destination)
    {
        for (var i = 0; i < length; i++)
        {
            destination[i] = (byte)('0' + (int)((value >> (length - 1 - i)) & 1));
        }
    }

    /// <summary>The payload of a string, blob, JSON or geometry cell: the bytes after its length prefix.</summary>
    public static ReadOnlySpan<byte> Payload(ReadOnlySpan<byte> cell, int lengthPrefix) => cell[lengthPrefix..];

    /// <summary>A BINARY(n) value whole: the binlog stores it without its trailing 0x00 bytes (the binary character set's
    /// pad character, stripped like the spaces of a CHAR), so the zeros are put back up to <paramref name="length"/> bytes.</summary>
    /// <param name="payload">The value's bytes from the binlog.</param>
    /// <param name="length">The column's length in bytes (<see cref="ColumnPlan.BinaryLength"/>; 0 leaves the value as it is).</param>
    /// <param name="scratch">Room for <paramref name="length"/> bytes, used when the value is shorter.</param>
    public static ReadOnlySpan<byte> PadBinary(ReadOnlySpan<byte> payload, int length, Span<byte> scratch)
    {
        if (payload.Length >= length)
        {
            return payload;
        }

        var padded = scratch[..length];
        payload.CopyTo(padded);
        padded[payload.Length..].Clear();
        return padded;
    }

    /// <summary>An ENUM cell's index: 1-based, 0 for the empty error value.</summary>
    public static int ReadEnumIndex(ReadOnlySpan<byte> cell) => cell.Length == 1 ? cell[0] : BinaryPrimitives.ReadUInt16LittleEndian(cell);

    /// <summary>A SET cell's member bits.</summary>
    public static ulong ReadSetBits(ReadOnlySpan<byte> cell)
    {
        ulong value = 0;
        for (var i = cell.Length - 1; i >= 0; i--)
        {
            value = (value << 8) | cell[i];
        }

        return value;
    }

    /// <summary>The value of a cell as the object that <see cref="ChangeEventEncoder"/> takes for its column kind:
    /// <see cref="int"/>, <see cref="long"/>, <see cref="ulong"/>, <see cref="float"/>, <see cref="double"/>,
    /// <see cref="BigInteger"/> (a decimal's unscaled value, or its text under DecimalHandling.String), <see cref="bool"/>,
    /// <see cref="string"/>, <see cref="byte"/>[], <see cref="GeometryValue"/>; days and microseconds as <see cref="int"/>
    /// and <see cref="long"/>.</summary>
    /// <exception cref="FormatException">The bytes are not a valid value of the column.</exception>
    public static object ToObject(ReadOnlySpan<byte> cell, ColumnPlan plan, bool decimalsAsText = false)
    {
        var type = plan.Binlog.Type;
        switch (plan.Decoder)
        {
            case ValueDecoder.SignedInt:
                var signed = ReadSigned(cell, type);
                return plan.Kind == DataTypeKind.Int64 ? signed : (object)(int)signed;
            case ValueDecoder.UnsignedInt:
                var unsigned = ReadUnsigned(cell, type);
                return plan.Kind == DataTypeKind.Int64 ? (long)unsigned : (object)(int)unsigned;
            case ValueDecoder.UnsignedInt64: return ReadUnsigned(cell, type);
            case ValueDecoder.Float: return BinaryPrimitives.ReadSingleLittleEndian(cell);
            case ValueDecoder.Double: return BinaryPrimitives.ReadDoubleLittleEndian(cell);
            case ValueDecoder.Decimal:
                var big = BinaryDecimal.DecodeBig(cell, plan.Precision, plan.Scale);
                return decimalsAsText ? BinaryDecimal.FormatText(big, plan.Scale) : big;
            case ValueDecoder.Boolean: return (ReadBits(cell) & 1) != 0;
            case ValueDecoder.Bits:
                var bits = new byte[plan.BitLength];
                FormatBits(ReadBits(cell), plan.BitLength, bits);
                return Encoding.ASCII.GetString(bits);
            case ValueDecoder.Year: return ReadYear(cell);
            case ValueDecoder.Date: return ReadDate(cell);
            case ValueDecoder.Time: return ReadTime(cell);
            case ValueDecoder.Time2: return ReadTime2(cell, plan.Binlog.Meta);
            case ValueDecoder.DateTime: return ReadDateTime(cell);
            case ValueDecoder.DateTime2: return ReadDateTime2(cell, plan.Binlog.Meta);
            case ValueDecoder.Timestamp: return ReadTimestamp(cell);
            case ValueDecoder.Timestamp2: return ReadTimestamp2(cell, plan.Binlog.Meta);
            case ValueDecoder.Text: return MySqlCharsets.ToString(plan.Charset, Payload(cell, plan.LengthPrefix));
            case ValueDecoder.Bytes:
                var bytes = Payload(cell, plan.LengthPrefix);
                if (bytes.Length >= plan.BinaryLength)
                {
                    return bytes.ToArray();
                }

                var padded = new byte[plan.BinaryLength];
                PadBinary(bytes, padded.Length, padded);
                return padded;
            case ValueDecoder.JsonText:
                var json = Payload(cell, plan.LengthPrefix);
                return MySqlCharsets.ToString(plan.Charset == MySqlCharset.Binary ? MySqlCharset.Utf8 : plan.Charset, json);
            case ValueDecoder.JsonBinary: return MySqlJsonBinary.ToText(Payload(cell, plan.LengthPrefix));
            case ValueDecoder.Enum:
                var index = ReadEnumIndex(cell);
                return index == 0 ? string.Empty : Encoding.UTF8.GetString(Label(plan, index - 1));
            case ValueDecoder.Set:
                var members = ReadSetBits(cell);
                var text = new StringBuilder();
                for (var i = 0; i < 64 && members >> i != 0; i++)
                {
                    if (((members >> i) & 1) != 0)
                    {
                        text.Append(text.Length > 0 ? "," : string.Empty).Append(Encoding.UTF8.GetString(Label(plan, i)));
                    }
                }

                return text.ToString();
            case ValueDecoder.Geometry:
                var geometry = Payload(cell, plan.LengthPrefix);
                if (geometry.Length < 4)
                {
                    throw new FormatException($"a geometry of {geometry.Length} bytes has no SRID");
                }

                return new GeometryValue(geometry[4..].ToArray(), BinaryPrimitives.ReadInt32LittleEndian(geometry));
            default:
                throw new FormatException($"no decoder for {plan.Decoder}");
        }
    }

    /// <summary>An ENUM label or SET member by its 0-based index.</summary>
    /// <exception cref="FormatException">The index is beyond the labels.</exception>
    public static byte[] Label(ColumnPlan plan, int index) =>
        index < plan.Labels.Length ? plan.Labels[index] : throw new FormatException($"{(plan.Decoder == ValueDecoder.Enum ? "ENUM index" : "SET member")} {index + 1} is beyond the column's {plan.Labels.Length} values");

    private static int ReadBigEndian24(ReadOnlySpan<byte> cell) => (cell[0] << 16) | (cell[1] << 8) | cell[2];

    private static long ReadFraction(ReadOnlySpan<byte> bytes, int fsp) => fsp switch
    {
        1 or 2 => bytes[0] * 10_000L,
        3 or 4 => BinaryPrimitives.ReadUInt16BigEndian(bytes) * 100L,
        5 or 6 => (bytes[0] << 16) | (bytes[1] << 8) | bytes[2],
        _ => 0,
    };

    private static int DaysOf(int year, int month, int day)
    {
        if (year == 0 || month == 0 || day == 0)
        {
            return int.MinValue;
        }

        if (month > 12 || day > DateTime.DaysInMonth(Math.Clamp(year, 1, 9999), month) || year > 9999)
        {
            throw new FormatException(string.Create(CultureInfo.InvariantCulture, $"{year:0000}-{month:00}-{day:00} is not a date"));
        }

        return (int)(new DateOnly(year, month, day).DayNumber - EpochDayNumber);
    }
}
