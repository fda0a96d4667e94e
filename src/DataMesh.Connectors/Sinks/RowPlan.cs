using System.Buffers;
using System.Globalization;
using System.Numerics;
using System.Text;
using System.Text.Json;
using DataMesh.Avro;
using DataMesh.Events;

namespace DataMesh.Connectors.Sinks;

/// <summary>
/// The columns of one Avro record schema (a key, a flat row, or the row inside an envelope) and how to decode a datum
/// of it into neutral values: bool, int, long, float, double, string (decimals as exact text), byte[], int days for
/// dates, long microseconds for times, timestamps and durations, <see cref="SinkArray"/> for arrays of one scalar kind,
/// JSON text for the rest.
/// </summary>
internal sealed class RowPlan
{
    public RowPlan(global::Avro.RecordSchema schema)
    {
        Schema = schema;
        Columns = schema.Fields.Select(f => new SinkColumn(AvroNames.OriginalName(f), f.Name, f.Schema, f.DefaultValue)).ToArray();
    }

    public global::Avro.RecordSchema Schema { get; }

    public SinkColumn[] Columns { get; }

    public int IndexOf(string column, StringComparer comparer)
    {
        for (var i = 0; i < Columns.Length; i++)
        {
            if (comparer.Equals(Columns[i].Name, column))
            {
                return i;
            }
        }

        return -1;
    }

    /// <summary>Decodes one datum of <see cref="Schema"/>.</summary>
    /// <exception cref="SinkValueException">A value is malformed or cannot be represented; the message names the column.</exception>
    public object?[] Read(ref AvroReader reader)
    {
        var values = new object?[Columns.Length];
        for (var i = 0; i < Columns.Length; i++)
        {
            var column = Columns[i];
            try
            {
                values[i] = AvroValues.ReadColumn(ref reader, column);
            }
            catch (AvroFormatException e)
            {
                throw new SinkValueException(column.Name, "the Avro value is malformed: " + e.Message, e);
            }
        }

        return values;
    }
}

/// <summary>
/// The value of a <see cref="SinkKind.Array"/> column: its items, and the same datum as the JSON document a table the sink
/// creates, or a JSON column, holds (what <see cref="SinkKind.Document"/> values are: decimals as exact numbers, bytes as
/// base64, other logical types as their underlying number). Decoded, <see cref="Items"/> holds neutral values (an
/// <c>object?[]</c>, each as a column of the items' kind holds it); a dialect's <see cref="ITableDialect.ToParameter"/> may
/// replace them with the typed array it binds, keeping <see cref="Json"/>.
/// </summary>
internal sealed class SinkArray(Array items, string json)
{
    /// <summary>The items, null for a null item.</summary>
    public Array Items { get; } = items;

    /// <summary>The array as a JSON document.</summary>
    public string Json { get; } = json;
}

/// <summary>A value that cannot be decoded or written; names the column.</summary>
internal sealed class SinkValueException(string column, string reason, Exception? inner = null)
    : Exception($"column \"{column}\": {reason}", inner)
{
    public string Column { get; } = column;
}

/// <summary>Generic Avro datum reading for the sinks (allocating; database round trips dominate).</summary>
internal static class AvroValues
{
    public static object? ReadColumn(ref AvroReader reader, SinkColumn column)
    {
        if (column.NullBranch >= 0)
        {
            if (reader.ReadUnionIndex(2) == column.NullBranch)
            {
                return null;
            }
        }
        else if (column.FieldSchema.Tag == global::Avro.Schema.Type.Null)
        {
            return null;
        }

