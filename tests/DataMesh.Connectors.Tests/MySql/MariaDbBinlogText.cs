using System.Globalization;
using System.Numerics;
using System.Text;
using System.Text.RegularExpressions;
using DataMesh.Events;

namespace DataMesh.Tests.MySql;

/// <summary>One row operation as the server's own decoder prints it (<c>mariadb-binlog -v --base64-output=DECODE-ROWS</c>).</summary>
internal sealed record PrintedRow(char Operation, string Table, Dictionary<int, string>? Before, Dictionary<int, string>? After);

/// <summary>
/// Reads <c>mariadb-binlog --verbose</c> output and formats our decoded values the way it prints them, so a test can
/// compare value by value. The output is read as Latin-1 so that every byte of a value survives as one char.
/// </summary>
internal static partial class MariaDbBinlogText
{
    static MariaDbBinlogText() => Encoding.RegisterProvider(CodePagesEncodingProvider.Instance);

    public static List<PrintedRow> Parse(byte[] output)
    {
        var rows = new List<PrintedRow>();
        char op = ' ';
        string table = string.Empty;
        Dictionary<int, string>? current = null;
        Dictionary<int, string>? before = null;
        Dictionary<int, string>? after = null;

        void Flush()
        {
            if (op != ' ')
            {
                rows.Add(new PrintedRow(op, table, before, after));
            }

            op = ' ';
            before = after = current = null;
        }

        foreach (var line in Encoding.Latin1.GetString(output).Split('\n'))
        {
            if (!line.StartsWith("###", StringComparison.Ordinal))
            {
                Flush();
                continue;
            }

            var header = HeaderPattern().Match(line);
            if (header.Success)
            {
                Flush();
                op = header.Groups["op"].Value switch { "INSERT INTO" => 'c', "UPDATE" => 'u', _ => 'd' };
                table = header.Groups["table"].Value;
                continue;
            }

            if (line == "### WHERE")
            {
                current = before = [];
                continue;
            }

            if (line == "### SET")
            {
                current = after = [];
                continue;
            }

            var value = ValuePattern().Match(line);
            if (value.Success && current is not null)
            {
                current[int.Parse(value.Groups["n"].Value, CultureInfo.InvariantCulture)] = value.Groups["v"].Value;
            }
        }

        Flush();
        return rows;
    }

    /// <summary>Our value of a column as mariadb-binlog prints it.</summary>
    public static string Format(object? value, string dbType)
    {
        if (value is null)
        {
            return "NULL";
        }

        var baseType = dbType.Split('(', ' ')[0];
        var fsp = FractionDigits(dbType);
        switch (baseType)
        {
            case "tinyint": return Integer(value, 8);
            case "smallint": return Integer(value, 16);
            case "mediumint": return Integer(value, 24);
            case "int": return Integer(value, 32);
            case "bigint": return Integer(value, 64);
            case "decimal":
                var scale = int.Parse(dbType.Split(',')[1].TrimEnd(')', ' ', 'u', 'n', 's', 'i', 'g', 'e', 'd'), CultureInfo.InvariantCulture);
                return DecimalText((BigInteger)value, scale);
            case "bit":
                return value is bool b ? (b ? "b'1'" : "b'0'") : $"b'{value}'";
            case "year": return (int)value == 0 ? "1900" : ((int)value).ToString(CultureInfo.InvariantCulture); // mariadb-binlog prints 1900 + the stored byte
            case "date": return "'" + DateText((int)value).Replace('-', ':') + "'";
            case "time": return "'" + TimeText((long)value, fsp) + "'";
            case "datetime":
                return (long)value == long.MinValue
                    ? "'0000-00-00 00:00:00" + (fsp > 0 ? "." + new string('0', fsp) : string.Empty) + "'"
                    : "'" + DateTimeText((long)value, fsp) + "'";
            case "timestamp":
                var micros = (long)value == long.MinValue ? 0 : (long)value;
                var seconds = micros / 1_000_000;
                return fsp == 0 ? seconds.ToString(CultureInfo.InvariantCulture)
                    : string.Create(CultureInfo.InvariantCulture, $"{seconds}.{(micros % 1_000_000).ToString("000000", CultureInfo.InvariantCulture)[..fsp]}");
            case "enum":
                var labels = Labels(dbType);
                return value is "" ? "0" : (Array.IndexOf(labels, (string)value) + 1).ToString(CultureInfo.InvariantCulture);
            case "set":
                var members = Labels(dbType);
                ulong bits = 0;
                foreach (var member in ((string)value).Split(',', StringSplitOptions.RemoveEmptyEntries))
                {
                    bits |= 1UL << Array.IndexOf(members, member);
                }

                var width = ((members.Length + 7) / 8) * 8;
                return "b'" + Convert.ToString((long)bits, 2).PadLeft(width, '0') + "'";
            case "binary":
                // mariadb-binlog prints the bytes the binlog holds: a BINARY(n) value without its trailing zero bytes.
                return Quoted(((byte[])value).AsSpan().TrimEnd((byte)0).ToArray());
            case "geometry" or "point":
                var geometry = (GeometryValue)value;
                var srid = BitConverter.GetBytes(geometry.Srid ?? 0);
                return Quoted([.. srid, .. geometry.Wkb.ToArray()]);
            default:
                return value switch
                {
                    byte[] bytes => Quoted(bytes),
                    string text when dbType.Contains("latin1", StringComparison.Ordinal) => Quoted(Encoding.GetEncoding(1252).GetBytes(text)),
                    string text => Quoted(Encoding.UTF8.GetBytes(text)),
                    _ => throw new ArgumentException($"no format for {value.GetType().Name} of {dbType}"),
                };
        }
    }

