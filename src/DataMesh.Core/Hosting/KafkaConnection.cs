using Confluent.Kafka;
using Confluent.Kafka.Admin;
using DataMesh.Kafka;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace DataMesh.Hosting;

/// <summary>How a topic keeps its records.</summary>
public enum TopicRetention
{
    /// <summary>The cluster's default retention.</summary>
    Default,

    /// <summary>Compacted: the last record of each key is kept forever (positions, schema history, table topics).</summary>
    Compacted,

    /// <summary>Every record kept forever (the schema store's log).</summary>
    Forever,
}

/// <summary>
/// The Kafka cluster that DataMesh's clients use: the configured one, or the embedded cluster started on first
/// use and stopped when this connection is disposed. It builds client settings with DataMesh's defaults and the
/// user's <see cref="KafkaOptions.Settings"/>, and creates topics.
/// </summary>
public sealed class KafkaConnection : IDisposable
{
    private readonly KafkaOptions _options;
    private readonly ILogger _logger;
    private readonly Lazy<EmbeddedKafkaCluster?> _embedded;
    private readonly Lazy<IAdminClient> _metadata;

    /// <summary>What the shared admin client last saw go wrong with a connection, for the message of a request without an
    /// answer.</summary>
    private volatile string? _lastFailure;

    /// <summary>Creates a connection; the embedded cluster, if used, starts on first use.</summary>
    /// <param name="options">The settings.</param>
    public KafkaConnection(KafkaOptions options)
        : this(options, null)
    {
    }

    /// <summary>
    /// Creates a connection that logs through <paramref name="logger"/>; the embedded cluster, if used, starts on first
    /// use, with a warning that it keeps nothing beyond the process and at most 5 MB per partition.
    /// </summary>
    /// <param name="options">The settings.</param>
    /// <param name="logger">A logger, or null.</param>
    public KafkaConnection(KafkaOptions options, ILogger<KafkaConnection>? logger)
    {
        ArgumentNullException.ThrowIfNull(options);
        _options = options;
        ILogger log = logger ?? (ILogger)NullLogger.Instance;
        _logger = log;
        _embedded = new Lazy<EmbeddedKafkaCluster?>(
            () =>
            {
                if (!string.IsNullOrWhiteSpace(options.BootstrapServers))
                {
                    return null;
                }

                var cluster = EmbeddedKafkaCluster.Start(options.EmbeddedBrokers);
                HostingLog.EmbeddedClusterStarted(log, cluster.BrokerCount, cluster.BootstrapServers);
                return cluster;
            },
            LazyThreadSafetyMode.ExecutionAndPublication);
        _metadata = new Lazy<IAdminClient>(() => new AdminClientBuilder(CreateAdminConfig()).SetLogHandler((_, m) => _lastFailure = KafkaAdmin.Failure(m) ?? _lastFailure).Build(), LazyThreadSafetyMode.ExecutionAndPublication);
    }

    /// <summary>Whether this connection runs the embedded cluster.</summary>
    public bool IsEmbedded => string.IsNullOrWhiteSpace(_options.BootstrapServers);

    /// <summary>The embedded cluster (started on first access), or null when a real cluster is configured.</summary>
    public EmbeddedKafkaCluster? EmbeddedCluster => _embedded.Value;

    /// <summary>The bootstrap servers of the cluster in use.</summary>
    public string BootstrapServers => _embedded.Value?.BootstrapServers ?? _options.BootstrapServers!;

    /// <summary>The settings this connection was made with.</summary>
    public KafkaOptions Options => _options;

    /// <summary>Settings for a producer that never loses or reorders what it was given: idempotent,
    /// acknowledged by all in-sync replicas, then the user's settings.</summary>
    public ProducerConfig CreateProducerConfig()
    {
        var config = new ProducerConfig
        {
            BootstrapServers = BootstrapServers,
            EnableIdempotence = true,
            Acks = Acks.All,
            MaxInFlight = 5,
            LingerMs = 5,
            MessageTimeoutMs = 0, // retry until delivered; a stored position never moves past an unacknowledged event
            SocketTimeoutMs = Milliseconds(_options.RequestTimeout),
        };
        Apply(config);
        return config;
    }

