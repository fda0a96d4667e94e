using System.Diagnostics;
using System.Globalization;
using DataMesh.Events;
using DataMesh.Hosting;
using DataMesh.Kafka;
using DataMesh.Schemas;
using DataMesh.Sources;
using Npgsql;
using static System.FormattableString;

namespace DataMesh.Benchmarks;

/// <summary>
/// PostgreSQL end to end: the same single-row changes (<c>--changes N</c>, default 1,000,000: half inserts, then as many
/// updates, 100 statements per transaction), written once and read <c>--runs N</c> times (default 5) by each side from a
/// copy of one pgoutput slot made before the workload, alternated by <see cref="BenchHarness"/>:
/// <list type="bullet">
/// <item>ours: the connector (a process of its own, with the product's defaults, producing to the embedded Kafka in this
/// process), from its launch until the topic's high watermarks sum to the changes;</item>
/// <item><c>pg</c>: <c>pg_recvlogical</c> writing to /dev/null (the raw limit of the log), from its launch until it exits
/// at the end LSN, which its slot must then have confirmed;</item>
/// <item><c>pg-dotnet</c>: Npgsql's pgoutput replication API into objects, produced with Confluent's AvroSerializer
/// (<see cref="PgDotnetPeer"/>), from its connection's open until every record was acknowledged.</item>
/// </list>
/// Steady-state rates from positions sampled every 50 ms: the topics' high watermarks (ours, pg-dotnet) and the walsender's
/// <c>sent_lsn</c> (pg_recvlogical; the LSN's share of the workload's WAL times the changes).
/// Needs DATAMESH_PG_CONNECTION and DATAMESH_PG_BIN, which <c>./build.sh bench pg</c> sets.
/// <para>
/// <c>--baseline-host PATH</c> compares two builds of the connector instead (issue 10's "no worse than before"): the only
/// peer (named <c>pg</c>, so the result line is <c>pg: ours=... peer=...</c>) is <c>DataMesh.ConnectorHost.dll</c> at PATH, built from a commit before the source runtime (6b3582a), started
/// with that host's positional command line (it fixes a 100 ms position-save interval and 200 ms–2 s retry delays, so
/// ours gets the same three settings in this mode). Both sides use the same window and count check.
/// </para>
/// </summary>
internal sealed class PgSuite : IBenchmarkSuite
{
    private const int Partitions = 32; // the embedded cluster keeps 5 MB per partition
    private const string Publication = "datamesh_bench";

    public string Name => "pg";

    public int Run(string[] args) => RunAsync(BenchHarness.Option(args, "--changes", 1_000_000), BenchHarness.Runs(args), BaselineHost(args)).GetAwaiter().GetResult();

    private static string? BaselineHost(string[] args)
    {
        var index = Array.IndexOf(args, "--baseline-host");
        if (index < 0)
        {
            return null;
        }

        var path = index + 1 < args.Length ? Path.GetFullPath(args[index + 1]) : throw new ArgumentException("--baseline-host needs the path of a DataMesh.ConnectorHost.dll");
        return File.Exists(path) ? path : throw new FileNotFoundException($"--baseline-host: {path} does not exist", path);
    }

