using System.Diagnostics;
using System.Globalization;
using Confluent.Kafka;
using DataMesh.Hosting;
using DataMesh.Sources;
using static System.FormattableString;
using static DataMesh.Benchmarks.BenchStats;

namespace DataMesh.Benchmarks;

/// <summary>
/// How long a new idempotent producer takes to have its first record acknowledged, with and without two metadata requests
/// of its own (through an admin client on its handle, at once and 100 ms later), which make librdkafka ask for the
/// producer id as soon as a connection is up instead of at its 500 ms retry. A measurement of librdkafka's behaviour: the
/// product does not make these requests (see docs/benchmarks.md, "Idempotent producers' first acknowledgement"). Each measurement is a fresh embedded cluster with a topic of one
/// partition and a fresh producer with the source runtime's settings (<see cref="ChangeProducerConfig"/>), timed from the
/// producer's build to the acknowledgement of one record sent right away; with and without alternate (with first in odd
/// rounds). <c>--producers N</c> (default 30) measurements of each. The last line:
/// <c>firstack: with=… ms (min–max) without=… ms (min–max); over 400 ms: with=a/N without=b/N</c>.
/// </summary>
internal sealed class FirstAckSuite : IBenchmarkSuite
{
    public string Name => "firstack";

    public int Run(string[] args)
    {
        var index = Array.IndexOf(args, "--producers");
        var producers = index >= 0 && index + 1 < args.Length ? int.Parse(args[index + 1], CultureInfo.InvariantCulture) : 30;
        Console.WriteLine(Invariant($"# firstack: {producers} producers each way, alternated; cpu: {CpuModel()} x {Environment.ProcessorCount}; load average {LoadAverage()}"));
        var with = new List<double>();
        var without = new List<double>();
        for (var round = 1; round <= producers; round++)
        {
            foreach (var early in round % 2 == 1 ? new[] { true, false } : [false, true])
            {
                var ms = FirstAck(early);
                (early ? with : without).Add(ms);
                Console.WriteLine(Invariant($"# round {round}, {(early ? "with" : "without")}: first acknowledgement {ms:F0} ms after the build"));
            }
        }

        Console.WriteLine(Invariant($"firstack: with={Median(with):F0} ms ({Range(with)}) without={Median(without):F0} ms ({Range(without)}); over 400 ms: with={with.Count(m => m > 400)}/{producers} without={without.Count(m => m > 400)}/{producers}"));
        return 0;
    }

    private static double FirstAck(bool early)
    {
        using var kafka = new KafkaConnection(new KafkaOptions());
        const string Topic = "firstack";
        kafka.EnsureTopicAsync(Topic, 1, TopicRetention.Default, CancellationToken.None).GetAwaiter().GetResult();
        var clock = Stopwatch.StartNew();
        using var producer = new ProducerBuilder<byte[], byte[]>(ChangeProducerConfig.Create(kafka)).Build();
        Task? requests = null;
        if (early)
        {
            // The admin client uses the producer's native handle: the requests are awaited below, before the producer is disposed.
            requests = Task.Factory.StartNew(
                () =>
                {
                    using var admin = new DependentAdminClientBuilder(producer.Handle).Build();
                    admin.GetMetadata(Topic, TimeSpan.FromSeconds(5));
                    Thread.Sleep(100);
                    admin.GetMetadata(Topic, TimeSpan.FromSeconds(5));
                },
                CancellationToken.None,
                TaskCreationOptions.LongRunning,
                TaskScheduler.Default);
        }

        // Throws unless Kafka acknowledged the record.
        producer.ProduceAsync(Topic, new Message<byte[], byte[]> { Key = [1], Value = [2] }).GetAwaiter().GetResult();
        var elapsed = clock.Elapsed.TotalMilliseconds;
        requests?.GetAwaiter().GetResult();
        return elapsed;
    }
}
