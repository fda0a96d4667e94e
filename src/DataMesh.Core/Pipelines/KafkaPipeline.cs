using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Text;
using Confluent.Kafka;
using DataMesh.Avro;
using DataMesh.Hosting;
using DataMesh.Pipelines.Sinks;
using DataMesh.Pipelines.Transforms;
using DataMesh.Schemas;
using DataMesh.Sources.Leases;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace DataMesh.Pipelines;

/// <summary>
/// A pipeline from Kafka topics through transforms to a sink (a Kafka topic by default, or a database table, a file),
/// at least once: a consumer group reads the source topics; each record's schema is looked up by its id and the
/// transform chain planned once per schema (a new schema version is planned when it first arrives, without a restart);
/// workers transform records in parallel and hand them to the sink in batches. A source offset is committed only after
/// the sink wrote every record before it (or the record was filtered out or dead-lettered), so a restart resumes from the
/// committed offsets and may repeat records, never skip them.
/// </summary>
/// <remarks>
/// <para>
/// One consumer thread reads the assigned partitions and frames each record (length-prefixed, with its partition and
/// offset) into the <see cref="System.IO.Pipelines.Pipe"/> of the worker that owns its partition. Each partition belongs
/// to one worker, so records of one partition (and of one key) are transformed and written in order; partitions are
/// processed in parallel by <see cref="PipelineOptions.Workers"/> workers. A full pipe
/// (<see cref="PipelineOptions.WorkerBufferBytes"/>) makes the consumer wait: memory stays bounded.
/// </para>
/// <para>
/// Records that are not in the Confluent wire format, whose schema cannot be found or planned, that a transform or the
/// sink rejects go to the dead-letter topic (see <see cref="DeadLetterHeaders"/>) or stop the pipeline
/// (<see cref="PipelineOptions.OnError"/>). Tombstones (null values) go to the sink as deletes of their key.
/// </para>
/// <para>
/// When the transforms mask columns, the columns are masked wherever the pipeline sends them: a key that is an Avro record
/// holding a masked column gets the column masked (hashed, so that equal keys stay equal and keep their partition), and
/// dead letters hold the record masked (<see cref="DeadLetterHeaders.Masked"/>), the original going only to
/// <see cref="PipelineOptions.UnmaskedDeadLetterTopic"/> when it is set.
/// </para>
/// <para>
/// Nothing is skipped silently: a partition the group has no committed offset for starts from its earliest record; a
/// committed offset (or the next offset to read) that is no longer in the log, because retention or the embedded
/// cluster's 5 MB limit per partition deleted the records, stops the pipeline with a <see cref="PipelineException"/>
/// naming the partition and the lost range. After a rebalance whose drain timed out, what was read from a revoked
/// partition is dropped, never handed to the sink, and read again by the partition's next owner.
/// </para>
/// </remarks>
public sealed class KafkaPipeline
{
    private static readonly TimeSpan PollTimeout = TimeSpan.FromMilliseconds(100);
    private const int FramesPerFlush = 256;
    private static readonly TimeSpan BackpressurePatience = TimeSpan.FromMilliseconds(250);

    private readonly PipelineOptions _options;
    private readonly KafkaConnection _kafka;
    private readonly ISchemaStore _schemas;
    private readonly ILoggerFactory _loggerFactory;
    private readonly ILogger _logger;
    private readonly TransformChain _chain;
    private readonly ConcurrentDictionary<int, SchemaPlan> _plans = new();
    private readonly ConcurrentDictionary<int, global::Avro.RecordSchema?> _rawSchemas = new();
    private readonly IReadOnlyList<MaskedColumn> _masked;
    private readonly ConcurrentDictionary<int, RecordMasking> _keyMaskings = new();
    private readonly Dictionary<TopicPartition, SourcePartition> _partitionsByName = [];
    private readonly HashSet<TopicPartition> _paused = []; // paused while the workers' pipes drain (backpressure); consumer thread only
    private readonly KeyValuePair<string, object?> _pipelineTag;
    private SourcePartition[] _partitions = [];
    private PipelineWorker[] _workers = [];
    private Task[] _workerTasks = [];
    private IProducer<byte[]?, byte[]?>? _deadLetters;
    private CancellationTokenSource? _sinkStop;
    private Exception? _fault;
    private long _records;
    private long _lag;
    private long _deadLettered;
    private long _nextHousekeeping;
    private StagingDeserializer? _keys;
    private StagingDeserializer? _values;

    /// <summary>Creates a pipeline; nothing connects until <see cref="RunAsync"/>.</summary>
    /// <param name="options">The settings (validated here).</param>
    /// <param name="kafka">The Kafka connection.</param>
    /// <param name="schemas">The schema store that holds the source schemas and receives the output schemas.</param>
    /// <param name="logger">A logger, or null.</param>
    /// <exception cref="ArgumentException">A setting is invalid.</exception>
    public KafkaPipeline(PipelineOptions options, KafkaConnection kafka, ISchemaStore schemas, ILogger<KafkaPipeline>? logger = null)
        : this(options, kafka, schemas, NullLoggerFactory.Instance, logger)
    {
    }

    /// <summary>Creates a pipeline whose sink logs through <paramref name="loggerFactory"/>; nothing connects until <see cref="RunAsync"/>.</summary>
    /// <param name="options">The settings (validated here).</param>
    /// <param name="kafka">The Kafka connection.</param>
    /// <param name="schemas">The schema store that holds the source schemas and receives the output schemas.</param>
    /// <param name="loggerFactory">Creates the pipeline's and the sink's loggers.</param>
    /// <exception cref="ArgumentException">A setting is invalid.</exception>
    public KafkaPipeline(PipelineOptions options, KafkaConnection kafka, ISchemaStore schemas, ILoggerFactory loggerFactory)
        : this(options, kafka, schemas, loggerFactory, null)
    {
    }

