using DataMesh.Events;
using Microsoft.Extensions.Logging;

namespace DataMesh.Sources;

/// <summary>What a <see cref="SourceContext{TPosition}"/> needs of its runtime: the source's identity and settings, table
/// registration, metrics and the watchdog's heartbeat. <see cref="SourceRuntime{TPosition}"/> is the real one;
/// <see cref="EncodingHost"/> encodes without Kafka, for tests and benchmarks of connectors.</summary>
internal interface ISourceHost
{
    string Name { get; }

    ChangeEventOptions Events { get; }

    ILogger Logger { get; }

    SourceDescription Description { get; }

    SourceMetrics? Metrics { get; }

    /// <summary>The snapshot engine, when the connector supports snapshots.</summary>
    SnapshotEngine? Snapshots { get; }

    /// <summary>The envelopes' <c>ts_ms</c> for tests comparing bytes; null to read the clock.</summary>
    long? FixedTimestampMs { get; }

    void ReportAlive();

    /// <summary>Asks for the acknowledged position to be stored now rather than at the next save.</summary>
    void RequestStore();

    Task RegisterAsync(SourceTable table, CancellationToken cancellationToken);

    /// <summary>Registers tables, several at a time where the host can (this default: one after another).</summary>
    async Task RegisterAllAsync(IEnumerable<SourceTable> tables, CancellationToken cancellationToken)
    {
        foreach (var table in tables)
        {
            await RegisterAsync(table, cancellationToken).ConfigureAwait(false);
        }
    }
}

/// <summary>A host that registers tables with fixed or counted schema ids and has no Kafka: for tests and benchmarks.</summary>
/// <param name="description">The source.</param>
/// <param name="events">The contract's settings.</param>
internal sealed class EncodingHost(SourceDescription description, ChangeEventOptions events) : ISourceHost
{
    private int _nextId = 1;

    public string Name => Description.Name;

    public ChangeEventOptions Events { get; } = events;

    public ILogger Logger => Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance;

    public SourceDescription Description { get; } = description;

    public SourceMetrics? Metrics => null;

    public SnapshotEngine? Snapshots => null;

    public long? FixedTimestampMs { get; init; }

    /// <summary>Schema ids to give (key, value) instead of counting.</summary>
    public (int Key, int Value)? FixedIds { get; init; }

    public void ReportAlive()
    {
    }

    public void RequestStore()
    {
    }

    public Task RegisterAsync(SourceTable table, CancellationToken cancellationToken)
    {
        if (FixedIds is { } ids)
        {
            table.KeySchemaId = table.HasKey ? ids.Key : 0;
            table.ValueSchemaId = ids.Value;
        }
        else
        {
            table.KeySchemaId = table.HasKey ? _nextId++ : 0;
            table.ValueSchemaId = _nextId++;
        }

        table.IsRegistered = true;
        return Task.CompletedTask;
    }

    /// <summary>A context that only encodes.</summary>
    public SourceContext<TPosition> Context<TPosition>()
        where TPosition : class => new(this, null);
}
