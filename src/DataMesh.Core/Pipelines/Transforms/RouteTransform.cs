using System.Buffers;
using System.Collections.Concurrent;
using System.Globalization;
using System.Text;
using DataMesh.Avro;
using DataMesh.Pipelines.Filtering;

namespace DataMesh.Pipelines.Transforms;

/// <summary>
/// Sends each record to a topic named from one of its fields: <c>{value}</c> in the template is replaced by the field's
/// value (a string or an integer). A null value leaves the record on the pipeline's default target.
/// </summary>
internal sealed class RouteTransform(string path, string template) : Transform
{
    public const string Placeholder = "{value}";

    /// <summary>The field path whose value names the topic.</summary>
    internal string Path => path;

    public override string Name => $"route({path} -> {template})";

    public override PlannedTransform Plan(global::Avro.RecordSchema input)
    {
        ArgumentNullException.ThrowIfNull(input);
        var expression = path + " is null";
        var compiler = new FilterCompiler(expression, input);
        var accessor = compiler.ResolveValue(FilterExpression.Parse(expression).Root);
        if (accessor.Layout.Kind is not (ValueKind.String or ValueKind.Int or ValueKind.Long))
        {
            throw new TransformPlanException($"{Name}: the field '{path}' is not a string or an integer, so it cannot name a topic.");
        }

        return new PlannedRoute(this, input, accessor, compiler.Containers, compiler.RangeCount, template);
    }
}

/// <summary>A planned route: topic names are built once per distinct value and cached.</summary>
internal sealed class PlannedRoute(Transform transform, global::Avro.RecordSchema schema, Accessor accessor, Container[] containers, int rangeCount, string template)
    : PassThroughTransform(transform, schema)
{
    private const int MaxCached = 10_000;
    private const int MaxStackChars = 256;
    private const int StackContainers = 16;

    private readonly ConcurrentDictionary<string, string> _topics = new(StringComparer.Ordinal);

    public override TransformOutcome Decide(ReadOnlySpan<byte> input, ref RecordContext context)
    {
        var rented = RangeBuffer.RentIfLarge(rangeCount);
        Span<Range> ranges = rented is null ? stackalloc Range[RangeBuffer.StackLimit] : rented;
        var rentedInts = containers.Length > StackContainers ? ArrayPool<int>.Shared.Rent(containers.Length * 2) : null;
        Span<int> ints = rentedInts is null ? stackalloc int[StackContainers * 2] : rentedInts;
        try
        {
            var filterContext = new FilterContext(input, containers, ranges, ints[..containers.Length], ints.Slice(containers.Length, containers.Length));
            if (!accessor.TryGet(ref filterContext, out var value))
            {
                return TransformOutcome.Emit;
            }

            Span<char> chars = stackalloc char[MaxStackChars];
            var reader = new AvroReader(value);
            int length;
            if (accessor.Layout.Kind == ValueKind.String)
            {
                var utf8 = reader.ReadBytes();
                if (utf8.Length > MaxStackChars)
                {
                    context.Topic = TopicFor(Encoding.UTF8.GetString(utf8));
                    return TransformOutcome.Emit;
                }

                length = Encoding.UTF8.GetChars(utf8, chars);
            }
            else
            {
                reader.ReadLong().TryFormat(chars, out length, default, CultureInfo.InvariantCulture);
            }

            var lookup = _topics.GetAlternateLookup<ReadOnlySpan<char>>();
            context.Topic = lookup.TryGetValue(chars[..length], out var topic) ? topic : TopicFor(new string(chars[..length]));
            return TransformOutcome.Emit;
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

    private string TopicFor(string value)
    {
        if (_topics.TryGetValue(value, out var topic))
        {
            return topic;
        }

        topic = template.Replace(RouteTransform.Placeholder, value, StringComparison.Ordinal);
        if (_topics.Count < MaxCached)
        {
            _topics.TryAdd(value, topic);
        }

        return topic;
    }
}
