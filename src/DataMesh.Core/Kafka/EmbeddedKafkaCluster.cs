using System.Globalization;
using Confluent.Kafka;

namespace DataMesh.Kafka;

/// <summary>
/// An in-process Kafka cluster: librdkafka's mock cluster (the one <c>test.mock.num.brokers</c> starts), with
/// its brokers listening on 127.0.0.1 so that any Kafka client on the machine (Confluent.Kafka, kcat, Java
/// clients) can reach it through <see cref="BootstrapServers"/>. It is the embedded default for the demo and
/// the tests; it keeps everything in memory and is gone when disposed.
/// </summary>
/// <remarks>
/// <para>
/// The cluster is created with <c>rd_kafka_mock_cluster_new</c> on a private, never-connecting librdkafka
/// handle that this type owns, inside the librdkafka build that Confluent.Kafka loaded (found through
/// <c>/proc/self/maps</c>; Linux only). No Confluent.Kafka internals are touched.
/// </para>
/// <para>What the mock supports (librdkafka 2.x, checked by this project's tests):</para>
/// <list type="bullet">
/// <item><description>produce, including idempotent producers (retries after injected errors do not duplicate);</description></item>
/// <item><description>consume with <c>Assign</c> and with consumer groups (subscribe, rebalance, offset commits);</description></item>
/// <item><description>metadata, so <c>kcat -L</c> and <c>GetMetadata</c> list brokers and topics;</description></item>
/// <item><description><c>QueryWatermarkOffsets</c> and the offsets returned in delivery reports;</description></item>
/// <item><description>fault injection: brokers down and up (<see cref="SetBrokerDown"/>), request errors
/// (<see cref="PushRequestErrors"/>), round-trip delays (<see cref="SetBrokerRoundTripTime"/>).</description></item>
/// </list>
/// <para>What it does not support, so that DataMesh code keeps off it:</para>
/// <list type="bullet">
/// <item><description>the admin API's CreateTopics and most other admin requests time out: create topics with
/// <see cref="CreateTopic"/>. An unknown topic that a client asks for is auto-created with the mock's default
/// partition count, so create topics before producing when the partition count matters;</description></item>
/// <item><description>the admin client's <c>ListOffsetsAsync</c> and <c>ListConsumerGroupOffsetsAsync</c> crash the
/// process: never call them against this cluster (use <c>QueryWatermarkOffsets</c> and <c>Committed</c>);</description></item>
/// <item><description>transactions are not isolated: do not rely on <c>read_committed</c> to hide aborted records;</description></item>
/// <item><description>topics created here carry no configuration (retention, compaction): nothing is compacted;</description></item>
/// <item><description>each partition keeps at most 5 MB (or 100,000 produce batches) of records; older records are dropped
/// from its start, as retention would (a limit compiled into librdkafka's mock: <c>rd_kafka_mock_partition_init</c> sets it
/// and no exported function changes it). Spread large volumes over more partitions, read while writing, or use a real
/// cluster; a consumer with <c>auto.offset.reset=error</c> notices a gap. DataMesh's pipelines, position store and schema
/// store stop with an error naming the lost offsets rather than read past them;</description></item>
/// <item><description>a broker that is down does not move partition leadership: its partitions are unavailable until it
/// is up again, whatever the replication factor.</description></item>
/// </list>
/// <para>The cluster is thread-safe. Dispose the clients that use it before disposing it.</para>
/// </remarks>
public sealed class EmbeddedKafkaCluster : IDisposable
{
    private readonly Lock _gate = new();
    private readonly LibRdKafkaMock _native;
    private nint _owner;
    private nint _cluster;

    /// <summary>
    /// Gives a client of this cluster DataMesh's settings for it, before the user's own (which override them):
    /// <c>reconnect.backoff.ms</c> 10 (librdkafka's default 100). librdkafka spaces a new client's first connections to the
    /// cluster by half that backoff, so each client it creates waited about 50 ms before its first request to a broker
    /// that is in the same process; with 10 it waits about 11 ms. A broker set down (<see cref="SetBrokerDown"/>) is then
    /// retried sooner, with the same exponential growth up to <c>reconnect.backoff.max.ms</c>.
    /// </summary>
    /// <param name="config">A producer's, consumer's or admin client's settings.</param>
    internal static void ApplyClientDefaults(ClientConfig config)
    {
        ArgumentNullException.ThrowIfNull(config);
        config.ReconnectBackoffMs = 10;
    }

    private EmbeddedKafkaCluster(LibRdKafkaMock native, nint owner, nint cluster, int brokers)
    {
        _native = native;
        _owner = owner;
        _cluster = cluster;
        BrokerCount = brokers;
        BootstrapServers = native.Bootstraps(cluster);
        if (string.IsNullOrEmpty(BootstrapServers))
        {
            throw new InvalidOperationException("The embedded Kafka cluster started but reported no bootstrap servers.");
        }
    }

