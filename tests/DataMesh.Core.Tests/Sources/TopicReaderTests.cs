using System.Text;
using Confluent.Kafka;
using DataMesh.Hosting;
using DataMesh.Sources;
using Xunit;

namespace DataMesh.Tests.Sources;

public sealed class TopicReaderTests
{
    [Fact]
    public async Task A_read_reports_the_first_offset_so_that_a_trimmed_topic_is_not_taken_for_a_whole_one()
    {
        using var kafka = new KafkaConnection(new KafkaOptions());
        var topic = "store-" + Guid.NewGuid().ToString("N");
        await kafka.EnsureTopicAsync(topic, 1, TopicRetention.Compacted, CancellationToken.None);
        using var producer = new ProducerBuilder<byte[], byte[]>(kafka.CreateProducerConfig()).Build();
        async Task WriteAsync(string key, int bytes) =>
            await producer.ProduceAsync(new TopicPartition(topic, 0), new Message<byte[], byte[]> { Key = Encoding.UTF8.GetBytes(key), Value = new byte[bytes] });

        Assert.Equal(0, await TopicReader.ReadToEndAsync(kafka, topic, "records", _ => Assert.Fail("the topic is empty"), CancellationToken.None));
        await WriteAsync("first", 10);
        var keys = new List<string>();
        Assert.Equal(0, await TopicReader.ReadToEndAsync(kafka, topic, "records", m => keys.Add(Encoding.UTF8.GetString(m.Key)), CancellationToken.None));
        Assert.Equal(["first"], keys);

        // 6 MB more: past the embedded cluster's 5 MB per partition, the oldest records are dropped.
        for (var i = 0; i < 60; i++)
        {
            await WriteAsync("k" + i, 100_000);
        }

        keys.Clear();
        var first = await TopicReader.ReadToEndAsync(kafka, topic, "records", m => keys.Add(Encoding.UTF8.GetString(m.Key)), CancellationToken.None);
        Assert.InRange(first, 2, 60);
        Assert.DoesNotContain("first", keys);
        Assert.Equal(61 - first, keys.Count); // every record from the first offset on
        Assert.Equal("k59", keys[^1]);
    }
}
