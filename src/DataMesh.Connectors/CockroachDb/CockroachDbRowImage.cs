using System.Buffers;
using System.Globalization;
using System.Text;
using System.Text.Json;
using DataMesh.Avro;
using DataMesh.Connectors.Postgres;
using DataMesh.Events;
using DataMesh.Sources;

namespace DataMesh.Connectors.CockroachDb;

/// <summary>
/// Where one image of a changefeed row (<c>after</c> or <c>before</c> of the wrapped envelope, <c>changefeed-messages</c>,
/// "Message envelopes"; for a delete without a before image, the key array) keeps each column's value: located in the
/// message's JSON bytes in one pass of <see cref="Utf8JsonReader"/>, by column index, without building a document or a
/// string. Reused row after row by the connector.
/// </summary>
internal sealed class ChangefeedImage
{
    private JsonValueToken[] _values = [];
    private byte[] _source = [];

    /// <summary>Whether the image is a row (a JSON object): <c>after</c> of an insert or update, <c>before</c> of an
    /// update or delete.</summary>
    public bool IsRow { get; private set; }

    /// <summary>Empties the image for a table of <paramref name="columns"/> columns: every column missing.</summary>
    public void Clear(int columns)
    {
        if (_values.Length < columns)
        {
            _values = new JsonValueToken[columns];
        }
        else
        {
            Array.Clear(_values, 0, columns);
        }

        IsRow = false;
        _source = [];
    }

    /// <summary>Locates an object's properties as <paramref name="table"/>'s columns; the reader is on its
    /// <see cref="JsonTokenType.StartObject"/> and ends on its <see cref="JsonTokenType.EndObject"/>.</summary>
    /// <returns>Whether the object has exactly the table's columns (otherwise the table changed shape).</returns>
    public bool ReadRow(ref Utf8JsonReader reader, byte[] source, CockroachDbTable table)
    {
        var names = table.Utf8Columns;
        Clear(names.Length);
        IsRow = true;
        _source = source;
        var ordinal = 0;
        var matched = 0;
        var unknown = false;
        while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
        {
            var column = ordinal < names.Length && reader.ValueTextEquals(names[ordinal]) ? ordinal : Find(ref reader, names);
            ordinal++;
            reader.Read();
            if (column < 0 || _values[column].Kind != JsonTokenType.None)
            {
                unknown = true;
                reader.Skip();
                continue;
            }

            _values[column] = JsonValueToken.Read(ref reader);
            matched++;
        }

        return !unknown && matched == names.Length;
    }

    /// <summary>The key columns' values from the changefeed's key (a JSON array in primary-key order); any other column
    /// is missing. A key that is not an array leaves every column missing.</summary>
    public void ReadKey(byte[] key, CockroachDbTable table)
    {
        Clear(table.Columns.Length);
        _source = key;
        var reader = new Utf8JsonReader(key);
        if (!reader.Read() || reader.TokenType != JsonTokenType.StartArray)
        {
            return;
        }

        var position = 0;
        while (reader.Read() && reader.TokenType != JsonTokenType.EndArray)
        {
            if (position < table.KeyColumns.Length)
            {
                _values[table.KeyColumns[position]] = JsonValueToken.Read(ref reader);
            }
            else
            {
                reader.Skip();
            }

            position++;
        }
    }

    /// <summary>Whether the changefeed's key (a JSON array of the primary-key values in key order, <c>changefeed-messages</c>,
    /// "Responses") holds as many values as <paramref name="table"/> has key columns, each the same JSON as this image's
    /// value of that column (CockroachDB writes a key's values and a row's with one encoder). A column the image lacks (a
    /// delete without a before image) is not compared. False when the key is not an array: after <c>ALTER PRIMARY KEY</c>
    /// the rows come keyed by the new key columns while the table's version still has the old ones.</summary>
    public bool HasKey(byte[] key, CockroachDbTable table)
    {
        var reader = new Utf8JsonReader(key);
        if (!reader.Read() || reader.TokenType != JsonTokenType.StartArray)
        {
            return false;
        }

        var position = 0;
        while (reader.Read() && reader.TokenType != JsonTokenType.EndArray)
        {
            var element = JsonValueToken.Read(ref reader);
            if (position >= table.KeyColumns.Length)
            {
                return false;
            }

            var value = _values[table.KeyColumns[position++]];
            if (value.Kind != JsonTokenType.None && !element.Of(key).SequenceEqual(value.Of(_source)))
            {
                return false;
            }
        }

        return position == table.KeyColumns.Length;
    }

