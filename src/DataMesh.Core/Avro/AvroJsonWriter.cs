using System.Globalization;
using System.Numerics;
using System.Runtime.CompilerServices;
using System.Text.Json;

namespace DataMesh.Avro;

/// <summary>
/// Writes an Avro binary datum as readable JSON, driven by its schema: planned once per schema (cached by schema
/// instance), then run over the bytes without allocating, except for decimals wider than 128 bits.
/// </summary>
/// <remarks>
/// Renderings: records and maps as objects; arrays as arrays; unions as the plain value of their branch (not Avro's
/// <c>{"type": value}</c> wrapper); enums as their symbol; bytes and fixed as base64; <c>NaN</c>, <c>Infinity</c> and
/// <c>-Infinity</c> as strings; decimal as a string with the exact digits and the schema's scale (<c>"-12.30"</c>);
/// <c>date</c> as <c>yyyy-MM-dd</c>; <c>time-millis</c>/<c>time-micros</c> as <c>HH:mm:ss.ffffff</c>;
/// <c>timestamp-*</c> as ISO-8601 UTC with microseconds (<c>2026-01-02T03:04:05.000006Z</c>), <c>local-timestamp-*</c>
/// the same without <c>Z</c>; a date or timestamp beyond years 1 to 9999 (the sources' sentinels for infinity and zero
/// dates, PostgreSQL's far values) as its number; <c>uuid</c> as its string; DataMesh's
/// <c>io.datamesh.data.VariableScaleDecimal</c> record as a decimal string. Other logical types as their underlying type.
/// </remarks>
internal sealed class AvroJsonWriter
{
    private const int MaxDepth = 64;
    private const string VariableScaleDecimalName = "io.datamesh.data.VariableScaleDecimal";

    private static readonly ConditionalWeakTable<global::Avro.Schema, AvroJsonWriter> s_plans = [];

    private readonly Node _root;

    private AvroJsonWriter(global::Avro.Schema schema)
    {
        _root = Build(schema, new Dictionary<string, RecordNode>(StringComparer.Ordinal));
    }

    /// <summary>The writer for <paramref name="schema"/>, planned on first use and cached for the schema instance.</summary>
    public static AvroJsonWriter For(global::Avro.Schema schema)
    {
        ArgumentNullException.ThrowIfNull(schema);
        return s_plans.GetValue(schema, static s => new AvroJsonWriter(s));
    }

    /// <summary>Writes one datum, which must be the whole of <paramref name="datum"/>, as one JSON value.</summary>
    /// <exception cref="AvroFormatException">The bytes are malformed, a date is out of range, or bytes follow the datum.</exception>
    public void Write(Utf8JsonWriter json, ReadOnlySpan<byte> datum)
    {
        ArgumentNullException.ThrowIfNull(json);
        var reader = new AvroReader(datum);
        _root.Write(json, ref reader, 0);
        if (!reader.End)
        {
            throw reader.Error(reader.Position, AvroReader.Format("{0} bytes follow the end of the datum", reader.Remaining));
        }
    }

    private static Node Build(global::Avro.Schema schema, Dictionary<string, RecordNode> records)
    {
        switch (schema)
        {
            case global::Avro.LogicalSchema logical:
                return BuildLogical(logical, records);
            case global::Avro.RecordSchema record when IsVariableScaleDecimal(record):
                return new DecimalNode(-1, -1);
            case global::Avro.RecordSchema record:
                if (records.TryGetValue(record.Fullname, out var known))
                {
                    return known;
                }

                var node = new RecordNode();
                records[record.Fullname] = node;
                node.Names = [.. record.Fields.Select(f => JsonEncodedText.Encode(f.Name, System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping))];
                node.Fields = [.. record.Fields.Select(f => Build(f.Schema, records))];
                return node;
            case global::Avro.EnumSchema enumeration:
                return new EnumNode([.. enumeration.Symbols.Select(s => JsonEncodedText.Encode(s))]);
            case global::Avro.FixedSchema fixedSchema:
                return new FixedNode(fixedSchema.Size);
            case global::Avro.ArraySchema array:
                return new ArrayNode(Build(array.ItemSchema, records));
            case global::Avro.MapSchema map:
                return new MapNode(Build(map.ValueSchema, records));
            case global::Avro.UnionSchema union:
                return new UnionNode([.. union.Schemas.Select(s => Build(s, records))]);
        }

        return schema.Tag switch
        {
            global::Avro.Schema.Type.Null => NullNode.Instance,
            global::Avro.Schema.Type.Boolean => BooleanNode.Instance,
            global::Avro.Schema.Type.Int => IntNode.Instance,
            global::Avro.Schema.Type.Long => LongNode.Instance,
            global::Avro.Schema.Type.Float => FloatNode.Instance,
            global::Avro.Schema.Type.Double => DoubleNode.Instance,
            global::Avro.Schema.Type.Bytes => BytesNode.Instance,
            global::Avro.Schema.Type.String => StringNode.Instance,
            _ => throw new NotSupportedException($"Avro type {schema.Tag} cannot be written as JSON."),
        };
    }

