using DataMesh.Events;

namespace DataMesh.Pipelines.Transforms;

/// <summary>Renames fields; the values are untouched, and a renamed field loses its original-column-name property.</summary>
internal sealed class RenameTransform(IReadOnlyList<KeyValuePair<string, string>> renames) : RowTransform
{
    /// <summary>The renames, old name to new name, in order.</summary>
    internal IReadOnlyList<KeyValuePair<string, string>> Renames => renames;

    public override string Name => "rename(" + string.Join(", ", renames.Select(r => r.Key + " -> " + r.Value)) + ")";

    protected override List<OutputField> PlanRow(global::Avro.RecordSchema row, global::Avro.RecordSchema? envelope)
    {
        var json = SchemaJson.Fields(row);
        foreach (var (from, to) in renames)
        {
            if (!AvroNames.IsValid(to))
            {
                throw new TransformPlanException($"{Name}: '{to}' is not a valid Avro field name (letters, digits and _, not starting with a digit).");
            }

            var field = Layouts.Require(row, from, Name);
            json[field.Pos]["name"] = to;
            json[field.Pos].Remove(AvroNames.OriginalNameProperty);
        }

        return row.Fields.Select(f => Copy(f, json[f.Pos])).ToList();
    }
}
