using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace DataMesh.Pipelines;

/// <summary>
/// Runs one <see cref="KafkaPipeline"/> for the lifetime of the host; on stop the pipeline drains and commits, then the
/// sink given in its options is disposed (the host owns it) — after the run has ended, never while it drains. An error
/// that stops the pipeline is logged and stops the host gracefully with exit code 1; it never escapes as an unhandled
/// exception.
/// </summary>
internal sealed class PipelineHostedService(KafkaPipeline pipeline, IHostApplicationLifetime? lifetime, ILogger logger) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        try
        {
            await pipeline.RunAsync(stoppingToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (!stoppingToken.IsCancellationRequested)
        {
            PipelineLog.Fatal(logger, ex, pipeline.Options.Name, ex.Message);
            Hosting.HostStop.AfterFatalError(lifetime);
        }
        catch (OperationCanceledException)
        {
            // stopping
        }
        finally
        {
            if (pipeline.Options.Sink is { } sink)
            {
                await sink.DisposeAsync().ConfigureAwait(false);
            }
        }
    }
}
