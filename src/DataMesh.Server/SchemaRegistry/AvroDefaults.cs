using Newtonsoft.Json.Linq;

namespace DataMesh.Server.SchemaRegistry;

/// <summary>
/// Checks the field defaults of a schema against their fields' types, as Apache Avro's Java parser does when it validates
/// defaults (the Confluent registry refuses such a schema with 42201; a Java client could not parse it). A union's default
/// may match any of its branches, as Avro 1.11 takes it; logical types are checked as their underlying type.
/// </summary>
internal static class AvroDefaults
{
    /// <summary>The first field whose default does not fit its type, as a reason; null when every default fits.</summary>
    public static string? Problem(global::Avro.Schema schema) => Problem(schema, new HashSet<string>(StringComparer.Ordinal));

    private static string? Problem(global::Avro.Schema schema, HashSet<string> visited)
    {
        switch (schema)
        {
            case global::Avro.RecordSchema record when visited.Add(record.Fullname):
                foreach (var field in record.Fields)
                {
                    if (field.DefaultValue is { } value && !Fits(field.Schema, value))
                    {
                        return $"the default {Shorten(value)} of field '{field.Name}' of {record.Fullname} is not a value of its type {field.Schema.Fullname}";
                    }

                    if (Problem(field.Schema, visited) is { } inner)
                    {
                        return inner;
                    }
                }

                return null;
            case global::Avro.ArraySchema array:
                return Problem(array.ItemSchema, visited);
            case global::Avro.MapSchema map:
                return Problem(map.ValueSchema, visited);
            case global::Avro.UnionSchema union:
                return union.Schemas.Select(s => Problem(s, visited)).FirstOrDefault(p => p is not null);
            default:
                return null;
        }
    }

    private static bool Fits(global::Avro.Schema schema, JToken value)
    {
        if (schema is global::Avro.LogicalSchema logical)
        {
            return Fits(logical.BaseSchema, value);
        }

        return schema.Tag switch
        {
            global::Avro.Schema.Type.Null => value.Type == JTokenType.Null,
            global::Avro.Schema.Type.Boolean => value.Type == JTokenType.Boolean,
            global::Avro.Schema.Type.Int => value is JValue { Value: long n } && n is >= int.MinValue and <= int.MaxValue,
            global::Avro.Schema.Type.Long => value is JValue { Value: long }, // a larger integer is a BigInteger
            global::Avro.Schema.Type.Float or global::Avro.Schema.Type.Double =>
                value.Type is JTokenType.Integer or JTokenType.Float || (value.Type == JTokenType.String && value.Value<string>() is "NaN" or "Infinity" or "-Infinity"),
            global::Avro.Schema.Type.String or global::Avro.Schema.Type.Bytes or global::Avro.Schema.Type.Fixed => value.Type == JTokenType.String,
            global::Avro.Schema.Type.Enumeration => value.Type == JTokenType.String && ((global::Avro.EnumSchema)schema).Symbols.Contains(value.Value<string>()!),
            global::Avro.Schema.Type.Array => value is JArray items && items.All(i => Fits(((global::Avro.ArraySchema)schema).ItemSchema, i)),
            global::Avro.Schema.Type.Map => value is JObject entries && entries.Properties().All(p => Fits(((global::Avro.MapSchema)schema).ValueSchema, p.Value)),
            global::Avro.Schema.Type.Record or global::Avro.Schema.Type.Error => value is JObject fields && ((global::Avro.RecordSchema)schema).Fields.All(f =>
                fields.TryGetValue(f.Name, out var given) ? Fits(f.Schema, given) : f.DefaultValue is not null),
            global::Avro.Schema.Type.Union => ((global::Avro.UnionSchema)schema).Schemas.Any(s => Fits(s, value)),
            _ => true,
        };
    }

    private static string Shorten(JToken value)
    {
        var text = value.ToString(Newtonsoft.Json.Formatting.None);
        return text.Length > 60 ? text[..60] + "..." : text;
    }
}
