using DataMesh.Server.Metrics;
using DataMesh.Server.SchemaRegistry;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace DataMesh;

/// <summary>Maps DataMesh's HTTP endpoints in an ASP.NET Core application.</summary>
public static class DataMeshEndpointRouteBuilderExtensions
{
    /// <summary>
    /// Maps every part of DataMesh's HTTP face that is enabled in <see cref="DataMeshServerOptions"/>: the
    /// Confluent-compatible Schema Registry REST API (<see cref="SchemaRegistryApiOptions"/>) and DataMesh's metrics in
    /// Prometheus' text format (<see cref="PrometheusEndpointOptions"/>; their meters are listened to from this call on). Call
    /// <see cref="DataMeshServerServiceCollectionExtensions.AddDataMeshServer(IServiceCollection, Action{DataMeshServerOptions}?)"/>
    /// first.
    /// </summary>
    /// <param name="endpoints">The application's endpoints, e.g. a <c>WebApplication</c>.</param>
    /// <returns>A builder for conventions applied to every DataMesh endpoint (authorization, rate limits, CORS ...).</returns>
    /// <exception cref="InvalidOperationException"><c>AddDataMeshServer()</c> was not called.</exception>
    public static IEndpointConventionBuilder MapDataMesh(this IEndpointRouteBuilder endpoints)
    {
        ArgumentNullException.ThrowIfNull(endpoints);
        if (endpoints.ServiceProvider.GetService<SchemaRegistryApi>() is null)
        {
            throw new InvalidOperationException("MapDataMesh() needs the services of AddDataMeshServer(): call services.AddDataMeshServer() when building the host.");
        }

        var options = endpoints.ServiceProvider.GetRequiredService<IOptions<DataMeshServerOptions>>().Value;
        var group = endpoints.MapGroup(string.Empty).WithGroupName("DataMesh");
        if (options.SchemaRegistry.Enabled)
        {
            var api = endpoints.ServiceProvider.GetRequiredService<SchemaRegistryApi>();
            SchemaRegistryEndpoints.Map(group.MapGroup(options.SchemaRegistry.PathPrefix ?? string.Empty), api);
            api.LogMapped();
        }

        if (options.Prometheus.Enabled)
        {
            PrometheusEndpoint.Map(group, options.Prometheus.Path);
        }

        return group;
    }
}
