using Confluent.Kafka;
using DataMesh.Hosting;
using Xunit;

namespace DataMesh.Tests.Kafka;

/// <summary><see cref="KafkaConnection.RequestProducerId"/>: its metadata requests run beside the producer on a thread of
/// their own, so a producer disposed while they wait must neither fail nor take the process down (they use the producer's
/// native handle).</summary>
public sealed class ProducerIdsTests
{
    [Fact]
    public async Task Producers_disposed_at_once_after_their_early_id_request_are_disposed_cleanly_and_later_ones_still_deliver()
    {
        using var kafka = new KafkaConnection(new KafkaOptions());
        await kafka.EnsureTopicAsync("ids", 1, TopicRetention.Default, CancellationToken.None);
        for (var i = 0; i < 20; i++)
        {
            // Disposed while the requests are in flight, or before they start: both must be harmless.
            var producer = new ProducerBuilder<byte[], byte[]>(kafka.CreateProducerConfig()).Build();
            kafka.RequestProducerId(producer, "ids");
            if (i % 2 == 1)
            {
                await Task.Delay(i);
            }

            producer.Dispose();
        }

        await Task.Delay(500); // the requests of the last ones end meanwhile
        using var last = new ProducerBuilder<byte[], byte[]>(kafka.CreateProducerConfig()).Build();
        kafka.RequestProducerId(last, "ids");
        var delivered = await last.ProduceAsync("ids", new Message<byte[], byte[]> { Key = [1], Value = [2] });
        Assert.Equal(PersistenceStatus.Persisted, delivered.Status);
    }

    [Fact]
    public async Task A_producer_whose_cluster_does_not_answer_is_disposed_while_its_early_id_request_waits()
    {
        // Nothing listens on port 9 of this host: the requests wait for their timeout, the producer goes first.
        using var kafka = new KafkaConnection(new KafkaOptions { BootstrapServers = "127.0.0.1:9", RequestTimeout = TimeSpan.FromSeconds(2) });
        var producer = new ProducerBuilder<byte[], byte[]>(kafka.CreateProducerConfig()).Build();
        kafka.RequestProducerId(producer, "ids");
        await Task.Delay(200);
        producer.Dispose();
        // Past the request's timeout: it returns on a disposed producer's handle. This fails by taking the test host down
        // (a native handle used after its release) or by an exception escaping here.
        await Task.Delay(2500);
        Assert.Throws<ArgumentException>(() => kafka.RequestProducerId(producer, string.Empty)); // and a topic is required
    }
}
