using System.Collections.Concurrent;
using System.Diagnostics.Metrics;

namespace DataMesh.Connectors.Postgres;

/// <summary>
/// The PostgreSQL sources' metrics, on the meter <c>DataMesh.Connectors.Postgres</c>:
/// <c>datamesh.source.events</c> (counter of change events produced, by source and operation; its rate is events/s),
/// <c>datamesh.source.lag.bytes</c> (server WAL end minus the last acknowledged LSN),
/// <c>datamesh.source.lag.time</c> (seconds from the commit of the oldest unacknowledged change to now),
/// <c>datamesh.source.acknowledged_lsn</c> (the last LSN stored and confirmed).
/// </summary>
internal sealed class PostgresMetrics
{
    public const string MeterName = "DataMesh.Connectors.Postgres";

    private static readonly Meter Meter = new(MeterName, typeof(PostgresMetrics).Assembly.GetName().Version?.ToString());
    private static readonly Counter<long> Events = Meter.CreateCounter<long>("datamesh.source.events", "{event}", "Change events produced to Kafka.");
    private static readonly ConcurrentDictionary<string, PostgresMetrics> Sources = new(StringComparer.Ordinal);

    private readonly KeyValuePair<string, object?> _source;
    private readonly KeyValuePair<string, object?>[][] _byOperation;

    static PostgresMetrics()
    {
        Meter.CreateObservableGauge("datamesh.source.lag.bytes", () => Sources.Values.Select(s => new Measurement<long>(s.LagBytes, s._source)), "By", "WAL bytes the server has written beyond the last acknowledged position.");
        Meter.CreateObservableGauge("datamesh.source.lag.time", () => Sources.Values.Select(s => new Measurement<double>(s.LagSeconds, s._source)), "s", "Seconds since the commit of the oldest change not yet acknowledged by Kafka.");
        Meter.CreateObservableGauge("datamesh.source.acknowledged_lsn", () => Sources.Values.Select(s => new Measurement<long>((long)s.AcknowledgedLsn, s._source)), "{lsn}", "The last LSN stored and confirmed to the slot.");
    }

    public PostgresMetrics(string source)
    {
        _source = new KeyValuePair<string, object?>("datamesh.source.name", source);
        _byOperation = new[] { "c", "u", "d", "t", "r" }.Select(op => new[] { _source, new KeyValuePair<string, object?>("datamesh.operation", op) }).ToArray();
        Sources[source] = this;
    }

    public ulong ServerWalEnd { get; set; }

    public ulong AcknowledgedLsn { get; set; }

    /// <summary>Commit time (Unix ms) of the oldest change produced and not yet acknowledged; 0 when none.</summary>
    public long OldestPendingCommitMs { get; set; }

    private long LagBytes => ServerWalEnd > AcknowledgedLsn ? (long)(ServerWalEnd - AcknowledgedLsn) : 0;

    private double LagSeconds => OldestPendingCommitMs == 0 ? 0 : Math.Max(0, (DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() - OldestPendingCommitMs) / 1000.0);

    public void Produced(int operationIndex) => Events.Add(1, _byOperation[operationIndex]);

    public void Remove(string source) => Sources.TryRemove(new KeyValuePair<string, PostgresMetrics>(source, this));
}
