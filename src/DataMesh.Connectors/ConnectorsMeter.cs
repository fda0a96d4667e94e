using System.Diagnostics.Metrics;

namespace DataMesh.Connectors;

/// <summary>The one meter of the connectors package, <c>DataMesh.Connectors</c>, for what a connector measures beyond the
/// source runtime's <c>DataMesh.Sources</c> (docs/sources.md).</summary>
internal static class ConnectorsMeter
{
    public const string Name = "DataMesh.Connectors";

    public static readonly Meter Meter = new(Name, typeof(ConnectorsMeter).Assembly.GetName().Version?.ToString());
}
