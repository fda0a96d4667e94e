using System.Buffers;
using System.Globalization;
using System.Numerics;
using System.Text;
using System.Text.Json.Serialization;
using DataMesh.Avro;
using DataMesh.Connectors.MySql.Binlog;
using DataMesh.Events;

namespace DataMesh.Connectors.MySql.Schema;

/// <summary>How a column's DDL gave the value of the rows that existed before it.</summary>
[JsonConverter(typeof(JsonStringEnumConverter<DefaultLiteralKind>))]
internal enum DefaultLiteralKind
{
    /// <summary>No DEFAULT clause on a NOT NULL column: the type's implicit default (0, '', the first ENUM label, the
    /// empty SET, the zero date).</summary>
    Implicit,

    /// <summary>A number as written, with its sign (<c>-1.5</c>, <c>1e3</c>; TRUE and FALSE are 1 and 0).</summary>
    Number,

    /// <summary>A string literal, unescaped.</summary>
    String,

    /// <summary>A hexadecimal literal's digits (<c>x'1F'</c>, <c>0x1F</c>).</summary>
    Hex,

    /// <summary>A bit-value literal's digits (<c>b'101'</c>, <c>0b101</c>).</summary>
    Bits,
}

/// <summary>
/// The constant a column's DDL gives the rows that existed before the column was added: a DEFAULT literal, or the
/// implicit default of a NOT NULL column without one. <see cref="Encode"/> turns it into the column's
/// <see cref="ColumnDescription.Default"/>: the literal is put in the binlog's form of the column's type (as
/// <see cref="SelectedRowImage"/> does with a SELECT's text) and written by <see cref="RowEncoder"/>, so that it is the
/// value the log itself gives those rows. A literal this cannot place exactly (one the server would round or convert,
/// a TIMESTAMP's, which depends on the session's time zone, JSON of MySQL, geometry) gives no default.
/// </summary>
/// <param name="Kind">How the literal was written.</param>
/// <param name="Text">Its text: the number, the unescaped string, or the digits of a hexadecimal or bit-value literal.</param>
internal sealed partial record ColumnDefaultLiteral(DefaultLiteralKind Kind, string Text)
{
    /// <summary>A NOT NULL column without a DEFAULT clause.</summary>
    public static ColumnDefaultLiteral Implicit { get; } = new(DefaultLiteralKind.Implicit, string.Empty);

    /// <summary>The value as <paramref name="column"/>'s Avro value (under <see cref="DecimalHandling.Precise"/>, as
    /// <see cref="ColumnDefault"/> holds it), or null when the column is nullable (its field's default stays null) or the
    /// literal cannot be placed exactly.</summary>
    /// <param name="column">The column the literal belongs to.</param>
    public ColumnDefault? Encode(MySqlColumn column)
    {
        if (column.Nullable)
        {
            return null;
        }

        ColumnPlan plan;
        try
        {
            // Text cells are built in UTF-8, whatever the column's charset.
            plan = TableBinding.PlanSelected(column, $"column '{column.Name}'", MySqlCharset.Utf8);
        }
        catch (NotSupportedException)
        {
            return null;
        }

        try
        {
            if (Cell(plan, column) is not { } cell)
            {
                return null;
            }

            var buffer = new ArrayBufferWriter<byte>(64);
            var writer = new AvroWriter(buffer);
            new RowEncoder(DecimalHandling.Precise).WriteCell(ref writer, cell, plan);
            writer.Flush();
            return new ColumnDefault(buffer.WrittenSpan);
        }
        catch (Exception ex) when (ex is FormatException or OverflowException or ArgumentException)
        {
            return null;
        }
    }

