namespace DataMesh.Pipelines.Transforms;

/// <summary>
/// The positions of a change-event envelope's fields (<c>before</c>, <c>after</c>, <c>source</c>, <c>op</c>), found in
/// a record schema that has the shape <see cref="Events.ChangeEventSchemas"/> builds. Public for sinks in other packages
/// (the table sinks read envelopes directly).
/// </summary>
public sealed class EnvelopeShape
{
    private EnvelopeShape(global::Avro.RecordSchema row, int before, int after, int beforeRowBranch, int afterRowBranch, int source, int op)
    {
        Row = row;
        Before = before;
        After = after;
        BeforeRowBranch = beforeRowBranch;
        AfterRowBranch = afterRowBranch;
        Source = source;
        Op = op;
    }

    /// <summary>The row record of <c>before</c> and <c>after</c>.</summary>
    public global::Avro.RecordSchema Row { get; }

    /// <summary>The position of <c>before</c>.</summary>
    public int Before { get; }

    /// <summary>The position of <c>after</c>.</summary>
    public int After { get; }

    /// <summary>The union branch of <c>before</c> that holds the row (the other is null).</summary>
    public int BeforeRowBranch { get; }

    /// <summary>The union branch of <c>after</c> that holds the row (the other is null).</summary>
    public int AfterRowBranch { get; }

    /// <summary>The position of <c>source</c>, or -1.</summary>
    public int Source { get; }

    /// <summary>The position of <c>op</c>.</summary>
    public int Op { get; }

    /// <summary>Recognises an envelope: <c>before</c> and <c>after</c> are unions of null and the same record, and <c>op</c> is a string.</summary>
    /// <param name="schema">A record schema.</param>
    /// <returns>The shape, or null when the schema is not an envelope.</returns>
    public static EnvelopeShape? Detect(global::Avro.RecordSchema schema)
    {
        if (!schema.TryGetField("before", out var before) || !schema.TryGetField("after", out var after) || !schema.TryGetField("op", out var op)
            || op.Schema.Tag != global::Avro.Schema.Type.String)
        {
            return null;
        }

        if (RowOf(before.Schema, out var beforeBranch) is not { } beforeRow || RowOf(after.Schema, out var afterBranch) is not { } afterRow
            || !string.Equals(beforeRow.Fullname, afterRow.Fullname, StringComparison.Ordinal))
        {
            return null;
        }

        var source = schema.TryGetField("source", out var s) && s.Schema is global::Avro.RecordSchema ? s.Pos : -1;
        return new EnvelopeShape(afterRow, before.Pos, after.Pos, beforeBranch, afterBranch, source, op.Pos);
    }

    private static global::Avro.RecordSchema? RowOf(global::Avro.Schema schema, out int branch)
    {
        branch = -1;
        if (schema is not global::Avro.UnionSchema { Count: 2 } union)
        {
            return null;
        }

        for (var i = 0; i < 2; i++)
        {
            if (union[i] is global::Avro.RecordSchema record && union[1 - i].Tag == global::Avro.Schema.Type.Null)
            {
                branch = i;
                return record;
            }
        }

        return null;
    }
}
