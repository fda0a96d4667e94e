using System.Buffers;
using System.Runtime.CompilerServices;
using DataMesh.Pipelines.Filtering;

namespace DataMesh.Pipelines.Transforms;

/// <summary>Keeps the records for which an expression holds.</summary>
internal sealed class FilterTransform(FilterExpression expression) : Transform
{
    public override string Name => "filter(" + expression.Text + ")";

    public override PlannedTransform Plan(global::Avro.RecordSchema input)
    {
        ArgumentNullException.ThrowIfNull(input);
        var compiler = new FilterCompiler(expression.Text, input);
        var predicate = compiler.Compile(expression.Root);
        return new PlannedFilter(this, input, predicate, compiler.Containers, compiler.RangeCount);
    }
}

/// <summary>A transform that decides what becomes of a record (and where it goes) without changing its bytes.</summary>
internal abstract class PassThroughTransform(Transform transform, global::Avro.RecordSchema schema) : PlannedTransform(transform, schema, schema)
{
    public sealed override bool PassesBytesThrough => true;

    public abstract TransformOutcome Decide(ReadOnlySpan<byte> input, ref RecordContext context);

    public sealed override TransformOutcome Execute(ReadOnlySpan<byte> input, IBufferWriter<byte> output, ref RecordContext context)
    {
        ArgumentNullException.ThrowIfNull(output);
        var outcome = Decide(input, ref context);
        if (outcome == TransformOutcome.Emit)
        {
            output.Write(input);
        }

        return outcome;
    }
}

/// <summary>A planned filter.</summary>
internal sealed class PlannedFilter(Transform transform, global::Avro.RecordSchema schema, Predicate predicate, Container[] containers, int rangeCount)
    : PassThroughTransform(transform, schema)
{
    private const int StackContainers = 16;

    public override TransformOutcome Decide(ReadOnlySpan<byte> input, ref RecordContext context) => Decide(input, ref context, default);

    /// <summary>Decides, recording the envelope's row ranges into <paramref name="images"/> when it is active.</summary>
    [SkipLocalsInit]
    public TransformOutcome Decide(ReadOnlySpan<byte> input, ref RecordContext context, scoped SharedImages images)
    {
        var rented = RangeBuffer.RentIfLarge(rangeCount);
        Span<Range> ranges = rented is null ? stackalloc Range[RangeBuffer.StackLimit] : rented;
        var rentedInts = containers.Length > StackContainers ? ArrayPool<int>.Shared.Rent(containers.Length * 2) : null;
        Span<int> ints = rentedInts is null ? stackalloc int[StackContainers * 2] : rentedInts;
        try
        {
            var filterContext = new FilterContext(input, containers, ranges, ints[..containers.Length], ints.Slice(containers.Length, containers.Length), images);
            return predicate.Evaluate(ref filterContext) ? TransformOutcome.Emit : TransformOutcome.Drop;
        }
        finally
        {
            RangeBuffer.Return(rented);
            if (rentedInts is not null)
            {
                ArrayPool<int>.Shared.Return(rentedInts);
            }
        }
    }
}
