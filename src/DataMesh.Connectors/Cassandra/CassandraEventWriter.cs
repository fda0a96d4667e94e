using System.Buffers;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using DataMesh.Avro;
using DataMesh.Connectors.Cassandra.Mutations;
using DataMesh.Connectors.Cassandra.Schema;
using DataMesh.Events;
using DataMesh.Sources;

namespace DataMesh.Connectors.Cassandra;

/// <summary>The per-event part of a Cassandra event's <c>source</c> block: the write's timestamp and where its mutation is
/// in the node's commit log.</summary>
internal readonly ref struct CassandraSourceBlock : ISourceBlock
{
    /// <summary>The connector's position fields: <c>node</c>, <c>segment</c> (the segment id) and <c>offset</c> (the end of
    /// the mutation's entry, Cassandra's commit-log position).</summary>
    public static readonly IReadOnlyList<SourceField> Fields =
        [new("node", SourceFieldType.String), new("segment", SourceFieldType.Long), new("offset", SourceFieldType.Long)];

    private readonly ReadOnlySpan<byte> _node;
    private readonly long _segment;
    private readonly long _offset;

    public CassandraSourceBlock(ReadOnlySpan<byte> node, long segment, long offset, long timestampMicros)
    {
        _node = node;
        _segment = segment;
        _offset = offset;
        CommitTimestampMs = timestampMicros / 1000;
    }

    public long CommitTimestampMs { get; }

    public long? TransactionId => null;

    public void WritePositionFields(ref AvroWriter writer)
    {
        writer.WriteStringUtf8(_node);
        writer.WriteLong(_segment);
        writer.WriteLong(_offset);
    }
}

/// <summary>
/// Turns decoded mutations into change events (docs/cassandra.md, "Events"): per row an insert (<c>c</c>: the row has
/// INSERT's primary-key liveness), an update (<c>u</c>: it has cells but no liveness, as UPDATE writes it) or a delete
/// (<c>d</c>: a row deletion), keyed by the partition key and clustering columns; a partition deletion and a deletion of
/// all rows under a clustering prefix as a delete whose key has the clustering columns after the prefix null; the static
/// row as an update whose key has all clustering columns null; a range deletion of a clustering slice as a delete keyed
/// by the clustering values its bounds share, whose <c>before</c> holds the bounds in the range columns
/// (<see cref="CassandraConnector.RangeStartColumn"/>), the other columns null, written before the rows the partition
/// update has inside the range (held until its end bound is read). Otherwise <c>before</c> is null: a commit log has no
/// old row.
/// </summary>
internal sealed class CassandraEventWriter : IMutationHandler
{
    private readonly SourceContext<CassandraPosition> _context;
    private readonly Func<CassandraTable, SourceTable> _tables;
    private readonly byte[] _node;
    private readonly CassandraRow _row = new();
    private SourceTable? _table;
    private PendingRow _pending;
    private readonly List<(CassandraRow Row, PendingRow Pending)> _held = [];
    private readonly Stack<CassandraRow> _spare = new();
    private readonly ArrayBufferWriter<byte> _json = new();
    private List<byte[]?>? _rangeStart;
    private bool _rangeStartInclusive;
    private byte[]? _rangeStartJson;
    private DeletionTime _rangeDeletion;
    private long _segment;
    private long _offset;
    private string _segmentName = string.Empty;
    private byte[] _eventNode;
    private IReadOnlyList<bool>? _publish;
    private int _partitionIndex;
    private bool _skipping;

    public CassandraEventWriter(SourceContext<CassandraPosition> context, string node, Func<CassandraTable, SourceTable> tables)
    {
        _context = context;
        _tables = tables;
        _node = Encoding.UTF8.GetBytes(node);
        _eventNode = _node;
        _row.Decimals = context.Events.DecimalHandling;
    }

    /// <summary>Events written (rows, deletions) since created.</summary>
    public long Events { get; private set; }

    /// <summary>Starts a mutation at <paramref name="offset"/> (its entry's end) of segment <paramref name="segment"/>.</summary>
    /// <param name="segmentName">The segment's file name, for errors.</param>
    /// <param name="segment">The segment id.</param>
    /// <param name="offset">The end of the mutation's entry.</param>
    /// <param name="node">The node whose commit log holds it (UTF-8), if not the one given when created.</param>
    /// <param name="publish">Which of its partition updates to write (the others are skipped), if not all.</param>
    public void Begin(string segmentName, long segment, long offset, byte[]? node = null, IReadOnlyList<bool>? publish = null)
    {
        _segmentName = segmentName;
        _segment = segment;
        _offset = offset;
        _eventNode = node ?? _node;
        _publish = publish;
        _partitionIndex = -1;
        _skipping = false;
        _pending = default;
        ReleaseHeld();
        _table = null;
        _rangeStart = null;
        _rangeStartJson = null;
    }

    /// <summary>Writes the mutation's last row.</summary>
    public void End()
    {
        FlushRow();
        EmitHeld();
    }