    /// <summary>Settings for a consumer that commits offsets only when told to.</summary>
    /// <param name="groupId">The consumer group, or null for a consumer that only assigns partitions.</param>
    public ConsumerConfig CreateConsumerConfig(string? groupId)
    {
        var config = new ConsumerConfig
        {
            BootstrapServers = BootstrapServers,
            GroupId = groupId ?? "datamesh-unused-" + Guid.NewGuid().ToString("N"),
            EnableAutoCommit = false,
            EnableAutoOffsetStore = false,
            AutoOffsetReset = AutoOffsetReset.Earliest,
            EnablePartitionEof = false,
            SocketTimeoutMs = Milliseconds(_options.RequestTimeout),
        };
        if (IsEmbedded)
        {
            // The embedded cluster answers a fetch waiting at a partition's end only when its wait is over: with librdkafka's
            // 500 ms, a caught-up pipeline saw each new record about half a second late (before the user's settings).
            config.FetchWaitMaxMs = ReaderFetchWait.EmbeddedConsumer;
        }

        Apply(config);
        return config;
    }

    /// <summary>Settings for an admin client.</summary>
    public AdminClientConfig CreateAdminConfig()
    {
        var config = new AdminClientConfig { BootstrapServers = BootstrapServers, SocketTimeoutMs = Milliseconds(_options.RequestTimeout) };
        Apply(config);
        return config;
    }

