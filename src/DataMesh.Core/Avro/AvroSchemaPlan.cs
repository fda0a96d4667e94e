using System.Text;
using Avro;

namespace DataMesh.Avro;

/// <summary>
/// A schema compiled once into a flat plan that walks Avro binary datums of that schema without allocating: it
/// validates them, skips them, and finds the byte range of each top-level field of a record.
/// </summary>
/// <remarks>
/// Apache.Avro parses and resolves the schema (named types, references, logical types); the plan does the bytes.
/// A plan is immutable and safe to share between threads. Malformed data throws <see cref="AvroFormatException"/>
/// naming the byte offset and the field path (for example <c>after.tags[3]</c> or <c>after.attrs[color]</c>).
/// Nesting deeper than <see cref="MaxDepth"/> (possible only with recursive schemas) is rejected the same way.
/// </remarks>
public sealed class AvroSchemaPlan
{
    /// <summary>The deepest nesting of records, arrays, maps and unions a datum may have.</summary>
    public const int MaxDepth = 256;

    private readonly AvroPlanNode[] _nodes;
    private readonly int[] _children;
    private readonly string[] _childNames;
    private readonly Dictionary<string, int> _fieldIndexes;

    private AvroSchemaPlan(Schema schema, AvroPlanNode[] nodes, int[] children, string[] childNames)
    {
        Schema = schema;
        _nodes = nodes;
        _children = children;
        _childNames = childNames;
        _fieldIndexes = new Dictionary<string, int>(StringComparer.Ordinal);
        var root = nodes[0];
        if (root.Kind == AvroNodeKind.Record)
        {
            FieldCount = root.Count;
            for (var i = 0; i < root.Count; i++)
            {
                _fieldIndexes[childNames[root.First + i]] = i;
            }
        }
    }

    /// <summary>The schema this plan was compiled from.</summary>
    public Schema Schema { get; }

    /// <summary>The number of top-level fields when the schema is a record; otherwise 0.</summary>
    public int FieldCount { get; }

    /// <summary>Compiles <paramref name="schema"/> into a plan.</summary>
    /// <param name="schema">A schema parsed by Apache.Avro, for example with <see cref="Schema.Parse(string)"/>.</param>
    /// <returns>The plan.</returns>
    /// <exception cref="NotSupportedException">The schema contains a type this plan cannot walk.</exception>
    public static AvroSchemaPlan Compile(Schema schema)
    {
        ArgumentNullException.ThrowIfNull(schema);
        var builder = new AvroPlanBuilder();
        builder.Add(schema);
        return new AvroSchemaPlan(schema, [.. builder.Nodes], [.. builder.Children], [.. builder.ChildNames]);
    }

