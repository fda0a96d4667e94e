using System.Diagnostics;
using System.Globalization;
using Confluent.Kafka;
using DataMesh.Events;
using DataMesh.Kafka;
using DataMesh.Schemas;
using DataMesh.Sources;
using Npgsql;

namespace DataMesh.Benchmarks;

/// <summary>
/// PostgreSQL end to end: the same 1 million single-row changes (500k inserts, then 500k updates, 100 statements per
/// transaction) read from two pgoutput slots, by our connector (a process of its own, producing to the embedded Kafka,
/// counted when Kafka holds every event) and by <c>pg_recvlogical</c> writing to /dev/null (the raw limit of the log).
/// Needs DATAMESH_PG_CONNECTION and DATAMESH_PG_BIN, which <c>./build.sh bench pg</c> sets.
/// </summary>
internal sealed class PgSuite : IBenchmarkSuite
{
    private const int Partitions = 32; // the embedded cluster keeps 5 MB per partition

    public string Name => "pg";

    public int Run(string[] args) => RunAsync(args.Length > 0 ? int.Parse(args[0], CultureInfo.InvariantCulture) : 1_000_000).GetAwaiter().GetResult();

    private static async Task<int> RunAsync(int changes)
    {
        var admin = Environment.GetEnvironmentVariable("DATAMESH_PG_CONNECTION") ?? throw new InvalidOperationException("DATAMESH_PG_CONNECTION is not set: run ./build.sh bench pg");
        var bin = Environment.GetEnvironmentVariable("DATAMESH_PG_BIN") ?? throw new InvalidOperationException("DATAMESH_PG_BIN is not set: run ./build.sh bench pg");
        var database = "bench_" + Guid.NewGuid().ToString("N")[..8];
        await ExecuteAsync(admin, $"CREATE DATABASE {database}");
        var connection = new NpgsqlConnectionStringBuilder(admin) { Database = database }.ConnectionString;
        try
        {
            await ExecuteAsync(connection, "CREATE TABLE bench (id int PRIMARY KEY, v bigint NOT NULL, note text NOT NULL); CREATE PUBLICATION datamesh_bench FOR TABLE bench");
            await ExecuteAsync(connection, "SELECT pg_create_logical_replication_slot('bench_ours', 'pgoutput')");
            await ExecuteAsync(connection, "SELECT pg_create_logical_replication_slot('bench_peer', 'pgoutput')");
            Console.Error.WriteLine($"pg: writing {changes:N0} single-row changes...");
            var end = await WorkloadAsync(connection, changes);

            var peer = await PeerAsync(bin, connection, end);
            var ours = await OursAsync(connection, changes);

            var oursRate = changes / ours.Seconds;
            var peerRate = changes / peer.Seconds;
            Console.WriteLine();
            Console.WriteLine($"| reader | changes | seconds | changes/s | CPU ms per 1k changes | of them, second half | peak RSS |");
            Console.WriteLine($"|---|---:|---:|---:|---:|---:|---:|");
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"| DataMesh connector -> embedded Kafka (acknowledged) | {changes} | {ours.Seconds:F2} | {oursRate:F0} | {ours.CpuMs * 1000 / changes:F1} | {ours.SecondHalfCpuMsPer1k:F1} | {ours.PeakBytes / 1048576} MB |"));
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"| pg_recvlogical -> /dev/null | {changes} | {peer.Seconds:F2} | {peerRate:F0} | {peer.CpuMs * 1000 / changes:F1} | | {peer.PeakBytes / 1048576} MB |"));
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"pg: ours={oursRate:F0} changes/s peer={peerRate:F0} changes/s ratio={oursRate / peerRate:F2}"));
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

    private static async Task<string> WorkloadAsync(string connectionString, int changes)
    {
        await using var connection = new NpgsqlConnection(connectionString);
        await connection.OpenAsync();
        var inserts = changes / 2;
        for (var phase = 0; phase < 2; phase++)
        {
            var count = phase == 0 ? inserts : changes - inserts;
            for (var start = 0; start < count; start += 100)
            {
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

        await using var command = new NpgsqlCommand("SELECT pg_current_wal_lsn()::text", connection);
        return (string)(await command.ExecuteScalarAsync())!;
    }

    private static async Task<(double Seconds, double CpuMs, long PeakBytes)> PeerAsync(string bin, string connectionString, string endLsn)
    {
        var builder = new NpgsqlConnectionStringBuilder(connectionString);
        var start = new ProcessStartInfo(Path.Combine(bin, "pg_recvlogical")) { UseShellExecute = false, RedirectStandardError = true };
        foreach (var argument in new[] { "-h", builder.Host!, "-p", builder.Port.ToString(CultureInfo.InvariantCulture), "-U", builder.Username!, "-d", builder.Database!,
                     "--slot", "bench_peer", "--start", "--endpos", endLsn, "-o", "proto_version=1", "-o", "publication_names=datamesh_bench", "-f", "/dev/null", "--no-loop" })
        {
            start.ArgumentList.Add(argument);
        }

        start.Environment["PGPASSWORD"] = builder.Password ?? string.Empty;
        var watch = Stopwatch.StartNew();
        using var process = Process.Start(start)!;
        var (cpu, peak) = await WatchAsync(process, () => process.HasExited);
        watch.Stop();
        if (process.ExitCode != 0)
        {
            throw new InvalidOperationException($"pg_recvlogical failed: {await process.StandardError.ReadToEndAsync()}");
        }

        Console.Error.WriteLine($"pg: pg_recvlogical read to {endLsn} in {watch.Elapsed.TotalSeconds:F2} s");
        return (watch.Elapsed.TotalSeconds, cpu, peak);
    }

    /// <summary>Ours, with the CPU time per 1k changes of the window's second half (from the first count at or past half the
    /// changes): what a change costs once the process is warm, without the start-up work (JIT, first registrations) that
    /// falls into the window's first seconds.</summary>
    private static async Task<(double Seconds, double CpuMs, double SecondHalfCpuMsPer1k, long PeakBytes)> OursAsync(string connectionString, int changes)
    {
        using var cluster = EmbeddedKafkaCluster.Start();
        var topic = TopicNames.ForTable("dm", "bench", "public", "bench");
        cluster.CreateTopic(KafkaSchemaStoreOptions.DefaultTopic, 1);
        cluster.CreateTopic(PositionStore.DefaultTopic, 1);
        cluster.CreateTopic(topic, Partitions);
        var host = Path.Combine(AppContext.BaseDirectory, "DataMesh.ConnectorHost.dll");
        var start = new ProcessStartInfo("dotnet") { UseShellExecute = false };
        // The settings the host gave the source before it took option=value pairs: fast position saves and retries.
        foreach (var argument in new[] { host, "source", "postgres", cluster.BootstrapServers, "bench", "SlotName=bench_ours", "IncludeTables:0=public.bench",
                     "ConnectionString=" + connectionString, "PositionSaveInterval=00:00:00.100", "RetryDelay=00:00:00.200", "MaxRetryDelay=00:00:02",
                     // The log is measured: the rows the workload left in the table are not snapshotted (the default at a first start).
                     "Snapshot:Initial=None" })
        {
            start.ArgumentList.Add(argument);
        }

        using var consumer = new ConsumerBuilder<byte[], byte[]>(new ConsumerConfig { BootstrapServers = cluster.BootstrapServers, GroupId = "bench" }).Build();
        using var process = Process.Start(start)!;
        try
        {
            var watch = Stopwatch.StartNew();
            var startCpu = 0.0;
            long produced = 0;
            long halfProduced = -1;
            var halfCpu = 0.0;
            var (cpu, peak) = await WatchAsync(process, () =>
            {
                produced = Enumerable.Range(0, Partitions).Sum(p => consumer.QueryWatermarkOffsets(new TopicPartition(topic, p), TimeSpan.FromSeconds(10)).High.Value);
                if (produced == 0)
                {
                    // Not streaming yet: the clock starts with the first event in Kafka.
                    watch.Restart();
                    startCpu = CpuMs(process.Id);
                }
                else if (halfProduced < 0 && produced >= changes / 2 && produced < changes)
                {
                    halfProduced = produced;
                    halfCpu = CpuMs(process.Id);
                }

                return produced >= changes || process.HasExited;
            });
            watch.Stop();
            if (process.HasExited)
            {
                throw new InvalidOperationException($"The connector exited with code {process.ExitCode}.");
            }

            if (produced != changes)
            {
                throw new InvalidOperationException($"The topic holds {produced:N0} records for {changes:N0} changes.");
            }

            Console.Error.WriteLine($"pg: the connector streamed {changes:N0} changes into Kafka in {watch.Elapsed.TotalSeconds:F2} s");
            var secondHalf = halfProduced < 0 ? double.NaN : (cpu - halfCpu) * 1000 / (changes - halfProduced);
            return (watch.Elapsed.TotalSeconds, cpu - startCpu, secondHalf, peak);
        }
        finally
        {
            process.Kill(entireProcessTree: true);
            await process.WaitForExitAsync();
        }
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

    private static double CpuMs(int pid)
    {
        var stat = File.ReadAllText($"/proc/{pid}/stat");
        var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
        var ticks = long.Parse(fields[11], CultureInfo.InvariantCulture) + long.Parse(fields[12], CultureInfo.InvariantCulture);
        return ticks * 10.0; // USER_HZ is 100 on Linux
    }

    private static long PeakBytes(int pid)
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

    private static async Task<long> ScalarAsync(string connectionString, string sql)
    {
        await using var connection = new NpgsqlConnection(connectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(sql, connection);
        return Convert.ToInt64(await command.ExecuteScalarAsync(), CultureInfo.InvariantCulture);
    }

    private static async Task ExecuteAsync(string connectionString, string sql)
    {
        await using var connection = new NpgsqlConnection(connectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(sql, connection) { CommandTimeout = 600 };
        await command.ExecuteNonQueryAsync();
    }
}
