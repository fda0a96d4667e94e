using System.Buffers;
using System.Text;
using System.Text.Json;
using DataMesh.Avro;
using DataMesh.Connectors.Postgres;
using DataMesh.Events;
using DataMesh.Sources;

namespace DataMesh.Connectors.CockroachDb;

/// <summary>
/// One image (<c>after</c> or <c>before</c>) of a changefeed row as a row image: a JSON object of the wrapped envelope
/// (<c>changefeed-messages</c>, "Message envelopes"), or for a delete without a before image only the key array. Each
/// value is turned into PostgreSQL's text form and written by <see cref="PgValueWriter"/>, so CockroachDB's types map
/// exactly as PostgreSQL's do.
/// </summary>
internal readonly ref struct CockroachDbRowImage(CockroachDbTable table, JsonElement row, JsonElement key, ArrayBufferWriter<byte> scratch, DecimalHandling decimals) : IRowImage
{
    private readonly CockroachDbTable _table = table;
    private readonly JsonElement _row = row;
    private readonly JsonElement _key = key;
    private readonly ArrayBufferWriter<byte> _scratch = scratch;
    private readonly DecimalHandling _decimals = decimals;

    public ColumnValueState State(int column) => Value(column, out var value) switch
    {
        false => ColumnValueState.Missing,
        true when value.ValueKind == JsonValueKind.Null => ColumnValueState.Null,
        _ => ColumnValueState.Value,
    };

    public void WriteValue(ref AvroWriter writer, int column)
    {
        Value(column, out var value);
        var type = _table.Types[column];
        _scratch.ResetWrittenCount();
        CockroachDbValues.ToPostgresText(value, type, _scratch);
        PgValueWriter.Write(ref writer, type, _scratch.WrittenSpan, _decimals);
    }

    private bool Value(int column, out JsonElement value)
    {
        if (_row.ValueKind == JsonValueKind.Object)
        {
            return _row.TryGetProperty(_table.Columns[column], out value);
        }

        var position = Array.IndexOf(_table.KeyColumns, column);
        if (position >= 0 && _key.ValueKind == JsonValueKind.Array && position < _key.GetArrayLength())
        {
            value = _key[position];
            return true;
        }

        value = default;
        return false;
    }
}

/// <summary>CockroachDB's JSON forms of values (<c>format='json'</c>) turned into PostgreSQL's text forms, which
/// <see cref="PgValueWriter"/> reads: numbers as printed, booleans <c>t</c>/<c>f</c>, timestamps with a space for the
/// <c>T</c> and <c>+00</c> for <c>Z</c>, intervals from CockroachDB's <c>postgres</c> style to ISO 8601, arrays as
/// PostgreSQL array literals, JSONB as its JSON text; strings (STRING, UUID, INET, DATE, TIME, TIMETZ, ENUM, BIT, BYTES
/// as <c>\x</c> hex, DECIMAL's <c>NaN</c>/<c>Infinity</c>) as they are.</summary>
internal static class CockroachDbValues
{
    public static void ToPostgresText(JsonElement value, PgColumnType type, ArrayBufferWriter<byte> output)
    {
        if (type.DataType.Kind == DataTypeKind.Json)
        {
            Write(output, value.GetRawText());
            return;
        }

        switch (value.ValueKind)
        {
            case JsonValueKind.String:
                var text = value.GetString()!;
                Write(output, type.ValueKind switch
                {
                    PgValueKind.Timestamp or PgValueKind.TimestampTz => Timestamp(text),
                    _ when type.DataType.Kind == DataTypeKind.Interval => Interval(text),
                    _ => text,
                });
                break;
            case JsonValueKind.Number:
                Write(output, value.GetRawText());
                break;
            case JsonValueKind.True:
            case JsonValueKind.False:
                Write(output, type.ValueKind == PgValueKind.Boolean ? (value.ValueKind == JsonValueKind.True ? "t" : "f") : value.GetRawText());
                break;
            case JsonValueKind.Array when type.ValueKind == PgValueKind.Array:
                Write(output, ArrayLiteral(value, type.Element!));
                break;
            default:
                Write(output, value.GetRawText());
                break;
        }
    }

    /// <summary><c>2016-01-25T10:10:10.555555</c> or <c>…Z</c> / <c>…+05:30</c> in PostgreSQL's ISO form.</summary>
    public static string Timestamp(string text)
    {
        var t = text.Replace('T', ' ');
        return t.EndsWith('Z') ? t[..^1] + "+00" : t;
    }

