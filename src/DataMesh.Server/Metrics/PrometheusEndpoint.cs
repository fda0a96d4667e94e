using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using OpenTelemetry;
using OpenTelemetry.Metrics;

namespace DataMesh.Server.Metrics;

/// <summary>
/// The server's own meter provider: DataMesh's meters (<see cref="DataMeshMeterProviderBuilderExtensions.AddDataMeshInstrumentation"/>)
/// read by OpenTelemetry's Prometheus exporter, apart from any meter provider the application configures for itself.
/// Created when <c>MapDataMesh()</c> maps the endpoint (so that it listens from then on), disposed with the host's services.
/// </summary>
internal sealed class PrometheusEndpoint : IDisposable
{
    public PrometheusEndpoint() =>
        Provider = Sdk.CreateMeterProviderBuilder().AddDataMeshInstrumentation().AddPrometheusExporter().Build();

    public MeterProvider Provider { get; }

    /// <summary>Maps <c>GET {path}</c>, answering in Prometheus' text format (or OpenMetrics when the scraper asks for it).</summary>
    public static IEndpointConventionBuilder Map(IEndpointRouteBuilder endpoints, string path)
    {
        var endpoint = endpoints.ServiceProvider.GetRequiredService<PrometheusEndpoint>();
        return endpoints.MapPrometheusScrapingEndpoint(path, endpoint.Provider, null, null);
    }

    public void Dispose() => Provider.Dispose();
}
