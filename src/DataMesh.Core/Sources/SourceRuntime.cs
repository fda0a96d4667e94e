using System.Collections.Concurrent;
using DataMesh.Events;
using DataMesh.Hosting;
using DataMesh.Schemas;
using DataMesh.Sources.Leases;
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
    /// <summary>How many tables <see cref="RegisterAllAsync"/> registers at a time.</summary>
    private const int ConcurrentRegistrations = 8;

    private readonly SourceConnector<TPosition> _connector;
    private readonly SourceOptions _options;
    private readonly KafkaConnection _kafka;
    private readonly ISchemaStore _schemas;
    private readonly PositionStore _positions;
    private readonly SemaphoreSlim _storeLock = new(1, 1);
    private readonly SemaphoreSlim _storeRequested = new(0, 1);
    private readonly ConcurrentDictionary<string, int> _topics = new(StringComparer.Ordinal);
    private readonly SemaphoreSlim _registering = new(1, 1);
    private readonly Dictionary<string, RegisteredTable> _registered = new(StringComparer.Ordinal);
    private readonly Lock _registeredLock = new();
    private IReadOnlyList<RegisteredTable>? _registeredList = [];
    private volatile ChangeProducer<SourceCheckpoint<TPosition>>? _producer;
    private SourceCheckpoint<TPosition>? _acknowledged;
    private SourceCheckpoint<TPosition>? _stored;
    private long _lastAliveMs = Environment.TickCount64;
    private long _producedBefore;
    private volatile SourceState _state = SourceState.Stopped;
    private volatile string? _message;
    private volatile CancellationTokenSource? _attemptStop;
    private int _retries;
    private volatile bool _fenced;
    private ISourceLease? _lease;
    private volatile CancellationTokenSource? _termLost;
    private volatile LeaseFence? _fence;
    private long _gateLogged;

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
        if (connector.CreateSnapshotDialect() is { } dialect)
        {
            Snapshots = new SnapshotEngine(name, options.Snapshot, dialect, this, logger);
            var engine = Snapshots;
            Metrics.SnapshotProgress = () => engine.Progress;
        }

        monitor?.Add(name, Status, Snapshots);
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
    public TPosition? StoredPosition => _stored?.Position;

    /// <summary>The snapshot engine, when the connector supports snapshots.</summary>
    public SnapshotEngine? Snapshots { get; }

    /// <summary>Records handed to Kafka since the start (for tests and benchmarks).</summary>
    public long Produced => _producedBefore + (_producer?.Produced ?? 0);

    /// <summary>Records of the current producer handed to Kafka and not yet acknowledged (for tests and benchmarks).</summary>
    public long InFlight => _producer?.InFlight ?? 0;

    /// <summary>Runs until <paramref name="cancellationToken"/> stops it or a fatal error does. With a lease
    /// (<see cref="SourceOptions.UseLease"/> and a connector that has one), each term of reading starts by taking the lease
    /// (standing by while another process holds it) and ends when the lease is lost: then nothing more is stored, and the
    /// source stands by again.</summary>
    public async Task<SourceOutcome> RunAsync(CancellationToken cancellationToken)
    {
        _state = SourceState.Starting;
        ISourceLease? lease = null;
        try
        {
            lease = _options.UseLease ? _connector.CreateLease(Name) : null;
            _lease = lease;
            while (true)
            {
                using var lost = new CancellationTokenSource();
                using var watchStop = new CancellationTokenSource();
                Task? watching = null;
                if (lease is not null)
                {
                    await AcquireLeaseAsync(lease, cancellationToken).ConfigureAwait(false);
                    _termLost = lost;
                    _fenced = false;
                    watching = WatchLeaseAsync(lease, lost, watchStop.Token);
                }

                SourceOutcome? outcome;
                try
                {
                    outcome = await RunTermAsync(lost.Token, cancellationToken).ConfigureAwait(false);
                }
                finally
                {
                    _termLost = null;
                    await watchStop.CancelAsync().ConfigureAwait(false);
                    if (watching is not null)
                    {
                        await watching.ConfigureAwait(false);
                    }
                }

                if (outcome is { } ended)
                {
                    return ended;
                }

                // The lease was lost (logged by the watcher): what this term read is abandoned (the snapshot's chunks too),
                // the next term starts from the stored position once the lease is held again.
                _acknowledged = null;
                Snapshots?.Suspend();
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            _state = SourceState.Stopped;
            SourceLog.Stopped(Logger, Name, _stored is null ? "none" : _connector.Describe(_stored.Position));
            return SourceOutcome.Stopped;
        }
        catch (Exception ex)
        {
            MarkFailed(ex);
            return Fail(ex);
        }
        finally
        {
            if (lease is not null)
            {
                await ReleaseLeaseAsync(lease).ConfigureAwait(false);
            }

            if (_state != SourceState.Failed)
            {
                // A failed source keeps reporting state 5 while the host goes on (OnFatalError = StopSource).
                Metrics?.Remove();
            }

            if (Snapshots is { } engine)
            {
                await engine.DisposeAsync().ConfigureAwait(false);
            }
        }
    }

    /// <summary>One term of reading: loads the stored position, runs the connector with retries until a stop, a fatal
    /// error or the loss of the lease (<paramref name="leaseLost"/>; then it returns null, storing nothing once the loss
    /// was found).</summary>
    private async Task<SourceOutcome?> RunTermAsync(CancellationToken leaseLost, CancellationToken cancellationToken)
    {
        _state = SourceState.Starting;
        using var keeperStop = new CancellationTokenSource();
        using var term = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, leaseLost);
        Task? keeper = null;
        try
        {
            TPosition? start = null;
            for (var loadAttempt = 1; ; loadAttempt++)
            {
                try
                {
                    var text = await _positions.LoadAsync(Name, term.Token).ConfigureAwait(false);
                    _stored = text is null ? null : SourceCheckpoint<TPosition>.Parse(text, _connector);
                    start = _stored?.Position;
                    if (_lease is { } lease)
                    {
                        _fence = await TakeEpochAsync(lease, term.Token).ConfigureAwait(false);
                    }

                    break;
                }
                catch (Exception ex) when (ex is not OperationCanceledException && IsTransient(ex))
                {
                    // Kafka away at start (down, restarting, not reachable yet) is usually transient: retried like a connector's failure.
                    await RetryDelayAsync(ex, loadAttempt, "its stored position (not loaded yet)", term.Token).ConfigureAwait(false);
                }
                catch (Exception ex) when (ex is not OperationCanceledException)
                {
                    return Fail(ex);
                }
            }

            if (Snapshots is { } snapshots)
            {
                snapshots.Restore(_stored?.Snapshot ?? SnapshotState.Empty, requestInitial: _stored is null && _options.Snapshot.Initial == InitialSnapshot.WhenNoPosition);
            }

            SourceLog.Starting(Logger, Name, _connector.Kind, start is null ? "no stored position" : _connector.Describe(start));
            _producer = new ChangeProducer<SourceCheckpoint<TPosition>>(_kafka, fence: _fence);
            keeper = KeepAsync(keeperStop.Token);
            var attempt = 0;
            while (true)
            {
                var context = new SourceContext<TPosition>(this, _producer);
                Snapshots?.Reset(_acknowledged?.Snapshot ?? _stored?.Snapshot ?? SnapshotState.Empty);
                var acknowledgedBefore = _acknowledged;
                // The keeper cancels an attempt whose producer failed: a delivery error is reported even while the log is idle.
                using var attemptStop = CancellationTokenSource.CreateLinkedTokenSource(term.Token);
                _attemptStop = attemptStop;
                try
                {
                    _state = SourceState.Running;
                    _message = null;
                    ReportAlive();
                    await _connector.RunAsync(context, start, attemptStop.Token).ConfigureAwait(false);
                    term.Token.ThrowIfCancellationRequested();
                    _producer.ThrowIfFaulted();
                    throw new SourceException($"Source '{Name}': the connector ended its run without being stopped.", isTransient: true);
                }
                catch (Exception ex) when (term.IsCancellationRequested || _fenced)
                {
                    // A stop or the loss of the lease, whatever the cancelled read or write threw. The fence is set before
                    // the term's token is cancelled, so a producer that found the loss first (its gate throws) lands here too.
                    _ = ex;
                    context.DiscardPending();
                    break;
                }
                catch (Exception thrown)
                {
                    context.DiscardPending();
                    var ex = _producer.Fault is { } fault && (attemptStop.IsCancellationRequested || thrown is Confluent.Kafka.KafkaException) ? DeliveryError(fault) : thrown;
                    if (!IsTransient(ex))
                    {
                        // The state first: whatever the wait for Kafka below does, the source is failed.
                        MarkFailed(ex);
                        await FinishAsync(keeperStop, keeper).ConfigureAwait(false);
                        keeper = null;
                        return Fail(ex);
                    }

                    // Restart from what Kafka acknowledged, with nothing of this attempt left to be acknowledged later.
                    start = await DrainOrReplaceProducerAsync(start, term.Token).ConfigureAwait(false);
                    attempt = !ReferenceEquals(_acknowledged, acknowledgedBefore) ? 1 : attempt + 1;
                    await RetryDelayAsync(ex, attempt, start is null ? "the connector's own start" : _connector.Describe(start), term.Token).ConfigureAwait(false);
                }
                finally
                {
                    _attemptStop = null;
                }
            }

            if (!cancellationToken.IsCancellationRequested)
            {
                // The lease was lost: nothing more is stored (the new holder goes on from the stored position).
                await StopKeeperAsync(keeperStop, keeper).ConfigureAwait(false);
                keeper = null;
                return null;
            }

            await FinishAsync(keeperStop, keeper).ConfigureAwait(false);
            keeper = null;
            _state = SourceState.Stopped;
            SourceLog.Stopped(Logger, Name, _stored is null ? "none" : _connector.Describe(_stored.Position));
            return SourceOutcome.Stopped;
        }
        catch (OperationCanceledException) when (term.IsCancellationRequested || _fenced)
        {
            if (!cancellationToken.IsCancellationRequested)
            {
                await StopKeeperAsync(keeperStop, keeper).ConfigureAwait(false);
                keeper = null;
                return null;
            }

            await FinishAsync(keeperStop, keeper).ConfigureAwait(false);
            keeper = null;
            _state = SourceState.Stopped;
            SourceLog.Stopped(Logger, Name, _stored is null ? "none" : _connector.Describe(_stored.Position));
            return SourceOutcome.Stopped;
        }
        finally
        {
            await StopKeeperAsync(keeperStop, keeper).ConfigureAwait(false);
            if (_producer is { } producer)
            {
                // Its count stays in Produced (and the status) after the run.
                _producer = null;
                _producedBefore += producer.Produced;
                producer.Dispose();
            }
        }
    }

    /// <summary>Takes the lease, standing by (state <see cref="SourceState.Standby"/>, checking every
    /// <see cref="SourceOptions.LeaseCheckInterval"/>) while another process holds it; a failed attempt (the database away)
    /// is logged and tried again.</summary>
    private async Task AcquireLeaseAsync(ISourceLease lease, CancellationToken cancellationToken)
    {
        var waiting = System.Diagnostics.Stopwatch.StartNew();
        var standingBy = false;
        while (true)
        {
            try
            {
                if (await lease.TryAcquireAsync(cancellationToken).ConfigureAwait(false))
                {
                    SourceLog.LeaseTaken(Logger, Name, lease.Description, waiting.Elapsed);
                    return;
                }

                if (!standingBy)
                {
                    SourceLog.StandingBy(Logger, Name, lease.Description);
                    standingBy = true;
                }

                _state = SourceState.Standby;
                _message = $"another process holds the lease ({lease.Description})";
            }
            catch (Exception ex) when (ex is not OperationCanceledException && !IsTransient(ex))
            {
                // A wrong password, a refused certificate: stopping the source says so, where retrying would hide it.
                throw;
            }
            catch (Exception ex) when (ex is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
            {
                SourceLog.LeaseError(Logger, ex, Name, lease.Description, ex.Message);
                _state = SourceState.Retrying;
                _message = $"could not take the lease ({lease.Description}): {ex.Message}";
            }

            await Task.Delay(_options.LeaseCheckInterval * (0.8 + (Random.Shared.NextDouble() * 0.4)), cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>Checks the lease every <see cref="SourceOptions.LeaseCheckInterval"/> until stopped; when it is lost (or
    /// cannot be checked: its session is then as good as gone), fences the source (no position stored from then on) and
    /// cancels <paramref name="lost"/>, which ends the term.</summary>
    private async Task WatchLeaseAsync(ISourceLease lease, CancellationTokenSource lost, CancellationToken cancellationToken)
    {
        try
        {
            while (true)
            {
                await Task.Delay(_options.LeaseCheckInterval, cancellationToken).ConfigureAwait(false);
                var started = LeaseFence.Timestamp();
                if (!await IsLeaseHeldAsync(lease, cancellationToken).ConfigureAwait(false))
                {
                    await LoseLeaseAsync(lease, lost).ConfigureAwait(false);
                    return;
                }

                _fence?.Confirmed(started);
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
        }
        catch (Exception ex)
        {
            // Whatever ended the watcher, the term must not go on unwatched.
            SourceLog.LeaseError(Logger, ex, Name, lease.Description, ex.Message);
            await LoseLeaseAsync(lease, lost).ConfigureAwait(false);
        }
    }

    /// <summary>Takes the term's fencing epoch (stored, and acknowledged by Kafka, before anything is produced), then asks
    /// the lease again: a holder that took an epoch but lost the lease before this check never produces with it, so every
    /// epoch used was taken while its holder held the lease, and the next holder reads it and takes a higher one.</summary>
    private async Task<LeaseFence> TakeEpochAsync(ISourceLease lease, CancellationToken cancellationToken)
    {
        var epoch = await _positions.NextEpochAsync(Name, cancellationToken).ConfigureAwait(false);
        var fence = new LeaseFence(epoch, LeaseFence.ValidityFor(_options.LeaseCheckInterval, LeaseCheckTimeout), ConfirmLeaseAsync, _options.EpochHeader);
        var started = LeaseFence.Timestamp();
        if (!await IsLeaseHeldAsync(lease, cancellationToken).ConfigureAwait(false))
        {
            // Never confirmed: the term ends as a lost lease (the fence is set, whether or not the token flipped yet).
            await LoseLeaseAsync(lease, _termLost).ConfigureAwait(false);
            throw new OperationCanceledException($"Source '{Name}' lost its lease while taking epoch {epoch}.");
        }

        fence.Confirmed(started);
        SourceLog.EpochTaken(Logger, Name, epoch, lease.Description);
        return fence;
    }

    /// <summary>The fence's question, asked when a confirmation expired (the process may have been paused): whether the
    /// lease is still held; when not, the term ends as when the watcher finds the loss.</summary>
    private async Task<bool> ConfirmLeaseAsync(CancellationToken cancellationToken)
    {
        if (_lease is not { } lease || _fenced)
        {
            return false;
        }

        if (_fence is { } fence && fence.SinceConfirmed is var since && since >= fence.Validity
            && System.Diagnostics.Stopwatch.GetElapsedTime(Volatile.Read(ref _gateLogged)) >= fence.Validity)
        {
            // Once per validity at most: a stalled check makes the producer ask again every 50 ms. (The watcher may have
            // confirmed the lease since the producer found the gate closed: then there is nothing to say.)
            Volatile.Write(ref _gateLogged, System.Diagnostics.Stopwatch.GetTimestamp());
            SourceLog.LeaseConfirmationExpired(Logger, Name, lease.Description, since, fence.Validity);
        }

        if (await IsLeaseHeldAsync(lease, cancellationToken).ConfigureAwait(false))
        {
            return true;
        }

        await LoseLeaseAsync(lease, _termLost).ConfigureAwait(false);
        return false;
    }

    /// <summary>How long a lease check may take before it counts as lost: twice the check interval, at least 5 s.</summary>
    private TimeSpan LeaseCheckTimeout => TimeSpan.FromTicks(Math.Max(TimeSpan.FromSeconds(5).Ticks, _options.LeaseCheckInterval.Ticks * 2));

    /// <summary>Whether the lease is still held, asked with a bounded wait (twice the check interval, at least 5 s): a check
    /// that fails or does not answer in time counts as lost.</summary>
    private async Task<bool> IsLeaseHeldAsync(ISourceLease lease, CancellationToken cancellationToken)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(LeaseCheckTimeout);
        try
        {
            return await lease.IsHeldAsync(timeout.Token).ConfigureAwait(false);
        }
        catch (Exception ex) when (!cancellationToken.IsCancellationRequested)
        {
            SourceLog.LeaseError(Logger, ex, Name, lease.Description, timeout.IsCancellationRequested ? "the check did not answer in time" : ex.Message);
            return false;
        }
    }

    /// <summary>Fences the source (no position stored from now on) and ends the term (<paramref name="lost"/>).</summary>
    private async Task LoseLeaseAsync(ISourceLease lease, CancellationTokenSource? lost)
    {
        if (!_fenced)
        {
            _fenced = true;
            SourceLog.LeaseLost(Logger, Name, lease.Description);
        }

        _state = SourceState.Standby;
        _message = $"lost the lease ({lease.Description})";
        if (lost is not null)
        {
            try
            {
                await lost.CancelAsync().ConfigureAwait(false);
            }
            catch (ObjectDisposedException)
            {
                // The term already ended.
            }
        }
    }

    /// <summary>Releases the lease (bounded by the Kafka request timeout) and closes its session.</summary>
    private async Task ReleaseLeaseAsync(ISourceLease lease)
    {
        using var timeout = new CancellationTokenSource(_kafka.Options.RequestTimeout);
        try
        {
            await lease.ReleaseAsync(timeout.Token).ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            // Closing its session below frees it anyway.
            SourceLog.LeaseError(Logger, ex, Name, lease.Description, ex.Message);
        }

        try
        {
            await lease.DisposeAsync().ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            SourceLog.LeaseError(Logger, ex, Name, lease.Description, ex.Message);
        }
    }

    /// <summary>Registers a table's schemas and creates its topic.</summary>
    public async Task RegisterAsync(SourceTable table, CancellationToken cancellationToken)
    {
        // The log thread and the snapshot workers register tables.
        await _registering.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            await RegisterLockedAsync(table, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            _registering.Release();
        }
    }

    /// <summary>Registers tables (a connector's captured tables at start) up to <see cref="ConcurrentRegistrations"/> at a
    /// time: each registration is a few round trips to the schema store and the cluster, so a source of hundreds of
    /// tables would otherwise wait for hundreds of them in a row before its first change. Tables of one topic share its
    /// subjects and are registered one after another, in the given order.</summary>
    public async Task RegisterAllAsync(IEnumerable<SourceTable> tables, CancellationToken cancellationToken)
    {
        await _registering.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            var byTopic = tables.Where(t => !t.IsRegistered).GroupBy(t => t.Schemas.Topic, StringComparer.Ordinal).ToList();
            var options = new ParallelOptions { MaxDegreeOfParallelism = ConcurrentRegistrations, CancellationToken = cancellationToken };
            await Parallel.ForEachAsync(byTopic, options, async (topic, token) =>
            {
                foreach (var table in topic)
                {
                    if (!table.IsRegistered)
                    {
                        await RegisterLockedAsync(table, token).ConfigureAwait(false);
                    }
                }
            }).ConfigureAwait(false);
        }
        finally
        {
            _registering.Release();
        }
    }

    private async Task RegisterLockedAsync(SourceTable table, CancellationToken cancellationToken)
    {
        var schemas = table.Schemas;
        // The key's and the envelope's registrations and the topic's creation do not depend on one another: one wait for
        // the three (a table's first event waits for them; each registration is a round trip through the schema store).
        // When one is refused (an incompatible schema, a downstream pipeline's guard) the source stops; the others may
        // have completed: a registered schema version no event uses, or a topic without events, harms no consumer.
        var key = schemas.KeySchema is { } keySchema ? RegisterAsync(table, schemas.KeySubject, keySchema, cancellationToken) : Task.FromResult(0);
        var value = RegisterAsync(table, schemas.ValueSubject, schemas.EnvelopeSchema, cancellationToken);
        var topic = _topics.TryGetValue(schemas.Topic, out var known) ? Task.FromResult(known) : CreateTopicAsync(schemas.Topic, cancellationToken);
        await Task.WhenAll(key, value, topic).ConfigureAwait(false);
        if (schemas.KeySchema is not null)
        {
            table.KeySchemaId = await key.ConfigureAwait(false);
        }

        table.ValueSchemaId = await value.ConfigureAwait(false);
        var partitions = await topic.ConfigureAwait(false);
        _topics[schemas.Topic] = partitions;
        table.Partitions = partitions;
        table.IsRegistered = true;
        if (table.Role == TableRole.Data)
        {
            // The source's own tables (snapshot watermarks, signals) are read, never captured: not in its registration.
            Registered(new RegisteredTable(table.QualifiedName, schemas.Topic, schemas.KeySchema is null ? null : table.KeySchemaId, table.ValueSchemaId));
        }

        SourceLog.TableRegistered(Logger, Name, table.QualifiedName, schemas.Topic, table.KeySchemaId, table.ValueSchemaId);
    }

    /// <summary>The tables registered so far, by name (what <see cref="SourceStatus.Tables"/> shows): built again only after
    /// a registration, so a status read between registrations costs nothing. Thread-safe: tables are registered on the log
    /// thread and the snapshot workers (one at a time, under <see cref="_registering"/>), the status is read by reporters.</summary>
    public IReadOnlyList<RegisteredTable> RegisteredTables
    {
        get
        {
            lock (_registeredLock)
            {
                return _registeredList ??= [.. _registered.Values.OrderBy(t => t.Table, StringComparer.Ordinal)];
            }
        }
    }

    /// <summary>Records a registered table; a table registered again (its schema changed) replaces its entry.</summary>
    private void Registered(RegisteredTable table)
    {
        lock (_registeredLock)
        {
            _registered[table.Table] = table;
            _registeredList = null;
        }
    }

    public void ReportAlive()
    {
        // Called for every message of a busy log: the coarse monotonic clock (a few nanoseconds, where DateTime.UtcNow takes
        // about 20), written only when it moved on (so the cache line is not dirtied at every call).
        var now = Environment.TickCount64;
        if (Volatile.Read(ref _lastAliveMs) != now)
        {
            Volatile.Write(ref _lastAliveMs, now);
        }
    }

    /// <inheritdoc cref="SourceContext{TPosition}.RequestStore"/>
    public void RequestStore()
    {
        try
        {
            if (_storeRequested.CurrentCount == 0)
            {
                _storeRequested.Release();
            }
        }
        catch (SemaphoreFullException)
        {
            // Requested meanwhile.
        }
    }

    /// <summary>Creates a table's topic if needed and returns its partition count.</summary>
    private async Task<int> CreateTopicAsync(string topic, CancellationToken cancellationToken)
    {
        await _kafka.EnsureTopicAsync(topic, _options.TopicPartitions, TopicRetention.Default, cancellationToken).ConfigureAwait(false);
        // Keyed events are partitioned by the runtime (see SourceTable.PartitionOf): it needs the topic's real count.
        return await _kafka.PartitionCountAsync(topic, cancellationToken).ConfigureAwait(false);
    }

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
                "Set the source's IncompatibleSchemaChange to NewVersionWithNone (in a definition: incompatible_schema_change: new_version_with_none) to register it anyway (consumers must then handle the break).",
                isTransient: false, ex);
        }
    }

    private bool IsTransient(Exception ex) => _connector.IsTransient(ex) ?? SourceErrors.IsTransient(ex);

    /// <summary>The error of a failed delivery, naming the topic it was for and what to do.</summary>
    private SourceException DeliveryError(Confluent.Kafka.ProduceException<byte[]?, byte[]?> fault)
    {
        var topic = fault.DeliveryResult?.Topic ?? "a table topic";
        var hint = fault.Error.Code == Confluent.Kafka.ErrorCode.InvalidRecord
            ? " A compacted topic refuses records without a key (truncate events, keyless tables): make the topic not compacted, or set Events.EmitTruncates to false."
            : fault.Error.Code is Confluent.Kafka.ErrorCode.MsgSizeTooLarge or Confluent.Kafka.ErrorCode.RecordListTooLarge
                ? " Raise the producer's message.max.bytes (DataMesh:Kafka:Settings) and the topic's max.message.bytes."
                : string.Empty;
        return new SourceException($"Source '{Name}': Kafka refused a record for topic '{topic}': {fault.Error.Reason}.{hint}", SourceErrors.IsTransient(fault), fault);
    }

    /// <summary>Sets the failed state, before anything that may wait.</summary>
    private void MarkFailed(Exception ex)
    {
        FatalError = ex;
        _message = ex.Message;
        _state = SourceState.Failed;
    }

    private SourceOutcome Fail(Exception ex)
    {
        MarkFailed(ex);
        SourceLog.Fatal(Logger, ex, Name, ex.Message, _options.OnFatalError == FatalErrorPolicy.StopHost
            ? "stopping the host with exit code 1; set OnFatalError to StopSource to keep the other sources running"
            : "this source stays stopped; the host and the other sources go on");
        return SourceOutcome.Failed;
    }

    /// <summary>Waits (bounded) for Kafka to acknowledge what the failed attempt produced, then takes the last acknowledged
    /// position as the restart point; replaces the producer when it cannot drain (Kafka away) or it failed, so that no record
    /// of the attempt is acknowledged after the restart. Taking the position and replacing the producer happen under the
    /// store lock, so the keeper cannot take a later position of the old producer afterwards.</summary>
    /// <returns>Where the next attempt starts.</returns>
    private async Task<TPosition?> DrainOrReplaceProducerAsync(TPosition? start, CancellationToken cancellationToken)
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

        await _storeLock.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (drained)
            {
                // Everything produced is acknowledged: a position the filling group absorbed is safe too.
                producer.CloseAbsorbed(force: true);
            }

            if (producer.TryTakeAcknowledged(out var position))
            {
                _acknowledged = position;
            }

            if (!drained)
            {
                _producedBefore += producer.Produced;
                _producer = new ChangeProducer<SourceCheckpoint<TPosition>>(_kafka, fence: _fence);
                producer.Dispose();
            }
        }
        finally
        {
            _storeLock.Release();
        }

        // Stored by the keeper (bounded by its own wait); the restart does not wait for Kafka to take it.
        return _acknowledged?.Position ?? start;
    }

    /// <summary>On a stop or a fatal error: stops the keeper, waits for Kafka (bounded by
    /// <see cref="SourceOptions.ShutdownTimeout"/>) and stores the last acknowledged position (bounded by the Kafka request
    /// timeout): never longer, whatever Kafka does.</summary>
    private async Task FinishAsync(CancellationTokenSource keeperStop, Task? keeper)
    {
        await StopKeeperAsync(keeperStop, keeper).ConfigureAwait(false);
        if (_producer is not { } producer)
        {
            return;
        }

        using (var timeout = new CancellationTokenSource(_options.ShutdownTimeout))
        {
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
        }

        using var storing = new CancellationTokenSource(_kafka.Options.RequestTimeout);
        try
        {
            await StoreAcknowledgedAsync(storing.Token).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is OperationCanceledException or Confluent.Kafka.KafkaException or TimeoutException or InvalidOperationException)
        {
            // Not stored: the next start repeats from the previous stored position.
        }
    }

    /// <summary>Stops the keeper and waits for it (its store in flight is cancelled).</summary>
    private static async Task StopKeeperAsync(CancellationTokenSource keeperStop, Task? keeper)
    {
        await keeperStop.CancelAsync().ConfigureAwait(false);
        if (keeper is null)
        {
            return;
        }

        try
        {
            await keeper.ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
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

            if (_fenced)
            {
                // The lease was lost: another process may hold it and store its own positions.
                return;
            }

            var checkStarted = LeaseFence.Timestamp();
            if (_lease is { } lease && _acknowledged is { } toStore && !ReferenceEquals(toStore, _stored) && !await IsLeaseHeldAsync(lease, cancellationToken).ConfigureAwait(false))
            {
                // Asked right before the store (the watcher may not have looked yet): a position stored after the lease
                // passed to another process could move that process's next start past changes it has not delivered.
                await LoseLeaseAsync(lease, _termLost).ConfigureAwait(false);
                return;
            }

            if (_acknowledged is { } acknowledged && !ReferenceEquals(acknowledged, _stored))
            {
                if (_lease is not null)
                {
                    _fence?.Confirmed(checkStarted);
                    if (_fence is { IsOpen: false })
                    {
                        // The check is older than the fence's validity (the process was paused since): not stored now; the
                        // next store asks the lease again.
                        return;
                    }
                }

                await _positions.SaveAsync(Name, acknowledged.Format(_connector), cancellationToken).ConfigureAwait(false);
                _stored = acknowledged;
                Metrics?.PositionStored();
                SourceLog.PositionStored(Logger, Name, _connector.Describe(acknowledged.Position));
                await _connector.OnPositionStoredAsync(acknowledged.Position, cancellationToken).ConfigureAwait(false);
            }
        }
        finally
        {
            _storeLock.Release();
        }
    }

    /// <summary>Every <see cref="SourceOptions.PositionSaveInterval"/> (every 100 ms until a first position is stored, so a
    /// first start has one at once), and at once when the connector asks (<see cref="RequestStore"/>): stores what Kafka
    /// acknowledged, and watches for stalls.</summary>
    private async Task KeepAsync(CancellationToken cancellationToken)
    {
        var acknowledged = -1L;
        var acknowledgedAtMs = Environment.TickCount64;
        var stalled = false;
        Task? saving = null;
        var first = TimeSpan.FromMilliseconds(Math.Min(100, _options.PositionSaveInterval.TotalMilliseconds));
        var requested = false;
        try
        {
            while (true)
            {
                // The configured interval once a first position is stored; a connector's request (RequestStore) ends the wait
                // early, and one that came during a store is served right after it.
                var interval = _stored is null ? first : _options.PositionSaveInterval;
                if (requested && saving is { IsCompleted: false } inFlight)
                {
                    // Served when the store in flight ends (or at the next interval, for the watchdog, if it waits on Kafka).
                    await Task.WhenAny(inFlight, Task.Delay(interval, cancellationToken)).ConfigureAwait(false);
                    cancellationToken.ThrowIfCancellationRequested();
                }
                else
                {
                    requested |= await _storeRequested.WaitAsync(interval, cancellationToken).ConfigureAwait(false);
                }

                // A store waits for Kafka, which may be away: it runs on its own and the watchdog below goes on.
                if (saving is null || saving.IsCompleted)
                {
                    if (saving is { IsFaulted: true } failed && failed.Exception!.InnerException is { } error and not OperationCanceledException)
                    {
                        SourceLog.StoreFailed(Logger, error, Name, _acknowledged is null ? "none" : _connector.Describe(_acknowledged.Position));
                    }

                    saving = StoreAcknowledgedAsync(cancellationToken);
                    requested = false;
                }

                // A failed delivery ends the attempt, even while the connector waits on an idle log.
                var producer = _producer;
                if (producer is { IsFaulted: true } && _attemptStop is { } attemptStop)
                {
                    await attemptStop.CancelAsync().ConfigureAwait(false);
                }

                // The watchdog, on the monotonic clock (a wall-clock step neither raises nor hides a stall): Kafka silent
                // while records wait, or the log reader silent.
                var nowMs = Environment.TickCount64;
                var stallMs = (long)_options.EffectiveStallTimeout.TotalMilliseconds;
                if (producer is null || producer.InFlight == 0 || producer.Acknowledged != acknowledged)
                {
                    acknowledged = producer?.Acknowledged ?? -1;
                    acknowledgedAtMs = nowMs;
                }

                string? reason = null;
                if (nowMs - acknowledgedAtMs > stallMs)
                {
                    reason = $"Kafka has acknowledged nothing for {(nowMs - acknowledgedAtMs) / 1000.0:0} s while {producer!.InFlight} records wait (is the cluster reachable?)";
                }
                else if (_state is SourceState.Running or SourceState.Stalled && nowMs - Volatile.Read(ref _lastAliveMs) > stallMs)
                {
                    reason = $"the log reader has been silent for more than {_options.EffectiveStallTimeout.TotalSeconds:0} s (no change, no heartbeat)";
                }

                if (reason is not null && _state is SourceState.Running or SourceState.Stalled && _state != SourceState.Failed)
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
        return new SourceStatus(Name, _connector.Kind, _state, _message, stored is null ? null : _connector.Describe(stored.Position),
            _producedBefore + (producer?.Produced ?? 0), producer?.InFlight ?? 0, _retries,
            DateTimeOffset.UtcNow - TimeSpan.FromMilliseconds(Math.Max(0, Environment.TickCount64 - Volatile.Read(ref _lastAliveMs))))
        {
            Tables = RegisteredTables,
        };
    }
}
