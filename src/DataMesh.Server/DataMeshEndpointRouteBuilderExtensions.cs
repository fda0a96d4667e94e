using System.Net;
using DataMesh.Server;
using DataMesh.Server.Controller;
using DataMesh.Server.Metrics;
using DataMesh.Server.Page;
using DataMesh.Server.SchemaRegistry;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;

namespace DataMesh;

/// <summary>Maps DataMesh's HTTP endpoints in an ASP.NET Core application.</summary>
public static class DataMeshEndpointRouteBuilderExtensions
{
    /// <summary>
    /// Maps every part of DataMesh's HTTP face that is enabled in <see cref="DataMeshServerOptions"/>: the
    /// Confluent-compatible Schema Registry REST API (<see cref="SchemaRegistryApiOptions"/>) and DataMesh's metrics in
    /// Prometheus' text format (<see cref="PrometheusEndpointOptions"/>; their meters are listened to from this call on), and the
    /// controller's API and web page (<see cref="ControllerApiOptions"/>; when the host has a <see cref="Hosting.KafkaConnection"/>). Call
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
            SchemaRegistryEndpoints.Map(group.MapGroup(options.SchemaRegistry.PathPrefix ?? string.Empty), options.SchemaRegistry.PathPrefix ?? string.Empty, api);
            api.LogMapped();
        }

        if (options.Prometheus.Enabled)
        {
            PrometheusEndpoint.Map(group, options.Prometheus.Path);
        }

        if (options.Controller.Enabled)
        {
            MapController(endpoints, group, options.Controller);
        }

        return group;
    }

    private static void MapController(IEndpointRouteBuilder endpoints, RouteGroupBuilder group, ControllerApiOptions options)
    {
        var api = endpoints.ServiceProvider.GetRequiredService<ControllerApi>();
        if (!api.CanMap)
        {
            ServerLog.ControllerNotMapped(api.Logger);
            return;
        }

        ControllerEndpoints.Map(group.MapGroup(options.PathPrefix), api);
        var page = string.IsNullOrEmpty(options.PagePath) ? null : options.PagePath;
        if (page is not null)
        {
            PageEndpoints.Map(group, page, options.PathPrefix);
        }

        var authorization = api.Authorization;
        ServerLog.ControllerMapped(api.Logger, options.PathPrefix, page is null ? "(none)" : page + "/", authorization.Describe());
        if ((authorization.IsLoopbackOnly || authorization.Certificates is not null) && endpoints.ServiceProvider.GetService<IHostApplicationLifetime>() is { } lifetime)
        {
            // Where the server listens is known once it started.
            lifetime.ApplicationStarted.Register(() =>
            {
                var addresses = endpoints.ServiceProvider.GetService<IServer>()?.Features.Get<IServerAddressesFeature>()?.Addresses ?? [];
                if (authorization.IsLoopbackOnly && addresses.Any(a => !IsLoopback(a)))
                {
                    ServerLog.ControllerLoopbackOnly(api.Logger, string.Join(", ", addresses));
                }
                else if (authorization.Certificates is not null && addresses.Count > 0 && !addresses.Any(a => a.StartsWith("https://", StringComparison.OrdinalIgnoreCase)))
                {
                    ServerLog.ControllerCertificatesWithoutHttps(api.Logger, string.Join(", ", addresses));
                }
            });
        }
    }

    private static bool IsLoopback(string address)
    {
        try
        {
            var host = BindingAddress.Parse(address).Host.Trim('[', ']');
            return host.Equals("localhost", StringComparison.OrdinalIgnoreCase) ||
                (IPAddress.TryParse(host, out var ip) && ControllerAuthorization.IsLoopback(ip));
        }
        catch (FormatException)
        {
            return false;
        }
    }
}
