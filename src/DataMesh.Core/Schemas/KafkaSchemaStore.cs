using System.Diagnostics;
using System.Globalization;
using Avro;
using Confluent.Kafka;
using Confluent.Kafka.Admin;
using DataMesh.Hosting;
using DataMesh.Kafka;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace DataMesh.Schemas;

/// <summary>
/// The embedded default <see cref="ISchemaStore"/>: schemas, versions and compatibility levels kept as records
/// in a single-partition Kafka topic (default <c>_datamesh_schemas</c>), which is both the storage and the
/// sequencer. Several processes may register at once, each with its own instance: they agree on every id and
/// version without any protocol of their own.
/// </summary>
/// <remarks>
/// <para>
/// How: every instance reads the topic from offset 0, in offset order, and applies each record with the same
/// deterministic rules (see the ids below). A registrant appends its registration record, learns the record's
/// offset from the delivery report, reads the topic up to that offset, and so learns what every reader decided
/// about the record: accepted with an id and version, a repeat of an existing version, or rejected because a
/// concurrent registration that came first in the log made it incompatible.
/// </para>
/// <para>
/// Ids: a schema's id is <c>base + offset</c> of the first accepted registration record of that schema (by its
/// canonical form: Avro's Parsing Canonical Form plus field and enum defaults and logical types), so ids are
/// positive int32 values, unique because offsets are, and independent of hashes. A later registration of the
/// same canonical schema, under any subject, gets the earlier id. Registering a schema the subject already has
/// returns its id without writing anything. The base comes from the topic's first record, a genesis record written
/// by the instance that found the topic empty: a random store UUID and a random base from 2^20 to 2^30, so that a
/// topic deleted and created again is a new store whose ids do not meet the old ones (an old id is then unknown, an
/// error, never another schema). A topic written before genesis records has base 1 (ids are offset + 1).
/// </para>
/// <para>
/// Integrity: the store reads the log whole from offset 0 and refuses it (every call then fails with an
/// <see cref="InvalidOperationException"/> that says what happened and what to do) when offsets are missing — the topic
/// does not start at 0, or has a gap: retention, compaction, or the embedded cluster's 5 MB per partition deleted
/// records — and when the topic went back or belongs to another store: it was deleted and created again while the store
/// ran. Records stamped by another store (an instance still on the old topic) are not applied.
/// </para>
/// <para>
/// Reading to the end of the topic uses the consumer's <c>QueryWatermarkOffsets</c> (never the admin client's
/// ListOffsets, which crashes on the embedded cluster). Every wait is bounded by
/// <see cref="KafkaSchemaStoreOptions.Timeout"/> and fails with a <see cref="TimeoutException"/> that says what it
/// waited for. All instances sharing a topic must run the same rules (the same DataMesh version of this type).
/// </para>
/// </remarks>
public sealed class KafkaSchemaStore : ISchemaStore, IAsyncDisposable, IDisposable
{
    private const string OriginHeader = "datamesh-origin";
    private const string GenesisKey = "(genesis)";

    private readonly string _topic;
    private readonly TimeSpan _timeout;
    private readonly TimeSpan _topicCheckInterval;
    private readonly ILogger _logger;
    private readonly TopicPartition _partition;
    private readonly IProducer<string?, byte[]> _producer;
    private readonly IConsumer<Ignore, byte[]> _consumer;
    private readonly ConsumerConfig _consumerConfig;
    private readonly AdminClientConfig _adminConfig;
    private readonly string _bootstrapServers;
    private readonly IEnumerable<KeyValuePair<string, string>> _clientSettings;
    private readonly byte[] _origin = Guid.NewGuid().ToByteArray();
    private readonly Lock _gate = new();
    private readonly SchemaLog _log = new();
    private readonly Dictionary<long, SchemaLogOutcome> _ownOutcomes = [];
    private readonly PriorityQueue<TaskCompletionSource, long> _waiters = new();
    private readonly CancellationTokenSource _stop = new();
    private readonly Lock _watermarkGate = new();
    private readonly Task _reader;
    private readonly Task _checker;
    private TaskCompletionSource<long>? _nextWatermark;
    private Task _watermarkQueries = Task.CompletedTask;
    private long _position;
    private volatile bool _loaded;
    private Exception? _readerFault;
    private int _disposed;

