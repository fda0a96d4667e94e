namespace DataMesh.Hosting;

/// <summary>Where DataMesh's Kafka is and how to reach it.</summary>
public sealed class KafkaOptions
{
    /// <summary>
    /// The cluster's bootstrap servers, <c>host:port</c> separated by commas. Leave empty to run the embedded
    /// in-process cluster (librdkafka's mock cluster; see <see cref="DataMesh.Kafka.EmbeddedKafkaCluster"/>), which
    /// keeps everything in memory (topics, schemas, source positions and consumer offsets are lost when the process ends)
    /// and at most 5 MB per partition, and is meant for demos, tests and development: it logs a warning when it starts.
    /// </summary>
    public string? BootstrapServers { get; set; }

    /// <summary>Brokers of the embedded cluster, 1 to 32. Default 1. Used only when <see cref="BootstrapServers"/> is empty.</summary>
    public int EmbeddedBrokers { get; set; } = 1;

    /// <summary>
    /// librdkafka settings applied to every client DataMesh creates, after its own defaults: TLS and SASL
    /// (<c>security.protocol</c>, <c>ssl.ca.location</c>, <c>sasl.mechanism</c>, <c>sasl.username</c>,
    /// <c>sasl.password</c> ...) or tuning (<c>linger.ms</c>, <c>compression.type</c> ...). DataMesh's own readers (the
    /// schema store's, the reads of its topics to their end) set their <c>fetch.wait.max.ms</c> over these; other consumers
    /// on the embedded cluster get 10 ms before these.
    /// </summary>
    public IDictionary<string, string> Settings { get; } = new Dictionary<string, string>(StringComparer.Ordinal);

    /// <summary>
    /// Whether DataMesh creates the topics it needs (table topics, positions, schemas) when they are missing. Turn it off
    /// where the cluster's topics are managed elsewhere (no admin rights): the topics must then exist, or be created by
    /// the brokers' auto-creation. Default true.
    /// </summary>
    public bool CreateTopics { get; set; } = true;

    /// <summary>How long a client may wait for the cluster before DataMesh reports it unreachable: more than 0, at most 1
    /// hour. Default 30 seconds.</summary>
    public TimeSpan RequestTimeout { get; set; } = TimeSpan.FromSeconds(30);
}
