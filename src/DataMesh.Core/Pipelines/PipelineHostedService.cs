using Microsoft.Extensions.Hosting;

namespace DataMesh.Pipelines;

/// <summary>
/// Runs one <see cref="KafkaPipeline"/> for the lifetime of the host; on stop the pipeline drains and commits, then the
/// sink given in its options is disposed (the host owns it).
/// </summary>
internal sealed class PipelineHostedService(KafkaPipeline pipeline) : BackgroundService
{
    protected override Task ExecuteAsync(CancellationToken stoppingToken) => pipeline.RunAsync(stoppingToken);

    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        try
        {
            await base.StopAsync(cancellationToken).ConfigureAwait(false);
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