        return column.Kind switch
        {
            SinkKind.Boolean => reader.ReadBoolean(),
            SinkKind.Int32 => reader.ReadInt(),
            SinkKind.Int64 => reader.ReadLong(),
            SinkKind.Float32 => reader.ReadFloat(),
            SinkKind.Float64 => reader.ReadDouble(),
            SinkKind.Decimal => DecimalText(BaseTag(column.ValueSchema) == global::Avro.Schema.Type.Fixed ? reader.ReadDecimalFixedUnscaled(column.FixedSize) : reader.ReadDecimalUnscaled(), column.Scale),
            SinkKind.VariableDecimal => ReadVariableDecimal(ref reader),
            SinkKind.String or SinkKind.Json => reader.ReadString(),
            SinkKind.Uuid => BaseTag(column.ValueSchema) == global::Avro.Schema.Type.Fixed ? reader.ReadUuidFixed().ToString("D") : reader.ReadString(),
            SinkKind.Enum => ((global::Avro.EnumSchema)column.ValueSchema).Symbols[reader.ReadEnum(((global::Avro.EnumSchema)column.ValueSchema).Count)],
            SinkKind.Bytes => reader.ReadBytes().ToArray(),
            SinkKind.Fixed => reader.ReadFixed(column.FixedSize).ToArray(),
            SinkKind.Date => reader.ReadInt(),
            SinkKind.Time => IsMillis(column.ValueSchema) ? reader.ReadInt() * 1000L : reader.ReadLong(),
            SinkKind.Timestamp or SinkKind.LocalTimestamp => IsMillis(column.ValueSchema) ? MillisToMicros(reader.ReadLong()) : reader.ReadLong(),
            SinkKind.Duration => reader.ReadLong(),
            SinkKind.Array => ReadArray(ref reader, column),
            _ => ReadJson(ref reader, column.ValueSchema),
        };
    }

    /// <summary>Skips a datum of any schema.</summary>
    public static void Skip(ref AvroReader reader, global::Avro.Schema schema)
    {
        switch (schema)
        {
            case global::Avro.LogicalSchema logical: Skip(ref reader, logical.BaseSchema); break;
            case global::Avro.RecordSchema record:
                foreach (var field in record.Fields)
                {
                    Skip(ref reader, field.Schema);
                }

                break;
            case global::Avro.UnionSchema union: Skip(ref reader, union[reader.ReadUnionIndex(union.Count)]); break;
            case global::Avro.EnumSchema e: reader.ReadEnum(e.Count); break;
            case global::Avro.FixedSchema f: reader.Skip(f.Size); break;
            case global::Avro.ArraySchema array:
                for (var n = reader.ReadBlockCount(out var size); n != 0; n = reader.ReadBlockCount(out size))
                {
                    if (size >= 0)
                    {
                        reader.Skip(size);
                        continue;
                    }

                    for (long i = 0; i < n; i++)
                    {
                        Skip(ref reader, array.ItemSchema);
                    }
                }

                break;
            case global::Avro.MapSchema map:
                for (var n = reader.ReadBlockCount(out var size); n != 0; n = reader.ReadBlockCount(out size))
                {
                    if (size >= 0)
                    {
                        reader.Skip(size);
                        continue;
                    }

                    for (long i = 0; i < n; i++)
                    {
                        reader.SkipBytes();
                        Skip(ref reader, map.ValueSchema);
                    }
                }

                break;
            default:
                switch (schema.Tag)
                {
                    case global::Avro.Schema.Type.Null: break;
                    case global::Avro.Schema.Type.Boolean: reader.ReadBoolean(); break;
                    case global::Avro.Schema.Type.Int or global::Avro.Schema.Type.Long: reader.SkipVarint(); break;
                    case global::Avro.Schema.Type.Float: reader.SkipFloat(); break;
                    case global::Avro.Schema.Type.Double: reader.SkipDouble(); break;
                    case global::Avro.Schema.Type.Bytes or global::Avro.Schema.Type.String: reader.SkipBytes(); break;
                    default: throw new NotSupportedException($"Avro type {schema.Tag} cannot be skipped.");
                }

                break;
        }
    }

    /// <summary>The exact decimal text of <paramref name="unscaled"/> × 10^-<paramref name="scale"/>, e.g. <c>-12.3400</c>.</summary>
    public static string DecimalText(BigInteger unscaled, int scale)
    {
        var negative = unscaled.Sign < 0;
        var digits = BigInteger.Abs(unscaled).ToString(CultureInfo.InvariantCulture);
        if (scale <= 0)
        {
            return (negative ? "-" : string.Empty) + digits + (scale < 0 ? new string('0', -scale) : string.Empty);
        }

        if (digits.Length <= scale)
        {
            digits = new string('0', scale - digits.Length + 1) + digits;
        }

        return (negative ? "-" : string.Empty) + digits[..^scale] + "." + digits[^scale..];
    }

