using DataMesh.IntegrationTests.Infrastructure;
using DataMesh.IntegrationTests.Postgres;
using Microsoft.Extensions.Logging;
using Xunit;
using Xunit.Abstractions;

namespace DataMesh.IntegrationTests.Snapshots;

/// <summary>DBLog snapshots on the real PostgreSQL 15: existing rows arrive as <c>r</c> events interleaved with the log,
/// without locks, and the topic rebuilds the table exactly while a writer changes it; with watermark rows and with
/// read-only watermarks (nothing written to the database).</summary>
public sealed class PostgresSnapshotTests(PostgresServer server, ITestOutputHelper output) : IClassFixture<PostgresServer>
{
    private const int Partitions = 8;

    [Fact]
    public Task A_table_with_rows_before_the_start_is_snapshotted_while_a_writer_changes_it_and_the_topic_equals_the_table() =>
        SnapshotUnderWriterAsync(schemaChanges: false);

    [Fact]
    public Task Schema_changes_during_a_snapshot_add_and_drop_a_column_and_widen_the_key_and_the_topic_still_equals_the_table() =>
        SnapshotUnderWriterAsync(schemaChanges: true);

    [Fact]
    public Task A_read_only_snapshot_under_a_writer_rebuilds_the_table_exactly_and_creates_no_watermark_table() =>
        SnapshotUnderWriterAsync(schemaChanges: false, SnapshotWatermarks.ReadOnly);

    [Fact]
    public Task A_read_only_snapshot_through_schema_changes_rebuilds_the_table_exactly() =>
        SnapshotUnderWriterAsync(schemaChanges: true, SnapshotWatermarks.ReadOnly);

    [Fact]
    public async Task A_table_read_in_many_chunks_is_registered_once_not_once_per_chunk()
    {
        await using var cdc = await PgCdc.CreateAsync(server, "CREATE TABLE t (id int PRIMARY KEY, v text); INSERT INTO t SELECT g, 'v' || g FROM generate_series(1, 1000) g");
        await cdc.StartAsync(o => o.Snapshot.ChunkSize = 50);
        Assert.Equal(1000, (await SnapshotTestKit.ReadAllAsync(cdc, "t", partitions: 1, until: r => r.Count >= 1000)).Count);

        // 20 chunks of one unchanged table: one registration (event 7007), not one per chunk.
        var registrations = cdc.Logs.Entries.Where(e => e.Id.Id == 7007 && e.Message.Contains(" table public.t:", StringComparison.Ordinal)).ToList();
        Assert.True(registrations.Count == 1, $"{registrations.Count} registrations of public.t:\n{string.Join('\n', registrations.Select(e => e.Message))}");
    }

    [Fact]
    public async Task A_snapshot_request_for_a_table_the_source_does_not_capture_is_refused_and_reads_none_of_its_rows()
    {
        await using var cdc = await PgCdc.CreateAsync(server, """
            CREATE TABLE t (id int PRIMARY KEY, v text); INSERT INTO t VALUES (1, 'a');
            CREATE TABLE secret (id int PRIMARY KEY, v text); INSERT INTO secret SELECT g, 's' || g FROM generate_series(1, 10) g
            """);
        await cdc.StartAsync(o => o.IncludeTables.Add("public.t"));

        // Asked for by the API (or a signal row) although IncludeTables leaves it out: its log changes are not captured, so
        // its rows must not be produced either.
        SnapshotTestKit.Snapshots(cdc).Request(["public.secret"]);
        await SnapshotTestKit.WaitIdleAsync(cdc, TimeSpan.FromSeconds(30));
        Assert.Empty(await SnapshotTestKit.ReadAllAsync(cdc, "secret", partitions: 1, settle: TimeSpan.FromSeconds(2)));
        Assert.Single(cdc.Logs.Find(LogLevel.Error, "public.secret", "not captured"));
    }

    private async Task SnapshotUnderWriterAsync(bool schemaChanges, SnapshotWatermarks watermarks = SnapshotWatermarks.Table)
    {
        await using var cdc = await PgCdc.CreateAsync(server, $"CREATE TABLE t ({SnapshotTestKit.TableColumns}); INSERT INTO t SELECT g, g, 'n' || g FROM generate_series(1, 20000) g");
        await cdc.StartAsync(
            o =>
            {
                o.TopicPartitions = Partitions;
                o.Snapshot.ChunkSize = 500;
                o.Snapshot.Watermarks = watermarks;
            },
            waitForSnapshot: false);

        // A writer changes random rows (updates, deletes, inserts, key changes) all through the snapshot.
        using var stopWriter = new CancellationTokenSource();
        var writes = Task.Run(() => SnapshotTestKit.WriteAsync(cdc.ConnectionString, 20000, schemaChanges, stopWriter.Token));
        await SnapshotTestKit.WaitIdleAsync(cdc, TimeSpan.FromMinutes(3));
        await stopWriter.CancelAsync();
        var written = await writes;
        output.WriteLine($"{written} changes written during the snapshot");
        Assert.True(written > (schemaChanges ? 300 : 100), $"only {written} changes were written during the snapshot");

        // Every change reaches the topic; rebuilt from it (last value per key, deletes removing) the table is exact.
        var reads = await SnapshotTestKit.AssertTopicEqualsTableAsync(cdc.ConnectionString, await SnapshotTestKit.ReadToMarkerAsync(cdc.Kafka, cdc.Store, cdc.Topic("t"), Partitions, cdc.ConnectionString));
        Assert.True(reads > 15000, $"{reads} snapshot rows; log:\n{SnapshotTestKit.SnapshotLog(cdc)}");
        if (watermarks == SnapshotWatermarks.ReadOnly)
        {
            await SnapshotTestKit.AssertNoWatermarkTableAsync(cdc);
        }
    }
}
