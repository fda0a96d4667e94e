using System.Buffers;
using System.Runtime.CompilerServices;
using DataMesh.Avro;

namespace DataMesh.Pipelines.Transforms;

/// <summary>An ordered list of transforms, planned together per input schema into a <see cref="PlannedChain"/>.</summary>
public sealed class TransformChain
{
    /// <summary>Creates a chain.</summary>
    /// <param name="transforms">The transforms, in the order they run; may be empty (records pass unchanged).</param>
    /// <exception cref="ArgumentException">A transform follows the outbox router, which must be the last; or a route names topics
    /// after a column that a mask after it masks (the topic names would carry the values in clear).</exception>
    public TransformChain(IEnumerable<Transform> transforms)
    {
        ArgumentNullException.ThrowIfNull(transforms);
        Transforms = [.. transforms];
        for (var i = 0; i < Transforms.Count; i++)
        {
            ArgumentNullException.ThrowIfNull(Transforms[i], nameof(transforms));
            if (i < Transforms.Count - 1 && Transforms[i].EmitsRawRecords)
            {
                throw new ArgumentException(AfterRawMessage(i), nameof(transforms));
            }
        }

        EmitsRawRecords = Transforms.Count > 0 && Transforms[^1].EmitsRawRecords;
        MaskedColumns = MaskLineage.Trace(Transforms);
    }

    /// <summary>The transforms, in order.</summary>
    public IReadOnlyList<Transform> Transforms { get; }

    /// <summary>
    /// Whether the chain ends with the outbox router, so that every record it emits is raw: [framed value][key][headers
    /// JSON] described by <see cref="RecordContext.IsRaw"/> and its lengths, with its own schema id and its topic in
    /// <see cref="RecordContext.Topic"/>. Known before planning, so that the runtime can set itself up (no output schema
    /// to register, no default target needed).
    /// </summary>
    internal bool EmitsRawRecords { get; }

    /// <summary>The columns of the records entering the chain that its masks mask (empty without masks): the runtime masks them in keys and dead letters too.</summary>
    internal IReadOnlyList<MaskedColumn> MaskedColumns { get; }

    /// <summary>Plans every transform in turn, each for the output schema of the one before.</summary>
    /// <param name="input">The schema of the records entering the chain.</param>
    /// <returns>The planned chain.</returns>
    /// <exception cref="TransformPlanException">A transform does not apply (its message names it).</exception>
    /// <exception cref="Filtering.FilterExpressionException">A filter names a missing field or compares with the wrong type.</exception>
    public PlannedChain Plan(global::Avro.RecordSchema input)
    {
        ArgumentNullException.ThrowIfNull(input);
        var stages = new List<PlannedTransform>(Transforms.Count);
        var schema = input;
        for (var i = 0; i < Transforms.Count; i++)
        {
            var transform = Transforms[i];
            if (i < Transforms.Count - 1 && transform.EmitsRawRecords)
            {
                // The constructor refuses such a chain already; kept here so that planning never runs a stage on raw bytes.
                throw new TransformPlanException(AfterRawMessage(i));
            }

            var planned = transform.Plan(schema);
            schema = planned.OutputSchema;

            // Adjacent row rewrites (project, rename, mask, cast, add) become one pass over the record.
            if (stages.Count > 0 && stages[^1] is PlannedRowTransform previous && planned is PlannedRowTransform next
                && previous.FuseWith(next, new FusedTransform(previous.Transform, next.Transform)) is { } fused)
            {
                stages[^1] = fused;
            }
            else
            {
                stages.Add(planned);
            }
        }

        return new PlannedChain(input, schema, stages);
    }

    private string AfterRawMessage(int index) =>
        $"{Transforms[index].Name} must be the last transform of a chain: it emits complete records (value, key, headers and topic of the outbox row), "
        + $"which no transform can read; move '{Transforms[index + 1].Name}' before it.";
}

/// <summary>Row rewrites fused into one plan; its name lists them.</summary>
internal sealed class FusedTransform(Transform first, Transform second) : Transform
{
    public override string Name => first.Name + " + " + second.Name;

    public override PlannedTransform Plan(global::Avro.RecordSchema input)
    {
        var a = first.Plan(input);
        var b = second.Plan(a.OutputSchema);
        return a is PlannedRowTransform ra && b is PlannedRowTransform rb && ra.FuseWith(rb, this) is { } fused
            ? fused
            : throw new TransformPlanException($"{Name}: the transforms cannot be fused for {input.Fullname}.");
    }
}

/// <summary>
/// A chain planned for one input schema. <see cref="Execute"/> is thread-safe and allocates nothing per record in steady
/// state: intermediate results go to per-thread scratch buffers, and stages that only decide (filter, route) read the
/// bytes in place.
/// </summary>
public sealed class PlannedChain
{
    /// <summary>The most row fields whose ranges a filter shares with the next rewrite (on the stack).</summary>
    private const int MaxSharedFields = 64;

    [ThreadStatic]
    private static ArrayBufferWriter<byte>? s_scratchA;

    [ThreadStatic]
    private static ArrayBufferWriter<byte>? s_scratchB;