    /// <summary>The name of the top-level field at <paramref name="index"/> (the schema must be a record).</summary>
    /// <param name="index">The field's position in the record.</param>
    /// <returns>The field name.</returns>
    public string GetFieldName(int index)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(index);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(index, FieldCount);
        return _childNames[_nodes[0].First + index];
    }

    /// <summary>The position of the top-level field named <paramref name="name"/>, or -1 if the record has none.</summary>
    /// <param name="name">The field name.</param>
    /// <returns>The field's position, or -1.</returns>
    public int GetFieldIndex(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        return _fieldIndexes.TryGetValue(name, out var index) ? index : -1;
    }

    /// <summary>
    /// Validates that <paramref name="datum"/> is exactly one datum of the schema: every value is walked, union and
    /// enum indexes, UTF-8, uuids, lengths, block counts and block sizes are checked, and no byte may follow the datum.
    /// </summary>
    /// <param name="datum">The Avro binary datum (without a Confluent header).</param>
    /// <exception cref="AvroFormatException">The datum is malformed.</exception>
    public void Validate(ReadOnlySpan<byte> datum) => Validate(datum, string.Empty);

    /// <summary>Validates <paramref name="datum"/> like <see cref="Validate(ReadOnlySpan{byte})"/>, prefixing field paths in errors with <paramref name="fieldPathPrefix"/> (for example <c>key</c>).</summary>
    /// <param name="datum">The Avro binary datum (without a Confluent header).</param>
    /// <param name="fieldPathPrefix">The prefix for field paths, or empty.</param>
    /// <exception cref="AvroFormatException">The datum is malformed.</exception>
    public void Validate(ReadOnlySpan<byte> datum, string fieldPathPrefix)
    {
        var reader = new AvroReader(datum);
        try
        {
            Walk(ref reader, 0, validate: true, depth: 0);
            if (!reader.End)
            {
                throw reader.Error(reader.Position, AvroReader.Format("{0} bytes follow the end of the datum", reader.Remaining));
            }
        }
        catch (AvroFormatException e) when (!string.IsNullOrEmpty(fieldPathPrefix))
        {
            e.PrependPath(fieldPathPrefix);
            throw;
        }
    }

    /// <summary>Validates one datum of the schema at the reader's position and moves past it; bytes after it are left unread.</summary>
    /// <param name="reader">The reader.</param>
    /// <exception cref="AvroFormatException">The datum is malformed.</exception>
    public void Validate(ref AvroReader reader) => Walk(ref reader, 0, validate: true, depth: 0);

    /// <summary>
    /// Skips one datum of the schema at the start of <paramref name="datum"/>, checking bounds, union indexes and block
    /// headers but not UTF-8 or enum ranges, and jumping over sized blocks.
    /// </summary>
    /// <param name="datum">The bytes that start with the datum.</param>
    /// <returns>The length of the datum in bytes.</returns>
    /// <exception cref="AvroFormatException">The datum is malformed.</exception>
    public int Skip(ReadOnlySpan<byte> datum)
    {
        var reader = new AvroReader(datum);
        Walk(ref reader, 0, validate: false, depth: 0);
        return reader.Position;
    }

    /// <summary>Skips one datum of the schema at the reader's position; see <see cref="Skip(ReadOnlySpan{byte})"/>.</summary>
    /// <param name="reader">The reader.</param>
    /// <exception cref="AvroFormatException">The datum is malformed.</exception>
    public void Skip(ref AvroReader reader) => Walk(ref reader, 0, validate: false, depth: 0);

    /// <summary>
    /// Finds the byte range of each top-level field of a record datum, without allocating, so that a transform can copy,
    /// drop or replace fields as encoded bytes (see <see cref="AvroWriter.WriteRaw(ReadOnlySpan{byte})"/>).
    /// </summary>
    /// <param name="datum">The bytes that start with a record datum of the schema.</param>
    /// <param name="ranges">Receives one range a field, in schema order; at least <see cref="FieldCount"/> long.</param>
    /// <returns>The length of the datum in bytes.</returns>
    /// <exception cref="InvalidOperationException">The schema is not a record.</exception>
    /// <exception cref="AvroFormatException">The datum is malformed.</exception>
    public int GetFieldRanges(ReadOnlySpan<byte> datum, Span<Range> ranges)
    {
        var root = _nodes[0];
        if (root.Kind != AvroNodeKind.Record)
        {
            throw new InvalidOperationException($"The schema is a {Schema.Tag}, not a record; it has no fields.");
        }

        if (ranges.Length < root.Count)
        {
            throw new ArgumentException($"The record has {root.Count} fields but only {ranges.Length} ranges were given.", nameof(ranges));
        }

        var reader = new AvroReader(datum);
        for (var i = 0; i < root.Count; i++)
        {
            var start = reader.Position;
            WalkField(ref reader, root.First + i, validate: false, depth: 1);
            ranges[i] = new Range(start, reader.Position);
        }

        return reader.Position;
    }

    private void WalkField(ref AvroReader reader, int child, bool validate, int depth)
    {
        try
        {
            Walk(ref reader, _children[child], validate, depth);
        }
        catch (AvroFormatException e)
        {
            e.PrependPath(_childNames[child]);
            throw;
        }
    }

    private void Walk(ref AvroReader reader, int nodeIndex, bool validate, int depth)
    {
        var node = _nodes[nodeIndex];
        switch (node.Kind)
        {
            case AvroNodeKind.Null:
                return;
            case AvroNodeKind.Boolean:
                reader.ReadBoolean();
                return;
            case AvroNodeKind.Int:
                reader.ReadInt();
                return;
            case AvroNodeKind.Long:
                reader.ReadLong();
                return;
            case AvroNodeKind.Float:
                reader.SkipFloat();
                return;
            case AvroNodeKind.Double:
                reader.SkipDouble();
                return;
            case AvroNodeKind.Bytes:
                reader.SkipBytes();
                return;
            case AvroNodeKind.String:
                if (validate)
                {
                    reader.ReadStringUtf8();
                }
                else
                {
                    reader.SkipBytes();
                }

                return;
            case AvroNodeKind.UuidString:
                if (validate)
                {
                    reader.ReadUuid();
                }
                else
                {
                    reader.SkipBytes();
                }

                return;
            case AvroNodeKind.Fixed:
                reader.ReadFixed(node.Count);
                return;
            case AvroNodeKind.Enum:
                reader.ReadEnum(node.Count);
                return;
            case AvroNodeKind.Union:
                CheckDepth(ref reader, depth);
                Walk(ref reader, _children[node.First + reader.ReadUnionIndex(node.Count)], validate, depth + 1);
                return;
            case AvroNodeKind.Record:
                CheckDepth(ref reader, depth);
                for (var i = 0; i < node.Count; i++)
                {
                    WalkField(ref reader, node.First + i, validate, depth + 1);
                }

                return;
            case AvroNodeKind.Array:
            case AvroNodeKind.Map:
                CheckDepth(ref reader, depth);
                WalkBlocks(ref reader, node, validate, depth + 1);
                return;
            default:
                throw new InvalidOperationException($"Unknown plan node kind {node.Kind}.");
        }
    }

    private void WalkBlocks(ref AvroReader reader, AvroPlanNode node, bool validate, int depth)
    {
        var isMap = node.Kind == AvroNodeKind.Map;
        var item = node.First;
        var itemZeroSize = _nodes[item].ZeroSize;
        long index = 0;
        while (true)
        {
            var blockStart = reader.Position;
            var count = reader.ReadBlockCount(out var byteSize);
            if (count == 0)
            {
                return;
            }

            if (itemZeroSize && !isMap)
            {
                if (byteSize > 0)
                {
                    throw reader.Error(blockStart, AvroReader.Format("block of {0} zero-length items declares a byte size of {1}", count, byteSize));
                }

                index += count;
                continue;
            }

            if (count > reader.Remaining)
            {
                throw reader.Error(blockStart, AvroReader.Format("block count {0} exceeds the {1} bytes remaining", count, reader.Remaining));
            }

            if (!validate && byteSize >= 0)
            {
                reader.Skip(byteSize);
                index += count;
                continue;
            }

            var itemsStart = reader.Position;
            for (long i = 0; i < count; i++, index++)
            {
                if (isMap)
                {
                    WalkMapEntry(ref reader, item, validate, depth, index);
                }
                else
                {
                    WalkArrayItem(ref reader, item, validate, depth, index);
                }
            }

            if (byteSize >= 0 && reader.Position - itemsStart != byteSize)
            {
                throw reader.Error(blockStart, AvroReader.Format("block byte size {0} does not match the {1} bytes its {2} items occupy", byteSize, reader.Position - itemsStart, count));
            }
        }
    }

    private void WalkArrayItem(ref AvroReader reader, int item, bool validate, int depth, long index)
    {
        try
        {
            Walk(ref reader, item, validate, depth);
        }
        catch (AvroFormatException e)
        {
            e.PrependPath(AvroReader.Format("[{0}]", index));
            throw;
        }
    }

    private void WalkMapEntry(ref AvroReader reader, int value, bool validate, int depth, long index)
    {
        ReadOnlySpan<byte> key;
        try
        {
            key = validate ? reader.ReadStringUtf8() : reader.ReadBytes();
        }
        catch (AvroFormatException e)
        {
            e.PrependPath(AvroReader.Format("[key {0}]", index));
            throw;
        }

        try
        {
            Walk(ref reader, value, validate, depth);
        }
        catch (AvroFormatException e)
        {
            e.PrependPath("[" + Encoding.UTF8.GetString(key) + "]");
            throw;
        }
    }

    private static void CheckDepth(ref AvroReader reader, int depth)
    {
        if (depth >= MaxDepth)
        {
            throw reader.Error(reader.Position, AvroReader.Format("the datum nests deeper than {0} levels", MaxDepth));
        }
    }
}
