using System.Collections;
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
/// DBLog snapshots (issue 11) on PostgreSQL and MariaDB: the initial snapshot of one table of 5 million rows
/// (<c>orders</c>: bigint key, int, text, numeric, timestamp, nullable text) into the embedded Kafka, timed from the source's
/// launch until Kafka acknowledged every row, against the lower of two limits measured in
/// the same run on the same rows:
/// <list type="bullet">
/// <item>the raw read: PostgreSQL <c>COPY (SELECT ...) TO STDOUT (FORMAT binary)</c> through Npgsql's binary export, rows
/// counted and their values left unread; MariaDB an unbuffered <c>SELECT</c> streamed by MySqlConnector, rows counted;</item>
/// <item>the Kafka ceiling: a bare Confluent producer with the runtime's producer settings sending as many messages, of
/// the key and value sizes our records had, to the same partitions of a topic of the same partition count on the same
/// kind of cluster (the embedded one, in process), until every delivery report arrived.</item>
/// </list>
/// Each run of ours is checked: the topic holds exactly one record for every row (every key once, none missing, no
/// partition truncated), or the suite throws. The runs are repeated and alternated by <see cref="BenchHarness"/> (ours
/// first in odd repetitions, last in even ones); the lines give medians with (min-max). Then the source database's extra load: the rows/s of a writer
/// (single-row INSERTs into another table of the same database, one connection) alone and while a snapshot runs, each for
/// the same window, alternated.
/// The result line of each database: <c>snapshot-pg: ours=&lt;median&gt; peer=&lt;median&gt; ratio=&lt;median of the per-run
/// ratios&gt; (n=…, min=…, max=…)</c>, rows/s, then the ranges, the two limits apart, the CPU time per row and the writer's
/// rates. The CPU model and the load average are printed first (and the load average with every run).
/// Options: <c>--rows N</c> (default 5,000,000, or <c>DATAMESH_SNAPSHOT_ROWS</c>), <c>--runs N</c> (default 5), <c>--only pg|mysql</c>,
/// <c>--load-seconds S</c> (default 15; 0 skips the writer), <c>--partitions N</c> (default 256: the embedded cluster keeps
/// at most 5 MB per partition), <c>--chunk-size N</c> (the snapshot's chunk size; default the product's default),
/// <c>--ours-only</c> (runs of ours alone, no peers, no writer, no result line: for profiling).
/// </summary>
internal sealed class SnapshotSuite : IBenchmarkSuite
{
    public string Name => "snapshot";

    public int Run(string[] args)
    {
        var settings = new SnapshotBenchSettings(
            Rows: Option(args, "--rows", int.TryParse(Environment.GetEnvironmentVariable("DATAMESH_SNAPSHOT_ROWS"), NumberStyles.None, CultureInfo.InvariantCulture, out var rows) ? rows : 5_000_000),
            Runs: Option(args, "--runs", 5),
            LoadSeconds: Option(args, "--load-seconds", 15),
            Partitions: Option(args, "--partitions", 256),
            ChunkSize: Option(args, "--chunk-size", 0) is > 0 and var chunk ? chunk : null,
            OursOnly: args.Contains("--ours-only"));
        var onlyIndex = Array.IndexOf(args, "--only");
        var only = onlyIndex >= 0 && onlyIndex + 1 < args.Length ? args[onlyIndex + 1] : null;
        return RunAsync(settings, only).GetAwaiter().GetResult();
    }