    private readonly PlannedTransform[] _stages;
    private readonly int _lastWriter;
    private readonly bool _lastWriterIsLastStage;

    /// <summary>The index of a filter whose next stage is an envelope row rewrite that takes the rows' ranges from it (see <see cref="SharedImages"/>), or -1.</summary>
    private readonly int _shareAt = -1;
    private readonly int _shareNext = -1;
    private readonly EnvelopeShape? _shareShape;
    private readonly FieldRangeFinder? _shareRow;

    internal PlannedChain(global::Avro.RecordSchema input, global::Avro.RecordSchema output, List<PlannedTransform> stages)
    {
        InputSchema = input;
        OutputSchema = output;
        _stages = [.. stages];
        _lastWriter = Array.FindLastIndex(_stages, s => !s.PassesBytesThrough);
        _lastWriterIsLastStage = _lastWriter == _stages.Length - 1;
        EmitsRawRecords = _stages.Length > 0 && _stages[^1].EmitsRawRecords;
        for (var i = 0; i + 1 < _stages.Length; i++)
        {
            if (_stages[i] is PlannedFilter filter && _stages[i + 1] is PlannedRowTransform { SharedShape: { } shape } row
                && ReferenceEquals(filter.InputSchema, row.InputSchema) && row.RowPlan.FieldCount <= MaxSharedFields)
            {
                _shareAt = i;
                _shareNext = i + 1;
                _shareShape = shape;
                _shareRow = row.RowPlan;
                break;
            }
        }
    }

    /// <summary>
    /// Whether the chain ends with the outbox router. Then, when <see cref="Execute"/> returns
    /// <see cref="TransformOutcome.Emit"/>, the context has <see cref="RecordContext.IsRaw"/> set and the output holds
    /// [value in the Confluent wire format, with its own schema id][key][headers JSON] of the lengths in the context;
    /// <see cref="OutputSchema"/> then describes none of it and must not be registered.
    /// </summary>
    internal bool EmitsRawRecords { get; }

    /// <summary>The schema of the records entering the chain.</summary>
    public global::Avro.RecordSchema InputSchema { get; }

    /// <summary>The schema of the records leaving the chain.</summary>
    public global::Avro.RecordSchema OutputSchema { get; }

    /// <summary>The planned stages, in order.</summary>
    public IReadOnlyList<PlannedTransform> Stages => _stages;

    /// <summary>Runs the chain on one record.</summary>
    /// <param name="input">One datum of <see cref="InputSchema"/> (without the Confluent header).</param>
    /// <param name="output">Receives one datum of <see cref="OutputSchema"/> when the outcome is <see cref="TransformOutcome.Emit"/>.</param>
    /// <param name="context">Per-record state (the target topic set by a route).</param>
    /// <returns>What became of the record.</returns>
    /// <exception cref="TransformException">A stage rejected the record; <see cref="TransformException.Stage"/> names it.</exception>
    [SkipLocalsInit]
    public TransformOutcome Execute(ReadOnlySpan<byte> input, IBufferWriter<byte> output, ref RecordContext context)
    {
        ArgumentNullException.ThrowIfNull(output);
        var rowFields = _shareRow?.FieldCount ?? 0;
        Span<Range> rows = _shareAt >= 0 ? stackalloc Range[MaxSharedFields * 2] : default;
        Span<int> info = _shareAt >= 0 ? stackalloc int[6] : default;
        var images = _shareAt >= 0 ? new SharedImages(_shareShape!, _shareRow!, rows[..rowFields], rows.Slice(MaxSharedFields, rowFields), info) : default;
        var current = input;
        var scratch = s_scratchA ??= new ArrayBufferWriter<byte>(4096);
        var spare = s_scratchB ??= new ArrayBufferWriter<byte>(4096);
        for (var i = 0; i < _stages.Length; i++)
        {
            var stage = _stages[i];
            TransformOutcome outcome;
            try
            {
                if (stage is PassThroughTransform decider)
                {
                    outcome = i == _shareAt ? ((PlannedFilter)decider).Decide(current, ref context, images) : decider.Decide(current, ref context);
                }
                else if (i == _lastWriter && _lastWriterIsLastStage)
                {
                    return i == _shareNext ? ((PlannedRowTransform)stage).Execute(current, output, ref context, images) : stage.Execute(current, output, ref context);
                }
                else
                {
                    scratch.ResetWrittenCount();
                    outcome = i == _shareNext ? ((PlannedRowTransform)stage).Execute(current, scratch, ref context, images) : stage.Execute(current, scratch, ref context);
                    current = scratch.WrittenSpan;
                    (scratch, spare) = (spare, scratch);
                }
            }
            catch (Exception e) when (e is AvroFormatException or TransformException or ArgumentException or OverflowException or InvalidOperationException)
            {
                throw new TransformException($"{stage.Transform.Name}: {e.Message}", e) { Stage = stage.Transform.Name };
            }

            if (outcome != TransformOutcome.Emit)
            {
                return outcome;
            }
        }

        output.Write(current);
        return TransformOutcome.Emit;
    }
}
