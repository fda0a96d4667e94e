using DataMesh.Hosting;
using DataMesh.Schemas;

namespace DataMesh.Producer.Emitting;

internal sealed partial class EventEmitter
{
    private readonly Lock _lifecycle = new();

    /// <summary>
    /// Creates the topics, registers every event type's schemas (an incompatible change throws
    /// <see cref="SchemaIncompatibleException"/> naming the field and the rule, so the host fails to start), creates the Kafka
    /// producer and starts the sender. Events emitted before this wait in the queue.
    /// </summary>
    public async Task StartAsync(CancellationToken cancellationToken)
    {
        var registry = Registry;
        if (_options.CreateTopics)
        {
            foreach (var topic in registry.Values.Select(t => t.Topic).Distinct(StringComparer.Ordinal))
            {
                if (await _kafka.EnsureTopicAsync(topic, _options.TopicPartitions, TopicRetention.Default, cancellationToken).ConfigureAwait(false))
                {
                    ProducerLog.TopicCreated(_logger, topic, _options.TopicPartitions);
                }
            }
        }

        foreach (var type in registry.Values)
        {
            type.ValueSchemaId = await RegisterAsync(type, type.ValueSubject, type.Serializer.ValueSchema, cancellationToken).ConfigureAwait(false);
            if (type.Serializer.KeySchema is { } keySchema)
            {
                type.KeySchemaId = await RegisterAsync(type, type.KeySubject, keySchema, cancellationToken).ConfigureAwait(false);
            }
        }

        lock (_lifecycle)
        {
            ObjectDisposedException.ThrowIf(_stopped, this);
            if (_producer is not null)
            {
                return;
            }

            _wire = new WireBuffers(registry.Values, _source);
            _producer = CreateProducer();
            _stopSending = new CancellationTokenSource();
            var token = _stopSending.Token;
            _sender = Task.Run(() => SendLoopAsync(token), CancellationToken.None);
        }

        _started.TrySetResult();
        ProducerLog.Started(_logger, registry.Count, string.Join(", ", registry.Values.Select(t => t.Topic).Distinct(StringComparer.Ordinal)), _kafka.BootstrapServers);
    }

    private async Task<int> RegisterAsync(RegisteredEvent type, string subject, global::Avro.Schema schema, CancellationToken cancellationToken)
    {
        try
        {
            var id = await _schemas.RegisterAsync(subject, schema, cancellationToken).ConfigureAwait(false);
            ProducerLog.SchemaRegistered(_logger, type.EventType.FullName ?? type.EventType.Name, subject, id);
            return id;
        }
        catch (SchemaIncompatibleException ex)
        {
            ProducerLog.SchemaIncompatible(_logger, type.EventType.FullName ?? type.EventType.Name, subject, ex.Message);
            throw;
        }
    }

    /// <summary>
    /// Stops accepting events, lets the sender hand over everything queued, and waits up to
    /// <see cref="ProducerOptions.ShutdownTimeout"/> (or until <paramref name="cancellationToken"/>) for Kafka to acknowledge
    /// it. Events still outstanding then are failed with <see cref="EventDeliveryFailure.Shutdown"/> and counted in the log.
    /// </summary>
    /// <returns>The number of events that were not delivered.</returns>
    public async Task<int> StopAsync(CancellationToken cancellationToken)
    {
        lock (_lifecycle)
        {
            if (_stopped)
            {
                return 0;
            }

            _stopped = true;
        }

        _queue.Writer.TryComplete();
        ProducerLog.Stopping(_logger, _options.ShutdownTimeout, Outstanding);
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(_options.ShutdownTimeout);
        try
        {
            if (_sender is { } sender)
            {
                await sender.WaitAsync(timeout.Token).ConfigureAwait(false);
                while (Outstanding > 0 && !_fatal)
                {
                    await Task.Delay(10, timeout.Token).ConfigureAwait(false);
                }
            }
        }
        catch (OperationCanceledException) when (timeout.IsCancellationRequested)
        {
            // Out of time: what is left is reported below.
        }

        if (_stopSending is { } stopSending)
        {
            await stopSending.CancelAsync().ConfigureAwait(false);
        }

        var left = SnapshotOutstanding();
        foreach (var pending in left)
        {
            Fail(pending, EventDeliveryFailure.Shutdown, $"The host stopped before Kafka acknowledged event {pending.EventId} for topic '{pending.Topic}' (DataMesh:Producer:ShutdownTimeout is {_options.ShutdownTimeout}).");
        }

        if (left.Count > 0)
        {
            ProducerLog.NotDelivered(_logger, left.Count, _options.ShutdownTimeout);
        }
        else
        {
            ProducerLog.StoppedClean(_logger, DeliveredCount);
        }

        _started.TrySetException(new InvalidOperationException("The DataMesh producer stopped before it started."));
        DisposeProducer();
        return left.Count;
    }

    public async ValueTask DisposeAsync()
    {
        await StopAsync(CancellationToken.None).ConfigureAwait(false);
        Metrics.Dispose();
    }

    /// <summary>Stops at once, without waiting for Kafka: outstanding events are failed and reported. The host stops the
    /// emitter gracefully before its container disposes it, so this only matters for a container disposed without a host.</summary>
    public void Dispose()
    {
        lock (_lifecycle)
        {
            if (_stopped)
            {
                Metrics.Dispose();
                return;
            }

            _stopped = true;
        }

        _queue.Writer.TryComplete();
        _stopSending?.Cancel();
        var left = SnapshotOutstanding();
        foreach (var pending in left)
        {
            Fail(pending, EventDeliveryFailure.Shutdown, $"The DataMesh producer was disposed before Kafka acknowledged event {pending.EventId} for topic '{pending.Topic}'.");
        }

        if (left.Count > 0)
        {
            ProducerLog.NotDelivered(_logger, left.Count, TimeSpan.Zero);
        }

        _started.TrySetException(new InvalidOperationException("The DataMesh producer was disposed before it started."));
        DisposeProducer();
        Metrics.Dispose();
    }

    private void DisposeProducer()
    {
        // The sender's token source stays undisposed: a late retry may still read its (cancelled) token.
        Interlocked.Exchange(ref _producer, null)?.Dispose();
    }
}
