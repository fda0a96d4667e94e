using System.Diagnostics;
using Confluent.Kafka;
using DataMesh.Hosting;

namespace DataMesh.Benchmarks;

/// <summary>The Kafka ceiling the source suites compare against: a bare idempotent producer (acks all, 5 ms linger) on the
/// same cluster, sending messages built beforehand.</summary>
internal static class BareProducer
{
    /// <summary>Sends <paramref name="messages"/> to <paramref name="topic"/> and waits until Kafka acknowledged them all.</summary>
    /// <returns>The seconds from the first send to the last acknowledgement.</returns>
    /// <exception cref="InvalidOperationException">A message was not delivered.</exception>
    public static double Send(KafkaConnection kafka, string topic, IReadOnlyList<Message<byte[], byte[]>> messages)
    {
        var config = kafka.CreateProducerConfig();
        config.EnableIdempotence = true;
        config.Acks = Acks.All;
        config.LingerMs = 5;
        using var producer = new ProducerBuilder<byte[], byte[]>(config).Build();
        var failed = 0;
        var watch = Stopwatch.StartNew();
        foreach (var message in messages)
        {
            while (true)
            {
                try
                {
                    producer.Produce(topic, message, report =>
                    {
                        if (report.Error.IsError)
                        {
                            Interlocked.Increment(ref failed);
                        }
                    });
                    break;
                }
                catch (ProduceException<byte[], byte[]> ex) when (ex.Error.Code == ErrorCode.Local_QueueFull)
                {
                    producer.Poll(TimeSpan.FromMilliseconds(10));
                }
            }
        }

        producer.Flush(TimeSpan.FromMinutes(5));
        return failed > 0 ? throw new InvalidOperationException($"{failed} of the bare producer's messages failed") : watch.Elapsed.TotalSeconds;
    }
}
