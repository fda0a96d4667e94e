using System.Diagnostics;
using System.Globalization;
using Confluent.Kafka;
using DataMesh.Events;
using DataMesh.Hosting;
using DataMesh.Schemas;
using DataMesh.Sources;
using Microsoft.Extensions.Logging;
using static System.FormattableString;
using static DataMesh.Benchmarks.BenchStats;

namespace DataMesh.Benchmarks;

/// <summary>
/// Latency (issue 16), the figure a CDC user asks first: from a commit in the database to the change event readable from
/// Kafka, at steady rates, for PostgreSQL and MariaDB. A writer inserts rows into <c>orders</c> (bigint key) at a steady
/// rate: every millisecond or so, the rows due by then in one <c>INSERT ... SELECT</c> committed on its own (at 1,000/s one
/// row a statement, at 10,000/s about ten); each row's time is taken just before its statement is sent. The source (ours,
/// in this process, with the product's defaults: position saves, producer settings) streams the log into the embedded
/// Kafka; a consumer in this process (<c>fetch.wait.max.ms</c> = 1) reads the topic and takes each key's arrival time. A
/// row's latency is arrival minus send, so it includes the commit itself and the consumer's fetch: an upper bound of
/// "commit to acknowledged by Kafka". Each rate is held for a warm-up (not counted) and a measured window; every row
/// written must arrive (the suite throws otherwise). The rates run in one source start, lowest first, and the runs
/// alternate the databases. Per rate the line is <c>latency-pg: p50_ms=… p99_ms=… max_ms=… rate=…</c> with the medians of
/// the runs and the p99's range; then the highest rate sustained (achieved within 5 % of the target) with a median p99
/// under 100 ms, it and every lower rate tried. Options: <c>--rates 1000,10000</c>, <c>--seconds S</c> (measured window per rate, default 10),
/// <c>--warmup S</c> (default 3), <c>--runs N</c> (default 3), <c>--partitions N</c> (default 8), <c>--only pg|mysql</c>.
/// </summary>
internal sealed class LatencySuite : IBenchmarkSuite
{
    public string Name => "latency";

    public int Run(string[] args)
    {
        var settings = new LatencySettings(
            Rates: [.. (Option(args, "--rates") ?? "1000,10000").Split(',').Select(r => int.Parse(r, CultureInfo.InvariantCulture)).Distinct().Order()],
            Seconds: int.Parse(Option(args, "--seconds") ?? "10", CultureInfo.InvariantCulture),
            Warmup: int.Parse(Option(args, "--warmup") ?? "3", CultureInfo.InvariantCulture),
            Runs: int.Parse(Option(args, "--runs") ?? "3", CultureInfo.InvariantCulture),
            Partitions: int.Parse(Option(args, "--partitions") ?? "8", CultureInfo.InvariantCulture));
        if (settings.Rates.Any(r => r < 1) || settings.Seconds < 1 || settings.Warmup < 0 || settings.Runs < 1 || settings.Partitions < 1)
        {
            Console.WriteLine("latency: --rates must be positive, --seconds, --runs and --partitions at least 1, --warmup at least 0");
            return 2;
        }

        return RunAsync(settings, Option(args, "--only")).GetAwaiter().GetResult();
    }

