using DataMesh.IntegrationTests.Infrastructure;
using DataMesh.IntegrationTests.Postgres;
using DataMesh.Sources;
using Xunit;
using Xunit.Abstractions;

namespace DataMesh.IntegrationTests.Snapshots;

/// <summary>
/// Snapshots on demand, through the API (<see cref="ISnapshotControl"/>) and through the signal table (Debezium's
/// <c>execute-snapshot</c>, <c>pause-snapshot</c>, <c>resume-snapshot</c>, <c>stop-snapshot</c>): exactly the rows asked
/// for arrive as incremental reads; a paused snapshot makes no progress and resumed finishes; a cancelled one stops and
/// what it emitted stays.
/// </summary>
public sealed class PostgresSnapshotControlTests(PostgresServer server, ITestOutputHelper output) : IClassFixture<PostgresServer>
{
    private const string SignalTable = "datamesh_signals";

    [Fact]
    public async Task An_execute_snapshot_signal_with_a_condition_and_an_API_request_read_exactly_the_matching_rows_as_incremental_reads()
    {
        await using var cdc = await PgCdc.CreateAsync(server, """
            CREATE TABLE t (id int PRIMARY KEY, v text); INSERT INTO t SELECT n, 'v' || n FROM generate_series(1, 300) n;
            CREATE TABLE other (id int PRIMARY KEY, v text); INSERT INTO other SELECT n, 'o' || n FROM generate_series(1, 50) n
            """);
        await StartAsync(cdc, chunkSize: 16);

        await SignalAsync(cdc, "execute-snapshot", """{"data-collections": ["public.t"], "additional-conditions": [{"data-collection": "public.t", "filter": "id > 100"}]}""");
        await WaitDoneAsync(cdc, "public.t", times: 1);
        SnapshotTestKit.Snapshots(cdc).Request(["public.other"], "id % 10 = 0");
        await WaitDoneAsync(cdc, "public.other", times: 1);

        AssertIncrementalReads(await SnapshotTestKit.ReadAllAsync(cdc, "t", partitions: 1, until: r => r.Count >= 200), "v", Enumerable.Range(101, 200));
        AssertIncrementalReads(await SnapshotTestKit.ReadAllAsync(cdc, "other", partitions: 1, until: r => r.Count >= 5), "o", [10, 20, 30, 40, 50]);
        Assert.Contains(cdc.Logs.Entries, e => e.Id.Id == 7105 && e.Message.Contains("execute-snapshot", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task A_paused_snapshot_makes_no_progress_and_resumed_finishes_and_a_cancelled_one_stops_keeping_what_it_emitted(bool signals)
    {
        const int Rows = 2000;
        await using var cdc = await PgCdc.CreateAsync(server, $"CREATE TABLE t (id int PRIMARY KEY, v text); INSERT INTO t SELECT n, 'v' || n FROM generate_series(1, {Rows}) n");
        await StartAsync(cdc, chunkSize: 20);
        var snapshots = SnapshotTestKit.Snapshots(cdc);
        Task Control(string signal, Action api)
        {
            if (signals)
            {
                return SignalAsync(cdc, signal, signal == "execute-snapshot" ? """{"data-collections": ["public.t"]}""" : null);
            }

            api();
            return Task.CompletedTask;
        }

        long Done() => snapshots.Progress.SingleOrDefault()?.Rows ?? 0;

        // Paused after some chunks: no chunk is read, no row emitted, until resumed; then every row once.
        await Control("execute-snapshot", () => snapshots.Request(["public.t"]));
        await SnapshotTestKit.WaitUntilAsync(() => Done() >= 200, TimeSpan.FromSeconds(20), () => $"{Done()} rows snapshotted");
        await Control("pause-snapshot", snapshots.Pause);
        await SnapshotTestKit.WaitUntilAsync(() => snapshots.Progress is [{ Paused: true, Reading: false }], TimeSpan.FromSeconds(10), () => string.Join(", ", snapshots.Progress));
        var paused = Done();
        var readsPaused = Reads(await SnapshotTestKit.ReadAllAsync(cdc, "t", partitions: 1, settle: TimeSpan.FromSeconds(1)));
        await Task.Delay(1500);
        var readsLater = Reads(await SnapshotTestKit.ReadAllAsync(cdc, "t", partitions: 1, settle: TimeSpan.FromSeconds(1)));
        output.WriteLine($"paused at {paused} rows ({readsPaused.Count} in the topic)");
        Assert.True(paused < Rows && readsLater.Count == readsPaused.Count && Done() == paused && !snapshots.IsIdle,
            $"paused at {paused} rows with {readsPaused.Count} in the topic, then {readsLater.Count} in the topic, {Done()} rows done, idle: {snapshots.IsIdle}");
        Assert.Equal(Enumerable.Range(1, readsPaused.Count), readsPaused); // whole chunks, in key order
        await Control("resume-snapshot", snapshots.Resume);
        await SnapshotTestKit.WaitIdleAsync(cdc, TimeSpan.FromSeconds(30));
        var first = Reads(await SnapshotTestKit.ReadAllAsync(cdc, "t", partitions: 1, until: r => r.Count >= Rows));
        Assert.Equal(Enumerable.Range(1, Rows), first);

        // Cancelled after some chunks: it stops at once, and the rows it emitted stay in the topic.
        await Control("execute-snapshot", () => snapshots.Request(["public.t"]));
        await SnapshotTestKit.WaitUntilAsync(() => Done() >= 200, TimeSpan.FromSeconds(20), () => $"{Done()} rows snapshotted");
        await Control("stop-snapshot", snapshots.Cancel);
        await SnapshotTestKit.WaitIdleAsync(cdc, TimeSpan.FromSeconds(10));
        var cancelled = Reads(await SnapshotTestKit.ReadAllAsync(cdc, "t", partitions: 1, settle: TimeSpan.FromSeconds(1)));
        await Task.Delay(1500);
        var afterCancel = Reads(await SnapshotTestKit.ReadAllAsync(cdc, "t", partitions: 1, settle: TimeSpan.FromSeconds(1)));
        output.WriteLine($"cancelled with {cancelled.Count - Rows} rows of the second snapshot emitted");
        Assert.True(cancelled.Count == afterCancel.Count && cancelled.Count < 2 * Rows, $"the cancelled snapshot went on: {cancelled.Count} then {afterCancel.Count} reads (a whole one is {Rows})");
        Assert.Equal(Enumerable.Range(1, Rows).Concat(Enumerable.Range(1, cancelled.Count - Rows)), cancelled);
        Assert.Contains(cdc.Logs.Entries, e => e.Id.Id == 7104 && e.Message.Contains("cancelled", StringComparison.Ordinal));
    }

    /// <summary>Starts the source without an initial snapshot, with the signal table.</summary>
    private static async Task StartAsync(PgCdc cdc, int chunkSize)
    {
        await cdc.StartAsync(o =>
        {
            o.TopicPartitions = 1;
            o.Snapshot.Initial = InitialSnapshot.None;
            o.Snapshot.SignalTable = SignalTable;
            o.Snapshot.ChunkSize = chunkSize;
        });

        // The slot is active from its creation on: the signal table is created and published just after.
        await SnapshotTestKit.WaitUntilAsync(
            () => cdc.ScalarAsync<long>($"SELECT count(*) FROM pg_publication_tables WHERE tablename = '{SignalTable}'").GetAwaiter().GetResult() == 1,
            TimeSpan.FromSeconds(20),
            () => $"the signal table {SignalTable} is not in the source's publication");
    }

    /// <summary>Inserts a signal row, as an operator would.</summary>
    private static Task SignalAsync(PgCdc cdc, string type, string? data) =>
        cdc.ExecuteAsync($"INSERT INTO {SignalTable} (id, type, data) VALUES ('{Guid.NewGuid():N}', '{type}', {(data is null ? "NULL" : "'" + data + "'")})");

    /// <summary>Waits until the snapshot of <paramref name="table"/> was done <paramref name="times"/> times (log event 7102).</summary>
    private static Task WaitDoneAsync(PgCdc cdc, string table, int times) =>
        SnapshotTestKit.WaitUntilAsync(
            () => cdc.Logs.Entries.Count(e => e.Id.Id == 7102 && e.Message.Contains($" {table} ", StringComparison.Ordinal)) >= times,
            TimeSpan.FromSeconds(20),
            () => $"the snapshot of {table} did not end; log:\n{SnapshotTestKit.SnapshotLog(cdc)}");

    /// <summary>The ids of the snapshot rows (<c>op = r</c>) in topic order.</summary>
    private static List<int> Reads(IEnumerable<CdcRecord> records) => records.Where(r => r.Op == "r").Select(r => (int)r.After!["id"]).ToList();

    /// <summary>The topic holds exactly these rows (<c>v</c> = <paramref name="prefix"/> and the id), each once as a read marked
    /// <c>incremental</c>, in key order, and nothing else.</summary>
    private static void AssertIncrementalReads(List<CdcRecord> records, string prefix, IEnumerable<int> ids)
    {
        Assert.All(records, r => Assert.Equal("r", r.Op));
        Assert.All(records, r => Assert.Equal("incremental", r.Source["snapshot"]?.ToString()));
        Assert.Equal(ids, records.Select(r => (int)r.After!["id"]));
        Assert.All(records, r => Assert.Equal(prefix + r.After!["id"], r.After!["v"]));
    }
}
