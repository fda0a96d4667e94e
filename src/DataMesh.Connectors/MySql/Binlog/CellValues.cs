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
    /// <summary>The most UTF-8 bytes <see cref="FormatBinaryText"/> writes (an IPv6 address of eight full groups).</summary>
    public const int BinaryTextMaxLength = 39;

    /// <summary>
    /// Writes the text MariaDB shows for a UUID, INET6 or INET4 value, from its binlog bytes (which lose their trailing 0x00
    /// bytes, put back here): a UUID as <c>8-4-4-4-12</c> lower-case hex digits; an IPv6 address with lower-case groups
    /// without leading zeros, the first longest run of zero groups written <c>::</c> (also a run of one group, unlike RFC
    /// 5952), and an IPv4-mapped (<c>::ffff:a.b.c.d</c>) or IPv4-compatible (<c>::a.b.c.d</c>, not <c>::1</c>) address with
    /// a dotted tail, as the server's <c>Inet6::to_string</c> does; an IPv4 address as a dotted quad.
    /// </summary>
    /// <returns>The bytes written to <paramref name="destination"/> (at least <see cref="BinaryTextMaxLength"/> long).</returns>
    /// <exception cref="FormatException">More bytes than the type holds.</exception>
    public static int FormatBinaryText(ReadOnlySpan<byte> payload, BinaryText kind, Span<byte> destination)
    {
        var size = kind == BinaryText.Inet4 ? 4 : 16;
        if (payload.Length > size)
        {
            throw new FormatException($"a {kind} value of {payload.Length} bytes (at most {size})");
        }

        Span<byte> value = stackalloc byte[16];
        value.Clear();
        payload.CopyTo(value);
        value = value[..size];
        switch (kind)
        {
            case BinaryText.Uuid:
                var at = 0;
                for (var i = 0; i < 16; i++)
                {
                    if (i is 4 or 6 or 8 or 10)
                    {
                        destination[at++] = (byte)'-';
                    }

                    destination[at++] = (byte)"0123456789abcdef"[value[i] >> 4];
                    destination[at++] = (byte)"0123456789abcdef"[value[i] & 0xF];
                }

                return at;
            case BinaryText.Inet4:
                return FormatIPv4(value, destination);
            default:
                return FormatIPv6(value, destination);
        }
    }

    /// <summary>The binlog bytes of a UUID, INET6 or INET4 written as <paramref name="text"/> in a statement (a column's
    /// DEFAULT), or null where the form is not one read here with certainty: a UUID in its 36- or 32-digit form, an IPv6
    /// address without a zone, an IPv4 address as a dotted quad of decimal numbers.</summary>
    public static byte[]? ParseBinaryText(string text, BinaryText kind)
    {
        switch (kind)
        {
            case BinaryText.Uuid:
                if (!Guid.TryParseExact(text, "D", out var uuid) && !Guid.TryParseExact(text, "N", out uuid))
                {
                    return null;
                }

                var bytes = new byte[16];
                return uuid.TryWriteBytes(bytes, bigEndian: true, out _) ? bytes : null;
            case BinaryText.Inet4:
                var parts = text.Split('.');
                var quad = new byte[4];
                if (parts.Length != 4)
                {
                    return null;
                }

                for (var i = 0; i < 4; i++)
                {
                    if (parts[i].Length is 0 or > 3 || !byte.TryParse(parts[i], NumberStyles.None, CultureInfo.InvariantCulture, out quad[i]))
                    {
                        return null;
                    }
                }

                return quad;
            case BinaryText.Inet6:
                return text.Contains(':', StringComparison.Ordinal) && !text.Contains('%', StringComparison.Ordinal) && !text.Contains('[', StringComparison.Ordinal)
                    && System.Net.IPAddress.TryParse(text, out var address) && address.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6
                    ? address.GetAddressBytes()
                    : null;
            default:
                return null;
        }
    }

    private static int FormatIPv4(ReadOnlySpan<byte> quad, Span<byte> destination)
    {
        var at = 0;
        for (var i = 0; i < 4; i++)
        {
            if (i > 0)
            {
                destination[at++] = (byte)'.';
            }

            System.Buffers.Text.Utf8Formatter.TryFormat(quad[i], destination[at..], out var written);
            at += written;
        }

        return at;
    }

    private static int FormatIPv6(ReadOnlySpan<byte> address, Span<byte> destination)
    {
        Span<ushort> groups = stackalloc ushort[8];
        for (var i = 0; i < 8; i++)
        {
            groups[i] = BinaryPrimitives.ReadUInt16BigEndian(address[(2 * i)..]);
        }

        // The first longest run of zero groups, one group long at least.
        int gap = -1, gapLength = 0;
        for (var i = 0; i < 8;)
        {
            if (groups[i] != 0)
            {
                i++;
                continue;
            }

            var start = i;
            while (i < 8 && groups[i] == 0)
            {
                i++;
            }

            if (i - start > gapLength)
            {
                (gap, gapLength) = (start, i - start);
            }
        }

        var at = 0;
        for (var i = 0; i < 8; i++)
        {
            if (i == gap)
            {
                if (i == 0)
                {
                    destination[at++] = (byte)':';
                }

                destination[at++] = (byte)':';
                i += gapLength - 1;
            }
            else if (i == 6 && gap == 0 && (gapLength == 6 || (gapLength == 5 && groups[5] == 0xFFFF)))
            {
                // IPv4-compatible (::a.b.c.d) or IPv4-mapped (::ffff:a.b.c.d): the last 32 bits as IPv4.
                return at + FormatIPv4(address[12..], destination[at..]);
            }
            else
            {
                System.Buffers.Text.Utf8Formatter.TryFormat(groups[i], destination[at..], out var written, new System.Buffers.StandardFormat('x'));
                at += written;
                if (i != 7)
                {
                    destination[at++] = (byte)':';
                }
            }
        }

        return at;
    }

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
    /// <see cref="string"/>, <see cref="byte"/>[], <see cref="Guid"/> (MariaDB's UUID), <see cref="GeometryValue"/>; days and microseconds as <see cref="int"/>
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
            case ValueDecoder.Bytes when plan.BinaryText == BinaryText.Uuid:
                // A Guid, as ChangeEventEncoder takes for the Uuid kind: the 16 bytes in their written order.
                var payload = Payload(cell, plan.LengthPrefix);
                if (payload.Length > 16)
                {
                    throw new FormatException($"a Uuid value of {payload.Length} bytes (at most 16)");
                }

                Span<byte> uuid = stackalloc byte[16];
                return new Guid(PadBinary(payload, 16, uuid), bigEndian: true);
            case ValueDecoder.Bytes when plan.BinaryText != BinaryText.None:
                Span<byte> utf8 = stackalloc byte[BinaryTextMaxLength];
                return Encoding.ASCII.GetString(utf8[..FormatBinaryText(Payload(cell, plan.LengthPrefix), plan.BinaryText, utf8)]);
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

    // The writers below are the readers' inverses, for rows read by a SELECT (snapshots, SelectedRowImage): each takes a
    // value in the text form the server gives for CAST(column AS BINARY) and writes the bytes the binlog has for it, so
    // that the readers above decode it like the log's.

    /// <summary>Writes a DATE cell (3 bytes) from <c>YYYY-MM-DD</c> (zero parts kept, like the binlog).</summary>
    /// <returns>The bytes written.</returns>
    /// <exception cref="FormatException">Not a date of that form.</exception>
    public static int WriteDate(ReadOnlySpan<byte> text, Span<byte> cell)
    {
        var at = 0;
        var (year, month, day) = ParseDate(text, ref at);
        End(text, at);
        var packed = day | (month << 5) | (year << 9);
        cell[0] = (byte)packed;
        cell[1] = (byte)(packed >> 8);
        cell[2] = (byte)(packed >> 16);
        return 3;
    }

    /// <summary>Writes a DATETIME2 cell from <c>YYYY-MM-DD hh:mm:ss[.f]</c>.</summary>
    /// <returns>The bytes written: 5 and the fraction's (<paramref name="fsp"/>).</returns>
    /// <exception cref="FormatException">Not a datetime of that form.</exception>
    public static int WriteDateTime2(ReadOnlySpan<byte> text, int fsp, Span<byte> cell)
    {
        var (year, month, day, hours, minutes, seconds, micros) = ParseDateTime(text);
        var ymd = (((long)year * 13 + month) << 5) | (long)day;
        var hms = ((long)hours << 12) | ((long)minutes << 6) | (long)seconds;
        WriteBigEndian((ymd << 17 | hms) + 0x8000000000L, cell[..5]);
        return 5 + WriteFraction(micros, fsp, cell[5..]);
    }

    /// <summary>Writes a TIMESTAMP2 cell from the UTC datetime <c>YYYY-MM-DD hh:mm:ss[.f]</c> (the session's time zone
    /// must be UTC); the zero timestamp is 0 seconds.</summary>
    /// <returns>The bytes written: 4 and the fraction's (<paramref name="fsp"/>).</returns>
    /// <exception cref="FormatException">Not a datetime of that form.</exception>
    public static int WriteTimestamp2(ReadOnlySpan<byte> text, int fsp, Span<byte> cell)
    {
        var (year, month, day, hours, minutes, seconds, micros) = ParseDateTime(text);
        long epochSeconds = 0;
        if (year != 0 || month != 0 || day != 0)
        {
            var days = DaysOf(year, month, day);
            epochSeconds = (days * 86_400L) + (hours * 3600L) + (minutes * 60L) + seconds;
            if (days == int.MinValue || epochSeconds is < 0 or > uint.MaxValue)
            {
                throw new FormatException($"'{Encoding.ASCII.GetString(text)}' is not a TIMESTAMP");
            }
        }

        BinaryPrimitives.WriteUInt32BigEndian(cell, (uint)epochSeconds);
        return 4 + WriteFraction(micros, fsp, cell[4..]);
    }

    /// <summary>Writes a TIME2 cell from <c>[-]h:mm:ss[.f]</c> (hours up to 838), as MySQL's
    /// <c>my_time_packed_to_binary</c> does.</summary>
    /// <returns>The bytes written: 3 and the fraction's (<paramref name="fsp"/>).</returns>
    /// <exception cref="FormatException">Not a time of that form.</exception>
    public static int WriteTime2(ReadOnlySpan<byte> text, int fsp, Span<byte> cell)
    {
        var at = 0;
        var negative = text.Length > 0 && text[0] == '-';
        at += negative ? 1 : 0;
        var (hours, minutes, seconds, micros) = ParseTime(text, ref at, maxHourDigits: 3);
        End(text, at);
        var packed = ((((long)hours << 12) | ((long)minutes << 6) | (long)seconds) << 24) + micros;
        var nr = negative ? -packed : packed;
        const long IntOffset = 0x800000;
        switch (fsp)
        {
            case 1 or 2:
                WriteBigEndian((nr >> 24) + IntOffset, cell[..3]);
                cell[3] = (byte)(sbyte)(nr % (1L << 24) / 10_000);
                return 4;
            case 3 or 4:
                WriteBigEndian((nr >> 24) + IntOffset, cell[..3]);
                BinaryPrimitives.WriteInt16BigEndian(cell[3..], (short)(nr % (1L << 24) / 100));
                return 5;
            case 5 or 6:
                WriteBigEndian(nr + 0x800000000000L, cell[..6]);
                return 6;
            default:
                WriteBigEndian((nr >> 24) + IntOffset, cell[..3]);
                return 3;
        }
    }

    /// <summary>Writes a BIT cell: big-endian in the cell's bytes.</summary>
    public static void WriteBits(ulong value, Span<byte> cell) => WriteBigEndian((long)value, cell);

    /// <summary>Writes an integer, an ENUM index or SET members: little-endian in the cell's bytes.</summary>
    public static void WriteLittleEndian(ulong value, Span<byte> cell)
    {
        for (var i = 0; i < cell.Length; i++)
        {
            cell[i] = (byte)(value >> (8 * i));
        }
    }

    /// <summary>The bytes of a fraction of <paramref name="fsp"/> digits in DATETIME2, TIMESTAMP2 (and TIME2 for 1 to 4).</summary>
    private static int WriteFraction(int micros, int fsp, Span<byte> cell)
    {
        switch (fsp)
        {
            case 1 or 2:
                cell[0] = (byte)(micros / 10_000);
                return 1;
            case 3 or 4:
                BinaryPrimitives.WriteUInt16BigEndian(cell, (ushort)(micros / 100));
                return 2;
            case 5 or 6:
                cell[0] = (byte)(micros >> 16);
                cell[1] = (byte)(micros >> 8);
                cell[2] = (byte)micros;
                return 3;
            default:
                return 0;
        }
    }

    private static void WriteBigEndian(long value, Span<byte> bytes)
    {
        for (var i = bytes.Length - 1; i >= 0; i--)
        {
            bytes[i] = (byte)value;
            value >>= 8;
        }
    }

    /// <summary><c>YYYY-MM-DD hh:mm:ss[.f]</c>, the whole text.</summary>
    private static (int Year, int Month, int Day, int Hours, int Minutes, int Seconds, int Micros) ParseDateTime(ReadOnlySpan<byte> text)
    {
        var at = 0;
        var (year, month, day) = ParseDate(text, ref at);
        Expect(text, ref at, (byte)' ');
        var (hours, minutes, seconds, micros) = ParseTime(text, ref at, maxHourDigits: 2);
        End(text, at);
        return (year, month, day, hours, minutes, seconds, micros);
    }

    private static (int Year, int Month, int Day) ParseDate(ReadOnlySpan<byte> text, ref int at)
    {
        var year = Digits(text, ref at, 4, 4);
        Expect(text, ref at, (byte)'-');
        var month = Digits(text, ref at, 2, 2);
        Expect(text, ref at, (byte)'-');
        var day = Digits(text, ref at, 2, 2);
        return (year, month, day);
    }

    /// <summary><c>h:mm:ss[.f]</c>: hours of 2 (up to <paramref name="maxHourDigits"/>) digits, and microseconds.</summary>
    private static (int Hours, int Minutes, int Seconds, int Micros) ParseTime(ReadOnlySpan<byte> text, ref int at, int maxHourDigits)
    {
        var hours = Digits(text, ref at, 1, maxHourDigits);
        Expect(text, ref at, (byte)':');
        var minutes = Digits(text, ref at, 2, 2);
        Expect(text, ref at, (byte)':');
        var seconds = Digits(text, ref at, 2, 2);
        var micros = 0;
        if (at < text.Length && text[at] == '.')
        {
            at++;
            var start = at;
            micros = Digits(text, ref at, 1, 6);
            for (var i = at - start; i < 6; i++)
            {
                micros *= 10;
            }
        }

        return (hours, minutes, seconds, micros);
    }

    private static int Digits(ReadOnlySpan<byte> text, ref int at, int min, int max)
    {
        var value = 0;
        var count = 0;
        while (at < text.Length && count < max && text[at] is >= (byte)'0' and <= (byte)'9')
        {
            value = (value * 10) + (text[at++] - '0');
            count++;
        }

        return count >= min ? value : throw new FormatException($"'{Encoding.ASCII.GetString(text)}' is not a date or time of the server's form (digits expected at {at})");
    }

    private static void Expect(ReadOnlySpan<byte> text, ref int at, byte expected)
    {
        if (at >= text.Length || text[at] != expected)
        {
            throw new FormatException($"'{Encoding.ASCII.GetString(text)}' is not a date or time of the server's form ('{(char)expected}' expected at {at})");
        }

        at++;
    }

    private static void End(ReadOnlySpan<byte> text, int at)
    {
        if (at != text.Length)
        {
            throw new FormatException($"'{Encoding.ASCII.GetString(text)}' is not a date or time of the server's form (unexpected text at {at})");
        }
    }

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
