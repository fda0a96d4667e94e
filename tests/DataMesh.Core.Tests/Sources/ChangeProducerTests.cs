using System.Text;
using Confluent.Kafka;
using DataMesh.Hosting;
using DataMesh.Sources;
using Xunit;

namespace DataMesh.Tests.Sources;

public sealed class ChangeProducerTests
{
    [Fact]
    public async Task A_checkpoint_is_acknowledged_only_after_every_event_before_it()
    {
        using var kafka = new KafkaConnection(new KafkaOptions());
        var cluster = kafka.EmbeddedCluster!;
        var topic = "sink-" + Guid.NewGuid().ToString("N");
        cluster.CreateTopic(topic, 3);
        using var sink = new ChangeProducer<string>(kafka);

        Assert.False(sink.TryTakeAcknowledged(out _));
        // The only broker is down: nothing can be acknowledged, so no checkpoint may be taken.
        cluster.SetBrokerDown(1);
        for (var i = 0; i < 50; i++)
        {
            await sink.ProduceAsync(topic, Encoding.UTF8.GetBytes("k" + (i % 7)), Encoding.UTF8.GetBytes("v" + i), null, CancellationToken.None);
        }

        sink.Checkpoint("100");
        await Task.Delay(500);
        Assert.False(sink.TryTakeAcknowledged(out _));
        Assert.Equal(50, sink.InFlight);

        cluster.SetBrokerUp(1);
        for (var i = 50; i < 80; i++)
        {
            await sink.ProduceAsync(topic, null, Encoding.UTF8.GetBytes("v" + i), null, CancellationToken.None);
        }

        sink.Checkpoint("200");
        await sink.FlushAsync(new CancellationTokenSource(TimeSpan.FromSeconds(60)).Token);
        Assert.True(sink.TryTakeAcknowledged(out var position));
        Assert.Equal("200", position);
        Assert.False(sink.TryTakeAcknowledged(out _));
        Assert.Equal(80, sink.Acknowledged);

        // Every event arrived exactly once (idempotent producer) and keys kept their order per partition.
        using var consumer = new ConsumerBuilder<string?, string>(kafka.CreateConsumerConfig(null)).Build();
        consumer.Assign(Enumerable.Range(0, 3).Select(p => new TopicPartitionOffset(topic, p, Offset.Beginning)));
        var seen = new List<string>();
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (seen.Count < 80 && DateTime.UtcNow < deadline)
        {
            if (consumer.Consume(TimeSpan.FromMilliseconds(200)) is { } result)
            {
                seen.Add(result.Message.Value);
            }
        }

        Assert.Equal(Enumerable.Range(0, 80).Select(i => "v" + i).Order(), seen.Order());
    }

    [Fact]
    public async Task Checkpoints_wait_in_bounded_memory_while_Kafka_is_away_and_empty_ones_cost_nothing()
    {
        using var kafka = new KafkaConnection(new KafkaOptions());
        var cluster = kafka.EmbeddedCluster!;
        var topic = "bounded-" + Guid.NewGuid().ToString("N");
        cluster.CreateTopic(topic, 1);
        using var producer = new ChangeProducer<string>(kafka);
        cluster.SetBrokerDown(1);

        // A log of transactions that capture nothing: each checkpoint replaces the last one's position.
        for (var i = 0; i < 100_000; i++)
        {
            producer.Checkpoint("empty" + i);
        }

        Assert.Equal(0, producer.OpenCheckpoints);
        Assert.True(producer.TryTakeAcknowledged(out var position));
        Assert.Equal("empty99999", position);

        // Transactions with records: at most MaxOpenCheckpoints groups wait; later positions go to the group being filled.
        for (var i = 0; i < 3 * ChangeProducer<string>.MaxOpenCheckpoints; i++)
        {
            await producer.ProduceAsync(topic, null, Encoding.UTF8.GetBytes("v" + i), null, CancellationToken.None);
            producer.Checkpoint("t" + i);
            producer.Checkpoint("t" + i + "-after-an-empty-one");
        }

        Assert.Equal(ChangeProducer<string>.MaxOpenCheckpoints, producer.OpenCheckpoints);
        Assert.False(producer.TryTakeAcknowledged(out _));

        cluster.SetBrokerUp(1);
        await producer.FlushAsync(new CancellationTokenSource(TimeSpan.FromSeconds(60)).Token);
        Assert.True(producer.TryTakeAcknowledged(out position));
        // The last checkpoint was absorbed by the group being filled: it becomes safe once that group is closed, which a
        // drained producer does whatever the room (a retry restarts from it, never from an earlier one).
        producer.CloseAbsorbed(force: true);
        Assert.True(producer.TryTakeAcknowledged(out position));
        Assert.Equal($"t{(3 * ChangeProducer<string>.MaxOpenCheckpoints) - 1}-after-an-empty-one", position);
        Assert.Equal(0, producer.OpenCheckpoints);
    }

    [Fact]
    public async Task Positions_are_saved_and_loaded_per_source()
    {
        using var kafka = new KafkaConnection(new KafkaOptions());
        var topic = "positions-" + Guid.NewGuid().ToString("N");
        using (var store = new PositionStore(kafka, topic))
        {
            Assert.Null(await store.LoadAsync("pg1", CancellationToken.None));
            await store.SaveAsync("pg1", "{\"lsn\":1}", CancellationToken.None);
            await store.SaveAsync("mysql1", "{\"file\":\"b.000001\"}", CancellationToken.None);
            await store.SaveAsync("pg1", "{\"lsn\":2}", CancellationToken.None);
        }

        using var reopened = new PositionStore(kafka, topic);
        Assert.Equal("{\"lsn\":2}", await reopened.LoadAsync("pg1", CancellationToken.None));
        Assert.Equal("{\"file\":\"b.000001\"}", await reopened.LoadAsync("mysql1", CancellationToken.None));
        await reopened.SaveAsync("pg1", null, CancellationToken.None);
        Assert.Null(await reopened.LoadAsync("pg1", CancellationToken.None));
    }
}
