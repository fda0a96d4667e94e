using System.Buffers;
using System.Runtime.CompilerServices;
using System.Text.Json.Nodes;
using DataMesh.Avro;

namespace DataMesh.Pipelines.Transforms;

/// <summary>One output field of a row: its schema JSON and how its bytes are made.</summary>
internal readonly record struct OutputField(JsonObject Json, FieldOp Op);

/// <summary>
/// A transform that rewrites rows field by field (project, rename, mask, cast, add a field). On a change-event
/// envelope it rewrites the row in <c>before</c> and in <c>after</c> and copies the rest; on a flat record it rewrites
/// the record.
/// </summary>
internal abstract class RowTransform : Transform
{
    /// <summary>Plans the output fields of <paramref name="row"/>; <paramref name="envelope"/> is the enclosing envelope, or null for a flat record.</summary>
    protected abstract List<OutputField> PlanRow(global::Avro.RecordSchema row, global::Avro.RecordSchema? envelope);

    public sealed override PlannedTransform Plan(global::Avro.RecordSchema input)
    {
        ArgumentNullException.ThrowIfNull(input);
        var shape = EnvelopeShape.Detect(input);
        var row = shape?.Row ?? input;
        var fields = PlanRow(row, shape is null ? null : input);
        var names = new HashSet<string>(StringComparer.Ordinal);
        foreach (var field in fields)
        {
            var name = field.Json["name"]!.GetValue<string>();
            if (!names.Add(name))
            {
                throw new TransformPlanException($"{Name}: the output would have two fields named '{name}'.");
            }
        }

        var rowJson = SchemaJson.RecordJson(row, fields.Select(f => f.Json));
        var output = shape is null ? SchemaJson.Parse(rowJson) : SchemaJson.Envelope(input, shape, rowJson);
        return new PlannedRowTransform(this, input, output, shape, AvroSchemaPlan.Compile(input), new FieldRangeFinder(row), [.. fields.Select(f => f.Op)]);
    }

    /// <summary>Joins copies of adjacent input fields into one copy of their bytes.</summary>
    internal static FieldOp[] Coalesce(IEnumerable<FieldOp> ops)
    {
        var result = new List<FieldOp>();
        foreach (var op in ops)
        {
            if (op is CopyOp copy && result.Count > 0 && result[^1] is CopyOp previous && previous.Last + 1 == copy.First)
            {
                result[^1] = new CopyOp(previous.First, copy.Last);
            }
            else
            {
                result.Add(op);
            }
        }

        return [.. result];
    }

    /// <summary>The output field that copies input field <paramref name="field"/> unchanged.</summary>
    protected static OutputField Copy(global::Avro.Field field, JsonObject json) => new(json, new CopyOp(field.Pos, field.Pos));
}

/// <summary>A planned <see cref="RowTransform"/>.</summary>
internal sealed class PlannedRowTransform : PlannedTransform
{
    private readonly EnvelopeShape? _shape;
    private readonly AvroSchemaPlan _inputPlan;
    private readonly FieldRangeFinder _rowPlan;
    private readonly FieldOp[] _fieldOps;
    private readonly FieldOp[] _ops;
    private readonly bool _readsEnvelope;

    /// <summary>Creates a plan; <paramref name="fieldOps"/> holds one op per output field, in order.</summary>
    public PlannedRowTransform(Transform transform, global::Avro.RecordSchema input, global::Avro.RecordSchema output, EnvelopeShape? shape, AvroSchemaPlan inputPlan, FieldRangeFinder rowPlan, FieldOp[] fieldOps)
        : base(transform, input, output)
    {
        _shape = shape;
        _inputPlan = inputPlan;
        _rowPlan = rowPlan;
        _fieldOps = fieldOps;
        _ops = RowTransform.Coalesce(fieldOps);
        _readsEnvelope = fieldOps.Any(op => op is EnvelopeValueOp);
    }

    /// <summary>
    /// Fuses this plan with <paramref name="next"/>, which reads this plan's output, into one plan that reads this plan's
    /// input once: copies are followed back to the field they copy, so that no intermediate record is written. Returns null
    /// when two ops that change a value would have to be chained (a cast of a masked field).
    /// </summary>
    public PlannedRowTransform? FuseWith(PlannedRowTransform next, Transform fused)
    {
        if ((_shape is null) != (next._shape is null))
        {
            return null;
        }

        var ops = new FieldOp[next._fieldOps.Length];
        for (var i = 0; i < ops.Length; i++)
        {
            var op = next._fieldOps[i];
            if (op is CopyOp copy)
            {
                ops[i] = _fieldOps[copy.First];
            }
            else if (op.Input < 0)
            {
                ops[i] = op;
            }
            else if (_fieldOps[op.Input] is CopyOp source)
            {
                ops[i] = op.Rebase(source.First);
            }
            else
            {
                return null;
            }
        }

        return new PlannedRowTransform(fused, InputSchema, next.OutputSchema, _shape, _inputPlan, _rowPlan, ops);
    }