    private static async Task<int> RunAsync(LatencySettings settings, string? only)
    {
        Console.WriteLine(Invariant($"# latency: rates {string.Join(", ", settings.Rates)}/s, {settings.Warmup} s warm-up + {settings.Seconds} s measured each, {settings.Runs} runs, {settings.Partitions} partitions; cpu: {CpuModel()} x {Environment.ProcessorCount}; load average {LoadAverage()}"));
        var pg = Environment.GetEnvironmentVariable("DATAMESH_PG_CONNECTION");
        var mysql = Environment.GetEnvironmentVariable("DATAMESH_MARIADB_CONNECTION");
        if ((only is null or "pg" && string.IsNullOrEmpty(pg)) || (only is null or "mysql" && string.IsNullOrEmpty(mysql)))
        {
            Console.WriteLine("latency: DATAMESH_PG_CONNECTION or DATAMESH_MARIADB_CONNECTION is not set: run ./build.sh bench latency, which starts the servers");
            return 1;
        }

        await using var pgDatabase = new PgBenchDatabase(pg ?? string.Empty);
        await using var mysqlDatabase = new MySqlBenchDatabase(mysql ?? string.Empty);
        var benches = new List<ILatencyBench>();
        if (only is null or "pg")
        {
            await pgDatabase.LoadAsync(0);
            benches.Add(new LatencyBench<Connectors.Postgres.PostgresPosition>(pgDatabase, settings));
        }

        if (only is null or "mysql")
        {
            await mysqlDatabase.LoadAsync(0);
            benches.Add(new LatencyBench<Connectors.MySql.MySqlPosition>(mysqlDatabase, settings));
        }

        for (var run = 1; run <= settings.Runs; run++)
        {
            // Alternated: the first database first in odd runs, last in even ones.
            foreach (var bench in run % 2 == 1 ? benches : Enumerable.Reverse(benches))
            {
                await bench.RunAsync(run);
            }
        }

        Console.WriteLine();
        var summary = new List<string>();
        foreach (var bench in benches)
        {
            summary.AddRange(bench.Report());
        }

        Console.WriteLine("latency: " + string.Join(" ", summary) + " (goal: p99 <= 20 ms at 1000/s)");
        return 0;
    }

    private static string? Option(string[] args, string name)
    {
        var index = Array.IndexOf(args, name);
        return index >= 0 && index + 1 < args.Length ? args[index + 1] : null;
    }
}

/// <summary>The suite's options.</summary>
internal sealed record LatencySettings(int[] Rates, int Seconds, int Warmup, int Runs, int Partitions);

/// <summary>One database's runs.</summary>
internal interface ILatencyBench
{
    /// <summary>One start of the source, every rate in turn.</summary>
    Task RunAsync(int run);

    /// <summary>Prints the result lines; returns the summary's parts.</summary>
    IEnumerable<string> Report();
}

