using System.Buffers;
using System.Text.Json.Nodes;
using DataMesh.Avro;

namespace DataMesh.Pipelines.Transforms;

/// <summary>What unwrap makes of a delete (an envelope without an after-image).</summary>
public enum DeleteHandling
{
    /// <summary>A tombstone: a null value with the record's key, so that compacted topics and upserting sinks delete the row.</summary>
    Tombstone,

    /// <summary>Nothing: deletes are filtered out.</summary>
    Drop,

    /// <summary>The before-image with <c>__deleted</c> = true; other records carry <c>__deleted</c> = false.</summary>
    Rewrite,
}

/// <summary>
/// Replaces a change-event envelope by its flat after-image, like Debezium's ExtractNewRecordState. Records with neither
/// image (truncates) are dropped.
/// </summary>
internal sealed class UnwrapTransform(DeleteHandling deletes) : Transform
{
    /// <summary>The field that <see cref="DeleteHandling.Rewrite"/> adds.</summary>
    public const string DeletedField = "__deleted";

    public override string Name => "unwrap(deletes: " + deletes.ToString().ToLowerInvariant() + ")";

    public override PlannedTransform Plan(global::Avro.RecordSchema input)
    {
        ArgumentNullException.ThrowIfNull(input);
        var shape = EnvelopeShape.Detect(input) ?? throw new TransformPlanException(
            $"{Name}: the record {input.Fullname} is not a change-event envelope (before, after, op), so there is nothing to unwrap.");
        var fields = SchemaJson.Fields(shape.Row).ToList();
        if (deletes == DeleteHandling.Rewrite)
        {
            if (shape.Row.TryGetField(DeletedField, out _))
            {
                throw new TransformPlanException($"{Name}: the row already has a field '{DeletedField}'.");
            }

            fields.Add(new JsonObject { ["name"] = DeletedField, ["type"] = "boolean", ["default"] = false });
        }

        var output = SchemaJson.Record(shape.Row, fields);
        return new PlannedUnwrap(this, input, output, shape, new FieldRangeFinder(input), deletes);
    }
}

/// <summary>A planned unwrap.</summary>
internal sealed class PlannedUnwrap(Transform transform, global::Avro.RecordSchema input, global::Avro.RecordSchema output, EnvelopeShape shape, FieldRangeFinder plan, DeleteHandling deletes)
    : PlannedTransform(transform, input, output)
{
    public override TransformOutcome Execute(ReadOnlySpan<byte> input, IBufferWriter<byte> output, ref RecordContext context)
    {
        Span<Range> top = stackalloc Range[plan.FieldCount];
        plan.GetFieldRanges(input, top, Math.Max(shape.Op, Math.Max(shape.Before, shape.After)) + 1);
        if (TryImage(input[top[shape.After]], shape.AfterRowBranch, out var after))
        {
            return Write(output, after, deleted: false);
        }

        if (deletes == DeleteHandling.Rewrite && TryImage(input[top[shape.Before]], shape.BeforeRowBranch, out var before))
        {
            return Write(output, before, deleted: true);
        }

        var isDelete = input[top[shape.Op]].SequenceEqual("\u0002d"u8);
        return isDelete && deletes == DeleteHandling.Tombstone ? TransformOutcome.Tombstone : TransformOutcome.Drop;
    }

    private TransformOutcome Write(IBufferWriter<byte> output, ReadOnlySpan<byte> row, bool deleted)
    {
        var writer = new AvroWriter(output);
        writer.WriteRaw(row);
        if (deletes == DeleteHandling.Rewrite)
        {
            writer.WriteBoolean(deleted);
        }

        writer.Flush();
        return TransformOutcome.Emit;
    }

    private static bool TryImage(ReadOnlySpan<byte> encoded, int rowBranch, out ReadOnlySpan<byte> row)
    {
        var reader = new AvroReader(encoded);
        if (reader.ReadUnionIndex(2) != rowBranch)
        {
            row = default;
            return false;
        }

        row = encoded[reader.Position..];
        return true;
    }
}
