using System.Runtime.CompilerServices;
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
    private readonly Node[] _fields;
    private readonly AvroSchemaPlan _plan;

    public FieldRangeFinder(global::Avro.RecordSchema record)
    {
        _plan = AvroSchemaPlan.Compile(record);
        _fields = record.Fields.Select(f => Node.Of(f.Schema, 0)).ToArray();
    }

    public int FieldCount => _fields.Length;

    /// <summary>Fills the ranges of the first <paramref name="count"/> fields; returns where the last of them ends.</summary>
    public int GetFieldRanges(ReadOnlySpan<byte> datum, Span<Range> ranges, int count)
    {
        var position = 0;
        for (var i = 0; i < count; i++)
        {
            var start = position;
            if (!_fields[i].TrySkip(datum, ref position))
            {
                throw Malformed(datum);
            }

            ranges[i] = new Range(start, position);
        }

        return position;
    }

    /// <summary>The ranges of every field; returns the record's length.</summary>
    public int GetFieldRanges(ReadOnlySpan<byte> datum, Span<Range> ranges) => GetFieldRanges(datum, ranges, _fields.Length);

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

    private sealed class Node
    {
        private const int MaxNesting = 32;

        private Kind _kind;
        private int _size;
        private Node[] _children = [];
        private AvroSchemaPlan? _other;

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
                    node._kind = Kind.Fixed;
                    node._size = fixedSchema.Size;
                    return node;
                case global::Avro.UnionSchema union when depth < MaxNesting:
                    node._kind = Kind.Union;
                    node._children = union.Schemas.Select(s => Of(s, depth + 1)).ToArray();
                    return node;
                case global::Avro.RecordSchema record when depth < MaxNesting:
                    node._kind = Kind.Record;
                    node._children = record.Fields.Select(f => Of(f.Schema, depth + 1)).ToArray();
                    return node;
            }

            switch (schema.Tag)
            {
                case global::Avro.Schema.Type.Null:
                    node._kind = Kind.Null;
                    break;
                case global::Avro.Schema.Type.Boolean:
                    node._kind = Kind.Fixed;
                    node._size = 1;
                    break;
                case global::Avro.Schema.Type.Int or global::Avro.Schema.Type.Long or global::Avro.Schema.Type.Enumeration:
                    node._kind = Kind.Varint;
                    break;
                case global::Avro.Schema.Type.Float:
                    node._kind = Kind.Fixed;
                    node._size = 4;
                    break;
                case global::Avro.Schema.Type.Double:
                    node._kind = Kind.Fixed;
                    node._size = 8;
                    break;
                case global::Avro.Schema.Type.String or global::Avro.Schema.Type.Bytes:
                    node._kind = Kind.LengthPrefixed;
                    break;
                default:
                    node._kind = Kind.Other;
                    node._other = AvroSchemaPlan.Compile(schema);
                    break;
            }

            return node;
        }

        /// <summary>Moves <paramref name="position"/> past one datum; false when the bytes do not hold one.</summary>
        public bool TrySkip(ReadOnlySpan<byte> data, ref int position)
        {
            switch (_kind)
            {
                case Kind.Null:
                    return true;
                case Kind.Varint:
                    return TryReadVarint(data, ref position, out _);
                case Kind.Fixed:
                    if (data.Length - position < _size)
                    {
                        return false;
                    }

                    position += _size;
                    return true;
                case Kind.LengthPrefixed:
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

                case Kind.Union:
                {
                    if (!TryReadVarint(data, ref position, out var raw))
                    {
                        return false;
                    }

                    var index = (long)(raw >> 1) ^ -(long)(raw & 1);
                    return (ulong)index < (ulong)_children.Length && _children[index].TrySkip(data, ref position);
                }

                case Kind.Record:
                    foreach (var child in _children)
                    {
                        if (!child.TrySkip(data, ref position))
                        {
                            return false;
                        }
                    }

                    return true;
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

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
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
    }
}
