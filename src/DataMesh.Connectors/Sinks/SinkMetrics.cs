using System.Diagnostics.Metrics;

namespace DataMesh.Connectors.Sinks;

/// <summary>
/// The table sinks' metrics, on the meter <c>DataMesh.Connectors.Sinks</c>, tagged with <c>datamesh.sink.name</c>:
/// <c>datamesh.sink.rows.upserted</c>, <c>datamesh.sink.rows.deleted</c>, <c>datamesh.sink.records.rejected</c> (counters) and
/// <c>datamesh.sink.batch.duration</c> (seconds per written batch, a histogram).
/// </summary>
internal sealed class SinkMetrics
{
    public const string MeterName = "DataMesh.Connectors.Sinks";

    private static readonly Meter Meter = new(MeterName, typeof(SinkMetrics).Assembly.GetName().Version?.ToString());
    private static readonly Counter<long> Upserted = Meter.CreateCounter<long>("datamesh.sink.rows.upserted", "{row}", "Rows inserted or updated in target tables.");
    private static readonly Counter<long> Deleted = Meter.CreateCounter<long>("datamesh.sink.rows.deleted", "{row}", "Rows deleted from target tables (by key).");
    private static readonly Counter<long> Rejected = Meter.CreateCounter<long>("datamesh.sink.records.rejected", "{record}", "Records the sink refused (dead-lettered by the runtime).");
    private static readonly Histogram<double> Duration = Meter.CreateHistogram<double>("datamesh.sink.batch.duration", "s", "Time to write one batch, retries of single rows included.");

    private readonly KeyValuePair<string, object?> _sink;

    public SinkMetrics(string sink) => _sink = new KeyValuePair<string, object?>("datamesh.sink.name", sink);

    public void Written(int upserted, int deleted, int rejected, double seconds)
    {
        Upserted.Add(upserted, _sink);
        Deleted.Add(deleted, _sink);
        if (rejected > 0)
        {
            Rejected.Add(rejected, _sink);
        }

        Duration.Record(seconds, _sink);
    }
}