    /// <summary>Whether a column's value is <c>{"__crdb_json_null__": true}</c>, the form of JSON's <c>null</c> in the rows of a
    /// changefeed created <c>WITH encode_json_value_null_as_object</c> (<c>create-changefeed</c>, that option;
    /// <c>changefeed-messages</c>, "JSON"; changefeedccl's encoder writes it for a column's top-level JSON null only).</summary>
    public bool IsJsonNullObject(int column)
    {
        var value = _values[column];
        if (value.Kind != JsonTokenType.StartObject)
        {
            return false;
        }

        var reader = new Utf8JsonReader(value.Of(_source));
        return reader.Read() && reader.Read() && reader.TokenType == JsonTokenType.PropertyName && reader.ValueTextEquals("__crdb_json_null__"u8)
            && reader.Read() && reader.TokenType == JsonTokenType.True && reader.Read() && reader.TokenType == JsonTokenType.EndObject;
    }

    /// <summary>Whether the image has a value, NULL or nothing for a column.</summary>
    public ColumnValueState State(int column) => _values[column].Kind switch
    {
        JsonTokenType.None => ColumnValueState.Missing,
        JsonTokenType.Null => ColumnValueState.Null,
        _ => ColumnValueState.Value,
    };

    /// <summary>Writes a column's value in PostgreSQL's text form (<see cref="CockroachDbValues.ToPostgresText"/>).</summary>
    public void ToPostgresText(int column, PgColumnType type, ArrayBufferWriter<byte> output) =>
        CockroachDbValues.ToPostgresText(_source, _values[column], type, output);

    /// <summary>The column the property name the reader is on names, or -1.</summary>
    private static int Find(ref Utf8JsonReader reader, byte[][] names)
    {
        for (var i = 0; i < names.Length; i++)
        {
            if (reader.ValueTextEquals(names[i]))
            {
                return i;
            }
        }

        return -1;
    }
}

/// <summary>A <see cref="ChangefeedImage"/> as the runtime's row image: each value turned into PostgreSQL's text form and
/// written by <see cref="PgValueWriter"/>, so CockroachDB's types map exactly as PostgreSQL's do.</summary>
/// <remarks>A JSONB column's JSON <c>null</c>: with <paramref name="jsonNullAsObject"/> (the changefeed was created
/// <c>WITH encode_json_value_null_as_object</c>) it is the object <see cref="ChangefeedImage.IsJsonNullObject"/> tells,
/// and <c>null</c> is SQL NULL. Without it the changefeed writes both as <c>null</c> (cockroachdb/cockroach#103289):
/// SQL NULL, except on a NOT NULL column, where it can only be JSON's null.</remarks>
internal readonly ref struct CockroachDbRowImage(CockroachDbTable table, ChangefeedImage image, ArrayBufferWriter<byte> scratch, DecimalHandling decimals, bool jsonNullAsObject) : IRowImage
{
    private readonly CockroachDbTable _table = table;
    private readonly ChangefeedImage _image = image;
    private readonly ArrayBufferWriter<byte> _scratch = scratch;
    private readonly DecimalHandling _decimals = decimals;
    private readonly bool _jsonNullAsObject = jsonNullAsObject;

    public ColumnValueState State(int column) => _image.State(column) is var state && state == ColumnValueState.Null && !_jsonNullAsObject && _table.JsonNotNull[column]
        ? ColumnValueState.Value
        : state;

    public void WriteValue(ref AvroWriter writer, int column)
    {
        var type = _table.Types[column];
        _scratch.ResetWrittenCount();
        if (_jsonNullAsObject && type.DataType.Kind == DataTypeKind.Json && _image.IsJsonNullObject(column))
        {
            _scratch.Write("null"u8);
        }
        else
        {
            _image.ToPostgresText(column, type, _scratch);
        }

        PgValueWriter.Write(ref writer, type, _scratch.WrittenSpan, _decimals);
    }
}

