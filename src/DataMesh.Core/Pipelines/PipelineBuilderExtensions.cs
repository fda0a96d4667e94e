using DataMesh.Hosting;
using DataMesh.Pipelines;
using DataMesh.Schemas;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace DataMesh;

/// <summary>Adds pipelines to a DataMesh host.</summary>
public static class PipelineBuilderExtensions
{
    /// <summary>
    /// Adds a pipeline that runs as a hosted service, on the builder's Kafka connection and schema store: source topics,
    /// transforms, and a sink (<see cref="PipelineOptions.Sink"/>; a Kafka topic by default). A sink set in the options is
    /// disposed when the host stops.
    /// </summary>
    /// <param name="builder">The DataMesh builder.</param>
    /// <param name="configure">Sets the pipeline's <see cref="PipelineOptions"/>; they are validated here.</param>
    /// <returns>The builder.</returns>
    /// <exception cref="ArgumentException">A setting is invalid; the message names it.</exception>
    public static DataMeshBuilder AddPipeline(this DataMeshBuilder builder, Action<PipelineOptions> configure)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentNullException.ThrowIfNull(configure);
        var options = new PipelineOptions();
        configure(options);
        options.Validate();
        builder.Services.AddHostedService(sp =>
        {
            var loggers = sp.GetService<ILoggerFactory>() ?? Microsoft.Extensions.Logging.Abstractions.NullLoggerFactory.Instance;
            return new PipelineHostedService(
                new KafkaPipeline(options, sp.GetRequiredService<KafkaConnection>(), sp.GetRequiredService<ISchemaStore>(), loggers),
                sp.GetService<Microsoft.Extensions.Hosting.IHostApplicationLifetime>(),
                loggers.CreateLogger("DataMesh.Pipelines." + options.Name));
        });
        return builder;
    }
}
