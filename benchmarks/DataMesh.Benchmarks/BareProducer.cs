using System.Diagnostics;
using Confluent.Kafka;
using DataMesh.Hosting;
using DataMesh.Sources;

namespace DataMesh.Benchmarks;

/// <summary>The Kafka ceiling of a suite not yet on <see cref="BenchHarness"/> (cassandra): the source runtime's producer
/// settings (<see cref="ChangeProducerConfig"/>) on the same cluster, sending messages built beforehand through the one
/// ceiling loop (<see cref="KafkaCeiling"/>).</summary>
internal static class BareProducer
{
    /// <summary>Sends <paramref name="messages"/> to <paramref name="topic"/> and waits until Kafka acknowledged them all.</summary>
    /// <returns>The seconds from the first send to the last acknowledgement.</returns>
    /// <exception cref="InvalidOperationException">A message was not delivered.</exception>
    public static double Send(KafkaConnection kafka, string topic, IReadOnlyList<Message<byte[], byte[]>> messages)
    {
        var config = ChangeProducerConfig.Create(kafka);
        Console.WriteLine($"# ceiling producer (the source runtime's settings): {BenchHarness.DeliveryReports(config)}");
        using var producer = new ProducerBuilder<byte[], byte[]>(config).Build();
        var target = new TopicPartition(topic, Partition.Any);
        var watch = Stopwatch.StartNew();
        var failed = KafkaCeiling.ProduceAll(producer, messages.Count, _ => target, i => messages[i]);
        return failed > 0 ? throw new InvalidOperationException($"{failed} of the ceiling's messages failed") : watch.Elapsed.TotalSeconds;
    }
}