/// <summary>CockroachDB's JSON forms of values (<c>format='json'</c>) turned into PostgreSQL's text forms, which
/// <see cref="PgValueWriter"/> reads: numbers as printed, booleans <c>t</c>/<c>f</c>, timestamps with a space for the
/// <c>T</c> and <c>+00</c> for <c>Z</c>, intervals from CockroachDB's <c>postgres</c> style to ISO 8601, arrays as
/// PostgreSQL array literals, JSONB as its JSON text; strings (STRING, UUID, INET, DATE, TIME, TIMETZ, ENUM, BIT, BYTES
/// as <c>\x</c> hex, DECIMAL's <c>NaN</c>/<c>Infinity</c>) as they are.</summary>
internal static class CockroachDbValues
{
    /// <summary>Writes a JSON value found in <paramref name="source"/> in PostgreSQL's text form.</summary>
    public static void ToPostgresText(ReadOnlySpan<byte> source, JsonValueToken value, PgColumnType type, ArrayBufferWriter<byte> output) =>
        WriteText(value.Of(source), value.Kind, value.Escaped, type, output);

    /// <summary>Writes one JSON value in PostgreSQL's text form.</summary>
    /// <param name="raw">The value's JSON text (a string with its quotes).</param>
    /// <param name="kind">Its token: a string, number, literal, or the start of an array or object.</param>
    /// <param name="escaped">Whether a string holds escapes.</param>
    /// <param name="type">The column's type.</param>
    /// <param name="output">Where the text goes.</param>
    private static void WriteText(ReadOnlySpan<byte> raw, JsonTokenType kind, bool escaped, PgColumnType type, ArrayBufferWriter<byte> output)
    {
        if (type.DataType.Kind == DataTypeKind.Json)
        {
            output.Write(raw);
            return;
        }

        switch (kind)
        {
            case JsonTokenType.String when type.DataType.Kind == DataTypeKind.Interval:
                Write(output, Interval(Unescaped(raw, escaped)));
                break;
            case JsonTokenType.String:
                var text = output.GetSpan(raw.Length + 4);
                var length = Unescape(raw, escaped, text);
                if (type.ValueKind is PgValueKind.Timestamp or PgValueKind.TimestampTz)
                {
                    length = Timestamp(text, length);
                }

                output.Advance(length);
                break;
            case JsonTokenType.True when type.ValueKind == PgValueKind.Boolean:
                output.Write("t"u8);
                break;
            case JsonTokenType.False when type.ValueKind == PgValueKind.Boolean:
                output.Write("f"u8);
                break;
            case JsonTokenType.StartArray when type.ValueKind == PgValueKind.Array:
                ArrayLiteral(raw, type.Element!, output);
                break;
            case JsonTokenType.Number when type.ValueKind == PgValueKind.Numeric && raw.IndexOfAny((byte)'e', (byte)'E') >= 0:
                PlainDecimal(raw, output);
                break;
            default:
                output.Write(raw);
                break;
        }
    }

