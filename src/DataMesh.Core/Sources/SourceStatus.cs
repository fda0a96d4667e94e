using System.Collections.Concurrent;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace DataMesh.Sources;

/// <summary>Where a source is in its life.</summary>
public enum SourceState
{
    /// <summary>Not running (stopped gracefully, or not started yet).</summary>
    Stopped,

    /// <summary>Loading its position and connecting.</summary>
    Starting,

    /// <summary>Reading its log.</summary>
    Running,

    /// <summary>Waiting to retry after a transient failure (<see cref="SourceStatus.Message"/> says which).</summary>
    Retrying,

    /// <summary>Running, but Kafka has not acknowledged for <see cref="SourceOptions.StallTimeout"/>, or the log reader was
    /// silent that long.</summary>
    Stalled,

    /// <summary>Stopped by a fatal error (<see cref="SourceStatus.Message"/> says what to do).</summary>
    Failed,

    /// <summary>Standing by: another process holds the source's lease (<see cref="SourceOptions.UseLease"/>) and reads it;
    /// this one takes over, from the stored position, when that one stops or dies.</summary>
    Standby,
}

/// <summary>A snapshot of one source's state, for health checks, status pages and tools. Holds no secret and no row
/// content: messages are the runtime's own, with connection strings never included.</summary>
/// <param name="Name">The source's name.</param>
/// <param name="Connector">The connector kind.</param>
/// <param name="State">Its state.</param>
/// <param name="Message">Why it is retrying, stalled or failed; null otherwise.</param>
/// <param name="StoredPosition">The last stored position, as the connector describes it; null before the first.</param>
/// <param name="Produced">Records handed to Kafka since the start.</param>
/// <param name="InFlight">Records not yet acknowledged.</param>
/// <param name="Retries">Retries since the start.</param>
/// <param name="LastActivity">When the connector last read its log or flushed.</param>
public sealed record SourceStatus(string Name, string Connector, SourceState State, string? Message, string? StoredPosition, long Produced, long InFlight, int Retries, DateTimeOffset? LastActivity)
{
    /// <summary>The tables the source has registered since it started, by table name: each registered when the source
    /// first meets it in its log or a snapshot (not when its pattern matches it), and registered again, replacing its
    /// entry, when its schema changes. The source's own tables (snapshot watermarks, signals) are not in it. Empty before
    /// the first; kept after the source stops.</summary>
    public IReadOnlyList<RegisteredTable> Tables { get; init; } = [];
}

/// <summary>A table a source registered: its topic and the schema ids its events are produced with.</summary>
/// <param name="Table"><c>schema.table</c> (MySQL: <c>database.table</c>; Cassandra: <c>keyspace.table</c>).</param>
/// <param name="Topic">The table's topic.</param>
/// <param name="KeySchemaId">The id of its key schema (subject <c>TOPIC-key</c>); null for a keyless table, whose events
/// have no key.</param>
/// <param name="ValueSchemaId">The id of its value (envelope) schema (subject <c>TOPIC-value</c>).</param>
public sealed record RegisteredTable(string Table, string Topic, int? KeySchemaId, int ValueSchemaId);

/// <summary>The states of the sources of this process (registered by <c>AddDataMesh</c>).</summary>
public sealed class SourceMonitor
{
    private readonly ConcurrentDictionary<string, Func<SourceStatus>> _sources = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, ISnapshotControl> _snapshots = new(StringComparer.Ordinal);

    /// <summary>Every source's current status, by name.</summary>
    public IReadOnlyList<SourceStatus> Sources => _sources.Values.Select(s => s()).OrderBy(s => s.Name, StringComparer.Ordinal).ToList();

    /// <summary>One source's status, or null.</summary>
    /// <param name="name">The source's name.</param>
    public SourceStatus? Get(string name) => _sources.TryGetValue(name, out var status) ? status() : null;

    /// <summary>The snapshot control of a source, or null when it has none (its connector does not support snapshots, or it
    /// is not running).</summary>
    /// <param name="name">The source's name.</param>
    public ISnapshotControl? Snapshots(string name) => _snapshots.GetValueOrDefault(name);

    internal void Add(string name, Func<SourceStatus> status, ISnapshotControl? snapshots = null)
    {
        _sources[name] = status;
        if (snapshots is not null)
        {
            _snapshots[name] = snapshots;
        }
    }
}

/// <summary>
/// A health check over every source of the process: <c>Unhealthy</c> when one failed, <c>Degraded</c> when one is
/// retrying or stalled, <c>Healthy</c> otherwise (standbys named apart); the data holds each source's state and message. Add it with
/// <c>services.AddHealthChecks().AddCheck&lt;SourceHealthCheck&gt;("datamesh-sources")</c>.
/// </summary>
/// <param name="monitor">The sources.</param>
public sealed class SourceHealthCheck(SourceMonitor monitor) : IHealthCheck
{
    /// <inheritdoc />
    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        var sources = monitor.Sources;
        var data = sources.ToDictionary(s => s.Name, s => (object)(s.Message is null ? s.State.ToString() : $"{s.State}: {s.Message}"), StringComparer.Ordinal);
        var failed = sources.Where(s => s.State == SourceState.Failed).ToList();
        if (failed.Count > 0)
        {
            return Task.FromResult(HealthCheckResult.Unhealthy($"{failed.Count} source(s) failed: {string.Join("; ", failed.Select(s => $"{s.Name}: {s.Message}"))}", data: data));
        }

        var troubled = sources.Where(s => s.State is SourceState.Retrying or SourceState.Stalled).ToList();
        return Task.FromResult(troubled.Count > 0
            ? HealthCheckResult.Degraded($"{string.Join("; ", troubled.Select(s => $"{s.Name} {s.State.ToString().ToLowerInvariant()}: {s.Message}"))}", data: data)
            : HealthCheckResult.Healthy(Healthy(sources), data));
    }

    /// <summary>A standby is healthy (another process reads its source) and said apart from the sources this one reads.</summary>
    private static string Healthy(IReadOnlyList<SourceStatus> sources)
    {
        var standby = sources.Where(s => s.State == SourceState.Standby).Select(s => s.Name).ToList();
        return standby.Count == 0
            ? $"{sources.Count} source(s) running"
            : $"{sources.Count - standby.Count} source(s) running, {standby.Count} standing by (another process holds their lease): {string.Join(", ", standby)}";
    }
}
