using System.Globalization;
using System.Text;
using System.Text.Json;
using Avro;

namespace DataMesh.Schemas;

/// <summary>
/// The form by which schema stores decide that two schemas are "the same schema" (and so share an id).
/// </summary>
/// <remarks>
/// It is Avro's Parsing Canonical Form (full names, only the attributes that matter, a fixed attribute order, no
/// white space) plus the attributes that Parsing Canonical Form drops but that change how a reader reads: field
/// defaults, enum defaults, and logical types with their decimal precision and scale. Two schemas that differ
/// only by documentation, aliases, custom properties or JSON layout have the same form; a <c>long</c> and a
/// <c>timestamp-micros</c> do not, nor does a field with and without a default.
/// </remarks>
internal static class SchemaCanonicalForm
{
    public static string Of(Schema schema)
    {
        ArgumentNullException.ThrowIfNull(schema);
        using var buffer = new MemoryStream();
        using (var json = new Utf8JsonWriter(buffer, new JsonWriterOptions { Indented = false, SkipValidation = false }))
        {
            Write(json, schema, new HashSet<string>(StringComparer.Ordinal));
        }

        return Encoding.UTF8.GetString(buffer.GetBuffer(), 0, (int)buffer.Length);
    }

    private static void Write(Utf8JsonWriter json, Schema schema, HashSet<string> defined)
    {
        switch (schema)
        {
            case LogicalSchema logical:
                json.WriteStartObject();
                json.WritePropertyName("type");
                Write(json, logical.BaseSchema, defined);
                json.WriteString("logicalType", logical.LogicalTypeName);
                WriteIntProperty(json, logical, "precision");
                WriteIntProperty(json, logical, "scale");
                json.WriteEndObject();
                return;
            case RecordSchema record:
                if (!defined.Add(record.Fullname))
                {
                    json.WriteStringValue(record.Fullname);
                    return;
                }

                json.WriteStartObject();
                json.WriteString("name", record.Fullname);
                json.WriteString("type", record.Tag == Schema.Type.Error ? "error" : "record");
                json.WriteStartArray("fields");
                foreach (var field in record.Fields)
                {
                    json.WriteStartObject();
                    json.WriteString("name", field.Name);
                    json.WritePropertyName("type");
                    Write(json, field.Schema, defined);
                    if (field.DefaultValue is not null)
                    {
                        json.WritePropertyName("default");
                        json.WriteRawValue(field.DefaultValue.ToString(Newtonsoft.Json.Formatting.None));
                    }

                    json.WriteEndObject();
                }

                json.WriteEndArray();
                json.WriteEndObject();
                return;
            case EnumSchema enumeration:
                if (!defined.Add(enumeration.Fullname))
                {
                    json.WriteStringValue(enumeration.Fullname);
                    return;
                }

                json.WriteStartObject();
                json.WriteString("name", enumeration.Fullname);
                json.WriteString("type", "enum");
                json.WriteStartArray("symbols");
                foreach (var symbol in enumeration.Symbols)
                {
                    json.WriteStringValue(symbol);
                }

                json.WriteEndArray();
                if (enumeration.Default is not null)
                {
                    json.WriteString("default", enumeration.Default);
                }

                json.WriteEndObject();
                return;
            case FixedSchema fixedSchema:
                if (!defined.Add(fixedSchema.Fullname))
                {
                    json.WriteStringValue(fixedSchema.Fullname);
                    return;
                }

                json.WriteStartObject();
                json.WriteString("name", fixedSchema.Fullname);
                json.WriteString("type", "fixed");
                json.WriteNumber("size", fixedSchema.Size);
                json.WriteEndObject();
                return;
            case ArraySchema array:
                json.WriteStartObject();
                json.WriteString("type", "array");
                json.WritePropertyName("items");
                Write(json, array.ItemSchema, defined);
                json.WriteEndObject();
                return;
            case MapSchema map:
                json.WriteStartObject();
                json.WriteString("type", "map");
                json.WritePropertyName("values");
                Write(json, map.ValueSchema, defined);
                json.WriteEndObject();
                return;
            case UnionSchema union:
                json.WriteStartArray();
                foreach (var branch in union.Schemas)
                {
                    Write(json, branch, defined);
                }

                json.WriteEndArray();
                return;
            default:
                json.WriteStringValue(schema.Name);
                return;
        }
    }

    private static void WriteIntProperty(Utf8JsonWriter json, Schema schema, string name)
    {
        var value = schema.GetProperty(name);
        if (value is not null && int.TryParse(value, NumberStyles.Integer, CultureInfo.InvariantCulture, out var number))
        {
            json.WriteNumber(name, number);
        }
    }
}
