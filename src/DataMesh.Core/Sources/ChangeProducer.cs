using Confluent.Kafka;
using DataMesh.Hosting;
using DataMesh.Sources.Leases;

namespace DataMesh.Sources;

/// <summary>
/// Produces a source's records to Kafka with an idempotent producer and tells the runtime which of its positions are
/// safe to store: a position marked with <see cref="Checkpoint"/> becomes <see cref="TryTakeAcknowledged">acknowledged</see>
/// only when Kafka acknowledged every record produced before it. Records are produced in the order given, so per-key
/// (per-partition) order follows the log.
/// </summary>
/// <remarks>
/// <para>Threads: one source loop calls <see cref="ProduceAsync(TopicPartition, byte[], byte[], CancellationToken)"/>, <see cref="Checkpoint"/> and <see cref="CloseAbsorbed"/>;
/// <see cref="TryTakeAcknowledged"/> may be called from another thread (the runtime's position keeper). Delivery reports
/// arrive on librdkafka's thread and only count down.</para>
/// <para>Memory is bounded while Kafka is away: the client's queue (<c>queue.buffering.max.kbytes</c>, 32 MiB unless set)
/// makes <see cref="ProduceAsync(TopicPartition, byte[], byte[], CancellationToken)"/> wait for room, so the source stops reading its log; and at most
/// <see cref="MaxOpenCheckpoints"/> checkpoints wait for acknowledgement — beyond that a new checkpoint replaces the
/// position of the group being filled, and a checkpoint with no record since the previous one replaces that one's
/// position, so a log of empty or uncaptured transactions costs nothing.</para>
/// <para>A failed delivery (with DataMesh's settings only a fatal error: authorisation, a record too large ...) faults the
/// producer: no checkpoint after it is ever acknowledged, and <see cref="ThrowIfFaulted"/> throws it.</para>
/// </remarks>
/// <typeparam name="TPosition">The source's position type.</typeparam>
internal sealed class ChangeProducer<TPosition> : IDisposable
    where TPosition : class
{
    /// <summary>Checkpoints that may wait for acknowledgement at once.</summary>
    public const int MaxOpenCheckpoints = 1024;

    private readonly IProducer<byte[]?, byte[]?> _producer;
    private readonly Queue<Epoch> _closed = new();
    private readonly Stack<Epoch> _pool = new();
    private readonly Message<byte[]?, byte[]?> _message = new();
    private readonly LeaseFence? _fence;
    private Epoch _current;
    private Epoch? _tail;
    private TPosition? _safe;
    private volatile ProduceException<byte[]?, byte[]?>? _fault;
    private long _produced;
    private long _acknowledged;

    /// <summary>Creates a producer on <paramref name="kafka"/>.</summary>
    /// <param name="kafka">The cluster.</param>
    /// <param name="configure">Changes to the producer settings (DataMesh's idempotent defaults first), or null.</param>
    /// <param name="fence">The lease's fence of the term this producer writes for, or null (no lease): every record then
    /// carries the term's epoch header (unless the fence says not to stamp), and none is handed to the client while the
    /// fence is closed.</param>
    public ChangeProducer(KafkaConnection kafka, Action<ProducerConfig>? configure = null, LeaseFence? fence = null)
    {
        ArgumentNullException.ThrowIfNull(kafka);
        var config = ChangeProducerConfig.Create(kafka);
        configure?.Invoke(config);
        _producer = new ProducerBuilder<byte[]?, byte[]?>(config).Build();
        _current = Rent();
        _fence = fence;
        if (fence is { Stamp: true })
        {
            // One header list for every record: the client copies it during Produce.
            _message.Headers = new Headers { { LeaseFence.Header, fence.EpochBytes } };
        }
    }

    /// <summary>Records handed to Kafka so far.</summary>
    public long Produced => Volatile.Read(ref _produced);

    /// <summary>Records Kafka acknowledged so far.</summary>
    public long Acknowledged => Interlocked.Read(ref _acknowledged);

    /// <summary>Records handed to Kafka and not yet acknowledged.</summary>
    public long InFlight => Produced - Acknowledged;

    /// <summary>Checkpoints waiting for acknowledgement.</summary>
    public int OpenCheckpoints
    {
        get
        {
            lock (_closed)
            {
                return _closed.Count;
            }
        }
    }

    /// <summary>Whether a delivery failed.</summary>
    public bool IsFaulted => _fault is not null;

    /// <summary>The delivery error that faulted the producer, or null.</summary>
    public ProduceException<byte[]?, byte[]?>? Fault => _fault;

    /// <summary>Hands one record to Kafka. Completes at once unless the client's queue is full, then waits for room.</summary>
    /// <param name="topic">The topic.</param>
    /// <param name="key">The framed key, or null.</param>
    /// <param name="value">The framed value, or null for a tombstone.</param>
    /// <param name="partition">A partition, or null to let the key choose (the producer's partitioner).</param>
    /// <param name="cancellationToken">Cancels a wait for room (the record is then not produced).</param>
    public ValueTask ProduceAsync(string topic, byte[]? key, byte[]? value, int? partition, CancellationToken cancellationToken) =>
        ProduceAsync(new TopicPartition(topic, partition ?? Partition.Any), key, value, cancellationToken);

    /// <summary>Hands one record to Kafka. Completes at once (synchronously, without allocating) unless the client's queue
    /// is full, then waits for room.</summary>
    /// <param name="target">The topic and partition (<see cref="Partition.Any"/> to let the key choose); read during the
    /// call only, so callers may keep one instance per partition.</param>
    /// <param name="key">The framed key, or null.</param>
    /// <param name="value">The framed value, or null for a tombstone.</param>
    /// <param name="cancellationToken">Cancels a wait for room (the record is then not produced).</param>
    /// <exception cref="OperationCanceledException">With a lease's fence whose last confirmation expired: the lease was
    /// found lost (the record is not produced), or the wait was cancelled.</exception>
    public ValueTask ProduceAsync(TopicPartition target, byte[]? key, byte[]? value, CancellationToken cancellationToken)
    {
        ThrowIfFaulted();
        if (_fence is { IsOpen: false } fence)
        {
            // The lease's last confirmation is too old (the process may have been paused): ask again before handing anything over.
            return FencedProduceAsync(fence, target, key, value, cancellationToken);
        }

        var epoch = _current;
        // One message for every record: the client copies key and value during Produce and keeps no reference to the
        // message (nor, with outcome-only delivery reports, to the arrays); ProduceAsync is called by one loop only.
        var message = _message;
        message.Key = key;
        message.Value = value;
        // Counted before Produce: its delivery report may arrive before Produce returns.
        Interlocked.Increment(ref epoch.Outstanding);
        try
        {
            _producer.Produce(target, message, epoch.Handler);
        }
        catch (ProduceException<byte[]?, byte[]?> ex) when (ex.Error.Code == ErrorCode.Local_QueueFull)
        {
            // The client's queue is the memory bound: wait for deliveries to make room (the wait owns the count now).
            return WaitForRoomAsync(target, epoch, cancellationToken);
        }
        catch
        {
            // Not handed to Kafka: no delivery report will count it down.
            Interlocked.Decrement(ref epoch.Outstanding);
            throw;
        }

        OnProduced(epoch);
        return ValueTask.CompletedTask;
    }

    /// <summary>Marks <paramref name="position"/> as reached once every record produced so far is acknowledged.</summary>
    /// <param name="position">The position after the records produced so far (e.g. a transaction's end).</param>
    public void Checkpoint(TPosition position)
    {
        ArgumentNullException.ThrowIfNull(position);
        ThrowIfFaulted();
        var epoch = _current;
        lock (_closed)
        {
            if (epoch.Records == 0)
            {
                // Nothing produced since the previous checkpoint: this position is safe exactly when that one is.
                if (_tail is not null)
                {
                    _tail.Position = position;
                }
                else
                {
                    _safe = position;
                }

                return;
            }

            if (_closed.Count >= MaxOpenCheckpoints)
            {
                // Too many groups wait (Kafka is slow or away): the group being filled takes the position instead.
                epoch.Position = position;
                return;
            }

            epoch.Position = position;
            _closed.Enqueue(epoch);
            _tail = epoch;
        }

        _current = Rent();
    }

    /// <summary>Closes the group being filled if it holds a position taken while too many groups waited and there is room
    /// now (the source calls it when it has nothing else to do), or whatever the room when <paramref name="force"/> (after
    /// a drain, when nothing waits any more).</summary>
    /// <param name="force">Close even when <see cref="MaxOpenCheckpoints"/> groups wait.</param>
    public void CloseAbsorbed(bool force = false)
    {
        var epoch = _current;
        lock (_closed)
        {
            if (epoch.Position is null || (_closed.Count >= MaxOpenCheckpoints && !force))
            {
                return;
            }

            _closed.Enqueue(epoch);
            _tail = epoch;
        }

        _current = Rent();
    }

    /// <summary>Takes the latest checkpoint whose records, and all before them, Kafka acknowledged.</summary>
    /// <param name="position">That checkpoint's position.</param>
    /// <returns>False when no checkpoint became safe since the last call.</returns>
    public bool TryTakeAcknowledged(out TPosition position)
    {
        position = default!;
        var found = false;
        lock (_closed)
        {
            if (_safe is not null)
            {
                position = _safe;
                _safe = null;
                found = true;
            }

            while (_closed.TryPeek(out var head) && Volatile.Read(ref head.Outstanding) == 0 && !head.Failed)
            {
                _closed.Dequeue();
                position = head.Position!;
                found = true;
                if (ReferenceEquals(head, _tail))
                {
                    _tail = null;
                }

                head.Position = null;
                head.Records = 0;
                _pool.Push(head);
            }
        }

        return found;
    }

    /// <summary>Throws the delivery error that faulted the producer, if any.</summary>
    /// <exception cref="ProduceException{TKey, TValue}">A delivery failed.</exception>
    public void ThrowIfFaulted()
    {
        if (_fault is { } fault)
        {
            throw new ProduceException<byte[]?, byte[]?>(fault.Error, fault.DeliveryResult, fault);
        }
    }

    /// <summary>Waits until every record handed to Kafka is acknowledged or failed.</summary>
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

    /// <summary>Drops what the client still holds (the runtime waited for Kafka before, as long as it allows) and closes it:
    /// nothing of it is acknowledged afterwards.</summary>
    public void Dispose()
    {
        _producer.Flush(TimeSpan.Zero);
        _producer.Dispose();
    }

    /// <summary>Produces a record once the lease's fence is open again (or throws when the lease was lost).</summary>
    private async ValueTask FencedProduceAsync(LeaseFence fence, TopicPartition target, byte[]? key, byte[]? value, CancellationToken cancellationToken)
    {
        await fence.WaitOpenAsync(cancellationToken).ConfigureAwait(false);
        await ProduceAsync(target, key, value, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Produces the record in <see cref="_message"/> once the client's queue has room; until then it is counted
    /// in <paramref name="epoch"/> but not produced, and an error or a cancellation takes the count back.</summary>
    private async ValueTask WaitForRoomAsync(TopicPartition target, Epoch epoch, CancellationToken cancellationToken)
    {
        var produced = false;
        var wait = 1;
        try
        {
            while (!produced)
            {
                await Task.Delay(wait, cancellationToken).ConfigureAwait(false);
                wait = Math.Min(wait * 2, 50);
                ThrowIfFaulted();
                if (_fence is { IsOpen: false } fence)
                {
                    await fence.WaitOpenAsync(cancellationToken).ConfigureAwait(false);
                }

                try
                {
                    _producer.Produce(target, _message, epoch.Handler);
                    produced = true;
                }
                catch (ProduceException<byte[]?, byte[]?> ex) when (ex.Error.Code == ErrorCode.Local_QueueFull)
                {
                    // Still full: wait longer.
                }
            }

            OnProduced(epoch);
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

    /// <summary>A record handed to Kafka: counted in its group and in <see cref="Produced"/> (written by the source loop only,
    /// read anywhere).</summary>
    private void OnProduced(Epoch epoch)
    {
        epoch.Records++;
        Volatile.Write(ref _produced, _produced + 1);
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
        public int Records;
        public volatile bool Failed;
        public TPosition? Position;

        public Epoch(ChangeProducer<TPosition> producer) => Handler = report => producer.OnDelivery(this, report);

        public Action<DeliveryReport<byte[]?, byte[]?>> Handler { get; }
    }
}

/// <summary>The settings of <see cref="ChangeProducer{TPosition}"/>.</summary>
internal static class ChangeProducerConfig
{
    /// <summary>The producer settings of the source runtime (before a connector's own changes): DataMesh's idempotent
    /// defaults, outcome-only delivery reports and a 32 MiB client queue. The benchmarks give their peers these.</summary>
    /// <param name="kafka">The cluster.</param>
    public static ProducerConfig Create(KafkaConnection kafka)
    {
        var config = kafka.CreateProducerConfig();
        // Delivery reports carry the outcome only (all this type reads): the client then reads no headers, timestamp or
        // status back per message, and keeps no reference to the key and value arrays (callers may reuse them).
        config.DeliveryReportFields = "none";
        if (!kafka.Options.Settings.ContainsKey("queue.buffering.max.kbytes"))
        {
            // The memory bound while Kafka is away (librdkafka's default is 1 GiB).
            config.QueueBufferingMaxKbytes = 32 * 1024;
        }

        return config;
    }
}