    public void OnPartition(in PartitionUpdate partition)
    {
        FlushRow();
        EmitHeld();
        _partitionIndex++;
        _skipping = _publish is not null && !_publish[_partitionIndex];
        if (_skipping)
        {
            return; // a copy of an update published before, or one waiting for more copies
        }

        var table = partition.Table;
        _table = _tables(table);
        _row.Reset(table);
        _rangeStart = null;
        _rangeStartJson = null;
        for (var i = 0; i < table.PartitionKey.Count; i++)
        {
            if (!partition.TryGetKeyComponent(i, out var component))
            {
                throw new FormatException($"the partition key of table {table.QualifiedName} is not a composite of {table.PartitionKey.Count} columns");
            }

            _row.SetKey(i, component, isNull: false);
        }

        if (partition.Deletion is { } deletion)
        {
            // DELETE FROM t WHERE pk = …: every row of the partition (the key's clustering columns null).
            for (var i = 0; i < table.Clustering.Count; i++)
            {
                _row.SetKey(table.PartitionKey.Count + i, default, isNull: true);
            }

            Delete(deletion.MarkedForDeleteAt);
        }
    }

    public void OnRow(in RowHeader row)
    {
        if (_skipping)
        {
            return;
        }

        FlushRow();
        var table = row.Table;
        _row.NextRow();
        _row.ClearCells();
        for (var i = 0; i < table.Clustering.Count; i++)
        {
            var isNull = row.IsStatic || i >= row.Clustering.Count || row.Clustering.IsNull(i);
            _row.SetKey(table.PartitionKey.Count + i, isNull ? default : row.Clustering[i], isNull);
        }

        _pending = new PendingRow(true, row.IsStatic, row.Liveness, row.Deletion, row.Liveness.IsEmpty ? long.MinValue : row.Liveness.Timestamp);
    }

    public void OnComplexDeletion(in RowHeader row, CassandraColumn column, DeletionTime deletion)
    {
        if (_skipping)
        {
            return;
        }

        if (!column.IsDropped)
        {
            _row.Replace(column);
            _pending = _pending with { Timestamp = Math.Max(_pending.Timestamp, deletion.MarkedForDeleteAt) };
        }
    }

    public void OnCell(in RowHeader row, in Cell cell)
    {
        if (_skipping)
        {
            return;
        }

        if (cell.Column.IsDropped)
        {
            return; // a dropped column's cells, written before it was dropped
        }

        _row.Add(cell);
        _pending = _pending with { Timestamp = Math.Max(_pending.Timestamp, cell.Timestamp) };
    }

    public void OnRangeTombstone(in RangeTombstoneMarker marker)
    {
        if (_skipping)
        {
            return;
        }

        FlushRow();
        var table = marker.Table;

        // The deletion's image has the key and range columns only: not the cells of the row read before it.
        _row.NextRow();
        _row.ClearCells();
        if (marker.Kind is BoundKind.InclusiveStart or BoundKind.ExclusiveStart)
        {
            OpenRange(table, marker.Prefix, inclusive: marker.Kind == BoundKind.InclusiveStart, marker.Deletion);
            return;
        }

        if (_rangeStart is null)
        {
            // MutationDecoder refuses an end without a start; kept as a guard.
            throw new FormatException($"a range deletion of table {table.QualifiedName} ends without a start");
        }

        // An end, or a boundary: the end of one range and the start of the next (two range deletions that touch).
        var endInclusive = marker.Kind is BoundKind.InclusiveEnd or BoundKind.InclusiveEndExclusiveStart;
        var start = _rangeStart;
        var startPrefix = _rangeStartJson!;
        var end = Bound(marker.Prefix);
        if (_rangeStartInclusive && endInclusive && start.Count == end.Count && Shared(start, end) == start.Count)
        {
            // Equal inclusive bounds: every row under a clustering prefix (DELETE … WHERE pk = … AND ck1 = …), keyed by it.
            SetClusteringKey(table, start, start.Count);
            Delete(_rangeDeletion.MarkedForDeleteAt);
        }
        else
        {
            // A slice (ck > …, ck <= …): keyed by the clustering values both bounds share, the bounds in the range columns.
            // Sharing none, its key is the static row's (every clustering column null): no tombstone, which would erase
            // the static row's latest value in a compacted topic.
            var shared = Shared(start, end);
            SetClusteringKey(table, start, shared);
            _row.SetRange(startPrefix, BoundJson(table, end, endInclusive ? "<=" : "<"));
            _context.Delete(_table!, new CassandraRowImage(_row, keyOnly: false), new CassandraSourceBlock(_eventNode, _segment, _offset, _rangeDeletion.MarkedForDeleteAt), tombstone: shared > 0);
            _row.ClearRange();
            Events++;
        }

        _rangeStart = null;
        _rangeStartJson = null;

        // The rows read while the range was open come after its deletion, which they outlive (their cells are newer, or
        // Cassandra would not have kept them in the same partition update): a consumer applying the deletion after them
        // would delete them.
        EmitHeld();
        if (marker.IsBoundary)
        {
            OpenRange(table, marker.Prefix, inclusive: marker.Kind == BoundKind.ExclusiveEndInclusiveStart, marker.Deletion);
        }
    }

