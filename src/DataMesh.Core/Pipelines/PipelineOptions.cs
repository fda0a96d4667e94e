using DataMesh.Pipelines.Transforms;

namespace DataMesh.Pipelines;

/// <summary>What a pipeline does with a record that a transform or the target rejects.</summary>
public enum ErrorHandling
{
    /// <summary>The record goes to <see cref="PipelineOptions.DeadLetterTopic"/> with the reason in its headers, and the pipeline goes on.</summary>
    DeadLetter,

    /// <summary>The pipeline stops with a <see cref="PipelineException"/>; the record's offset is not committed, so a restart meets it again.</summary>
    Stop,
}

/// <summary>Settings of one pipeline: Kafka source topics, transforms, and a sink (a Kafka topic by default).</summary>
public sealed class PipelineOptions
{
    /// <summary>The pipeline's name, used in logs, metrics and dead-letter headers.</summary>
    public string Name { get; set; } = string.Empty;

    /// <summary>The topics read (change events or other Avro records in the Confluent wire format). A name that starts with
    /// <c>^</c> is a regular expression: every topic it matches is read, a topic created later within about 5 seconds (the
    /// consumer then refreshes the topics every 5 seconds unless <see cref="ConsumerSettings"/> or the host's settings set
    /// <c>topic.metadata.refresh.interval.ms</c>).</summary>
    public IList<string> SourceTopics { get; } = [];

    /// <summary>The consumer group; offsets are committed to it. Defaults to <c>datamesh-pipeline-&lt;Name&gt;</c>.</summary>
    public string? GroupId { get; set; }

    /// <summary>
    /// The topic records go to unless a route transform names another. Required with the default Kafka sink; with another
    /// <see cref="Sink"/> it is the records' logical destination (a database sink maps it to a table) and defaults to the
    /// topic each record was read from.
    /// </summary>
    public string? TargetTopic { get; set; }

    /// <summary>
    /// Where records go: null (the default) for a <see cref="Sinks.KafkaSink"/> writing to <see cref="TargetTopic"/>
    /// (created with <see cref="TargetPartitions"/> partitions), or any <see cref="Sinks.PipelineSink"/>, for example a
    /// database table or a JSON Lines file. The pipeline starts the sink on each run; the application owns (disposes) a
    /// sink it sets here.
    /// </summary>
    public Sinks.PipelineSink? Sink { get; set; }

    /// <summary>The transforms, in order.</summary>
    public IList<Transform> Transforms { get; } = [];

    /// <summary>What happens to a record that cannot be transformed or written; <see cref="ErrorHandling.DeadLetter"/> by default.</summary>
    public ErrorHandling OnError { get; set; }

    /// <summary>
    /// The dead-letter topic; defaults to <c>&lt;TargetTopic&gt;.dlq</c>, or <c>&lt;Name&gt;.dlq</c> without a target topic. In a
    /// pipeline whose transforms mask columns, dead letters hold the record masked (key and value), or leave out what cannot be
    /// masked (see <see cref="DeadLetterHeaders.Withheld"/>).
    /// </summary>
    public string? DeadLetterTopic { get; set; }

    /// <summary>
    /// Only for a pipeline whose transforms mask columns: a topic that also receives every dead letter exactly as it was
    /// read, unmasked, so that it can be replayed after a fix. It holds the personal data the masks hide: restrict who may
    /// read it (Kafka ACLs) as for the source topics, and keep it no longer than needed (<c>retention.ms</c>). Null (the
    /// default) keeps no unmasked copy. Without masks it is not used: the dead-letter topic holds the records as read.
    /// </summary>
    public string? UnmaskedDeadLetterTopic { get; set; }

    /// <summary>Partitions of the target and dead-letter topics when the pipeline creates them; 1 by default.</summary>
    public int TargetPartitions { get; set; } = 1;

    /// <summary>
    /// Workers that transform and write records in parallel; each source partition is given to one worker, so the order of
    /// each partition (and so of each key) is kept. The processor count, at most 8, by default.
    /// </summary>
    public int Workers { get; set; } = Math.Clamp(Environment.ProcessorCount, 1, 8);

    /// <summary>The most records a worker hands to the sink in one batch; 1 000 by default.</summary>
    public int MaxBatchSize { get; set; } = 1_000;

    /// <summary>
    /// The bytes of records read and waiting in a worker's pipe; reading pauses beyond it (backpressure), so memory stays
    /// bounded by about <c>Workers × WorkerBufferBytes</c>, plus the batches' output. A frame stays in the pipe until its
    /// batch is written, so this also bounds what a worker can have in flight to the sink. 8 MiB by default.
    /// </summary>
    public int WorkerBufferBytes { get; set; } = 8 * 1024 * 1024;

    /// <summary>How many times a batch that the sink failed is tried again (with backoff, from 200 ms doubling to 10 s) before the pipeline stops; 5 by default.</summary>
    public int SinkRetries { get; set; } = 5;