    /// <summary>The range finder of the row; a chain shares it with a filter before this rewrite (see <see cref="SharedImages"/>).</summary>
    internal FieldRangeFinder RowPlan => _rowPlan;

    /// <summary>The envelope's shape when the rewrite can take its row ranges from a <see cref="SharedImages"/>: the contract's layout, no envelope values read.</summary>
    internal EnvelopeShape? SharedShape => _shape is not null && _shape.Before == 0 && _shape.After == 1 && !_readsEnvelope ? _shape : null;

    public override TransformOutcome Execute(ReadOnlySpan<byte> input, IBufferWriter<byte> output, ref RecordContext context) => Execute(input, output, ref context, default);

    /// <summary>Runs the rewrite, taking the rows' field ranges from <paramref name="images"/> where a filter recorded them.</summary>
    [SkipLocalsInit]
    public TransformOutcome Execute(ReadOnlySpan<byte> input, IBufferWriter<byte> output, ref RecordContext context, scoped SharedImages images)
    {
        var writer = new AvroWriter(output);
        if (_shape is null)
        {
            WriteRow(ref writer, input, default);
        }
        else if (_shape.Before == 0 && _shape.After == 1 && !_readsEnvelope)
        {
            // The contract's layout: before, after, then the rest, which is copied without being walked.
            int position;
            if (images.IsActive && images.State(0) != SharedImages.Unknown && images.State(1) != SharedImages.Unknown)
            {
                position = WriteSharedImage(ref writer, input, images, 0, 0);
                position = WriteSharedImage(ref writer, input, images, 1, position);
            }
            else
            {
                position = WriteImage(ref writer, input, 0, _shape.BeforeRowBranch, default);
                position += WriteImage(ref writer, input[position..], 0, _shape.AfterRowBranch, default);
            }

            writer.WriteRaw(input[position..]);
        }
        else
        {
            Span<Range> top = stackalloc Range[_inputPlan.FieldCount];
            _inputPlan.GetFieldRanges(input, top);
            var envelope = new EnvelopeView(input, top);
            for (var i = 0; i < top.Length; i++)
            {
                if (i == _shape.Before || i == _shape.After)
                {
                    WriteImage(ref writer, input[top[i]], 0, i == _shape.Before ? _shape.BeforeRowBranch : _shape.AfterRowBranch, envelope);
                }
                else
                {
                    writer.WriteRaw(input[top[i]]);
                }
            }
        }

        writer.Flush();
        return TransformOutcome.Emit;
    }

    /// <summary>Writes one image whose ranges a filter recorded; returns where the input image ends.</summary>
    private int WriteSharedImage(ref AvroWriter writer, scoped ReadOnlySpan<byte> input, scoped SharedImages images, int slot, int imageStart)
    {
        if (images.State(slot) == SharedImages.Null)
        {
            // Recorded only for the one-byte union index.
            writer.WriteUnionIndex(0);
            return imageStart + 1;
        }

        writer.WriteUnionIndex(1);
        var start = images.Start(slot);
        var row = input.Slice(start, images.Length(slot));
        ReadOnlySpan<Range> ranges = images.Ranges(slot);
        foreach (var op in _ops)
        {
            op.Write(ref writer, row, ranges, default);
        }

        return start + row.Length;
    }

    /// <summary>Writes one image (a union of null and the row) as <c>["null", row]</c>; returns the length of the input image.</summary>
    private int WriteImage(ref AvroWriter writer, scoped ReadOnlySpan<byte> image, int start, int rowBranch, scoped EnvelopeView envelope)
    {
        var reader = new AvroReader(image[start..]);
        if (reader.ReadUnionIndex(2) != rowBranch)
        {
            writer.WriteUnionIndex(0);
            return reader.Position;
        }

        writer.WriteUnionIndex(1);
        return reader.Position + WriteRow(ref writer, image[(start + reader.Position)..], envelope);
    }

    /// <summary>Writes the output row; returns the length of the input row.</summary>
    [SkipLocalsInit]
    private int WriteRow(ref AvroWriter writer, scoped ReadOnlySpan<byte> row, scoped EnvelopeView envelope)
    {
        var rented = RangeBuffer.RentIfLarge(_rowPlan.FieldCount);
        Span<Range> ranges = rented is null ? stackalloc Range[RangeBuffer.StackLimit] : rented;
        try
        {
            var length = _rowPlan.GetFieldRanges(row, ranges);
            foreach (var op in _ops)
            {
                op.Write(ref writer, row, ranges, envelope);
            }

            return length;
        }
        finally
        {
            RangeBuffer.Return(rented);
        }
    }
}
