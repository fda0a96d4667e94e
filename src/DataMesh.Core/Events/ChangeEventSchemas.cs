using System.Buffers;
using System.Globalization;
using System.Numerics;
using System.Reflection;
using System.Text;
using System.Text.Json;
using DataMesh.Avro;

namespace DataMesh.Events;

/// <summary>
/// The Avro schemas and names of one table's change events, built once per table version from its
/// <see cref="TableDescription"/>: the topic, the key record of the key columns, the row record, and the
/// Debezium-shaped envelope <c>{before, after, source, op, ts_ms}</c>. <c>docs/type-mapping.md</c> documents
/// the column type map.
/// </summary>
public sealed class ChangeEventSchemas
{
    /// <summary>The Avro namespace of the <c>source</c> block's record, followed by the connector kind.</summary>
    public const string SourceNamespace = "io.datamesh.connector";

    /// <summary>The Avro field property that holds a column's database type name.</summary>
    public const string DatabaseTypeProperty = "dm.dbtype";

    /// <summary>The Avro type property that marks a value whose meaning Avro lacks (<c>json</c>, <c>wkb</c>, <c>duration-micros</c>, ...).</summary>
    public const string SemanticTypeProperty = "dm.type";

    private const string VariableScaleDecimalName = "io.datamesh.data.VariableScaleDecimal";
    private const string GeometryName = "io.datamesh.data.Geometry";

    private static readonly string Version = typeof(ChangeEventSchemas).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion.Split('+')[0] ?? "0.0.0";

    private ChangeEventSchemas(TableDescription table, SourceDescription source, ChangeEventOptions options, string topic, string[] fieldNames, int[] keyIndexes)
    {
        Table = table;
        Source = source;
        Options = options;
        Topic = topic;
        FieldNames = fieldNames;
        KeyColumnIndexes = keyIndexes;
        var ns = AvroNames.Namespace(topic);
        RowSchemaJson = BuildRecord(ns, "Value", table, fieldNames, Enumerable.Range(0, table.Columns.Count).ToArray(), options, defaults: true);
        RowSchema = (global::Avro.RecordSchema)global::Avro.Schema.Parse(RowSchemaJson);
        if (keyIndexes.Length > 0)
        {
            // Never a default in a key: a key schema that changes changes every key's bytes, and compaction keeps the old ones.
            KeySchemaJson = BuildRecord(ns, "Key", table, fieldNames, keyIndexes, options, defaults: false);
            KeySchema = (global::Avro.RecordSchema)global::Avro.Schema.Parse(KeySchemaJson);
        }

        EnvelopeSchemaJson = BuildEnvelope(ns, RowSchemaJson, source);
        EnvelopeSchema = (global::Avro.RecordSchema)global::Avro.Schema.Parse(EnvelopeSchemaJson);
    }

    /// <summary>The table these schemas describe.</summary>
    public TableDescription Table { get; }

    /// <summary>The source that captures the table.</summary>
    public SourceDescription Source { get; }

    /// <summary>The contract settings the schemas were built with.</summary>
    public ChangeEventOptions Options { get; }

    /// <summary>The table's topic.</summary>
    public string Topic { get; }

    /// <summary>The subject of the key schema.</summary>
    public string KeySubject => TopicNames.KeySubject(Topic);

    /// <summary>The subject of the envelope schema.</summary>
    public string ValueSubject => TopicNames.ValueSubject(Topic);

    /// <summary>The Avro field name of each column, in column order.</summary>
    public IReadOnlyList<string> FieldNames { get; }

    /// <summary>The index in <see cref="TableDescription.Columns"/> of each key column, in key order.</summary>
    public IReadOnlyList<int> KeyColumnIndexes { get; }

    /// <summary>The key record, or null for a table without a key (its events have a null Kafka key).</summary>
    public global::Avro.RecordSchema? KeySchema { get; }

    /// <summary>The key record's JSON, or null.</summary>
    public string? KeySchemaJson { get; }

    /// <summary>The row record (<c>before</c> and <c>after</c>).</summary>
    public global::Avro.RecordSchema RowSchema { get; }

