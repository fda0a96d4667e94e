using System.Collections.Concurrent;
using System.Diagnostics;
using System.Diagnostics.Metrics;

namespace DataMesh.Pipelines;

/// <summary>The pipelines' instruments, on the meter <c>DataMesh.Pipelines</c>.</summary>
internal static class PipelineMetrics
{
    public const string MeterName = "DataMesh.Pipelines";

    private static readonly Meter Meter = new(MeterName);
    private static readonly ConcurrentDictionary<KafkaPipeline, byte> Running = new();

    /// <summary>Records read, by pipeline and outcome (emitted, dropped, tombstone, dead_lettered).</summary>
    public static readonly Counter<long> Records = Meter.CreateCounter<long>("datamesh.pipeline.records", "{record}", "Records processed by outcome.");

    /// <summary>Time spent per batch in each stage (transform, sink), by pipeline and stage.</summary>
    public static readonly Histogram<double> StageDuration = Meter.CreateHistogram<double>("datamesh.pipeline.stage.duration", "s", "Time spent per batch in a stage of the pipeline (transform, sink).");

    /// <summary>Records in the assigned source partitions not read yet, by pipeline.</summary>
    public static readonly ObservableGauge<long> Lag = Meter.CreateObservableGauge(
        "datamesh.pipeline.lag",
        () => Running.Keys.Select(p => new Measurement<long>(p.Lag, new KeyValuePair<string, object?>("pipeline", p.Options.Name))),
        "{record}",
        "Records in the assigned source partitions not read yet (high watermark minus position).");

    public static void Register(KafkaPipeline pipeline) => Running.TryAdd(pipeline, 0);

    public static void Unregister(KafkaPipeline pipeline) => Running.TryRemove(pipeline, out _);

    public static void Count(KeyValuePair<string, object?> pipeline, string outcome, int count)
    {
        if (count > 0)
        {
            Records.Add(count, new TagList { pipeline, { "outcome", outcome } });
        }
    }
}
