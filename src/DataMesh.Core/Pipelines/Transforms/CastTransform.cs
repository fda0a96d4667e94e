using System.Text.Json.Nodes;

namespace DataMesh.Pipelines.Transforms;

/// <summary>The types a cast converts to.</summary>
public enum CastType
{
    /// <summary>Avro <c>int</c>; from long (checked) or a decimal-integer string.</summary>
    Int,

    /// <summary>Avro <c>long</c>; from int or a decimal-integer string.</summary>
    Long,

    /// <summary>Avro <c>float</c>; from int, long or double.</summary>
    Float,

    /// <summary>Avro <c>double</c>; from int, long, float, decimal or a number string.</summary>
    Double,

    /// <summary>Avro <c>string</c>; from int, long, float, double, decimal, boolean (invariant culture).</summary>
    String,

    /// <summary>Avro <c>boolean</c>; from the strings <c>true</c> and <c>false</c>.</summary>
    Boolean,
}

/// <summary>Converts fields to another primitive type; a logical type (timestamp, date) is cast as its underlying number.</summary>
internal sealed class CastTransform(IReadOnlyList<KeyValuePair<string, CastType>> casts) : RowTransform
{
    public override string Name => "cast(" + string.Join(", ", casts.Select(c => c.Key + " as " + c.Value.ToString().ToLowerInvariant())) + ")";

    protected override List<OutputField> PlanRow(global::Avro.RecordSchema row, global::Avro.RecordSchema? envelope)
    {
        var json = SchemaJson.Fields(row);
        var cast = new Dictionary<int, OutputField>();
        foreach (var (name, type) in casts)
        {
            var field = Layouts.Require(row, name, Name);
            var layout = Layouts.Of(field.Schema);
            var target = type switch
            {
                CastType.Int => ValueKind.Int,
                CastType.Long => ValueKind.Long,
                CastType.Float => ValueKind.Float,
                CastType.Double => ValueKind.Double,
                CastType.String => ValueKind.String,
                _ => ValueKind.Boolean,
            };
            if (!Supported(layout.Kind, target))
            {
                throw new TransformPlanException($"{Name}: field '{field.Name}' of type {Names.Kind(layout.Kind)} cannot be cast to {Names.Kind(target)}.");
            }

            var fieldJson = json[field.Pos];
            var typeName = Names.Kind(target);
            fieldJson["type"] = layout.IsNullable ? new JsonArray { "null", typeName } : typeName;
            fieldJson.Remove("default");
            if (layout.IsNullable)
            {
                fieldJson["default"] = null;
            }

            cast[field.Pos] = new OutputField(fieldJson, new CastOp(field.Pos, layout, target, field.Name));
        }

        return row.Fields.Select(f => cast.TryGetValue(f.Pos, out var c) ? c : Copy(f, json[f.Pos])).ToList();
    }

    private static bool Supported(ValueKind from, ValueKind to) => from switch
    {
        ValueKind.Int or ValueKind.Long => to is ValueKind.Int or ValueKind.Long or ValueKind.Float or ValueKind.Double or ValueKind.String,
        ValueKind.Float or ValueKind.Double => to is ValueKind.Float or ValueKind.Double or ValueKind.String,
        ValueKind.Decimal => to is ValueKind.Double or ValueKind.String,
        ValueKind.Boolean => to is ValueKind.String,
        ValueKind.String => to is ValueKind.Int or ValueKind.Long or ValueKind.Double or ValueKind.Boolean or ValueKind.String,
        _ => false,
    };
}