    /// <summary>The row record's JSON.</summary>
    public string RowSchemaJson { get; }

    /// <summary>The envelope record, the value of every event but tombstones.</summary>
    public global::Avro.RecordSchema EnvelopeSchema { get; }

    /// <summary>The envelope record's JSON.</summary>
    public string EnvelopeSchemaJson { get; }

    /// <summary>The DataMesh version written to <c>source.version</c>.</summary>
    public static string LibraryVersion => Version;

    /// <summary>Builds the schemas of a table.</summary>
    /// <param name="table">The table.</param>
    /// <param name="source">The capturing source.</param>
    /// <param name="options">Contract settings; defaults when null.</param>
    /// <exception cref="ArgumentException">A setting or a source field is invalid.</exception>
    public static ChangeEventSchemas Build(TableDescription table, SourceDescription source, ChangeEventOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(table);
        ArgumentNullException.ThrowIfNull(source);
        options ??= new ChangeEventOptions();
        options.Validate();
        if (!AvroNames.IsValid(source.Connector))
        {
            throw new ArgumentException($"Connector kind '{source.Connector}' must be a valid Avro name.", nameof(source));
        }

        foreach (var field in source.PositionFields)
        {
            if (!AvroNames.IsValid(field.Name) || SourceDescription.CommonFieldNames.Contains(field.Name))
            {
                throw new ArgumentException($"Source position field '{field.Name}' must be a valid Avro name and not one of the common fields ({string.Join(", ", SourceDescription.CommonFieldNames)}).", nameof(source));
            }
        }

        var topic = TopicNames.ForTable(options.TopicPrefix, source.Name, table.Schema, table.Name);
        var fieldNames = AvroNames.AssignFieldNames(table.Columns.Select(c => c.Name).ToArray());
        var keyIndexes = table.KeyColumns.Select(table.IndexOf).ToArray();
        return new ChangeEventSchemas(table, source, options, topic, fieldNames, keyIndexes);
    }

    private static string BuildRecord(string ns, string name, TableDescription table, string[] fieldNames, int[] columns, ChangeEventOptions options, bool defaults)
    {
        var defined = new HashSet<string>(StringComparer.Ordinal);
        return Json(writer =>
        {
            writer.WriteStartObject();
            writer.WriteString("type", "record");
            writer.WriteString("name", name);
            writer.WriteString("namespace", ns);
            writer.WriteStartArray("fields");
            foreach (var index in columns)
            {
                var column = table.Columns[index];
                writer.WriteStartObject();
                writer.WriteString("name", fieldNames[index]);
                writer.WritePropertyName("type");
                if (column.IsNullable)
                {
                    writer.WriteStartArray();
                    writer.WriteStringValue("null");
                    WriteType(writer, column.Type, options, defined);
                    writer.WriteEndArray();
                    writer.WriteNull("default");
                }
                else
                {
                    WriteType(writer, column.Type, options, defined);
                    if (defaults && column.Default is { } value && DefaultJson(column, value, options) is { } json)
                    {
                        writer.WritePropertyName("default");
                        writer.WriteRawValue(json);
                    }
                }

                if (!string.Equals(fieldNames[index], column.Name, StringComparison.Ordinal))
                {
                    writer.WriteString(AvroNames.OriginalNameProperty, column.Name);
                }

                writer.WriteString(DatabaseTypeProperty, column.Type.DatabaseType);
                writer.WriteEndObject();
            }

            writer.WriteEndArray();
            writer.WriteEndObject();
        });
    }