    /// <summary>
    /// A DECIMAL that CockroachDB wrote in exponent form (it prints decimals as <c>apd</c>'s scientific notation when the
    /// exponent is positive or the value is below 10^-6: <c>1E-7</c>, <c>1.5E+3</c>, <c>0E-8</c>) as PostgreSQL's plain
    /// text, keeping its scale: the digits after the point are the exponent's (<c>0E-8</c> is <c>0.00000000</c>, scale 8;
    /// <c>1.5E+3</c> is <c>1500</c>, scale 0).
    /// </summary>
    /// <exception cref="FormatException">The number is malformed, or its plain form would exceed PostgreSQL's numeric
    /// range (131,072 digits before the point, 16,383 after).</exception>
    internal static void PlainDecimal(ReadOnlySpan<byte> number, IBufferWriter<byte> output)
    {
        var e = number.IndexOfAny((byte)'e', (byte)'E');
        var mantissa = number[..e];
        var negative = !mantissa.IsEmpty && mantissa[0] == (byte)'-';
        if (negative)
        {
            mantissa = mantissa[1..];
        }

        var point = mantissa.IndexOf((byte)'.');
        var whole = point < 0 ? mantissa : mantissa[..point];
        var fraction = point < 0 ? [] : mantissa[(point + 1)..];
        if (whole.IsEmpty || whole.ContainsAnyExceptInRange((byte)'0', (byte)'9') || fraction.ContainsAnyExceptInRange((byte)'0', (byte)'9')
            || !int.TryParse(number[(e + 1)..], NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var exponent))
        {
            throw NotNumeric(number);
        }

        // The digits as one run, with the point after `at` of them (zeros added before or after when outside).
        var digits = whole.Length + fraction.Length;
        var at = whole.Length + (long)exponent;
        if (at > 131_072 || digits - at > 16_383)
        {
            throw NotNumeric(number);
        }

        var plain = new byte[digits + (int)Math.Abs(at) + 2];
        var length = 0;
        if (at <= 0)
        {
            "0."u8.CopyTo(plain);
            plain.AsSpan(2, (int)-at).Fill((byte)'0');
            length = 2 + (int)-at;
            whole.CopyTo(plain.AsSpan(length));
            fraction.CopyTo(plain.AsSpan(length + whole.Length));
            length += digits;
        }
        else
        {
            whole.CopyTo(plain);
            fraction.CopyTo(plain.AsSpan(whole.Length));
            length = digits;
            if (at >= digits)
            {
                plain.AsSpan(digits, (int)at - digits).Fill((byte)'0');
                length = (int)at;
            }
            else
            {
                plain.AsSpan((int)at, digits - (int)at).CopyTo(plain.AsSpan((int)at + 1));
                plain[(int)at] = (byte)'.';
                length = digits + 1;
            }
        }

        // Leading zeros of the whole part go; one stays before the point, or alone.
        var start = 0;
        while (start < length - 1 && plain[start] == (byte)'0' && plain[start + 1] != (byte)'.')
        {
            start++;
        }

        // PostgreSQL's numeric has no negative zero: -0E-8 is 0.00000000.
        if (negative && plain.AsSpan(start, length - start).ContainsAnyExcept((byte)'0', (byte)'.'))
        {
            output.Write("-"u8);
        }

        output.Write(plain.AsSpan(start, length - start));
    }

    private static FormatException NotNumeric(ReadOnlySpan<byte> number) =>
        new($"the DECIMAL '{Encoding.UTF8.GetString(number)}' of the changefeed is not a number PostgreSQL's numeric can hold (131,072 digits before the point, 16,383 after)");

    /// <summary><c>2016-01-25T10:10:10.555555</c> or <c>…Z</c> / <c>…+05:30</c> in PostgreSQL's ISO form, in place; the
    /// span has room for six more bytes. A year outside 0001–9999 takes <see cref="OutsideCommonEra"/>.</summary>
    /// <returns>The new length.</returns>
    private static int Timestamp(Span<byte> text, int length)
    {
        text[..length].Replace((byte)'T', (byte)' ');
        if (length > 0 && text[length - 1] == (byte)'Z')
        {
            "+00"u8.CopyTo(text[(length - 1)..]);
            length += 2;
        }

        return length > 0 && (text[0] == (byte)'-' || text[..length].IndexOf((byte)'-') != 4 || text.StartsWith("0000-"u8))
            ? OutsideCommonEra(text, length)
            : length;
    }

