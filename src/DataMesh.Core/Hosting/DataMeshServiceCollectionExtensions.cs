using DataMesh.Hosting;
using DataMesh.Schemas;
using DataMesh.Sources;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace DataMesh;

/// <summary>Registers DataMesh in a service collection.</summary>
public static class DataMeshServiceCollectionExtensions
{
    /// <summary>
    /// Adds DataMesh's shared services: the Kafka connection (<see cref="KafkaConnection"/>; the embedded cluster
    /// unless bootstrap servers are set), the schema store (<see cref="ISchemaStore"/>), the sources' position
    /// store (<see cref="PositionStore"/>) and validated
    /// <see cref="DataMeshOptions"/>. Options are checked when the host starts, with messages that name the setting.
    /// </summary>
    /// <param name="services">The services.</param>
    /// <param name="configure">Sets options in code, or null.</param>
    /// <returns>A builder for connectors, pipelines and the producer.</returns>
    public static DataMeshBuilder AddDataMesh(this IServiceCollection services, Action<DataMeshOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(services);
        var options = services.AddOptions<DataMeshOptions>();
        if (configure is not null)
        {
            options.Configure(configure);
        }

        options.ValidateOnStart();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<DataMeshOptions>, DataMeshOptionsValidator>());
        services.TryAddSingleton(sp => new KafkaConnection(
            sp.GetRequiredService<IOptions<DataMeshOptions>>().Value.Kafka,
            sp.GetService<ILoggerFactory>()?.CreateLogger<KafkaConnection>()));
        services.TryAddSingleton<ISchemaStore, DeferredSchemaStore>();
        services.TryAddSingleton(sp => new PositionStore(sp.GetRequiredService<KafkaConnection>()));
        services.TryAddSingleton<SourceMonitor>();
        return new DataMeshBuilder(services);
    }

    /// <summary>Adds DataMesh with options bound from a configuration section (usually <c>DataMesh</c>), then <paramref name="configure"/>.</summary>
    /// <param name="services">The services.</param>
    /// <param name="configuration">The section to bind, e.g. <c>builder.Configuration.GetSection("DataMesh")</c>.</param>
    /// <param name="configure">Further settings in code, or null.</param>
    /// <returns>A builder for connectors, pipelines and the producer.</returns>
    public static DataMeshBuilder AddDataMesh(this IServiceCollection services, IConfiguration configuration, Action<DataMeshOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(configuration);
        services.AddOptions<DataMeshOptions>().Bind(configuration);
        return services.AddDataMesh(configure);
    }
}
