using Confluent.Kafka;
using DataMesh.Events;
using DataMesh.IntegrationTests.Infrastructure;
using DataMesh.IntegrationTests.Postgres;
using DataMesh.Sources;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;
using Xunit;
using Xunit.Abstractions;

namespace DataMesh.IntegrationTests.Snapshots;

/// <summary>PostgreSQL sends an update that leaves a TOASTed column unchanged without that column (default replica
/// identity): the event carries the placeholder. Inside a chunk's window such an update must not make the chunk's real
/// value disappear.</summary>
public sealed class PostgresToastSnapshotTests(PostgresServer server, ITestOutputHelper output) : IClassFixture<PostgresServer>
{
    private const int Rows = 2000;
    private const int Partitions = 4;

    [Fact]
    public Task Updates_that_leave_a_TOASTed_column_unchanged_inside_windows_never_lose_its_real_value() =>
        UpdatesLeaveToastedValuesAsync(SnapshotWatermarks.Table);

    [Fact]
    public Task Updates_that_leave_a_TOASTed_column_unchanged_inside_read_only_windows_never_lose_its_real_value() =>
        UpdatesLeaveToastedValuesAsync(SnapshotWatermarks.ReadOnly);

    private async Task UpdatesLeaveToastedValuesAsync(SnapshotWatermarks watermarks)
    {
        // Bodies of 2.5 kB of hex digits, stored out of line (TOAST, not compressed): 5 MB in all, well within the
        // embedded cluster's 5 MB per partition over 4 partitions (the test checks that no partition was trimmed).
        await using var cdc = await PgCdc.CreateAsync(server, $"""
            CREATE TABLE t (id int PRIMARY KEY, v int NOT NULL, body text);
            ALTER TABLE t ALTER COLUMN body SET STORAGE EXTERNAL;
            INSERT INTO t SELECT g, 0, (SELECT string_agg(md5(g::text || '-' || s), '') FROM generate_series(1, 80) s) FROM generate_series(1, {Rows}) g;
            """);
        await cdc.StartAsync(
            o =>
            {
                o.TopicPartitions = Partitions;
                o.Snapshot.ChunkSize = 200;
                o.Snapshot.Watermarks = watermarks;
            },
            waitForSnapshot: false);

        // A writer updates only v of random rows (body unchanged, so not sent) all through the snapshot.
        using var stopWriter = new CancellationTokenSource();
        var writes = Task.Run(async () =>
        {
            var random = new Random(5);
            await using var connection = new NpgsqlConnection(cdc.ConnectionString);
            await connection.OpenAsync();
            var count = 0;
            while (!stopWriter.IsCancellationRequested)
            {
                await using var command = new NpgsqlCommand($"UPDATE t SET v = v + 1 WHERE id = {random.Next(1, Rows + 1)}", connection);
                await command.ExecuteNonQueryAsync();
                count++;
            }

            return count;
        });
        var monitor = cdc.Host.Services.GetRequiredService<SourceMonitor>();
        var deadline = DateTime.UtcNow.AddMinutes(3);
        while (monitor.Snapshots(cdc.SourceName) is not { IsIdle: true })
        {
            Assert.True(DateTime.UtcNow < deadline, "the snapshot did not finish");
            await Task.Delay(100);
        }

        await stopWriter.CancelAsync();
        var written = await writes;
        output.WriteLine($"{written} updates during the snapshot");
        Assert.True(written > 100, $"only {written} updates during the snapshot");

        // Rebuilt as a table sink does: the placeholder keeps the column's earlier value.
        var expected = new Dictionary<int, (int, string)>();
        await using (var connection = new NpgsqlConnection(cdc.ConnectionString))
        {
            await connection.OpenAsync();
            await using var command = new NpgsqlCommand("SELECT id, v, body FROM t", connection);
            await using var reader = await command.ExecuteReaderAsync();
            while (await reader.ReadAsync())
            {
                expected[reader.GetInt32(0)] = (reader.GetInt32(1), reader.GetString(2));
            }
        }

        var rebuilt = new Dictionary<int, (int V, string? Body)>();
        var records = await ReadAllAsync(cdc);
        foreach (var record in records)
        {
            var id = (int)record.Key!["id"];
            var v = (int)record.After!["v"];
            var body = (string?)record.After!["body"];
            if (body == ChangeEventOptions.DefaultUnavailableValuePlaceholder)
            {
                body = rebuilt.TryGetValue(id, out var earlier) ? earlier.Body : null;
            }

            rebuilt[id] = (v, body);
        }

        var lost = expected.Where(e => !rebuilt.TryGetValue(e.Key, out var r) || r.Body != e.Value.Item2).Select(e => e.Key).ToList();
        var wrong = expected.Where(e => rebuilt.TryGetValue(e.Key, out var r) && r.V != e.Value.Item1).Select(e => e.Key).ToList();
        Assert.True(lost.Count == 0, $"{lost.Count} rows lost their body (e.g. ids {string.Join(", ", lost.Take(10))}); histories:\n" + string.Join("\n", lost.Take(3).Select(id =>
            $"{id}: " + string.Join(" | ", records.Where(r => (int)r.Key!["id"] == id).Select(r => $"{r.Op}@{r.Partition}:{r.Offset} v={r.After!["v"]} body={((string?)r.After!["body"])?.Length}")))) +
            "\nsnapshot log:\n" + string.Join("\n", cdc.Logs.Entries.Where(e => e.Id.Id >= 7000).Select(e => $"{e.Level} {e.Id.Id} {e.Message}")));
        Assert.True(wrong.Count == 0, $"{wrong.Count} rows have a wrong v (e.g. ids {string.Join(", ", wrong.Take(10))})");
        Assert.True(records.Count(r => r.Op == "r") >= Rows / 2, $"only {records.Count(r => r.Op == "r")} snapshot rows");
        if (watermarks == SnapshotWatermarks.ReadOnly)
        {
            await SnapshotTestKit.AssertNoWatermarkTableAsync(cdc);
        }
    }

    private static async Task<List<CdcRecord>> ReadAllAsync(PgCdc cdc)
    {
        var raw = await Task.Run(() =>
        {
            using var consumer = new ConsumerBuilder<byte[]?, byte[]?>(cdc.Kafka.CreateConsumerConfig(null)).Build();
            foreach (var partition in Enumerable.Range(0, Partitions))
            {
                var low = consumer.QueryWatermarkOffsets(new TopicPartition(cdc.Topic("t"), partition), TimeSpan.FromSeconds(10)).Low;
                Assert.True(low.Value <= 0, $"partition {partition} was trimmed (its first offset is {low}): the test's data exceeds the embedded cluster's limit");
            }

            consumer.Assign(Enumerable.Range(0, Partitions).Select(p => new TopicPartitionOffset(cdc.Topic("t"), p, Offset.Beginning)));
            var records = new List<ConsumeResult<byte[]?, byte[]?>>();
            var quiet = DateTime.UtcNow.AddSeconds(3);
            while (DateTime.UtcNow < quiet)
            {
                if (consumer.Consume(TimeSpan.FromMilliseconds(200)) is { } result)
                {
                    records.Add(result);
                    quiet = DateTime.UtcNow.AddSeconds(3);
                }
            }

            return records;
        });

        var decoded = new List<CdcRecord>(raw.Count);
        foreach (var record in raw)
        {
            decoded.Add(new CdcRecord(await CdcRecord.DecodeAsync(cdc.Store, record.Message.Key), await CdcRecord.DecodeAsync(cdc.Store, record.Message.Value), record.Offset.Value, record.Partition.Value));
        }

        return decoded;
    }
}