    private void OpenRange(CassandraTable table, ClusteringValues prefix, bool inclusive, DeletionTime deletion)
    {
        _rangeStart = Bound(prefix);
        _rangeStartInclusive = inclusive;
        _rangeStartJson = BoundJson(table, _rangeStart, inclusive ? ">=" : ">");
        _rangeDeletion = deletion;
    }

    private void SetClusteringKey(CassandraTable table, List<byte[]?> values, int count)
    {
        for (var i = 0; i < table.Clustering.Count; i++)
        {
            var value = i < count ? values[i] : null;
            _row.SetKey(table.PartitionKey.Count + i, value, value is null);
        }
    }

    /// <summary>A bound's clustering values, copied (null for a null value).</summary>
    private static List<byte[]?> Bound(ClusteringValues prefix)
    {
        var values = new List<byte[]?>(prefix.Count);
        for (var i = 0; i < prefix.Count; i++)
        {
            values.Add(prefix.IsNull(i) ? null : prefix[i].ToArray());
        }

        return values;
    }

    /// <summary>How many leading clustering values two bounds share.</summary>
    private static int Shared(List<byte[]?> start, List<byte[]?> end)
    {
        var shared = 0;
        while (shared < start.Count && shared < end.Count && start[shared] is { } a && end[shared] is { } b && a.AsSpan().SequenceEqual(b))
        {
            shared++;
        }

        return shared;
    }

    /// <summary>A bound as JSON: <c>{"method":"&gt;=","values":{"ck1":…},"order":{"ck1":"asc"}}</c>, the values in the forms of
    /// the type map (docs/cassandra.md), the method in the table's clustering order and the order of each value's column; no
    /// values for an open end (the partition's first or last row).</summary>
    private byte[] BoundJson(CassandraTable table, List<byte[]?> values, string method)
    {
        _json.ResetWrittenCount();
        using (var json = new Utf8JsonWriter(_json, new JsonWriterOptions { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping }))
        {
            json.WriteStartObject();
            json.WriteString("method", method);
            json.WriteStartObject("values");
            for (var i = 0; i < values.Count; i++)
            {
                var column = table.Clustering[i];
                json.WritePropertyName(column.Name);
                if (values[i] is { } value)
                {
                    CassandraValueWriter.WriteJson(json, column.Type, value);
                }
                else
                {
                    json.WriteNullValue();
                }
            }

            json.WriteEndObject();

            // The methods follow the table's clustering order, as the log writes them: on a descending column "after 9"
            // (">") means smaller values. Each bound says the order of its values, so that a consumer cannot take it the
            // other way round.
            json.WriteStartObject("order");
            for (var i = 0; i < values.Count; i++)
            {
                json.WriteString(table.Clustering[i].Name, table.ClusteringDescending[i] ? "desc" : "asc");
            }

            json.WriteEndObject();
            json.WriteEndObject();
        }

        return _json.WrittenSpan.ToArray();
    }

    private void Delete(long timestampMicros)
    {
        var image = new CassandraRowImage(_row, keyOnly: true);
        _context.Delete(_table!, image, new CassandraSourceBlock(_eventNode, _segment, _offset, timestampMicros));
        Events++;
    }

    private void FlushRow()
    {
        if (!_pending.Active)
        {
            return;
        }

        var pending = _pending;
        _pending = default;
        if (_rangeStart is not null)
        {
            // Inside an open range deletion: held until the deletion is written (OnRangeTombstone).
            var copy = _spare.Count > 0 ? _spare.Pop() : new CassandraRow();
            copy.CopyFrom(_row);
            _held.Add((copy, pending));
            return;
        }

        Emit(_row, pending);
    }

    /// <summary>Writes the rows held while a range deletion was open, in the order read.</summary>
    private void EmitHeld()
    {
        foreach (var (row, pending) in _held)
        {
            Emit(row, pending);
        }

        ReleaseHeld();
    }

    private void ReleaseHeld()
    {
        foreach (var (row, _) in _held)
        {
            _spare.Push(row);
        }

        _held.Clear();
    }

    private void Emit(CassandraRow row, PendingRow pending)
    {
        var block = new CassandraSourceBlock(_eventNode, _segment, _offset, pending.Timestamp == long.MinValue ? pending.Deletion?.MarkedForDeleteAt ?? 0 : pending.Timestamp);
        if (pending.Deletion is not null && !pending.IsStatic)
        {
            _context.Delete(_table!, new CassandraRowImage(row, keyOnly: true), block);
            Events++;
        }

        if (!row.HasCells && pending.Liveness.IsEmpty)
        {
            return;
        }

        var after = new CassandraRowImage(row, keyOnly: false);
        if (!pending.Liveness.IsEmpty && !pending.IsStatic)
        {
            _context.Insert(_table!, after, block);
        }
        else
        {
            _context.Update(_table!, after, hasBefore: false, after, block);
        }

        Events++;
    }

    private readonly record struct PendingRow(bool Active, bool IsStatic, LivenessInfo Liveness, DeletionTime? Deletion, long Timestamp);
}
