using System.Globalization;

namespace DataMesh.Connectors.Sinks;

/// <summary>The neutral kind of a column's value, from its Avro type and logical type.</summary>
internal enum SinkKind
{
    Boolean,
    Int32,
    Int64,
    Float32,
    Float64,

    /// <summary>decimal on bytes or fixed; the value travels as exact invariant text.</summary>
    Decimal,

    /// <summary>Debezium's <c>VariableScaleDecimal {scale, value}</c>; exact invariant text.</summary>
    VariableDecimal,
    String,
    Enum,

    /// <summary>uuid on string or fixed(16); text.</summary>
    Uuid,

    /// <summary>A string marked <c>"dm.type":"json"</c>; its text.</summary>
    Json,
    Bytes,
    Fixed,

    /// <summary>Days since 1970-01-01 (an int; int.MaxValue / int.MinValue are the infinity / zero-date sentinels).</summary>
    Date,

    /// <summary>Microseconds after midnight (time-micros, and time-millis scaled).</summary>
    Time,

    /// <summary>Microseconds since the epoch, UTC (timestamp-micros, and timestamp-millis scaled).</summary>
    Timestamp,

    /// <summary>Microseconds since the epoch on the wall clock (local-timestamp-micros/millis).</summary>
    LocalTimestamp,

    /// <summary>A long marked <c>"dm.type":"duration-micros"</c>: signed microseconds.</summary>
    Duration,

    /// <summary>An array whose items are of one scalar kind (any kind above; nullable items too): decoded to a
    /// <see cref="SinkArray"/>, its items read as a column of <see cref="SinkColumn.Element"/> is.</summary>
    Array,

    /// <summary>Anything else (maps, records, other arrays, unions of several types): a JSON text.</summary>
    Document,
}

/// <summary>One column of a key or row record: its original name, kind and how to read it.</summary>
internal sealed class SinkColumn
{
    /// <param name="name">The database column name.</param>
    /// <param name="fieldName">The Avro field name.</param>
    /// <param name="fieldSchema">The field's schema.</param>
    /// <param name="fieldDefault">The field's default (Apache.Avro's JSON of it), or null.</param>
    public SinkColumn(string name, string fieldName, global::Avro.Schema fieldSchema, Newtonsoft.Json.Linq.JToken? fieldDefault = null)
    {
        Name = name;
        FieldName = fieldName;
        FieldSchema = fieldSchema;
        var schema = fieldSchema;
        if (fieldSchema is global::Avro.UnionSchema { Count: 2 } union
            && (union[0].Tag == global::Avro.Schema.Type.Null) != (union[1].Tag == global::Avro.Schema.Type.Null))
        {
            NullBranch = union[0].Tag == global::Avro.Schema.Type.Null ? 0 : 1;
            schema = union[1 - NullBranch];
            Nullable = true;
        }
        else
        {
            NullBranch = -1;
            Nullable = fieldSchema.Tag == global::Avro.Schema.Type.Null;
        }

        ValueSchema = schema;
        Kind = KindOf(schema, out var precision, out var scale, out var elementKind);
        Precision = precision;
        Scale = scale;
        ElementKind = elementKind;
        Element = Kind == SinkKind.Array ? new SinkColumn(name, fieldName, ((global::Avro.ArraySchema)schema).ItemSchema) : null;
        FixedSize = (schema is global::Avro.LogicalSchema ls ? ls.BaseSchema : schema) is global::Avro.FixedSchema f ? f.Size : 0;
        Default = DefaultOf(Kind, fieldDefault);
    }

    /// <summary>The field's default for a column added to an existing table (the rows already written get it), as invariant
    /// text: a number, <c>true</c>/<c>false</c>, or a string's text (<see cref="DefaultIsText"/>); null when the field has
    /// none, its default is null, or its kind has no plain literal here (decimals, dates, bytes, ...: those rows get NULL).</summary>
    public string? Default { get; }

    /// <summary>Whether <see cref="Default"/> is a string to quote rather than a number or a boolean.</summary>
    public bool DefaultIsText => Kind is SinkKind.String or SinkKind.Enum or SinkKind.Uuid or SinkKind.Json;

    /// <summary>The database column name (the field's <c>dm.name</c>, else its Avro name).</summary>
    public string Name { get; }

    /// <summary>The Avro field name.</summary>
    public string FieldName { get; }

    public global::Avro.Schema FieldSchema { get; }

    /// <summary>The non-null branch of a nullable union, or the field's schema.</summary>
    public global::Avro.Schema ValueSchema { get; }

    /// <summary>The union branch that is null, or -1 when the field is not a nullable union of two branches.</summary>
    public int NullBranch { get; }

    public bool Nullable { get; }

    public SinkKind Kind { get; }

    /// <summary>For decimals: the precision (0 when unknown).</summary>
    public int Precision { get; }

    /// <summary>For decimals: the scale.</summary>
    public int Scale { get; }

    public int FixedSize { get; }

    /// <summary>For <see cref="SinkKind.Array"/>: the items' kind.</summary>
    public SinkKind ElementKind { get; }

    /// <summary>For <see cref="SinkKind.Array"/>: an item as a column of its own (the array's name; its schema the items'),
    /// which reads and converts each item as a scalar column of that kind is read and converted.</summary>
    public SinkColumn? Element { get; }

    /// <summary>Whether a table the sink creates holds this array as a JSON document (the form of
    /// <see cref="SinkArray.Json"/>) rather than as an array of the items' kind: arrays of logical types, bytes, enums and
    /// JSON strings, which the sink created as <c>jsonb</c> before it wrote them into array columns.</summary>
    public bool CreatedAsJson => Kind == SinkKind.Array && ElementKind is not (SinkKind.Boolean or SinkKind.Int32 or SinkKind.Int64 or SinkKind.Float32 or SinkKind.Float64 or SinkKind.String);

