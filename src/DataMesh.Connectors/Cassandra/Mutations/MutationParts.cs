using System.Buffers.Binary;
using DataMesh.Connectors.Cassandra.Schema;

namespace DataMesh.Connectors.Cassandra.Mutations;

/// <summary>A deletion: its timestamp (µs) and when the node recorded it (s since the epoch, for tombstone purging).</summary>
/// <param name="MarkedForDeleteAt">The deletion's timestamp in microseconds.</param>
/// <param name="LocalDeletionTime">The node's time of the deletion in seconds.</param>
internal readonly record struct DeletionTime(long MarkedForDeleteAt, int LocalDeletionTime);

/// <summary>A row's primary-key liveness: the timestamp of its INSERT, and its TTL when it expires.</summary>
/// <param name="Timestamp">The timestamp in microseconds, or <see cref="long.MinValue"/> when the row has none (written by
/// UPDATE, or a COMPACT STORAGE table).</param>
/// <param name="Ttl">The TTL in seconds, 0 when it does not expire.</param>
/// <param name="LocalExpirationTime">When it expires, in seconds since the epoch (<see cref="int.MaxValue"/> if never).</param>
internal readonly record struct LivenessInfo(long Timestamp, int Ttl, int LocalExpirationTime)
{
    public const long NoTimestamp = long.MinValue;
    public const int NoExpiration = int.MaxValue;

    public static LivenessInfo Empty => new(NoTimestamp, 0, NoExpiration);

    public bool IsEmpty => Timestamp == NoTimestamp;

    public bool IsExpiring => Ttl > 0;
}

/// <summary>Which end of a clustering range a range-tombstone marker is (Cassandra's <c>ClusteringPrefix.Kind</c> ordinals).</summary>
internal enum BoundKind : byte
{
    ExclusiveEnd = 0,
    InclusiveStart = 1,
    ExclusiveEndInclusiveStart = 2,
    InclusiveEndExclusiveStart = 5,
    InclusiveEnd = 6,
    ExclusiveStart = 7,
}

/// <summary>Clustering values decoded in place: each value's range in the mutation, or null/empty.</summary>
internal readonly ref struct ClusteringValues
{
    private readonly ReadOnlySpan<byte> _mutation;
    private readonly ReadOnlySpan<int> _ranges;

    public ClusteringValues(ReadOnlySpan<byte> mutation, ReadOnlySpan<int> ranges)
    {
        _mutation = mutation;
        _ranges = ranges;
    }

    /// <summary>The number of values (the table's clustering columns for a row, possibly fewer for a range bound).</summary>
    public int Count => _ranges.Length / 2;

    /// <summary>Whether value <paramref name="index"/> is null (a bound's missing suffix, a COMPACT STORAGE row).</summary>
    public bool IsNull(int index) => _ranges[2 * index] < 0;

    /// <summary>The bytes of value <paramref name="index"/> (empty for null).</summary>
    public ReadOnlySpan<byte> this[int index] => _ranges[2 * index] < 0 ? default : _mutation.Slice(_ranges[2 * index], _ranges[(2 * index) + 1]);
}

/// <summary>The header of one partition update: its table, key, partition deletion and what follows.</summary>
internal readonly ref struct PartitionUpdate
{
    public PartitionUpdate(CassandraTable table, ReadOnlySpan<byte> key, DeletionTime? deletion, bool isEmpty, bool hasStaticRow)
    {
        Table = table;
        Key = key;
        Deletion = deletion;
        IsEmpty = isEmpty;
        HasStaticRow = hasStaticRow;
    }

    public CassandraTable Table { get; }

    /// <summary>The serialized partition key: the value itself for one key column; for several, Cassandra's composite
    /// (per component an uint16 length, the bytes and an end-of-component byte) — see <see cref="TryGetKeyComponent"/>.</summary>
    public ReadOnlySpan<byte> Key { get; }

    /// <summary>The partition's deletion (<c>DELETE FROM t WHERE pk = …</c>), or null.</summary>
    public DeletionTime? Deletion { get; }

    /// <summary>An update with nothing in it.</summary>
    public bool IsEmpty { get; }

    public bool HasStaticRow { get; }

    /// <summary>The value of partition-key column <paramref name="index"/>.</summary>
    /// <returns>False when the composite key is malformed.</returns>
    public bool TryGetKeyComponent(int index, out ReadOnlySpan<byte> value)
    {
        if (Table.PartitionKey.Count == 1)
        {
            value = index == 0 ? Key : default;
            return index == 0;
        }

        var key = Key;
        for (var i = 0; key.Length >= 2; i++)
        {
            var length = BinaryPrimitives.ReadUInt16BigEndian(key);
            if (key.Length < 3 + length)
            {
                break;
            }

            if (i == index)
            {
                value = key.Slice(2, length);
                return true;
            }

            key = key[(3 + length)..];
        }

        value = default;
        return false;
    }
}

