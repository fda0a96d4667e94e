using Microsoft.Extensions.Hosting;

namespace DataMesh.Pipelines;

/// <summary>
/// Runs one <see cref="KafkaPipeline"/> for the lifetime of the host; on stop the pipeline drains and commits, then the
/// sink given in its options is disposed (the host owns it) — after the run has ended, never while it drains.
/// </summary>
internal sealed class PipelineHostedService(KafkaPipeline pipeline) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        try
        {
            await pipeline.RunAsync(stoppingToken).ConfigureAwait(false);
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
