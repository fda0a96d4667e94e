using System.Text.Json.Nodes;

namespace DataMesh.Pipelines.Transforms;

/// <summary>Builds derived Avro schemas as JSON: fields are taken from the input schema with their types expanded, and named types are defined once.</summary>
internal static class SchemaJson
{
    /// <summary>The JSON of each field of <paramref name="record"/> (name, type, default, properties), with its type fully expanded.</summary>
    public static JsonObject[] Fields(global::Avro.RecordSchema record)
    {
        var root = JsonNode.Parse(record.ToString())!.AsObject();
        var fields = root["fields"]!.AsArray();
        var result = new JsonObject[record.Fields.Count];
        for (var i = 0; i < result.Length; i++)
        {
            var field = fields[i]!.DeepClone().AsObject();
            field["type"] = Type(record.Fields[i].Schema);
            result[i] = field;
        }

        return result;
    }

    /// <summary>The JSON of <paramref name="schema"/>, with every named type defined in place.</summary>
    public static JsonNode Type(global::Avro.Schema schema) => JsonNode.Parse(schema.ToString())!;

    /// <summary>A field object.</summary>
    public static JsonObject Field(string name, JsonNode type, bool nullDefault = false)
    {
        var field = new JsonObject { ["name"] = name, ["type"] = type };
        if (nullDefault)
        {
            field["default"] = null;
        }

        return field;
    }

    /// <summary>The nullable form <c>["null", type]</c> of a type, or the type when it is already a union with null.</summary>
    public static JsonNode Nullable(JsonNode type)
    {
        if (type is JsonArray union)
        {
            if (union.Any(b => b is JsonValue v && v.TryGetValue<string>(out var s) && s == "null"))
            {
                return union;
            }

            var copy = new JsonArray { "null" };
            foreach (var branch in union)
            {
                copy.Add(branch?.DeepClone());
            }

            return copy;
        }

        return new JsonArray { "null", type };
    }

    /// <summary>A record with the name and namespace of <paramref name="like"/> and the given fields, parsed by Apache.Avro.</summary>
    public static global::Avro.RecordSchema Record(global::Avro.RecordSchema like, IEnumerable<JsonObject> fields) =>
        Parse(RecordJson(like, fields));

    /// <summary>A record's JSON with the name and namespace of <paramref name="like"/> and the given fields.</summary>
    public static JsonObject RecordJson(global::Avro.RecordSchema like, IEnumerable<JsonObject> fields)
    {
        var array = new JsonArray();
        foreach (var field in fields)
        {
            array.Add(field.DeepClone());
        }

        var record = new JsonObject { ["type"] = "record", ["name"] = like.Name };
        if (!string.IsNullOrEmpty(like.Namespace))
        {
            record["namespace"] = like.Namespace;
        }

        record["fields"] = array;
        return record;
    }

    /// <summary>An envelope like <paramref name="envelope"/> whose <c>before</c> and <c>after</c> hold <paramref name="row"/>.</summary>
    public static global::Avro.RecordSchema Envelope(global::Avro.RecordSchema envelope, EnvelopeShape shape, JsonObject row)
    {
        var root = JsonNode.Parse(envelope.ToString())!.AsObject();
        var fields = root["fields"]!.AsArray();
        fields[shape.Before]!["type"] = new JsonArray { "null", row.DeepClone() };
        fields[shape.After]!["type"] = new JsonArray { "null", row.DeepClone() };
        return Parse(root);
    }

    /// <summary>Parses a schema after replacing every repeated definition of a named type by its full name.</summary>
    public static global::Avro.RecordSchema Parse(JsonNode schema)
    {
        var defined = new HashSet<string>(StringComparer.Ordinal);
        var deduplicated = Deduplicate(schema.DeepClone(), null, defined)!;
        try
        {
            return (global::Avro.RecordSchema)global::Avro.Schema.Parse(deduplicated.ToJsonString());
        }
        catch (global::Avro.AvroException e)
        {
            throw new TransformPlanException($"The derived schema is not valid Avro: {e.Message}", e);
        }
    }

    private static JsonNode? Deduplicate(JsonNode? node, string? enclosingNamespace, HashSet<string> defined)
    {
        switch (node)
        {
            case JsonArray array:
                for (var i = 0; i < array.Count; i++)
                {
                    var replaced = Deduplicate(array[i], enclosingNamespace, defined);
                    if (!ReferenceEquals(replaced, array[i]))
                    {
                        array[i] = replaced;
                    }
                }

                return array;
            case JsonObject obj:
            {
                var type = obj["type"] is JsonValue t && t.TryGetValue<string>(out var s) ? s : null;
                var ns = enclosingNamespace;
                if (type is "record" or "error" or "enum" or "fixed" && obj["name"] is JsonValue n && n.TryGetValue<string>(out var name))
                {
                    ns = name.Contains('.', StringComparison.Ordinal) ? name[..name.LastIndexOf('.')] : obj["namespace"]?.GetValue<string>() ?? enclosingNamespace;
                    var fullName = name.Contains('.', StringComparison.Ordinal) || string.IsNullOrEmpty(ns) ? name : ns + "." + name;
                    if (!defined.Add(fullName))
                    {
                        return JsonValue.Create(fullName);
                    }
                }

                if (obj["fields"] is JsonArray fields)
                {
                    foreach (var field in fields.OfType<JsonObject>())
                    {
                        var replaced = Deduplicate(field["type"], ns, defined);
                        if (!ReferenceEquals(replaced, field["type"]))
                        {
                            field["type"] = replaced;
                        }
                    }
                }

                foreach (var key in (string[])["items", "values"])
                {
                    if (obj[key] is { } child)
                    {
                        var replaced = Deduplicate(child, ns, defined);
                        if (!ReferenceEquals(replaced, child))
                        {
                            obj[key] = replaced;
                        }
                    }
                }

                if (obj["type"] is JsonObject or JsonArray)
                {
                    var replaced = Deduplicate(obj["type"], ns, defined);
                    if (!ReferenceEquals(replaced, obj["type"]))
                    {
                        obj["type"] = replaced;
                    }
                }

                return obj;
            }

            default:
                return node;
        }
    }
}
