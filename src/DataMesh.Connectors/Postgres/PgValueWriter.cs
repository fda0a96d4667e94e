using System.Buffers;
using System.Buffers.Text;
using System.Globalization;
using System.Numerics;
using System.Text;
using DataMesh.Avro;
using DataMesh.Events;

namespace DataMesh.Connectors.Postgres;

/// <summary>
/// Writes PostgreSQL text-format values (as pgoutput sends them, under the session settings the connector sets:
/// DateStyle ISO, IntervalStyle iso_8601, TimeZone UTC, extra_float_digits 3, lc_monetary C) as the Avro values of
/// <c>docs/type-mapping.md</c>, straight from the message bytes.
/// </summary>
internal static class PgValueWriter
{
    private const long MicrosPerDay = 86_400_000_000L;

    /// <summary>Writes one non-null value. Throws <see cref="FormatException"/> when the text is not a value of the type.</summary>
    public static void Write(ref AvroWriter writer, PgColumnType type, ReadOnlySpan<byte> text, DecimalHandling decimals)
    {
        switch (type.ValueKind)
        {
            case PgValueKind.Boolean:
                writer.WriteBoolean(text.Length == 1 && text[0] == (byte)'t' || Fail<bool>(text, "boolean", text.Length == 1 && text[0] == (byte)'f'));
                break;
            case PgValueKind.BitAsBoolean:
                writer.WriteBoolean(text.Length == 1 && text[0] == (byte)'1' || Fail<bool>(text, "bit(1)", text.Length == 1 && text[0] == (byte)'0'));
                break;
            case PgValueKind.Int16:
            case PgValueKind.Int32:
                writer.WriteInt(Utf8Parser.TryParse(text, out int i, out var used) && used == text.Length ? i : Fail<int>(text, "integer"));
                break;
            case PgValueKind.Int64:
                writer.WriteLong(Utf8Parser.TryParse(text, out long l, out used) && used == text.Length ? l : Fail<long>(text, "bigint"));
                break;
            case PgValueKind.UInt32:
                writer.WriteLong(Utf8Parser.TryParse(text, out uint u, out used) && used == text.Length ? u : Fail<uint>(text, "oid"));
                break;
            case PgValueKind.Float4:
                writer.WriteFloat(ParseFloat(text));
                break;
            case PgValueKind.Float8:
                writer.WriteDouble(ParseDouble(text));
                break;
            case PgValueKind.Numeric:
                WriteNumeric(ref writer, type.DataType, text, decimals);
                break;
            case PgValueKind.Money:
                WriteMoney(ref writer, type.DataType, text, decimals);
                break;
            case PgValueKind.PassThrough:
                writer.WriteStringUtf8(text);
                break;
            case PgValueKind.Bytea:
                WriteBytea(ref writer, text);
                break;
            case PgValueKind.Date:
                writer.WriteInt(ParseDate(text));
                break;
            case PgValueKind.Time:
                writer.WriteLong(ParseTime(text));
                break;
            case PgValueKind.Timestamp:
            case PgValueKind.TimestampTz:
                writer.WriteLong(ParseTimestamp(text));
                break;
            case PgValueKind.Array:
                WriteArray(ref writer, type, text, decimals);
                break;
            default:
                throw new FormatException($"Unknown value kind {type.ValueKind}.");
        }
    }

