using Confluent.Kafka;
using DataMesh.Hosting;

namespace DataMesh.Sources;

/// <summary>Reads partition 0 of a topic from its first to its last record, as stores kept in a topic do at start (positions,
/// schemas, a connector's schema history).</summary>
public static class TopicReader
{
    /// <summary>
    /// Calls <paramref name="onRecord"/> for every record of partition 0 of <paramref name="topic"/> present when the
    /// read starts, in offset order, on a thread of its own (the consumer blocks). Fails with a <see cref="TimeoutException"/>
    /// naming the topic when no record arrives for the connection's request timeout before the end is reached.
    /// </summary>
    /// <param name="kafka">The cluster.</param>
    /// <param name="topic">The topic.</param>
    /// <param name="what">What the topic holds, for messages.</param>
    /// <param name="onRecord">Called for each record.</param>
    /// <param name="cancellationToken">Cancels the read.</param>
    /// <returns>Completes after the last record.</returns>
    public static Task ReadToEndAsync(KafkaConnection kafka, string topic, string what, Action<Message<byte[], byte[]?>> onRecord, CancellationToken cancellationToken)
    {
        var timeout = kafka.Options.RequestTimeout;
        return Task.Factory.StartNew(
            () =>
            {
                using var consumer = new ConsumerBuilder<byte[], byte[]?>(kafka.CreateConsumerConfig(groupId: null)).Build();
                var partition = new TopicPartition(topic, 0);
                var watermarks = consumer.QueryWatermarkOffsets(partition, timeout);
                if (watermarks.High.Value <= watermarks.Low.Value)
                {
                    return;
                }

                consumer.Assign(new TopicPartitionOffset(partition, watermarks.Low));
                var deadline = DateTime.UtcNow + timeout;
                while (true)
                {
                    cancellationToken.ThrowIfCancellationRequested();
                    var result = consumer.Consume(TimeSpan.FromMilliseconds(200));
                    if (result is null)
                    {
                        if (DateTime.UtcNow > deadline)
                        {
                            throw new TimeoutException($"Reading {what} from topic '{topic}' did not reach its end (offset {watermarks.High.Value}) within {timeout}.");
                        }

                        continue;
                    }

                    deadline = DateTime.UtcNow + timeout;
                    onRecord(result.Message);
                    if (result.Offset.Value >= watermarks.High.Value - 1)
                    {
                        return;
                    }
                }
            },
            cancellationToken,
            TaskCreationOptions.LongRunning,
            TaskScheduler.Default);
    }
}
