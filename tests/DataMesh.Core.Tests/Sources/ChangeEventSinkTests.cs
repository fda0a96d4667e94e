using System.Text;
using Confluent.Kafka;
using DataMesh.Hosting;
using DataMesh.Sources;
using Xunit;

namespace DataMesh.Tests.Sources;

public sealed class ChangeEventSinkTests
{
    [Fact]
    public async Task A_checkpoint_is_acknowledged_only_after_every_event_before_it()
    {
        using var kafka = new KafkaConnection(new KafkaOptions());
        var cluster = kafka.EmbeddedCluster!;
        var topic = "sink-" + Guid.NewGuid().ToString("N");
        cluster.CreateTopic(topic, 3);
        using var sink = new ChangeEventSink<long>(kafka);

        Assert.False(sink.TryTakeAcknowledged(out _));
        // The only broker is down: nothing can be acknowledged, so no checkpoint may be taken.
        cluster.SetBrokerDown(1);
        for (var i = 0; i < 50; i++)
        {
            await sink.ProduceAsync(topic, Encoding.UTF8.GetBytes("k" + (i % 7)), Encoding.UTF8.GetBytes("v" + i), CancellationToken.None);
        }

        sink.Checkpoint(100);
        await Task.Delay(500);
        Assert.False(sink.TryTakeAcknowledged(out _));
        Assert.Equal(50, sink.InFlight);

        cluster.SetBrokerUp(1);
        for (var i = 50; i < 80; i++)
        {
            await sink.ProduceAsync(topic, null, Encoding.UTF8.GetBytes("v" + i), CancellationToken.None);
        }

        sink.Checkpoint(200);
        await sink.FlushAsync(new CancellationTokenSource(TimeSpan.FromSeconds(60)).Token);
        Assert.True(sink.TryTakeAcknowledged(out var position));
        Assert.Equal(200, position);
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