    /// <summary>Creates a topic if it does not exist. On the embedded cluster through its native call; elsewhere
    /// through the admin API, with the retention asked for. Does nothing when <see cref="KafkaOptions.CreateTopics"/> is off.</summary>
    /// <param name="topic">The topic.</param>
    /// <param name="partitions">Its partition count when created.</param>
    /// <param name="retention">How it keeps records when created.</param>
    /// <param name="cancellationToken">Cancels the wait.</param>
    /// <returns>True when this call created it.</returns>
    /// <exception cref="TimeoutException">The cluster did not answer within <see cref="KafkaOptions.RequestTimeout"/>: no
    /// broker at the bootstrap servers, or only the admin API (then the message says to create the topics beforehand and
    /// turn <see cref="KafkaOptions.CreateTopics"/> off). The message names the servers and the settings to check.</exception>
    /// <exception cref="InvalidOperationException">The cluster refused to create the topic (authorisation, policy).</exception>
    public async Task<bool> EnsureTopicAsync(string topic, int partitions, TopicRetention retention, CancellationToken cancellationToken)
    {
        ArgumentException.ThrowIfNullOrEmpty(topic);
        ArgumentOutOfRangeException.ThrowIfLessThan(partitions, 1);
        if (!_options.CreateTopics)
        {
            return false;
        }

        if (_embedded.Value is { } embedded)
        {
            return embedded.EnsureTopic(topic, partitions);
        }

        var configs = retention switch
        {
            TopicRetention.Compacted => new Dictionary<string, string> { ["cleanup.policy"] = "compact" },
            TopicRetention.Forever => new Dictionary<string, string> { ["cleanup.policy"] = "delete", ["retention.ms"] = "-1", ["retention.bytes"] = "-1" },
            _ => null,
        };
        return await CreateTopicAsync(topic, partitions, configs, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Creates a topic with the given configuration if it does not exist (the embedded cluster keeps no
    /// configuration); what <see cref="EnsureTopicAsync"/> does, for the controller's planned topics.</summary>
    internal async Task<bool> CreateTopicAsync(string topic, int partitions, Dictionary<string, string>? configs, CancellationToken cancellationToken)
    {
        if (_embedded.Value is { } embedded)
        {
            return embedded.EnsureTopic(topic, partitions);
        }

        // Asked first, of the connection's own client (KafkaAdmin would build a client for the question: a source of
        // hundreds of tables asks it for each): a topic that exists needs no admin API.
        try
        {
            if ((await ListTopicsAsync(cancellationToken).ConfigureAwait(false)).ContainsKey(topic))
            {
                return false;
            }
        }
        catch (InvalidOperationException ex) when (ex.InnerException is { } inner && KafkaAdmin.IsNoAnswer(inner) && !cancellationToken.IsCancellationRequested)
        {
            // No answer to metadata within the request timeout: said at once, with the settings to check (asking again
            // through the admin call below would wait the timeout a second time).
            throw KafkaAdmin.NoAnswer(BootstrapServers, $"listing the topics before creating topic '{topic}'", _options.RequestTimeout, _lastFailure, _options.Settings, inner);
        }
        catch (InvalidOperationException)
        {
            // Another failure of the metadata request: the admin call below says why, with the settings to check.
        }

        return await KafkaAdmin.CreateTopicAsync(
            CreateAdminConfig(),
            _options.Settings,
            new TopicSpecification { Name = topic, NumPartitions = partitions, ReplicationFactor = -1, Configs = configs },
            _options.RequestTimeout,
            _logger,
            cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Every topic of the cluster with its partition count, from one metadata request (which creates nothing).</summary>
    /// <exception cref="InvalidOperationException">The cluster did not answer within <see cref="KafkaOptions.RequestTimeout"/>.</exception>
    internal async Task<IReadOnlyDictionary<string, int>> ListTopicsAsync(CancellationToken cancellationToken)
    {
        try
        {
            var metadata = await Task.Run(() => _metadata.Value.GetMetadata(_options.RequestTimeout), cancellationToken).ConfigureAwait(false);
            return metadata.Topics.Where(t => !t.Error.IsError).ToDictionary(t => t.Topic, t => t.Partitions.Count, StringComparer.Ordinal);
        }
        catch (KafkaException ex)
        {
            throw new InvalidOperationException($"Kafka at {BootstrapServers} did not list its topics within {_options.RequestTimeout.TotalSeconds:0.#} s: {ex.Error.Reason}.", ex);
        }
    }

    /// <summary>The connection's shared admin client (describe and alter topics); owned by the connection.</summary>
    internal IAdminClient Admin => _metadata.Value;

    /// <summary>The number of partitions of an existing topic, from the cluster's metadata.</summary>
    /// <param name="topic">The topic.</param>
    /// <param name="cancellationToken">Cancels the wait.</param>
    /// <returns>Its partition count.</returns>
    /// <exception cref="InvalidOperationException">The topic does not exist, or the cluster did not describe it within
    /// <see cref="KafkaOptions.RequestTimeout"/>; the message names the topic and the servers.</exception>
    public async Task<int> PartitionCountAsync(string topic, CancellationToken cancellationToken)
    {
        ArgumentException.ThrowIfNullOrEmpty(topic);
        try
        {
            // One admin client for every such question (a source registers hundreds of tables at its first start).
            var metadata = await Task.Run(() => _metadata.Value.GetMetadata(topic, _options.RequestTimeout), cancellationToken).ConfigureAwait(false);
            var described = metadata.Topics.FirstOrDefault(t => t.Topic == topic);
            if (described is { Error.IsError: false, Partitions.Count: > 0 })
            {
                return described.Partitions.Count;
            }

            throw new InvalidOperationException($"Kafka at {BootstrapServers} does not describe topic '{topic}' ({described?.Error.Reason ?? "not in the metadata"}); does it exist, and may this client describe it?");
        }
        catch (KafkaException ex)
        {
            throw new InvalidOperationException($"Kafka at {BootstrapServers} did not describe topic '{topic}' within {_options.RequestTimeout.TotalSeconds:0.#} s: {ex.Error.Reason}.", ex);
        }
    }

    /// <inheritdoc />
    public void Dispose()
    {
        if (_metadata.IsValueCreated)
        {
            _metadata.Value.Dispose();
        }

        if (_embedded.IsValueCreated)
        {
            _embedded.Value?.Dispose();
        }
    }

    private void Apply(ClientConfig config)
    {
        if (IsEmbedded)
        {
            EmbeddedKafkaCluster.ApplyClientDefaults(config);
        }

        foreach (var (key, value) in _options.Settings)
        {
            config.Set(key, value);
        }
    }

    private static int Milliseconds(TimeSpan span) => (int)Math.Clamp(span.TotalMilliseconds, 10, int.MaxValue);
}
