namespace DataMesh.Schemas;

/// <summary>One reason why a schema is not compatible with an earlier version of its subject.</summary>
/// <param name="Version">The earlier version the problem is with.</param>
/// <param name="Direction">
/// <see cref="CompatibilityLevel.Backward"/> when the new schema cannot read that version's data,
/// <see cref="CompatibilityLevel.Forward"/> when that version cannot read the new schema's data.
/// </param>
/// <param name="Path">
/// The field, dot-separated from the top-level record (<c>after.total</c>); <c>[]</c> stands for array items and
/// <c>{}</c> for map values; empty for the schema as a whole.
/// </param>
/// <param name="Message">What breaks which rule, e.g. "field 'after.total' was added without a default".</param>
public sealed record SchemaCompatibilityProblem(int Version, CompatibilityLevel Direction, string Path, string Message)
{
    /// <inheritdoc />
    public override string ToString() => Message;
}
