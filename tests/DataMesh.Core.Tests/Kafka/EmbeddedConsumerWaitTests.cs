using System.Diagnostics;
using Confluent.Kafka;
using DataMesh.Hosting;
using Xunit;

namespace DataMesh.Tests.Kafka;

/// <summary>Consumers built from DataMesh's settings on the embedded cluster, whose broker (librdkafka's mock) answers a
/// fetch waiting at a partition's end only when the fetch's wait is over.</summary>
public sealed class EmbeddedConsumerWaitTests
{
    [Fact]
    public async Task A_record_produced_to_a_caught_up_consumer_arrives_without_waiting_out_a_long_fetch()
    {
        using var kafka = new KafkaConnection(new KafkaOptions());
        var topic = "dm-test-wait-" + Guid.NewGuid().ToString("N");
        await kafka.EnsureTopicAsync(topic, 1, TopicRetention.Default, CancellationToken.None);
        using var producer = new ProducerBuilder<byte[]?, byte[]?>(kafka.CreateProducerConfig()).Build();
        using var consumer = new ConsumerBuilder<byte[]?, byte[]?>(kafka.CreateConsumerConfig(null)).Build();
        consumer.Assign(new TopicPartitionOffset(topic, 0, 0)); // a new topic: its end is offset 0, no lookup needed
        Assert.Null(consumer.Consume(300)); // caught up: its fetch now waits at the end

        var latencies = new List<double>();
        for (var i = 0; i < 10; i++)
        {
            await Task.Delay(37);
            var sent = Stopwatch.GetTimestamp();
            await producer.ProduceAsync(topic, new Message<byte[]?, byte[]?> { Value = BitConverter.GetBytes(sent) });
            ConsumeResult<byte[]?, byte[]?>? result;
            do
            {
                result = consumer.Consume(TimeSpan.FromSeconds(10));
            }
            while (result is not null && BitConverter.ToInt64(result.Message.Value) != sent);

            Assert.NotNull(result);
            latencies.Add(Stopwatch.GetElapsedTime(sent).TotalMilliseconds);
        }

        // With librdkafka's default fetch.wait.max.ms (500) every record arrived about 460 ms after it was sent; with
        // DataMesh's 10 ms about 12 ms. The bound leaves room for a loaded machine.
        latencies.Sort();
        Assert.True(latencies[latencies.Count / 2] < 150, $"median {latencies[latencies.Count / 2]:F0} ms from produce to consume: {string.Join(", ", latencies.Select(l => l.ToString("F0")))}");
    }

    [Fact]
    public void The_users_fetch_wait_wins_over_the_embedded_default()
    {
        var options = new KafkaOptions();
        options.Settings["fetch.wait.max.ms"] = "250";
        using var kafka = new KafkaConnection(options);
        Assert.Equal(250, kafka.CreateConsumerConfig(null).FetchWaitMaxMs);
        using var plain = new KafkaConnection(new KafkaOptions());
        Assert.Equal(10, plain.CreateConsumerConfig(null).FetchWaitMaxMs);
        using var real = new KafkaConnection(new KafkaOptions { BootstrapServers = "localhost:1" });
        Assert.Null(real.CreateConsumerConfig(null).FetchWaitMaxMs); // a broker answers a waiting fetch when a record arrives
    }
}
