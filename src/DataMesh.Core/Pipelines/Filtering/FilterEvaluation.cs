using DataMesh.Avro;
using DataMesh.Pipelines.Transforms;

namespace DataMesh.Pipelines.Filtering;

/// <summary>
/// A record reached by a path: the root, or a record field (possibly inside a union with null) of another container. Only
/// its leading fields up to the last one an expression reads are walked.
/// </summary>
internal sealed class Container(int parent, int field, int recordBranch, FieldRangeFinder plan, int rangeOffset)
{
    /// <summary>How many leading fields evaluation walks; set while the expression is compiled.</summary>
    public int Needed { get; private set; }

    /// <summary>Records that field <paramref name="index"/> is read.</summary>
    public void Need(int index) => Needed = Math.Max(Needed, index + 1);

    public int Parent { get; } = parent;

    public int Field { get; } = field;

    /// <summary>The union branch holding the record, or -1 when the field is the record itself.</summary>
    public int RecordBranch { get; } = recordBranch;

    public FieldRangeFinder Plan { get; } = plan;

    /// <summary>Where this container's field ranges start in the shared range buffer.</summary>
    public int RangeOffset { get; } = rangeOffset;
}

/// <summary>
/// The state of one evaluation: the record's bytes and the field ranges of each container, found on first use.
/// </summary>
internal ref struct FilterContext
{
    private const int Unknown = 0;
    private const int Present = 1;
    private const int Absent = 2;

    private readonly ReadOnlySpan<byte> _input;
    private readonly Container[] _containers;
    private readonly Span<Range> _ranges;
    private readonly Span<int> _state;
    private readonly Span<int> _base;
    private readonly SharedImages _images;

    public FilterContext(ReadOnlySpan<byte> input, Container[] containers, Span<Range> ranges, Span<int> state, Span<int> bases)
        : this(input, containers, ranges, state, bases, default)
    {
    }

    /// <summary>A context that records the envelope's row ranges into <paramref name="images"/> while walking the root, and reads them back for the rows.</summary>
    public FilterContext(ReadOnlySpan<byte> input, Container[] containers, Span<Range> ranges, Span<int> state, Span<int> bases, SharedImages images)
    {
        _images = images;
        _input = input;
        _containers = containers;
        _ranges = ranges;
        _state = state;
        _base = bases;
        _state.Clear();
    }

    /// <summary>The encoded bytes of field <paramref name="field"/> of container <paramref name="container"/>; false when the container is null.</summary>
    public bool TryGetField(int container, int field, out ReadOnlySpan<byte> encoded)
    {
        if (!Ensure(container))
        {
            encoded = default;
            return false;
        }

        var range = _ranges[_containers[container].RangeOffset + field];
        var start = _base[container];
        encoded = _input[(start + range.Start.Value)..(start + range.End.Value)];
        return true;
    }

    private bool Ensure(int index)
    {
        if (_state[index] != Unknown)
        {
            return _state[index] == Present;
        }

        var container = _containers[index];
        var ranges = _ranges.Slice(container.RangeOffset, container.Plan.FieldCount);
        if (container.Parent < 0)
        {
            if (_images.IsActive)
            {
                container.Plan.GetFieldRanges(_input, ranges, container.Needed, _images);
            }
            else
            {
                Walk(container, _input, ranges);
            }

            _base[index] = 0;
            _state[index] = Present;
            return true;
        }

        if (!TryGetField(container.Parent, container.Field, out var encoded))
        {
            _state[index] = Absent;
            return false;
        }

        if (_images.IsActive && container.Parent == 0 && container.RecordBranch >= 0 && _images.SlotOf(container.Field) is var slot and >= 0
            && _images.State(slot) == SharedImages.Present && _images.Ranges(slot).Length == ranges.Length)
        {
            // The root's walk recorded this row's ranges.
            _images.Ranges(slot)[..container.Needed].CopyTo(ranges);
            _base[index] = _images.Start(slot);
            _state[index] = Present;
            return true;
        }

        var offset = _base[container.Parent] + _ranges[_containers[container.Parent].RangeOffset + container.Field].Start.Value;
        if (container.RecordBranch >= 0)
        {
            var reader = new AvroReader(encoded);
            if (reader.ReadUnionIndex(2) != container.RecordBranch)
            {
                _state[index] = Absent;
                return false;
            }

            offset += reader.Position;
            encoded = encoded[reader.Position..];
        }

        Walk(container, encoded, ranges);
        _base[index] = offset;
        _state[index] = Present;
        return true;
    }

    private static void Walk(Container container, ReadOnlySpan<byte> record, Span<Range> ranges) =>
        container.Plan.GetFieldRanges(record, ranges, container.Needed);
}

/// <summary>A value a predicate reads: a field of a container, with a fallback container (the before-image when the after-image is null).</summary>
internal sealed class Accessor(int container, int fallback, int field, ValueLayout layout, global::Avro.Schema valueSchema, string path)
{
    public ValueLayout Layout { get; } = layout;

