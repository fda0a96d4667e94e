using System.Diagnostics;
using System.Globalization;
using DataMesh.Hosting;
using DataMesh.IntegrationTests.ControlPlane;
using DataMesh.Schemas;
using DataMesh.Sources;
using Npgsql;
using static System.FormattableString;

namespace DataMesh.Benchmarks;

/// <summary>
/// The runner suite: <c>datamesh run</c> processes (the tool built next to the benchmarks) on an embedded Kafka hosted by
/// this process, with the integration tests' <see cref="RunnerFleet"/>. Three measures, each printed as median, min and max:
/// (1) <c>apply</c> to the first event in the sink: a runner runs an idle definition; the definition gains a PostgreSQL
/// source of a 100-row table and a pipeline from its topic to a sink topic; the clock runs from the start of the apply (in
/// this process, as <c>datamesh apply</c> does it) to the first record in the sink topic (<c>--runs N</c> rounds, 5 by
/// default); (2) fail-over: two runners, one reading the source under load (inserts, one per transaction), killed with
/// SIGKILL <c>--kills N</c> times (10 by default); the clock runs from the kill to the standby's "took its lease";
/// (3) a pipeline's records/s with 1, 2 and 3 runners in its consumer group: <c>--records N</c> (120,000 by default) 20-column
/// change events produced (by this process) into a 12-partition topic once every runner of the group holds partitions,
/// copied to another, from the first record in the sink to the last (records copied twice by a rebalance cost time and are not counted; <c>--runs</c> rounds of each). Needs <c>DATAMESH_PG_CONNECTION</c> (<c>./build.sh bench runners</c> sets it).
/// </summary>
internal sealed class RunnerSuite : IBenchmarkSuite
{
    private const int Partitions = 12;

    public string Name => "runners";

    public int Run(string[] args)
    {
        var only = Array.IndexOf(args, "--only") is var at and >= 0 && at + 1 < args.Length ? args[at + 1] : null;
        return RunAsync(BenchHarness.Runs(args), BenchHarness.Option(args, "--kills", 10), BenchHarness.Option(args, "--records", 120_000), only).GetAwaiter().GetResult();
    }

    private static async Task<int> RunAsync(int runs, int kills, int records, string? only)
    {
        var admin = Environment.GetEnvironmentVariable("DATAMESH_PG_CONNECTION") ?? throw new InvalidOperationException("DATAMESH_PG_CONNECTION is not set: run ./build.sh bench runners, or ./build.sh servers and its export lines.");
        BenchHarness.PrintMachine("runners", "start");
        using var kafka = new KafkaConnection(new KafkaOptions());
        var cluster = kafka.EmbeddedCluster!;
        cluster.EnsureTopic(PositionStore.DefaultTopic, 1);
        await using var store = await KafkaSchemaStore.CreateAsync(new KafkaSchemaStoreOptions { EmbeddedCluster = cluster });

        var firstEvent = new List<double>();
        for (var round = 1; round <= runs && only is null or "apply"; round++)
        {
            await using var database = await BenchDatabase.CreateAsync(admin, rows: 100);
            firstEvent.Add(await ApplyToFirstEventAsync(kafka, database));
            Console.WriteLine(Invariant($"# runners apply-to-first-event round {round}: {firstEvent[^1]:F0} ms; load average {Load()}"));
        }

        List<double> failovers = [];
        if (only is null or "failover")
        {
            await using var database = await BenchDatabase.CreateAsync(admin, rows: 0);
            failovers = await FailoverAsync(kafka, database, kills);
        }

        var rates = new Dictionary<int, List<double>> { [1] = [], [2] = [], [3] = [] };
        for (var round = 1; round <= runs && only is null or "pipeline"; round++)
        {
            foreach (var processes in round % 2 == 1 ? new[] { 1, 2, 3 } : [3, 2, 1])
            {
                rates[processes].Add(await ThroughputAsync(kafka, store, processes, records));
                Console.WriteLine(Invariant($"# runners pipeline with {processes} runner(s), round {round}: {rates[processes][^1]:F0} records/s; load average {Load()}"));
            }
        }

        BenchHarness.PrintMachine("runners", "end");
        Console.WriteLine(Invariant($"# apply to the first event in the sink: {Stats(firstEvent, "ms")}"));
        Console.WriteLine(Invariant($"# fail-over after SIGKILL: {Stats(failovers, "ms")}"));
        foreach (var (processes, list) in rates)
        {
            Console.WriteLine(Invariant($"# pipeline records/s with {processes} runner(s): {Stats(list, "records/s")}"));
        }

        Console.WriteLine(Invariant($"runners: apply-to-first-event={Median(firstEvent):F0}ms failover={Median(failovers):F0}ms ") +
            string.Join(' ', rates.Select(r => Invariant($"records/s@{r.Key}={Median(r.Value):F0}"))));
        return 0;
    }