    /// <summary>Writes the Avro type of a column kind; the map that <c>docs/type-mapping.md</c> documents.</summary>
    private static void WriteType(Utf8JsonWriter writer, DataType type, ChangeEventOptions options, HashSet<string> defined)
    {
        switch (type.Kind)
        {
            case DataTypeKind.Boolean: writer.WriteStringValue("boolean"); break;
            case DataTypeKind.Int32: writer.WriteStringValue("int"); break;
            case DataTypeKind.Int64: writer.WriteStringValue("long"); break;
            case DataTypeKind.Float32: writer.WriteStringValue("float"); break;
            case DataTypeKind.Float64: writer.WriteStringValue("double"); break;
            case DataTypeKind.String: writer.WriteStringValue("string"); break;
            case DataTypeKind.Bytes: writer.WriteStringValue("bytes"); break;
            case DataTypeKind.UInt64:
                WriteDecimal(writer, 20, 0);
                break;
            case DataTypeKind.Decimal when options.DecimalHandling == DecimalHandling.Precise:
                WriteDecimal(writer, type.Precision, type.Scale);
                break;
            case DataTypeKind.VariableDecimal when options.DecimalHandling == DecimalHandling.Precise && !defined.Add(VariableScaleDecimalName):
                writer.WriteStringValue(VariableScaleDecimalName);
                break;
            case DataTypeKind.VariableDecimal when options.DecimalHandling == DecimalHandling.Precise:
                // Debezium's shape for numbers without a declared scale: the scale, then the unscaled two's complement bytes.
                writer.WriteStartObject();
                writer.WriteString("type", "record");
                writer.WriteString("name", "VariableScaleDecimal");
                writer.WriteString("namespace", "io.datamesh.data");
                writer.WriteStartArray("fields");
                writer.WriteStartObject();
                writer.WriteString("name", "scale");
                writer.WriteString("type", "int");
                writer.WriteEndObject();
                writer.WriteStartObject();
                writer.WriteString("name", "value");
                writer.WriteString("type", "bytes");
                writer.WriteEndObject();
                writer.WriteEndArray();
                writer.WriteEndObject();
                break;
            case DataTypeKind.Decimal or DataTypeKind.VariableDecimal:
                WriteSemantic(writer, "string", "decimal");
                break;
            case DataTypeKind.Uuid: WriteLogical(writer, "string", "uuid"); break;
            case DataTypeKind.Json: WriteSemantic(writer, "string", "json"); break;
            case DataTypeKind.Date: WriteLogical(writer, "int", "date"); break;
            case DataTypeKind.Time: WriteLogical(writer, "long", "time-micros"); break;
            case DataTypeKind.DurationMicros: WriteSemantic(writer, "long", "duration-micros"); break;
            case DataTypeKind.TimeWithOffset: WriteSemantic(writer, "string", "time-offset"); break;
            case DataTypeKind.LocalTimestamp: WriteLogical(writer, "long", "local-timestamp-micros"); break;
            case DataTypeKind.Timestamp: WriteLogical(writer, "long", "timestamp-micros"); break;
            case DataTypeKind.Interval: WriteSemantic(writer, "string", "interval"); break;
            case DataTypeKind.Bits: WriteSemantic(writer, "string", "bits"); break;
            case DataTypeKind.Text: WriteSemantic(writer, "string", "text"); break;
            case DataTypeKind.Geometry when !defined.Add(GeometryName):
                writer.WriteStringValue(GeometryName);
                break;
            case DataTypeKind.Geometry:
                // Debezium's shape: the OGC well-known binary and the spatial reference id, if any.
                writer.WriteStartObject();
                writer.WriteString("type", "record");
                writer.WriteString("name", "Geometry");
                writer.WriteString("namespace", "io.datamesh.data");
                writer.WriteStartArray("fields");
                WriteField(writer, "wkb", "bytes");
                WriteNullableField(writer, "srid", "int");
                writer.WriteEndArray();
                writer.WriteEndObject();
                break;
            case DataTypeKind.Array:
                writer.WriteStartObject();
                writer.WriteString("type", "array");
                writer.WritePropertyName("items");
                writer.WriteStartArray();
                writer.WriteStringValue("null");
                WriteType(writer, type.ElementType!, options, defined);
                writer.WriteEndArray();
                writer.WriteEndObject();
                break;
            default:
                throw new ArgumentOutOfRangeException(nameof(type), type.Kind, $"Unknown data type kind for database type '{type.DatabaseType}'.");
        }
    }

