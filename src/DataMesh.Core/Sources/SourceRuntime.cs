using DataMesh.Events;
using DataMesh.Hosting;
using DataMesh.Schemas;
using Microsoft.Extensions.Logging;

namespace DataMesh.Sources;

/// <summary>How a source's run ended.</summary>
internal enum SourceOutcome
{
    /// <summary>Stopped on request, after storing the last acknowledged position.</summary>
    Stopped,

    /// <summary>Stopped by a fatal error (logged, status <see cref="SourceState.Failed"/>).</summary>
    Failed,
}

/// <summary>
/// Runs one connector: loads its stored position (retried while Kafka does not answer), runs it with retries (jittered
/// exponential backoff; a transient error restarts it from the last position Kafka acknowledged, with the producer drained
/// or replaced so nothing of the failed attempt is acknowledged later), stores acknowledged positions on a keeper task,
/// watches for stalls, and on a stop or a fatal error waits (bounded) for Kafka and stores the last acknowledged position. It never throws but on cancellation
/// of nothing: every outcome is a <see cref="SourceOutcome"/>.
/// </summary>
/// <typeparam name="TPosition">The connector's position.</typeparam>
internal sealed class SourceRuntime<TPosition> : ISourceHost
    where TPosition : class
{
    private readonly SourceConnector<TPosition> _connector;
    private readonly SourceOptions _options;
    private readonly KafkaConnection _kafka;
    private readonly ISchemaStore _schemas;
    private readonly PositionStore _positions;
    private readonly SemaphoreSlim _storeLock = new(1, 1);
    private readonly HashSet<string> _topics = new(StringComparer.Ordinal);
    private volatile ChangeProducer<TPosition>? _producer;
    private TPosition? _acknowledged;
    private TPosition? _stored;
    private long _lastAliveTicks = DateTime.UtcNow.Ticks;
    private long _producedBefore;
    private volatile SourceState _state = SourceState.Stopped;
    private volatile string? _message;
    private int _retries;

    public SourceRuntime(string name, SourceConnector<TPosition> connector, SourceOptions options, ChangeEventOptions events, KafkaConnection kafka, ISchemaStore schemas, PositionStore positions, SourceMonitor? monitor, ILogger logger)
    {
        Name = name;
        _connector = connector;
        _options = options;
        Events = options.Events ?? events;
        _kafka = kafka;
        _schemas = schemas;
        _positions = positions;
        Logger = logger;
        Description = new SourceDescription(connector.Kind, name, connector.PositionFields);
        Metrics = new SourceMetrics(connector.Kind, name, () => _producer?.InFlight ?? 0, () => _state);
        monitor?.Add(name, Status);
    }

    public string Name { get; }

    public ChangeEventOptions Events { get; }

    public ILogger Logger { get; }

    public SourceDescription Description { get; }

    public SourceMetrics? Metrics { get; }

    public long? FixedTimestampMs => null;

    public SourceState State => _state;

    /// <summary>The error that stopped the source, if one did (for tests).</summary>
    public Exception? FatalError { get; private set; }

    /// <summary>The last stored position (for tests and benchmarks).</summary>
    public TPosition? StoredPosition => _stored;

    /// <summary>Records handed to Kafka since the start (for tests and benchmarks).</summary>
    public long Produced => _producedBefore + (_producer?.Produced ?? 0);

    /// <summary>Runs until <paramref name="cancellationToken"/> stops it or a fatal error does.</summary>
    public async Task<SourceOutcome> RunAsync(CancellationToken cancellationToken)
    {
        _state = SourceState.Starting;
        using var keeperStop = new CancellationTokenSource();
        Task? keeper = null;
        try
        {
            TPosition? start = null;
            for (var loadAttempt = 1; ; loadAttempt++)
            {
                try
                {
                    var text = await _positions.LoadAsync(Name, cancellationToken).ConfigureAwait(false);
                    start = text is null ? null : _connector.ParsePosition(text);
                    break;
                }
                catch (Exception ex) when (ex is not OperationCanceledException && IsTransient(ex))
                {
                    // Kafka away at start (down, restarting, not reachable yet) is usually transient: retried like a connector's failure.
                    await RetryDelayAsync(ex, loadAttempt, "its stored position (not loaded yet)", cancellationToken).ConfigureAwait(false);
                }
                catch (Exception ex) when (ex is not OperationCanceledException)
                {
                    return Fail(ex);
                }
            }

            _stored = start;
            SourceLog.Starting(Logger, Name, _connector.Kind, start is null ? "no stored position" : _connector.Describe(start));
            _producer = new ChangeProducer<TPosition>(_kafka);
            keeper = KeepAsync(keeperStop.Token);
            var attempt = 0;
            while (true)
            {
                var context = new SourceContext<TPosition>(this, _producer);
                var acknowledgedBefore = _acknowledged;
                try
                {
                    _state = SourceState.Running;
                    _message = null;
                    ReportAlive();
                    await _connector.RunAsync(context, start, cancellationToken).ConfigureAwait(false);
                    cancellationToken.ThrowIfCancellationRequested();
                    throw new SourceException($"Source '{Name}': the connector ended its run without being stopped.", isTransient: true);
                }
                catch (Exception ex) when (cancellationToken.IsCancellationRequested)
                {
                    // A stop, whatever the cancelled read or write threw.
                    _ = ex;
                    context.DiscardPending();
                    break;
                }
                catch (Exception ex) when (IsTransient(ex))
                {
                    context.DiscardPending();
                    // Restart from what Kafka acknowledged, with nothing of this attempt left to be acknowledged later.
                    await DrainOrReplaceProducerAsync(cancellationToken).ConfigureAwait(false);
                    start = _acknowledged ?? start;
                    attempt = !ReferenceEquals(_acknowledged, acknowledgedBefore) ? 1 : attempt + 1;
                    await RetryDelayAsync(ex, attempt, start is null ? "the connector's own start" : _connector.Describe(start), cancellationToken).ConfigureAwait(false);
                }
                catch (Exception ex)
                {
                    context.DiscardPending();
                    await FinishAsync().ConfigureAwait(false);
                    return Fail(ex);
                }
            }

            await FinishAsync().ConfigureAwait(false);
            _state = SourceState.Stopped;
            SourceLog.Stopped(Logger, Name, _stored is null ? "none" : _connector.Describe(_stored));
            return SourceOutcome.Stopped;
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            await FinishAsync().ConfigureAwait(false);
            _state = SourceState.Stopped;
            SourceLog.Stopped(Logger, Name, _stored is null ? "none" : _connector.Describe(_stored));
            return SourceOutcome.Stopped;
        }
        catch (Exception ex)
        {
            return Fail(ex);
        }
        finally
        {
            await keeperStop.CancelAsync().ConfigureAwait(false);
            if (keeper is not null)
            {
                await keeper.ConfigureAwait(false);
            }

            _producer?.Dispose();
            _producer = null;
            Metrics?.Remove();
        }
    }

    /// <summary>Registers a table's schemas and creates its topic.</summary>
    public async Task RegisterAsync(SourceTable table, CancellationToken cancellationToken)
    {
        var schemas = table.Schemas;
        if (schemas.KeySchema is { } keySchema)
        {
            table.KeySchemaId = await RegisterAsync(table, schemas.KeySubject, keySchema, cancellationToken).ConfigureAwait(false);
        }

        table.ValueSchemaId = await RegisterAsync(table, schemas.ValueSubject, schemas.EnvelopeSchema, cancellationToken).ConfigureAwait(false);
        if (_topics.Add(schemas.Topic))
        {
            await _kafka.EnsureTopicAsync(schemas.Topic, _options.TopicPartitions, TopicRetention.Default, cancellationToken).ConfigureAwait(false);
        }

        table.IsRegistered = true;
        SourceLog.TableRegistered(Logger, Name, table.QualifiedName, schemas.Topic, table.KeySchemaId, table.ValueSchemaId);
    }

    public void ReportAlive() => Interlocked.Exchange(ref _lastAliveTicks, DateTime.UtcNow.Ticks);

    private async Task<int> RegisterAsync(SourceTable table, string subject, global::Avro.Schema schema, CancellationToken cancellationToken)
    {
        try
        {
            return await _schemas.RegisterAsync(subject, schema, cancellationToken).ConfigureAwait(false);
        }
        catch (SchemaIncompatibleException ex) when (_options.IncompatibleSchemaChange == IncompatibleSchemaChangePolicy.NewVersionWithNone)
        {
            SourceLog.IncompatibleSchemaAccepted(Logger, Name, table.QualifiedName, subject, ex.Message);
            await _schemas.SetCompatibilityAsync(subject, CompatibilityLevel.None, cancellationToken).ConfigureAwait(false);
            return await _schemas.RegisterAsync(subject, schema, cancellationToken).ConfigureAwait(false);
        }
        catch (SchemaIncompatibleException ex)
        {
            throw new SourceException(
                $"Source '{Name}': the new schema of table {table.QualifiedName} is incompatible with subject '{subject}': {ex.Message} " +
                "Set IncompatibleSchemaChange to NewVersionWithNone to register it anyway (consumers must then handle the break).",
                isTransient: false, ex);
        }
    }

    private bool IsTransient(Exception ex) => _connector.IsTransient(ex) ?? SourceErrors.IsTransient(ex);

    private SourceOutcome Fail(Exception ex)
    {
        FatalError = ex;
        _state = SourceState.Failed;
        _message = ex.Message;
        SourceLog.Fatal(Logger, ex, Name, ex.Message, _options.OnFatalError == FatalErrorPolicy.StopHost
            ? "stopping the host with exit code 1; set OnFatalError to StopSource to keep the other sources running"
            : "this source stays stopped; the host and the other sources go on");
        return SourceOutcome.Failed;
    }

    /// <summary>Waits (bounded) for Kafka to acknowledge what the failed attempt produced; replaces the producer when it
    /// cannot (Kafka away) or it failed, so that no record of the attempt is acknowledged after the restart.</summary>
    private async Task DrainOrReplaceProducerAsync(CancellationToken cancellationToken)
    {
        var producer = _producer!;
        var drained = false;
        if (!producer.IsFaulted)
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            timeout.CancelAfter(_kafka.Options.RequestTimeout);
            try
            {
                await producer.FlushAsync(timeout.Token).ConfigureAwait(false);
                drained = true;
            }
            catch (Exception ex) when (ex is OperationCanceledException or Confluent.Kafka.KafkaException && !cancellationToken.IsCancellationRequested)
            {
                // Not drained: replaced below.
            }
        }

        await StoreAcknowledgedAsync(cancellationToken).ConfigureAwait(false);
        if (!drained)
        {
            _producedBefore += producer.Produced;
            _producer = new ChangeProducer<TPosition>(_kafka);
            producer.Dispose();
        }
    }

    /// <summary>On a stop or a fatal error: waits for Kafka (bounded by <see cref="SourceOptions.ShutdownTimeout"/>) and
    /// stores the last acknowledged position.</summary>
    private async Task FinishAsync()
    {
        if (_producer is not { } producer)
        {
            return;
        }

        using var timeout = new CancellationTokenSource(_options.ShutdownTimeout);
        try
        {
            await producer.FlushAsync(timeout.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            SourceLog.StopTimedOut(Logger, Name, producer.InFlight, _options.ShutdownTimeout);
        }
        catch (Confluent.Kafka.KafkaException)
        {
            // A failed delivery: what was acknowledged before it is stored below.
        }

        try
        {
            await StoreAcknowledgedAsync(timeout.IsCancellationRequested ? CancellationToken.None : timeout.Token).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is OperationCanceledException or Confluent.Kafka.KafkaException or TimeoutException)
        {
            // Not stored: the next start repeats from the previous stored position.
        }
    }

    /// <summary>Stores the latest position Kafka acknowledged, if it is new; serialised with the keeper's stores.</summary>
    private async Task StoreAcknowledgedAsync(CancellationToken cancellationToken)
    {
        await _storeLock.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (_producer is { } producer && producer.TryTakeAcknowledged(out var position))
            {
                _acknowledged = position;
            }

            if (_acknowledged is { } acknowledged && !ReferenceEquals(acknowledged, _stored))
            {
                await _positions.SaveAsync(Name, _connector.FormatPosition(acknowledged), cancellationToken).ConfigureAwait(false);
                _stored = acknowledged;
                Metrics?.PositionStored();
                SourceLog.PositionStored(Logger, Name, _connector.Describe(acknowledged));
                await _connector.OnPositionStoredAsync(acknowledged, cancellationToken).ConfigureAwait(false);
            }
        }
        finally
        {
            _storeLock.Release();
        }
    }

    /// <summary>Every <see cref="SourceOptions.PositionSaveInterval"/> (every 100 ms until a first position is stored, so a
    /// first start has one at once): stores what Kafka acknowledged, and watches for stalls.</summary>
    private async Task KeepAsync(CancellationToken cancellationToken)
    {
        var acknowledged = -1L;
        var acknowledgedAt = DateTime.UtcNow;
        var stalled = false;
        Task? saving = null;
        using var timer = new PeriodicTimer(_stored is null ? TimeSpan.FromMilliseconds(Math.Min(100, _options.PositionSaveInterval.TotalMilliseconds)) : _options.PositionSaveInterval);
        var fast = _stored is null;
        try
        {
            while (await timer.WaitForNextTickAsync(cancellationToken).ConfigureAwait(false))
            {
                if (fast && _stored is not null)
                {
                    // The first position is stored: from now on, the configured interval.
                    timer.Period = _options.PositionSaveInterval;
                    fast = false;
                }

                // A store waits for Kafka, which may be away: it runs on its own and the watchdog below goes on.
                if (saving is null || saving.IsCompleted)
                {
                    if (saving is { IsFaulted: true } failed && failed.Exception!.InnerException is { } error and not OperationCanceledException)
                    {
                        SourceLog.StoreFailed(Logger, error, Name, _acknowledged is null ? "none" : _connector.Describe(_acknowledged));
                    }

                    saving = StoreAcknowledgedAsync(cancellationToken);
                }

                // The watchdog: Kafka silent while records wait, or the log reader silent.
                var producer = _producer;
                var now = DateTime.UtcNow;
                if (producer is null || producer.InFlight == 0 || producer.Acknowledged != acknowledged)
                {
                    acknowledged = producer?.Acknowledged ?? -1;
                    acknowledgedAt = now;
                }

                string? reason = null;
                if (now - acknowledgedAt > _options.EffectiveStallTimeout)
                {
                    reason = $"Kafka has acknowledged nothing for {(now - acknowledgedAt).TotalSeconds:0} s while {producer!.InFlight} records wait (is the cluster reachable?)";
                }
                else if (_state is SourceState.Running or SourceState.Stalled && now - new DateTime(Interlocked.Read(ref _lastAliveTicks), DateTimeKind.Utc) > _options.EffectiveStallTimeout)
                {
                    reason = $"the log reader has been silent for more than {_options.EffectiveStallTimeout.TotalSeconds:0} s (no change, no heartbeat)";
                }

                if (reason is not null && _state is SourceState.Running or SourceState.Stalled)
                {
                    if (!stalled)
                    {
                        SourceLog.Stalled(Logger, Name, reason);
                    }

                    stalled = true;
                    _state = SourceState.Stalled;
                    _message = reason;
                }
                else if (stalled && reason is null)
                {
                    stalled = false;
                    if (_state == SourceState.Stalled)
                    {
                        _state = SourceState.Running;
                        _message = null;
                    }

                    SourceLog.Unstalled(Logger, Name);
                }
            }
        }
        catch (OperationCanceledException)
        {
        }

        if (saving is not null)
        {
            try
            {
                await saving.ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is OperationCanceledException or Confluent.Kafka.KafkaException)
            {
                // Stopping: the stop stores what Kafka acknowledged.
            }
        }
    }

    /// <summary>Reports a transient failure (state, metrics, a Warning with its message) and waits out the backoff.</summary>
    private Task RetryDelayAsync(Exception ex, int attempt, string position, CancellationToken cancellationToken)
    {
        _retries++;
        Metrics?.Retry();
        var delay = Backoff(attempt);
        _state = SourceState.Retrying;
        _message = ex.Message;
        SourceLog.Retrying(Logger, ex, Name, attempt, ex.Message, position, delay);
        return Task.Delay(delay, cancellationToken);
    }

    private TimeSpan Backoff(int attempt)
    {
        var delay = _options.RetryDelay * Math.Pow(2, Math.Min(attempt - 1, 16));
        var capped = delay > _options.MaxRetryDelay ? _options.MaxRetryDelay : delay;
        return capped * (0.8 + (Random.Shared.NextDouble() * 0.4));
    }

    private SourceStatus Status()
    {
        var producer = _producer;
        var stored = _stored;
        return new SourceStatus(Name, _connector.Kind, _state, _message, stored is null ? null : _connector.Describe(stored),
            _producedBefore + (producer?.Produced ?? 0), producer?.InFlight ?? 0, _retries,
            new DateTimeOffset(Interlocked.Read(ref _lastAliveTicks), TimeSpan.Zero));
    }
}