    private KafkaSchemaStore(KafkaSchemaStoreOptions options, ILogger logger)
    {
        _topic = options.Topic;
        _timeout = options.Timeout;
        _topicCheckInterval = options.TopicCheckInterval;
        _logger = logger;
        _partition = new TopicPartition(_topic, new Partition(0));
        var bootstrap = options.ResolveBootstrapServers();
        _bootstrapServers = bootstrap;
        _clientSettings = options.ClientSettings;

        var producerConfig = new ProducerConfig(ClientSettings(options))
        {
            BootstrapServers = bootstrap,
            EnableIdempotence = true,
            Acks = Acks.All,
            LingerMs = 2,
            // Its metadata requests (the partition check) never make a broker create a missing topic with its defaults
            // (a time-limited retention would lose schemas).
            AllowAutoCreateTopics = false,
            MessageTimeoutMs = (int)_timeout.TotalMilliseconds,
        };
        _producer = new ProducerBuilder<string?, byte[]>(producerConfig)
            .SetLogHandler((_, m) => SchemaStoreLog.Client(_logger, m.Facility, m.Message))
            .SetErrorHandler((_, e) => SchemaStoreLog.ConsumeError(_logger, _topic, e.Reason))
            .Build();

        var consumerConfig = new ConsumerConfig(ClientSettings(options))
        {
            BootstrapServers = bootstrap,
            // Never joins or commits: the partition is assigned, and every instance reads from offset 0.
            GroupId = "datamesh-schema-store-" + Guid.NewGuid().ToString("N"),
            EnableAutoCommit = false,
            EnableAutoOffsetStore = false,
            EnablePartitionEof = true,
            // An offset that is no longer in the log (the topic was deleted and created again) is an error, never a jump.
            AutoOffsetReset = AutoOffsetReset.Error,
            // A registration waits for its own record to be read back, a catch-up for a watermark query behind the parked fetch.
            FetchWaitMaxMs = ReaderFetchWait.SchemaStore(options.UsesEmbeddedCluster),
        };
        _consumerConfig = consumerConfig;
        _adminConfig = new AdminClientConfig(ClientSettings(options))
        {
            BootstrapServers = bootstrap,
        };
        // The partition check never makes a broker create a missing schema topic with its defaults either.
        _adminConfig.Set("allow.auto.create.topics", "false");
        try
        {
            _consumer = new ConsumerBuilder<Ignore, byte[]>(consumerConfig)
                .SetLogHandler((_, m) => SchemaStoreLog.Client(_logger, m.Facility, m.Message))
                .SetErrorHandler((_, e) => SchemaStoreLog.ConsumeError(_logger, _topic, e.Reason))
                .Build();
            // Offset 0 itself, not 'beginning': no offset lookup before the first fetch (about 0.5 s less at every start on the
            // embedded cluster), and a topic that lost its first records is an error (the reader names the missing offsets).
            _consumer.Assign(new TopicPartitionOffset(_partition, 0));
        }
        catch
        {
            _producer.Dispose();
            throw;
        }

        SchemaStoreLog.Started(_logger, _topic);
        _reader = Task.Factory.StartNew(ReadLoop, CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);
        _checker = Task.Factory.StartNew(CheckLoop, CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);
    }

    /// <summary>The schema topic.</summary>
    public string Topic => _topic;

    /// <summary>
    /// Creates the schema topic if needed (see <see cref="KafkaSchemaStoreOptions.EmbeddedCluster"/>), checks that
    /// it has one partition, starts reading it and returns once the store has read it to its current end.
    /// </summary>
    /// <param name="options">The settings.</param>
    /// <param name="logger">A logger, or <see langword="null"/> for none.</param>
    /// <param name="cancellationToken">Cancels the start.</param>
    /// <returns>The started store; dispose it to stop it.</returns>
    /// <exception cref="InvalidOperationException">The topic is missing or has more than one partition.</exception>
    /// <exception cref="TimeoutException">The cluster did not answer within the timeout.</exception>
    public static async Task<KafkaSchemaStore> CreateAsync(
        KafkaSchemaStoreOptions options,
        ILogger<KafkaSchemaStore>? logger = null,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        ILogger log = logger ?? (ILogger)NullLogger.Instance;
        await EnsureTopicAsync(options, log, cancellationToken).ConfigureAwait(false);

        var store = new KafkaSchemaStore(options, log);
        try
        {
            await store.StartAsync(cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            await store.DisposeAsync().ConfigureAwait(false);
            throw;
        }

        return store;
    }

    /// <inheritdoc />
    public async ValueTask<int> RegisterAsync(string subject, Schema schema, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(subject);
        ArgumentNullException.ThrowIfNull(schema);
        ThrowIfDisposed();

        var canonical = SchemaCanonicalForm.Of(schema);
        if (TryFindOrPrecheck(subject, schema, canonical, out var id, out var problems))
        {
            return id;
        }

        if (problems.Count > 0)
        {
            // The local state may be behind: check again against the topic's end before refusing.
            await CatchUpAsync(cancellationToken).ConfigureAwait(false);
            if (TryFindOrPrecheck(subject, schema, canonical, out id, out problems))
            {
                return id;
            }

            if (problems.Count > 0)
            {
                throw new SchemaIncompatibleException(subject, LevelOf(subject), problems);
            }
        }

        var offset = await AppendAsync(subject, SchemaLog.EncodeRegistration(subject, schema), stamped: true, cancellationToken).ConfigureAwait(false);
        await WaitForPositionAsync(offset + 1, cancellationToken).ConfigureAwait(false);

        SchemaLogOutcome? outcome;
        lock (_gate)
        {
            _ownOutcomes.Remove(offset, out outcome);
        }

        return outcome switch
        {
            SchemaLogOutcome.Registered registered => registered.Schema.Id,
            SchemaLogOutcome.Incompatible incompatible =>
                throw new SchemaIncompatibleException(incompatible.Subject, incompatible.Level, incompatible.Problems),
            SchemaLogOutcome.Invalid invalid => throw new InvalidOperationException(
                $"The schema store refused the registration for subject '{subject}': {invalid.Reason}."),
            _ => throw new InvalidOperationException(
                $"The schema store read topic '{_topic}' past offset {offset.ToString(CultureInfo.InvariantCulture)} " +
                "without seeing its own registration record there."),
        };
    }

    /// <inheritdoc />
    /// <exception cref="KeyNotFoundException">No schema has the id; the message says when the id cannot come from this store.</exception>
    /// <exception cref="InvalidOperationException">The store stopped: its topic lost records or was created again.</exception>
    public async ValueTask<Schema> GetByIdAsync(int id, CancellationToken cancellationToken = default)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(id, 1);
        ThrowIfDisposed();
        lock (_gate)
        {
            ThrowIfReaderFailed();
            if (_log.TryGetById(id, out var known))
            {
                return known;
            }
        }

        await CatchUpAsync(cancellationToken).ConfigureAwait(false);
        lock (_gate)
        {
            if (_log.TryGetById(id, out var schema))
            {
                return schema;
            }

            var text = id.ToString(CultureInfo.InvariantCulture);
            throw new KeyNotFoundException(_log.CouldHaveIssued(id)
                ? $"No schema has id {text} in schema topic '{_topic}'."
                : $"No schema has id {text} in schema topic '{_topic}', and this store never gave it: its ids start at " +
                  $"{_log.IdBase.ToString(CultureInfo.InvariantCulture)} (store {StoreName}). The id comes from another schema store — " +
                  "for example from before the topic was deleted and created again, whose schemas are gone.");
        }
    }