    /// <summary>A runner runs an idle pipeline; the apply adds a source and a pipeline: milliseconds from the apply's start to
    /// the first record in the pipeline's sink.</summary>
    private static async Task<double> ApplyToFirstEventAsync(KafkaConnection kafka, BenchDatabase database)
    {
        var suffix = Guid.NewGuid().ToString("N")[..8];
        var idle = $"idle-{suffix}";
        kafka.EmbeddedCluster!.EnsureTopic(idle, 1);
        var idleDefinition = $$"""
            pipelines:
              - name: {{idle}}
                source_topics: [{{idle}}]
                sink:
                  kafka: {topic: {{idle}}-out}

            """;
        var source = $"src_{suffix}";
        var sink = $"first-{suffix}";
        var definition = $$"""
            sources:
              - name: {{source}}
                type: postgres
                connection_string: "${env:BENCH_PG}"
                slot_name: slot_{{suffix}}
                include_tables: [public.t]
            pipelines:
              - name: {{idle}}
                source_topics: [{{idle}}]
                sink:
                  kafka: {topic: {{idle}}-out}
              - name: copy-{{suffix}}
                source: {{source}}
                tables: [public.t]
                sink:
                  kafka: {topic: {{sink}}}

            """;
        using var fleet = new RunnerFleet(kafka, idleDefinition, new Dictionary<string, string> { ["BENCH_PG"] = database.ConnectionString });
        await fleet.ApplyAsync(idleDefinition);
        var runner = fleet.Start();
        await fleet.WaitForLineAsync(runner, "running generation", TimeSpan.FromSeconds(60));
        await Task.Delay(2000);
        var clock = Stopwatch.StartNew();
        await fleet.ApplyAsync(definition);
        using var watermarks = new Watermarks(kafka.BootstrapServers, sink, 1);
        while (watermarks.Sum() == 0)
        {
            if (clock.Elapsed > TimeSpan.FromMinutes(2))
            {
                throw new TimeoutException($"no event in the sink {sink} within 2 minutes; runner's log:\n{fleet.Log}");
            }

            await Task.Delay(5);
        }

        var elapsed = clock.Elapsed.TotalMilliseconds;
        fleet.Kill(runner);
        return elapsed;
    }

    /// <summary>Two runners of a source under load; the reading one killed <paramref name="kills"/> times: the fail-overs in ms.</summary>
    private static async Task<List<double>> FailoverAsync(KafkaConnection kafka, BenchDatabase database, int kills)
    {
        var suffix = Guid.NewGuid().ToString("N")[..8];
        var source = $"src_{suffix}";
        kafka.EmbeddedCluster!.EnsureTopic($"dm.{source}.public.t", 1);
        var definition = $$"""
            sources:
              - name: {{source}}
                type: postgres
                connection_string: "${env:BENCH_PG}"
                slot_name: slot_{{suffix}}
                include_tables: [public.t]
                lease_check_interval: 250ms
                snapshot: {initial: none}

            """;
        using var fleet = new RunnerFleet(kafka, definition, new Dictionary<string, string> { ["BENCH_PG"] = database.ConnectionString });
        await fleet.ApplyAsync(definition);
        var started = new[] { fleet.Start(), fleet.Start() };
        var reader = await fleet.WaitForHolderAsync(TimeSpan.FromSeconds(60));
        var standby = started.Single(r => r != reader);
        await fleet.WaitForStandbyAsync(standby, TimeSpan.FromSeconds(60));
        using var stop = new CancellationTokenSource();
        var writing = database.InsertUntilAsync(stop.Token);
        var random = new Random(20261204);
        var failovers = new List<double>();
        for (var kill = 0; kill < kills; kill++)
        {
            await Task.Delay(random.Next(500, 1500));
            var clock = Stopwatch.StartNew();
            fleet.Kill(reader);
            reader = await fleet.WaitForHolderAsync(TimeSpan.FromSeconds(60));
            failovers.Add(clock.Elapsed.TotalMilliseconds);
            Console.WriteLine(Invariant($"# runners fail-over {kill + 1}: {failovers[^1]:F0} ms; load average {Load()}"));
            standby = fleet.Start();
            await fleet.WaitForStandbyAsync(standby, TimeSpan.FromSeconds(60));
        }

        await stop.CancelAsync();
        var inserted = await writing;
        if (fleet.Overlaps.Count > 0)
        {
            throw new InvalidOperationException("two runners read the source at once: " + string.Join("; ", fleet.Overlaps));
        }

        Console.WriteLine(Invariant($"# runners fail-over: {inserted} rows inserted during the {kills} kills"));
        return failovers;
    }