    private static async Task<int> RunAsync(int changes, int runs, string? baselineHost)
    {
        var admin = Environment.GetEnvironmentVariable("DATAMESH_PG_CONNECTION") ?? throw new InvalidOperationException("DATAMESH_PG_CONNECTION is not set: run ./build.sh bench pg");
        var bin = Environment.GetEnvironmentVariable("DATAMESH_PG_BIN") ?? throw new InvalidOperationException("DATAMESH_PG_BIN is not set: run ./build.sh bench pg");
        var database = "bench_" + Guid.NewGuid().ToString("N")[..8];
        await ExecuteAsync(admin, $"CREATE DATABASE {database}");
        var connection = new NpgsqlConnectionStringBuilder(admin) { Database = database }.ConnectionString;
        var template = database + "_template"; // slot names are the server's, not the database's: named after the database
        try
        {
            await ExecuteAsync(connection, $"CREATE TABLE bench (id int PRIMARY KEY, v bigint NOT NULL, note text NOT NULL); CREATE PUBLICATION {Publication} FOR TABLE bench");
            await ExecuteAsync(connection, $"SELECT pg_create_logical_replication_slot('{template}', 'pgoutput')");
            var startLsn = await LsnAsync(connection, $"SELECT confirmed_flush_lsn FROM pg_replication_slots WHERE slot_name = '{template}'");
            Console.Error.WriteLine($"pg: writing {changes:N0} single-row changes...");
            var (lastTransaction, end) = await WorkloadAsync(connection, changes);
            Console.WriteLine($"# pg: {changes} changes from {startLsn} to {end} in {database}, {runs} alternated runs of each side, each from a fresh copy of slot {template}");

            using (var kafka = new KafkaConnection(new KafkaOptions()))
            {
                Console.WriteLine($"# pg ours producer (the source runtime's, in the connector process): {BenchHarness.DeliveryReports(ChangeProducerConfig.Create(kafka))}");
            }

            if (baselineHost is not null)
            {
                Console.WriteLine($"# pg baseline: {baselineHost}; both sides with a 100 ms position-save interval and 200 ms-2 s retry delays (the baseline host's fixed settings)");
                var current = new BenchSide("ours", round => WithSlotAsync(connection, template, $"{database}_ours_{round}", slot => OursAsync(connection, slot, changes, null)));
                var baseline = new BenchSide("pg", round => WithSlotAsync(connection, template, $"{database}_base_{round}", slot => OursAsync(connection, slot, changes, baselineHost)));
                BenchHarness.PrintResults([.. await BenchHarness.AlternateAsync("pg", runs, current, baseline)]);
                return 0;
            }

            var ours = new BenchSide("ours", round => WithSlotAsync(connection, template, $"{database}_ours_{round}", slot => OursAsync(connection, slot, changes)));
            var dotnet = new BenchSide("pg-dotnet", round => WithSlotAsync(connection, template, $"{database}_dotnet_{round}", async slot =>
            {
                var (decoded, held, steady, seconds) = await PgDotnetPeer.RunAsync(connection, slot, Publication, lastTransaction, Partitions, changes);
                BenchHarness.Expect("pg-dotnet: rows decoded", decoded, changes);
                BenchHarness.Expect("pg-dotnet: the topic's high watermarks summed", held, changes);
                return new BenchSample(changes / seconds, steady);
            }));
            var recvlogical = new BenchSide("pg", round => WithSlotAsync(connection, template, $"{database}_recvlogical_{round}", slot => PeerAsync(bin, connection, slot, startLsn, end, changes)));
            var pairs = await BenchHarness.AlternateAsync("pg", runs, ours, dotnet, recvlogical);
            BenchHarness.PrintResults([.. pairs]);
            return 0;
        }
        finally
        {
            // A killed connector's walsender notices the closed socket a moment later; its slot stays active until then.
            for (var wait = 0; wait < 100 && await ScalarAsync(admin, $"SELECT count(*) FROM pg_replication_slots WHERE database = '{database}' AND active") > 0; wait++)
            {
                await Task.Delay(100);
            }

            await ExecuteAsync(admin, $"SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE database = '{database}' AND NOT active");
            await ExecuteAsync(admin, $"DROP DATABASE IF EXISTS {database} WITH (FORCE)");
        }
    }

    /// <summary>Runs <paramref name="run"/> on a copy of the template slot (at the workload's start), then drops the copy.</summary>
    private static async Task<BenchSample> WithSlotAsync(string connectionString, string template, string slot, Func<string, Task<BenchSample>> run)
    {
        await ExecuteAsync(connectionString, $"SELECT pg_copy_logical_replication_slot('{template}', '{slot}')");
        try
        {
            return await run(slot);
        }
        finally
        {
            for (var wait = 0; wait < 100 && await ScalarAsync(connectionString, $"SELECT count(*) FROM pg_replication_slots WHERE slot_name = '{slot}' AND active") > 0; wait++)
            {
                await Task.Delay(100);
            }

            await ExecuteAsync(connectionString, $"SELECT pg_drop_replication_slot('{slot}')");
        }
    }

    /// <summary>Writes the changes; returns the WAL position before the last transaction (the first commit at or past it is
    /// the last one) and after it (pg_recvlogical's end position).</summary>
    private static async Task<(NpgsqlTypes.NpgsqlLogSequenceNumber LastTransaction, NpgsqlTypes.NpgsqlLogSequenceNumber End)> WorkloadAsync(string connectionString, int changes)
    {
        var lastTransaction = default(NpgsqlTypes.NpgsqlLogSequenceNumber);
        await using var connection = new NpgsqlConnection(connectionString);
        await connection.OpenAsync();
        var inserts = changes / 2;
        for (var phase = 0; phase < 2; phase++)
        {
            var count = phase == 0 ? inserts : changes - inserts;
            for (var start = 0; start < count; start += 100)
            {
                if (phase == 1 && start + 100 >= count)
                {
                    lastTransaction = await LsnAsync(connectionString, "SELECT pg_current_wal_lsn()");
                }

                await using var transaction = await connection.BeginTransactionAsync();
                var batch = new NpgsqlBatch(connection, transaction);
                for (var i = start; i < Math.Min(start + 100, count); i++)
                {
                    batch.BatchCommands.Add(new NpgsqlBatchCommand(phase == 0
                        ? $"INSERT INTO bench VALUES ({i}, {i}, 'order note number {i}')"
                        : $"UPDATE bench SET v = v + 1 WHERE id = {i % inserts}"));
                }

                await batch.ExecuteNonQueryAsync();
                await transaction.CommitAsync();
            }
        }

        return (lastTransaction, await LsnAsync(connectionString, "SELECT pg_current_wal_lsn()"));
    }

