using Microsoft.Extensions.Hosting;

namespace DataMesh.Pipelines;

/// <summary>Runs one <see cref="KafkaPipeline"/> for the lifetime of the host; on stop the pipeline drains and commits.</summary>
internal sealed class PipelineHostedService(KafkaPipeline pipeline) : BackgroundService
{
    protected override Task ExecuteAsync(CancellationToken stoppingToken) => pipeline.RunAsync(stoppingToken);
}
