namespace DataMesh;

/// <summary>How many replicas' copies of a write a Cassandra source that reads several nodes
/// (<see cref="CassandraSourceOptions.Nodes"/>) waits for before it publishes the write (after Apache cassandra-analytics' CDC).</summary>
public enum CassandraConsistencyLevel
{
    /// <summary>The first copy is published; later copies within the window are dropped.</summary>
    One,

    /// <summary>Two copies.</summary>
    Two,

    /// <summary>Three copies.</summary>
    Three,

    /// <summary>⌊<see cref="CassandraReplicaOptions.ReplicationFactor"/> / 2⌋ + 1 copies.</summary>
    Quorum,

    /// <summary><see cref="CassandraReplicaOptions.ReplicationFactor"/> copies.</summary>
    All,
}

/// <summary>
/// Replica de-duplication of a Cassandra source that reads several nodes' <c>cdc_raw</c> directories
/// (<see cref="CassandraSourceOptions.Nodes"/>): with replication factor N each write is in N nodes' commit logs; the
/// source matches the copies by a digest of each partition update and publishes it once, when
/// <see cref="ConsistencyLevel"/> copies arrived within <see cref="Window"/>. See docs/cassandra.md, "Replica
/// de-duplication", for the trade-offs.
/// </summary>
public sealed class CassandraReplicaOptions
{
    /// <summary>How many copies a partition update needs before it is published. Default <see cref="CassandraConsistencyLevel.One"/>:
    /// the first copy, so that a write that reached only one node is not lost; <see cref="CassandraConsistencyLevel.Quorum"/>
    /// publishes only what a quorum of replicas wrote in time, and drops the rest.</summary>
    public CassandraConsistencyLevel ConsistencyLevel { get; set; } = CassandraConsistencyLevel.One;

    /// <summary>The keyspaces' replication factor, for <see cref="CassandraConsistencyLevel.Quorum"/> and
    /// <see cref="CassandraConsistencyLevel.All"/>. Default: the number of <see cref="CassandraSourceOptions.Nodes"/>; required with those levels and more than 3 nodes.</summary>
    public int? ReplicationFactor { get; set; }

    /// <summary>How long a partition update is remembered after its first copy arrived. Copies arriving later count as a
    /// new update: under ONE they are published again (a duplicate), under QUORUM and ALL they are dropped unless enough of
    /// them arrive. It must cover how far apart the nodes' <c>cdc_raw</c> directories are read (Cassandra 4.0+: the
    /// commit-log sync period; 3.x: the time to fill a segment). Default 5 minutes.</summary>
    public TimeSpan Window { get; set; } = TimeSpan.FromMinutes(5);

    /// <summary>How many partition updates are remembered at most (about 200 bytes each); when full the oldest is forgotten
    /// early. Default 250 000.</summary>
    public int MaxEntries { get; set; } = 250_000;

    /// <summary>The copies needed for <paramref name="nodes"/> nodes.</summary>
    internal int RequiredCopies(int nodes)
    {
        var factor = ReplicationFactor ?? nodes;
        return ConsistencyLevel switch
        {
            CassandraConsistencyLevel.One => 1,
            CassandraConsistencyLevel.Two => 2,
            CassandraConsistencyLevel.Three => 3,
            CassandraConsistencyLevel.Quorum => (factor / 2) + 1,
            _ => factor,
        };
    }
}