    private KafkaPipeline(PipelineOptions options, KafkaConnection kafka, ISchemaStore schemas, ILoggerFactory loggerFactory, ILogger? logger)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(kafka);
        ArgumentNullException.ThrowIfNull(schemas);
        ArgumentNullException.ThrowIfNull(loggerFactory);
        options.Validate();
        _options = options;
        _kafka = kafka;
        _schemas = schemas;
        _loggerFactory = loggerFactory;
        _logger = logger ?? loggerFactory.CreateLogger<KafkaPipeline>();
        _chain = new TransformChain(options.Transforms);
        _masked = _chain.MaskedColumns;
        _pipelineTag = new("pipeline", options.Name);
    }

    /// <summary>The settings.</summary>
    public PipelineOptions Options => _options;

    /// <summary>The number of records read so far.</summary>
    public long RecordsRead => Interlocked.Read(ref _records);

    /// <summary>The number of records sent to the dead-letter topic so far (counted once their batch is written).</summary>
    public long DeadLettered => Interlocked.Read(ref _deadLettered);

    /// <summary>Records in the assigned source partitions not read yet (high watermark minus position), as last measured; refreshed every <see cref="PipelineOptions.CommitInterval"/>.</summary>
    public long Lag => Interlocked.Read(ref _lag);

    internal PipelineSink Sink { get; private set; } = null!;

    /// <summary>How long the sink gets to finish what was read, on stop and on a rebalance (30 s; shorter in tests).</summary>
    internal TimeSpan DrainTimeout { get; set; } = TimeSpan.FromSeconds(30);

    internal string? DefaultTopic => string.IsNullOrWhiteSpace(_options.TargetTopic) ? null : _options.TargetTopic;

    /// <summary>Whether source tombstones are dropped: after the outbox router they are deletes of published outbox rows, not events.</summary>
    internal bool DropsTombstones => _chain.EmitsRawRecords;

    /// <summary>Cancelled when the sink's drain time is over, or when the pipeline failed.</summary>
    internal CancellationToken StopToken => _sinkStop!.Token;

    internal bool IsFaulted => Volatile.Read(ref _fault) is not null;

    /// <summary>Whether the transforms mask columns, which keys and dead letters must then have masked too.</summary>
    internal bool MasksColumns => _masked.Count > 0;

    /// <summary>
    /// Runs until <paramref name="cancellationToken"/> is cancelled, then drains: the workers finish the records read (the
    /// sink has up to 30 s), the offsets of what is done are committed, and the consumer leaves the group. A group with no
    /// committed offset for a partition starts from the partition's earliest record.
    /// </summary>
    /// <param name="cancellationToken">Stops the pipeline gracefully.</param>
    /// <returns>A task that completes when the pipeline has stopped.</returns>
    /// <exception cref="PipelineException">A record was rejected under <see cref="ErrorHandling.Stop"/>, the sink failed past its retries, or
    /// records of a source partition were deleted before the pipeline read them (a committed offset below the partition's first offset):
    /// the pipeline stops (logged, event id 5011) rather than skip them.</exception>
    public async Task RunAsync(CancellationToken cancellationToken)
    {
        Volatile.Write(ref _fault, null);
        using var sinkStop = new CancellationTokenSource();
        _sinkStop = sinkStop;
        if (_options.OnError == ErrorHandling.DeadLetter)
        {
            await _kafka.EnsureTopicAsync(_options.EffectiveDeadLetterTopic, _options.TargetPartitions, TopicRetention.Default, cancellationToken).ConfigureAwait(false);
            if (MasksColumns && _options.UnmaskedDeadLetterTopic is { } unmasked)
            {
                await _kafka.EnsureTopicAsync(unmasked, _options.TargetPartitions, TopicRetention.Default, cancellationToken).ConfigureAwait(false);
            }
        }

        if (_options.Sink is null)
        {
            await _kafka.EnsureTopicAsync(_options.TargetTopic!, _options.TargetPartitions, TopicRetention.Default, cancellationToken).ConfigureAwait(false);
        }

        Sink = _options.Sink ?? new KafkaSink(new KafkaSinkOptions { Partitions = _options.TargetPartitions });
        await Sink.StartAsync(new SinkContext(_options.Name, _schemas, _kafka, _loggerFactory), cancellationToken).ConfigureAwait(false);
        using var deadLetters = new ProducerBuilder<byte[]?, byte[]?>(_kafka.CreateProducerConfig()).Build();
        _deadLetters = deadLetters;
        _workers = [.. Enumerable.Range(0, _options.Workers).Select(i => new PipelineWorker(this, i, _options.WorkerBufferBytes, _options.MaxBatchSize, Math.Max(1, Sink.MaxBatchesInFlight)))];
        _workerTasks = [.. _workers.Select(w => Task.Run(w.RunAsync, CancellationToken.None))];
        PipelineMetrics.Register(this);
        PipelineLog.Started(_logger, _options.Name, string.Join(", ", _options.SourceTopics), DefaultTopic ?? "(source topics)", Sink.Name, _options.EffectiveGroupId, _options.Workers);
        try
        {
            // The blocking Consume runs on a thread of its own.
            await Task.Factory.StartNew(() => ConsumeAsync(cancellationToken), CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default)
                .Unwrap().ConfigureAwait(false);
        }
        finally
        {
            PipelineMetrics.Unregister(this);
            if (_options.Sink is null)
            {
                await Sink.DisposeAsync().ConfigureAwait(false);
            }

            deadLetters.Flush(DrainTimeout);
            _deadLetters = null;
            PipelineLog.Stopped(_logger, _options.Name, RecordsRead);
        }

        ThrowIfFaulted();
    }

    private async Task ConsumeAsync(CancellationToken cancellationToken)
    {
        var keys = _keys = new StagingDeserializer();
        var values = _values = new StagingDeserializer();
        var consumerConfig = BuildConsumerConfig();
        IConsumer<int, int>? consumer = null;
        try
        {
            consumer = new ConsumerBuilder<int, int>(consumerConfig)
                .SetKeyDeserializer(keys)
                .SetValueDeserializer(values)
                .SetErrorHandler((_, error) => PipelineLog.ConsumerError(_logger, _options.Name, error.Reason))
                .SetPartitionsAssignedHandler((c, partitions) => OnAssigned(c, partitions))
                .SetPartitionsRevokedHandler((c, partitions) => OnRevoked(c, partitions))
                .Build();
            consumer.Subscribe(_options.SourceTopics);
            await ReadAsync(consumer, keys, values, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            // Drain: the workers finish what was read; the sink gets DrainTimeout, then is cancelled.
            foreach (var worker in _workers)
            {
                await worker.Writer.CompleteAsync().ConfigureAwait(false);
            }

            _sinkStop!.CancelAfter(DrainTimeout);
            await Task.WhenAll(_workerTasks).ConfigureAwait(false);
            if (consumer is not null)
            {
                try
                {
                    Commit(consumer, null);
                    consumer.Close();
                }
                finally
                {
                    consumer.Dispose();
                }
            }
        }
    }

    /// <summary>
    /// The consumer's settings: the host's (<see cref="KafkaOptions.Settings"/>), then the group session
    /// (<see cref="PipelineOptions.SessionTimeout"/>, or 10 s unless the host's settings name one; heartbeats every third of
    /// it, at most every 3 s, unless set), then <see cref="PipelineOptions.ConsumerSettings"/>. The session and heartbeat
    /// are left alone under <c>group.protocol=consumer</c> (KIP-848), where the broker sets them. A pipeline with a topic
    /// pattern among its source topics refreshes the topics' metadata every
    /// <see cref="PipelineOptions.PatternMetadataRefreshInterval"/> unless <c>topic.metadata.refresh.interval.ms</c> is set.
    /// </summary>
    internal ConsumerConfig BuildConsumerConfig()
    {
        var config = _kafka.CreateConsumerConfig(_options.EffectiveGroupId);
        var protocol = _options.ConsumerSettings.TryGetValue("group.protocol", out var named) ? named : config.Get("group.protocol");
        var classic = !string.Equals(protocol, "consumer", StringComparison.OrdinalIgnoreCase);
        if (classic && (_options.SessionTimeout is not null || config.Get("session.timeout.ms") is null))
        {
            config.SessionTimeoutMs = (int)(_options.SessionTimeout ?? PipelineOptions.DefaultSessionTimeout).TotalMilliseconds;
        }

        var heartbeatSet = config.Get("heartbeat.interval.ms") is not null || _options.ConsumerSettings.ContainsKey("heartbeat.interval.ms");
        foreach (var (name, value) in _options.ConsumerSettings)
        {
            config.Set(name, value);
        }

        if (classic && !heartbeatSet && config.SessionTimeoutMs is { } session)
        {
            config.HeartbeatIntervalMs = Math.Min(3000, session / 3);
        }

        if (config.Get("topic.metadata.refresh.interval.ms") is null && _options.SourceTopics.Any(t => t.StartsWith('^')))
        {
            // A pattern subscription matches a topic created later only at a metadata refresh: every 5 minutes by default.
            config.TopicMetadataRefreshIntervalMs = (int)PipelineOptions.PatternMetadataRefreshInterval.TotalMilliseconds;
        }

        // Never jump over records silently: a partition of the group with no committed offset is started from its earliest
        // record when assigned (OnAssigned); a committed or current offset that is no longer in the log is an error.
        config.AutoOffsetReset = AutoOffsetReset.Error;
        return config;
    }

    private async Task ReadAsync(IConsumer<int, int> consumer, StagingDeserializer keys, StagingDeserializer values, CancellationToken cancellationToken)
    {
        _nextHousekeeping = Stopwatch.GetTimestamp() + (long)(_options.CommitInterval.TotalSeconds * Stopwatch.Frequency);
        var framed = 0;
        var framedBytes = 0L;
        while (!cancellationToken.IsCancellationRequested && !IsFaulted)
        {
            if (Stopwatch.GetTimestamp() >= _nextHousekeeping)
            {
                await FlushAsync(consumer, cancellationToken).ConfigureAwait(false);
                framed = 0;
                framedBytes = 0;
                Housekeep(consumer);
            }

            ConsumeResult<int, int>? result;
            try
            {
                result = consumer.Consume(framed == 0 ? PollTimeout : TimeSpan.Zero);
            }
            catch (ConsumeException e)
            {
                OnConsumeError(consumer, e);
                continue;
            }

            if (result?.Message is null)
            {
                if (framed > 0)
                {
                    await FlushAsync(consumer, cancellationToken).ConfigureAwait(false);
                    framed = 0;
                    framedBytes = 0;
                }

                continue;
            }

            // Flush every 256 records, or sooner for large ones: a pipe holds at most a quarter of its size beyond its limit.
            framedBytes += Frame(result, keys, values);
            if (++framed >= FramesPerFlush || framedBytes >= _options.WorkerBufferBytes / 4)
            {
                await FlushAsync(consumer, cancellationToken).ConfigureAwait(false);
                framed = 0;
                framedBytes = 0;
            }
        }

        // What is framed but not flushed reaches the workers when the pipes' writers complete (on stop).
    }

    /// <summary>Copies one record into the pipe of the worker that owns its partition; returns the frame's length.</summary>
    private int Frame(ConsumeResult<int, int> result, StagingDeserializer keys, StagingDeserializer values)
    {
        Interlocked.Increment(ref _records);
        var partition = GetPartition(result.TopicPartition);
        partition.Read(result.Offset.Value);
        var worker = _workers[partition.Worker];
        if (result.Message.Headers is { Count: > 0 } headers && headers.TryGetLastBytes(LeaseFence.Header, out var stamp) && LeaseFence.TryRead(stamp, out var epoch))
        {
            if (epoch < partition.Epoch)
            {
                // Written by a source process after it lost its lease, and after the new holder's records: the new holder
                // writes the same changes again from its stored position, so this older copy must not land after them.
                if (partition.FencedEpoch != epoch)
                {
                    partition.FencedEpoch = epoch;
                    PipelineLog.Fenced(_logger, _options.Name, partition.ToString(), result.Offset.Value, epoch, partition.Epoch);
                }

                Frames.WriteFenced(worker.Writer, partition.Slot, partition.Generation, result.Offset.Value);
                worker.Dirty = true;
                return Frames.Overhead;
            }

            partition.Epoch = epoch;
        }

        var key = keys.Staged(result.Message.Key);
        var value = values.Staged(result.Message.Value);
        Frames.Write(worker.Writer, partition.Slot, partition.Generation, result.Offset.Value, key, result.Message.Key >= 0, value, result.Message.Value >= 0);
        worker.Dirty = true;
        return Frames.Overhead + key.Length + value.Length;
    }

    /// <summary>Commits what is done and measures the lag, every <see cref="PipelineOptions.CommitInterval"/>.</summary>
    private void Housekeep(IConsumer<int, int> consumer, bool paused = false)
    {
        Commit(consumer, null);
        MeasureLag(consumer, paused);
        _nextHousekeeping = Stopwatch.GetTimestamp() + (long)(_options.CommitInterval.TotalSeconds * Stopwatch.Frequency);
    }

    /// <summary>
    /// Hands the framed records to the workers. When a worker's pipe is full (backpressure) for more than 250 ms, the
    /// assigned partitions are paused while it drains, and the consumer goes on polling — so that it stays in its group, serves rebalances, commits
    /// and measures the lag — without reading more (a record fetched before the pause is sought back to, and read again
    /// after the resume).
    /// </summary>
    private async ValueTask FlushAsync(IConsumer<int, int> consumer, CancellationToken cancellationToken)
    {
        List<Task>? full = null;
        foreach (var worker in _workers)
        {
            if (worker.Dirty)
            {
                worker.Dirty = false;
                var flush = worker.Writer.FlushAsync(CancellationToken.None);
                if (!flush.IsCompleted)
                {
                    (full ??= []).Add(flush.AsTask());
                }
            }
        }

        if (full is null)
        {
            return;
        }

        // Most waits are short: wait a little before pausing (a pause drops what was fetched, to be fetched again).
        var drained = Task.WhenAll(full);
        if (await Task.WhenAny(drained, Task.Delay(BackpressurePatience, cancellationToken)).ConfigureAwait(false) == drained)
        {
            await drained.ConfigureAwait(false);
            return;
        }

        try
        {
            while (!drained.IsCompleted && !IsFaulted && !cancellationToken.IsCancellationRequested)
            {
                // A rebalance inside Consume may hand over new partitions: they wait too (OnRevoked resumes what leaves).
                PauseNew(consumer);
                if (Stopwatch.GetTimestamp() >= _nextHousekeeping)
                {
                    Housekeep(consumer, paused: true);
                }

                try
                {
                    if (consumer.Consume(TimeSpan.FromMilliseconds(20)) is { Message: not null } result)
                    {
                        try
                        {
                            // Fetched before the pause: put it back (a seek drops what was fetched from there on); read again after the resume.
                            consumer.Seek(result.TopicPartitionOffset);
                        }
                        catch (KafkaException e)
                        {
                            // Not put back: it is consumed, so it must be framed (past the pipe's limit) rather than skipped.
                            PipelineLog.ConsumerError(_logger, _options.Name, e.Error.Reason);
                            Frame(result, _keys!, _values!);
                        }
                    }
                }
                catch (ConsumeException e)
                {
                    OnConsumeError(consumer, e);
                }
            }

            // A stopped pipeline does not wait for its pipes here: the workers finish them after the writers complete.
            if (drained.IsCompleted)
            {
                await drained.ConfigureAwait(false);
            }
        }
        finally
        {
            consumer.Resume(consumer.Assignment.Union(_paused).ToList());
            _paused.Clear();
        }
    }

    /// <summary>Pauses the assigned partitions not paused yet (backpressure).</summary>
    private void PauseNew(IConsumer<int, int> consumer)
    {
        var assignment = consumer.Assignment;
        if (!assignment.TrueForAll(_paused.Contains))
        {
            consumer.Pause(assignment.Where(_paused.Add).ToList());
        }
    }

    private SourcePartition GetPartition(TopicPartition topicPartition)
    {
        if (!_partitionsByName.TryGetValue(topicPartition, out var partition))
        {
            var slot = _partitions.Length;
            partition = new SourcePartition(topicPartition.Topic, topicPartition.Partition.Value) { Slot = slot, Worker = slot % _workers.Length };
            _partitionsByName[topicPartition] = partition;
            Volatile.Write(ref _partitions, [.. _partitions, partition]);
        }

        return partition;
    }

    internal SourcePartition PartitionAt(int slot) => Volatile.Read(ref _partitions)[slot];

    internal bool TryGetPlan(int schemaId, out SchemaPlan plan) => _plans.TryGetValue(schemaId, out plan!);

    internal bool TryGetRawSchema(int schemaId, out global::Avro.RecordSchema? schema) => _rawSchemas.TryGetValue(schemaId, out schema);

    internal bool TryGetKeyMasking(int keySchemaId, out RecordMasking masking) => _keyMaskings.TryGetValue(keySchemaId, out masking!);

    /// <summary>Looks a key schema up (once) and plans the masking of its masked columns, or keeps why it cannot.</summary>
    internal async ValueTask LoadKeyMaskingAsync(int keySchemaId)
    {
        if (_keyMaskings.ContainsKey(keySchemaId))
        {
            return;
        }

        RecordMasking masking;
        try
        {
            var schema = await WithRetriesAsync(token => _schemas.GetByIdAsync(keySchemaId, token), keySchemaId).ConfigureAwait(false);

            // A key that is not a record has no column names: it travels as it was read (documented).
            masking = schema is global::Avro.RecordSchema record ? await PlanMaskingAsync(record, isKey: true, keySchemaId).ConfigureAwait(false) : RecordMasking.AsRead;
        }
        catch (KeyNotFoundException e)
        {
            masking = RecordMasking.Failed($"the key's schema {keySchemaId} is unknown to the schema store ({e.Message}); the pipeline masks columns, so it cannot send a key it cannot read");
        }

        _keyMaskings.TryAdd(keySchemaId, masking);
    }

    /// <summary>Registers the masked schema of <paramref name="masking"/> for <paramref name="topic"/> (once), or keeps why it cannot be.</summary>
    internal async ValueTask RegisterMaskedAsync(RecordMasking masking, string topic, int schemaId)
    {
        if (masking.Chain is not { } chain || masking.Ids.ContainsKey(topic))
        {
            return;
        }

        (int Id, string? Error) registered;
        try
        {
            registered = (await WithRetriesAsync(token => _schemas.RegisterAsync(masking.Subject(topic), chain.OutputSchema, token), schemaId).ConfigureAwait(false), null);
        }
        catch (SchemaIncompatibleException e)
        {
            registered = (0, $"the masked schema {chain.OutputSchema.Fullname} cannot be registered for '{topic}': {e.Message}");
        }

        masking.Ids.TryAdd(topic, registered);
    }

    /// <summary>Plans the masking of a key or source schema, and registers its masked schema for the dead-letter topic.</summary>
    private async ValueTask<RecordMasking> PlanMaskingAsync(global::Avro.RecordSchema record, bool isKey, int schemaId)
    {
        var masking = RecordMasking.Plan(_masked, record, isKey);
        if (_options.OnError == ErrorHandling.DeadLetter)
        {
            await RegisterMaskedAsync(masking, _options.EffectiveDeadLetterTopic, schemaId).ConfigureAwait(false);
        }

        return masking;
    }

    /// <summary>Calls the schema store, trying again while it is unreachable for a moment (a registry restart), then failing the pipeline.</summary>
    private async ValueTask<T> WithRetriesAsync<T>(Func<CancellationToken, ValueTask<T>> call, int schemaId)
    {
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                return await call(_sinkStop!.Token).ConfigureAwait(false);
            }
            catch (Exception e) when (e is not (OperationCanceledException or KeyNotFoundException or SchemaIncompatibleException) && attempt < 5)
            {
                PipelineLog.SchemaRetry(_logger, _options.Name, schemaId, attempt, e.Message);
                await Task.Delay(TimeSpan.FromMilliseconds(200 << attempt), _sinkStop!.Token).ConfigureAwait(false);
            }
        }
    }

    /// <summary>Looks a schema up (once) and plans the chain for it, or keeps why it cannot.</summary>
    internal async ValueTask LoadSchemaAsync(bool plan, int schemaId)
    {
        global::Avro.Schema? schema = null;
        string? error = null;
        try
        {
            schema = await WithRetriesAsync(token => _schemas.GetByIdAsync(schemaId, token), schemaId).ConfigureAwait(false);
        }
        catch (KeyNotFoundException e)
        {
            error = $"schema {schemaId}: {e.Message}";
        }

        if (!plan)
        {
            _rawSchemas.TryAdd(schemaId, schema as global::Avro.RecordSchema);
            return;
        }

        if (_plans.ContainsKey(schemaId))
        {
            return;
        }

        SchemaPlan result;
        if (schema is null)
        {
            result = new SchemaPlan(null, error);
        }
        else if (schema is not global::Avro.RecordSchema record)
        {
            result = new SchemaPlan(null, $"schema {schemaId} is a {schema.Tag}, not a record");
        }
        else
        {
            try
            {
                var chain = _chain.Plan(record);
                PipelineLog.Planned(_logger, _options.Name, schemaId, record.Fullname, chain.Stages.Count, chain.OutputSchema.Fullname);
                result = new SchemaPlan(chain, null);
            }
            catch (Exception e) when (e is TransformPlanException or FormatException)
            {
                result = new SchemaPlan(null, $"schema {schemaId}: {e.Message}");
            }
        }

        if (MasksColumns)
        {
            // Dead letters hold the record as read: mask its columns as the chain would.
            result.DeadLetterMasking = schema is global::Avro.RecordSchema read
                ? await PlanMaskingAsync(read, isKey: false, schemaId).ConfigureAwait(false)
                : RecordMasking.Failed(result.Error ?? $"schema {schemaId} is not a record");
        }

        _plans.TryAdd(schemaId, result);
    }

    /// <summary>
    /// Writes a batch through the sink, trying again with backoff when it fails. Before each attempt the records of
    /// partitions revoked since they were read are taken out: they are never handed to the sink once revoked.
    /// </summary>
    internal async Task WriteAsync(SinkBatch batch)
    {
        var attempt = 0;
        var delay = TimeSpan.FromMilliseconds(200);
        while (true)
        {
            batch.RemoveRevoked();
            if (batch.Count == 0)
            {
                break;
            }

            var started = Stopwatch.GetTimestamp();
            try
            {
                await Sink.WriteAsync(batch, _sinkStop!.Token).ConfigureAwait(false);
                PipelineMetrics.StageDuration.Record(Stopwatch.GetElapsedTime(started).TotalSeconds, _pipelineTag, new("stage", "sink"));
                break;
            }
            catch (Exception e) when (e is not PipelineException && !_sinkStop!.IsCancellationRequested)
            {
                // With several batches in flight, later batches may already be written: a retry of this one would put
                // its records after theirs. Stop instead; a restart replays from the committed offsets, in order.
                if (attempt++ >= _options.SinkRetries || Sink.MaxBatchesInFlight > 1)
                {
                    var first = batch[0];
                    throw new PipelineException(
                        $"Pipeline '{_options.Name}': sink '{Sink.Name}' failed {attempt} times on a batch of {batch.Count} records from {first.SourceTopic}[{first.SourcePartition}]@{first.SourceOffset}: {e.Message}", e);
                }

                PipelineLog.SinkRetry(_logger, _options.Name, Sink.Name, batch.Count, attempt, delay.TotalMilliseconds, e.Message);
                await Task.Delay(delay, _sinkStop.Token).ConfigureAwait(false);
                delay = TimeSpan.FromTicks(Math.Min(delay.Ticks * 2, TimeSpan.FromSeconds(10).Ticks));
                batch.ClearRejections();
            }
        }

        PipelineMetrics.StageDuration.Record(Stopwatch.GetElapsedTime(0, batch.TransformTicks).TotalSeconds, _pipelineTag, new("stage", "transform"));
    }

    /// <summary>A batch is written and its dead letters acknowledged: its offsets are done.</summary>
    internal void Completed(SinkBatch batch)
    {
        foreach (var (partition, generation, offset) in batch.Progress)
        {
            partition.Done(offset, generation);
        }

        PipelineMetrics.Count(_pipelineTag, "emitted", batch.Count - batch.RejectedCount - batch.Tombstones);
        PipelineMetrics.Count(_pipelineTag, "tombstone", batch.Tombstones);
        PipelineMetrics.Count(_pipelineTag, "dropped", batch.Dropped);
        PipelineMetrics.Count(_pipelineTag, "fenced", batch.Fenced);
        PipelineMetrics.Count(_pipelineTag, "dead_lettered", batch.DeadLettered);
        Interlocked.Add(ref _deadLettered, batch.DeadLettered);
    }

    /// <summary>Sends the source record of <paramref name="frame"/> to the dead-letter topic (or stops the pipeline).</summary>
    internal void DeadLetter(ReadOnlySpan<byte> frame, SourcePartition partition, long offset, string stage, string reason, SinkBatch batch)
    {
        if (_options.OnError == ErrorHandling.Stop)
        {
            PipelineLog.StoppedOnError(_logger, _options.Name, partition.Topic, partition.Partition, offset, stage, reason);
            throw new PipelineException($"Pipeline '{_options.Name}' stopped on {partition.Topic}[{partition.Partition}]@{offset} at stage '{stage}': {reason}");
        }

        PipelineLog.DeadLettered(_logger, _options.Name, partition.Topic, partition.Partition, offset, stage, reason);
        Frames.Read(frame, out _, out _, out _, out var key, out var hasKey, out var value, out var hasValue);
        batch.DeadLettered++;
        if (!MasksColumns)
        {
            ProduceDeadLetter(_options.EffectiveDeadLetterTopic, hasKey ? key.ToArray() : null, hasValue ? value.ToArray() : null, DeadLetterHeadersOf(partition, offset, stage, reason), batch);
            return;
        }

        if (_options.UnmaskedDeadLetterTopic is { } unmasked)
        {
            ProduceDeadLetter(unmasked, hasKey ? key.ToArray() : null, hasValue ? value.ToArray() : null, DeadLetterHeadersOf(partition, offset, stage, reason), batch);
        }

        // What cannot be masked is left out rather than sent in clear.
        var withholdsKey = false;
        var maskedValue = hasValue ? MaskForDeadLetter(value, isKey: false, out withholdsKey) : null;
        var maskedKey = hasKey && !withholdsKey ? MaskForDeadLetter(key, isKey: true, out _) : null;
        var headers = DeadLetterHeadersOf(partition, offset, stage, reason);
        headers.Add(DeadLetterHeaders.Masked, "true"u8.ToArray());
        var withheld = (hasKey && maskedKey is null, hasValue && maskedValue is null) switch
        {
            (true, true) => "key,value",
            (true, false) => "key",
            (false, true) => "value",
            _ => null,
        };
        if (withheld is not null)
        {
            headers.Add(DeadLetterHeaders.Withheld, Encoding.UTF8.GetBytes(withheld));
        }

        ProduceDeadLetter(_options.EffectiveDeadLetterTopic, maskedKey, maskedValue, headers, batch);
    }

    private Headers DeadLetterHeadersOf(SourcePartition partition, long offset, string stage, string reason) => new()
    {
        { DeadLetterHeaders.Reason, Encoding.UTF8.GetBytes(reason.Length > 2000 ? reason[..2000] : reason) },
        { DeadLetterHeaders.Stage, Encoding.UTF8.GetBytes(stage) },
        { DeadLetterHeaders.Pipeline, Encoding.UTF8.GetBytes(_options.Name) },
        { DeadLetterHeaders.Topic, Encoding.UTF8.GetBytes(partition.Topic) },
        { DeadLetterHeaders.Partition, Encoding.UTF8.GetBytes(partition.Partition.ToString(CultureInfo.InvariantCulture)) },
        { DeadLetterHeaders.Offset, Encoding.UTF8.GetBytes(offset.ToString(CultureInfo.InvariantCulture)) },
    };

    private void ProduceDeadLetter(string topic, byte[]? key, byte[]? value, Headers headers, SinkBatch batch)
    {
        batch.DeadLetters.Add();
        _deadLetters!.Produce(topic, new Message<byte[]?, byte[]?> { Key = key, Value = value, Headers = headers }, batch.DeadLetters.Handler);
    }

    /// <summary>
    /// A dead letter's key or value with the masked columns masked, framed with the masked schema's id for the dead-letter
    /// topic; as read when its schema has no masked column (or, for a key, when it is not Avro: it has no columns); null when
    /// it cannot be masked (not Avro, an unknown schema, malformed bytes).
    /// </summary>
    private byte[]? MaskForDeadLetter(ReadOnlySpan<byte> bytes, bool isKey, out bool withholdsKey)
    {
        withholdsKey = false;
        if (!ConfluentWireFormat.TryReadHeader(bytes, out var id, out var datum))
        {
            return isKey ? bytes.ToArray() : null;
        }

        var masking = isKey
            ? _keyMaskings.TryGetValue(id, out var keyMasking) ? keyMasking : null
            : _plans.TryGetValue(id, out var plan) ? plan.DeadLetterMasking : null;
        withholdsKey = masking?.WithholdsKey == true;
        if (masking is null || masking.Error is not null)
        {
            return null;
        }

        if (masking.Chain is null)
        {
            return bytes.ToArray();
        }

        if (!masking.Ids.TryGetValue(_options.EffectiveDeadLetterTopic, out var registered) || registered.Error is not null)
        {
            return null;
        }

        var output = new System.Buffers.ArrayBufferWriter<byte>(bytes.Length + 64);
        return masking.TryWrite(datum, registered.Id, output, out _) ? output.WrittenSpan.ToArray() : null;
    }

    internal void Fail(Exception e)
    {
        var fault = e as PipelineException ?? new PipelineException($"Pipeline '{_options.Name}' failed: {e.Message}", e);
        Fail(fault);
    }

    private void Fail(PipelineException fault)
    {
        if (Interlocked.CompareExchange(ref _fault, fault, null) is null)
        {
            _sinkStop?.Cancel();
        }
    }

    /// <summary>
    /// Sums high watermark minus position over the assigned partitions. The watermarks are those librdkafka caches with
    /// each fetch; paused partitions are not fetched, so then they are asked of the brokers (the consumer is idle anyway).
    /// </summary>
    private void MeasureLag(IConsumer<int, int> consumer, bool paused)
    {
        long lag = 0;
        foreach (var topicPartition in consumer.Assignment)
        {
            WatermarkOffsets watermarks;
            try
            {
                watermarks = paused ? consumer.QueryWatermarkOffsets(topicPartition, TimeSpan.FromMilliseconds(500)) : consumer.GetWatermarkOffsets(topicPartition);
            }
            catch (KafkaException)
            {
                watermarks = consumer.GetWatermarkOffsets(topicPartition);
            }

            if (watermarks.High.Value < 0)
            {
                continue;
            }

            // Nothing read from the partition yet: its position is not known before the first fetch, so count it all
            // from the low watermark (an over-estimate when the group committed an offset, until the first record).
            var next = _partitionsByName.TryGetValue(topicPartition, out var partition) && partition.LastRead >= 0 ? partition.LastRead + 1 : consumer.Position(topicPartition).Value;
            if (next < 0)
            {
                next = Math.Max(0, watermarks.Low.Value);
            }

            lag += Math.Max(0, watermarks.High.Value - next);
        }

        Interlocked.Exchange(ref _lag, lag);
    }

    private void OnRevoked(IConsumer<int, int> consumer, List<TopicPartitionOffset> partitions)
    {
        PipelineLog.Revoked(_logger, _options.Name, string.Join(", ", partitions.Select(p => p.TopicPartition.ToString())));
        var revoked = partitions.Select(p => p.TopicPartition).ToHashSet();
        // Wait (bounded) until the workers are done with what was read from these partitions, then commit it.
        var deadline = Stopwatch.GetTimestamp() + (long)(DrainTimeout.TotalSeconds * Stopwatch.Frequency);
        using (var flushing = new CancellationTokenSource(DrainTimeout))
        {
            foreach (var worker in _workers)
            {
                if (worker.Dirty)
                {
                    worker.Dirty = false;
                    try
                    {
                        // Blocking on purpose: librdkafka calls this handler synchronously on the consumer's thread (which
                        // does nothing else meanwhile) and the partitions must be drained before it returns; the wait is
                        // bounded by the token, and the pipe's flush needs no synchronization context.
                        worker.Writer.FlushAsync(flushing.Token).AsTask().GetAwaiter().GetResult();
                    }
                    catch (OperationCanceledException)
                    {
                        // The pipe stayed full past the deadline: what is done is committed below, the rest is read again.
                    }
                }
            }
        }

        while (!IsFaulted && Stopwatch.GetTimestamp() < deadline
            && revoked.Any(p => _partitionsByName.TryGetValue(p, out var partition) && !partition.Drained))
        {
            Thread.Sleep(10);
        }

        var undrained = revoked.Where(p => _partitionsByName.TryGetValue(p, out var partition) && !partition.Drained).ToList();
        if (undrained.Count > 0)
        {
            var names = string.Join(", ", undrained.Select(static p => $"{p.Topic}[{p.Partition.Value}]"));
            if (IsFaulted)
            {
                PipelineLog.DrainStoppedByError(_logger, _options.Name, names);
            }
            else
            {
                PipelineLog.DrainTimedOut(_logger, _options.Name, names, DrainTimeout.TotalSeconds);
            }
        }

        Commit(consumer, revoked);

        // librdkafka keeps a partition paused by the application after it leaves the assignment, and does not clear that
        // when the partition is assigned again: one revoked during a backpressure pause would never be fetched again.
        try
        {
            consumer.Resume(revoked);
            _paused.ExceptWith(revoked);
        }
        catch (KafkaException e)
        {
            PipelineLog.ConsumerError(_logger, _options.Name, e.Error.Reason);
        }

        foreach (var topicPartition in revoked)
        {
            if (_partitionsByName.TryGetValue(topicPartition, out var partition))
            {
                // What a drain that timed out left behind is stale: the workers drop it rather than hand it to the sink
                // while the partition's new owner writes the same keys.
                partition.Revoke();
            }
        }
    }

    /// <summary>
    /// Chooses where each newly assigned partition starts: at the group's committed offset, or at the earliest record still
    /// in the partition when the group has none (a new group, or a partition new to it). A committed offset that is no
    /// longer in the log (deleted by retention, or past the embedded cluster's 5 MB per partition) stops the pipeline.
    /// </summary>
    private List<TopicPartitionOffset> OnAssigned(IConsumer<int, int> consumer, List<TopicPartition> partitions)
    {
        var timeout = _kafka.Options.RequestTimeout;
        List<TopicPartitionOffset> committed;
        try
        {
            committed = consumer.Committed(partitions, timeout);
        }
        catch (KafkaException e)
        {
            Fail(new PipelineException(
                $"Pipeline '{_options.Name}' could not read the offsets group '{_options.EffectiveGroupId}' committed for " +
                $"{string.Join(", ", partitions.Select(static p => $"{p.Topic}[{p.Partition.Value}]"))}: {e.Error.Reason}. It stops rather than guess where to resume; start it again once the group coordinator answers.", e));
            return [.. partitions.Select(p => new TopicPartitionOffset(p, Offset.Unset))];
        }

        var starts = new List<TopicPartitionOffset>(committed.Count);
        foreach (var tpo in committed)
        {
            if (tpo.Offset.Value < 0)
            {
                starts.Add(new TopicPartitionOffset(tpo.TopicPartition, Offset.Beginning));
                continue;
            }

            try
            {
                var watermarks = consumer.QueryWatermarkOffsets(tpo.TopicPartition, timeout);
                if (tpo.Offset.Value < watermarks.Low.Value || tpo.Offset.Value > watermarks.High.Value)
                {
                    StopOnLostRecords(tpo.TopicPartition, tpo.Offset.Value, watermarks, committed: true);
                }
            }
            catch (KafkaException)
            {
                // Not known now: a committed offset out of the log still stops the pipeline when it is fetched (auto.offset.reset=error).
            }

            starts.Add(tpo);
        }

        PipelineLog.Assigned(_logger, _options.Name, string.Join(", ", starts.Select(static s => $"{s.Topic}[{s.Partition.Value}] " +
            (s.Offset == Offset.Beginning ? "from its earliest record (nothing committed)" : $"from committed offset {s.Offset.Value}"))));
        return starts;
    }

    /// <summary>A consumer error: records the pipeline had not read yet were deleted (it stops), or a transient error (logged).</summary>
    private void OnConsumeError(IConsumer<int, int> consumer, ConsumeException e)
    {
        if (e.Error.Code is not (ErrorCode.Local_AutoOffsetReset or ErrorCode.OffsetOutOfRange) || e.ConsumerRecord?.TopicPartition is not { } topicPartition)
        {
            PipelineLog.ConsumerError(_logger, _options.Name, e.Error.Reason);
            return;
        }

        WatermarkOffsets? watermarks = null;
        try
        {
            watermarks = consumer.QueryWatermarkOffsets(topicPartition, _kafka.Options.RequestTimeout);
        }
        catch (KafkaException)
        {
            // The range cannot be named; the pipeline stops all the same.
        }

        StopOnLostRecords(topicPartition, e.ConsumerRecord.Offset.Value, watermarks, committed: false, e.Error.Reason);
    }

    /// <summary>Stops the pipeline because the offset it was to read from <paramref name="topicPartition"/> is no longer in the log.</summary>
    private void StopOnLostRecords(TopicPartition topicPartition, long from, WatermarkOffsets? watermarks, bool committed, string? reason = null)
    {
        var group = _options.EffectiveGroupId;
        var partition = $"{topicPartition.Topic}[{topicPartition.Partition.Value}]";
        var where = committed ? $"Group '{group}' committed offset {from}" : from >= 0 ? $"It was to read offset {from} next" : $"It has no offset to read from ({reason})";
        string lost;
        if (watermarks is null)
        {
            lost = $"; that offset is no longer in the log ({reason}), and the partition's first offset could not be queried";
        }
        else if (from >= 0 && from < watermarks.Low.Value)
        {
            lost = $", but the partition now starts at offset {watermarks.Low.Value}: offsets {from} to {watermarks.Low.Value - 1} are gone " +
                "(deleted by the topic's retention, or dropped by the embedded Kafka cluster, which keeps at most 5 MB per partition)";
        }
        else
        {
            lost = $", but the partition now holds offsets {watermarks.Low.Value} to {watermarks.High.Value - 1} only: the topic was deleted and created again, or lost records";
        }

        var message =
            $"Pipeline '{_options.Name}' stopped: records of {partition} were lost before it read them. {where}{lost}. " +
            $"Nothing of {partition} past the gap was written or committed. To accept the loss and go on from the partition's first record, " +
            $"move group '{group}' to the earliest offset of {topicPartition.Topic} (kafka-consumer-groups --reset-offsets --to-earliest), or give the pipeline a new GroupId; " +
            "to avoid it, keep records longer than the pipeline may be stopped, and in production use a real Kafka cluster (DataMesh:Kafka:BootstrapServers) rather than the embedded one.";
        if (!IsFaulted)
        {
            PipelineLog.RecordsLost(_logger, _options.Name, topicPartition.Topic, topicPartition.Partition.Value, message);
        }

        Fail(new PipelineException(message));
    }

    private void Commit(IConsumer<int, int> consumer, HashSet<TopicPartition>? only)
    {
        var offsets = new List<TopicPartitionOffset>();
        var taken = new List<SourcePartition>();
        var assigned = only ?? [.. consumer.Assignment];
        foreach (var (topicPartition, partition) in _partitionsByName)
        {
            // Only partitions this consumer owns: one revoked after a drain that timed out is another member's now.
            if (assigned.Contains(topicPartition) && partition.TryTakeCommit(out var offset))
            {
                offsets.Add(new TopicPartitionOffset(topicPartition, offset));
                taken.Add(partition);
            }
        }

        if (offsets.Count == 0)
        {
            return;
        }

        try
        {
            consumer.Commit(offsets);
            PipelineLog.Committed(_logger, _options.Name, offsets.Count);
        }
        catch (KafkaException e)
        {
            PipelineLog.CommitFailed(_logger, _options.Name, e.Error.Reason);
            taken.ForEach(t => t.CommitFailed());
        }
    }

    private void ThrowIfFaulted()
    {
        if (Volatile.Read(ref _fault) is { } fault)
        {
            throw fault as PipelineException ?? new PipelineException($"Pipeline '{_options.Name}' failed: {fault.Message}", fault);
        }
    }

    /// <summary>The plan of one source schema id, or why there is none.</summary>
    internal sealed class SchemaPlan(PlannedChain? chain, string? error)
    {
        public PlannedChain? Chain { get; } = chain;

        public string? Error { get; } = error;

        /// <summary>With masks: how dead letters of this schema are masked (or why they cannot be). Null without masks.</summary>
        public RecordMasking? DeadLetterMasking { get; set; }
    }
}