    public global::Avro.Schema ValueSchema { get; } = valueSchema;

    public string Path { get; } = path;

    /// <summary>The value's bytes after any union index; false when the value (or its record) is null.</summary>
    public bool TryGet(ref FilterContext context, out ReadOnlySpan<byte> value)
    {
        if (!context.TryGetField(container, field, out var encoded) && (fallback < 0 || !context.TryGetField(fallback, field, out encoded)))
        {
            value = default;
            return false;
        }

        return Layout.TryGetValue(encoded, out value);
    }
}

/// <summary>A compiled condition, evaluated over the bytes.</summary>
internal abstract class Predicate
{
    public abstract bool Evaluate(ref FilterContext context);
}

/// <summary>Holds when every term holds; evaluated left to right, stopping at the first that does not.</summary>
internal sealed class AndPredicate(Predicate[] terms) : Predicate
{
    public override bool Evaluate(ref FilterContext context)
    {
        foreach (var term in terms)
        {
            if (!term.Evaluate(ref context))
            {
                return false;
            }
        }

        return true;
    }
}

/// <summary>Holds when a term holds; evaluated left to right, stopping at the first that does.</summary>
internal sealed class OrPredicate(Predicate[] terms) : Predicate
{
    public override bool Evaluate(ref FilterContext context)
    {
        foreach (var term in terms)
        {
            if (term.Evaluate(ref context))
            {
                return true;
            }
        }

        return false;
    }
}

internal sealed class NotPredicate(Predicate operand) : Predicate
{
    public override bool Evaluate(ref FilterContext context) => !operand.Evaluate(ref context);
}

internal sealed class ConstantPredicate(bool value) : Predicate
{
    public override bool Evaluate(ref FilterContext context) => value;
}

internal sealed class IsNullPredicate(Accessor accessor) : Predicate
{
    public override bool Evaluate(ref FilterContext context) => !accessor.TryGet(ref context, out _);
}

internal sealed class BooleanPredicate(Accessor accessor, bool expected) : Predicate
{
    public override bool Evaluate(ref FilterContext context)
    {
        if (!accessor.TryGet(ref context, out var value))
        {
            return false;
        }

        var reader = new AvroReader(value);
        return reader.ReadBoolean() == expected;
    }
}

/// <summary>Compares a number (int, long, float, double, decimal, or the number under a logical type) with a literal.</summary>
internal sealed class NumberPredicate(Accessor accessor, CompareOp op, long? integer, double real, decimal? exact) : Predicate
{
    public override bool Evaluate(ref FilterContext context)
    {
        if (!accessor.TryGet(ref context, out var value))
        {
            return false;
        }

        var reader = new AvroReader(value);
        int order;
        switch (accessor.Layout.Kind)
        {
            case ValueKind.Int or ValueKind.Long:
                var v = reader.ReadLong();
                order = integer is { } i ? v.CompareTo(i) : ((double)v).CompareTo(real);
                break;
            case ValueKind.Float:
                order = ((double)reader.ReadFloat()).CompareTo(real);
                break;
            case ValueKind.Decimal:
                var d = reader.ReadDecimal(accessor.Layout.Scale);
                order = exact is { } e ? d.CompareTo(e) : ((double)d).CompareTo(real);
                break;
            default:
                order = reader.ReadDouble().CompareTo(real);
                break;
        }

        return Compare.Holds(op, order);
    }
}

/// <summary>Compares a string's UTF-8 bytes with a literal, ordinally (by code point).</summary>
internal sealed class StringPredicate(Accessor accessor, CompareOp op, byte[] literal) : Predicate
{
    public override bool Evaluate(ref FilterContext context)
    {
        if (!accessor.TryGet(ref context, out var value))
        {
            return false;
        }

        var reader = new AvroReader(value);
        var text = reader.ReadBytes();
        return op switch
        {
            CompareOp.StartsWith => text.StartsWith(literal),
            CompareOp.EndsWith => text.EndsWith(literal),
            CompareOp.Contains => text.IndexOf(literal) >= 0,
            _ => Compare.Holds(op, text.SequenceCompareTo(literal)),
        };
    }
}

/// <summary>Compares an enum's symbol with one named in the expression (equality only).</summary>
internal sealed class EnumPredicate(Accessor accessor, bool equal, int symbol) : Predicate
{
    public override bool Evaluate(ref FilterContext context)
    {
        if (!accessor.TryGet(ref context, out var value))
        {
            return false;
        }

        var reader = new AvroReader(value);
        return (reader.ReadInt() == symbol) == equal;
    }
}

internal static class Compare
{
    public static bool Holds(CompareOp op, int order) => op switch
    {
        CompareOp.Eq => order == 0,
        CompareOp.Ne => order != 0,
        CompareOp.Lt => order < 0,
        CompareOp.Le => order <= 0,
        CompareOp.Gt => order > 0,
        _ => order >= 0,
    };
}