    private static void WriteDecimal(Utf8JsonWriter writer, int precision, int scale)
    {
        writer.WriteStartObject();
        writer.WriteString("type", "bytes");
        writer.WriteString("logicalType", "decimal");
        writer.WriteNumber("precision", precision);
        writer.WriteNumber("scale", scale);
        writer.WriteEndObject();
    }

    private static void WriteLogical(Utf8JsonWriter writer, string type, string logicalType)
    {
        writer.WriteStartObject();
        writer.WriteString("type", type);
        writer.WriteString("logicalType", logicalType);
        writer.WriteEndObject();
    }

    private static void WriteSemantic(Utf8JsonWriter writer, string type, string semantic)
    {
        writer.WriteStartObject();
        writer.WriteString("type", type);
        writer.WriteString(SemanticTypeProperty, semantic);
        writer.WriteEndObject();
    }

    private static string BuildEnvelope(string ns, string rowJson, SourceDescription source)
    {
        return Json(writer =>
        {
            writer.WriteStartObject();
            writer.WriteString("type", "record");
            writer.WriteString("name", "Envelope");
            writer.WriteString("namespace", ns);
            writer.WriteStartArray("fields");

            writer.WriteStartObject();
            writer.WriteString("name", "before");
            writer.WritePropertyName("type");
            writer.WriteStartArray();
            writer.WriteStringValue("null");
            writer.WriteRawValue(rowJson);
            writer.WriteEndArray();
            writer.WriteNull("default");
            writer.WriteEndObject();

            writer.WriteStartObject();
            writer.WriteString("name", "after");
            writer.WritePropertyName("type");
            writer.WriteStartArray();
            writer.WriteStringValue("null");
            writer.WriteStringValue("Value");
            writer.WriteEndArray();
            writer.WriteNull("default");
            writer.WriteEndObject();

            writer.WriteStartObject();
            writer.WriteString("name", "source");
            writer.WritePropertyName("type");
            WriteSourceRecord(writer, source);
            writer.WriteEndObject();

            WriteField(writer, "op", "string");

            writer.WriteStartObject();
            writer.WriteString("name", "ts_ms");
            writer.WritePropertyName("type");
            writer.WriteStartArray();
            writer.WriteStringValue("null");
            writer.WriteStringValue("long");
            writer.WriteEndArray();
            writer.WriteNull("default");
            writer.WriteEndObject();

            writer.WriteEndArray();
            writer.WriteEndObject();
        });
    }

    private static void WriteSourceRecord(Utf8JsonWriter writer, SourceDescription source)
    {
        writer.WriteStartObject();
        writer.WriteString("type", "record");
        writer.WriteString("name", "Source");
        writer.WriteString("namespace", SourceNamespace + "." + source.Connector);
        writer.WriteStartArray("fields");
        WriteField(writer, "version", "string");
        WriteField(writer, "connector", "string");
        WriteField(writer, "name", "string");
        WriteField(writer, "ts_ms", "long");
        writer.WriteStartObject();
        writer.WriteString("name", "snapshot");
        writer.WriteString("type", "string");
        writer.WriteString("default", "false");
        writer.WriteEndObject();
        WriteField(writer, "db", "string");
        WriteNullableField(writer, "schema", "string");
        WriteNullableField(writer, "table", "string");
        WriteNullableField(writer, "txId", "long");
        foreach (var field in source.PositionFields)
        {
            switch (field.Type)
            {
                case SourceFieldType.Long: WriteField(writer, field.Name, "long"); break;
                case SourceFieldType.String: WriteField(writer, field.Name, "string"); break;
                case SourceFieldType.NullableLong: WriteNullableField(writer, field.Name, "long"); break;
                case SourceFieldType.NullableString: WriteNullableField(writer, field.Name, "string"); break;
                default: throw new ArgumentOutOfRangeException(nameof(source), field.Type, $"Unknown type of source field '{field.Name}'.");
            }
        }

        writer.WriteEndArray();
        writer.WriteEndObject();
    }