    /// <summary>The literal in the binlog's form of the plan's column, or null.</summary>
    private byte[]? Cell(ColumnPlan plan, MySqlColumn column)
    {
        var implicitDefault = Kind == DefaultLiteralKind.Implicit;
        switch (plan.Decoder)
        {
            case ValueDecoder.SignedInt or ValueDecoder.UnsignedInt or ValueDecoder.UnsignedInt64:
                return Integer(plan);
            case ValueDecoder.Float or ValueDecoder.Double:
                // FLOAT(m,d) and DOUBLE(m,d), d = 0 too: the server rounds to d digits, which is not repeated here.
                if (column.Precision > 0 || !implicitDefault && (Kind is not (DefaultLiteralKind.Number or DefaultLiteralKind.String)
                    || !double.TryParse(Text.Trim(), NumberStyles.Float, CultureInfo.InvariantCulture, out _)))
                {
                    return null;
                }

                // (-0 is stored as 0.)
                var number = implicitDefault ? 0 : double.Parse(Text.Trim(), NumberStyles.Float, CultureInfo.InvariantCulture) + 0.0;
                var bytes = new byte[plan.Decoder == ValueDecoder.Float ? 4 : 8];
                if (plan.Decoder == ValueDecoder.Float)
                {
                    System.Buffers.Binary.BinaryPrimitives.WriteSingleLittleEndian(bytes, (float)number);
                }
                else
                {
                    System.Buffers.Binary.BinaryPrimitives.WriteDoubleLittleEndian(bytes, number);
                }

                return bytes;
            case ValueDecoder.Decimal:
                return Decimal(plan);
            case ValueDecoder.Boolean or ValueDecoder.Bits:
                if (Unsigned() is not { } bits || (plan.BitLength < 64 && bits >> plan.BitLength != 0))
                {
                    return null;
                }

                var cell = new byte[(plan.Binlog.Meta + 7) / 8];
                CellValues.WriteBits(bits, cell);
                return cell;
            case ValueDecoder.Year:
                // 0 is the zero year; a four-digit year is 1901 to 2155. (Shorter forms differ between numbers and strings.)
                if (implicitDefault || (Kind == DefaultLiteralKind.Number && Text == "0"))
                {
                    return [0];
                }

                return Kind is DefaultLiteralKind.Number or DefaultLiteralKind.String && Text.Length == 4
                    && int.TryParse(Text, NumberStyles.None, CultureInfo.InvariantCulture, out var year) && year is >= 1901 and <= 2155
                    ? [(byte)(year - 1900)]
                    : null;
            case ValueDecoder.Date:
                return Temporal(implicitDefault ? "0000-00-00" : Text, static (text, cell) => CellValues.WriteDate(text, cell), fsp: 0);
            case ValueDecoder.Time2:
                return Temporal(implicitDefault ? "00:00:00" : Text, (text, cell) => CellValues.WriteTime2(text, plan.Binlog.Meta, cell), plan.Binlog.Meta);
            case ValueDecoder.DateTime2:
                var datetime = implicitDefault ? "0000-00-00 00:00:00" : Text.Length == 10 ? Text + " 00:00:00" : Text;
                return Temporal(datetime, (text, cell) => CellValues.WriteDateTime2(text, plan.Binlog.Meta, cell), plan.Binlog.Meta);
            case ValueDecoder.Text or ValueDecoder.JsonText:
                // A statement's string is in its connection's charset (or an introducer's), and its bytes are read here
                // as UTF-8: only ASCII is certain. A number is the server's text of it only in its shortest form.
                string? value = Kind switch
                {
                    DefaultLiteralKind.Implicit when plan.Decoder == ValueDecoder.Text => string.Empty,
                    DefaultLiteralKind.String when Ascii.IsValid(Text) => Text,
                    DefaultLiteralKind.Number when plan.Decoder == ValueDecoder.Text && IsCanonicalNumber(Text) => Text,
                    _ => null,
                };
                // CHAR(n) values lose their trailing spaces, in the binlog as in a SELECT.
                return value is null ? null : Prefixed(plan, Encoding.UTF8.GetBytes(column.TypeName == "char" ? value.TrimEnd(' ') : value));
            case ValueDecoder.Bytes when plan.BinaryText != BinaryText.None:
                // UUID, INET6, INET4: the implicit default is all zero bytes (which the binlog drops: none at all).
                var parsed = Kind switch
                {
                    DefaultLiteralKind.Implicit => [],
                    DefaultLiteralKind.String => CellValues.ParseBinaryText(Text, plan.BinaryText),
                    _ => null,
                };
                return parsed is null ? null : Prefixed(plan, parsed);
            case ValueDecoder.Bytes:
                byte[]? payload = Kind switch
                {
                    DefaultLiteralKind.Implicit => [],
                    DefaultLiteralKind.Hex => Hex(Text),
                    // The statement's bytes of a string are those of its connection's charset: only ASCII is certain.
                    DefaultLiteralKind.String when Ascii.IsValid(Text) => Encoding.ASCII.GetBytes(Text),
                    DefaultLiteralKind.Number when IsCanonicalNumber(Text) => Encoding.ASCII.GetBytes(Text),
                    _ => null,
                };
                return payload is null || (plan.BinaryLength > 0 && payload.Length > plan.BinaryLength) ? null : Prefixed(plan, payload);
            case ValueDecoder.Enum:
                var labels = column.Labels;
                var index = Kind switch
                {
                    DefaultLiteralKind.Implicit => labels.Count > 0 ? 1 : -1,
                    DefaultLiteralKind.String => Label(labels, Text) + 1,
                    DefaultLiteralKind.Number when int.TryParse(Text, NumberStyles.None, CultureInfo.InvariantCulture, out var n) && n >= 1 && n <= labels.Count => n,
                    _ => -1,
                };
                return index <= 0 ? null : LittleEndian((ulong)index, plan.Binlog.Meta);
            case ValueDecoder.Set:
                return Set(column.Labels) is { } members ? LittleEndian(members, plan.Binlog.Meta) : null;
            default:
                // TIMESTAMP (its literal is read in the DDL session's time zone), MySQL's binary JSON, geometry.
                return null;
        }
    }