    /// <summary>The last CockroachDB TIMESTAMP before 24.3 stores for <c>'infinity'</c> (its largest:
    /// <c>pgdate.TimeInfinity</c>, <c>pkg/util/timeutil/pgdate/parsing.go</c>), in PostgreSQL's form without an offset.</summary>
    private const string InfinityStored = "294276-12-31 23:59:59.999999";

    /// <summary>
    /// A timestamp of a year outside 0001–9999 as a changefeed writes it (Go's <c>time.Format</c> in <c>tree.AsJSON</c>,
    /// <c>pkg/sql/sem/tree/datum.go</c>: an astronomical year, <c>0000</c> for 1 BC and <c>-4713</c> for 4714 BC) in
    /// PostgreSQL's text form, which the PostgreSQL map reads as it reads PostgreSQL's own values (<c>docs/type-mapping.md</c>):
    /// a BC year with <c> BC</c> after it; CockroachDB's stored forms of <c>'infinity'</c> and <c>'-infinity'</c> (its
    /// largest and smallest timestamps, 294276-12-31 23:59:59.999999 and 4714-11-24 00:00:00 BC:
    /// <c>pgdate.TimeInfinity</c> / <c>TimeNegativeInfinity</c>, which it stores for them before 24.3) and anything past
    /// them as <c>infinity</c> and <c>-infinity</c>. Any other text is left for the map to read (or refuse).
    /// </summary>
    /// <returns>The new length (at most six bytes more).</returns>
    private static int OutsideCommonEra(Span<byte> text, int length)
    {
        var value = Encoding.ASCII.GetString(text[..length]);
        var negative = value.StartsWith('-');
        var yearEnd = value.IndexOf('-', negative ? 1 : 0);
        if (yearEnd < (negative ? 5 : 4) || !long.TryParse(value.AsSpan(negative ? 1 : 0, yearEnd - (negative ? 1 : 0)), NumberStyles.None, CultureInfo.InvariantCulture, out var year))
        {
            return length;
        }

        var astronomical = negative ? -year : year;
        var rest = value[yearEnd..];
        // The clock without the offset (+00, +05:30): the offset's sign comes after the time's 8 characters.
        var offsetAt = rest.Length > 15 ? rest.IndexOfAny(['+', '-'], 15) : -1;
        var clock = offsetAt < 0 ? rest : rest[..offsetAt];
        var plain = astronomical.ToString("D4", CultureInfo.InvariantCulture) + clock;
        string postgres;
        if (astronomical > 294_276 || string.CompareOrdinal(plain, InfinityStored) >= 0 && astronomical == 294_276)
        {
            postgres = "infinity";
        }
        else if (astronomical < -4713 || astronomical == -4713 && string.CompareOrdinal(clock, "-11-24 00:00:00") <= 0)
        {
            postgres = "-infinity";
        }
        else if (astronomical <= 0)
        {
            postgres = (1 - astronomical).ToString("D4", CultureInfo.InvariantCulture) + rest + " BC";
        }
        else
        {
            return length;
        }

        return Encoding.ASCII.GetBytes(postgres, text);
    }

    /// <summary>A JSON string's content, unescaped, into <paramref name="destination"/> (as long as the string).</summary>
    /// <exception cref="FormatException">The string is not valid UTF-8.</exception>
    private static int Unescape(ReadOnlySpan<byte> raw, bool escaped, Span<byte> destination)
    {
        if (!escaped)
        {
            var content = raw[1..^1];
            if (!System.Text.Unicode.Utf8.IsValid(content))
            {
                throw new FormatException("a string of the changefeed is not valid UTF-8");
            }

            content.CopyTo(destination);
            return content.Length;
        }

        var reader = new Utf8JsonReader(raw);
        reader.Read();
        return reader.CopyString(destination);
    }

