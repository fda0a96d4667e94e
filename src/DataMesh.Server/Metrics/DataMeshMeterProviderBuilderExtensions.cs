using OpenTelemetry.Metrics;

namespace DataMesh;

/// <summary>Wires DataMesh's meters into an OpenTelemetry <see cref="MeterProviderBuilder"/>.</summary>
public static class DataMeshMeterProviderBuilderExtensions
{
    /// <summary>
    /// Adds every meter DataMesh records on: <c>DataMesh.Sources</c> (<c>datamesh.source.*</c>: events, transactions,
    /// retries, lag, state, snapshot progress), <c>DataMesh.Pipelines</c> (<c>datamesh.pipeline.*</c>),
    /// <c>DataMesh.Connectors.Sinks</c> (<c>datamesh.sink.*</c>) and <c>DataMesh.Producer</c> (<c>datamesh.producer.*</c>).
    /// Their tags name connectors, sources, pipelines, tables and operations; never a connection string or a credential.
    /// </summary>
    /// <param name="builder">The meter provider's builder, e.g. in <c>services.AddOpenTelemetry().WithMetrics(m =&gt; ...)</c>.</param>
    /// <returns>The builder, for chaining.</returns>
    public static MeterProviderBuilder AddDataMeshInstrumentation(this MeterProviderBuilder builder)
    {
        ArgumentNullException.ThrowIfNull(builder);
        return builder.AddMeter([.. DataMeshMeters.Names]);
    }
}

/// <summary>The names of DataMesh's meters (each package's <c>MeterName</c> constant; a test checks that none is missing).</summary>
internal static class DataMeshMeters
{
    public static IReadOnlyList<string> Names { get; } = ["DataMesh.Sources", "DataMesh.Pipelines", "DataMesh.ControlPlane", "DataMesh.Connectors.Sinks", "DataMesh.Connectors.Cassandra", "DataMesh.Producer"];
}
