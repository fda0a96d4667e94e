using DataMesh.Hosting;
using DataMesh.Schemas;
using DataMesh.Sources;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

namespace DataMesh.IntegrationTests.Infrastructure;

/// <summary>Runs a connector on the real source runtime until it fails or starts retrying, for tests of error messages.</summary>
internal static class SourceRunner
{
    /// <summary>Runs until the source fails (fatal) or waits to retry (transient); returns its status then.</summary>
    public static async Task<SourceStatus> RunUntilStoppedOrRetryingAsync<TPosition>(string name, SourceConnector<TPosition> connector, SourceOptions options, IServiceProvider services, TimeSpan? timeout = null, Microsoft.Extensions.Logging.ILogger? logger = null)
        where TPosition : class
    {
        var monitor = new SourceMonitor();
        var runtime = new SourceRuntime<TPosition>(name, connector, options, services.GetRequiredService<IOptions<DataMeshOptions>>().Value.Events,
            services.GetRequiredService<KafkaConnection>(), services.GetRequiredService<ISchemaStore>(), services.GetRequiredService<PositionStore>(), monitor, logger ?? NullLogger.Instance);
        using var stop = new CancellationTokenSource(timeout ?? TimeSpan.FromSeconds(90));
        var run = runtime.RunAsync(stop.Token);
        while (!run.IsCompleted)
        {
            if (monitor.Get(name) is { State: SourceState.Retrying } retrying)
            {
                await stop.CancelAsync();
                await run;
                return retrying;
            }

            await Task.WhenAny(run, Task.Delay(50));
        }

        var outcome = await run;
        var status = monitor.Get(name)!;
        if (outcome != SourceOutcome.Failed)
        {
            throw new InvalidOperationException($"The source '{name}' did not fail: {status}");
        }

        return status;
    }
}