    /// <summary>A JSON string's content, unescaped, as a string.</summary>
    private static string Unescaped(ReadOnlySpan<byte> raw, bool escaped)
    {
        var text = new byte[raw.Length];
        return Encoding.UTF8.GetString(text, 0, Unescape(raw, escaped, text));
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

    /// <summary>A JSON array as a PostgreSQL array literal: each element in its text form, quoted, <c>NULL</c> for
    /// null.</summary>
    private static void ArrayLiteral(ReadOnlySpan<byte> array, PgColumnType element, ArrayBufferWriter<byte> output)
    {
        output.Write("{"u8);
        var item = new ArrayBufferWriter<byte>();
        var reader = new Utf8JsonReader(array);
        reader.Read();
        var first = true;
        while (reader.Read() && reader.TokenType != JsonTokenType.EndArray)
        {
            if (!first)
            {
                output.Write(","u8);
            }

            first = false;
            if (reader.TokenType == JsonTokenType.Null)
            {
                output.Write("NULL"u8);
                continue;
            }

            var value = JsonValueToken.Read(ref reader);
            item.ResetWrittenCount();
            ToPostgresText(array, value, element, item);
            output.Write("\""u8);
            var text = item.WrittenSpan;
            for (var special = text.IndexOfAny((byte)'\\', (byte)'"'); special >= 0; special = text.IndexOfAny((byte)'\\', (byte)'"'))
            {
                output.Write(text[..special]);
                output.Write("\\"u8);
                output.Write(text.Slice(special, 1));
                text = text[(special + 1)..];
            }

            output.Write(text);
            output.Write("\""u8);
        }

        output.Write("}"u8);
    }

    private static void Write(ArrayBufferWriter<byte> output, string text)
    {
        var span = output.GetSpan(Encoding.UTF8.GetMaxByteCount(text.Length));
        output.Advance(Encoding.UTF8.GetBytes(text, span));
    }
}

/// <summary>Where one JSON value lies in its input, and what it is: a string with its quotes (and whether it holds
/// escapes), a number or literal, or a whole object or array.</summary>
internal readonly record struct JsonValueToken(JsonTokenType Kind, int Start, int Length, bool Escaped)
{
    /// <summary>The value the reader is on; an object or array is skipped to its end.</summary>
    public static JsonValueToken Read(ref Utf8JsonReader reader)
    {
        var kind = reader.TokenType;
        var start = (int)reader.TokenStartIndex;
        if (kind is JsonTokenType.StartObject or JsonTokenType.StartArray)
        {
            reader.Skip();
            return new JsonValueToken(kind, start, (int)reader.BytesConsumed - start, Escaped: false);
        }

        var isString = kind == JsonTokenType.String;
        return new JsonValueToken(kind, start, reader.ValueSpan.Length + (isString ? 2 : 0), isString && reader.ValueIsEscaped);
    }

    /// <summary>The value's JSON text in its input.</summary>
    public ReadOnlySpan<byte> Of(ReadOnlySpan<byte> input) => input.Slice(Start, Length);
}

/// <summary>The CockroachDB fields of the envelope's <c>source</c> block: <c>hlc</c>, the change's <c>updated</c>
/// timestamp, and <c>mvcc</c>, its MVCC timestamp (both as CockroachDB prints them, in UTF-8 as the message holds them).</summary>
internal readonly ref struct CockroachDbSourceBlock(ReadOnlySpan<byte> hlc, ReadOnlySpan<byte> mvcc, bool hasMvcc) : ISourceBlock
{
    private readonly ReadOnlySpan<byte> _hlc = hlc;
    private readonly ReadOnlySpan<byte> _mvcc = mvcc;
    private readonly bool _hasMvcc = hasMvcc;

    public static IReadOnlyList<SourceField> Fields { get; } = [new SourceField("hlc", SourceFieldType.String), new SourceField("mvcc", SourceFieldType.NullableString)];

    public long CommitTimestampMs => Hlc.WallNanos(_hlc) / 1_000_000;

    public long? TransactionId => null;

    public void WritePositionFields(ref AvroWriter writer)
    {
        writer.WriteStringUtf8(_hlc);
        if (!_hasMvcc)
        {
            writer.WriteUnionIndex(0);
        }
        else
        {
            writer.WriteUnionIndex(1);
            writer.WriteStringUtf8(_mvcc);
        }
    }
}