    /// <inheritdoc />
    public async ValueTask<RegisteredSchema?> GetLatestAsync(string subject, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(subject);
        ThrowIfDisposed();
        await CatchUpAsync(cancellationToken).ConfigureAwait(false);
        lock (_gate)
        {
            return _log.Latest(subject);
        }
    }

    /// <inheritdoc />
    public async ValueTask<IReadOnlyList<RegisteredSchema>> GetVersionsAsync(string subject, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(subject);
        ThrowIfDisposed();
        await CatchUpAsync(cancellationToken).ConfigureAwait(false);
        lock (_gate)
        {
            return _log.Versions(subject);
        }
    }

    /// <inheritdoc />
    public async ValueTask<IReadOnlyList<RegisteredSchema>> GetDeletedVersionsAsync(string subject, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(subject);
        ThrowIfDisposed();
        await CatchUpAsync(cancellationToken).ConfigureAwait(false);
        lock (_gate)
        {
            return _log.DeletedVersions(subject);
        }
    }

    /// <inheritdoc />
    public async ValueTask<IReadOnlyList<string>> GetSubjectsAsync(CancellationToken cancellationToken = default)
    {
        ThrowIfDisposed();
        await CatchUpAsync(cancellationToken).ConfigureAwait(false);
        lock (_gate)
        {
            return _log.Subjects();
        }
    }

    /// <inheritdoc />
    public async ValueTask<RegisteredSchema?> FindAsync(string subject, Schema schema, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(subject);
        ArgumentNullException.ThrowIfNull(schema);
        ThrowIfDisposed();
        var canonical = SchemaCanonicalForm.Of(schema);
        await CatchUpAsync(cancellationToken).ConfigureAwait(false);
        lock (_gate)
        {
            return _log.Find(subject, canonical);
        }
    }

    /// <inheritdoc />
    /// <remarks>Appends a delete record to the schema topic; every instance applies it at its offset.</remarks>
    public async ValueTask<bool> DeleteVersionAsync(string subject, int version, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(subject);
        ArgumentOutOfRangeException.ThrowIfLessThan(version, 1);
        ThrowIfDisposed();
        await CatchUpAsync(cancellationToken).ConfigureAwait(false);
        lock (_gate)
        {
            ThrowIfReaderFailed();
            if (!_log.HasVersion(subject, version))
            {
                return false;
            }
        }

        var offset = await AppendAsync(subject, SchemaLog.EncodeDelete(subject, version), stamped: true, cancellationToken).ConfigureAwait(false);
        await WaitForPositionAsync(offset + 1, cancellationToken).ConfigureAwait(false);
        SchemaLogOutcome? outcome;
        lock (_gate)
        {
            _ownOutcomes.Remove(offset, out outcome);
        }

        // Invalid: a concurrent delete of the same version came first in the log.
        return outcome is SchemaLogOutcome.Deleted;
    }

    /// <inheritdoc />
    public async ValueTask<CompatibilityLevel> GetCompatibilityAsync(string? subject, CancellationToken cancellationToken = default)
    {
        ThrowIfDisposed();
        await CatchUpAsync(cancellationToken).ConfigureAwait(false);
        return LevelOf(subject);
    }

