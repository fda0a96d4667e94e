using System.Diagnostics;
using Confluent.Kafka;

namespace DataMesh.Producer.Emitting;

internal sealed partial class EventEmitter
{
    private const int MaxCachedLength = 4096;

    private IProducer<byte[], byte[]>? _producer;
    private Task? _sender;
    private CancellationTokenSource? _stopSending;
    private WireBuffers? _wire;
    private volatile Error? _kafkaError;
    private long _kafkaErrorAt;
    private long _lastDeliveryAt;
    private long _delivered;
    private volatile bool _fatal;
    private ErrorCode _lastLoggedError;
    private long _lastLoggedErrorAt;

    /// <summary>Whether Kafka looks unreachable: a connection error came after the last acknowledgement, and events are waiting
    /// (or the error is recent).</summary>
    public bool KafkaUnreachable(out string? reason)
    {
        reason = null;
        if (_kafkaError is not { } error)
        {
            return false;
        }

        var errorAt = Interlocked.Read(ref _kafkaErrorAt);
        if (errorAt <= Interlocked.Read(ref _lastDeliveryAt))
        {
            return false;
        }

        if (Outstanding == 0 && Stopwatch.GetElapsedTime(errorAt) > _kafka.Options.RequestTimeout)
        {
            return false;
        }

        reason = $"{error.Code}: {error.Reason}";
        return true;
    }

    public bool Fatal => _fatal;

    public bool Started => _started.Task.IsCompletedSuccessfully;

    public bool Stopped => _stopped;

    public long DeliveredCount => Interlocked.Read(ref _delivered);

    /// <summary>The settings of the emitter's Kafka producer (the benchmarks give their peer the same).</summary>
    internal ProducerConfig CreateProducerConfig()
    {
        var config = _kafka.CreateProducerConfig();
        foreach (var (key, value) in _options.KafkaSettings)
        {
            config.Set(key, value);
        }

        config.MessageTimeoutMs = _options.DeliveryTimeout is { } timeout ? (int)Math.Clamp(timeout.TotalMilliseconds, 1, int.MaxValue) : 0;
        // Every accepted event may be in the client's queue at once: never let the client refuse one for lack of room.
        config.QueueBufferingMaxMessages = Math.Max(config.QueueBufferingMaxMessages ?? 100_000, _options.QueueCapacity + 1);
        // Delivery reports carry the outcome only: the client then keeps no reference to the (reused) key and value arrays.
        config.DeliveryReportFields = "none";
        return config;
    }

    private IProducer<byte[], byte[]> CreateProducer() =>
        new ProducerBuilder<byte[], byte[]>(CreateProducerConfig())
            .SetErrorHandler((_, error) => OnKafkaError(error))
            .SetLogHandler((_, message) => ProducerLog.Client(_logger, message.Facility, message.Message))
            .Build();