    private static Node BuildLogical(global::Avro.LogicalSchema logical, Dictionary<string, RecordNode> records)
    {
        var baseSchema = logical.BaseSchema;
        var fixedSize = baseSchema is global::Avro.FixedSchema f ? f.Size : -1;
        return logical.LogicalTypeName switch
        {
            "decimal" => new DecimalNode(int.Parse(logical.GetProperty("scale") ?? "0", CultureInfo.InvariantCulture), fixedSize),
            "date" when baseSchema.Tag == global::Avro.Schema.Type.Int => DateNode.Instance,
            "time-millis" when baseSchema.Tag == global::Avro.Schema.Type.Int => TimeNode.Millis,
            "time-micros" when baseSchema.Tag == global::Avro.Schema.Type.Long => TimeNode.Micros,
            "timestamp-millis" when baseSchema.Tag == global::Avro.Schema.Type.Long => new TimestampNode(TimeSpan.TicksPerMillisecond, utc: true),
            "timestamp-micros" when baseSchema.Tag == global::Avro.Schema.Type.Long => new TimestampNode(TimeSpan.TicksPerMicrosecond, utc: true),
            "local-timestamp-millis" when baseSchema.Tag == global::Avro.Schema.Type.Long => new TimestampNode(TimeSpan.TicksPerMillisecond, utc: false),
            "local-timestamp-micros" when baseSchema.Tag == global::Avro.Schema.Type.Long => new TimestampNode(TimeSpan.TicksPerMicrosecond, utc: false),
            _ => Build(baseSchema, records),
        };
    }

    private static bool IsVariableScaleDecimal(global::Avro.RecordSchema record) =>
        string.Equals(record.Fullname, VariableScaleDecimalName, StringComparison.Ordinal) && record.Fields.Count == 2
        && record.Fields[0].Name == "scale" && record.Fields[0].Schema.Tag == global::Avro.Schema.Type.Int
        && record.Fields[1].Name == "value" && record.Fields[1].Schema.Tag == global::Avro.Schema.Type.Bytes;

    /// <summary>Writes unscaled big-endian two's-complement bytes with <paramref name="scale"/> as a decimal string.</summary>
    internal static void WriteDecimal(Utf8JsonWriter json, ReadOnlySpan<byte> unscaled, int scale, in AvroReader reader, int start)
    {
        if (scale < 0)
        {
            throw reader.Error(start, AvroReader.Format("decimal scale {0} is negative", scale));
        }

        Span<byte> digits = stackalloc byte[48];
        int length;
        var negative = false;
        if (AvroDecimals.TryReadInt128(unscaled, out var small))
        {
            negative = small < 0;
            var magnitude = negative ? (UInt128)(-(small + 1)) + 1 : (UInt128)small;
            magnitude.TryFormat(digits, out length, default, CultureInfo.InvariantCulture);
        }
        else
        {
            WriteBigDecimal(json, new BigInteger(unscaled, isUnsigned: false, isBigEndian: true), scale);
            return;
        }

        // Sign, integer digits (at least "0"), point, scale digits (left-padded with zeros).
        var integerDigits = Math.Max(length - scale, 1);
        var total = (negative ? 1 : 0) + integerDigits + (scale > 0 ? 1 + scale : 0);
        if (total > 256)
        {
            WriteBigDecimal(json, small, scale);
            return;
        }

        Span<byte> text = stackalloc byte[total];
        var i = 0;
        if (negative)
        {
            text[i++] = (byte)'-';
        }

        var padded = integerDigits + scale; // digits with leading zeros
        var zeros = padded - length;
        for (var d = 0; d < padded; d++)
        {
            if (d == integerDigits)
            {
                text[i++] = (byte)'.';
            }

            text[i++] = d < zeros ? (byte)'0' : digits[d - zeros];
        }

        json.WriteStringValue(text[..i]);
    }

