using System.Diagnostics;
using Confluent.Kafka;
using DataMesh.Hosting;
using DataMesh.Sources;

namespace DataMesh.Benchmarks;

/// <summary>The Kafka ceiling of the source suites that measure against one (cockroachdb, cassandra): a bare producer with
/// the source runtime's producer settings (<see cref="ChangeProducerConfig"/>) on a fresh embedded cluster, sending the
/// messages built beforehand through the one ceiling loop (<see cref="KafkaCeiling"/>); the count is checked against the
/// topic's high watermarks, which are also sampled for the steady-state rate (<see cref="ProgressSampler"/>).</summary>
internal static class BareProducer
{
    /// <summary>One run of the ceiling: from the first send to the last acknowledgement.</summary>
    /// <exception cref="InvalidOperationException">A message was not delivered, or the topic does not hold them all.</exception>
    public static async Task<BenchSample> RunAsync(string suite, IReadOnlyList<Message<byte[], byte[]>> messages, int partitions)
    {
        using var kafka = new KafkaConnection(new KafkaOptions());
        const string Topic = "bench.peer";
        await kafka.EnsureTopicAsync(Topic, partitions, TopicRetention.Default, CancellationToken.None);
        var config = ChangeProducerConfig.Create(kafka);
        Console.WriteLine($"# {suite} ceiling producer (the source runtime's settings): {BenchHarness.DeliveryReports(config)}");
        using var watermarks = new Watermarks(kafka.BootstrapServers, Topic, partitions);
        var watch = Stopwatch.StartNew();
        long failed;
        double steady;
        await using (var sampler = new ProgressSampler(watermarks.Sum))
        {
            var producer = new ProducerBuilder<byte[], byte[]>(config).Build();
            try
            {
                var target = new TopicPartition(Topic, Partition.Any);
                failed = KafkaCeiling.ProduceAll(producer, messages.Count, _ => target, i => messages[i]);

                // The window ends at the last acknowledgement, as ours does (its host is stopped after it): the producer's
                // disposal, which can take hundreds of milliseconds, is not timed.
                watch.Stop();
            }
            finally
            {
                producer.Dispose();
            }

            steady = sampler.SteadyRate(messages.Count);
        }

        BenchHarness.Expect($"{suite} ceiling: messages that failed", failed, 0);
        BenchHarness.Expect($"{suite} ceiling: the topic's high watermarks summed", watermarks.Sum(), messages.Count);
        return new BenchSample(messages.Count / watch.Elapsed.TotalSeconds, steady);
    }
}
