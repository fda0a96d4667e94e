using System.Diagnostics.Metrics;

namespace DataMesh.Connectors.Cassandra.Replicas;

/// <summary>
/// Replica de-duplication's measurements on the <c>DataMesh.Connectors.Cassandra</c> meter (beside the sinks'
/// <c>DataMesh.Connectors.Sinks</c>; <c>AddDataMeshInstrumentation</c> exports both), tagged <c>datamesh.connector</c>
/// (cassandra) and <c>datamesh.source</c>: <c>datamesh.source.cassandra.copies</c> (partition-update copies read, by
/// <c>datamesh.outcome</c>: <c>published</c>, <c>duplicate</c> — dropped because the update was published —, <c>held</c> —
/// waiting for more copies), <c>datamesh.source.cassandra.updates.expired</c> (updates forgotten before enough copies
/// arrived: dropped, nothing published), <c>datamesh.source.cassandra.updates.evicted</c> (forgotten early because
/// <c>MaxEntries</c> were remembered).
/// </summary>
internal sealed class ReplicaMetrics
{
    /// <summary>The meter's name.</summary>
    public const string MeterName = "DataMesh.Connectors.Cassandra";

    private static readonly Meter Meter = new(MeterName, typeof(ReplicaMetrics).Assembly.GetName().Version?.ToString());
    private static readonly Counter<long> Copies = Meter.CreateCounter<long>("datamesh.source.cassandra.copies", "{copy}", "Copies of partition updates read from the replicas' commit logs, by outcome.");
    private static readonly Counter<long> ExpiredUpdates = Meter.CreateCounter<long>("datamesh.source.cassandra.updates.expired", "{update}", "Partition updates forgotten before their copies reached the consistency level: not published, or a late copy of an update published before (re-read after a restart, or read after the window).");
    private static readonly Counter<long> EvictedUpdates = Meter.CreateCounter<long>("datamesh.source.cassandra.updates.evicted", "{update}", "Partition updates forgotten before their window ended because MaxEntries were remembered.");

    private readonly KeyValuePair<string, object?>[] _tags;
    private readonly KeyValuePair<string, object?>[][] _byOutcome;
    private long _expired;
    private long _evicted;

    public ReplicaMetrics(string source)
    {
        _tags = [new("datamesh.connector", "cassandra"), new("datamesh.source", source)];
        _byOutcome = [.. new[] { "published", "held", "duplicate" }.Select(o => new KeyValuePair<string, object?>[] { _tags[0], _tags[1], new("datamesh.outcome", o) })];
    }

    /// <summary>Counts a copy's outcome.</summary>
    public void Copy(CopyDecision decision) => Copies.Add(1, _byOutcome[(int)decision]);

    /// <summary>Reports what the deduplicator forgot since the last call.</summary>
    /// <returns>The updates expired since the last call.</returns>
    public long Report(ReplicaDeduplicator deduplicator)
    {
        var expired = deduplicator.Expired - _expired;
        var evicted = deduplicator.Evicted - _evicted;
        _expired = deduplicator.Expired;
        _evicted = deduplicator.Evicted;
        if (expired > 0)
        {
            ExpiredUpdates.Add(expired, _tags);
        }

        if (evicted > 0)
        {
            EvictedUpdates.Add(evicted, _tags);
        }

        return expired;
    }
}