    /// <summary>Compares a float or double as printed: a FLOAT with %g (6 significant digits, so equal within half a unit
    /// of the sixth digit), a DOUBLE with %.20g (exact).</summary>
    public static bool SameFloat(object ours, string printed)
    {
        var theirs = double.Parse(printed.Trim(), NumberStyles.Float, CultureInfo.InvariantCulture);
        return ours switch
        {
            float f => ((double)f).Equals(theirs) || Math.Abs(f - theirs) <= Math.Abs(theirs) * 5e-6,
            double d => d.Equals(theirs),
            _ => false,
        };
    }

    /// <summary>Compares text with a printed string: its bytes are the column's charset, UTF-8 or MySQL's latin1 (cp1252).</summary>
    public static bool SameText(string ours, string printed)
    {
        if (printed.Length < 2 || printed[0] != '\'' || printed[^1] != '\'')
        {
            return false;
        }

        var bytes = new List<byte>();
        for (var i = 1; i < printed.Length - 1; i++)
        {
            if (printed[i] == '\\' && i + 3 < printed.Length && printed[i + 1] == 'x')
            {
                bytes.Add(Convert.ToByte(printed.Substring(i + 2, 2), 16));
                i += 3;
                continue;
            }

            bytes.Add((byte)printed[i]);
        }

        var raw = bytes.ToArray();
        var strict = new UTF8Encoding(false, throwOnInvalidBytes: true);
        try
        {
            if (strict.GetString(raw) == ours)
            {
                return true;
            }
        }
        catch (DecoderFallbackException)
        {
        }

        return Encoding.GetEncoding(1252).GetString(raw) == ours;
    }

    private static string Integer(object value, int bits)
    {
        var raw = value switch
        {
            int i => unchecked((ulong)(long)i),
            long l => unchecked((ulong)l),
            ulong u => u,
            _ => throw new ArgumentException($"not an integer: {value.GetType().Name}"),
        };
        var mask = bits == 64 ? ulong.MaxValue : (1UL << bits) - 1;
        var unsigned = raw & mask;
        var signed = bits == 64 ? (long)unsigned : ((long)(unsigned << (64 - bits))) >> (64 - bits);
        return signed < 0
            ? string.Create(CultureInfo.InvariantCulture, $"{signed} ({unsigned})")
            : signed.ToString(CultureInfo.InvariantCulture);
    }

    private static string DecimalText(BigInteger unscaled, int scale)
    {
        var digits = BigInteger.Abs(unscaled).ToString(CultureInfo.InvariantCulture).PadLeft(scale + 1, '0');
        var text = scale == 0 ? digits : digits[..^scale] + "." + digits[^scale..];
        return unscaled.Sign < 0 ? "-" + text : text;
    }

    private static string DateText(int days) => days == int.MinValue
        ? "0000-00-00"
        : DateOnly.FromDayNumber(719_162 + days).ToString("yyyy-MM-dd", CultureInfo.InvariantCulture);

    private static string TimeText(long micros, int fsp)
    {
        var sign = micros < 0 ? "-" : string.Empty;
        var magnitude = Math.Abs(micros);
        var seconds = magnitude / 1_000_000;
        var text = string.Create(CultureInfo.InvariantCulture, $"{sign}{seconds / 3600:00}:{seconds / 60 % 60:00}:{seconds % 60:00}");
        return fsp == 0 ? text : text + "." + (magnitude % 1_000_000).ToString("000000", CultureInfo.InvariantCulture)[..fsp];
    }

    private static string DateTimeText(long micros, int fsp)
    {
        var days = (int)Math.Floor(micros / 86_400_000_000.0);
        var time = micros - (days * 86_400_000_000L);
        var text = DateText(days) + " " + TimeText(time, 0);
        return fsp == 0 ? text : text + "." + (time % 1_000_000).ToString("000000", CultureInfo.InvariantCulture)[..fsp];
    }

    private static int FractionDigits(string dbType)
    {
        var match = FspPattern().Match(dbType);
        return match.Success ? int.Parse(match.Groups[1].Value, CultureInfo.InvariantCulture) : 0;
    }

    private static string[] Labels(string dbType)
    {
        var inner = dbType[(dbType.IndexOf('(', StringComparison.Ordinal) + 1)..dbType.LastIndexOf(')')];
        return [.. LabelPattern().Matches(inner).Select(m => m.Groups[1].Value.Replace("''", "'", StringComparison.Ordinal))];
    }

    private static string Quoted(byte[] bytes)
    {
        var text = new StringBuilder("'");
        foreach (var b in bytes)
        {
            if (b > 0x1F)
            {
                text.Append((char)b);
            }
            else
            {
                text.Append(CultureInfo.InvariantCulture, $"\\x{b:x2}");
            }
        }

        return text.Append('\'').ToString();
    }

    [GeneratedRegex(@"^### (?<op>INSERT INTO|UPDATE|DELETE FROM) (?<table>`[^`]*`\.`[^`]*`)$")]
    private static partial Regex HeaderPattern();

    [GeneratedRegex(@"^###   @(?<n>\d+)=(?<v>.*)$")]
    private static partial Regex ValuePattern();

    [GeneratedRegex(@"^(?:time|datetime|timestamp)\((\d)\)")]
    private static partial Regex FspPattern();

    [GeneratedRegex(@"'((?:[^']|'')*)'")]
    private static partial Regex LabelPattern();
}