    /// <summary>The single sender: hands queued events to the Kafka client in queue order.</summary>
    private async Task SendLoopAsync(CancellationToken cancellationToken)
    {
        var reader = _queue.Reader;
        try
        {
            while (await reader.WaitToReadAsync(cancellationToken).ConfigureAwait(false))
            {
                while (reader.TryRead(out var pending))
                {
                    while (!TrySend(pending))
                    {
                        // The client's queue is full (only with settings that make it smaller than ours): wait for deliveries.
                        await Task.Delay(5, cancellationToken).ConfigureAwait(false);
                    }
                }
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            // Stop gave up waiting; what is left is failed by StopAsync.
        }
    }

    /// <summary>Produces one event; false when the client's queue is full and it should be tried again.</summary>
    private bool TrySend(PendingEvent pending)
    {
        if (Volatile.Read(ref pending.State) != PendingEvent.Pending)
        {
            return true;
        }

        try
        {
            if (pending.Raw is { } raw)
            {
                var message = new Message<byte[], byte[]> { Key = raw.Key!, Value = raw.Value, Headers = raw.Headers, Timestamp = new Timestamp(raw.Time) };
                _producer!.Produce(raw.Topic, message, pending.Handler);
            }
            else
            {
                var type = pending.Type!;
                _producer!.Produce(type.TopicPartition, _wire!.Build(pending), pending.Handler);
            }

            return true;
        }
        catch (ProduceException<byte[], byte[]> ex) when (ex.Error.Code == ErrorCode.Local_QueueFull)
        {
            return false;
        }
        catch (KafkaException ex)
        {
            Fail(pending, EventDeliveryFailure.Kafka, $"Kafka refused event {pending.EventId} for topic '{pending.Topic}': {ex.Error.Code}: {ex.Error.Reason}", ex);
            return true;
        }
        catch (InvalidOperationException ex)
        {
            Fail(pending, EventDeliveryFailure.Kafka, $"Event {pending.EventId} for topic '{pending.Topic}' could not be produced: {ex.Message}", ex);
            return true;
        }
    }

    /// <summary>The Kafka client's delivery report, on its polling thread.</summary>
    internal void OnDelivery(PendingEvent pending, DeliveryReport<byte[], byte[]> report)
    {
        var error = report.Error;
        if (!error.IsError)
        {
            Interlocked.Exchange(ref _lastDeliveryAt, Stopwatch.GetTimestamp());
            if (_lastLoggedError != ErrorCode.NoError)
            {
                _lastLoggedError = ErrorCode.NoError;
            }

            Complete(pending, report.Partition.Value, report.Offset.Value);
            return;
        }

        if (!error.IsFatal && IsRetriable(error.Code) && !_stopped)
        {
            _ = RetryAsync(pending, error);
            return;
        }

        Fail(pending, EventDeliveryFailure.Kafka, $"Kafka refused event {pending.EventId} for topic '{pending.Topic}': {error.Code}: {error.Reason}", new KafkaException(error));
    }

    /// <summary>Sends an event the client gave back again after a backoff, keeping its id (it may have been stored: a duplicate
    /// is then recognisable by <c>ce_id</c>). It keeps its slot meanwhile.</summary>
    private async Task RetryAsync(PendingEvent pending, Error error)
    {
        var attempt = ++pending.Attempts;
        var backoff = TimeSpan.FromTicks(Math.Min(
            _options.MaxRetryBackoff.Ticks,
            _options.RetryBackoff.Ticks * (1L << Math.Min(attempt - 1, 20))));
        backoff += TimeSpan.FromTicks((long)(backoff.Ticks * 0.2 * Random.Shared.NextDouble()));
        Metrics.Retried.Add(1);
        ProducerLog.Retrying(_logger, pending.EventId, pending.Topic, backoff, attempt, $"{error.Code}: {error.Reason}");
        try
        {
            await Task.Delay(backoff, _stopSending?.Token ?? CancellationToken.None).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            Fail(pending, EventDeliveryFailure.Shutdown, $"The DataMesh producer stopped while event {pending.EventId} for topic '{pending.Topic}' waited to be sent again after {error.Code}.");
            return;
        }

        if (!_queue.Writer.TryWrite(pending))
        {
            Fail(pending, EventDeliveryFailure.Shutdown, $"The DataMesh producer stopped while event {pending.EventId} for topic '{pending.Topic}' waited to be sent again after {error.Code}.");
        }
    }

    private static bool IsRetriable(ErrorCode code) => code is
        ErrorCode.Local_MsgTimedOut or ErrorCode.Local_TimedOut or ErrorCode.Local_Transport or ErrorCode.Local_AllBrokersDown
        or ErrorCode.RequestTimedOut or ErrorCode.NetworkException or ErrorCode.LeaderNotAvailable or ErrorCode.NotLeaderForPartition
        or ErrorCode.NotEnoughReplicas or ErrorCode.NotEnoughReplicasAfterAppend or ErrorCode.Local_UnknownPartition
        or ErrorCode.UnknownTopicOrPart or ErrorCode.Local_PurgeQueue or ErrorCode.Local_PurgeInflight;

    private void Complete(PendingEvent pending, int partition, long offset)
    {
        if (Interlocked.CompareExchange(ref pending.State, PendingEvent.Done, PendingEvent.Pending) != PendingEvent.Pending)
        {
            return;
        }

        Untrack(pending);
        Interlocked.Increment(ref _delivered);
        Metrics.Delivered.Add(1);
        Metrics.DeliveryDuration.Record(Stopwatch.GetElapsedTime(pending.AcceptedAt).TotalSeconds);
        pending.Partition = partition;
        pending.Offset = offset;
        pending.Activity?.Stop();
        _admission.Release();
        if (pending.Awaited)
        {
            pending.SetResult();
        }
        else
        {
            var callback = pending.Callback;
            var delivery = new EventDelivery(pending.EventId, pending.Topic, partition, offset, null);
            Return(pending);
            InvokeCallback(callback, delivery);
        }
    }

    private void Fail(PendingEvent pending, EventDeliveryFailure failure, string message, Exception? cause = null)
    {
        if (Interlocked.CompareExchange(ref pending.State, PendingEvent.Done, PendingEvent.Pending) != PendingEvent.Pending)
        {
            return;
        }

        Untrack(pending);
        Metrics.Failed.Add(1);
        var error = new EventDeliveryException(pending.EventId, pending.Topic, failure, message, cause);
        if (failure != EventDeliveryFailure.Shutdown)
        {
            ProducerLog.DeliveryFailed(_logger, pending.EventId, pending.Topic, message);
        }

        pending.Activity?.SetStatus(ActivityStatusCode.Error, message);
        pending.Activity?.Stop();
        _admission.Release();
        if (pending.Awaited)
        {
            pending.SetException(error);
        }
        else
        {
            var callback = pending.Callback;
            var delivery = new EventDelivery(pending.EventId, pending.Topic, -1, -1, error);
            Return(pending);
            InvokeCallback(callback, delivery);
        }
    }

    private void OnKafkaError(Error error)
    {
        _kafkaError = error;
        Interlocked.Exchange(ref _kafkaErrorAt, Stopwatch.GetTimestamp());
        if (error.IsFatal)
        {
            _fatal = true;
            ProducerLog.KafkaFatal(_logger, error.Code, error.Reason);
        }
        else if (error.Code != _lastLoggedError || Stopwatch.GetElapsedTime(Interlocked.Read(ref _lastLoggedErrorAt)) > TimeSpan.FromSeconds(30))
        {
            // The client repeats a connection error at every reconnect attempt: log it when it changes, or every 30 s.
            _lastLoggedError = error.Code;
            Interlocked.Exchange(ref _lastLoggedErrorAt, Stopwatch.GetTimestamp());
            ProducerLog.KafkaError(_logger, error.Code, error.Reason);
        }
    }

    /// <summary>
    /// The sender's reusable message parts. The Kafka client copies key, value and header bytes into its own buffers
    /// during <c>Produce</c> (librdkafka's <c>RD_KAFKA_MSG_F_COPY</c>) and, with delivery reports limited to the outcome,
    /// keeps no reference to them: so one message, one header list per event type and one array per length are reused
    /// for every event. Used by the sender loop only.
    /// </summary>
    private sealed class WireBuffers
    {
        private readonly byte[]?[] _keys = new byte[]?[MaxCachedLength + 1];
        private readonly byte[]?[] _values = new byte[]?[MaxCachedLength + 1];
        private readonly byte[] _id = new byte[36];
        private readonly byte[] _time = new byte[28];
        private readonly byte[] _traceParent = new byte[55];
        private readonly Message<byte[], byte[]> _message = new();

        public WireBuffers(IEnumerable<RegisteredEvent> types, string source)
        {
            var specVersion = new Header(EventHeaders.SpecVersion, "1.0"u8.ToArray());
            var sourceHeader = new Header(EventHeaders.Source, System.Text.Encoding.UTF8.GetBytes(source));
            var id = new Header(EventHeaders.Id, _id);
            var time = new Header(EventHeaders.Time, _time);
            var trace = new Header(EventHeaders.TraceParent, _traceParent);
            foreach (var type in types)
            {
                type.Headers = [specVersion, id, sourceHeader, type.TypeHeader, time];
                type.HeadersWithTrace = [specVersion, id, sourceHeader, type.TypeHeader, time, trace];
            }
        }

        public Message<byte[], byte[]> Build(PendingEvent pending)
        {
            var type = pending.Type!;
            var body = pending.Buffer.WrittenSpan;
            var keyLength = pending.KeyLength;
            if (keyLength >= 0)
            {
                var key = Exact(_keys, Avro.ConfluentWireFormat.HeaderLength + keyLength);
                Avro.ConfluentWireFormat.WriteHeader(key, type.KeySchemaId);
                body[..keyLength].CopyTo(key.AsSpan(Avro.ConfluentWireFormat.HeaderLength));
                _message.Key = key;
                body = body[keyLength..];
            }
            else
            {
                _message.Key = null!;
            }

            var value = Exact(_values, Avro.ConfluentWireFormat.HeaderLength + body.Length);
            Avro.ConfluentWireFormat.WriteHeader(value, type.ValueSchemaId);
            body.CopyTo(value.AsSpan(Avro.ConfluentWireFormat.HeaderLength));
            _message.Value = value;

            pending.EventId.TryFormat(_id, out _, "D");
            var time = new DateTime(pending.TimeTicks, DateTimeKind.Utc);
            time.TryFormat(_time, out _, "O", System.Globalization.CultureInfo.InvariantCulture);
            _message.Timestamp = new Timestamp(time);
            if (pending.HasTrace)
            {
                WriteTraceParent(pending);
                _message.Headers = type.HeadersWithTrace;
            }
            else
            {
                _message.Headers = type.Headers;
            }

            return _message;
        }

        private void WriteTraceParent(PendingEvent pending)
        {
            // 00-<32 hex trace id>-<16 hex span id>-<2 hex flags>
            Span<byte> raw = stackalloc byte[16];
            var output = _traceParent.AsSpan();
            "00-"u8.CopyTo(output);
            pending.TraceId.CopyTo(raw);
            Convert.TryToHexStringLower(raw, output.Slice(3, 32), out _);
            output[35] = (byte)'-';
            pending.SpanId.CopyTo(raw[..8]);
            Convert.TryToHexStringLower(raw[..8], output.Slice(36, 16), out _);
            output[52] = (byte)'-';
            Span<byte> flags = [(byte)pending.TraceFlags];
            Convert.TryToHexStringLower(flags, output.Slice(53, 2), out _);
        }

        private static byte[] Exact(byte[]?[] cache, int length) =>
            length <= MaxCachedLength ? cache[length] ??= new byte[length] : new byte[length];
    }
}