/// <summary>The measurements of one database.</summary>
internal sealed class LatencyBench<TPosition>(IBenchDatabase<TPosition> database, LatencySettings settings) : ILatencyBench
    where TPosition : class
{
    private static readonly ILogger Logger = new StderrLogger();
    private static readonly double TicksPerMs = Stopwatch.Frequency / 1000.0;
    private readonly Dictionary<int, List<Window>> _windows = settings.Rates.ToDictionary(r => r, _ => new List<Window>());
    private long _nextId = 1;

    public async Task RunAsync(int run)
    {
        using var kafka = new KafkaConnection(new KafkaOptions());
        await kafka.EnsureTopicAsync(database.Topic, settings.Partitions, TopicRetention.Default, CancellationToken.None);
        await using var store = await KafkaSchemaStore.CreateAsync(new KafkaSchemaStoreOptions { EmbeddedCluster = kafka.EmbeddedCluster });
        using var positions = new PositionStore(kafka);
        var (connector, options) = database.CreateSource(kafka, settings.Partitions, chunkSize: null, snapshot: false, Logger);
        await using var scope = connector;
        var runtime = new SourceRuntime<TPosition>("bench", connector, options, new ChangeEventOptions(), kafka, store, positions, null, Logger);
        using var stop = new CancellationTokenSource();
        var running = Task.Run(() => runtime.RunAsync(stop.Token));
        var capacity = settings.Rates.Sum(r => (long)r * (settings.Warmup + settings.Seconds + 5)) + 1_000;
        var times = new ArrivalTimes(_nextId, capacity);
        using var reader = new TopicArrivals(kafka, database.Topic, settings.Partitions, times);
        await using var writer = await database.OpenOrdersWriterAsync();
        try
        {
            await StreamingAsync(writer, times, runtime, running);
            foreach (var rate in settings.Rates)
            {
                var window = await HoldRateAsync(writer, times, rate, runtime, running);
                _windows[rate].Add(window);
                Console.WriteLine(Invariant($"# {Label} run {run}, {rate}/s: {window} (load average {LoadAverage()})"));
            }
        }
        finally
        {
            await stop.CancelAsync();
            await running;
            await database.AfterSourceAsync();
        }
    }

    public IEnumerable<string> Report()
    {
        // Sustained: every rate up to it (in the order tried, lowest first) held its rate with a median p99 under 100 ms;
        // a rate that passes above one that failed does not count.
        var sustained = 0;
        var failed = false;
        foreach (var (rate, windows) in _windows)
        {
            var p99 = Median(windows.Select(w => w.P99));
            Console.WriteLine(Invariant($"latency-{Label}: p50_ms={Median(windows.Select(w => w.P50)):F1} p99_ms={p99:F1} max_ms={Median(windows.Select(w => w.Max)):F1} rate={rate} ")
                + Invariant($"(n={windows.Count} runs; p99 {Range(windows.Select(w => w.P99), "F1")}, max {Range(windows.Select(w => w.Max), "F1")}; achieved {Median(windows.Select(w => w.Achieved)):F0}/s {Range(windows.Select(w => w.Achieved))}; {windows.Sum(w => w.Rows)} rows, every one arrived)"));
            failed |= !(p99 < 100 && Median(windows.Select(w => w.Achieved)) >= rate * 0.95);
            if (!failed)
            {
                sustained = rate;
            }
        }

        Console.WriteLine(Invariant($"latency-{Label}: max_rate_p99_under_100ms={sustained} (it and every lower rate tried; rates tried: {string.Join(", ", settings.Rates)})"));
        var at1000 = _windows.TryGetValue(1000, out var w1000) ? Invariant($"{Median(w1000.Select(w => w.P99)):F1}") : "-";
        return [Invariant($"{Label}_p99_ms_at_1000={at1000} {Label}_max_rate={sustained}")];
    }

    private string Label => database.Label;

    /// <summary>Writes probe rows until one arrives: the source streams (it captures only what is committed after its start).</summary>
    private async Task StreamingAsync(IOrdersWriter writer, ArrivalTimes times, SourceRuntime<TPosition> runtime, Task<SourceOutcome> running)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromMinutes(2);
        while (true)
        {
            var id = _nextId++;
            times.Sent(id, 1);
            await writer.InsertAsync(id, 1);
            var probe = Stopwatch.StartNew();
            while (probe.ElapsedMilliseconds < 200)
            {
                if (times.Arrived(id))
                {
                    return;
                }

                Check(runtime, running);
                if (DateTime.UtcNow > deadline)
                {
                    throw new TimeoutException($"{Label}: the source did not stream within 2 minutes");
                }

                await Task.Delay(5);
            }
        }
    }

    /// <summary>Holds one rate for the warm-up and the window; waits until every row arrived; the window's latencies.</summary>
    private async Task<Window> HoldRateAsync(IOrdersWriter writer, ArrivalTimes times, int rate, SourceRuntime<TPosition> runtime, Task<SourceOutcome> running)
    {
        var maxBatch = Math.Max(1, rate / 100); // at most 10 ms of rows in one statement when behind
        var first = _nextId;
        long measuredFirst = -1;
        var clock = Stopwatch.StartNew();
        var measuredStart = TimeSpan.Zero;
        long written = 0;
        var total = TimeSpan.FromSeconds(settings.Warmup + settings.Seconds);
        while (clock.Elapsed < total)
        {
            if (measuredFirst < 0 && clock.Elapsed >= TimeSpan.FromSeconds(settings.Warmup))
            {
                measuredFirst = _nextId;
                measuredStart = clock.Elapsed;
            }

            var due = (long)(rate * clock.Elapsed.TotalSeconds) - written;
            if (due <= 0)
            {
                await Task.Delay(1);
                continue;
            }

            var count = (int)Math.Min(due, maxBatch);
            times.Sent(_nextId, count);
            await writer.InsertAsync(_nextId, count);
            _nextId += count;
            written += count;
            if ((written & 0xFF) == 0)
            {
                Check(runtime, running);
            }
        }

        var measuredSeconds = (clock.Elapsed - measuredStart).TotalSeconds;
        var last = _nextId - 1;
        var wait = Stopwatch.StartNew();
        while (times.Missing(first, last) is var missing and > 0)
        {
            Check(runtime, running);
            if (wait.Elapsed > TimeSpan.FromSeconds(60))
            {
                throw new InvalidOperationException($"{Label}: {missing} of the rows {first} to {last} did not arrive within 60 s of the writer's end");
            }

            await Task.Delay(10);
        }

        var latencies = times.LatenciesMs(measuredFirst, last, TicksPerMs);
        Array.Sort(latencies);
        return new Window(latencies.Length, latencies.Length / measuredSeconds, Percentile(latencies, 50), Percentile(latencies, 99), latencies[^1]);
    }

    private static void Check(SourceRuntime<TPosition> runtime, Task<SourceOutcome> running)
    {
        if (running.IsCompleted)
        {
            throw new InvalidOperationException($"the source stopped: {runtime.FatalError?.ToString() ?? running.Result.ToString()}");
        }
    }

    /// <summary>One rate's measured window.</summary>
    private sealed record Window(long Rows, double Achieved, double P50, double P99, double Max)
    {
        public override string ToString() =>
            Invariant($"{Rows} rows measured at {Achieved:F0}/s: p50 {P50:F1} ms, p99 {P99:F1} ms, max {Max:F1} ms");
    }
}