    /// <summary>A canonical text of neutral values, equal for equal keys: the identity of a row within a batch.</summary>
    public static string Identity(string table, object?[] values)
    {
        var builder = new StringBuilder(table);
        foreach (var value in values)
        {
            builder.Append('\u001F');
            Append(builder, value);
        }

        return builder.ToString();

        static void Append(StringBuilder builder, object? value)
        {
            switch (value)
            {
                case null: builder.Append("\u0000N"); break;
                case byte[] bytes: builder.Append(Convert.ToHexString(bytes)); break;
                case SinkArray array: builder.Append(array.Json.Length.ToString(CultureInfo.InvariantCulture)).Append(':').Append(array.Json); break;
                case object?[] items:
                    builder.Append('[');
                    foreach (var item in items)
                    {
                        Append(builder, item);
                        builder.Append('\u001E');
                    }

                    builder.Append(']');
                    break;
                // Exact forms: the default ones drop fractions of a second (DateTime, TimeOnly); strings are length-prefixed so
                // that no content can look like a separator.
                case DateTime dateTime: builder.Append(dateTime.ToString("O", CultureInfo.InvariantCulture)); break;
                case DateTimeOffset dateTimeOffset: builder.Append(dateTimeOffset.ToString("O", CultureInfo.InvariantCulture)); break;
                case TimeOnly time: builder.Append(time.Ticks.ToString(CultureInfo.InvariantCulture)); break;
                case TimeSpan span: builder.Append(span.Ticks.ToString(CultureInfo.InvariantCulture)); break;
                case double number: builder.Append(number.ToString("R", CultureInfo.InvariantCulture)); break;
                case float number: builder.Append(number.ToString("R", CultureInfo.InvariantCulture)); break;
                case string text: builder.Append(text.Length.ToString(CultureInfo.InvariantCulture)).Append(':').Append(text); break;
                case IFormattable formattable: builder.Append(formattable.ToString(null, CultureInfo.InvariantCulture)); break;
                default: builder.Append(value); break;
            }
        }
    }

    private static global::Avro.Schema.Type BaseTag(global::Avro.Schema schema) =>
        schema is global::Avro.LogicalSchema logical ? logical.BaseSchema.Tag : schema.Tag;

    private static bool IsMillis(global::Avro.Schema schema) =>
        schema is global::Avro.LogicalSchema logical && logical.LogicalTypeName.EndsWith("-millis", StringComparison.Ordinal);

    private static long MillisToMicros(long millis) =>
        millis is long.MaxValue or long.MinValue ? millis : checked(millis * 1000);

    private static string ReadVariableDecimal(ref AvroReader reader)
    {
        var scale = reader.ReadDecimalScale();
        var unscaled = reader.ReadDecimalUnscaled();
        return DecimalText(unscaled, scale);
    }

    /// <summary>Reads an array's items as columns of <see cref="SinkColumn.Element"/>, and the same bytes again as JSON.</summary>
    private static SinkArray ReadArray(ref AvroReader reader, SinkColumn column)
    {
        var again = reader;
        var json = ReadJson(ref again, column.ValueSchema);
        var element = column.Element!;
        var items = new List<object?>();
        for (var n = reader.ReadBlockCount(); n != 0; n = reader.ReadBlockCount())
        {
            for (long i = 0; i < n; i++)
            {
                items.Add(ReadColumn(ref reader, element));
            }
        }

        return new SinkArray(items.ToArray(), json);
    }

    private static string ReadJson(ref AvroReader reader, global::Avro.Schema schema)
    {
        var buffer = new ArrayBufferWriter<byte>();
        using (var writer = new Utf8JsonWriter(buffer))
        {
            WriteJson(ref reader, schema, writer);
        }

        return Encoding.UTF8.GetString(buffer.WrittenSpan);
    }

