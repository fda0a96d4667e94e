using System.Buffers;
using System.Diagnostics;
using System.Globalization;
using System.Text;
using Confluent.Kafka;
using DataMesh.Avro;
using DataMesh.Hosting;
using DataMesh.Pipelines.Transforms;
using DataMesh.Schemas;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace DataMesh.Pipelines;

/// <summary>
/// A pipeline from Kafka topics through transforms to Kafka topics, at least once: a consumer group reads the source
/// topics, each record's schema is looked up by its id and the transform chain planned once per schema (a new schema
/// version is planned when it first arrives, without a restart), the output schema is registered under
/// <c>&lt;target&gt;-value</c>, and records are written with the Confluent header and the original key by an idempotent
/// producer. A source offset is committed only after the target acknowledged every record before it (or the record was
/// filtered out or dead-lettered), so a restart resumes from the committed offsets and may repeat records, never skip them.
/// </summary>
/// <remarks>
/// One task reads all assigned partitions in order and hands records to the producer, which keeps the order of each key
/// (records of one key stay in one source partition and go to one target partition). At most
/// <see cref="PipelineOptions.MaxInFlight"/> records wait for acknowledgement; reading pauses beyond that. Tombstones
/// (null values) go to the target topic unchanged. Records that are not in the Confluent wire format, whose schema cannot
/// be found or planned, or that a transform rejects go to the dead-letter topic (see <see cref="DeadLetterHeaders"/>) or
/// stop the pipeline (<see cref="PipelineOptions.OnError"/>).
/// </remarks>
public sealed class KafkaPipeline
{
    private static readonly TimeSpan PollTimeout = TimeSpan.FromMilliseconds(100);
    private static readonly TimeSpan DrainTimeout = TimeSpan.FromSeconds(30);

    private readonly PipelineOptions _options;
    private readonly KafkaConnection _kafka;
    private readonly ISchemaStore _schemas;
    private readonly ILogger _logger;
    private readonly TransformChain _chain;
    private readonly Dictionary<int, SchemaPlan> _plans = [];
    private readonly Dictionary<TopicPartition, PartitionTracker> _trackers = [];
    private readonly HashSet<string> _topics = new(StringComparer.Ordinal);
    private readonly ArrayBufferWriter<byte> _scratch = new(4096);
    private SemaphoreSlim? _slots;
    private Exception? _fault;
    private long _records;

    /// <summary>Creates a pipeline; nothing connects until <see cref="RunAsync"/>.</summary>
    /// <param name="options">The settings (validated here).</param>
    /// <param name="kafka">The Kafka connection.</param>
    /// <param name="schemas">The schema store that holds the source schemas and receives the output schemas.</param>
    /// <param name="logger">A logger, or null.</param>
    /// <exception cref="ArgumentException">A setting is invalid.</exception>
    public KafkaPipeline(PipelineOptions options, KafkaConnection kafka, ISchemaStore schemas, ILogger<KafkaPipeline>? logger = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(kafka);
        ArgumentNullException.ThrowIfNull(schemas);
        options.Validate();
        _options = options;
        _kafka = kafka;
        _schemas = schemas;
        _logger = (ILogger?)logger ?? NullLogger.Instance;
        _chain = new TransformChain(options.Transforms);
    }

    /// <summary>The settings.</summary>
    public PipelineOptions Options => _options;

    /// <summary>The number of records read so far.</summary>
    public long RecordsRead => Interlocked.Read(ref _records);