    public static float ParseFloat(ReadOnlySpan<byte> text) => text switch
    {
        _ when text.SequenceEqual("NaN"u8) => float.NaN,
        _ when text.SequenceEqual("Infinity"u8) => float.PositiveInfinity,
        _ when text.SequenceEqual("-Infinity"u8) => float.NegativeInfinity,
        _ => float.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var f) ? f : Fail<float>(text, "real"),
    };

    public static double ParseDouble(ReadOnlySpan<byte> text) => text switch
    {
        _ when text.SequenceEqual("NaN"u8) => double.NaN,
        _ when text.SequenceEqual("Infinity"u8) => double.PositiveInfinity,
        _ when text.SequenceEqual("-Infinity"u8) => double.NegativeInfinity,
        _ => double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var d) ? d : Fail<double>(text, "double precision"),
    };

    private static void WriteNumeric(ref AvroWriter writer, DataType type, scoped ReadOnlySpan<byte> text, DecimalHandling decimals)
    {
        if (decimals == DecimalHandling.String)
        {
            writer.WriteStringUtf8(text);
            return;
        }

        if (text.SequenceEqual("NaN"u8) || text.SequenceEqual("Infinity"u8) || text.SequenceEqual("-Infinity"u8))
        {
            throw new FormatException($"'{Encoding.UTF8.GetString(text)}' has no Avro decimal form; set DataMesh:Events:DecimalHandling to String to carry it as text.");
        }

        var scale = 0;
        var point = text.IndexOf((byte)'.');
        if (point >= 0)
        {
            scale = text.Length - point - 1;
        }

        if (type.Kind == DataTypeKind.Decimal && scale > type.Scale)
        {
            throw new FormatException($"a value of {type.DatabaseType} has more than {type.Scale} digits after the point.");
        }

        if (type.Kind == DataTypeKind.VariableDecimal)
        {
            writer.WriteInt(scale);
        }

        // decimal holds up to 28 significant digits exactly; wider values go through BigInteger.
        if (text.Length <= 29 && Utf8Parser.TryParse(text, out decimal value, out var used) && used == text.Length)
        {
            try
            {
                if (type.Kind == DataTypeKind.VariableDecimal)
                {
                    writer.WriteDecimal(value, 38, scale);
                }
                else
                {
                    writer.WriteDecimal(value, type.Precision, type.Scale);
                }
            }
            catch (ArgumentException)
            {
                // Never the value in the message: it reaches logs and status.
                throw new FormatException($"a value of {type.DatabaseType} does not fit its precision and scale.");
            }

            return;
        }

        var unscaled = ParseUnscaled(text, point);
        if (type.Kind == DataTypeKind.Decimal)
        {
            unscaled *= BigInteger.Pow(10, type.Scale - scale);
            try
            {
                writer.WriteDecimal(unscaled, type.Precision);
            }
            catch (ArgumentException)
            {
                throw new FormatException($"a value of {type.DatabaseType} has more than {type.Precision} digits.");
            }
        }
        else
        {
            // No precision to check for numbers without a declared one: the unscaled value's bytes, as Avro decimal bytes.
            writer.WriteBytes(unscaled.ToByteArray(isUnsigned: false, isBigEndian: true));
        }
    }

    private static BigInteger ParseUnscaled(ReadOnlySpan<byte> text, int point)
    {
        Span<char> digits = text.Length <= 256 ? stackalloc char[text.Length] : new char[text.Length];
        var n = 0;
        for (var i = 0; i < text.Length; i++)
        {
            var c = text[i];
            if (c is (byte)'-' && i == 0 || c is >= (byte)'0' and <= (byte)'9')
            {
                digits[n++] = (char)c;
            }
            else if (i != point)
            {
                return Fail<BigInteger>(text, "numeric");
            }
        }

        return BigInteger.TryParse(digits[..n], NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var value) ? value : Fail<BigInteger>(text, "numeric");
    }

    /// <summary>
    /// money in the C locale's form, the only one the connector's sessions print (<c>lc_monetary</c> C: see
    /// <see cref="PostgresConnector.MoneyOptions"/>): <c>$1,234.56</c>, <c>-$1,234.56</c>, always two digits after the
    /// point. Its digits are the stored 64-bit count of the smallest unit, which is written with the type's scale: the
    /// fraction digits of the database's own <c>lc_monetary</c> (0 for ja_JP, whose <c>￥1,235</c> C prints <c>$12.35</c>).
    /// Any other form is refused: read with another locale's separators it would be another number.
    /// </summary>
    private static void WriteMoney(ref AvroWriter writer, DataType type, ReadOnlySpan<byte> text, DecimalHandling decimals)
    {
        var negative = text.Length > 0 && text[0] == (byte)'-';
        var rest = negative ? text[1..] : text;
        if (rest.Length < 5 || rest[0] != (byte)'$' || rest[^3] != (byte)'.')
        {
            FailMoney(text);
        }

        // UInt128: the magnitude of long.MinValue (92233720368547758.08) does not fit a long.
        UInt128 count = 0;
        var digits = 0;
        var group = -1; // digits since the last ',' (-1: none yet)
        for (var i = 1; i < rest.Length; i++)
        {
            var c = rest[i];
            if (c is >= (byte)'0' and <= (byte)'9')
            {
                count = count * 10 + (uint)(c - '0');
                digits++;
                group = group < 0 ? group : group + 1;
            }
            else if (c == (byte)',' && i < rest.Length - 3 && digits > 0 && (group < 0 ? digits <= 3 : group == 3))
            {
                group = 0;
            }
            else if (c == (byte)'.' && i == rest.Length - 3 && digits > 0 && (group < 0 || group == 3))
            {
                group = -1;
            }
            else
            {
                FailMoney(text);
            }

            if (digits > 20)
            {
                FailMoney(text);
            }
        }

        var unscaled = negative ? -(BigInteger)count : (BigInteger)count;
        if (unscaled < long.MinValue || unscaled > long.MaxValue)
        {
            FailMoney(text);
        }

        if (decimals == DecimalHandling.String)
        {
            var magnitude = count.ToString(CultureInfo.InvariantCulture).PadLeft(type.Scale + 1, '0');
            var plain = type.Scale == 0 ? magnitude : magnitude[..^type.Scale] + "." + magnitude[^type.Scale..];
            writer.WriteString(negative ? "-" + plain : plain);
            return;
        }

        writer.WriteDecimal(unscaled, type.Precision);
    }

    private static void FailMoney(ReadOnlySpan<byte> text) =>
        throw new FormatException(
            $"a {text.Length}-byte value of money is not in the C locale's form ($1,234.56) the source sets for its sessions (lc_monetary=C), " +
            "so its number cannot be read exactly; connect to PostgreSQL directly (a connection pooler may drop the startup options -c lc_monetary=C)");

    private static void WriteBytea(ref AvroWriter writer, ReadOnlySpan<byte> text)
    {
        if (text.Length < 2 || text[0] != (byte)'\\' || text[1] != (byte)'x' || (text.Length & 1) != 0)
        {
            Fail<int>(text, "bytea (hex format)");
        }

        var length = (text.Length - 2) / 2;
        var rented = length <= 512 ? null : ArrayPool<byte>.Shared.Rent(length);
        try
        {
            Span<byte> bytes = rented ?? stackalloc byte[length];
            bytes = bytes[..length];
            var status = Convert.FromHexString(text[2..], bytes, out _, out var written);
            if (status != OperationStatus.Done || written != length)
            {
                Fail<int>(text[..Math.Min(text.Length, 64)], "bytea (hex format)");
            }

            writer.WriteBytes(bytes);
        }
        finally
        {
            if (rented is not null)
            {
                ArrayPool<byte>.Shared.Return(rented);
            }
        }
    }

    /// <summary>Days since 1970-01-01 of an ISO date (<c>2024-02-29</c>, <c>0044-03-15 BC</c>); <c>infinity</c> → int.MaxValue.</summary>
    public static int ParseDate(ReadOnlySpan<byte> text)
    {
        if (text.SequenceEqual("infinity"u8))
        {
            return int.MaxValue;
        }

        if (text.SequenceEqual("-infinity"u8))
        {
            return int.MinValue;
        }

        var bc = text.EndsWith(" BC"u8);
        if (bc)
        {
            text = text[..^3];
        }

        var pos = 0;
        var year = ParseDateParts(text, ref pos, bc, out var month, out var day);
        return pos == text.Length ? (int)DaysFromCivil(year, month, day) : Fail<int>(text, "date");
    }

    /// <summary>Microseconds since midnight of <c>HH:MM:SS[.ffffff]</c> (<c>24:00:00</c> included).</summary>
    public static long ParseTime(ReadOnlySpan<byte> text)
    {
        var pos = 0;
        var micros = ParseClock(text, ref pos);
        return pos == text.Length && micros <= MicrosPerDay ? micros : Fail<long>(text, "time");
    }

    /// <summary>Microseconds since 1970-01-01T00:00 of an ISO timestamp, with an optional UTC offset (timestamptz) and era.</summary>
    public static long ParseTimestamp(ReadOnlySpan<byte> text)
    {
        if (text.SequenceEqual("infinity"u8))
        {
            return long.MaxValue;
        }

        if (text.SequenceEqual("-infinity"u8))
        {
            return long.MinValue;
        }

        var bc = text.EndsWith(" BC"u8);
        if (bc)
        {
            text = text[..^3];
        }

        var pos = 0;
        var year = ParseDateParts(text, ref pos, bc, out var month, out var day);
        if (pos >= text.Length || text[pos++] != (byte)' ')
        {
            return Fail<long>(text, "timestamp");
        }

        var micros = ParseClock(text, ref pos);
        if (pos < text.Length && text[pos] is (byte)'+' or (byte)'-')
        {
            var sign = text[pos++] == (byte)'-' ? -1 : 1;
            var offset = Digits(text, ref pos, 2) * 3600L;
            if (pos < text.Length && text[pos] == (byte)':')
            {
                pos++;
                offset += Digits(text, ref pos, 2) * 60L;
                if (pos < text.Length && text[pos] == (byte)':')
                {
                    pos++;
                    offset += Digits(text, ref pos, 2);
                }
            }

            micros -= sign * offset * 1_000_000L;
        }

        if (pos != text.Length)
        {
            return Fail<long>(text, "timestamp");
        }

        try
        {
            return checked((DaysFromCivil(year, month, day) * MicrosPerDay) + micros);
        }
        catch (OverflowException)
        {
            // PostgreSQL's last years (after 294246) are beyond a long of microseconds since 1970.
            return Fail<long>(text, "timestamp within the range of Avro timestamp-micros (a long of microseconds since 1970)");
        }
    }

    private static long ParseDateParts(ReadOnlySpan<byte> text, ref int pos, bool bc, out int month, out int day)
    {
        var start = pos;
        while (pos < text.Length && text[pos] is >= (byte)'0' and <= (byte)'9')
        {
            pos++;
        }

        if (pos - start < 4 || pos - start > 7 || pos >= text.Length || text[pos] != (byte)'-')
        {
            month = day = 0;
            return Fail<long>(text, "date");
        }

        var end = pos;
        pos = start;
        long year = Digits(text, ref pos, end - start);
        pos++;
        month = Digits(text, ref pos, 2);
        if (pos >= text.Length || text[pos++] != (byte)'-')
        {
            day = 0;
            return Fail<long>(text, "date");
        }

        day = Digits(text, ref pos, 2);
        if (month is < 1 or > 12 || day is < 1 or > 31)
        {
            return Fail<long>(text, "date");
        }

        // 1 BC is astronomical year 0.
        return bc ? 1 - year : year;
    }

    private static long ParseClock(ReadOnlySpan<byte> text, ref int pos)
    {
        var hours = Digits(text, ref pos, 2);
        Expect(text, ref pos, (byte)':');
        var minutes = Digits(text, ref pos, 2);
        Expect(text, ref pos, (byte)':');
        var seconds = Digits(text, ref pos, 2);
        long micros = 0;
        if (pos < text.Length && text[pos] == (byte)'.')
        {
            pos++;
            var scale = 100_000;
            var start = pos;
            while (pos < text.Length && text[pos] is >= (byte)'0' and <= (byte)'9')
            {
                if (pos - start >= 6)
                {
                    return Fail<long>(text, "time (more than 6 fractional digits)");
                }

                micros += (text[pos] - '0') * scale;
                scale /= 10;
                pos++;
            }
        }

        if (minutes > 59 || seconds > 60 || hours > 24)
        {
            return Fail<long>(text, "time");
        }

        return ((hours * 60L + minutes) * 60L + seconds) * 1_000_000L + micros;
    }

    private static int Digits(ReadOnlySpan<byte> text, ref int pos, int count)
    {
        if (pos + count > text.Length)
        {
            return Fail<int>(text, "date/time");
        }

        var value = 0;
        for (var i = 0; i < count; i++)
        {
            var c = text[pos + i];
            if (c is < (byte)'0' or > (byte)'9')
            {
                return Fail<int>(text, "date/time");
            }

            value = value * 10 + (c - '0');
        }

        pos += count;
        return value;
    }

    private static void Expect(ReadOnlySpan<byte> text, ref int pos, byte c)
    {
        if (pos >= text.Length || text[pos] != c)
        {
            Fail<int>(text, "time");
        }

        pos++;
    }

    /// <summary>Days since 1970-01-01 of a proleptic Gregorian date (astronomical years: 0 is 1 BC).</summary>
    internal static long DaysFromCivil(long year, int month, int day)
    {
        year -= month <= 2 ? 1 : 0;
        var era = (year >= 0 ? year : year - 399) / 400;
        var yoe = year - (era * 400);
        var doy = ((153 * (month > 2 ? month - 3 : month + 9)) + 2) / 5 + day - 1;
        var doe = (yoe * 365) + (yoe / 4) - (yoe / 100) + doy;
        return (era * 146097) + doe - 719468;
    }

    private static void WriteArray(ref AvroWriter writer, PgColumnType type, ReadOnlySpan<byte> text, DecimalHandling decimals)
    {
        // Explicit bounds ("[0:2]={1,2,3}") are dropped: the elements are what travels.
        if (text.Length > 0 && text[0] == (byte)'[')
        {
            var eq = text.IndexOf((byte)'=');
            text = eq < 0 ? text : text[(eq + 1)..];
        }

        if (text.Length < 2 || text[0] != (byte)'{' || text[^1] != (byte)'}')
        {
            Fail<int>(text, "array");
        }

        var body = text[1..^1];
        if (body.Length > 0 && body[0] == (byte)'{')
        {
            throw new FormatException(
                "a multi-dimensional array value: PostgreSQL does not enforce an array column's dimensions, and this column's Avro type is a one-dimensional array. " +
                "Exclude the table, or change the column to a type that holds the nesting (jsonb, or text)");
        }

        var element = type.Element!;
        var count = CountElements(body, type.Delimiter);
        if (count > 0)
        {
            writer.WriteBlockCount(count);
            var pos = 0;
            byte[]? scratch = null;
            try
            {
                for (var i = 0; i < count; i++)
                {
                    var (start, length, quoted, escaped) = NextElement(body, ref pos, type.Delimiter);
                    var value = body.Slice(start, length);
                    if (!quoted && value.SequenceEqual("NULL"u8))
                    {
                        writer.WriteUnionIndex(0);
                        continue;
                    }

                    if (escaped)
                    {
                        scratch ??= ArrayPool<byte>.Shared.Rent(body.Length);
                        var n = 0;
                        for (var j = 0; j < value.Length; j++)
                        {
                            if (value[j] == (byte)'\\' && j + 1 < value.Length)
                            {
                                j++;
                            }

                            scratch[n++] = value[j];
                        }

                        value = scratch.AsSpan(0, n);
                    }

                    writer.WriteUnionIndex(1);
                    Write(ref writer, element, value, decimals);
                }
            }
            finally
            {
                if (scratch is not null)
                {
                    ArrayPool<byte>.Shared.Return(scratch);
                }
            }
        }

        writer.WriteBlockEnd();
    }

    private static int CountElements(ReadOnlySpan<byte> body, byte delimiter)
    {
        if (body.IsEmpty)
        {
            return 0;
        }

        var pos = 0;
        var count = 0;
        while (pos <= body.Length)
        {
            NextElement(body, ref pos, delimiter);
            count++;
            if (pos > body.Length)
            {
                break;
            }
        }

        return count;
    }

    private static (int Start, int Length, bool Quoted, bool Escaped) NextElement(ReadOnlySpan<byte> body, ref int pos, byte delimiter)
    {
        if (pos < body.Length && body[pos] == (byte)'"')
        {
            var start = ++pos;
            var escaped = false;
            while (pos < body.Length && body[pos] != (byte)'"')
            {
                if (body[pos] == (byte)'\\')
                {
                    escaped = true;
                    pos++;
                }

                pos++;
            }

            if (pos >= body.Length)
            {
                throw new FormatException("an array element's quotes are not closed.");
            }

            var length = pos - start;
            pos++;
            if (pos < body.Length && body[pos] != delimiter)
            {
                throw new FormatException("unexpected text after a quoted array element.");
            }

            pos++;
            return (start, length, true, escaped);
        }

        var begin = pos;
        while (pos < body.Length && body[pos] != delimiter)
        {
            if (body[pos] is (byte)'{' or (byte)'"')
            {
                throw new FormatException("unexpected '{' or '\"' inside an array element.");
            }

            pos++;
        }

        var end = pos;
        pos++;
        return (begin, end - begin, false, false);
    }

    private static T Fail<T>(ReadOnlySpan<byte> text, string type, bool ok = false)
    {
        if (ok)
        {
            return default!;
        }

        // The value itself is not shown: messages reach logs and status, where row content must not.
        throw new FormatException($"a {text.Length}-byte value is not a valid {type} value.");
    }
}