    private static void WriteBigDecimal(Utf8JsonWriter json, BigInteger unscaled, int scale)
    {
        var negative = unscaled.Sign < 0;
        var digits = BigInteger.Abs(unscaled).ToString(CultureInfo.InvariantCulture);
        if (digits.Length <= scale)
        {
            digits = new string('0', scale - digits.Length + 1) + digits;
        }

        var text = scale > 0 ? digits[..^scale] + "." + digits[^scale..] : digits;
        json.WriteStringValue(negative ? "-" + text : text);
    }

    private abstract class Node
    {
        public abstract void Write(Utf8JsonWriter json, ref AvroReader reader, int depth);
    }

    private sealed class NullNode : Node
    {
        public static readonly NullNode Instance = new();

        public override void Write(Utf8JsonWriter json, ref AvroReader reader, int depth) => json.WriteNullValue();
    }

    private sealed class BooleanNode : Node
    {
        public static readonly BooleanNode Instance = new();

        public override void Write(Utf8JsonWriter json, ref AvroReader reader, int depth) => json.WriteBooleanValue(reader.ReadBoolean());
    }

    private sealed class IntNode : Node
    {
        public static readonly IntNode Instance = new();

        public override void Write(Utf8JsonWriter json, ref AvroReader reader, int depth) => json.WriteNumberValue(reader.ReadInt());
    }

    private sealed class LongNode : Node
    {
        public static readonly LongNode Instance = new();

        public override void Write(Utf8JsonWriter json, ref AvroReader reader, int depth) => json.WriteNumberValue(reader.ReadLong());
    }

    private sealed class FloatNode : Node
    {
        public static readonly FloatNode Instance = new();

        public override void Write(Utf8JsonWriter json, ref AvroReader reader, int depth)
        {
            var value = reader.ReadFloat();
            if (float.IsFinite(value))
            {
                json.WriteNumberValue(value);
            }
            else
            {
                WriteNonFinite(json, value);
            }
        }
    }

    private sealed class DoubleNode : Node
    {
        public static readonly DoubleNode Instance = new();

        public override void Write(Utf8JsonWriter json, ref AvroReader reader, int depth)
        {
            var value = reader.ReadDouble();
            if (double.IsFinite(value))
            {
                json.WriteNumberValue(value);
            }
            else
            {
                WriteNonFinite(json, value);
            }
        }
    }

    private static void WriteNonFinite(Utf8JsonWriter json, double value) =>
        json.WriteStringValue(double.IsNaN(value) ? "NaN"u8 : value > 0 ? "Infinity"u8 : "-Infinity"u8);

    private sealed class BytesNode : Node
    {
        public static readonly BytesNode Instance = new();

        public override void Write(Utf8JsonWriter json, ref AvroReader reader, int depth) => json.WriteBase64StringValue(reader.ReadBytes());
    }

    private sealed class StringNode : Node
    {
        public static readonly StringNode Instance = new();

        public override void Write(Utf8JsonWriter json, ref AvroReader reader, int depth) => json.WriteStringValue(reader.ReadStringUtf8());
    }

    private sealed class FixedNode(int size) : Node
    {
        public override void Write(Utf8JsonWriter json, ref AvroReader reader, int depth) => json.WriteBase64StringValue(reader.ReadFixed(size));
    }

    private sealed class EnumNode(JsonEncodedText[] symbols) : Node
    {
        public override void Write(Utf8JsonWriter json, ref AvroReader reader, int depth) => json.WriteStringValue(symbols[reader.ReadEnum(symbols.Length)]);
    }

    private sealed class UnionNode(Node[] branches) : Node
    {
        public override void Write(Utf8JsonWriter json, ref AvroReader reader, int depth) =>
            branches[reader.ReadUnionIndex(branches.Length)].Write(json, ref reader, depth);
    }

    private sealed class RecordNode : Node
    {
        public JsonEncodedText[] Names { get; set; } = [];

        public Node[] Fields { get; set; } = [];

        public override void Write(Utf8JsonWriter json, ref AvroReader reader, int depth)
        {
            if (depth >= MaxDepth)
            {
                throw reader.Error(reader.Position, AvroReader.Format("records are nested more than {0} deep", MaxDepth));
            }

            json.WriteStartObject();
            for (var i = 0; i < Fields.Length; i++)
            {
                json.WritePropertyName(Names[i]);
                Fields[i].Write(json, ref reader, depth + 1);
            }

            json.WriteEndObject();
        }
    }

    private sealed class ArrayNode(Node item) : Node
    {
        public override void Write(Utf8JsonWriter json, ref AvroReader reader, int depth)
        {
            json.WriteStartArray();
            for (var count = reader.ReadBlockCount(); count != 0; count = reader.ReadBlockCount())
            {
                for (var i = 0L; i < count; i++)
                {
                    item.Write(json, ref reader, depth + 1);
                }
            }

            json.WriteEndArray();
        }
    }