    /// <inheritdoc />
    public async ValueTask SetCompatibilityAsync(string? subject, CompatibilityLevel level, CancellationToken cancellationToken = default)
    {
        if (subject is not null)
        {
            ArgumentException.ThrowIfNullOrWhiteSpace(subject);
        }

        if (!Enum.IsDefined(level))
        {
            throw new ArgumentOutOfRangeException(nameof(level), level, "Unknown compatibility level.");
        }

        ThrowIfDisposed();
        var offset = await AppendAsync(subject, SchemaLog.EncodeConfig(subject, level), stamped: true, cancellationToken).ConfigureAwait(false);
        await WaitForPositionAsync(offset + 1, cancellationToken).ConfigureAwait(false);
        lock (_gate)
        {
            _ownOutcomes.Remove(offset);
        }
    }

    /// <summary>Stops reading and closes the Kafka clients.</summary>
    /// <returns>A task that completes when the clients are closed.</returns>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        await _stop.CancelAsync().ConfigureAwait(false);
        Task watermarkQueries;
        lock (_watermarkGate)
        {
            watermarkQueries = _watermarkQueries;
        }

        // The reader polls with a short timeout and a watermark query is bounded by the store's timeout.
        await Task.WhenAll(_reader, _checker, watermarkQueries).WaitAsync(_timeout + TimeSpan.FromSeconds(5)).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        FailWaiters(new ObjectDisposedException(nameof(KafkaSchemaStore)));
        _consumer.Dispose();
        _producer.Dispose();
        _stop.Dispose();
    }

    /// <summary>Stops reading and closes the Kafka clients (blocks up to the store's timeout).</summary>
    /// <remarks>Blocking here is deliberate, for <c>using</c> and containers that dispose synchronously: the work waited for
    /// is bounded (the reader polls with a short timeout, watermark queries with the store's) and every await inside
    /// <see cref="DisposeAsync"/> uses <c>ConfigureAwait(false)</c>, so no synchronization context can deadlock it.</remarks>
    public void Dispose() => DisposeAsync().AsTask().GetAwaiter().GetResult();

    private static async Task EnsureTopicAsync(KafkaSchemaStoreOptions options, ILogger logger, CancellationToken cancellationToken)
    {
        if (options.UsesEmbeddedCluster && options.CreateTopic)
        {
            if (options.EmbeddedCluster!.EnsureTopic(options.Topic, partitions: 1, replicationFactor: 1))
            {
                SchemaStoreLog.TopicCreated(logger, options.Topic);
            }
        }

        if (!options.UsesEmbeddedCluster && options.CreateTopic)
        {
            var adminConfig = new AdminClientConfig(new Dictionary<string, string>(options.ClientSettings))
            {
                BootstrapServers = options.ResolveBootstrapServers(),
            };
            var spec = new TopicSpecification
            {
                Name = options.Topic,
                NumPartitions = 1,
                ReplicationFactor = options.ReplicationFactor,
                Configs = new Dictionary<string, string>
                {
                    ["retention.ms"] = "-1",
                    ["retention.bytes"] = "-1",
                    ["cleanup.policy"] = "delete",
                },
            };

            // Another instance may have created it first: that is no error.
            if (await KafkaAdmin.CreateTopicAsync(adminConfig, options.ClientSettings, spec, options.Timeout, logger, cancellationToken).ConfigureAwait(false))
            {
                SchemaStoreLog.TopicCreated(logger, options.Topic);
            }
        }
    }

    /// <summary>The user's client settings, over the embedded cluster's (<see cref="EmbeddedKafkaCluster.ApplyClientDefaults"/>)
    /// when the store runs on it.</summary>
    private static Dictionary<string, string> ClientSettings(KafkaSchemaStoreOptions options)
    {
        var config = new ClientConfig();
        if (options.UsesEmbeddedCluster)
        {
            EmbeddedKafkaCluster.ApplyClientDefaults(config);
        }

        var settings = config.ToDictionary(kv => kv.Key, kv => kv.Value);
        foreach (var (key, value) in options.ClientSettings)
        {
            settings[key] = value;
        }

        return settings;
    }

    /// <summary>Checks that the topic exists with one partition, before anything is asked of or written to it (a start
    /// cancelled meanwhile ends at once).</summary>
    private async Task CheckPartitionsAsync(CancellationToken cancellationToken)
    {
        var admin = new AdminClientBuilder(_adminConfig)
            .SetLogHandler((_, m) => SchemaStoreLog.Client(_logger, m.Facility, m.Message))
            .Build();
        var lookup = Task.Run(() => admin.GetMetadata(_topic, _timeout), CancellationToken.None);
        // Disposed once its lookup ended (never while it runs on its handle), off the start's path: its disposal waits for
        // its polling task's current poll, up to 100 ms.
        _ = lookup.ContinueWith(_ => admin.Dispose(), CancellationToken.None, TaskContinuationOptions.None, TaskScheduler.Default);
        Metadata metadata;
        try
        {
            metadata = await lookup.WaitAsync(_timeout + TimeSpan.FromSeconds(1), cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (KafkaAdmin.IsNoAnswer(e) && !cancellationToken.IsCancellationRequested)
        {
            throw KafkaAdmin.NoAnswer(_bootstrapServers, $"reading the metadata of schema topic '{_topic}'", _timeout, null, _clientSettings, e);
        }

        var topic = metadata.Topics.SingleOrDefault(t => t.Topic == _topic);
        if (topic is null || topic.Error.Code != ErrorCode.NoError)
        {
            throw new InvalidOperationException(
                $"Schema topic '{_topic}' is not available ({topic?.Error.Reason ?? "not in the metadata"}); " +
                "create it with one partition or set KafkaSchemaStoreOptions.CreateTopic.");
        }

        if (topic.Partitions.Count != 1)
        {
            throw new InvalidOperationException(
                $"Schema topic '{_topic}' has {topic.Partitions.Count.ToString(CultureInfo.InvariantCulture)} partitions; " +
                "the schema store needs exactly one, since the topic's offsets order every registration.");
        }
    }

    private string StoreName => _log.StoreId?.ToString("D") ?? "written before store identities";

    /// <summary>Starts a new store in an empty topic (its genesis record), then reads the topic to its end.</summary>
    private async Task StartAsync(CancellationToken cancellationToken)
    {
        await CheckPartitionsAsync(cancellationToken).ConfigureAwait(false);
        if (await QueryEndAsync(cancellationToken).ConfigureAwait(false) == 0)
        {
            // Instances that start at once each write one; the one at offset 0 wins, the others are ignored by every reader.
            await AppendAsync(GenesisKey, SchemaLog.EncodeGenesis(Guid.NewGuid(), SchemaLog.NewIdBase()), stamped: false, cancellationToken).ConfigureAwait(false);
        }

        await CatchUpAsync(cancellationToken).ConfigureAwait(false);
        _loaded = true;
        lock (_gate)
        {
            if (_log.StoreId is { } store)
            {
                SchemaStoreLog.Loaded(_logger, _topic, store, _log.IdBase, _position);
            }
            else
            {
                SchemaStoreLog.LoadedLegacy(_logger, _topic, _position);
            }
        }
    }

    private bool TryFindOrPrecheck(string subject, Schema schema, string canonical, out int id, out IReadOnlyList<SchemaCompatibilityProblem> problems)
    {
        lock (_gate)
        {
            ThrowIfReaderFailed();
            if (_log.Find(subject, canonical) is { } existing)
            {
                id = existing.Id;
                problems = [];
                return true;
            }

            id = 0;
            problems = _log.Check(subject, schema);
            return false;
        }
    }

    private CompatibilityLevel LevelOf(string? subject)
    {
        lock (_gate)
        {
            return _log.LevelOf(subject);
        }
    }

    /// <summary>Appends a record (stamped with the store's UUID unless it is a genesis record) and returns its offset.</summary>
    private async Task<long> AppendAsync(string? key, byte[] value, bool stamped, CancellationToken cancellationToken)
    {
        var headers = new Headers { { OriginHeader, _origin } };
        if (stamped)
        {
            // A record appended to a topic created again would join another store's log, under an id that store never gave.
            using var checking = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, _stop.Token);
            await Task.Run(() => CheckTopic(checking.Token), cancellationToken).ConfigureAwait(false);
            lock (_gate)
            {
                if (_log.StoreId is { } store)
                {
                    headers.Add(SchemaLog.StoreHeader, store.ToByteArray());
                }
            }
        }

        var message = new Message<string?, byte[]> { Key = key, Value = value, Headers = headers };
        var delivery = await _producer.ProduceAsync(_partition, message, cancellationToken).ConfigureAwait(false);
        if (delivery.Partition.Value != 0 || delivery.Offset.Value < 0)
        {
            throw new InvalidOperationException(
                $"Schema topic '{_topic}' acknowledged a record without an offset (partition {delivery.Partition.Value.ToString(CultureInfo.InvariantCulture)}).");
        }

        return delivery.Offset.Value;
    }

    /// <summary>Reads the topic up to its end as of now (the high watermark queried after this call started).</summary>
    private async Task CatchUpAsync(CancellationToken cancellationToken)
    {
        // The position first, then the end: the reader may read records written meanwhile (a concurrent register), so a
        // position read after the end was queried can be past it without anything having been lost; a position read
        // before can only be past the end if the topic lost records.
        long position;
        lock (_gate)
        {
            position = _position;
        }

        var high = await QueryEndAsync(cancellationToken).ConfigureAwait(false);
        if (high < position)
        {
            Fault(new InvalidOperationException(
                $"The schema store stopped reading topic '{_topic}': it now ends at offset {high.ToString(CultureInfo.InvariantCulture)}, before the " +
                $"{position.ToString(CultureInfo.InvariantCulture)} records this store read from it: {SchemaLog.Recreated}."));
        }

        await WaitForPositionAsync(high, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>The topic's high watermark, queried after this call started.</summary>
    private async Task<long> QueryEndAsync(CancellationToken cancellationToken)
    {
        try
        {
            return await NextHighWatermarkAsync().WaitAsync(_timeout, cancellationToken).ConfigureAwait(false);
        }
        catch (TimeoutException e)
        {
            throw new TimeoutException($"The schema store could not query the end of topic '{_topic}' within {_timeout}.", e);
        }
    }

    /// <summary>
    /// Joins the next watermark query, which starts after this call: concurrent callers share one query at a time,
    /// and no caller gets a watermark read before it asked.
    /// </summary>
    private Task<long> NextHighWatermarkAsync()
    {
        lock (_watermarkGate)
        {
            ObjectDisposedException.ThrowIf(_stop.IsCancellationRequested, this);
            if (_nextWatermark is null)
            {
                _nextWatermark = new TaskCompletionSource<long>(TaskCreationOptions.RunContinuationsAsynchronously);
                if (_watermarkQueries.IsCompleted)
                {
                    _watermarkQueries = Task.Run(RunWatermarkQueries);
                }
            }

            return _nextWatermark.Task;
        }
    }

    private void RunWatermarkQueries()
    {
        while (true)
        {
            TaskCompletionSource<long> next;
            lock (_watermarkGate)
            {
                if (_nextWatermark is null || _stop.IsCancellationRequested)
                {
                    _nextWatermark?.TrySetException(new ObjectDisposedException(nameof(KafkaSchemaStore)));
                    _nextWatermark = null;
                    return;
                }

                next = _nextWatermark;
                _nextWatermark = null;
            }

            try
            {
                next.TrySetResult(_consumer.QueryWatermarkOffsets(_partition, _timeout).High.Value);
            }
            catch (KafkaException e)
            {
                next.TrySetException(new InvalidOperationException(
                    $"The schema store could not query the end of topic '{_topic}': {e.Error.Reason}.", e));
            }
        }
    }

    private async Task WaitForPositionAsync(long target, CancellationToken cancellationToken)
    {
        TaskCompletionSource waiter;
        long position;
        lock (_gate)
        {
            ThrowIfReaderFailed();
            if (_position >= target)
            {
                return;
            }

            waiter = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            _waiters.Enqueue(waiter, target);
            position = _position;
        }

        try
        {
            await waiter.Task.WaitAsync(_timeout, cancellationToken).ConfigureAwait(false);
        }
        catch (TimeoutException e)
        {
            long now;
            lock (_gate)
            {
                now = _position;
            }

            throw new TimeoutException(
                $"The schema store did not read topic '{_topic}' up to offset {target.ToString(CultureInfo.InvariantCulture)} " +
                $"within {_timeout} (it had read up to {position.ToString(CultureInfo.InvariantCulture)} when it started waiting, " +
                $"{now.ToString(CultureInfo.InvariantCulture)} now).",
                e);
        }
    }

    private void ReadLoop()
    {
        var released = new List<TaskCompletionSource>();
        try
        {
            while (!_stop.IsCancellationRequested && Volatile.Read(ref _readerFault) is null)
            {
                ConsumeResult<Ignore, byte[]>? result;
                try
                {
                    result = _consumer.Consume(TimeSpan.FromMilliseconds(100));
                }
                catch (ConsumeException e) when (e.Error.Code is ErrorCode.Local_AutoOffsetReset or ErrorCode.OffsetOutOfRange)
                {
                    long position;
                    lock (_gate)
                    {
                        position = _position;
                    }

                    if (position == 0 && _consumer.QueryWatermarkOffsets(_partition, _timeout).Low.Value is > 0 and var low)
                    {
                        throw SchemaLog.Missing(0, low);
                    }

                    throw new InvalidOperationException(
                        $"offset {position.ToString(CultureInfo.InvariantCulture)}, the next to read, is no longer in the topic ({e.Error.Reason}): {SchemaLog.Recreated}", e);
                }
                catch (ConsumeException e) when (!e.Error.IsFatal)
                {
                    SchemaStoreLog.ConsumeError(_logger, _topic, e.Error.Reason);
                    continue;
                }

                if (result is null || Volatile.Read(ref _readerFault) is not null)
                {
                    continue;
                }

                if (!result.IsPartitionEOF && IsForeign(result, out var foreignStore))
                {
                    // Before the lock: this may read the topic's first record. It throws when this store is the one out of date.
                    CheckStillCurrent(result.Offset.Value, foreignStore);
                }

                lock (_gate)
                {
                    if (result.IsPartitionEOF)
                    {
                        _log.End(result.Offset.Value);
                    }
                    else
                    {
                        Apply(result);
                    }

                    _position = _log.Position;

                    while (_waiters.TryPeek(out var waiter, out var target) && target <= _position)
                    {
                        _waiters.Dequeue();
                        released.Add(waiter);
                    }
                }

                foreach (var waiter in released)
                {
                    waiter.TrySetResult();
                }

                released.Clear();
            }
        }
        catch (Exception e) when (e is KafkaException or InvalidOperationException or TimeoutException)
        {
            // A timeout here: the probe of the topic's first record, after a record of another store, got no answer.
            Fault(new InvalidOperationException($"The schema store stopped reading topic '{_topic}': {e.Message}", e));
        }
        catch (OperationCanceledException) when (_stop.IsCancellationRequested)
        {
            // Disposed during a probe.
        }
    }

    /// <summary>
    /// Every <see cref="KafkaSchemaStoreOptions.TopicCheckInterval"/>, on a thread of its own (the reader reads on meanwhile):
    /// checks that the topic is still the one this store loaded. A check that gets no answer is logged and tried again at
    /// the next interval; one that finds another topic stops the store.
    /// </summary>
    private void CheckLoop()
    {
        while (!_stop.Token.WaitHandle.WaitOne(_topicCheckInterval))
        {
            if (!_loaded)
            {
                // Still starting (its genesis record may not be read yet): nothing loaded to compare with.
                continue;
            }

            try
            {
                CheckTopic(_stop.Token);
            }
            catch (Exception e) when (e is TimeoutException or KafkaException)
            {
                SchemaStoreLog.ConsumeError(_logger, _topic, e.Message);
            }
            catch (InvalidOperationException)
            {
                // The store stopped (this check or the reader found out); every call now fails with its fault.
                return;
            }
            catch (OperationCanceledException) when (_stop.IsCancellationRequested)
            {
                return;
            }
        }
    }

    /// <summary>Stops the store for good: every waiting and later call fails with <paramref name="fault"/>.</summary>
    private void Fault(InvalidOperationException fault)
    {
        lock (_gate)
        {
            if (_readerFault is not null)
            {
                return;
            }

            _readerFault = fault;
        }

        SchemaStoreLog.ReaderFailed(_logger, _topic, fault);
        FailWaiters(fault);
    }

    /// <summary>Whether the record is stamped by another store than the one this store loaded (or not stamped, in a stamped log).</summary>
    private bool IsForeign(ConsumeResult<Ignore, byte[]> result, out Guid? store)
    {
        store = StoreOf(result);
        lock (_gate)
        {
            // Offset 0 and genesis records carry no stamp; they are judged by the log itself.
            return result.Offset.Value > 0 && _log.StoreId is not null && store != _log.StoreId && SchemaLog.ReadGenesisStore(result.Message.Value ?? []) is null;
        }
    }

    private static Guid? StoreOf(ConsumeResult<Ignore, byte[]> result) =>
        result.Message.Headers is { } headers && headers.TryGetLastBytes(SchemaLog.StoreHeader, out var bytes) && bytes.Length == 16 ? new Guid(bytes) : null;

    /// <summary>
    /// A record of another store: either an instance still on an old copy of the topic wrote it (every reader skips it),
    /// or this store is the one on an old copy. Offset 0 of the topic as it is now decides.
    /// </summary>
    private void CheckStillCurrent(long offset, Guid? foreign)
    {
        var loaded = LoadedStore;
        var (current, _) = ProbeTopic(_stop.Token);
        if (current != loaded)
        {
            throw new InvalidOperationException(
                $"the record at offset {offset.ToString(CultureInfo.InvariantCulture)} belongs to store {foreign?.ToString("D") ?? "(unstamped)"}, and the topic now starts " +
                $"{Describe(current)}, not {Describe(loaded)} that this instance loaded: {SchemaLog.Recreated}");
        }
    }

    /// <summary>
    /// Checks that the topic is still the one this store loaded: not shorter than what it read, and starting with the same
    /// genesis record (or, for a topic written before genesis records, with none). A topic created again with as many
    /// records as the store read gives its reader nothing to read and no offset out of range; only this check notices it.
    /// On a mismatch the store stops, and this throws the store's fault.
    /// </summary>
    /// <exception cref="TimeoutException">The topic's first record could not be read in time (for example the topic is gone).</exception>
    private void CheckTopic(CancellationToken cancellationToken)
    {
        ThrowIfFaulted();
        long position;
        lock (_gate)
        {
            position = _position;
        }

        var loaded = LoadedStore;
        var (current, high) = ProbeTopic(cancellationToken);
        string? problem = null;
        if (high < position)
        {
            problem = $"it now ends at offset {high.ToString(CultureInfo.InvariantCulture)}, before the {position.ToString(CultureInfo.InvariantCulture)} records this store read from it";
        }
        else if (current != loaded)
        {
            problem = $"it now starts {Describe(current)}, not {Describe(loaded)} that this instance loaded";
        }

        if (problem is not null)
        {
            Fault(new InvalidOperationException($"The schema store stopped reading topic '{_topic}': {problem}: {SchemaLog.Recreated}."));
        }

        ThrowIfFaulted();
    }

    private static string Describe(Guid? store) => store is { } id ? $"store {id:D}" : "without a genesis record (a topic written before store identities)";

    private void ThrowIfFaulted()
    {
        lock (_gate)
        {
            ThrowIfReaderFailed();
        }
    }

    private Guid? LoadedStore
    {
        get
        {
            lock (_gate)
            {
                return _log.StoreId;
            }
        }
    }

    /// <summary>
    /// Reads the topic's first record as the topic is now, with a consumer of its own (the reader's stays where it is):
    /// the store its genesis record names (null: not a genesis record, or offset 0 is gone) and the topic's end as that
    /// fetch saw it (<see cref="long.MaxValue"/> when unknown). About 2 ms on the embedded cluster. The probe fetches from
    /// the partition's leader (no <c>client.rack</c>: a follower may lag the reader).
    /// </summary>
    /// <exception cref="TimeoutException">Neither offset 0 nor the end of an empty topic arrived within the timeout.</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled.</exception>
    private (Guid? Current, long High) ProbeTopic(CancellationToken cancellationToken)
    {
        var settings = new Dictionary<string, string>(_consumerConfig);
        settings.Remove("client.rack");
        var config = new ConsumerConfig(settings) { GroupId = "datamesh-schema-store-" + Guid.NewGuid().ToString("N"), EnablePartitionEof = true };
        using var probe = new ConsumerBuilder<Ignore, byte[]>(config).SetLogHandler((_, m) => SchemaStoreLog.Client(_logger, m.Facility, m.Message)).Build();
        probe.Assign(new TopicPartitionOffset(_partition, 0));
        var started = Stopwatch.GetTimestamp();
        while (true)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var left = _timeout - Stopwatch.GetElapsedTime(started);
            if (left <= TimeSpan.Zero)
            {
                throw new TimeoutException($"The schema store could not read the first record of topic '{_topic}' within {_timeout}.");
            }

            ConsumeResult<Ignore, byte[]>? first;
            try
            {
                // In short slices, so that a cancellation (a stop, a caller's token) ends the wait.
                first = probe.Consume(left < TimeSpan.FromMilliseconds(100) ? left : TimeSpan.FromMilliseconds(100));
            }
            catch (ConsumeException e) when (e.Error.Code is ErrorCode.Local_AutoOffsetReset or ErrorCode.OffsetOutOfRange)
            {
                // Offset 0 is gone (the topic lost its first records): not the topic this store loaded.
                return (null, long.MaxValue);
            }
            catch (ConsumeException e) when (!e.Error.IsFatal)
            {
                SchemaStoreLog.ConsumeError(_logger, _topic, e.Error.Reason);
                continue;
            }

            if (first is null)
            {
                continue;
            }

            // The fetch that returned offset 0 (or the end of an empty topic) brought the partition's end with it.
            var high = probe.GetWatermarkOffsets(_partition).High;
            var end = high == Offset.Unset ? long.MaxValue : high.Value;
            if (first.IsPartitionEOF)
            {
                return (null, Math.Min(end, first.Offset.Value));
            }

            return (first.Offset.Value == 0 ? SchemaLog.ReadGenesisStore(first.Message.Value ?? []) : null, end);
        }
    }

    private void Apply(ConsumeResult<Ignore, byte[]> result)
    {
        var offset = result.Offset.Value;
        var outcome = _log.Apply(offset, result.Message.Value ?? [], StoreOf(result));
        switch (outcome)
        {
            case SchemaLogOutcome.Foreign foreign:
                SchemaStoreLog.Skipped(_logger, offset, $"written by another schema store ({foreign.Store?.ToString("D") ?? "unstamped"}), an instance still on an earlier copy of the topic");
                break;
            case SchemaLogOutcome.Registered r:
                SchemaStoreLog.Registered(_logger, offset, r.Schema.Subject, r.Schema.Version, r.Schema.Id);
                break;
            case SchemaLogOutcome.Incompatible i:
                SchemaStoreLog.Rejected(_logger, offset, i.Subject);
                break;
            case SchemaLogOutcome.Deleted d:
                SchemaStoreLog.Deleted(_logger, offset, d.Subject, d.Version);
                break;
            case SchemaLogOutcome.Invalid invalid:
                SchemaStoreLog.Skipped(_logger, offset, invalid.Reason);
                break;
            default:
                break;
        }

        if (result.Message.Headers is { } headers &&
            headers.TryGetLastBytes(OriginHeader, out var origin) &&
            origin.AsSpan().SequenceEqual(_origin))
        {
            _ownOutcomes[offset] = outcome;
        }
    }

    private void FailWaiters(Exception exception)
    {
        List<TaskCompletionSource> failed;
        lock (_gate)
        {
            failed = [.. _waiters.UnorderedItems.Select(w => w.Element)];
            _waiters.Clear();
        }

        foreach (var waiter in failed)
        {
            waiter.TrySetException(exception);
        }
    }

    private void ThrowIfReaderFailed()
    {
        if (_readerFault is not null)
        {
            throw new InvalidOperationException(_readerFault.Message, _readerFault);
        }
    }

    private void ThrowIfDisposed() => ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
}
