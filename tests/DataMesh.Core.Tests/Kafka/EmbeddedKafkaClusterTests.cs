using System.Diagnostics;
using System.Text;
using Confluent.Kafka;
using DataMesh.Kafka;
using Xunit;

namespace DataMesh.Tests.Kafka;

public sealed class EmbeddedKafkaClusterTests
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(30);

    private static string NewTopic(string what) => $"dm-test-{what}-{Guid.NewGuid():N}";

    private static IProducer<string, string> Producer(EmbeddedKafkaCluster cluster, int messageTimeoutMs = 30_000) =>
        new ProducerBuilder<string, string>(new ProducerConfig
        {
            BootstrapServers = cluster.BootstrapServers,
            EnableIdempotence = true,
            Acks = Acks.All,
            LingerMs = 1,
            MessageTimeoutMs = messageTimeoutMs,
            RetryBackoffMs = 50,
            RetryBackoffMaxMs = 200,
            ReconnectBackoffMs = 50,
            ReconnectBackoffMaxMs = 200,
        }).SetLogHandler(static (_, _) => { }).Build();

    private static List<ConsumeResult<string, string>> ConsumeAll(EmbeddedKafkaCluster cluster, string topic, int expected, string? groupId = null)
    {
        using var consumer = new ConsumerBuilder<string, string>(new ConsumerConfig
        {
            BootstrapServers = cluster.BootstrapServers,
            GroupId = groupId ?? "dm-test-" + Guid.NewGuid().ToString("N"),
            AutoOffsetReset = AutoOffsetReset.Earliest,
            EnableAutoCommit = false,
            FetchWaitMaxMs = 20,
        }).SetLogHandler(static (_, _) => { }).Build();
        consumer.Subscribe(topic);
        var results = new List<ConsumeResult<string, string>>();
        var deadline = Stopwatch.StartNew();
        while (results.Count < expected && deadline.Elapsed < Wait)
        {
            var result = consumer.Consume(TimeSpan.FromMilliseconds(200));
            if (result is not null && !result.IsPartitionEOF)
            {
                results.Add(result);
            }
        }

        consumer.Commit();
        consumer.Close();
        return results;
    }

    [Fact]
    public void Start_reports_bootstrap_servers_on_loopback()
    {
        using var cluster = EmbeddedKafkaCluster.Start(3);

        var servers = cluster.BootstrapServers.Split(',');
        Assert.Equal(3, servers.Length);
        Assert.All(servers, s => Assert.StartsWith("127.0.0.1:", s, StringComparison.Ordinal));
        Assert.Contains("librdkafka", cluster.NativeLibraryPath, StringComparison.Ordinal);
    }

    [Fact]
    public void Topic_with_three_partitions_round_trips_through_an_idempotent_producer_and_a_consumer_group()
    {
        using var cluster = EmbeddedKafkaCluster.Start(3);
        var topic = NewTopic("roundtrip");
        cluster.CreateTopic(topic, partitions: 3, replicationFactor: 3);

        using (var admin = new AdminClientBuilder(new AdminClientConfig { BootstrapServers = cluster.BootstrapServers }).Build())
        {
            // Metadata works on the mock (unlike CreateTopics / ListOffsets).
            var metadata = admin.GetMetadata(topic, TimeSpan.FromSeconds(10));
            Assert.Equal(3, Assert.Single(metadata.Topics).Partitions.Count);
        }

        using (var producer = Producer(cluster))
        {
            for (var i = 0; i < 30; i++)
            {
                producer.Produce(topic, new Message<string, string> { Key = "k" + i, Value = "v" + i });
            }

            Assert.Equal(0, producer.Flush(Wait));
        }

        var consumed = ConsumeAll(cluster, topic, 30);
        Assert.Equal(30, consumed.Count);
        Assert.Equal(3, consumed.Select(r => r.Partition.Value).Distinct().Count());
        Assert.Equal(Enumerable.Range(0, 30).Select(i => "v" + i).Order(), consumed.Select(r => r.Message.Value).Order());
        Assert.All(consumed, r => Assert.Equal("v" + r.Message.Key[1..], r.Message.Value));
    }

    [Fact]
    public void CreateTopic_refuses_a_second_topic_of_the_same_name_and_EnsureTopic_accepts_it()
    {
        using var cluster = EmbeddedKafkaCluster.Start();
        var topic = NewTopic("twice");

        cluster.CreateTopic(topic, 1);

        var error = Assert.Throws<InvalidOperationException>(() => cluster.CreateTopic(topic, 1));
        Assert.Contains(topic, error.Message, StringComparison.Ordinal);
        Assert.False(cluster.EnsureTopic(topic, 1));
        Assert.True(cluster.EnsureTopic(topic + "-other", 2));
        Assert.Throws<ArgumentOutOfRangeException>(() => cluster.CreateTopic(NewTopic("rf"), 1, replicationFactor: 2));
    }

    [Fact]
    public async Task Kcat_lists_the_topic()
    {
        var kcat = FindOnPath("kcat");
        Assert.True(kcat is not null, "kcat is not installed: run ./build.sh test, which installs it (apt-get install -y kcat).");

        using var cluster = EmbeddedKafkaCluster.Start(2);
        var topic = NewTopic("kcat");
        cluster.CreateTopic(topic, 3, 2);

        var start = new ProcessStartInfo(kcat!, ["-b", cluster.BootstrapServers, "-L", "-t", topic, "-m", "10"])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        using var process = Process.Start(start)!;
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(20));
        var stdout = process.StandardOutput.ReadToEndAsync(timeout.Token);
        var stderr = process.StandardError.ReadToEndAsync(timeout.Token);
        await process.WaitForExitAsync(timeout.Token);
        Assert.True(process.ExitCode == 0, $"kcat -L failed ({process.ExitCode}): {await stderr}");
        var listing = await stdout;
        Assert.Contains($"topic \"{topic}\" with 3 partitions", listing, StringComparison.Ordinal);
        Assert.Contains("2 brokers", listing, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Broker_down_fails_delivery_after_the_message_timeout_and_broker_up_lets_delivery_complete()
    {
        using var cluster = EmbeddedKafkaCluster.Start();
        var topic = NewTopic("down");
        cluster.CreateTopic(topic, 1);
        using var producer = Producer(cluster, messageTimeoutMs: 1_500);
        Assert.Equal(0, (await producer.ProduceAsync(topic, new Message<string, string> { Key = "a", Value = "before" }).WaitAsync(Wait)).Offset.Value);

        cluster.SetBrokerDown(1);
        var produceError = await Assert.ThrowsAsync<ProduceException<string, string>>(() =>
            producer.ProduceAsync(topic, new Message<string, string> { Key = "a", Value = "lost" }).WaitAsync(Wait));
        Assert.Equal(ErrorCode.Local_MsgTimedOut, produceError.Error.Code);

        // A message produced while the broker is down waits, and is delivered once the broker is up again.
        using var patient = Producer(cluster, messageTimeoutMs: 30_000);
        var pending = patient.ProduceAsync(topic, new Message<string, string> { Key = "a", Value = "after" });
        await Task.Delay(500);
        Assert.False(pending.IsCompleted);
        cluster.SetBrokerUp(1);
        var delivered = await pending.WaitAsync(Wait);
        Assert.Equal(PersistenceStatus.Persisted, delivered.Status);

        var values = ConsumeAll(cluster, topic, 2).Select(r => r.Message.Value).ToList();
        Assert.Equal(["before", "after"], values);
    }

    [Fact]
    public async Task Pushed_produce_errors_are_retried_by_an_idempotent_producer_without_duplicates()
    {
        using var cluster = EmbeddedKafkaCluster.Start();
        var topic = NewTopic("errors");
        cluster.CreateTopic(topic, 1);
        using var producer = Producer(cluster);
        await producer.ProduceAsync(topic, new Message<string, string> { Key = "k", Value = "warm-up" }).WaitAsync(Wait);

        cluster.PushRequestErrors(
            KafkaApiKey.Produce,
            ErrorCode.NotEnoughReplicas,
            ErrorCode.RequestTimedOut,
            ErrorCode.Local_Transport);
        var deliveries = Enumerable.Range(0, 10)
            .Select(i => producer.ProduceAsync(topic, new Message<string, string> { Key = "k", Value = "m" + i }))
            .ToArray();
        var results = await Task.WhenAll(deliveries).WaitAsync(Wait);
        Assert.All(results, r => Assert.Equal(PersistenceStatus.Persisted, r.Status));

        var values = ConsumeAll(cluster, topic, 11).Select(r => r.Message.Value).ToList();
        Assert.Equal(["warm-up", .. Enumerable.Range(0, 10).Select(i => "m" + i)], values);
    }

    [Fact]
    public async Task Pushed_non_retriable_error_is_reported_to_the_producer()
    {
        using var cluster = EmbeddedKafkaCluster.Start();
        var topic = NewTopic("fatal");
        cluster.CreateTopic(topic, 1);
        using var producer = new ProducerBuilder<string, string>(new ProducerConfig
        {
            BootstrapServers = cluster.BootstrapServers,
            MessageTimeoutMs = 10_000,
        }).SetLogHandler(static (_, _) => { }).Build();
        await producer.ProduceAsync(topic, new Message<string, string> { Key = "k", Value = "ok" }).WaitAsync(Wait);

        cluster.PushRequestErrors(KafkaApiKey.Produce, ErrorCode.MsgSizeTooLarge);
        var failed = await Assert.ThrowsAsync<ProduceException<string, string>>(() =>
            producer.ProduceAsync(topic, new Message<string, string> { Key = "k", Value = "too big" }).WaitAsync(Wait));
        Assert.Equal(ErrorCode.MsgSizeTooLarge, failed.Error.Code);

        var again = await producer.ProduceAsync(topic, new Message<string, string> { Key = "k", Value = "ok again" }).WaitAsync(Wait);
        Assert.Equal(PersistenceStatus.Persisted, again.Status);
    }

    [Fact]
    public void Methods_refuse_unknown_brokers_and_a_disposed_cluster()
    {
        var cluster = EmbeddedKafkaCluster.Start(2);
        Assert.Throws<ArgumentOutOfRangeException>(() => cluster.SetBrokerDown(3));
        Assert.Throws<ArgumentOutOfRangeException>(() => cluster.SetBrokerUp(0));
        cluster.SetBrokerDown(-1);
        cluster.SetBrokerUp(-1);
        cluster.Dispose();
        cluster.Dispose();
        Assert.Throws<ObjectDisposedException>(() => cluster.CreateTopic(NewTopic("disposed"), 1));
        Assert.Throws<ObjectDisposedException>(() => cluster.PushRequestErrors(KafkaApiKey.Produce, ErrorCode.NotLeaderForPartition));
    }

    [Fact]
    public async Task Messages_are_readable_as_utf8_by_a_plain_assign_consumer()
    {
        using var cluster = EmbeddedKafkaCluster.Start();
        var topic = NewTopic("assign");
        cluster.CreateTopic(topic, 1);
        using (var producer = Producer(cluster))
        {
            await producer.ProduceAsync(topic, new Message<string, string> { Key = "ключ", Value = "значение" }).WaitAsync(Wait);
        }

        using var consumer = new ConsumerBuilder<byte[], byte[]>(new ConsumerConfig
        {
            BootstrapServers = cluster.BootstrapServers,
            GroupId = "unused-" + Guid.NewGuid().ToString("N"),
            EnableAutoCommit = false,
        }).SetLogHandler(static (_, _) => { }).Build();
        var partition = new TopicPartition(topic, 0);
        var watermarks = consumer.QueryWatermarkOffsets(partition, TimeSpan.FromSeconds(10));
        Assert.Equal(1, watermarks.High.Value);
        consumer.Assign(new TopicPartitionOffset(partition, Offset.Beginning));
        var result = consumer.Consume(Wait);
        Assert.Equal("значение", Encoding.UTF8.GetString(result.Message.Value));
    }

    [Fact]
    public async Task Records_past_5_MB_are_dropped_from_the_start_and_a_consumer_with_reset_error_reports_the_gap()
    {
        using var cluster = EmbeddedKafkaCluster.Start();
        var topic = NewTopic("limit");
        cluster.CreateTopic(topic, 1);
        var partition = new TopicPartition(topic, 0);
        using (var producer = Producer(cluster))
        {
            // 8 MB in 80 records of 100 KB, each acknowledged before the next (one record per produce request).
            var value = new string('x', 100_000);
            for (var i = 0; i < 80; i++)
            {
                await producer.ProduceAsync(partition, new Message<string, string> { Key = "k", Value = value }).WaitAsync(Wait);
            }
        }

        using var consumer = new ConsumerBuilder<string, string>(new ConsumerConfig
        {
            BootstrapServers = cluster.BootstrapServers,
            GroupId = "dm-test-" + Guid.NewGuid().ToString("N"),
            EnableAutoCommit = false,
            AutoOffsetReset = AutoOffsetReset.Error,
        }).SetLogHandler(static (_, _) => { }).Build();
        var watermarks = consumer.QueryWatermarkOffsets(partition, Wait);
        Assert.Equal(80, watermarks.High.Value);
        Assert.InRange(watermarks.Low.Value, 20, 40); // about 5 MB kept

        // Reading from an offset that was dropped fails (no silent jump to the low watermark).
        consumer.Assign(new TopicPartitionOffset(partition, 10));
        var error = Assert.Throws<ConsumeException>(() => consumer.Consume(Wait));
        Assert.Equal(ErrorCode.Local_AutoOffsetReset, error.Error.Code);
        Assert.Equal(partition, error.ConsumerRecord.TopicPartition);
        Assert.Equal(10, error.ConsumerRecord.Offset.Value);

        cluster.DeleteRecords(topic, 0, 79);
        Assert.Equal(79, consumer.QueryWatermarkOffsets(partition, Wait).Low.Value);
        cluster.DeleteTopic(topic);
        cluster.CreateTopic(topic, 1);
        Assert.Equal(0, consumer.QueryWatermarkOffsets(partition, Wait).High.Value);
    }

    private static string? FindOnPath(string name) =>
        (Environment.GetEnvironmentVariable("PATH") ?? string.Empty)
            .Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries)
            .Select(dir => Path.Combine(dir, name))
            .FirstOrDefault(File.Exists);
}
