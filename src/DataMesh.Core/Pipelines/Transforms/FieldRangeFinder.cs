using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using DataMesh.Avro;

namespace DataMesh.Pipelines.Transforms;

/// <summary>
/// Finds the byte ranges of a record's leading fields like <see cref="AvroSchemaPlan.GetFieldRanges"/>, faster on the
/// shapes rows have: primitives, logical types, unions and nested records are skipped in one flat loop; arrays, maps and
/// other types through <see cref="AvroSchemaPlan.Skip(ReadOnlySpan{byte})"/>. When the bytes are malformed, the record is
/// walked again by <see cref="AvroSchemaPlan"/> so that the error names the offset and field path.
/// </summary>
internal sealed class FieldRangeFinder
{
    private const int MaxNesting = 32;

    private readonly Step[] _steps;
    private readonly AvroSchemaPlan _plan;

    public FieldRangeFinder(global::Avro.RecordSchema record)
    {
        _plan = AvroSchemaPlan.Compile(record);
        _steps = record.Fields.Select(f => Step.Of(f.Schema, 0)).ToArray();
    }

    public int FieldCount => _steps.Length;

    /// <summary>Fills the ranges of the first <paramref name="count"/> fields; returns where the last of them ends.</summary>
    public int GetFieldRanges(ReadOnlySpan<byte> datum, Span<Range> ranges, int count)
    {
        var steps = _steps;
        ArgumentOutOfRangeException.ThrowIfGreaterThan((uint)count, (uint)steps.Length, nameof(count));
        ranges = ranges[..count];
        var position = 0;
        for (var i = 0; i < ranges.Length; i++)
        {
            var start = position;
            if (!TrySkip(in steps[i], datum, ref position))
            {
                throw Malformed(datum);
            }

            ranges[i] = new Range(start, position);
        }

        return position;
    }

    /// <summary>The ranges of every field; returns the record's length.</summary>
    public int GetFieldRanges(ReadOnlySpan<byte> datum, Span<Range> ranges) => GetFieldRanges(datum, ranges, _steps.Length);

    /// <summary>
    /// Like <see cref="GetFieldRanges(ReadOnlySpan{byte}, Span{Range}, int)"/> on an envelope, also recording into
    /// <paramref name="images"/> the field ranges of the <c>before</c> and <c>after</c> rows it walks past.
    /// </summary>
    public int GetFieldRanges(ReadOnlySpan<byte> datum, Span<Range> ranges, int count, scoped SharedImages images)
    {
        var steps = _steps;
        ArgumentOutOfRangeException.ThrowIfGreaterThan((uint)count, (uint)steps.Length, nameof(count));
        ranges = ranges[..count];
        var position = 0;
        for (var i = 0; i < ranges.Length; i++)
        {
            var start = position;
            var slot = images.SlotOf(i);
            if (slot >= 0 && (uint)position < (uint)datum.Length)
            {
                var index = datum[position];
                if (index == images.RowBranch(slot) << 1)
                {
                    var length = images.Row!.TryGetFieldRanges(datum[(position + 1)..], images.Ranges(slot));
                    if (length < 0)
                    {
                        throw Malformed(datum);
                    }

                    images.Set(slot, SharedImages.Present, position + 1, length);
                    position += 1 + length;
                    ranges[i] = new Range(start, position);
                    continue;
                }

                if (index == (1 - images.RowBranch(slot)) << 1)
                {
                    images.Set(slot, SharedImages.Null, 0, 0);
                }
            }

            if (!TrySkip(in steps[i], datum, ref position))
            {
                throw Malformed(datum);
            }

            ranges[i] = new Range(start, position);
        }

        return position;
    }