    /// <summary>pg_recvlogical from its launch until it exits at the end LSN; its slot must have confirmed the end LSN.</summary>
    private static async Task<BenchSample> PeerAsync(string bin, string connectionString, string slot, NpgsqlTypes.NpgsqlLogSequenceNumber startLsn, NpgsqlTypes.NpgsqlLogSequenceNumber endLsn, int changes)
    {
        var builder = new NpgsqlConnectionStringBuilder(connectionString);
        var start = new ProcessStartInfo(Path.Combine(bin, "pg_recvlogical")) { UseShellExecute = false, RedirectStandardError = true };
        foreach (var argument in new[] { "-h", builder.Host!, "-p", builder.Port.ToString(CultureInfo.InvariantCulture), "-U", builder.Username!, "-d", builder.Database!,
                     "--slot", slot, "--start", "--endpos", endLsn.ToString(), "-o", "proto_version=1", "-o", "publication_names=" + Publication, "-f", "/dev/null", "--no-loop" })
        {
            start.ArgumentList.Add(argument);
        }

        start.Environment["PGPASSWORD"] = builder.Password ?? string.Empty;
        await using var positions = new NpgsqlConnection(connectionString);
        await positions.OpenAsync();
        await using var sent = new NpgsqlCommand($"SELECT (r.sent_lsn - '{startLsn}'::pg_lsn)::bigint FROM pg_stat_replication r JOIN pg_replication_slots s ON s.active_pid = r.pid WHERE s.slot_name = '{slot}'", positions);
        var walBytes = (double)((ulong)endLsn - (ulong)startLsn);
        var watch = Stopwatch.StartNew();
        using var process = Process.Start(start)!;
        double steady;
        double cpu;
        long peak;
        await using (var sampler = new ProgressSampler(() => sent.ExecuteScalar() is long bytes ? (long)(bytes / walBytes * changes) : throw new InvalidOperationException("no walsender yet")))
        {
            (cpu, peak) = await WatchAsync(process, () => process.HasExited);
            watch.Stop();
            steady = sampler.SteadyRate(changes);
        }

        if (process.ExitCode != 0)
        {
            throw new InvalidOperationException($"pg_recvlogical failed: {await process.StandardError.ReadToEndAsync()}");
        }

        var confirmed = await LsnAsync(connectionString, $"SELECT confirmed_flush_lsn FROM pg_replication_slots WHERE slot_name = '{slot}'");
        BenchHarness.Expect($"pg_recvlogical: slot {slot} confirmed {confirmed}, at or past the end LSN {endLsn}", confirmed >= endLsn ? 1 : 0, 1);
        return new BenchSample(changes / watch.Elapsed.TotalSeconds, steady, Invariant($"cpu {cpu * 1000 / changes:F1} ms per 1k changes, peak RSS {peak / 1048576} MB"));
    }