    /// <summary>How often processed offsets are committed; 1 second by default. Offsets are also committed on stop and on rebalance.</summary>
    public TimeSpan CommitInterval { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>
    /// How long the consumer group waits for a member that stopped answering (a process killed, a host gone) before its
    /// partitions move to the other members: <c>session.timeout.ms</c>, with heartbeats every third of it (at most every
    /// 3 seconds). Null (the default) means 10 seconds unless the host's <see cref="Hosting.KafkaOptions.Settings"/> name a
    /// <c>session.timeout.ms</c> (Kafka's own default is 45 seconds); from 6 seconds (brokers refuse less unless their
    /// <c>group.min.session.timeout.ms</c> allows it) to 5 minutes (librdkafka's <c>max.poll.interval.ms</c>). A member
    /// that stops gracefully leaves at once. <see cref="ConsumerSettings"/> override it; under <c>group.protocol=consumer</c>
    /// the broker sets the session and this is not used.
    /// </summary>
    public TimeSpan? SessionTimeout { get; set; }

    /// <summary>
    /// librdkafka settings for the pipeline's consumer, applied over DataMesh's (for example <c>max.poll.interval.ms</c>).
    /// <c>auto.offset.reset</c> is the pipeline's own: a partition without a committed offset starts from its earliest
    /// record, and a committed offset no longer in the log stops the pipeline.
    /// </summary>
    public IDictionary<string, string> ConsumerSettings { get; } = new Dictionary<string, string>(StringComparer.Ordinal);

    internal static readonly TimeSpan DefaultSessionTimeout = TimeSpan.FromSeconds(10);

    /// <summary>How often the consumer of a pipeline with a topic pattern (<c>^dm\.shop\..*</c>) reads the cluster's topics
    /// unless <c>topic.metadata.refresh.interval.ms</c> is set: a topic created after the start that matches is read within
    /// about this (and a rebalance), where librdkafka's default waits up to 5 minutes.</summary>
    internal static readonly TimeSpan PatternMetadataRefreshInterval = TimeSpan.FromSeconds(5);

    internal static readonly TimeSpan MinSessionTimeout = TimeSpan.FromSeconds(6);

    internal static readonly TimeSpan MaxSessionTimeout = TimeSpan.FromMinutes(5);

    /// <summary>The consumer group, with its default.</summary>
    public string EffectiveGroupId => GroupOf(Name, GroupId);

    /// <summary>A pipeline's consumer group: the one given, else <c>datamesh-pipeline-&lt;name&gt;</c>.</summary>
    internal static string GroupOf(string name, string? groupId) => groupId ?? "datamesh-pipeline-" + name;

    /// <summary>The dead-letter topic, with its default.</summary>
    public string EffectiveDeadLetterTopic => DeadLetterTopic ?? (string.IsNullOrWhiteSpace(TargetTopic) ? Name : TargetTopic) + ".dlq";

    /// <summary>Checks the settings.</summary>
    /// <exception cref="ArgumentException">A setting is missing or out of range; the message names it.</exception>
    public void Validate()
    {
        if (string.IsNullOrWhiteSpace(Name))
        {
            throw new ArgumentException("PipelineOptions.Name is required.");
        }

        if (SourceTopics.Count == 0 || SourceTopics.Any(string.IsNullOrWhiteSpace))
        {
            throw new ArgumentException($"PipelineOptions.SourceTopics of pipeline '{Name}' must name at least one topic, and no empty one.");
        }

        if (Sink is null && string.IsNullOrWhiteSpace(TargetTopic))
        {
            throw new ArgumentException($"PipelineOptions.TargetTopic of pipeline '{Name}' is required with the default Kafka sink.");
        }

        if ((Sink is null && SourceTopics.Contains(TargetTopic!)) || SourceTopics.Contains(EffectiveDeadLetterTopic))
        {
            throw new ArgumentException($"PipelineOptions.TargetTopic and DeadLetterTopic of pipeline '{Name}' must differ from its source topics.");
        }

        if (UnmaskedDeadLetterTopic is { } unmasked
            && (string.IsNullOrWhiteSpace(unmasked) || SourceTopics.Contains(unmasked) || unmasked == TargetTopic || unmasked == EffectiveDeadLetterTopic))
        {
            throw new ArgumentException(
                $"PipelineOptions.UnmaskedDeadLetterTopic of pipeline '{Name}' must be a topic of its own, not empty and not a source, target or dead-letter topic: it holds records unmasked.");
        }

        if (TargetPartitions < 1 || Workers < 1 || MaxBatchSize < 1 || SinkRetries < 0)
        {
            throw new ArgumentException($"PipelineOptions.TargetPartitions, Workers and MaxBatchSize of pipeline '{Name}' must be at least 1, and SinkRetries at least 0.");
        }

        if (WorkerBufferBytes < 64 * 1024)
        {
            throw new ArgumentException($"PipelineOptions.WorkerBufferBytes of pipeline '{Name}' must be at least 65536, not {WorkerBufferBytes}.");
        }

        if (ConsumerSettings.ContainsKey("auto.offset.reset"))
        {
            throw new ArgumentException(
                $"PipelineOptions.ConsumerSettings of pipeline '{Name}' must not set auto.offset.reset: the pipeline starts a partition the group has " +
                "no offset for from its earliest record, and stops when records it had not read were deleted (docs/pipelines.md).");
        }

        if (CommitInterval <= TimeSpan.Zero)
        {
            throw new ArgumentException($"PipelineOptions.CommitInterval of pipeline '{Name}' must be positive.");
        }

        if (SessionTimeout is { } session && (session < MinSessionTimeout || session > MaxSessionTimeout))
        {
            throw new ArgumentException($"PipelineOptions.SessionTimeout of pipeline '{Name}' must be from 6 seconds to 5 minutes, not {session}.");
        }
    }
}