    /// <summary>The brokers' addresses, <c>host:port</c> separated by commas (all on 127.0.0.1).</summary>
    public string BootstrapServers { get; }

    /// <summary>The number of brokers; their ids are 1 to <see cref="BrokerCount"/>.</summary>
    public int BrokerCount { get; }

    /// <summary>The path of the native librdkafka build that runs the cluster.</summary>
    public string NativeLibraryPath => _native.LibraryPath;

    /// <summary>Starts a cluster of <paramref name="brokers"/> brokers, with ids 1 to <paramref name="brokers"/>.</summary>
    /// <param name="brokers">The number of brokers, 1 to 32.</param>
    /// <returns>The running cluster; dispose it to stop it.</returns>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="brokers"/> is not between 1 and 32.</exception>
    /// <exception cref="InvalidOperationException">librdkafka could not be found or the cluster could not start.</exception>
    public static EmbeddedKafkaCluster Start(int brokers = 1)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(brokers, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(brokers, 32);

        var native = LibRdKafkaMock.Instance;
        var owner = native.CreateOwnerHandle();
        var cluster = native.ClusterNew(owner, brokers);
        if (cluster == 0)
        {
            native.DestroyHandle(owner);
            throw new InvalidOperationException(
                $"rd_kafka_mock_cluster_new failed to start {brokers.ToString(CultureInfo.InvariantCulture)} broker(s) " +
                $"(librdkafka at '{native.LibraryPath}'); see the librdkafka log on stderr.");
        }

        try
        {
            return new EmbeddedKafkaCluster(native, owner, cluster, brokers);
        }
        catch
        {
            native.ClusterDestroy(cluster);
            native.DestroyHandle(owner);
            throw;
        }
    }

    /// <summary>
    /// Creates a topic with the mock's native call (the admin API's CreateTopics is not supported by the mock).
    /// </summary>
    /// <param name="name">The topic name.</param>
    /// <param name="partitions">The number of partitions, at least 1.</param>
    /// <param name="replicationFactor">The replication factor, 1 to <see cref="BrokerCount"/>.</param>
    /// <exception cref="InvalidOperationException">The topic exists already or the mock refused it.</exception>
    public void CreateTopic(string name, int partitions, int replicationFactor = 1)
    {
        var error = TryCreate(name, partitions, replicationFactor);
        if (error != ErrorCode.NoError)
        {
            throw new InvalidOperationException(
                $"The embedded Kafka cluster could not create topic '{name}' ({partitions.ToString(CultureInfo.InvariantCulture)} " +
                $"partitions, replication factor {replicationFactor.ToString(CultureInfo.InvariantCulture)}): {error}.");
        }
    }

    /// <summary>Creates a topic unless a topic of that name exists already.</summary>
    /// <param name="name">The topic name.</param>
    /// <param name="partitions">The number of partitions if it is created, at least 1.</param>
    /// <param name="replicationFactor">The replication factor if it is created, 1 to <see cref="BrokerCount"/>.</param>
    /// <returns><see langword="true"/> if this call created the topic; <see langword="false"/> if it existed.</returns>
    /// <remarks>An existing topic keeps its partition count, which may differ from <paramref name="partitions"/>.</remarks>
    /// <exception cref="InvalidOperationException">The mock refused the topic for another reason.</exception>
    public bool EnsureTopic(string name, int partitions, int replicationFactor = 1)
    {
        var error = TryCreate(name, partitions, replicationFactor);
        return error switch
        {
            ErrorCode.NoError => true,
            ErrorCode.TopicAlreadyExists => false,
            _ => throw new InvalidOperationException(
                $"The embedded Kafka cluster could not create topic '{name}': {error}."),
        };
    }

    /// <summary>
    /// Takes a broker down: its connections are closed and new ones refused. Partition leadership does not move.
    /// </summary>
    /// <param name="brokerId">The broker id, 1 to <see cref="BrokerCount"/>, or -1 for every broker.</param>
    public void SetBrokerDown(int brokerId) =>
        Check(brokerId, static (n, c, id) => n.BrokerSetDown(c, id), "set broker {0} down");

    /// <summary>Brings a broker back up: it accepts connections again.</summary>
    /// <param name="brokerId">The broker id, 1 to <see cref="BrokerCount"/>, or -1 for every broker.</param>
    public void SetBrokerUp(int brokerId) =>
        Check(brokerId, static (n, c, id) => n.BrokerSetUp(c, id), "set broker {0} up");

