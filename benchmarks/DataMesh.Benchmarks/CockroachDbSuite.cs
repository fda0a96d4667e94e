using System.Diagnostics;
using System.Globalization;
using Confluent.Kafka;
using DataMesh.Events;
using DataMesh.Hosting;
using DataMesh.IntegrationTests.CockroachDb;
using DataMesh.Sources;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace DataMesh.Benchmarks;

/// <summary>
/// <c>./build.sh bench cockroachdb [--rows N] [--runs N]</c>: changefeed rows per second from the pgwire fake of CockroachDB
/// (no server can be installed here; <c>tests/DataMesh.IntegrationTests/CockroachDb/FakeCockroachServer.cs</c>) through the
/// source, in-process, into the embedded Kafka cluster, from the source's launch (host start) until Kafka acknowledged every
/// row (then the position after the last row must be stored, untimed), against the Kafka ceiling: a bare producer with the source runtime's
/// producer settings, launched, sending the same number of messages of the same sizes (the changefeed's key and value
/// JSON) to the same cluster until every one was acknowledged. Both topics' high watermarks must sum to the rows. Runs
/// alternated by <see cref="BenchHarness"/> (default 5). The fake's own pgwire writing is part of "ours".
/// </summary>
internal sealed class CockroachDbSuite : IBenchmarkSuite
{
    private const int Partitions = 1;

    public string Name => "cockroachdb";

    public int Run(string[] args) => RunAsync(BenchHarness.Option(args, "--rows", 200_000), BenchHarness.Runs(args)).GetAwaiter().GetResult();

    private static async Task<int> RunAsync(int count, int runs)
    {
        var rows = new List<(string Key, string Value)>(count);
        for (var i = 0; i < count; i++)
        {
            var hlc = FakeCockroachServer.Hlc(1_800_000_000_000_000_000L + i);
            rows.Add(($"[{i}]", $$"""{"after":{"id":{{i}},"v":{{i}},"note":"order note number {{i}}"},"before":null,"updated":"{{hlc}}","mvcc_timestamp":"{{hlc}}"}"""));
        }

        var messages = rows.Select(r => new Message<byte[], byte[]> { Key = System.Text.Encoding.UTF8.GetBytes(r.Key), Value = System.Text.Encoding.UTF8.GetBytes(r.Value) }).ToList();
        var pairs = await BenchHarness.AlternateAsync("cockroachdb", runs,
            new BenchSide("ours", _ => OursAsync(rows)),
            new BenchSide("cockroachdb", _ => BareProducer.RunAsync("cockroachdb", messages, Partitions)));
        BenchHarness.PrintResults([.. pairs]);
        return 0;
    }

    /// <summary>Ours: a fresh fake and host; from the host's start (the rows are appended to the changefeed when it runs)
    /// until the topic's high watermarks sum to the rows (every row acknowledged); then it must store the position after
    /// the last row (not timed).</summary>
    private static async Task<BenchSample> OursAsync(List<(string Key, string Value)> rows)
    {
        await using var server = new FakeCockroachServer();
        server.CreateTable(new FakeTable("public", "bench",
            [new("id", "bigint", "int8", "INT8", Nullable: false), new("v", "bigint", "int8", "INT8", Nullable: false), new("note", "text", "text", "STRING", Nullable: false)], ["id"]));
        var builder = Host.CreateApplicationBuilder();
        builder.Logging.ClearProviders();
        builder.Services.AddDataMesh().AddCockroachDbSource("bench", o =>
        {
            o.ConnectionString = server.ConnectionString;
            o.Snapshot.Initial = InitialSnapshot.None;
            o.TopicPartitions = Partitions;
        });
        using var host = builder.Build();
        var kafka = host.Services.GetRequiredService<KafkaConnection>();
        var watch = Stopwatch.StartNew();
        await host.StartAsync();
        var monitor = host.Services.GetRequiredService<SourceMonitor>();
        // A first start without a snapshot streams from the changefeed's start: the rows are appended once it runs.
        while (server.RunningFeeds == 0)
        {
            await Task.Delay(5);
        }

        using var watermarks = new Watermarks(kafka.BootstrapServers, TopicNames.ForTable("dm", "bench", "public", "bench"), Partitions);
        double steady;
        long resolved;
        await using (var sampler = new ProgressSampler(watermarks.Sum))
        {
            server.AppendRaw("bench", rows);
            resolved = server.Resolve();
            while (watermarks.SumOrZero() < rows.Count)
            {
                if (watch.Elapsed > TimeSpan.FromMinutes(10))
                {
                    throw new TimeoutException($"count check failed: the topic holds {watermarks.SumOrZero()} of {rows.Count} records after 10 minutes: {monitor.Get("bench")}");
                }

                await Task.Delay(5);
            }

            watch.Stop();
            steady = sampler.SteadyRate(rows.Count);
        }

        BenchHarness.Expect("cockroachdb ours: the topic's high watermarks summed", watermarks.Sum(), rows.Count);
        var saving = Stopwatch.StartNew();
        while (monitor.Get("bench")?.StoredPosition is not { } stored || long.Parse(stored.Split('.')[0], CultureInfo.InvariantCulture) < resolved)
        {
            // Not timed: the position after the last row is stored at the next save (PositionSaveInterval, default 1 s).
            if (saving.Elapsed > TimeSpan.FromMinutes(1))
            {
                throw new TimeoutException($"The source did not store position {resolved} within a minute of the last acknowledgement: {monitor.Get("bench")}");
            }

            await Task.Delay(5);
        }

        await host.StopAsync();
        return new BenchSample(rows.Count / watch.Elapsed.TotalSeconds, steady);
    }
}