    private byte[]? Integer(ColumnPlan plan)
    {
        BigInteger value;
        switch (Kind)
        {
            case DefaultLiteralKind.Implicit:
                value = BigInteger.Zero;
                break;
            case DefaultLiteralKind.Number or DefaultLiteralKind.String:
                // An integer only: the server rounds a fraction ('1.5' is 2), which is not repeated here.
                if (!BigInteger.TryParse(Text.Trim(), NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out value))
                {
                    return null;
                }

                break;
            default:
                if (Unsigned() is not { } unsigned)
                {
                    return null;
                }

                value = unsigned;
                break;
        }

        var size = plan.Binlog.Type switch
        {
            MySqlColumnType.Tiny => 1,
            MySqlColumnType.Short => 2,
            MySqlColumnType.Int24 => 3,
            MySqlColumnType.Long => 4,
            _ => 8,
        };
        var signed = plan.Decoder == ValueDecoder.SignedInt;
        var bits = 8 * size;
        var min = signed ? -(BigInteger.One << (bits - 1)) : BigInteger.Zero;
        var max = signed ? (BigInteger.One << (bits - 1)) - 1 : (BigInteger.One << bits) - 1;
        if (value < min || value > max)
        {
            return null;
        }

        return LittleEndian(signed ? unchecked((ulong)(long)value) : (ulong)value, size);
    }

    private byte[]? Decimal(ColumnPlan plan)
    {
        var text = Kind switch
        {
            DefaultLiteralKind.Implicit => "0",
            DefaultLiteralKind.Number or DefaultLiteralKind.String when IsPlainNumber(Text.Trim()) => Text.Trim().TrimStart('+'),
            _ => null,
        };
        if (text is null)
        {
            return null;
        }

        // Digits past the scale must be zeros: the server rounds the others, which is not repeated here.
        var point = text.IndexOf('.', StringComparison.Ordinal);
        if (point >= 0)
        {
            var fraction = text[(point + 1)..];
            if (fraction.Length > plan.Scale)
            {
                if (fraction[plan.Scale..].Any(c => c != '0'))
                {
                    return null;
                }

                text = plan.Scale == 0 ? text[..point] : text[..(point + 1 + plan.Scale)];
            }
        }

        var cell = new byte[BinaryDecimal.Size(plan.Precision, plan.Scale)];
        BinaryDecimal.Encode(Encoding.ASCII.GetBytes(text), plan.Precision, plan.Scale, cell);
        return cell;
    }

    private byte[]? Temporal(string text, Func<byte[], byte[], int> write, int fsp)
    {
        if (Kind is not (DefaultLiteralKind.Implicit or DefaultLiteralKind.String))
        {
            return null;
        }

        // Fraction digits past the column's must be zeros: the server rounds the others.
        var point = text.IndexOf('.', StringComparison.Ordinal);
        if (point >= 0 && text[(point + 1)..].Length > fsp)
        {
            if (text[(point + 1 + fsp)..].Any(c => c != '0'))
            {
                return null;
            }

            text = fsp == 0 ? text[..point] : text[..(point + 1 + fsp)];
        }

        var cell = new byte[16];
        var written = write(Encoding.ASCII.GetBytes(text), cell);
        return cell[..written];
    }