    private sealed class MapNode(Node value) : Node
    {
        public override void Write(Utf8JsonWriter json, ref AvroReader reader, int depth)
        {
            json.WriteStartObject();
            for (var count = reader.ReadBlockCount(); count != 0; count = reader.ReadBlockCount())
            {
                for (var i = 0L; i < count; i++)
                {
                    json.WritePropertyName(reader.ReadStringUtf8());
                    value.Write(json, ref reader, depth + 1);
                }
            }

            json.WriteEndObject();
        }
    }

    /// <summary>A decimal on bytes (fixed size -1), on fixed, or DataMesh's variable-scale record (scale -1: read from the datum).</summary>
    private sealed class DecimalNode(int scale, int fixedSize) : Node
    {
        public override void Write(Utf8JsonWriter json, ref AvroReader reader, int depth)
        {
            var start = reader.Position;
            var actualScale = scale >= 0 ? scale : reader.ReadDecimalScale();
            var unscaled = fixedSize >= 0 ? reader.ReadFixed(fixedSize) : reader.ReadBytes();
            WriteDecimal(json, unscaled, actualScale, in reader, start);
        }
    }

    private sealed class DateNode : Node
    {
        public static readonly DateNode Instance = new();

        public override void Write(Utf8JsonWriter json, ref AvroReader reader, int depth)
        {
            var days = reader.ReadInt();
            var dayNumber = (long)days + AvroTime.EpochDayNumber;
            if (dayNumber < DateOnly.MinValue.DayNumber || dayNumber > DateOnly.MaxValue.DayNumber)
            {
                // Beyond years 1 to 9999 (a source's sentinel for infinity or a zero date, or PostgreSQL's far dates): the
                // number of days from 1970-01-01 as it is.
                json.WriteNumberValue(days);
                return;
            }

            Span<byte> text = stackalloc byte[16];
            DateOnly.FromDayNumber((int)dayNumber).TryFormat(text, out var length, "yyyy-MM-dd", CultureInfo.InvariantCulture);
            json.WriteStringValue(text[..length]);
        }
    }

    /// <summary>A time of day as <c>HH:mm:ss.ffffff</c> (hours beyond 23, as in PostgreSQL's 24:00:00, are written as they are).</summary>
    private sealed class TimeNode(long microsPerUnit) : Node
    {
        public static readonly TimeNode Millis = new(1000);
        public static readonly TimeNode Micros = new(1);

        public override void Write(Utf8JsonWriter json, ref AvroReader reader, int depth)
        {
            var start = reader.Position;
            var units = microsPerUnit == 1 ? reader.ReadLong() : reader.ReadInt();
            if (units < 0 || units > long.MaxValue / microsPerUnit)
            {
                throw reader.Error(start, AvroReader.Format("time {0} is not a time of day", units));
            }

            var micros = units * microsPerUnit;
            var hours = micros / 3_600_000_000;
            var rest = micros % 3_600_000_000;
            Span<byte> text = stackalloc byte[32];
            hours.TryFormat(text, out var i, "00", CultureInfo.InvariantCulture);
            text[i++] = (byte)':';
            Two(text, ref i, rest / 60_000_000);
            text[i++] = (byte)':';
            Two(text, ref i, rest / 1_000_000 % 60);
            text[i++] = (byte)'.';
            (rest % 1_000_000).TryFormat(text[i..], out var written, "000000", CultureInfo.InvariantCulture);
            json.WriteStringValue(text[..(i + written)]);
        }

        private static void Two(Span<byte> text, ref int i, long value)
        {
            text[i++] = (byte)('0' + (value / 10));
            text[i++] = (byte)('0' + (value % 10));
        }
    }

    private sealed class TimestampNode(long ticksPerUnit, bool utc) : Node
    {
        public override void Write(Utf8JsonWriter json, ref AvroReader reader, int depth)
        {
            var units = reader.ReadLong();
            if (!AvroTime.TryToTicks(units, ticksPerUnit, out var ticks))
            {
                // Beyond years 1 to 9999 (a source's sentinel, or PostgreSQL's far timestamps): the number as it is.
                json.WriteNumberValue(units);
                return;
            }

            Span<byte> text = stackalloc byte[32];
            new DateTime(ticks, DateTimeKind.Utc).TryFormat(text, out var length, utc ? "yyyy-MM-dd'T'HH:mm:ss.ffffff'Z'" : "yyyy-MM-dd'T'HH:mm:ss.ffffff", CultureInfo.InvariantCulture);
            json.WriteStringValue(text[..length]);
        }
    }
}
