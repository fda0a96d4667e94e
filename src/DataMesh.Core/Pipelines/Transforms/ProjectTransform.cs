namespace DataMesh.Pipelines.Transforms;

/// <summary>Keeps only the listed fields (in the order given), or drops the listed fields.</summary>
internal sealed class ProjectTransform(IReadOnlyList<string> fields, bool keep) : RowTransform
{
    public override string Name => (keep ? "keep(" : "drop(") + string.Join(", ", fields) + ")";

    protected override List<OutputField> PlanRow(global::Avro.RecordSchema row, global::Avro.RecordSchema? envelope)
    {
        var json = SchemaJson.Fields(row);
        var named = fields.Select(f => Layouts.Require(row, f, Name)).ToList();
        if (keep)
        {
            return named.Select(f => Copy(f, json[f.Pos])).ToList();
        }

        var dropped = named.Select(f => f.Pos).ToHashSet();
        return row.Fields.Where(f => !dropped.Contains(f.Pos)).Select(f => Copy(f, json[f.Pos])).ToList();
    }
}
