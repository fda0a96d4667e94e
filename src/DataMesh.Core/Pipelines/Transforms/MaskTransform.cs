using System.Text;
using System.Text.Json.Nodes;

namespace DataMesh.Pipelines.Transforms;

/// <summary>Masks personal data: redacts fields, or replaces them with a keyed hash.</summary>
internal sealed class MaskTransform(IReadOnlyList<string> fields, MaskOptions options) : RowTransform
{
    /// <summary>The masked fields, as named at this transform's place in its chain.</summary>
    internal IReadOnlyList<string> Fields => fields;

    /// <summary>How the fields are masked.</summary>
    internal MaskOptions Options => options;

    public override string Name => (options.Mode == MaskMode.Hash ? "mask-hash(" : "mask-redact(") + string.Join(", ", fields) + ")";

    protected override List<OutputField> PlanRow(global::Avro.RecordSchema row, global::Avro.RecordSchema? envelope)
    {
        var json = SchemaJson.Fields(row);
        var masked = new Dictionary<int, OutputField>();
        foreach (var name in fields)
        {
            var field = Layouts.Require(row, name, Name);
            var layout = Layouts.Of(field.Schema);
            var fieldJson = json[field.Pos];
            fieldJson.Remove(Events.ChangeEventSchemas.DatabaseTypeProperty);
            if (options.Mode == MaskMode.Hash)
            {
                if (layout.Kind == ValueKind.Other && field.Schema is global::Avro.UnionSchema)
                {
                    throw new TransformPlanException($"{Name}: field '{field.Name}' is a union of several types; only a type or a union of null and one type can be hashed.");
                }

                fieldJson["type"] = layout.IsNullable ? new JsonArray { "null", "string" } : "string";
                SetNullDefault(fieldJson, layout.IsNullable);
                masked[field.Pos] = new OutputField(fieldJson, new HashOp(field.Pos, layout, new KeyedHash(options.HashKey!.Value.Span), options.HashFormat == HashFormat.Base64));
            }
            else if (layout.Kind == ValueKind.String)
            {
                var stringType = layout.IsNullable ? new JsonArray { "null", "string" } : (JsonNode)"string";
                fieldJson["type"] = stringType;
                SetNullDefault(fieldJson, layout.IsNullable);
                masked[field.Pos] = new OutputField(fieldJson, new RedactOp(field.Pos, layout, Encoding.UTF8.GetBytes(options.Replacement)));
            }
            else if (layout.IsNullable)
            {
                masked[field.Pos] = new OutputField(fieldJson, new RedactOp(field.Pos, layout, null));
            }
            else
            {
                throw new TransformPlanException($"{Name}: field '{field.Name}' is a non-null {field.Schema.Tag}; redaction replaces strings with '{options.Replacement}' and other values with null, so it needs a string or a nullable field (or use a keyed hash).");
            }
        }

        return row.Fields.Select(f => masked.TryGetValue(f.Pos, out var m) ? m : Copy(f, json[f.Pos])).ToList();
    }

    private static void SetNullDefault(JsonObject field, bool nullable)
    {
        field.Remove("default");
        if (nullable)
        {
            field["default"] = null;
        }
    }
}