    private static async Task<int> RunAsync(SnapshotBenchSettings settings, string? only)
    {
        var lines = new List<(string Label, string Line, double Ratio)>();
        Console.WriteLine(Invariant($"# snapshot: {settings.Rows} rows, {settings.Runs} alternated runs; cpu: {CpuModel()} x {Environment.ProcessorCount}; load average {LoadAverage()}"));
        if (only is null or "pg")
        {
            var pg = Environment.GetEnvironmentVariable("DATAMESH_PG_CONNECTION");
            if (string.IsNullOrEmpty(pg))
            {
                Console.WriteLine("snapshot: DATAMESH_PG_CONNECTION is not set: run ./build.sh bench snapshot, which starts PostgreSQL");
                return 1;
            }

            await using var database = new PgBenchDatabase(pg);
            lines.Add(await new SnapshotBench<Connectors.Postgres.PostgresPosition>(database, settings).RunAsync());
        }

        if (only is null or "mysql")
        {
            var mysql = Environment.GetEnvironmentVariable("DATAMESH_MARIADB_CONNECTION");
            if (string.IsNullOrEmpty(mysql))
            {
                Console.WriteLine("snapshot: DATAMESH_MARIADB_CONNECTION is not set: run ./build.sh bench snapshot, which starts MariaDB");
                return 1;
            }

            await using var database = new MySqlBenchDatabase(mysql);
            lines.Add(await new SnapshotBench<Connectors.MySql.MySqlPosition>(database, settings).RunAsync());
        }

        Console.WriteLine();
        foreach (var (_, line, _) in lines)
        {
            Console.WriteLine(line);
        }

        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"snapshot: {string.Join(" ", lines.Select(l => $"{l.Label}_ratio={l.Ratio:F2}"))} (goal >= 0.6; {settings.Rows} rows, {settings.Runs} runs)"));
        return 0;
    }

    private static int Option(string[] args, string name, int fallback)
    {
        var index = Array.IndexOf(args, name);
        return index >= 0 && index + 1 < args.Length ? int.Parse(args[index + 1], CultureInfo.InvariantCulture) : fallback;
    }
}

/// <summary>The suite's options.</summary>
internal sealed record SnapshotBenchSettings(int Rows, int Runs, int LoadSeconds, int Partitions, int? ChunkSize, bool OursOnly);