    /// <summary>A pipeline on <paramref name="processes"/> runners over a filled topic: records/s from the first record in the
    /// sink to the last.</summary>
    private static async Task<double> ThroughputAsync(KafkaConnection kafka, KafkaSchemaStore store, int processes, int records)
    {
        var suffix = Guid.NewGuid().ToString("N")[..8];
        var from = $"load-{suffix}";
        var to = $"copy-{suffix}";
        kafka.EmbeddedCluster!.EnsureTopic(from, Partitions);
        var definition = $$"""
            pipelines:
              - name: copy-{{suffix}}
                source_topics: [{{from}}]
                sink:
                  kafka: {topic: {{to}}, partitions: {{Partitions}}}

            """;
        using var fleet = new RunnerFleet(kafka, definition, []);
        await fleet.ApplyAsync(definition);
        var runners = Enumerable.Range(0, processes).Select(_ => fleet.Start()).ToList();

        // Every runner in the group holds partitions before the records come: the window measures the group, not its joins.
        foreach (var runner in runners)
        {
            await fleet.WaitForLineAsync(runner, "partitions assigned", TimeSpan.FromSeconds(90));
        }

        await Task.Delay(3000);
        var filling = PipelineSuite.FillAsync(kafka, store, from, records);

        using var watermarks = new Watermarks(kafka.BootstrapServers, to, Partitions);
        var clock = Stopwatch.StartNew();
        var first = TimeSpan.Zero;
        var last = TimeSpan.Zero;
        long done = 0;

        // A rebalance (a runner joining) hands partitions over from their committed offsets: what was copied past them is
        // copied again (at least once). The run ends when the sink has them all and stopped growing for 2 s; its window
        // is from the first record in the sink to the last, so repeats cost time and are not counted as records.
        while (done < records || clock.Elapsed - last < TimeSpan.FromSeconds(2))
        {
            var now = watermarks.Sum();
            if (now > done)
            {
                last = clock.Elapsed;
                if (done == 0)
                {
                    first = last;
                }

                done = now;
            }

            if (clock.Elapsed > TimeSpan.FromMinutes(5))
            {
                throw new TimeoutException($"{done} of {records} records in the sink within 5 minutes; runners' logs:\n{fleet.Log}");
            }

            await Task.Delay(5);
        }

        await filling;
        BenchHarness.Expect("runners: the sink topic's high watermarks summed, at least", Math.Min(done, records), records);
        Console.WriteLine(Invariant($"# runners pipeline with {processes} runner(s): {records} records, {done - records} copied twice (rebalances), {(last - first).TotalSeconds:F2} s"));
        return records / (last - first).TotalSeconds;
    }

    private static double Median(List<double> values) => values.Count == 0 ? double.NaN : BenchStats.Median(values);

    private static string Stats(List<double> values, string unit) => values.Count == 0 ? "not run" :
        Invariant($"median {BenchStats.Median(values):F0} {unit}, min {values.Min():F0}, max {values.Max():F0} (n={values.Count}: {string.Join(", ", values.Select(v => v.ToString("F0", CultureInfo.InvariantCulture)))})");

    private static string Load() => File.ReadAllText("/proc/loadavg").Trim();

    /// <summary>A throwaway PostgreSQL database with a table <c>t (id int key, v bigint)</c>.</summary>
    private sealed class BenchDatabase : IAsyncDisposable
    {
        private readonly string _admin;
        private readonly string _name;

        private BenchDatabase(string admin, string name, string connectionString)
        {
            _admin = admin;
            _name = name;
            ConnectionString = connectionString;
        }

        public string ConnectionString { get; }

        public static async Task<BenchDatabase> CreateAsync(string admin, int rows)
        {
            var name = "bench_runner_" + Guid.NewGuid().ToString("N")[..12];
            await using (var connection = new NpgsqlConnection(admin))
            {
                await connection.OpenAsync();
                await new NpgsqlCommand($"CREATE DATABASE {name}", connection).ExecuteNonQueryAsync();
            }

            var connectionString = new NpgsqlConnectionStringBuilder(admin) { Database = name }.ConnectionString;
            await using (var connection = new NpgsqlConnection(connectionString))
            {
                await connection.OpenAsync();
                await new NpgsqlCommand($"CREATE TABLE t (id int PRIMARY KEY, v bigint); INSERT INTO t SELECT g, g FROM generate_series(1, {rows}) g", connection).ExecuteNonQueryAsync();
            }

            return new BenchDatabase(admin, name, connectionString);
        }

        /// <summary>Inserts rows, one per transaction, until cancelled; returns how many.</summary>
        public async Task<long> InsertUntilAsync(CancellationToken cancellationToken)
        {
            await using var connection = new NpgsqlConnection(ConnectionString);
            await connection.OpenAsync(CancellationToken.None);
            long count = 0;
            while (!cancellationToken.IsCancellationRequested)
            {
                await new NpgsqlCommand($"INSERT INTO t VALUES ({1_000_000 + count}, {count})", connection).ExecuteNonQueryAsync(CancellationToken.None);
                count++;
                await Task.Delay(2, CancellationToken.None);
            }

            return count;
        }

        public async ValueTask DisposeAsync()
        {
            NpgsqlConnection.ClearAllPools();
            await using var connection = new NpgsqlConnection(_admin);
            await connection.OpenAsync();

            // The runners were killed: their slots are inactive once PostgreSQL saw their sessions end.
            for (var attempt = 0; ; attempt++)
            {
                try
                {
                    await new NpgsqlCommand($"SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE database = '{_name}'", connection).ExecuteNonQueryAsync();
                    await new NpgsqlCommand($"DROP DATABASE {_name} WITH (FORCE)", connection).ExecuteNonQueryAsync();
                    return;
                }
                catch (PostgresException) when (attempt < 20)
                {
                    await Task.Delay(500);
                }
            }
        }
    }
}