    /// <summary>The ranges of every field; returns the record's length, or -1 when the bytes are malformed.</summary>
    public int TryGetFieldRanges(ReadOnlySpan<byte> datum, Span<Range> ranges)
    {
        var steps = _steps;
        ranges = ranges[..steps.Length];
        var position = 0;
        for (var i = 0; i < ranges.Length; i++)
        {
            var start = position;
            if (!TrySkip(in steps[i], datum, ref position))
            {
                return -1;
            }

            ranges[i] = new Range(start, position);
        }

        return position;
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private AvroFormatException Malformed(ReadOnlySpan<byte> datum)
    {
        var ranges = new Range[_plan.FieldCount];
        try
        {
            _plan.GetFieldRanges(datum, ranges);
        }
        catch (AvroFormatException e)
        {
            return e;
        }

        return new AvroFormatException("the record's bytes are malformed", 0, string.Empty);
    }

    /// <summary>
    /// Moves <paramref name="position"/> past one field's datum; false when the bytes do not hold one. The common shapes
    /// (a primitive, or a union of null and one type whose index is the canonical single byte) are skipped inline; anything
    /// else goes to the step's <see cref="Node"/>.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static bool TrySkip(in Step step, ReadOnlySpan<byte> data, ref int position)
    {
        var p = position;
        if (step.Nullable)
        {
            if ((uint)p >= (uint)data.Length)
            {
                return false;
            }

            var index = data[p];
            if (index == step.NullByte)
            {
                position = p + 1;
                return true;
            }

            if (index != step.ValueByte)
            {
                // A non-canonical or invalid union index: the general path decides.
                return step.Whole.TrySkip(data, ref position);
            }

            p++;
        }

        switch (step.Value)
        {
            case Kind.Null:
                position = p;
                return true;
            case Kind.Varint:
            {
                // At most 10 bytes, like TryReadVarint.
                var left = 10;
                if (BitConverter.IsLittleEndian && data.Length - p >= sizeof(ulong))
                {
                    // The varint ends at the first of the next 8 bytes without the continuation bit.
                    var word = Unsafe.ReadUnaligned<ulong>(ref Unsafe.Add(ref MemoryMarshal.GetReference(data), p));
                    var ends = ~word & 0x8080_8080_8080_8080UL;
                    if (ends != 0)
                    {
                        position = p + (BitOperations.TrailingZeroCount(ends) >> 3) + 1;
                        return true;
                    }

                    p += sizeof(ulong);
                    left -= sizeof(ulong);
                }

                for (; left > 0; left--)
                {
                    if ((uint)p >= (uint)data.Length)
                    {
                        return false;
                    }

                    if (data[p++] < 0x80)
                    {
                        position = p;
                        return true;
                    }
                }

                return false;
            }

            case Kind.Fixed:
                if (data.Length - p < step.Size)
                {
                    return false;
                }

                position = p + step.Size;
                return true;
            case Kind.LengthPrefixed:
            {
                if ((uint)p >= (uint)data.Length)
                {
                    return false;
                }

                var b = data[p];
                if (b < 0x80)
                {
                    // One-byte length (up to 63 bytes): even means non-negative.
                    var length = b >> 1;
                    p++;
                    if ((b & 1) != 0 || length > data.Length - p)
                    {
                        return false;
                    }

                    position = p + length;
                    return true;
                }

                position = p;
                return SkipLengthPrefixed(data, ref position);
            }

            default:
                position = p;
                return step.Inner!.TrySkip(data, ref position);
        }
    }

    private static bool SkipLengthPrefixed(ReadOnlySpan<byte> data, ref int position)
    {
        if (!TryReadVarint(data, ref position, out var raw))
        {
            return false;
        }

        var length = (long)(raw >> 1) ^ -(long)(raw & 1);
        if (length < 0 || length > data.Length - position)
        {
            return false;
        }

        position += (int)length;
        return true;
    }

    private static bool TryReadVarint(ReadOnlySpan<byte> data, ref int position, out ulong value)
    {
        value = 0;
        for (var shift = 0; shift < 64; shift += 7)
        {
            if ((uint)position >= (uint)data.Length)
            {
                return false;
            }

            var b = data[position++];
            value |= (ulong)(b & 0x7F) << shift;
            if (b < 0x80)
            {
                return true;
            }
        }

        return false;
    }

    private enum Kind : byte
    {
        Null,
        Varint,
        Fixed,
        LengthPrefixed,
        Union,
        Record,
        Other,
    }

    /// <summary>
    /// How one field (or union branch) is skipped: <see cref="Value"/> says how its value is laid out, after the one-byte
    /// union index when <see cref="Nullable"/>; <see cref="Whole"/> skips the field in general (any union index).
    /// </summary>
    private readonly struct Step
    {
        private Step(Node whole, bool nullable, byte nullByte, byte valueByte, Kind value, int size, Node? inner)
        {
            Whole = whole;
            Nullable = nullable;
            NullByte = nullByte;
            ValueByte = valueByte;
            Value = value;
            Size = size;
            Inner = inner;
        }

        public Node Whole { get; }

        public bool Nullable { get; }

        /// <summary>With <see cref="Nullable"/>: the encoded union index of the null branch (0 or 2).</summary>
        public byte NullByte { get; }

        /// <summary>With <see cref="Nullable"/>: the encoded union index of the value branch (0 or 2).</summary>
        public byte ValueByte { get; }

        /// <summary>The value's kind: <see cref="Kind.Null"/>, <see cref="Kind.Varint"/>, <see cref="Kind.Fixed"/>, <see cref="Kind.LengthPrefixed"/>, or another (skipped by <see cref="Inner"/>).</summary>
        public Kind Value { get; }

        public int Size { get; }

        /// <summary>Skips the value (after any union index) when it is not a simple kind.</summary>
        public Node? Inner { get; }

        public static Step Of(global::Avro.Schema schema, int depth)
        {
            var whole = Node.Of(schema, depth);
            if (whole.Kind == Kind.Union && whole.Children.Length == 2 && (whole.Children[0].Kind == Kind.Null) != (whole.Children[1].Kind == Kind.Null))
            {
                var valueBranch = whole.Children[0].Kind == Kind.Null ? 1 : 0;
                var value = whole.Children[valueBranch];
                return new Step(whole, true, (byte)((1 - valueBranch) << 1), (byte)(valueBranch << 1), Simple(value.Kind), value.Size, value);
            }

            return new Step(whole, false, 0, 0, Simple(whole.Kind), whole.Size, whole);
        }

        private static Kind Simple(Kind kind) => kind is Kind.Null or Kind.Varint or Kind.Fixed or Kind.LengthPrefixed ? kind : Kind.Other;
    }

    private sealed class Node
    {
        private Step[] _fields = [];
        private AvroSchemaPlan? _other;

        public Kind Kind { get; private set; }

        public int Size { get; private set; }

        public Node[] Children { get; private set; } = [];

        public static Node Of(global::Avro.Schema schema, int depth)
        {
            if (schema is global::Avro.LogicalSchema logical)
            {
                schema = logical.BaseSchema;
            }

            var node = new Node();
            switch (schema)
            {
                case global::Avro.FixedSchema fixedSchema:
                    node.Kind = Kind.Fixed;
                    node.Size = fixedSchema.Size;
                    return node;
                case global::Avro.UnionSchema union when depth < MaxNesting:
                    node.Kind = Kind.Union;
                    node.Children = union.Schemas.Select(s => Of(s, depth + 1)).ToArray();
                    return node;
                case global::Avro.RecordSchema record when depth < MaxNesting:
                    node.Kind = Kind.Record;
                    node._fields = record.Fields.Select(f => Step.Of(f.Schema, depth + 1)).ToArray();
                    return node;
            }

            switch (schema.Tag)
            {
                case global::Avro.Schema.Type.Null:
                    node.Kind = Kind.Null;
                    break;
                case global::Avro.Schema.Type.Boolean:
                    node.Kind = Kind.Fixed;
                    node.Size = 1;
                    break;
                case global::Avro.Schema.Type.Int or global::Avro.Schema.Type.Long or global::Avro.Schema.Type.Enumeration:
                    node.Kind = Kind.Varint;
                    break;
                case global::Avro.Schema.Type.Float:
                    node.Kind = Kind.Fixed;
                    node.Size = 4;
                    break;
                case global::Avro.Schema.Type.Double:
                    node.Kind = Kind.Fixed;
                    node.Size = 8;
                    break;
                case global::Avro.Schema.Type.String or global::Avro.Schema.Type.Bytes:
                    node.Kind = Kind.LengthPrefixed;
                    break;
                default:
                    node.Kind = Kind.Other;
                    node._other = AvroSchemaPlan.Compile(schema);
                    break;
            }

            return node;
        }

        /// <summary>Moves <paramref name="position"/> past one datum; false when the bytes do not hold one.</summary>
        public bool TrySkip(ReadOnlySpan<byte> data, ref int position)
        {
            switch (Kind)
            {
                case Kind.Null:
                    return true;
                case Kind.Varint:
                    return TryReadVarint(data, ref position, out _);
                case Kind.Fixed:
                    if (data.Length - position < Size)
                    {
                        return false;
                    }

                    position += Size;
                    return true;
                case Kind.LengthPrefixed:
                    return SkipLengthPrefixed(data, ref position);
                case Kind.Union:
                {
                    if (!TryReadVarint(data, ref position, out var raw))
                    {
                        return false;
                    }

                    var index = (long)(raw >> 1) ^ -(long)(raw & 1);
                    return (ulong)index < (ulong)Children.Length && Children[index].TrySkip(data, ref position);
                }

                case Kind.Record:
                {
                    var fields = _fields;
                    for (var i = 0; i < fields.Length; i++)
                    {
                        if (!FieldRangeFinder.TrySkip(in fields[i], data, ref position))
                        {
                            return false;
                        }
                    }

                    return true;
                }

                default:
                    try
                    {
                        position += _other!.Skip(data[position..]);
                        return true;
                    }
                    catch (AvroFormatException)
                    {
                        return false;
                    }
            }
        }
    }
}