/// <summary>A row's header: clustering, liveness, deletion. Its cells follow through <see cref="IMutationHandler.OnCell"/>.</summary>
internal readonly ref struct RowHeader
{
    public RowHeader(CassandraTable table, bool isStatic, ClusteringValues clustering, LivenessInfo liveness, DeletionTime? deletion, bool isShadowableDeletion)
    {
        Table = table;
        IsStatic = isStatic;
        Clustering = clustering;
        Liveness = liveness;
        Deletion = deletion;
        IsShadowableDeletion = isShadowableDeletion;
    }

    public CassandraTable Table { get; }

    /// <summary>The partition's static row (no clustering).</summary>
    public bool IsStatic { get; }

    public ClusteringValues Clustering { get; }

    public LivenessInfo Liveness { get; }

    /// <summary>The row's deletion (<c>DELETE FROM t WHERE pk = … AND ck = …</c>), or null.</summary>
    public DeletionTime? Deletion { get; }

    /// <summary>A deletion of a materialized view's row that a newer base row may shadow.</summary>
    public bool IsShadowableDeletion { get; }
}

/// <summary>One cell: a simple column's value, or one element of a multi-cell (non-frozen collection or UDT) column.</summary>
internal readonly ref struct Cell
{
    public Cell(CassandraColumn column, byte flags, long timestamp, int ttl, int localDeletionTime, ReadOnlySpan<byte> path, ReadOnlySpan<byte> value)
    {
        Column = column;
        Flags = flags;
        Timestamp = timestamp;
        Ttl = ttl;
        LocalDeletionTime = localDeletionTime;
        Path = path;
        Value = value;
    }

    public const byte TombstoneFlag = 0x01;
    public const byte ExpiringFlag = 0x02;

    public CassandraColumn Column { get; }

    /// <summary>The cell's flags as serialized.</summary>
    public byte Flags { get; }

    /// <summary>A deleted cell (<c>UPDATE … SET c = null</c>, a removed collection element).</summary>
    public bool IsTombstone => (Flags & TombstoneFlag) != 0;

    /// <summary>A cell written with a TTL.</summary>
    public bool IsExpiring => (Flags & ExpiringFlag) != 0;

    /// <summary>The write's timestamp in microseconds.</summary>
    public long Timestamp { get; }

    /// <summary>The TTL in seconds (0 when not expiring).</summary>
    public int Ttl { get; }

    /// <summary>When an expiring cell expires or a tombstone was written, in seconds since the epoch (<see cref="int.MaxValue"/> otherwise).</summary>
    public int LocalDeletionTime { get; }

    /// <summary>The cell path of a multi-cell column: a list element's timeuuid, a set element, a map key, a UDT field's
    /// index as int16; empty for simple columns.</summary>
    public ReadOnlySpan<byte> Path { get; }

    /// <summary>The value's bytes (empty for tombstones and set elements).</summary>
    public ReadOnlySpan<byte> Value { get; }

    /// <summary>The type of <see cref="Value"/>: the column's type, or for a multi-cell column the element's (a list's
    /// element, a map's value, a UDT's field).</summary>
    public CqlType? ValueType => MutationDecoder.CellValueType(Column.Type, Path);
}

/// <summary>A range-tombstone marker: one end (or both, for a boundary) of a deleted clustering range.</summary>
internal readonly ref struct RangeTombstoneMarker
{
    public RangeTombstoneMarker(CassandraTable table, BoundKind kind, ClusteringValues prefix, DeletionTime deletion, DeletionTime? endDeletion)
    {
        Table = table;
        Kind = kind;
        Prefix = prefix;
        Deletion = deletion;
        EndDeletion = endDeletion;
    }

    public CassandraTable Table { get; }

    public BoundKind Kind { get; }

    /// <summary>The bound's clustering prefix (fewer values than clustering columns bound a wider range).</summary>
    public ClusteringValues Prefix { get; }

    /// <summary>The deletion of the range this marker opens or closes (for a boundary: the one it opens).</summary>
    public DeletionTime Deletion { get; }

    /// <summary>For a boundary marker, the deletion of the range it closes.</summary>
    public DeletionTime? EndDeletion { get; }

    public bool IsBoundary => Kind is BoundKind.ExclusiveEndInclusiveStart or BoundKind.InclusiveEndExclusiveStart;
}
