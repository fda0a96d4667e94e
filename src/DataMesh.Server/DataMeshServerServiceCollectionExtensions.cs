using DataMesh.Schemas;
using DataMesh.Server;
using DataMesh.Server.Controller;
using DataMesh.Server.Metrics;
using DataMesh.Server.SchemaRegistry;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;

namespace DataMesh;

/// <summary>Registers DataMesh's HTTP face in a service collection.</summary>
public static class DataMeshServerServiceCollectionExtensions
{
    /// <summary>
    /// Adds the services behind <see cref="DataMeshEndpointRouteBuilderExtensions.MapDataMesh"/>: the
    /// Confluent-compatible Schema Registry REST API, over the <see cref="ISchemaStore"/> registered in the container
    /// (by <c>AddDataMesh()</c>, or your own), and the Prometheus endpoint of DataMesh's metrics (on a meter provider of
    /// its own), and the controller's API and web page over the host's <see cref="Hosting.KafkaConnection"/> (when it has one). Options
    /// are checked when the host starts.
    /// </summary>
    /// <param name="services">The services.</param>
    /// <param name="configure">Sets options in code, or null.</param>
    /// <returns>The services, for chaining.</returns>
    public static IServiceCollection AddDataMeshServer(this IServiceCollection services, Action<DataMeshServerOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(services);
        var options = services.AddOptions<DataMeshServerOptions>();
        if (configure is not null)
        {
            options.Configure(configure);
        }

        options.ValidateOnStart();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<DataMeshServerOptions>, DataMeshServerOptionsValidator>());
        services.TryAddSingleton<SchemaRegistryApi>();
        services.TryAddSingleton<PrometheusEndpoint>();
        services.TryAddSingleton<ControllerApi>();
        return services;
    }

    /// <summary>Adds the server with options bound from a configuration section (usually <c>DataMesh:Server</c>), then <paramref name="configure"/>.</summary>
    /// <param name="services">The services.</param>
    /// <param name="configuration">The section to bind, e.g. <c>builder.Configuration.GetSection("DataMesh:Server")</c>.</param>
    /// <param name="configure">Further settings in code, or null.</param>
    /// <returns>The services, for chaining.</returns>
    public static IServiceCollection AddDataMeshServer(this IServiceCollection services, IConfiguration configuration, Action<DataMeshServerOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(configuration);
        services.AddOptions<DataMeshServerOptions>().Bind(configuration);
        return services.AddDataMeshServer(configure);
    }
}