    /// <summary>
    /// Runs until <paramref name="cancellationToken"/> is cancelled, then drains: waits (up to 30 s) for the target to
    /// acknowledge what was sent, commits the offsets of what is done, and leaves the group.
    /// </summary>
    /// <param name="cancellationToken">Stops the pipeline gracefully.</param>
    /// <returns>A task that completes when the pipeline has stopped.</returns>
    /// <exception cref="PipelineException">A record was rejected under <see cref="ErrorHandling.Stop"/>, or the target failed.</exception>
    public async Task RunAsync(CancellationToken cancellationToken)
    {
        await EnsureTopicAsync(_options.TargetTopic, cancellationToken).ConfigureAwait(false);
        if (_options.OnError == ErrorHandling.DeadLetter)
        {
            await EnsureTopicAsync(_options.EffectiveDeadLetterTopic, cancellationToken).ConfigureAwait(false);
        }

        using var slots = new SemaphoreSlim(_options.MaxInFlight, _options.MaxInFlight);
        _slots = slots;
        using var producer = new ProducerBuilder<byte[]?, byte[]?>(_kafka.CreateProducerConfig()).Build();
        var consumerConfig = _kafka.CreateConsumerConfig(_options.EffectiveGroupId);
        foreach (var (name, value) in _options.ConsumerSettings)
        {
            consumerConfig.Set(name, value);
        }

        using var consumer = new ConsumerBuilder<byte[]?, byte[]?>(consumerConfig)
            .SetErrorHandler((_, error) => PipelineLog.ConsumerError(_logger, _options.Name, error.Reason))
            .SetPartitionsRevokedHandler((c, partitions) => OnRevoked(c, producer, partitions))
            .Build();
        consumer.Subscribe(_options.SourceTopics);
        PipelineLog.Started(_logger, _options.Name, string.Join(", ", _options.SourceTopics), _options.TargetTopic, _options.EffectiveGroupId);
        try
        {
            // The blocking Consume runs on a task of its own.
            await Task.Factory.StartNew(() => ReadAsync(consumer, producer, cancellationToken), CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default)
                .Unwrap().ConfigureAwait(false);
        }
        finally
        {
            producer.Flush(DrainTimeout);
            Commit(consumer, null);
            consumer.Close();
            PipelineLog.Stopped(_logger, _options.Name, RecordsRead);
        }

        ThrowIfFaulted();
    }

    private async Task ReadAsync(IConsumer<byte[]?, byte[]?> consumer, IProducer<byte[]?, byte[]?> producer, CancellationToken cancellationToken)
    {
        var nextCommit = Stopwatch.GetTimestamp() + (long)(_options.CommitInterval.TotalSeconds * Stopwatch.Frequency);
        while (!cancellationToken.IsCancellationRequested)
        {
            ThrowIfFaulted();
            if (Stopwatch.GetTimestamp() >= nextCommit)
            {
                Commit(consumer, null);
                nextCommit = Stopwatch.GetTimestamp() + (long)(_options.CommitInterval.TotalSeconds * Stopwatch.Frequency);
            }

            try
            {
                // Backpressure: wait for a slot, i.e. for the target to acknowledge older records.
                if (!await _slots!.WaitAsync(PollTimeout, cancellationToken).ConfigureAwait(false))
                {
                    continue;
                }
            }
            catch (OperationCanceledException)
            {
                break;
            }

            ConsumeResult<byte[]?, byte[]?>? result;
            try
            {
                result = consumer.Consume(PollTimeout);
            }
            catch (ConsumeException e)
            {
                _slots.Release();
                PipelineLog.ConsumerError(_logger, _options.Name, e.Error.Reason);
                continue;
            }

            if (result?.Message is null)
            {
                _slots.Release();
                continue;
            }

            Interlocked.Increment(ref _records);
            PipelineMetrics.InFlight.Add(1);
            if (!_trackers.TryGetValue(result.TopicPartition, out var tracker))
            {
                tracker = new PartitionTracker();
                _trackers[result.TopicPartition] = tracker;
            }

            tracker.Read(result.Offset.Value);
            await ProcessAsync(result, tracker, producer, cancellationToken).ConfigureAwait(false);
        }
    }