    /// <summary>The column's kind in words, for error messages.</summary>
    public string Describe() => Kind switch
    {
        SinkKind.Decimal => string.Create(CultureInfo.InvariantCulture, $"decimal({Precision},{Scale})"),
        SinkKind.Array => "array of " + ElementKind.ToString().ToLowerInvariant(),
        _ => Kind.ToString().ToLowerInvariant(),
    };

    private static string? DefaultOf(SinkKind kind, Newtonsoft.Json.Linq.JToken? value)
    {
        if (value is null)
        {
            return null;
        }

        var type = value.Type;
        return kind switch
        {
            SinkKind.Boolean when type == Newtonsoft.Json.Linq.JTokenType.Boolean => (bool)value ? "true" : "false",
            SinkKind.Int32 when type == Newtonsoft.Json.Linq.JTokenType.Integer && value.ToObject<object>() is long l && l is >= int.MinValue and <= int.MaxValue => l.ToString(CultureInfo.InvariantCulture),
            SinkKind.Int64 when type == Newtonsoft.Json.Linq.JTokenType.Integer && value.ToObject<object>() is long l => l.ToString(CultureInfo.InvariantCulture),
            SinkKind.Float32 or SinkKind.Float64 when type is Newtonsoft.Json.Linq.JTokenType.Float or Newtonsoft.Json.Linq.JTokenType.Integer
                && (double)value is var d && double.IsFinite(d) => d.ToString("R", CultureInfo.InvariantCulture),
            SinkKind.String or SinkKind.Enum or SinkKind.Uuid or SinkKind.Json when type == Newtonsoft.Json.Linq.JTokenType.String => (string?)value,
            _ => null,
        };
    }

    internal static SinkKind KindOf(global::Avro.Schema schema, out int precision, out int scale, out SinkKind elementKind)
    {
        precision = 0;
        scale = 0;
        elementKind = SinkKind.Document;
        var original = schema;
        var logical = schema.GetProperty("logicalType") is { } l ? Unquote(l) : null;
        var semantic = schema.GetProperty("dm.type") is { } s ? Unquote(s) : null;
        if (schema is global::Avro.LogicalSchema logicalSchema)
        {
            logical = logicalSchema.LogicalTypeName;
            schema = logicalSchema.BaseSchema;
            semantic ??= schema.GetProperty("dm.type") is { } s2 ? Unquote(s2) : null;
        }

        switch (schema.Tag)
        {
            case global::Avro.Schema.Type.Boolean: return SinkKind.Boolean;
            case global::Avro.Schema.Type.Int:
                return logical switch
                {
                    "date" => SinkKind.Date,
                    "time-millis" => SinkKind.Time,
                    _ => SinkKind.Int32,
                };
            case global::Avro.Schema.Type.Long:
                return logical switch
                {
                    "time-micros" => SinkKind.Time,
                    "timestamp-micros" or "timestamp-millis" => SinkKind.Timestamp,
                    "local-timestamp-micros" or "local-timestamp-millis" => SinkKind.LocalTimestamp,
                    _ when semantic == "duration-micros" => SinkKind.Duration,
                    _ => SinkKind.Int64,
                };
            case global::Avro.Schema.Type.Float: return SinkKind.Float32;
            case global::Avro.Schema.Type.Double: return SinkKind.Float64;
            case global::Avro.Schema.Type.String:
                return logical == "uuid" ? SinkKind.Uuid : semantic == "json" ? SinkKind.Json : SinkKind.String;
            case global::Avro.Schema.Type.Bytes or global::Avro.Schema.Type.Fixed:
                if (logical == "decimal")
                {
                    precision = IntProperty(original, "precision");
                    scale = IntProperty(original, "scale");
                    return SinkKind.Decimal;
                }

                if (logical == "uuid" && schema is global::Avro.FixedSchema { Size: 16 })
                {
                    return SinkKind.Uuid;
                }

                return schema.Tag == global::Avro.Schema.Type.Fixed ? SinkKind.Fixed : SinkKind.Bytes;
            case global::Avro.Schema.Type.Enumeration: return SinkKind.Enum;
            case global::Avro.Schema.Type.Record when schema is global::Avro.RecordSchema { Fullname: "io.datamesh.data.VariableScaleDecimal" }:
                return SinkKind.VariableDecimal;
            case global::Avro.Schema.Type.Array:
                var items = ((global::Avro.ArraySchema)schema).ItemSchema;
                if (items is global::Avro.UnionSchema { Count: 2 } u && (u[0].Tag == global::Avro.Schema.Type.Null || u[1].Tag == global::Avro.Schema.Type.Null))
                {
                    items = u[0].Tag == global::Avro.Schema.Type.Null ? u[1] : u[0];
                }

                var itemKind = KindOf(items, out _, out _, out _);
                if (itemKind is not (SinkKind.Array or SinkKind.Document))
                {
                    elementKind = itemKind;
                    return SinkKind.Array;
                }

                return SinkKind.Document;
            default: return SinkKind.Document;
        }
    }

    private static int IntProperty(global::Avro.Schema schema, string name)
    {
        var text = schema.GetProperty(name) ?? (schema as global::Avro.LogicalSchema)?.BaseSchema.GetProperty(name);
        return text is not null && int.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out var value) ? value : 0;
    }

    private static string Unquote(string json) => json.Length >= 2 && json[0] == '"' ? System.Text.Json.JsonSerializer.Deserialize<string>(json)! : json;
}
