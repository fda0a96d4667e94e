using DataMesh.Kafka;

namespace DataMesh.Schemas;

/// <summary>Settings of a <see cref="KafkaSchemaStore"/>.</summary>
public sealed class KafkaSchemaStoreOptions
{
    /// <summary>The default name of the schema topic.</summary>
    public const string DefaultTopic = "_datamesh_schemas";

    /// <summary>
    /// The Kafka cluster's bootstrap servers. Leave empty when <see cref="EmbeddedCluster"/> is set: its
    /// bootstrap servers are used.
    /// </summary>
    public string? BootstrapServers { get; set; }

    /// <summary>
    /// The embedded cluster the store runs on, if any. When set, the schema topic is created with
    /// <see cref="EmbeddedKafkaCluster.EnsureTopic"/> (the mock has no CreateTopics); when not, with the admin
    /// client's CreateTopics, with infinite retention (<c>retention.ms=-1</c>, <c>retention.bytes=-1</c>,
    /// <c>cleanup.policy=delete</c>).
    /// </summary>
    public EmbeddedKafkaCluster? EmbeddedCluster { get; set; }

    /// <summary>
    /// The schema topic; it must have exactly one partition and keep every record (never compacted, no retention): ids are
    /// its offsets, and the store refuses a topic that lost records. Default <c>_datamesh_schemas</c>.
    /// </summary>
    public string Topic { get; set; } = DefaultTopic;

    /// <summary>
    /// Whether the store creates the topic if it does not exist (default <see langword="true"/>). When
    /// <see langword="false"/>, the topic must exist.
    /// </summary>
    public bool CreateTopic { get; set; } = true;

    /// <summary>
    /// The replication factor of a topic the store creates on a real cluster; -1 (the default) takes the
    /// brokers' default. On the embedded cluster the topic gets replication factor 1.
    /// </summary>
    public short ReplicationFactor { get; set; } = -1;

    /// <summary>
    /// The longest any single wait of the store may take: a produce, reading the topic up to a record, a
    /// watermark query, topic creation. Default 30 seconds.
    /// </summary>
    public TimeSpan Timeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// How often a store checks that its topic is still the one it loaded: that the topic has not fewer records than the
    /// store read and that its first record (the genesis record) names the same store. Default 30 seconds; 1 second to
    /// 1 hour. A topic deleted and created again is also noticed when the store reads a record of another store, when
    /// its reader's offset is no longer in the topic, and before every record the store appends (a registration, a
    /// deletion, a compatibility level); this check covers a new topic that holds as many records as the store read,
    /// where the reader sees nothing. A store that notices stops: every later call fails.
    /// </summary>
    public TimeSpan TopicCheckInterval { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// Further librdkafka settings for the store's producer, consumer and admin client (security, client id ...).
    /// Settings the store depends on (idempotence, acks, offsets, its reader's <c>fetch.wait.max.ms</c>) are applied after these.
    /// </summary>
    public IDictionary<string, string> ClientSettings { get; } = new Dictionary<string, string>(StringComparer.Ordinal);

    /// <summary>Whether the store runs on <see cref="EmbeddedCluster"/>: it is given and <see cref="BootstrapServers"/> is
    /// not (which then wins).</summary>
    internal bool UsesEmbeddedCluster => EmbeddedCluster is not null && string.IsNullOrWhiteSpace(BootstrapServers);

    internal string ResolveBootstrapServers()
    {
        if (!string.IsNullOrWhiteSpace(BootstrapServers))
        {
            return BootstrapServers;
        }

        return EmbeddedCluster?.BootstrapServers
            ?? throw new ArgumentException(
                "KafkaSchemaStoreOptions.BootstrapServers must be set unless KafkaSchemaStoreOptions.EmbeddedCluster is.",
                nameof(BootstrapServers));
    }

    internal void Validate()
    {
        ResolveBootstrapServers();
        if (string.IsNullOrWhiteSpace(Topic))
        {
            throw new ArgumentException("KafkaSchemaStoreOptions.Topic must not be empty.", nameof(Topic));
        }

        if (Timeout <= TimeSpan.Zero || Timeout > TimeSpan.FromHours(1))
        {
            throw new ArgumentOutOfRangeException(nameof(Timeout), Timeout, "KafkaSchemaStoreOptions.Timeout must be between zero and one hour.");
        }

        if (TopicCheckInterval < TimeSpan.FromSeconds(1) || TopicCheckInterval > TimeSpan.FromHours(1))
        {
            throw new ArgumentOutOfRangeException(nameof(TopicCheckInterval), TopicCheckInterval, "KafkaSchemaStoreOptions.TopicCheckInterval must be between one second and one hour.");
        }

        if (ReplicationFactor is 0 or < -1)
        {
            throw new ArgumentOutOfRangeException(nameof(ReplicationFactor), ReplicationFactor, "KafkaSchemaStoreOptions.ReplicationFactor must be -1 or at least 1.");
        }
    }
}