    /// <summary>An interval in CockroachDB's default <c>postgres</c> style (<c>1 year 2 mons 3 days 04:05:06.7</c>) or
    /// already ISO 8601 (<c>P…</c>), as ISO 8601 with months, days and time kept apart.</summary>
    public static string Interval(string text)
    {
        if (text.StartsWith('P') || text.StartsWith("-P", StringComparison.Ordinal))
        {
            return text;
        }

        long years = 0, months = 0, days = 0;
        var time = string.Empty;
        var parts = text.Split(' ', StringSplitOptions.RemoveEmptyEntries);
        for (var i = 0; i < parts.Length; i++)
        {
            if (parts[i].Contains(':', StringComparison.Ordinal))
            {
                time = parts[i];
                continue;
            }

            if (i + 1 >= parts.Length || !long.TryParse(parts[i], System.Globalization.CultureInfo.InvariantCulture, out var n))
            {
                throw new FormatException($"'{text}' is not an interval in the postgres style");
            }

            var unit = parts[++i];
            if (unit.StartsWith("year", StringComparison.Ordinal))
            {
                years = n;
            }
            else if (unit.StartsWith("mon", StringComparison.Ordinal))
            {
                months = n;
            }
            else if (unit.StartsWith("day", StringComparison.Ordinal))
            {
                days = n;
            }
            else
            {
                throw new FormatException($"'{text}' has an unknown interval unit '{unit}'");
            }
        }

        var iso = new StringBuilder("P");
        if (years != 0)
        {
            iso.Append(years).Append('Y');
        }

        if (months != 0)
        {
            iso.Append(months).Append('M');
        }

        if (days != 0)
        {
            iso.Append(days).Append('D');
        }

        if (time.Length > 0)
        {
            var negative = time.StartsWith('-');
            var clock = time.TrimStart('-', '+').Split(':');
            if (clock.Length != 3)
            {
                throw new FormatException($"'{text}' has a time part that is not HH:MM:SS");
            }

            var sign = negative ? "-" : string.Empty;
            var invariant = System.Globalization.CultureInfo.InvariantCulture;
            iso.Append('T');
            if (long.Parse(clock[0], invariant) is var h and not 0)
            {
                iso.Append(sign).Append(h).Append('H');
            }

            if (long.Parse(clock[1], invariant) is var m and not 0)
            {
                iso.Append(sign).Append(m).Append('M');
            }

            if (decimal.Parse(clock[2], invariant) is var s and not 0)
            {
                iso.Append(sign).Append(s.ToString("0.######", invariant)).Append('S');
            }

            if (iso[^1] == 'T')
            {
                iso.Length--;
            }
        }

        return iso.Length == 1 ? "PT0S" : iso.ToString();
    }

    private static string ArrayLiteral(JsonElement array, PgColumnType element)
    {
        var literal = new StringBuilder("{");
        var scratch = new ArrayBufferWriter<byte>();
        foreach (var item in array.EnumerateArray())
        {
            if (literal.Length > 1)
            {
                literal.Append(',');
            }

            if (item.ValueKind == JsonValueKind.Null)
            {
                literal.Append("NULL");
                continue;
            }

            scratch.ResetWrittenCount();
            ToPostgresText(item, element, scratch);
            literal.Append('"').Append(Encoding.UTF8.GetString(scratch.WrittenSpan).Replace("\\", "\\\\", StringComparison.Ordinal).Replace("\"", "\\\"", StringComparison.Ordinal)).Append('"');
        }

        return literal.Append('}').ToString();
    }

    private static void Write(ArrayBufferWriter<byte> output, string text)
    {
        var span = output.GetSpan(Encoding.UTF8.GetMaxByteCount(text.Length));
        output.Advance(Encoding.UTF8.GetBytes(text, span));
    }
}

/// <summary>The CockroachDB fields of the envelope's <c>source</c> block: <c>hlc</c>, the change's <c>updated</c>
/// timestamp, and <c>mvcc</c>, its MVCC timestamp (both as CockroachDB prints them).</summary>
internal readonly ref struct CockroachDbSourceBlock(string hlc, string? mvcc) : ISourceBlock
{
    private readonly string _hlc = hlc;
    private readonly string? _mvcc = mvcc;

    public static IReadOnlyList<SourceField> Fields { get; } = [new SourceField("hlc", SourceFieldType.String), new SourceField("mvcc", SourceFieldType.NullableString)];

    public long CommitTimestampMs => Hlc.WallNanos(_hlc) / 1_000_000;

    public long? TransactionId => null;

    public void WritePositionFields(ref AvroWriter writer)
    {
        writer.WriteString(_hlc);
        if (_mvcc is null)
        {
            writer.WriteUnionIndex(0);
        }
        else
        {
            writer.WriteUnionIndex(1);
            writer.WriteString(_mvcc);
        }
    }
}
