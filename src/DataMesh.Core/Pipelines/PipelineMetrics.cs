using System.Diagnostics;
using System.Diagnostics.Metrics;

namespace DataMesh.Pipelines;

/// <summary>The pipelines' instruments, on the meter <c>DataMesh.Pipelines</c>.</summary>
internal static class PipelineMetrics
{
    public const string MeterName = "DataMesh.Pipelines";

    private static readonly Meter Meter = new(MeterName);

    /// <summary>Records read, by pipeline and outcome (emitted, dropped, tombstone, dead_lettered).</summary>
    public static readonly Counter<long> Records = Meter.CreateCounter<long>("datamesh.pipeline.records", "{record}", "Records processed by outcome.");

    /// <summary>Time spent in the transform chain, per record.</summary>
    public static readonly Histogram<double> TransformDuration = Meter.CreateHistogram<double>("datamesh.pipeline.transform.duration", "s", "Time spent in the transforms, per record.");

    /// <summary>Records read and not yet acknowledged by the target.</summary>
    public static readonly UpDownCounter<long> InFlight = Meter.CreateUpDownCounter<long>("datamesh.pipeline.in_flight", "{record}", "Records read and not yet acknowledged.");

    public static void Count(string pipeline, string outcome) =>
        Records.Add(1, new TagList { { "pipeline", pipeline }, { "outcome", outcome } });
}