    private static void WriteField(Utf8JsonWriter writer, string name, string type)
    {
        writer.WriteStartObject();
        writer.WriteString("name", name);
        writer.WriteString("type", type);
        writer.WriteEndObject();
    }

    private static void WriteNullableField(Utf8JsonWriter writer, string name, string type)
    {
        writer.WriteStartObject();
        writer.WriteString("name", name);
        writer.WritePropertyName("type");
        writer.WriteStartArray();
        writer.WriteStringValue("null");
        writer.WriteStringValue(type);
        writer.WriteEndArray();
        writer.WriteNull("default");
        writer.WriteEndObject();
    }

    /// <summary>The Avro JSON form of a column's default for the field type <see cref="WriteType"/> writes, or null for a
    /// type whose default is not written (records and arrays).</summary>
    /// <exception cref="ArgumentException">The value is not one encoded value of the column's type.</exception>
    private static string? DefaultJson(ColumnDescription column, ColumnDefault value, ChangeEventOptions options)
    {
        var type = column.Type;
        if (type.Kind is DataTypeKind.Geometry or DataTypeKind.Array or DataTypeKind.VariableDecimal || (type.Kind == DataTypeKind.Decimal && type.Scale < 0))
        {
            return null;
        }

        var reader = new AvroReader(value.AvroValue.Span);
        string? json;
        try
        {
            json = type.Kind switch
            {
                DataTypeKind.Boolean => reader.ReadBoolean() ? "true" : "false",
                DataTypeKind.Int32 or DataTypeKind.Date => reader.ReadInt().ToString(CultureInfo.InvariantCulture),
                DataTypeKind.Int64 or DataTypeKind.Time or DataTypeKind.DurationMicros or DataTypeKind.LocalTimestamp or DataTypeKind.Timestamp =>
                    reader.ReadLong().ToString(CultureInfo.InvariantCulture),
                DataTypeKind.Float32 => Finite(reader.ReadFloat()),
                DataTypeKind.Float64 => Finite(reader.ReadDouble()),
                DataTypeKind.Bytes or DataTypeKind.UInt64 => AvroBytes(reader.ReadBytes()),
                DataTypeKind.Decimal when options.DecimalHandling == DecimalHandling.Precise => AvroBytes(reader.ReadBytes()),
                DataTypeKind.Decimal => JsonSerializer.Serialize(DecimalText(reader.ReadDecimalUnscaled(), type.Scale)),
                _ => JsonSerializer.Serialize(reader.ReadString()),
            };
        }
        catch (FormatException ex)
        {
            throw new ArgumentException($"The default of column '{column.Name}' is not a value of its type {type.DatabaseType}: {ex.Message}", nameof(value), ex);
        }

        if (!reader.End)
        {
            throw new ArgumentException($"The default of column '{column.Name}' holds {reader.Remaining} bytes after a value of its type {type.DatabaseType}.", nameof(value));
        }

        return json;

        // The text of unscaled / 10^scale with exactly scale fraction digits, as the events carry a decimal as text.
        static string DecimalText(BigInteger unscaled, int scale)
        {
            var digits = BigInteger.Abs(unscaled).ToString(CultureInfo.InvariantCulture).PadLeft(scale + 1, '0');
            var text = scale == 0 ? digits : digits[..^scale] + "." + digits[^scale..];
            return unscaled.Sign < 0 ? "-" + text : text;
        }

        // NaN and the infinities have no JSON form: no default.
        static string? Finite(double number) => double.IsFinite(number) ? number.ToString("R", CultureInfo.InvariantCulture) : null;

        // Avro's JSON form of bytes: a string whose code points U+0000 to U+00FF are the bytes.
        static string AvroBytes(ReadOnlySpan<byte> bytes) => JsonSerializer.Serialize(Encoding.Latin1.GetString(bytes));
    }

    private static string Json(Action<Utf8JsonWriter> write)
    {
        var buffer = new ArrayBufferWriter<byte>(1024);
        using (var writer = new Utf8JsonWriter(buffer))
        {
            write(writer);
        }

        return Encoding.UTF8.GetString(buffer.WrittenSpan);
    }
}
