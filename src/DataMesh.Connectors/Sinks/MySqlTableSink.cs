using DataMesh.Pipelines.Sinks;

namespace DataMesh.Connectors.Sinks;

/// <summary>
/// Writes a pipeline's records to MySQL and MariaDB tables: flat rows (after <c>Transform.Unwrap()</c>) and change-event
/// envelopes are upserted by key, tombstones and deletes delete by key. Each batch is reduced to the last operation per
/// (table, key) and applied in one transaction (multi-row <c>INSERT ... ON DUPLICATE KEY UPDATE</c>),
/// so writing a batch again converges to the same table. See <c>docs/pipelines.md</c>, "Database sinks".
/// </summary>
public sealed class MySqlTableSink : PipelineSink
{
    private readonly TableSinkEngine _engine;

    /// <summary>Creates the sink; it connects in <see cref="StartAsync"/>.</summary>
    /// <param name="options">The settings.</param>
    /// <exception cref="ArgumentException">A setting is invalid; the message names it.</exception>
    public MySqlTableSink(MySqlTableSinkOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate(nameof(MySqlTableSinkOptions));
        _engine = new TableSinkEngine(options.Name ?? "mysql-table", options, new MySqlTableDialect(options));
    }

    /// <inheritdoc />
    public override string Name => _engine.Name;

    /// <inheritdoc />
    public override ValueTask StartAsync(SinkContext context, CancellationToken cancellationToken) => _engine.StartAsync(context, cancellationToken);

    /// <inheritdoc />
    public override ValueTask WriteAsync(SinkBatch batch, CancellationToken cancellationToken) => _engine.WriteAsync(batch, cancellationToken);

    /// <inheritdoc />
    public override async ValueTask DisposeAsync()
    {
        await _engine.DisposeAsync().ConfigureAwait(false);
        await base.DisposeAsync().ConfigureAwait(false);
    }
}
