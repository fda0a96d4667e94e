using System.Diagnostics;
using System.Globalization;
using Confluent.Kafka;
using static System.FormattableString;
using static DataMesh.Benchmarks.BenchStats;

namespace DataMesh.Benchmarks;

/// <summary>One timed run of one side: its rate over the whole window (launch to the last record acknowledged) and, where
/// sampled, its steady-state rate (from positions sampled over time, see <see cref="ProgressSampler"/>).</summary>
/// <param name="Rate">Records per second over the whole window.</param>
/// <param name="Steady">Records per second between 20 % and 80 % of the records, or NaN when not sampled.</param>
/// <param name="Detail">What else the run measured (CPU, memory, start-up), printed beside it.</param>
internal readonly record struct BenchSample(double Rate, double Steady = double.NaN, string Detail = "");

/// <summary>One side of a comparison: a name and a run (its argument is the round, from 1).</summary>
internal sealed record BenchSide(string Name, Func<int, Task<BenchSample>> Run);

/// <summary>The runs of ours and one peer, paired by round.</summary>
/// <param name="Name">The result line's name (<c>pg</c>, <c>pg-dotnet</c>, ...).</param>
/// <param name="Ours">Our runs, in round order.</param>
/// <param name="Peer">The peer's runs, in round order.</param>
internal sealed record BenchPairs(string Name, IReadOnlyList<BenchSample> Ours, IReadOnlyList<BenchSample> Peer)
{
    /// <summary>The result line: <c>NAME: ours=&lt;median&gt; peer=&lt;median&gt; ratio=&lt;median of the per-pair ratios&gt; (n=…, min=…, max=…)</c>,
    /// min and max of the ratio.</summary>
    public string Line() => Format(Name, Ours.Select(s => s.Rate).ToList(), Peer.Select(s => s.Rate).ToList());

    /// <summary>The same line for the steady-state rates, named <c>NAME-steady</c>, or null when a side was not sampled.</summary>
    public string? SteadyLine()
    {
        var ours = Ours.Select(s => s.Steady).ToList();
        var peer = Peer.Select(s => s.Steady).ToList();
        return ours.Concat(peer).Any(double.IsNaN) ? null : Format(Name + "-steady", ours, peer);
    }

    /// <summary>The median of the per-pair ratios.</summary>
    public double Ratio => Median(Ours.Zip(Peer, (o, p) => o.Rate / p.Rate));

    /// <summary>The result line of two lists of rates paired by index.</summary>
    public static string Format(string name, IReadOnlyList<double> ours, IReadOnlyList<double> peer)
    {
        var ratios = ours.Zip(peer, (o, p) => o / p).ToList();
        return Invariant($"{name}: ours={Median(ours):F0} peer={Median(peer):F0} ratio={Median(ratios):F2} (n={ratios.Count}, min={ratios.Min():F2}, max={ratios.Max():F2})");
    }
}

/// <summary>
/// The one harness of the scripted suites: runs ours and its peers N times alternated (round 1 ours first, round 2 ours
/// last, and so on: ours, peer, peer, ours, ...), prints every run with the load average, the CPU model and the load average
/// at the start and the end, and pairs the runs of each round for the result lines (<see cref="BenchPairs.Line"/>). A run
/// checks what it counted with <see cref="Expect"/>, which throws: a suite whose records did not all arrive fails loudly
/// instead of printing a rate.
/// </summary>
internal static class BenchHarness
{
    /// <summary>The default number of rounds.</summary>
    public const int DefaultRuns = 5;

    /// <summary>The value of <c>--runs N</c> (at least 1), or <see cref="DefaultRuns"/>.</summary>
    public static int Runs(string[] args) => Math.Max(1, Option(args, "--runs", DefaultRuns));

    /// <summary>The integer value of option <paramref name="name"/>, or <paramref name="fallback"/>.</summary>
    public static int Option(string[] args, string name, int fallback)
    {
        var index = Array.IndexOf(args, name);
        return index >= 0 && index + 1 < args.Length ? int.Parse(args[index + 1], CultureInfo.InvariantCulture) : fallback;
    }

    /// <summary>Prints the CPU model and the load average (a <c>#</c> line).</summary>
    public static void PrintMachine(string suite, string when) =>
        Console.WriteLine(Invariant($"# {suite} {when}: cpu: {CpuModel()} x {Environment.ProcessorCount}; load average {File.ReadAllText("/proc/loadavg").Trim()}"));

