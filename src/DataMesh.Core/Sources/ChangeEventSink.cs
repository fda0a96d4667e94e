using Confluent.Kafka;
using DataMesh.Hosting;

namespace DataMesh.Sources;

/// <summary>
/// Produces a source's change events to Kafka with an idempotent producer and tells the source which of its
/// positions are safe to store: a position marked with <see cref="Checkpoint"/> becomes
/// <see cref="TryTakeAcknowledged">acknowledged</see> only when Kafka acknowledged every event produced before
/// it. Events are produced in the order given, so per-key (per-partition) order follows the log.
/// </summary>
/// <typeparam name="TPosition">The source's position type (an LSN, a binlog coordinate ...).</typeparam>
/// <remarks>
/// Not thread-safe for producers: one source loop calls <see cref="ProduceAsync"/>, <see cref="Checkpoint"/> and
/// <see cref="TryTakeAcknowledged"/>. Delivery reports arrive on librdkafka's thread and only count down.
/// A failed delivery (with DataMesh's settings only a fatal error: authorisation, a record too large ...) faults
/// the sink: no checkpoint after it is ever acknowledged, and <see cref="ThrowIfFaulted"/> throws it.
/// </remarks>
public sealed class ChangeEventSink<TPosition> : IDisposable
{
    private readonly IProducer<byte[]?, byte[]?> _producer;
    private readonly Queue<Epoch> _closed = new();
    private readonly Stack<Epoch> _pool = new();
    private readonly TimeSpan _flushTimeout;
    private readonly Message<byte[]?, byte[]?> _message = new();
    private Epoch _current;
    private volatile ProduceException<byte[]?, byte[]?>? _fault;
    private long _produced;
    private long _acknowledged;

    /// <summary>Creates a sink on <paramref name="kafka"/>.</summary>
    /// <param name="kafka">The cluster.</param>
    /// <param name="configure">Changes to the producer settings (DataMesh's idempotent defaults first), or null.</param>
    public ChangeEventSink(KafkaConnection kafka, Action<ProducerConfig>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(kafka);
        var config = kafka.CreateProducerConfig();
        // Delivery reports carry the outcome only (all the sink reads): the client then reads no headers, timestamp or
        // status back per message, and keeps no reference to the key and value arrays (callers may reuse them).
        config.DeliveryReportFields = "none";
        configure?.Invoke(config);
        _producer = new ProducerBuilder<byte[]?, byte[]?>(config).Build();
        _flushTimeout = kafka.Options.RequestTimeout;
        _current = Rent();
    }

    /// <summary>Events handed to Kafka so far.</summary>
    public long Produced => Interlocked.Read(ref _produced);

    /// <summary>Events Kafka acknowledged so far.</summary>
    public long Acknowledged => Interlocked.Read(ref _acknowledged);

    /// <summary>Events handed to Kafka and not yet acknowledged.</summary>
    public long InFlight => Produced - Acknowledged;

    /// <summary>Hands one event to Kafka. Completes at once unless the producer's queue is full, then waits for room.</summary>
    /// <param name="topic">The topic.</param>
    /// <param name="key">The framed key, or null.</param>
    /// <param name="value">The framed value, or null for a tombstone.</param>
    /// <param name="cancellationToken">Cancels a wait for room (the event is then not produced).</param>
    /// <param name="partition">A partition to produce to, or null to let the key choose (the producer's partitioner).</param>
    public async ValueTask ProduceAsync(string topic, byte[]? key, byte[]? value, CancellationToken cancellationToken, int? partition = null)
    {
        ThrowIfFaulted();
        var epoch = _current;
        // One message for every event: the client copies key and value during Produce and keeps no reference to the
        // message (nor, with outcome-only delivery reports, to the arrays); ProduceAsync is called by one loop only.
        var message = _message;
        message.Key = key;
        message.Value = value;
        var target = partition is { } p ? new TopicPartition(topic, p) : null;
        Interlocked.Increment(ref epoch.Outstanding);
        var produced = false;
        try
        {
            while (true)
            {
                try
                {
                    if (target is null)
                    {
                        _producer.Produce(topic, message, epoch.Handler);
                    }
                    else
                    {
                        _producer.Produce(target, message, epoch.Handler);
                    }

                    produced = true;
                    Interlocked.Increment(ref _produced);
                    return;
                }
                catch (ProduceException<byte[]?, byte[]?> ex) when (ex.Error.Code == ErrorCode.Local_QueueFull)
                {
                    // librdkafka's queue is the memory bound: wait for deliveries to make room.
                    await Task.Delay(1, cancellationToken).ConfigureAwait(false);
                    ThrowIfFaulted();
                }
            }
        }
        finally
        {
            if (!produced)
            {
                // Not handed to Kafka (an error, or cancelled while waiting for room): no delivery report will count it down.
                Interlocked.Decrement(ref epoch.Outstanding);
            }
        }
    }