    private async Task ProcessAsync(ConsumeResult<byte[]?, byte[]?> result, PartitionTracker tracker, IProducer<byte[]?, byte[]?> producer, CancellationToken cancellationToken)
    {
        var message = result.Message;
        if (message.Value is null)
        {
            Send(producer, _options.TargetTopic, message.Key, null, null, result, tracker, "tombstone");
            return;
        }

        if (!ConfluentWireFormat.TryReadHeader(message.Value, out var schemaId, out _))
        {
            Reject(producer, result, tracker, "schema", "the value is not in the Confluent wire format (magic byte 0 and a 4-byte schema id)");
            return;
        }

        var plan = await GetPlanAsync(schemaId, cancellationToken).ConfigureAwait(false);
        if (plan.Chain is not { } chain)
        {
            Reject(producer, result, tracker, "schema", plan.Error!);
            return;
        }

        var context = default(RecordContext);
        TransformOutcome outcome;
        var started = Stopwatch.GetTimestamp();
        _scratch.ResetWrittenCount();
        try
        {
            outcome = chain.Execute(message.Value.AsSpan(ConfluentWireFormat.HeaderLength), _scratch, ref context);
        }
        catch (TransformException e)
        {
            Reject(producer, result, tracker, e.Stage ?? "transform", e.Message);
            return;
        }
        finally
        {
            PipelineMetrics.TransformDuration.Record(Stopwatch.GetElapsedTime(started).TotalSeconds, new KeyValuePair<string, object?>("pipeline", _options.Name));
        }

        switch (outcome)
        {
            case TransformOutcome.Drop:
                PipelineMetrics.Count(_options.Name, "dropped");
                Done(tracker, result.Offset.Value);
                return;
            case TransformOutcome.Tombstone:
                Send(producer, context.Topic ?? _options.TargetTopic, message.Key, null, null, result, tracker, "tombstone");
                return;
        }

        var topic = context.Topic ?? _options.TargetTopic;
        int outputId;
        try
        {
            if (context.Topic is not null)
            {
                await EnsureTopicAsync(topic, cancellationToken).ConfigureAwait(false);
            }

            outputId = await GetOutputIdAsync(plan, topic, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (e is SchemaIncompatibleException or KafkaException or TimeoutException)
        {
            Reject(producer, result, tracker, "schema", $"the output schema cannot be registered for '{topic}': {e.Message}");
            return;
        }

        var value = new byte[ConfluentWireFormat.HeaderLength + _scratch.WrittenCount];
        ConfluentWireFormat.WriteHeader(value, outputId);
        _scratch.WrittenSpan.CopyTo(value.AsSpan(ConfluentWireFormat.HeaderLength));
        Send(producer, topic, message.Key, value, null, result, tracker, "emitted");
    }

    private void Reject(IProducer<byte[]?, byte[]?> producer, ConsumeResult<byte[]?, byte[]?> result, PartitionTracker tracker, string stage, string reason)
    {
        if (_options.OnError == ErrorHandling.Stop)
        {
            PipelineLog.StoppedOnError(_logger, _options.Name, result.Topic, result.Partition.Value, result.Offset.Value, stage, reason);
            throw new PipelineException($"Pipeline '{_options.Name}' stopped on {result.Topic}[{result.Partition.Value}]@{result.Offset.Value} at stage '{stage}': {reason}");
        }

        PipelineLog.DeadLettered(_logger, _options.Name, result.Topic, result.Partition.Value, result.Offset.Value, stage, reason);
        var headers = new Headers
        {
            { DeadLetterHeaders.Reason, Encoding.UTF8.GetBytes(reason.Length > 2000 ? reason[..2000] : reason) },
            { DeadLetterHeaders.Stage, Encoding.UTF8.GetBytes(stage) },
            { DeadLetterHeaders.Pipeline, Encoding.UTF8.GetBytes(_options.Name) },
            { DeadLetterHeaders.Topic, Encoding.UTF8.GetBytes(result.Topic) },
            { DeadLetterHeaders.Partition, Encoding.UTF8.GetBytes(result.Partition.Value.ToString(CultureInfo.InvariantCulture)) },
            { DeadLetterHeaders.Offset, Encoding.UTF8.GetBytes(result.Offset.Value.ToString(CultureInfo.InvariantCulture)) },
        };
        Send(producer, _options.EffectiveDeadLetterTopic, result.Message.Key, result.Message.Value, headers, result, tracker, "dead_lettered");
    }

    private void Send(IProducer<byte[]?, byte[]?> producer, string topic, byte[]? key, byte[]? value, Headers? headers, ConsumeResult<byte[]?, byte[]?> result, PartitionTracker tracker, string outcome)
    {
        var offset = result.Offset.Value;
        producer.Produce(topic, new Message<byte[]?, byte[]?> { Key = key, Value = value, Headers = headers }, report =>
        {
            if (report.Error.IsError)
            {
                Interlocked.CompareExchange(ref _fault, new PipelineException($"Pipeline '{_options.Name}' could not write to '{topic}': {report.Error.Reason}"), null);
                return;
            }

            PipelineMetrics.Count(_options.Name, outcome);
            Done(tracker, offset);
        });
    }

    private void Done(PartitionTracker tracker, long offset)
    {
        tracker.Done(offset);
        PipelineMetrics.InFlight.Add(-1);
        _slots!.Release();
    }

    private async ValueTask<SchemaPlan> GetPlanAsync(int schemaId, CancellationToken cancellationToken)
    {
        if (_plans.TryGetValue(schemaId, out var plan))
        {
            return plan;
        }

        try
        {
            var schema = await _schemas.GetByIdAsync(schemaId, cancellationToken).ConfigureAwait(false);
            if (schema is not global::Avro.RecordSchema record)
            {
                plan = new SchemaPlan(null, $"schema {schemaId} is a {schema.Tag}, not a record");
            }
            else
            {
                var chain = _chain.Plan(record);
                PipelineLog.Planned(_logger, _options.Name, schemaId, record.Fullname, chain.Stages.Count, chain.OutputSchema.Fullname);
                plan = new SchemaPlan(chain, null);
            }
        }
        catch (Exception e) when (e is KeyNotFoundException or TransformPlanException or FormatException)
        {
            plan = new SchemaPlan(null, $"schema {schemaId}: {e.Message}");
        }

        _plans[schemaId] = plan;
        return plan;
    }

    private async ValueTask<int> GetOutputIdAsync(SchemaPlan plan, string topic, CancellationToken cancellationToken)
    {
        if (plan.OutputIds.TryGetValue(topic, out var id))
        {
            return id;
        }

        id = await _schemas.RegisterAsync(topic + "-value", plan.Chain!.OutputSchema, cancellationToken).ConfigureAwait(false);
        plan.OutputIds[topic] = id;
        return id;
    }

    private async ValueTask EnsureTopicAsync(string topic, CancellationToken cancellationToken)
    {
        if (_topics.Add(topic))
        {
            await _kafka.EnsureTopicAsync(topic, _options.TargetPartitions, TopicRetention.Default, cancellationToken).ConfigureAwait(false);
        }
    }

    private void OnRevoked(IConsumer<byte[]?, byte[]?> consumer, IProducer<byte[]?, byte[]?> producer, List<TopicPartitionOffset> partitions)
    {
        PipelineLog.Revoked(_logger, _options.Name, string.Join(", ", partitions.Select(p => p.TopicPartition.ToString())));
        producer.Flush(DrainTimeout);
        var revoked = partitions.Select(p => p.TopicPartition).ToHashSet();
        Commit(consumer, revoked);
        foreach (var partition in revoked)
        {
            _trackers.Remove(partition);
        }
    }

    private void Commit(IConsumer<byte[]?, byte[]?> consumer, HashSet<TopicPartition>? only)
    {
        var offsets = new List<TopicPartitionOffset>();
        var taken = new List<PartitionTracker>();
        foreach (var (partition, tracker) in _trackers)
        {
            if ((only is null || only.Contains(partition)) && tracker.TryTakeCommit(out var offset))
            {
                offsets.Add(new TopicPartitionOffset(partition, offset));
                taken.Add(tracker);
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

    /// <summary>The plan of one source schema id, or why there is none; output schema ids by target topic.</summary>
    private sealed class SchemaPlan(PlannedChain? chain, string? error)
    {
        public PlannedChain? Chain { get; } = chain;

        public string? Error { get; } = error;

        public Dictionary<string, int> OutputIds { get; } = new(StringComparer.Ordinal);
    }
}
