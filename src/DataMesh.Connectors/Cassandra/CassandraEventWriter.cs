using System.Text;
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
/// row as an update whose key has all clustering columns null. <c>before</c> is always null: a commit log has no old row.
/// </summary>
internal sealed class CassandraEventWriter : IMutationHandler
{
    private readonly SourceContext<CassandraPosition> _context;
    private readonly Func<CassandraTable, SourceTable> _tables;
    private readonly byte[] _node;
    private readonly CassandraRow _row = new();
    private SourceTable? _table;
    private PendingRow _pending;
    private byte[]? _rangeStartPrefix;
    private DeletionTime _rangeDeletion;
    private long _segment;
    private long _offset;
    private string _segmentName = string.Empty;

    public CassandraEventWriter(SourceContext<CassandraPosition> context, string node, Func<CassandraTable, SourceTable> tables)
    {
        _context = context;
        _tables = tables;
        _node = Encoding.UTF8.GetBytes(node);
        _row.Decimals = context.Events.DecimalHandling;
    }

    /// <summary>Events written (rows, deletions) since created.</summary>
    public long Events { get; private set; }

    /// <summary>Starts a mutation at <paramref name="offset"/> (its entry's end) of segment <paramref name="segment"/>.</summary>
    public void Begin(string segmentName, long segment, long offset)
    {
        _segmentName = segmentName;
        _segment = segment;
        _offset = offset;
        _pending = default;
        _table = null;
    }

    /// <summary>Writes the mutation's last row.</summary>
    public void End() => FlushRow();

    public void OnPartition(in PartitionUpdate partition)
    {
        FlushRow();
        var table = partition.Table;
        _table = _tables(table);
        _row.Reset(table);
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
        if (!column.IsDropped)
        {
            _row.Replace(column);
            _pending = _pending with { Timestamp = Math.Max(_pending.Timestamp, deletion.MarkedForDeleteAt) };
        }
    }

    public void OnCell(in RowHeader row, in Cell cell)
    {
        if (cell.Column.IsDropped)
        {
            return; // a dropped column's cells, written before it was dropped
        }

        _row.Add(cell);
        _pending = _pending with { Timestamp = Math.Max(_pending.Timestamp, cell.Timestamp) };
    }

    public void OnRangeTombstone(in RangeTombstoneMarker marker)
    {
        FlushRow();
        var table = marker.Table;
        if (marker.IsBoundary)
        {
            throw Unsupported(table, "a range deletion whose bounds touch another range deletion");
        }

        if (marker.Kind is BoundKind.InclusiveStart or BoundKind.ExclusiveStart)
        {
            _rangeStartPrefix = marker.Kind == BoundKind.InclusiveStart ? Prefix(marker.Prefix) : null;
            _rangeDeletion = marker.Deletion;
            return;
        }

        // The end: a deletion of every row under a clustering prefix (DELETE … WHERE pk = … AND ck1 = …) has equal inclusive
        // bounds; a slice (ck > …, ck < …) has no key to stand for it.
        if (marker.Kind != BoundKind.InclusiveEnd || _rangeStartPrefix is null || !Prefix(marker.Prefix).AsSpan().SequenceEqual(_rangeStartPrefix))
        {
            throw Unsupported(table, "a range deletion of a clustering slice (DELETE … WHERE ck > … or ck < …)");
        }

        for (var i = 0; i < table.Clustering.Count; i++)
        {
            var isNull = i >= marker.Prefix.Count || marker.Prefix.IsNull(i);
            _row.SetKey(table.PartitionKey.Count + i, isNull ? default : marker.Prefix[i], isNull);
        }

        _rangeStartPrefix = null;
        Delete(_rangeDeletion.MarkedForDeleteAt);
    }

    private SourceException Unsupported(CassandraTable table, string what) => new(
        $"Cassandra source '{_context.SourceName}': table {table.QualifiedName} has {what} in commit-log segment {_segmentName} before offset {_offset}; " +
        "no change event can stand for it, so the source stops rather than leave it out. Exclude the table (ExcludeTables) to go on without it.",
        isTransient: false);

    private static byte[] Prefix(ClusteringValues prefix)
    {
        using var stream = new MemoryStream();
        for (var i = 0; i < prefix.Count; i++)
        {
            var value = prefix[i];
            stream.WriteByte(prefix.IsNull(i) ? (byte)0 : (byte)1);
            stream.Write(BitConverter.GetBytes(value.Length));
            stream.Write(value);
        }

        return stream.ToArray();
    }

    private void Delete(long timestampMicros)
    {
        var image = new CassandraRowImage(_row, keyOnly: true);
        _context.Delete(_table!, image, new CassandraSourceBlock(_node, _segment, _offset, timestampMicros));
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
        var block = new CassandraSourceBlock(_node, _segment, _offset, pending.Timestamp == long.MinValue ? pending.Deletion?.MarkedForDeleteAt ?? 0 : pending.Timestamp);
        if (pending.Deletion is not null && !pending.IsStatic)
        {
            _context.Delete(_table!, new CassandraRowImage(_row, keyOnly: true), block);
            Events++;
        }

        if (!_row.HasCells && pending.Liveness.IsEmpty)
        {
            return;
        }

        var after = new CassandraRowImage(_row, keyOnly: false);
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