/// <summary>When each row (by id, from a first id) was sent and first arrived, in <see cref="Stopwatch"/> ticks.</summary>
internal sealed class ArrivalTimes(long firstId, long capacity)
{
    private readonly long[] _sent = new long[capacity];
    private readonly long[] _arrived = new long[capacity];

    /// <summary>Rows <paramref name="id"/> to <paramref name="id"/> + <paramref name="count"/> - 1 are sent now.</summary>
    public void Sent(long id, int count)
    {
        var now = Stopwatch.GetTimestamp();
        _sent.AsSpan(Index(id), count).Fill(now);
    }

    /// <summary>A row arrived now (a repeat keeps the first arrival); ids outside the range are not this run's.</summary>
    public void Arrive(long id)
    {
        var index = id - firstId;
        if (index >= 0 && index < _arrived.Length)
        {
            Interlocked.CompareExchange(ref _arrived[index], Stopwatch.GetTimestamp(), 0);
        }
    }

    public bool Arrived(long id) => Volatile.Read(ref _arrived[Index(id)]) != 0;

    /// <summary>How many of the rows <paramref name="first"/> to <paramref name="last"/> have not arrived.</summary>
    public long Missing(long first, long last)
    {
        long missing = 0;
        for (var id = first; id <= last; id++)
        {
            missing += Volatile.Read(ref _arrived[Index(id)]) == 0 ? 1 : 0;
        }

        return missing;
    }

    /// <summary>Each row's arrival minus its send, in milliseconds.</summary>
    public double[] LatenciesMs(long first, long last, double ticksPerMs)
    {
        var latencies = new double[last - first + 1];
        for (var id = first; id <= last; id++)
        {
            latencies[id - first] = (_arrived[Index(id)] - _sent[Index(id)]) / ticksPerMs;
        }

        return latencies;
    }

    private int Index(long id) => checked((int)(id - firstId));
}

/// <summary>A consumer thread that takes each record's key id and arrival time.</summary>
internal sealed class TopicArrivals : IDisposable
{
    private readonly CancellationTokenSource _stop = new();
    private readonly Thread _thread;

    public TopicArrivals(KafkaConnection kafka, string topic, int partitions, ArrivalTimes times)
    {
        var config = kafka.CreateConsumerConfig(null);
        config.FetchWaitMaxMs = 1;
        config.FetchMinBytes = 1;
        var consumer = new ConsumerBuilder<byte[]?, byte[]?>(config).Build();
        consumer.Assign(Enumerable.Range(0, partitions).Select(p => new TopicPartitionOffset(topic, p, Offset.Beginning)));
        _thread = new Thread(() =>
        {
            using (consumer)
            {
                while (!_stop.IsCancellationRequested)
                {
                    if (consumer.Consume(TimeSpan.FromMilliseconds(50)) is { Message.Key: { } key })
                    {
                        times.Arrive(BenchStats.ReadKeyId(key));
                    }
                }
            }
        })
        { IsBackground = true, Name = "latency consumer" };
        _thread.Start();
    }

    public void Dispose()
    {
        _stop.Cancel();
        _thread.Join();
        _stop.Dispose();
    }
}