    /// <summary>Marks <paramref name="position"/> as reached once every event produced so far is acknowledged.</summary>
    /// <param name="position">The position after the events produced so far (e.g. a transaction's end).</param>
    public void Checkpoint(TPosition position)
    {
        var epoch = _current;
        epoch.Position = position;
        lock (_closed)
        {
            _closed.Enqueue(epoch);
        }

        _current = Rent();
    }

    /// <summary>Takes the latest checkpoint whose events, and all before them, Kafka acknowledged.</summary>
    /// <param name="position">That checkpoint's position.</param>
    /// <returns>False when no checkpoint became safe since the last call.</returns>
    public bool TryTakeAcknowledged(out TPosition position)
    {
        position = default!;
        var found = false;
        lock (_closed)
        {
            while (_closed.TryPeek(out var head) && Volatile.Read(ref head.Outstanding) == 0 && !head.Failed)
            {
                _closed.Dequeue();
                position = head.Position;
                found = true;
                head.Position = default!;
                _pool.Push(head);
            }
        }

        return found;
    }

    /// <summary>Throws the delivery error that faulted the sink, if any.</summary>
    /// <exception cref="ProduceException{TKey, TValue}">A delivery failed.</exception>
    public void ThrowIfFaulted()
    {
        if (_fault is { } fault)
        {
            throw new ProduceException<byte[]?, byte[]?>(fault.Error, fault.DeliveryResult, fault);
        }
    }

    /// <summary>Waits until every event handed to Kafka is acknowledged or failed.</summary>
    /// <param name="cancellationToken">Cancels the wait.</param>
    public async Task FlushAsync(CancellationToken cancellationToken)
    {
        while (InFlight > 0)
        {
            ThrowIfFaulted();
            await Task.Delay(5, cancellationToken).ConfigureAwait(false);
        }

        ThrowIfFaulted();
    }

    /// <inheritdoc />
    public void Dispose()
    {
        _producer.Flush(_flushTimeout);
        _producer.Dispose();
    }

    private Epoch Rent()
    {
        lock (_closed)
        {
            if (_pool.TryPop(out var epoch))
            {
                return epoch;
            }
        }

        return new Epoch(this);
    }

    private void OnDelivery(Epoch epoch, DeliveryReport<byte[]?, byte[]?> report)
    {
        if (report.Error.IsError)
        {
            epoch.Failed = true;
            _fault ??= new ProduceException<byte[]?, byte[]?>(report.Error, report);
        }
        else
        {
            Interlocked.Increment(ref _acknowledged);
        }

        Interlocked.Decrement(ref epoch.Outstanding);
    }

    private sealed class Epoch
    {
        public int Outstanding;
        public volatile bool Failed;
        public TPosition Position = default!;

        public Epoch(ChangeEventSink<TPosition> sink) => Handler = report => sink.OnDelivery(this, report);

        public Action<DeliveryReport<byte[]?, byte[]?>> Handler { get; }
    }
}
