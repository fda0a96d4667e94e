using System.Diagnostics;
using System.Globalization;
using Confluent.Kafka;
using DataMesh.Hosting;
using DataMesh.IntegrationTests.CockroachDb;
using DataMesh.Sources;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace DataMesh.Benchmarks;

/// <summary>
/// <c>./build.sh bench cockroachdb [rows]</c>: changefeed rows per second from the pgwire fake of CockroachDB (no server
/// can be installed here; <c>tests/DataMesh.IntegrationTests/CockroachDb/FakeCockroachServer.cs</c>) through the source,
/// in-process, into the embedded Kafka cluster until the position after the last row is stored (so every row was
/// acknowledged), against the Kafka ceiling: a bare idempotent producer sending the same number of messages of the same
/// sizes (the changefeed's key and value JSON) to the same cluster. The last line is
/// <c>cockroachdb: ours=… peer=… ratio=…</c>. The fake's own pgwire writing is part of "ours".
/// </summary>
internal sealed class CockroachDbSuite : IBenchmarkSuite
{
    public string Name => "cockroachdb";

    public int Run(string[] args) => RunAsync(args.Length > 0 ? int.Parse(args[0], CultureInfo.InvariantCulture) : 200_000).GetAwaiter().GetResult();

    private static async Task<int> RunAsync(int count)
    {
        var rows = new List<(string Key, string Value)>(count);
        for (var i = 0; i < count; i++)
        {
            var hlc = FakeCockroachServer.Hlc(1_800_000_000_000_000_000L + i);
            rows.Add(($"[{i}]", $$"""{"after":{"id":{{i}},"v":{{i}},"note":"order note number {{i}}"},"before":null,"updated":"{{hlc}}","mvcc_timestamp":"{{hlc}}"}"""));
        }

        await using var server = new FakeCockroachServer();
        server.CreateTable(new FakeTable("public", "bench",
            [new("id", "bigint", "int8", "INT8", Nullable: false), new("v", "bigint", "int8", "INT8", Nullable: false), new("note", "text", "text", "STRING", Nullable: false)], ["id"]));
        var builder = Host.CreateApplicationBuilder();
        builder.Logging.ClearProviders();
        builder.Services.AddDataMesh().AddCockroachDbSource("bench", o =>
        {
            o.ConnectionString = server.ConnectionString;
            o.Snapshot.Initial = InitialSnapshot.None;
            o.PositionSaveInterval = TimeSpan.FromMilliseconds(100);
            o.TopicPartitions = Environment.GetEnvironmentVariable("DATAMESH_BENCH_PARTITIONS") is { } p ? int.Parse(p, CultureInfo.InvariantCulture) : 1;
        });
        using var host = builder.Build();
        await host.StartAsync();
        var monitor = host.Services.GetRequiredService<SourceMonitor>();
        while (server.RunningFeeds == 0)
        {
            await Task.Delay(10);
        }

        // Ours: every row, then a resolved timestamp; done when that position is stored (everything before it acknowledged).
        var cursor = server.Now;
        var watch = Stopwatch.StartNew();
        server.AppendRaw("bench", rows);
        var resolved = server.Resolve();
        while (monitor.Get("bench")?.StoredPosition is not { } stored || long.Parse(stored.Split('.')[0], CultureInfo.InvariantCulture) < resolved)
        {
            if (watch.Elapsed > TimeSpan.FromMinutes(10))
            {
                throw new TimeoutException($"The source did not store position {resolved} within 10 minutes: {monitor.Get("bench")}");
            }

            await Task.Delay(5);
        }

        var ours = watch.Elapsed.TotalSeconds;
        Console.Error.WriteLine($"cockroachdb: source stored the position after {count:N0} rows in {ours:F2} s");

        // The peer: a bare producer, same cluster, same message sizes.
        var kafka = host.Services.GetRequiredService<KafkaConnection>();
        var peer = BareProducer.Send(kafka, "bench.peer", [.. rows.Select(r => new Message<byte[], byte[]> { Key = System.Text.Encoding.UTF8.GetBytes(r.Key), Value = System.Text.Encoding.UTF8.GetBytes(r.Value) })]);
        await host.StopAsync();

        // What the fake itself can send: a bare Npgsql reader replaying the same rows from the same cursor (no Kafka).
        watch.Restart();
        var dataSource = new Npgsql.NpgsqlDataSourceBuilder(server.ConnectionString);
        dataSource.ConfigureTypeLoading(t => t.EnableTypeLoading(false));
        await using (var source = dataSource.Build())
        await using (var connection = await source.OpenConnectionAsync())
        await using (var command = new Npgsql.NpgsqlCommand($"CREATE CHANGEFEED FOR TABLE bench WITH updated, cursor = '{FakeCockroachServer.Hlc(cursor)}', initial_scan = 'no'", connection) { CommandTimeout = 0 })
        {
            var reader = await command.ExecuteReaderAsync();
            var read = 0;
            while (read < count && await reader.ReadAsync())
            {
                _ = reader.GetFieldValue<byte[]>(2);
                read++;
            }

            command.Cancel();
        }

        var fake = watch.Elapsed.TotalSeconds;
        var oursRate = count / ours;
        var peerRate = count / peer;
        Console.WriteLine();
        Console.WriteLine("| path | rows | seconds | rows/s |");
        Console.WriteLine("|---|---:|---:|---:|");
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"| fake CockroachDB -> CockroachDB source -> embedded Kafka (acknowledged, position stored) | {count} | {ours:F2} | {oursRate:F0} |"));
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"| bare idempotent producer, same messages -> embedded Kafka (acknowledged) | {count} | {peer:F2} | {peerRate:F0} |"));
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"| the fake alone: a bare Npgsql reader of the same rows (no Kafka) | {count} | {fake:F2} | {count / fake:F0} |"));
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"cockroachdb: ours={oursRate:F0} rows/s peer={peerRate:F0} rows/s ratio={oursRate / peerRate:F2}"));
        return 0;
    }
}