    /// <summary>Ours: the connector from its launch, with the product's defaults, until the topic's high watermarks sum to
    /// the changes (every change acknowledged by Kafka); then they must equal them.</summary>
    /// <remarks>With <paramref name="compare"/> set (the <c>--baseline-host</c> mode), <c>null</c> runs this build's host and
    /// a path runs that host, both with the baseline host's fixed settings.</remarks>
    private static async Task<BenchSample> OursAsync(string connectionString, string slot, int changes, string? compare = "")
    {
        using var cluster = EmbeddedKafkaCluster.Start();
        var topic = TopicNames.ForTable("dm", "bench", "public", "bench");
        cluster.CreateTopic(KafkaSchemaStoreOptions.DefaultTopic, 1);
        cluster.CreateTopic(PositionStore.DefaultTopic, 1);
        cluster.CreateTopic(topic, Partitions);
        var host = Path.Combine(AppContext.BaseDirectory, "DataMesh.ConnectorHost.dll");
        var start = new ProcessStartInfo("dotnet") { UseShellExecute = false };
        string[] arguments = compare switch
        {
            // The log is measured: the rows the workload left in the table are not snapshotted (the default at a first start).
            "" => [host, "source", "postgres", cluster.BootstrapServers, "bench", "SlotName=" + slot, "IncludeTables:0=public.bench", "ConnectionString=" + connectionString, "Snapshot:Initial=None"],
            null => [host, "source", "postgres", cluster.BootstrapServers, "bench", "SlotName=" + slot, "IncludeTables:0=public.bench", "ConnectionString=" + connectionString, "Snapshot:Initial=None",
                "PositionSaveInterval=00:00:00.100", "RetryDelay=00:00:00.200", "MaxRetryDelay=00:00:02"],
            // The host of 6b3582a: [pg] <bootstrap servers> <source name> <slot> <table pattern> <connection string>.
            _ => [compare, cluster.BootstrapServers, "bench", slot, "public.bench", connectionString],
        };
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        using var watermarks = new Watermarks(cluster.BootstrapServers, topic, Partitions);
        using var progress = new Watermarks(cluster.BootstrapServers, topic, Partitions);
        var watch = Stopwatch.StartNew();
        using var process = Process.Start(start)!;
        try
        {
            await using var sampler = new ProgressSampler(progress.Sum);
            long produced = 0;
            var last = (Count: 0L, At: TimeSpan.Zero);
            var (cpu, peak) = await WatchAsync(process, () =>
            {
                produced = watermarks.Sum();
                if (produced > last.Count)
                {
                    last = (produced, watch.Elapsed);
                }
                else if (watch.Elapsed - last.At > TimeSpan.FromMinutes(2))
                {
                    throw new InvalidOperationException($"count check failed: the topic holds {produced} records of {changes} and has not grown for 2 minutes");
                }

                return produced >= changes || process.HasExited;
            });
            watch.Stop();
            if (process.HasExited)
            {
                throw new InvalidOperationException($"The connector exited with code {process.ExitCode}.");
            }

            BenchHarness.Expect("ours: the topic's high watermarks summed", watermarks.Sum(), changes);
            return new BenchSample(changes / watch.Elapsed.TotalSeconds, sampler.SteadyRate(changes), Invariant($"cpu {cpu * 1000 / changes:F1} ms per 1k changes, peak RSS {peak / 1048576} MB"));
        }
        finally
        {
            process.Kill(entireProcessTree: true);
            await process.WaitForExitAsync();
        }
    }

    private static async Task<NpgsqlTypes.NpgsqlLogSequenceNumber> LsnAsync(string connectionString, string sql)
    {
        await using var connection = new NpgsqlConnection(connectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(sql, connection);
        return (NpgsqlTypes.NpgsqlLogSequenceNumber)(await command.ExecuteScalarAsync())!;
    }

    /// <summary>Polls a process's CPU time and peak resident memory until <paramref name="done"/>.</summary>
    private static async Task<(double CpuMs, long PeakBytes)> WatchAsync(Process process, Func<bool> done)
    {
        double cpu = 0;
        long peak = 0;
        while (!done())
        {
            try
            {
                cpu = CpuMs(process.Id);
                peak = Math.Max(peak, PeakBytes(process.Id));
            }
            catch (IOException)
            {
                // The process ended between the check and the read.
            }

            await Task.Delay(20);
        }

        return (cpu, peak);
    }

    /// <summary>The user + system CPU time of process <paramref name="pid"/> so far, in milliseconds (<c>/proc/PID/stat</c>).</summary>
    internal static double CpuMs(int pid)
    {
        var stat = File.ReadAllText($"/proc/{pid}/stat");
        var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
        var ticks = long.Parse(fields[11], CultureInfo.InvariantCulture) + long.Parse(fields[12], CultureInfo.InvariantCulture);
        return ticks * 10.0; // USER_HZ is 100 on Linux
    }

    /// <summary>The peak resident memory of process <paramref name="pid"/> (<c>VmHWM</c> of <c>/proc/PID/status</c>), in bytes.</summary>
    internal static long PeakBytes(int pid)
    {
        foreach (var line in File.ReadLines($"/proc/{pid}/status"))
        {
            if (line.StartsWith("VmHWM:", StringComparison.Ordinal))
            {
                return long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture) * 1024;
            }
        }

        return 0;
    }

    internal static async Task<long> ScalarAsync(string connectionString, string sql)
    {
        await using var connection = new NpgsqlConnection(connectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(sql, connection);
        return Convert.ToInt64(await command.ExecuteScalarAsync(), CultureInfo.InvariantCulture);
    }

    internal static async Task ExecuteAsync(string connectionString, string sql)
    {
        await using var connection = new NpgsqlConnection(connectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(sql, connection) { CommandTimeout = 600 };
        await command.ExecuteNonQueryAsync();
    }
}