    private ulong? Set(IReadOnlyList<string> labels)
    {
        switch (Kind)
        {
            case DefaultLiteralKind.Implicit:
                return 0;
            case DefaultLiteralKind.String:
                ulong members = 0;
                foreach (var member in Text.Length == 0 ? [] : Text.Split(','))
                {
                    var index = Label(labels, member);
                    if (index < 0)
                    {
                        return null;
                    }

                    members |= 1UL << index;
                }

                return members;
            case DefaultLiteralKind.Number when ulong.TryParse(Text, NumberStyles.None, CultureInfo.InvariantCulture, out var bits) && (labels.Count >= 64 || bits >> labels.Count == 0):
                return bits;
            default:
                return null;
        }
    }

    /// <summary>The value of an unsigned number, a bit-value or a hexadecimal literal (at most 64 bits), or null.</summary>
    private ulong? Unsigned() => Kind switch
    {
        DefaultLiteralKind.Implicit => 0,
        DefaultLiteralKind.Number when ulong.TryParse(Text, NumberStyles.None, CultureInfo.InvariantCulture, out var number) => number,
        DefaultLiteralKind.Bits when Text.Length is > 0 and <= 64 && Text.All(c => c is '0' or '1') => Convert.ToUInt64(Text, 2),
        DefaultLiteralKind.Hex when Text.Length is > 0 and <= 16 && Text.All(char.IsAsciiHexDigit) => Convert.ToUInt64(Text, 16),
        _ => null,
    };

    /// <summary>The index of the ENUM label or SET member <paramref name="text"/>, or -1: the label it equals, else the one
    /// label it equals ignoring case (under a case-insensitive collation labels cannot differ in case only; under a
    /// binary one the server refuses a default that matches no label exactly), trailing spaces ignored either way.</summary>
    private static int Label(IReadOnlyList<string> labels, string text)
    {
        var wanted = text.TrimEnd(' ');
        var found = -1;
        for (var i = 0; i < labels.Count; i++)
        {
            var label = labels[i].TrimEnd(' ');
            if (string.Equals(label, wanted, StringComparison.Ordinal))
            {
                return i;
            }

            if (string.Equals(label, wanted, StringComparison.OrdinalIgnoreCase))
            {
                if (found >= 0)
                {
                    return -1;
                }

                found = i;
            }
        }

        return found;
    }

    /// <summary>A number written as the server writes it as text: no exponent, no sign but a minus of a non-zero number, no
    /// leading zero but the units', digits on both sides of a point (<c>-12.50</c>, <c>0.5</c>, <c>7</c>; not <c>-0</c>,
    /// <c>.5</c>, <c>007</c>, <c>1.</c>, <c>+3</c>).</summary>
    private static bool IsCanonicalNumber(string text) =>
        CanonicalNumber().IsMatch(text) && !(text.StartsWith('-') && text.All(c => c is '-' or '0' or '.'));

    [System.Text.RegularExpressions.GeneratedRegex(@"^-?(0|[1-9][0-9]*)(\.[0-9]+)?$")]
    private static partial System.Text.RegularExpressions.Regex CanonicalNumber();

    /// <summary>A decimal number without an exponent: <c>-12.50</c>, <c>+3</c>, <c>.5</c>.</summary>
    private static bool IsPlainNumber(string text)
    {
        var digits = text.StartsWith('-') || text.StartsWith('+') ? text[1..] : text;
        return digits.Length > 0 && digits.Count(c => c == '.') <= 1 && digits.Any(char.IsAsciiDigit) && digits.All(c => char.IsAsciiDigit(c) || c == '.');
    }

    private static byte[]? Hex(string digits)
    {
        // 0xF is 0x0F; x'F' is refused by the server.
        var even = digits.Length % 2 == 1 ? "0" + digits : digits;
        return even.All(char.IsAsciiHexDigit) ? Convert.FromHexString(even) : null;
    }

    private static byte[] Prefixed(ColumnPlan plan, byte[] payload)
    {
        var cell = new byte[plan.LengthPrefix + payload.Length];
        CellValues.WriteLittleEndian((ulong)payload.Length, cell.AsSpan(0, plan.LengthPrefix));
        payload.CopyTo(cell, plan.LengthPrefix);
        return cell;
    }

    private static byte[] LittleEndian(ulong value, int size)
    {
        var cell = new byte[size];
        CellValues.WriteLittleEndian(value, cell);
        return cell;
    }
}