    /// <summary>
    /// Writes a datum as JSON: records and maps as objects, unions as their branch's value, bytes and fixed as base64,
    /// decimals (variable-scale ones too) as exact numbers, other logical types as their underlying number or string, non-finite floats as strings.
    /// </summary>
    private static void WriteJson(ref AvroReader reader, global::Avro.Schema schema, Utf8JsonWriter writer)
    {
        if (schema is global::Avro.LogicalSchema logical)
        {
            if (logical.LogicalTypeName == "decimal")
            {
                var scale = int.Parse(logical.GetProperty("scale") ?? "0", CultureInfo.InvariantCulture);
                var unscaled = logical.BaseSchema is global::Avro.FixedSchema fixedBase ? reader.ReadDecimalFixedUnscaled(fixedBase.Size) : reader.ReadDecimalUnscaled();
                writer.WriteRawValue(DecimalText(unscaled, scale));
                return;
            }

            WriteJson(ref reader, logical.BaseSchema, writer);
            return;
        }

        switch (schema)
        {
            case global::Avro.RecordSchema { Fullname: "io.datamesh.data.VariableScaleDecimal" }:
                // A decimal as an exact number, as a column of its own is (an array of PostgreSQL numeric without a scale).
                writer.WriteRawValue(ReadVariableDecimal(ref reader));
                return;
            case global::Avro.RecordSchema record:
                writer.WriteStartObject();
                foreach (var field in record.Fields)
                {
                    writer.WritePropertyName(AvroNames.OriginalName(field));
                    WriteJson(ref reader, field.Schema, writer);
                }

                writer.WriteEndObject();
                return;
            case global::Avro.UnionSchema union:
                WriteJson(ref reader, union[reader.ReadUnionIndex(union.Count)], writer);
                return;
            case global::Avro.EnumSchema e:
                writer.WriteStringValue(e.Symbols[reader.ReadEnum(e.Count)]);
                return;
            case global::Avro.FixedSchema f:
                writer.WriteBase64StringValue(reader.ReadFixed(f.Size));
                return;
            case global::Avro.ArraySchema array:
                writer.WriteStartArray();
                for (var n = reader.ReadBlockCount(); n != 0; n = reader.ReadBlockCount())
                {
                    for (long i = 0; i < n; i++)
                    {
                        WriteJson(ref reader, array.ItemSchema, writer);
                    }
                }

                writer.WriteEndArray();
                return;
            case global::Avro.MapSchema map:
                writer.WriteStartObject();
                for (var n = reader.ReadBlockCount(); n != 0; n = reader.ReadBlockCount())
                {
                    for (long i = 0; i < n; i++)
                    {
                        writer.WritePropertyName(reader.ReadString());
                        WriteJson(ref reader, map.ValueSchema, writer);
                    }
                }

                writer.WriteEndObject();
                return;
        }

        switch (schema.Tag)
        {
            case global::Avro.Schema.Type.Null: writer.WriteNullValue(); break;
            case global::Avro.Schema.Type.Boolean: writer.WriteBooleanValue(reader.ReadBoolean()); break;
            case global::Avro.Schema.Type.Int: writer.WriteNumberValue(reader.ReadInt()); break;
            case global::Avro.Schema.Type.Long: writer.WriteNumberValue(reader.ReadLong()); break;
            case global::Avro.Schema.Type.Float:
                var f = reader.ReadFloat();
                if (float.IsFinite(f))
                {
                    writer.WriteNumberValue(f);
                }
                else
                {
                    writer.WriteStringValue(f.ToString(CultureInfo.InvariantCulture));
                }

                break;
            case global::Avro.Schema.Type.Double:
                var d = reader.ReadDouble();
                if (double.IsFinite(d))
                {
                    writer.WriteNumberValue(d);
                }
                else
                {
                    writer.WriteStringValue(d.ToString(CultureInfo.InvariantCulture));
                }

                break;
            case global::Avro.Schema.Type.Bytes: writer.WriteBase64StringValue(reader.ReadBytes()); break;
            case global::Avro.Schema.Type.String: writer.WriteStringValue(reader.ReadString()); break;
            default: throw new NotSupportedException($"Avro type {schema.Tag} cannot be written as JSON.");
        }
    }
}
