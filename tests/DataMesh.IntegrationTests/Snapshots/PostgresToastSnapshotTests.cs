using System.Globalization;
using DataMesh.Events;
using DataMesh.IntegrationTests.Infrastructure;
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
        // embedded cluster's 5 MB per partition over 4 partitions (the reader checks that no partition was trimmed).
        await using var db = await PostgresSnapshotDatabase.CreateAsync(server, $"""
            CREATE TABLE t (id int PRIMARY KEY, v int NOT NULL, body text);
            ALTER TABLE t ALTER COLUMN body SET STORAGE EXTERNAL;
            INSERT INTO t SELECT g, 0, (SELECT string_agg(md5(g::text || '-' || s), '') FROM generate_series(1, 80) s) FROM generate_series(1, {Rows}) g;
            """);
        // A writer updates only v of random rows (body unchanged, so not sent) all through the snapshot. It starts before
        // the source, so that a slow machine's connection start-up does not eat into the snapshot's windows.
        using var stopWriter = new CancellationTokenSource();
        var count = 0;
        var writes = Task.Run(async () =>
        {
            var random = new Random(5);
            await using var connection = new NpgsqlConnection(db.Cdc.ConnectionString);
            await connection.OpenAsync();
            while (!stopWriter.IsCancellationRequested)
            {
                await using var command = new NpgsqlCommand($"UPDATE t SET v = v + 1 WHERE id = {random.Next(1, Rows + 1)}", connection);
                await command.ExecuteNonQueryAsync();
                Interlocked.Increment(ref count);
            }
        });
        await SnapshotTestKit.WaitUntilAsync(() => Volatile.Read(ref count) >= 10 || writes.IsCompleted, TimeSpan.FromMinutes(1), () => "the writer made no update");
        await db.StartAsync(
            o =>
            {
                o.TopicPartitions = Partitions;
                o.Snapshot.ChunkSize = 100;
                o.Snapshot.Watermarks = watermarks;
            },
            waitForSnapshot: false);
        var before = Volatile.Read(ref count);
        await SnapshotTestKit.WaitIdleAsync(db, TimeSpan.FromMinutes(3));

        var written = Volatile.Read(ref count) - before;
        await stopWriter.CancelAsync();
        await writes;
        output.WriteLine($"{written} updates during the snapshot");
        Assert.True(written > 100, $"only {written} updates during the snapshot");

        // Rebuilt as a table sink does: the placeholder keeps the column's earlier value.
        var expected = new Dictionary<int, (int, string)>();
        await using (var connection = new NpgsqlConnection(db.Cdc.ConnectionString))
        {
            await connection.OpenAsync();
            await using var command = new NpgsqlCommand("SELECT id, v, body FROM t", connection);
            await using var reader = await command.ExecuteReaderAsync();
            while (await reader.ReadAsync())
            {
                expected[reader.GetInt32(0)] = (reader.GetInt32(1), reader.GetString(2));
            }
        }

        // The writer stopped: its last updates arrived once the topic stood still for 3 s.
        var records = await SnapshotTestKit.ReadAllAsync(db, "t", Partitions, settle: TimeSpan.FromSeconds(3));
        var rebuilt = new TopicTable<(int V, string? Body)>(SnapshotTestKit.Columns("id"), (after, earlier) =>
        {
            var body = (string?)after["body"];
            return ((int)after["v"], body == ChangeEventOptions.DefaultUnavailableValuePlaceholder ? earlier.Body : body);
        });
        foreach (var record in records)
        {
            rebuilt.Apply(record);
        }

        var lost = expected.Where(e => !rebuilt.Rows.TryGetValue(e.Key.ToString(CultureInfo.InvariantCulture), out var r) || r.Body != e.Value.Item2).Select(e => e.Key).ToList();
        var wrong = expected.Where(e => rebuilt.Rows.TryGetValue(e.Key.ToString(CultureInfo.InvariantCulture), out var r) && r.V != e.Value.Item1).Select(e => e.Key).ToList();
        Assert.True(lost.Count == 0, $"{lost.Count} rows lost their body (e.g. ids {string.Join(", ", lost.Take(10))}); histories:\n" + string.Join("\n", lost.Take(3).Select(id =>
            $"{id}: " + string.Join(" | ", records.Where(r => (int)r.Key!["id"] == id).Select(r => $"{r.Op}@{r.Partition}:{r.Offset} v={r.After!["v"]} body={((string?)r.After!["body"])?.Length}")))) +
            "\nsnapshot log:\n" + SnapshotTestKit.SnapshotLog(db));
        Assert.True(wrong.Count == 0, $"{wrong.Count} rows have a wrong v (e.g. ids {string.Join(", ", wrong.Take(10))})");
        Assert.True(records.Count(r => r.Op == "r") >= Rows / 2, $"only {records.Count(r => r.Op == "r")} snapshot rows");
        if (watermarks == SnapshotWatermarks.ReadOnly)
        {
            await SnapshotTestKit.AssertNoWatermarkTableAsync(db);
        }
    }
}