    /// <summary>Runs <paramref name="ours"/> and every peer <paramref name="runs"/> times, alternated; returns the pairs of
    /// ours and each peer, in the order of <paramref name="peers"/>.</summary>
    public static async Task<IReadOnlyList<BenchPairs>> AlternateAsync(string suite, int runs, BenchSide ours, params BenchSide[] peers)
    {
        PrintMachine(suite, "start");
        var sides = new[] { ours }.Concat(peers).ToArray();
        var samples = sides.ToDictionary(s => s, _ => new List<BenchSample>());
        for (var round = 1; round <= runs; round++)
        {
            foreach (var side in round % 2 == 1 ? sides : sides.Reverse())
            {
                var load = LoadAverage();
                var sample = await side.Run(round).ConfigureAwait(false);
                samples[side].Add(sample);
                Console.WriteLine(Invariant($"# {suite} run {round}, {side.Name}: {sample.Rate:F0}/s")
                    + (double.IsNaN(sample.Steady) ? string.Empty : Invariant($", steady {sample.Steady:F0}/s"))
                    + (sample.Detail.Length == 0 ? string.Empty : "; " + sample.Detail)
                    + (sample.Detail.Contains("(load average", StringComparison.Ordinal) ? string.Empty : $" (load average {load})"));
            }
        }

        PrintMachine(suite, "end");
        return peers.Select(p => new BenchPairs(p.Name, samples[ours], samples[p])).ToList();
    }

    /// <summary>Prints the steady-state lines (where both sides were sampled), then the result lines, the last one last.</summary>
    public static void PrintResults(params BenchPairs[] pairs)
    {
        Console.WriteLine();
        foreach (var pair in pairs)
        {
            if (pair.SteadyLine() is { } steady)
            {
                Console.WriteLine(steady);
            }
            else if (!pair.Ours.Concat(pair.Peer).All(s => double.IsNaN(s.Steady)))
            {
                Console.WriteLine($"# {pair.Name}-steady: too few position samples between 20 % and 80 % of the records in some run (runs too short?)");
            }
        }

        foreach (var pair in pairs)
        {
            Console.WriteLine(pair.Line());
        }
    }

    /// <summary>The pairs of a BenchmarkDotNet summary: per launch, the median time per operation of
    /// <paramref name="oursMethod"/> and of <paramref name="peerMethod"/> as operations per second, paired by launch.</summary>
    public static BenchPairs FromSummary(BenchmarkDotNet.Reports.Summary summary, string name, string oursMethod, string peerMethod)
    {
        List<BenchSample> PerLaunch(string method)
        {
            var report = summary.Reports.SingleOrDefault(r => r.BenchmarkCase.Descriptor.WorkloadMethod.Name == method && r.ResultStatistics is not null)
                ?? throw new InvalidOperationException($"{name}: no result for {method}; see the BenchmarkDotNet log above");
            // A launch's results are one contiguous run of Workload/Result measurements (the in-process toolchain numbers
            // every launch's measurements alike, so LaunchIndex cannot tell them apart).
            var launches = new List<List<BenchmarkDotNet.Reports.Measurement>>();
            var inResults = false;
            foreach (var m in report.AllMeasurements)
            {
                var result = m.IterationMode == BenchmarkDotNet.Engines.IterationMode.Workload && m.IterationStage == BenchmarkDotNet.Engines.IterationStage.Result;
                if (result && !inResults)
                {
                    launches.Add([]);
                }

                if (result)
                {
                    launches[^1].Add(m);
                }

                inResults = result;
            }

            return [.. launches.Select(l => new BenchSample(1e9 / Median(l.Select(m => m.Nanoseconds / m.Operations))))];
        }

        var pairs = new BenchPairs(name, PerLaunch(oursMethod), PerLaunch(peerMethod));
        for (var i = 0; i < pairs.Ours.Count; i++)
        {
            Console.WriteLine(Invariant($"# {name} launch {i + 1}: ours {pairs.Ours[i].Rate:F0}/s, peer {(i < pairs.Peer.Count ? pairs.Peer[i].Rate : double.NaN):F0}/s (medians of the launch's iterations)"));
        }

        return pairs;
    }

    /// <summary>Throws unless <paramref name="counted"/> equals <paramref name="expected"/>: what a run counted must be what
    /// was really delivered.</summary>
    public static void Expect(string what, long counted, long expected)
    {
        if (counted != expected)
        {
            throw new InvalidOperationException(Invariant($"count check failed: {what} is {counted}, expected {expected}; the run's rate would count records that were not delivered (or not the ones written)"));
        }
    }

    /// <summary>The delivery-report settings of a producer, printed so that both sides can be seen to be equal.</summary>
    public static string DeliveryReports(ProducerConfig config) => string.Join(" ", new[] { "dotnet.producer.enable.delivery.reports", "delivery.report.only.error", "dotnet.producer.delivery.report.fields", "linger.ms", "acks", "enable.idempotence", "queue.buffering.max.kbytes", "reconnect.backoff.ms" }
        .Select(key => $"{key}={config.Get(key) ?? "(default)"}"));
}

/// <summary>
/// Samples a side's progress (records delivered, from a server-side position: a topic's high watermarks, a replication
/// slot's sent LSN) every <c>interval</c> from its launch, and gives the steady-state rate: the records between the first
/// samples at or past 20 % and 80 % of the total over the time between them, so that start-up and the tail are left out.
/// </summary>
internal sealed class ProgressSampler : IAsyncDisposable
{
    private readonly List<(double Seconds, long Count)> _samples = [];
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _loop;

