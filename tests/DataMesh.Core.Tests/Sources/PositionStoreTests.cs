using DataMesh.Hosting;
using DataMesh.Sources;
using Xunit;

namespace DataMesh.Tests.Sources;

public sealed class PositionStoreTests
{
    [Fact]
    public async Task A_position_dropped_from_the_embedded_clusters_5_MB_partition_fails_the_load_instead_of_reading_as_none()
    {
        using var kafka = new KafkaConnection(new KafkaOptions());
        var topic = "positions-" + Guid.NewGuid().ToString("N");
        using var store = new PositionStore(kafka, topic);
        await store.SaveAsync("pg1", "{\"lsn\":1}", CancellationToken.None);
        Assert.Null(await store.LoadAsync("new-source", CancellationToken.None)); // the whole topic was read: none is none

        // Other sources save 6 MB of positions: past the embedded cluster's 5 MB per partition, pg1's record is dropped.
        var large = "{\"gtid\":\"" + new string('x', 100_000) + "\"}";
        for (var i = 0; i < 60; i++)
        {
            await store.SaveAsync("mysql" + (i % 3), large, CancellationToken.None);
        }

        var lost = await Assert.ThrowsAsync<InvalidOperationException>(() => store.LoadAsync("pg1", CancellationToken.None));
        foreach (var expected in new[] { "source 'pg1'", $"topic '{topic}'", "5 MB", "SaveAsync(\"pg1\", null)", "DataMesh:Kafka:BootstrapServers" })
        {
            Assert.Contains(expected, lost.Message, StringComparison.Ordinal);
        }

        // A source never saved cannot be told from one whose position was dropped: it fails the same way.
        await Assert.ThrowsAsync<InvalidOperationException>(() => store.LoadAsync("new-source", CancellationToken.None));

        // A position still in the topic loads as before; an explicit reset is a record, so the source then starts afresh.
        Assert.Equal(large, await store.LoadAsync("mysql2", CancellationToken.None));
        await store.SaveAsync("pg1", null, CancellationToken.None);
        Assert.Null(await store.LoadAsync("pg1", CancellationToken.None));
    }

    [Fact]
    public async Task Fencing_epochs_grow_per_source_across_stores_and_never_fall_below_the_clock()
    {
        using var kafka = new KafkaConnection(new KafkaOptions());
        var topic = "positions-" + Guid.NewGuid().ToString("N");
        long first, second, other;
        var clock = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        using (var store = new PositionStore(kafka, topic))
        {
            first = await store.NextEpochAsync("pg1", CancellationToken.None);
            second = await store.NextEpochAsync("pg1", CancellationToken.None);
            other = await store.NextEpochAsync("pg2", CancellationToken.None);
        }

        Assert.True(first >= clock, $"epoch {first} is below the clock {clock}");
        Assert.True(second > first, $"epoch {second} does not follow {first}");
        Assert.True(other >= clock);

        // A later process (a new store on the same topic) reads the last epoch and goes past it, even when the clock does
        // not (a stored epoch in the future, as a clock set back would leave).
        var future = DateTimeOffset.UtcNow.AddDays(1).ToUnixTimeMilliseconds();
        using var producer = new Confluent.Kafka.ProducerBuilder<byte[], byte[]>(kafka.CreateProducerConfig()).Build();
        await producer.ProduceAsync(topic, new Confluent.Kafka.Message<byte[], byte[]> { Key = "pg1.epoch"u8.ToArray(), Value = System.Text.Encoding.UTF8.GetBytes(future.ToString(System.Globalization.CultureInfo.InvariantCulture)) });
        using var later = new PositionStore(kafka, topic);
        Assert.Equal(future + 1, await later.NextEpochAsync("pg1", CancellationToken.None));

        // The epoch records do not read as positions.
        Assert.Null(await later.LoadAsync("pg1", CancellationToken.None));
    }
}
