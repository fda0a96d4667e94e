using System.Collections.Concurrent;
using System.Diagnostics.Metrics;

namespace DataMesh.Sources;

/// <summary>
/// The source runtime's instruments, on the one meter <c>DataMesh.Sources</c>, every measurement tagged with
/// <c>datamesh.connector</c> (postgresql, mysql ...) and <c>datamesh.source</c> (the source's name):
/// <c>datamesh.source.events</c> (records produced, by <c>datamesh.operation</c>: c, u, d, r, t, tombstone),
/// <c>datamesh.source.transactions</c> (checkpoints passed to Kafka), <c>datamesh.source.retries</c>,
/// <c>datamesh.source.positions.stored</c>, <c>datamesh.source.in_flight</c> (records not yet acknowledged),
/// <c>datamesh.source.lag.time</c> (seconds from the commit of the last change read to now, while it is not acknowledged),
/// <c>datamesh.source.lag.bytes</c> (log bytes beyond the acknowledged position, where the connector knows it) and
/// <c>datamesh.source.snapshot.rows</c> (snapshot rows emitted, by <c>datamesh.table</c>) and
/// <c>datamesh.source.state</c> (0 stopped, 1 starting, 2 running, 3 retrying, 4 stalled, 5 failed).
/// </summary>
internal sealed class SourceMetrics
{
    /// <summary>The meter's name.</summary>
    public const string MeterName = "DataMesh.Sources";

    private static readonly Meter Meter = new(MeterName, typeof(SourceMetrics).Assembly.GetName().Version?.ToString());
    private static readonly Counter<long> Events = Meter.CreateCounter<long>("datamesh.source.events", "{event}", "Records produced to Kafka.");
    private static readonly Counter<long> Transactions = Meter.CreateCounter<long>("datamesh.source.transactions", "{transaction}", "Checkpoints (transaction ends) passed to Kafka.");
    private static readonly Counter<long> Retries = Meter.CreateCounter<long>("datamesh.source.retries", "{retry}", "Retries after transient failures.");
    private static readonly Counter<long> Stored = Meter.CreateCounter<long>("datamesh.source.positions.stored", "{position}", "Positions stored after Kafka acknowledged everything before them.");
    private static readonly Counter<long> SnapshotRowCount = Meter.CreateCounter<long>("datamesh.source.snapshot.rows", "{row}", "Snapshot rows emitted, by table.");
    private static readonly ConcurrentDictionary<SourceMetrics, bool> Live = new();

    private readonly KeyValuePair<string, object?>[] _tags;
    private readonly KeyValuePair<string, object?>[][] _byOperation;
    private readonly Func<long> _inFlight;
    private readonly Func<SourceState> _state;
    private long _lastCommitMs;
    private long _bytesBehind = -1;

    static SourceMetrics()
    {
        Meter.CreateObservableGauge("datamesh.source.in_flight", () => Live.Keys.Select(m => new Measurement<long>(m._inFlight(), m._tags)), "{event}", "Records handed to Kafka and not yet acknowledged.");
        Meter.CreateObservableGauge("datamesh.source.lag.time", () => Live.Keys.Select(m => new Measurement<double>(m.LagSeconds(), m._tags)), "s", "Seconds from the commit of the last change read to now, while it is not acknowledged.");
        Meter.CreateObservableGauge("datamesh.source.lag.bytes", () => Live.Keys.Where(m => Interlocked.Read(ref m._bytesBehind) >= 0).Select(m => new Measurement<long>(Interlocked.Read(ref m._bytesBehind), m._tags)), "By", "Log bytes the server has written beyond the last acknowledged position.");
        Meter.CreateObservableGauge("datamesh.source.state", () => Live.Keys.Select(m => new Measurement<int>((int)m._state(), m._tags)), "{state}", "0 stopped, 1 starting, 2 running, 3 retrying, 4 stalled, 5 failed, 6 standby (another process holds the source's lease).");
        Meter.CreateObservableGauge("datamesh.source.snapshot.rows.done", () => Snapshot<long>(m => m.Rows), "{row}", "Rows a running snapshot has emitted, by table.");
        Meter.CreateObservableGauge("datamesh.source.snapshot.rows.estimated", () => Snapshot(m => m.EstimatedRows), "{row}", "The table's estimated row count (database statistics), by table.");
        Meter.CreateObservableGauge("datamesh.source.snapshot.rate", () => Snapshot<double>(m => m.RowsPerSecond), "{row}/s", "Rows per second of a running snapshot, by table.");
        Meter.CreateObservableGauge("datamesh.source.snapshot.time_left", () => Snapshot(m => m.TimeLeft?.TotalSeconds), "s", "Estimated seconds until a running snapshot has read its table.");
    }

    /// <summary>The snapshot tables' progress (set by the runtime when the connector snapshots).</summary>
    public Func<IReadOnlyList<SnapshotTableStatus>>? SnapshotProgress { get; set; }

    public SourceMetrics(string connector, string source, Func<long> inFlight, Func<SourceState> state)
    {
        _tags = [new("datamesh.connector", connector), new("datamesh.source", source)];
        _byOperation = new[] { "c", "u", "d", "r", "t", "tombstone" }.Select(op => new[] { _tags[0], _tags[1], new KeyValuePair<string, object?>("datamesh.operation", op) }).ToArray();
        _inFlight = inFlight;
        _state = state;
        Live[this] = true;
    }

    /// <summary>A record produced: the operation's index in <see cref="Events.ChangeOperation"/>, or -1 for a tombstone.</summary>
    public void Event(int operation) => Events.Add(1, _byOperation[operation < 0 ? 5 : operation]);

    public void Transaction() => Transactions.Add(1, _tags);

    public void Retry() => Retries.Add(1, _tags);

    public void PositionStored() => Stored.Add(1, _tags);

    public void SnapshotRows(string table, long rows) => SnapshotRowCount.Add(rows, [_tags[0], _tags[1], new("datamesh.table", table)]);

    private static IEnumerable<Measurement<T>> Snapshot<T>(Func<SnapshotTableStatus, T?> value)
        where T : struct =>
        Live.Keys.Where(m => m.SnapshotProgress is not null).SelectMany(m => m.SnapshotProgress!()
            .Where(t => value(t) is not null)
            .Select(t => new Measurement<T>(value(t)!.Value, [m._tags[0], m._tags[1], new("datamesh.table", t.Table)])));

    public void Progress(long commitTimestampMs, long? bytesBehind)
    {
        if (commitTimestampMs > 0)
        {
            Interlocked.Exchange(ref _lastCommitMs, commitTimestampMs);
        }

        if (bytesBehind is { } bytes)
        {
            Interlocked.Exchange(ref _bytesBehind, Math.Max(0, bytes));
        }
    }

    public void Remove() => Live.TryRemove(this, out _);

    private double LagSeconds()
    {
        var last = Interlocked.Read(ref _lastCommitMs);
        return last == 0 || _inFlight() == 0 ? 0 : Math.Max(0, (DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() - last) / 1000.0);
    }
}