    /// <summary>Delays every response of a broker by <paramref name="roundTripTime"/>.</summary>
    /// <param name="brokerId">The broker id, 1 to <see cref="BrokerCount"/>, or -1 for every broker.</param>
    /// <param name="roundTripTime">The delay, from zero to one hour.</param>
    public void SetBrokerRoundTripTime(int brokerId, TimeSpan roundTripTime)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(roundTripTime, TimeSpan.Zero);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(roundTripTime, TimeSpan.FromHours(1));
        var ms = (int)roundTripTime.TotalMilliseconds;
        Check(brokerId, (n, c, id) => n.BrokerSetRtt(c, id, ms), "set the round-trip time of broker {0}");
    }

    /// <summary>
    /// Makes the next requests of type <paramref name="apiKey"/>, on any broker, fail with <paramref name="errors"/>,
    /// one error per request, in order. <see cref="ErrorCode.Local_Transport"/> makes the broker drop the connection.
    /// </summary>
    /// <param name="apiKey">The request type.</param>
    /// <param name="errors">The errors, in the order the requests will get them.</param>
    public void PushRequestErrors(KafkaApiKey apiKey, params ErrorCode[] errors)
    {
        ArgumentNullException.ThrowIfNull(errors);
        if (errors.Length == 0)
        {
            return;
        }

        lock (_gate)
        {
            _native.PushRequestErrors(Cluster(), (short)apiKey, errors);
        }
    }

    /// <summary>Removes the errors still pushed for <paramref name="apiKey"/>.</summary>
    /// <param name="apiKey">The request type.</param>
    public void ClearRequestErrors(KafkaApiKey apiKey)
    {
        lock (_gate)
        {
            _native.ClearRequestErrors(Cluster(), (short)apiKey);
        }
    }

    /// <summary>
    /// Deletes the records of a partition before <paramref name="beforeOffset"/>, as retention (or the mock's 5 MB limit)
    /// would: the partition's low watermark moves to the first kept record. For tests of what DataMesh does when records
    /// it needed are gone.
    /// </summary>
    /// <param name="topic">The topic.</param>
    /// <param name="partition">The partition.</param>
    /// <param name="beforeOffset">The first offset to keep, at most the partition's high watermark.</param>
    /// <exception cref="InvalidOperationException">The mock refused (unknown topic or partition, offset out of range).</exception>
    internal void DeleteRecords(string topic, int partition, long beforeOffset)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(topic);
        ErrorCode error;
        lock (_gate)
        {
            error = _native.PartitionDeleteRecords(Cluster(), topic, partition, beforeOffset);
        }

        if (error != ErrorCode.NoError)
        {
            throw new InvalidOperationException(
                $"The embedded Kafka cluster could not delete the records of '{topic}' [{partition.ToString(CultureInfo.InvariantCulture)}] " +
                $"before offset {beforeOffset.ToString(CultureInfo.InvariantCulture)}: {error}.");
        }
    }

    /// <summary>Deletes a topic, its records and its committed offsets (a topic of the same name can then be created anew).</summary>
    /// <param name="topic">The topic.</param>
    /// <exception cref="InvalidOperationException">The mock refused (unknown topic).</exception>
    internal void DeleteTopic(string topic)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(topic);
        ErrorCode error;
        lock (_gate)
        {
            error = _native.TopicDelete(Cluster(), topic);
        }

        if (error != ErrorCode.NoError)
        {
            throw new InvalidOperationException($"The embedded Kafka cluster could not delete topic '{topic}': {error}.");
        }
    }

    /// <summary>Stops the brokers and frees the cluster. Clients still connected see their connections close.</summary>
    public void Dispose()
    {
        lock (_gate)
        {
            if (_cluster != 0)
            {
                _native.ClusterDestroy(_cluster);
                _cluster = 0;
            }

            if (_owner != 0)
            {
                _native.DestroyHandle(_owner);
                _owner = 0;
            }
        }
    }

    private ErrorCode TryCreate(string name, int partitions, int replicationFactor)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        ArgumentOutOfRangeException.ThrowIfLessThan(partitions, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(replicationFactor, 1);
        if (replicationFactor > BrokerCount)
        {
            throw new ArgumentOutOfRangeException(
                nameof(replicationFactor),
                replicationFactor,
                $"The replication factor cannot exceed the cluster's {BrokerCount.ToString(CultureInfo.InvariantCulture)} broker(s).");
        }

        lock (_gate)
        {
            return _native.TopicCreate(Cluster(), name, partitions, replicationFactor);
        }
    }

    private void Check(int brokerId, Func<LibRdKafkaMock, nint, int, ErrorCode> call, string what)
    {
        if (brokerId != -1 && (brokerId < 1 || brokerId > BrokerCount))
        {
            throw new ArgumentOutOfRangeException(
                nameof(brokerId),
                brokerId,
                $"Broker ids are 1 to {BrokerCount.ToString(CultureInfo.InvariantCulture)}, or -1 for all brokers.");
        }

        ErrorCode error;
        lock (_gate)
        {
            error = call(_native, Cluster(), brokerId);
        }

        if (error != ErrorCode.NoError)
        {
            throw new InvalidOperationException(
                "The embedded Kafka cluster could not " +
                string.Format(CultureInfo.InvariantCulture, what, brokerId) + $": {error}.");
        }
    }

    private nint Cluster()
    {
        ObjectDisposedException.ThrowIf(_cluster == 0, this);
        return _cluster;
    }
}