/// <summary>The measurements of one database, alternated.</summary>
internal sealed class SnapshotBench<TPosition>(IBenchDatabase<TPosition> database, SnapshotBenchSettings settings)
    where TPosition : class
{
    private static readonly ILogger Logger = new StderrLogger();

    public async Task<(string Label, string Line, double Ratio)> RunAsync()
    {
        var label = database.Label;
        var rows = settings.Rows;
        var load = Stopwatch.StartNew();
        await database.LoadAsync(rows);
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"# {label}: {rows} rows loaded in {load.Elapsed.TotalSeconds:F1} s"));

        var ours = new List<Measured>();
        var raw = new List<Measured>();
        var ceiling = new List<Measured>();
        List<(int Partition, int Key, int Value)>? sizes = null;
        // Ours first in odd runs (the first run records the sizes the ceiling sends), last in even ones.
        var oursSide = new BenchSide("ours (snapshot -> Kafka, acknowledged)", async _ =>
        {
            var recorded = sizes is null ? new List<(int, int, int)>(rows) : null;
            var measured = await OursAsync(recorded);
            sizes ??= recorded;
            ours.Add(measured);
            return measured.Sample();
        });
        var rawSide = new BenchSide("raw read", async _ => Add(raw, await RawAsync()));
        var ceilingSide = new BenchSide("Kafka ceiling (bare producer)", async _ => Add(ceiling, await CeilingAsync(sizes!)));
        var runs = await BenchHarness.AlternateAsync($"snapshot-{label}", settings.Runs, oursSide, settings.OursOnly ? [] : [rawSide, ceilingSide]);
        if (settings.OursOnly)
        {
            return (label, Invariant($"# {label}: ours {Median(ours.Select(o => o.RowsPerSecond)):F0} rows/s ({Range(ours.Select(o => o.RowsPerSecond))}), no peers run"), double.NaN);
        }

        var snapshotUnderLoad = new List<double>();
        var writers = settings.LoadSeconds > 0
            ? (await BenchHarness.AlternateAsync($"snapshot-{label}-writer", settings.Runs,
                new BenchSide("writer during the snapshot", async _ =>
                {
                    var (writer, snapshot) = await UnderLoadAsync();
                    snapshotUnderLoad.Add(snapshot);
                    return new BenchSample(writer, Detail: Invariant($"snapshot meanwhile {snapshot:F0} rows/s"));
                }),
                new BenchSide("writer alone", async _ =>
                {
                    using var window = new CancellationTokenSource(TimeSpan.FromSeconds(settings.LoadSeconds));
                    var clock = Stopwatch.StartNew();
                    var written = await database.WriteAsync(window.Token);
                    return new BenchSample(written / clock.Elapsed.TotalSeconds, Detail: Invariant($"{written} rows in {clock.Elapsed.TotalSeconds:F1} s"));
                })))[0]
            : null;

        // The peer of each run is the lower of its two limits; the ratio of each run is ours against it.
        var pairs = new BenchPairs($"snapshot-{label}", runs[0].Ours, [.. runs[0].Peer.Zip(runs[1].Peer, (r, c) => r.Rate <= c.Rate ? r : c)]);
        var line = pairs.Line() + Invariant($" rows/s; ours {Range(ours.Select(o => o.RowsPerSecond))}, peer {Range(pairs.Peer.Select(p => p.Rate))} ")
            + Invariant($"(raw read {Median(raw.Select(r => r.RowsPerSecond)):F0} {Range(raw.Select(r => r.RowsPerSecond))}, ")
            + Invariant($"Kafka ceiling {Median(ceiling.Select(c => c.RowsPerSecond)):F0} {Range(ceiling.Select(c => c.RowsPerSecond))}); ")
            + Invariant($"cpu_per_1k_rows: ours={Median(ours.Select(o => o.CpuMsPer1k)):F2} ms ceiling={Median(ceiling.Select(c => c.CpuMsPer1k)):F2} ms")
            + (writers is null
                ? string.Empty
                : Invariant($"; writer: alone={Median(writers.Peer.Select(p => p.Rate)):F0} rows/s {Range(writers.Peer.Select(p => p.Rate))}, during_snapshot={Median(writers.Ours.Select(o => o.Rate)):F0} rows/s {Range(writers.Ours.Select(o => o.Rate))} ({(Median(writers.Ours.Select(o => o.Rate)) / Median(writers.Peer.Select(p => p.Rate))) - 1:P0}), snapshot_meanwhile={Median(snapshotUnderLoad):F0} rows/s"));
        return (label, line, pairs.Ratio);
    }

    private static BenchSample Add(List<Measured> list, Measured measured)
    {
        list.Add(measured);
        return measured.Sample();
    }

    /// <summary>Ours: the source's first start on a fresh cluster, from its launch until Kafka acknowledged every row; then
    /// the topic is read back and checked.</summary>
    private async Task<Measured> OursAsync(List<(int Partition, int Key, int Value)>? sizes)
    {
        var loadAverage = LoadAverage();
        using var kafka = new KafkaConnection(new KafkaOptions());
        await using var store = await KafkaSchemaStore.CreateAsync(new KafkaSchemaStoreOptions { EmbeddedCluster = kafka.EmbeddedCluster });
        using var positions = new PositionStore(kafka);
        var (connector, options) = database.CreateSource(kafka, settings.Partitions, settings.ChunkSize, snapshot: true, Logger);
        await using var scope = connector;
        var runtime = new SourceRuntime<TPosition>("bench", connector, options, new ChangeEventOptions(), kafka, store, positions, null, Logger);
        using var stop = new CancellationTokenSource();
        // From the source's launch (as the peers from theirs): its start-up before the first chunk is in the window.
        var process = Process.GetCurrentProcess();
        var cpu = process.TotalProcessorTime;
        var allocated = GC.GetTotalAllocatedBytes(precise: false);
        var clock = Stopwatch.StartNew();
        var running = Task.Run(() => runtime.RunAsync(stop.Token));
        try
        {
            await StartedAsync(runtime, running);
            Console.WriteLine(Invariant($"# {database.Label}: the snapshot read its first chunk {clock.Elapsed.TotalSeconds:F3} s after the source's launch"));
            while (runtime.Produced < settings.Rows || runtime.InFlight > 0)
            {
                Check(runtime, running);
                await Task.Delay(2);
            }

            clock.Stop();
            allocated = GC.GetTotalAllocatedBytes(precise: false) - allocated;
            process.Refresh();
            var cpuMs = (process.TotalProcessorTime - cpu).TotalMilliseconds;
            if (!runtime.Snapshots!.IsIdle)
            {
                throw new InvalidOperationException($"ours: {runtime.Produced} records produced for {settings.Rows} rows, but the snapshot is not done: {string.Join(", ", runtime.Snapshots.Progress)}");
            }

            await stop.CancelAsync();
            await running;
            Verify(kafka, sizes);
            return new Measured(settings.Rows, clock.Elapsed.TotalSeconds, cpuMs, loadAverage, allocated);
        }
        finally
        {
            await stop.CancelAsync();
            await running;
            await database.AfterSourceAsync();
        }
    }

    /// <summary>The writer during a snapshot: from the snapshot's first read, for the load window; then the source stops.</summary>
    private async Task<(double Writer, double Snapshot)> UnderLoadAsync()
    {
        using var kafka = new KafkaConnection(new KafkaOptions());
        await using var store = await KafkaSchemaStore.CreateAsync(new KafkaSchemaStoreOptions { EmbeddedCluster = kafka.EmbeddedCluster });
        using var positions = new PositionStore(kafka);
        var (connector, options) = database.CreateSource(kafka, settings.Partitions, settings.ChunkSize, snapshot: true, Logger);
        await using var scope = connector;
        var runtime = new SourceRuntime<TPosition>("bench", connector, options, new ChangeEventOptions(), kafka, store, positions, null, Logger);
        using var stop = new CancellationTokenSource();
        var running = Task.Run(() => runtime.RunAsync(stop.Token));
        try
        {
            await StartedAsync(runtime, running);
            using var window = new CancellationTokenSource(TimeSpan.FromSeconds(settings.LoadSeconds));
            var produced = runtime.Produced;
            var clock = Stopwatch.StartNew();
            var written = await database.WriteAsync(window.Token);
            var seconds = clock.Elapsed.TotalSeconds;
            Check(runtime, running);
            if (runtime.Snapshots!.IsIdle)
            {
                Console.WriteLine($"# {database.Label}: the snapshot ended inside the load window; its rate is over the whole window");
            }

            return (written / seconds, (runtime.Produced - produced) / seconds);
        }
        finally
        {
            await stop.CancelAsync();
            await running;
            await database.AfterSourceAsync();
        }
    }

    /// <summary>Waits until the snapshot's worker reads the table (the connector's start-up before it is not timed).</summary>
    private static async Task StartedAsync(SourceRuntime<TPosition> runtime, Task<SourceOutcome> running)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromMinutes(2);
        while (!runtime.Snapshots!.Progress.Any(p => p.Reading))
        {
            Check(runtime, running);
            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException("the snapshot did not start within 2 minutes");
            }

            await Task.Delay(1);
        }
    }

    private static void Check(SourceRuntime<TPosition> runtime, Task<SourceOutcome> running)
    {
        if (running.IsCompleted)
        {
            throw new InvalidOperationException($"the source stopped: {runtime.FatalError?.ToString() ?? running.Result.ToString()}");
        }
    }

    /// <summary>Reads the topic back: exactly one record per row, every key 1..rows once, no partition truncated.</summary>
    private void Verify(KafkaConnection kafka, List<(int Partition, int Key, int Value)>? sizes)
    {
        var rows = settings.Rows;
        using var consumer = new ConsumerBuilder<byte[]?, byte[]?>(kafka.CreateConsumerConfig(null)).Build();
        var partitions = Enumerable.Range(0, settings.Partitions).Select(p => new TopicPartition(database.Topic, p)).ToList();
        long total = 0;
        foreach (var partition in partitions)
        {
            var offsets = consumer.QueryWatermarkOffsets(partition, TimeSpan.FromSeconds(10));
            if (offsets.Low.Value != 0)
            {
                throw new InvalidOperationException($"partition {partition.Partition} of {database.Topic} starts at offset {offsets.Low.Value}: the embedded cluster dropped records (raise --partitions)");
            }

            total += offsets.High.Value;
        }

        if (total != rows)
        {
            throw new InvalidOperationException($"{database.Topic} holds {total} records for {rows} rows");
        }

        consumer.Assign(partitions.Select(p => new TopicPartitionOffset(p, Offset.Beginning)));
        var seen = new BitArray(rows + 1);
        for (long read = 0; read < rows; read++)
        {
            var result = consumer.Consume(TimeSpan.FromSeconds(30)) ?? throw new InvalidOperationException($"{database.Topic}: no record after {read} of {rows}");
            var key = result.Message.Key ?? throw new InvalidOperationException($"{database.Topic}: a record without a key at {result.TopicPartitionOffset}");
            var id = BenchStats.ReadKeyId(key);
            if (id < 1 || id > rows || seen[(int)id])
            {
                throw new InvalidOperationException($"{database.Topic}: key {id} at {result.TopicPartitionOffset} is out of range or seen twice");
            }

            seen[(int)id] = true;
            sizes?.Add((result.Partition.Value, key.Length, result.Message.Value?.Length ?? 0));
        }
    }

    private async Task<Measured> RawAsync()
    {
        var loadAverage = LoadAverage();
        var process = Process.GetCurrentProcess();
        var cpu = process.TotalProcessorTime;
        var clock = Stopwatch.StartNew();
        var read = await database.ReadRawAsync();
        clock.Stop();
        process.Refresh();
        if (read != settings.Rows)
        {
            throw new InvalidOperationException($"the raw read of {database.Label} gave {read} rows for {settings.Rows}");
        }

        return new Measured(read, clock.Elapsed.TotalSeconds, (process.TotalProcessorTime - cpu).TotalMilliseconds, loadAverage);
    }

    /// <summary>The Kafka ceiling: as many messages as ours produced, of the same key and value sizes, to the same partitions
    /// of a topic with as many partitions on a fresh embedded cluster, from a bare producer with the runtime's settings.</summary>
    private async Task<Measured> CeilingAsync(List<(int Partition, int Key, int Value)> sizes)
    {
        var loadAverage = LoadAverage();
        using var kafka = new KafkaConnection(new KafkaOptions());
        const string Topic = "bench-ceiling";
        await kafka.EnsureTopicAsync(Topic, settings.Partitions, TopicRetention.Default, CancellationToken.None);
        var payload = KafkaCeiling.Payloads();
        var targets = Enumerable.Range(0, settings.Partitions).Select(p => new TopicPartition(Topic, p)).ToArray();
        var keys = sizes.Select(s => payload(s.Key)).ToArray();
        var values = sizes.Select(s => payload(s.Value)).ToArray();
        // The settings ChangeProducer gives the runtime's producer.
        var config = ChangeProducerConfig.Create(kafka);
        Console.WriteLine($"# {database.Label} Kafka ceiling producer (the source runtime's settings): {BenchHarness.DeliveryReports(config)}");
        using var producer = new ProducerBuilder<byte[], byte[]>(config).Build();
        var message = new Message<byte[], byte[]>();
        var process = Process.GetCurrentProcess();
        GC.Collect();
        var cpu = process.TotalProcessorTime;
        var allocated = GC.GetTotalAllocatedBytes(precise: false);
        var clock = Stopwatch.StartNew();
        var failed = KafkaCeiling.ProduceAll(producer, sizes.Count, i => targets[sizes[i].Partition], i =>
        {
            message.Key = keys[i];
            message.Value = values[i];
            return message;
        });
        clock.Stop();
        process.Refresh();
        BenchHarness.Expect("the Kafka ceiling: messages that failed", failed, 0);
        using (var watermarks = new Watermarks(kafka.BootstrapServers, Topic, settings.Partitions))
        {
            BenchHarness.Expect("the Kafka ceiling: the topic's high watermarks summed", watermarks.Sum(), settings.Rows);
        }

        return new Measured(sizes.Count, clock.Elapsed.TotalSeconds, (process.TotalProcessorTime - cpu).TotalMilliseconds, loadAverage, GC.GetTotalAllocatedBytes(precise: false) - allocated);
    }

    /// <summary>One timed run.</summary>
    private sealed record Measured(long Rows, double Seconds, double CpuMs, string LoadAverage, long AllocatedBytes = 0)
    {
        public double RowsPerSecond => Rows / Seconds;

        public double CpuMsPer1k => CpuMs / Rows * 1000;

        public BenchSample Sample() => new(RowsPerSecond, Detail: ToString());

        public override string ToString() => string.Create(CultureInfo.InvariantCulture,
            $"{Rows} rows in {Seconds:F2} s = {RowsPerSecond:F0} rows/s, cpu of this process {CpuMsPer1k:F2} ms per 1k rows, {(double)AllocatedBytes / Rows:F0} B allocated per row (load average {LoadAverage})");
    }
}
