using System.Net;
using System.Reflection;
using DataMesh.Pipelines;
using Microsoft.Extensions.Options;
using OpenTelemetry;
using OpenTelemetry.Metrics;
using Xunit;

namespace DataMesh.Server.Tests;

/// <summary><c>AddDataMeshInstrumentation()</c> and the server's Prometheus endpoint (a source run's scrape is in the integration tests).</summary>
public sealed class MetricsTests
{
    [Fact]
    public void AddDataMeshInstrumentation_names_every_meter_DataMesh_declares()
    {
        // Each package declares its meter's name as a MeterName constant next to its instruments.
        var declared = new[] { "DataMesh.Core", "DataMesh.Connectors", "DataMesh.Producer" }
            .SelectMany(name => Assembly.Load(name).GetTypes())
            .SelectMany(t => t.GetFields(BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.Static))
            .Where(f => f is { IsLiteral: true, Name: "MeterName" } && f.FieldType == typeof(string))
            .Select(f => (string)f.GetRawConstantValue()!)
            .Order(StringComparer.Ordinal)
            .ToList();
        Assert.Equal(6, declared.Count);
        Assert.Equal(declared, DataMeshMeters.Names.Order(StringComparer.Ordinal));
    }

    [Fact]
    public void An_applications_meter_provider_with_AddDataMeshInstrumentation_exports_DataMeshs_measurements()
    {
        var exporter = new ListExporter();
        using (var provider = Sdk.CreateMeterProviderBuilder().AddDataMeshInstrumentation().AddReader(new BaseExportingMetricReader(exporter)).Build())
        {
            PipelineMetrics.Count(new("pipeline", "orders-clean"), "emitted", 3);
            provider.ForceFlush();
        }

        // Exported at the flush and again at the provider's shutdown.
        Assert.Contains(exporter.Exported, m => m is { Name: "datamesh.pipeline.records", MeterName: "DataMesh.Pipelines", Unit: "{record}" });
    }

    [Theory]
    [InlineData("metrics")]
    [InlineData("/metrics/")]
    [InlineData("/")]
    [InlineData("/a b")]
    public void A_wrong_Prometheus_path_is_refused_naming_the_setting(string path)
    {
        var failure = Assert.Throws<OptionsValidationException>(() => RegistryHost.Build(new ServerHostingTests.UnusedStore(), o => o.Prometheus.Path = path));
        Assert.Contains("DataMesh:Server:Prometheus:Path must be a path like '/metrics'", failure.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_Prometheus_endpoint_is_at_metrics_by_default_and_absent_when_disabled()
    {
        using var http = new HttpClient();
        await using (var host = await RegistryHost.StartAsync())
        {
            using var response = await http.GetAsync(host.Url + "/metrics");
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            Assert.Equal("text/plain", response.Content.Headers.ContentType!.MediaType);
        }

        await using (var host = await RegistryHost.StartAsync(o => o.Prometheus.Enabled = false))
        {
            using var response = await http.GetAsync(host.Url + "/metrics");
            Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
        }
    }

    private sealed class ListExporter : BaseExporter<Metric>
    {
        public List<Metric> Exported { get; } = [];

        public override ExportResult Export(in Batch<Metric> batch)
        {
            foreach (var metric in batch)
            {
                Exported.Add(metric);
            }

            return ExportResult.Success;
        }
    }
}