    /// <summary>Starts sampling <paramref name="progress"/> now.</summary>
    public ProgressSampler(Func<long> progress, int intervalMs = 50)
    {
        var clock = Stopwatch.StartNew();
        _loop = Task.Run(async () =>
        {
            while (!_stop.IsCancellationRequested)
            {
                long count;
                try
                {
                    count = progress();
                }
                catch (Exception ex) when (ex is KafkaException or InvalidOperationException or IOException or Npgsql.NpgsqlException)
                {
                    count = -1; // not there yet (no topic, no walsender)
                }

                if (count >= 0)
                {
                    lock (_samples)
                    {
                        _samples.Add((clock.Elapsed.TotalSeconds, count));
                    }
                }

                try
                {
                    await Task.Delay(intervalMs, _stop.Token).ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                    break;
                }
            }
        });
    }

    /// <summary>The steady-state rate for <paramref name="total"/> records, or NaN when the samples are too few to tell.</summary>
    public double SteadyRate(long total)
    {
        lock (_samples)
        {
            var from = _samples.FindIndex(s => s.Count >= total * 0.2);
            var to = _samples.FindIndex(s => s.Count >= total * 0.8);
            return from < 0 || to <= from ? double.NaN : (_samples[to].Count - _samples[from].Count) / (_samples[to].Seconds - _samples[from].Seconds);
        }
    }

    /// <summary>Stops sampling.</summary>
    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync().ConfigureAwait(false);
        await _loop.ConfigureAwait(false);
        _stop.Dispose();
    }
}

/// <summary>Reads the high watermarks of a topic's partitions, summed: the records the brokers hold (acknowledged).</summary>
internal sealed class Watermarks(string bootstrapServers, string topic, int partitions) : IDisposable
{
    private readonly IConsumer<byte[], byte[]> _consumer = new ConsumerBuilder<byte[], byte[]>(new ConsumerConfig { BootstrapServers = bootstrapServers, GroupId = "bench-watermarks" }).Build();

    /// <summary>The sum of the high watermarks now.</summary>
    public long Sum()
    {
        long sum = 0;
        for (var p = 0; p < partitions; p++)
        {
            sum += _consumer.QueryWatermarkOffsets(new TopicPartition(topic, p), TimeSpan.FromSeconds(10)).High.Value;
        }

        return sum;
    }

    /// <summary>The records the partitions still hold, summed (high minus low watermark): less than <see cref="Sum"/> once the
    /// embedded cluster dropped a partition's oldest records (it keeps 5 MB per partition).</summary>
    public long Held()
    {
        long sum = 0;
        for (var p = 0; p < partitions; p++)
        {
            var offsets = _consumer.QueryWatermarkOffsets(new TopicPartition(topic, p), TimeSpan.FromSeconds(10));
            sum += offsets.High.Value - offsets.Low.Value;
        }

        return sum;
    }

    /// <summary>The sum, or 0 while the topic does not exist yet.</summary>
    public long SumOrZero()
    {
        try
        {
            return Sum();
        }
        catch (KafkaException)
        {
            return 0;
        }
    }

    public void Dispose() => _consumer.Dispose();
}

/// <summary>What the Kafka ceilings share: payloads of given sizes, and a bare producer sending them until every one was
/// acknowledged.</summary>
internal static class KafkaCeiling
{
    /// <summary>A random-filled array of each size (one per distinct size, shared by the messages of that size).</summary>
    public static Func<int, byte[]> Payloads()
    {
        var buffers = new Dictionary<int, byte[]>();
        return size =>
        {
            if (!buffers.TryGetValue(size, out var buffer))
            {
                buffers[size] = buffer = new byte[size];
                Random.Shared.NextBytes(buffer);
            }

            return buffer;
        };
    }

    /// <summary>Produces <paramref name="message"/>(i) to <paramref name="target"/>(i) for every i below
    /// <paramref name="count"/>, polling while the client's queue is full, then polls until every delivery report arrived.</summary>
    /// <returns>How many failed.</returns>
    public static long ProduceAll(IProducer<byte[], byte[]> producer, int count, Func<int, TopicPartition> target, Func<int, Message<byte[], byte[]>> message)
    {
        long delivered = 0;
        long failed = 0;
        Action<DeliveryReport<byte[], byte[]>> report = r => Interlocked.Increment(ref r.Error.IsError ? ref failed : ref delivered);
        for (var i = 0; i < count; i++)
        {
            while (true)
            {
                try
                {
                    producer.Produce(target(i), message(i), report);
                    break;
                }
                catch (ProduceException<byte[], byte[]> ex) when (ex.Error.Code == ErrorCode.Local_QueueFull)
                {
                    producer.Poll(TimeSpan.FromMilliseconds(1));
                }
            }
        }

        while (Interlocked.Read(ref delivered) + Interlocked.Read(ref failed) < count)
        {
            producer.Poll(TimeSpan.FromMilliseconds(5));
        }

        return Interlocked.Read(ref failed);
    }
}
