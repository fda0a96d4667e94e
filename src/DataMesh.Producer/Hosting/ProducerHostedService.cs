using DataMesh.Producer.Emitting;
using DataMesh.Producer.Outbox;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace DataMesh.Producer.Hosting;

/// <summary>
/// Runs the emitter with the host. It starts in <see cref="StartingAsync"/>, before any hosted service's
/// <c>StartAsync</c>, so that schemas are registered (and an incompatible one stops the host) before workers emit;
/// it stops in <see cref="StoppedAsync"/>, after every hosted service stopped, so that everything they emitted is flushed.
/// </summary>
internal sealed class ProducerHostedService(EventEmitter emitter, IServiceProvider services, ILogger<ProducerHostedService>? logger = null) : IHostedLifecycleService
{
    private readonly ILogger _logger = logger ?? (ILogger)NullLogger.Instance;

    public async Task StartingAsync(CancellationToken cancellationToken)
    {
        var outbox = emitter.Options.Outbox;
        if (outbox.DataSource is { } factory && outbox.CreateTable)
        {
            var dataSource = factory(services);
            var connection = await dataSource.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
            await using (connection.ConfigureAwait(false))
            {
                var dialect = OutboxSql.Detect(outbox.Dialect, connection);
                await OutboxTable.EnsureCreatedAsync(connection, dialect, outbox.Table, cancellationToken).ConfigureAwait(false);
                ProducerLog.OutboxTableReady(_logger, outbox.Table, dialect);
            }
        }

        await emitter.StartAsync(cancellationToken).ConfigureAwait(false);
    }

    public Task StartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StartedAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StoppingAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StoppedAsync(CancellationToken cancellationToken) => emitter.StopAsync(cancellationToken);
}
