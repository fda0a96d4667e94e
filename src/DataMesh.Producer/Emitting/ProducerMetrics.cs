using System.Diagnostics;
using System.Diagnostics.Metrics;

namespace DataMesh.Producer.Emitting;

/// <summary>
/// The producer's instruments, on the one <see cref="Meter"/> named <c>DataMesh.Producer</c> (OpenTelemetry-style names).
/// Hot-path instruments carry no tags, so that recording allocates nothing.
/// </summary>
internal sealed class ProducerMetrics : IDisposable
{
    public const string MeterName = "DataMesh.Producer";

    /// <summary>The activity source of the producer's <c>send &lt;topic&gt;</c> spans (OpenTelemetry messaging, kind Producer).</summary>
    public static readonly ActivitySource ActivitySource = new(MeterName);

    private readonly Meter _meter;
    private readonly bool _ownsMeter;

    public ProducerMetrics(IMeterFactory? factory, Func<long> queued, Func<int> kafkaReachable)
    {
        _ownsMeter = factory is null;
        _meter = factory?.Create(MeterName) ?? new Meter(MeterName);
        Emitted = _meter.CreateCounter<long>("datamesh.producer.events.emitted", "{event}", "Events accepted by Emit or EmitAsync.");
        Delivered = _meter.CreateCounter<long>("datamesh.producer.events.delivered", "{event}", "Events Kafka acknowledged.");
        Failed = _meter.CreateCounter<long>("datamesh.producer.events.failed", "{event}", "Events not delivered (a Kafka error that retrying cannot fix, or shutdown).");
        Rejected = _meter.CreateCounter<long>("datamesh.producer.events.rejected", "{event}", "Events refused because the queue was full.");
        Retried = _meter.CreateCounter<long>("datamesh.producer.events.retried", "{event}", "Sends repeated by the SDK after the Kafka client gave an event back.");
        Relayed = _meter.CreateCounter<long>("datamesh.producer.outbox.relayed", "{event}", "Outbox rows published and deleted by the relay.");
        DeliveryDuration = _meter.CreateHistogram<double>("datamesh.producer.delivery.duration", "s", "Time from Emit to Kafka's acknowledgement.");
        _meter.CreateObservableUpDownCounter("datamesh.producer.queue.size", queued, "{event}", "Events accepted and not yet acknowledged.");
        _meter.CreateObservableGauge("datamesh.producer.kafka.reachable", kafkaReachable, "1", "1 while Kafka is reachable, 0 after a connection error until the next acknowledgement.");
    }

    public Counter<long> Emitted { get; }

    public Counter<long> Delivered { get; }

    public Counter<long> Failed { get; }

    public Counter<long> Rejected { get; }

    public Counter<long> Retried { get; }

    public Counter<long> Relayed { get; }

    public Histogram<double> DeliveryDuration { get; }

    public void Dispose()
    {
        if (_ownsMeter)
        {
            _meter.Dispose();
        }
    }
}
