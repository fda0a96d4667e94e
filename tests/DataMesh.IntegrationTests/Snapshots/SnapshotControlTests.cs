using DataMesh.IntegrationTests.Infrastructure;
using DataMesh.Sources;
using Xunit;
using Xunit.Abstractions;

namespace DataMesh.IntegrationTests.Snapshots;

/// <summary>
/// Snapshots on demand, through the API (<see cref="ISnapshotControl"/>) and through the signal table (Debezium's
/// <c>execute-snapshot</c>, <c>pause-snapshot</c>, <c>resume-snapshot</c>, <c>stop-snapshot</c>): exactly the rows asked
/// for arrive as incremental reads; a paused snapshot makes no progress and resumed finishes; a cancelled one stops and
/// what it emitted stays. Run on PostgreSQL and MariaDB by the classes below.
/// </summary>
public abstract class SnapshotControlTests : SnapshotDatabaseTests
{
    private const string SignalTable = "datamesh_signals";

    private protected SnapshotControlTests(Func<Task<SnapshotDatabase>> create, ITestOutputHelper output)
        : base(create, output)
    {
    }

    /// <summary>An <c>execute-snapshot</c> signal row with a condition, and a request through the API with another, read
    /// exactly the matching rows as incremental reads; the signal and watermark tables never reach a topic.</summary>
    [Fact]
    public async Task An_execute_snapshot_signal_with_a_condition_and_an_API_request_read_exactly_the_matching_rows_as_incremental_reads()
    {
        await using var db = await CreateDatabaseAsync();
        await db.ExecuteAsync($"""
            CREATE TABLE t (id int PRIMARY KEY, v text); INSERT INTO t SELECT n, CONCAT('v', n) FROM {db.Series(300)};
            CREATE TABLE other (id int PRIMARY KEY, v text); INSERT INTO other SELECT n, CONCAT('o', n) FROM {db.Series(50)}
            """);
        await StartWithSignalsAsync(db, chunkSize: 16);

        // Debezium's execute-snapshot.
        await SignalAsync(db, "execute-snapshot", $$"""{"data-collections": ["{{db.Qualified("t")}}"], "additional-conditions": [{"data-collection": "{{db.Qualified("t")}}", "filter": "id > 100"}]}""");
        await SnapshotTestKit.WaitDoneAsync(db, db.Qualified("t"), times: 1);
        db.Snapshots.Request([db.Qualified("other")], "id % 10 = 0");
        await SnapshotTestKit.WaitDoneAsync(db, db.Qualified("other"), times: 1);

        AssertIncrementalReads(await SnapshotTestKit.ReadAllAsync(db, "t", partitions: 1, until: r => r.Count >= 200), "v", Enumerable.Range(101, 200));
        AssertIncrementalReads(await SnapshotTestKit.ReadAllAsync(db, "other", partitions: 1, until: r => r.Count >= 5), "o", [10, 20, 30, 40, 50]);
        Assert.Contains(db.Logs.Entries, e => e.Id.Id == 7105 && e.Message.Contains("execute-snapshot", StringComparison.Ordinal));
        Assert.Empty(await SnapshotTestKit.ReadAllAsync(db, SignalTable, partitions: 1, settle: TimeSpan.FromMilliseconds(500)));
        Assert.Empty(await SnapshotTestKit.ReadAllAsync(db, "datamesh_watermarks", partitions: 1, settle: TimeSpan.FromMilliseconds(500)));
    }

    /// <summary>Found by a new user: a condition the database refuses for another reason than its syntax or an unknown
    /// column (a subquery's table missing, a value of the wrong type) stopped the whole source, and again at every restart,
    /// since the request is stored with the position. It ends that request with error 7103; the source goes on.</summary>
    [Fact]
    public async Task A_condition_the_database_refuses_for_any_lasting_reason_ends_that_request_and_the_source_goes_on()
    {
        await using var db = await CreateDatabaseAsync();
        await db.ExecuteAsync($"""
            CREATE TABLE t (id int PRIMARY KEY, v text); INSERT INTO t SELECT n, CONCAT('v', n) FROM {db.Series(30)};
            CREATE TABLE other (id int PRIMARY KEY, v text); INSERT INTO other SELECT n, CONCAT('o', n) FROM {db.Series(20)}
            """);
        await StartWithSignalsAsync(db, chunkSize: 4);

        db.Snapshots.Request([db.Qualified("t")], "id IN (SELECT x FROM no_such_table)");
        await SnapshotTestKit.WaitUntilAsync(
            () => db.Logs.Entries.Any(e => e.Id.Id == 7103 && e.Message.Contains("no_such_table", StringComparison.Ordinal)),
            TimeSpan.FromSeconds(30), () => $"no error 7103 for the condition; log:\n{SnapshotTestKit.SnapshotLog(db)}");
        db.Snapshots.Request([db.Qualified("other")], "id <= 10");
        await SnapshotTestKit.WaitDoneAsync(db, db.Qualified("other"), times: 1);

        AssertIncrementalReads(await SnapshotTestKit.ReadAllAsync(db, "other", partitions: 1, until: r => r.Count >= 10), "o", Enumerable.Range(1, 10));
        Assert.DoesNotContain(db.Logs.Entries, e => e.Level >= Microsoft.Extensions.Logging.LogLevel.Critical);
        Assert.True(db.Snapshots.IsIdle);
    }

    /// <summary>A snapshot paused after some chunks makes no progress (no chunk read, no row emitted) until resumed, then
    /// emits every row once; one cancelled after some chunks stops at once, and the rows it emitted stay. Controlled
    /// through the signal table (<paramref name="signals"/>) or the API.</summary>
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task A_paused_snapshot_makes_no_progress_and_resumed_finishes_and_a_cancelled_one_stops_keeping_what_it_emitted(bool signals)
    {
        await using var db = await CreateDatabaseAsync();
        const int Rows = 2000;
        await db.ExecuteAsync($"CREATE TABLE t (id int PRIMARY KEY, v text); INSERT INTO t SELECT n, CONCAT('v', n) FROM {db.Series(Rows)}");
        await StartWithSignalsAsync(db, chunkSize: 20);
        var snapshots = db.Snapshots;
        Task Control(string signal, Action api)
        {
            if (signals)
            {
                return SignalAsync(db, signal, signal == "execute-snapshot" ? $$"""{"data-collections": ["{{db.Qualified("t")}}"]}""" : null);
            }

            api();
            return Task.CompletedTask;
        }

        long Done() => snapshots.Progress.SingleOrDefault()?.Rows ?? 0;

        // Paused after some chunks: no chunk is read, no row emitted, until resumed; then every row once.
        await Control("execute-snapshot", () => snapshots.Request([db.Qualified("t")]));
        await SnapshotTestKit.WaitUntilAsync(() => Done() >= 200, TimeSpan.FromSeconds(20), () => $"{Done()} rows snapshotted");
        await Control("pause-snapshot", snapshots.Pause);
        await SnapshotTestKit.WaitUntilAsync(() => snapshots.Progress is [{ Paused: true, Reading: false }], TimeSpan.FromSeconds(10), () => string.Join(", ", snapshots.Progress));
        var paused = Done();
        var readsPaused = Reads(await SnapshotTestKit.ReadAllAsync(db, "t", partitions: 1, settle: TimeSpan.FromSeconds(1)));
        await Task.Delay(1500);
        var readsLater = Reads(await SnapshotTestKit.ReadAllAsync(db, "t", partitions: 1, settle: TimeSpan.FromSeconds(1)));
        Output.WriteLine($"{db.Server}: paused at {paused} rows ({readsPaused.Count} in the topic)");
        Assert.True(paused < Rows && readsLater.Count == readsPaused.Count && Done() == paused && !snapshots.IsIdle,
            $"paused at {paused} rows with {readsPaused.Count} in the topic, then {readsLater.Count} in the topic, {Done()} rows done, idle: {snapshots.IsIdle}");
        Assert.Equal(Enumerable.Range(1, readsPaused.Count), readsPaused); // whole chunks, in key order
        await Control("resume-snapshot", snapshots.Resume);
        await SnapshotTestKit.WaitIdleAsync(db, TimeSpan.FromSeconds(30));
        var first = Reads(await SnapshotTestKit.ReadAllAsync(db, "t", partitions: 1, until: r => r.Count >= Rows));
        Assert.Equal(Enumerable.Range(1, Rows), first);

        // Cancelled after some chunks: it stops at once, and the rows it emitted stay in the topic.
        await Control("execute-snapshot", () => snapshots.Request([db.Qualified("t")]));
        await SnapshotTestKit.WaitUntilAsync(() => Done() >= 200, TimeSpan.FromSeconds(20), () => $"{Done()} rows snapshotted");
        await Control("stop-snapshot", snapshots.Cancel);
        await SnapshotTestKit.WaitIdleAsync(db, TimeSpan.FromSeconds(10));
        var cancelled = Reads(await SnapshotTestKit.ReadAllAsync(db, "t", partitions: 1, settle: TimeSpan.FromSeconds(1)));
        await Task.Delay(1500);
        var afterCancel = Reads(await SnapshotTestKit.ReadAllAsync(db, "t", partitions: 1, settle: TimeSpan.FromSeconds(1)));
        Output.WriteLine($"{db.Server}: cancelled with {cancelled.Count - Rows} rows of the second snapshot emitted");
        Assert.True(cancelled.Count == afterCancel.Count && cancelled.Count < 2 * Rows, $"the cancelled snapshot went on: {cancelled.Count} then {afterCancel.Count} reads (a whole one is {Rows})");
        Assert.Equal(Enumerable.Range(1, Rows).Concat(Enumerable.Range(1, cancelled.Count - Rows)), cancelled);
        Assert.Contains(db.Logs.Entries, e => e.Id.Id == 7104 && e.Message.Contains("cancelled", StringComparison.Ordinal));
    }

    /// <summary>Starts the source without an initial snapshot, with the signal table, once a signal row reaches it.</summary>
    private static async Task StartWithSignalsAsync(SnapshotDatabase db, int chunkSize)
    {
        await db.StartAsync(o =>
        {
            o.TopicPartitions = 1;
            o.Snapshot.Initial = InitialSnapshot.None;
            o.Snapshot.ChunkSize = chunkSize;
            db.UseSignalTable(o, SignalTable);
        });
        await db.WaitForSignalTableAsync(SignalTable);
    }

    /// <summary>Inserts a signal row, as an operator would.</summary>
    private static Task SignalAsync(SnapshotDatabase db, string type, string? data) =>
        db.ExecuteAsync($"INSERT INTO {SignalTable} (id, type, data) VALUES ('{Guid.NewGuid():N}', '{type}', {(data is null ? "NULL" : "'" + data + "'")})");

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

public sealed class PostgresSnapshotControlTests(PostgresServer server, ITestOutputHelper output)
    : SnapshotControlTests(async () => await PostgresSnapshotDatabase.CreateAsync(server), output), IClassFixture<PostgresServer>;

public sealed class MariaDbSnapshotControlTests(MariaDbServer server, ITestOutputHelper output)
    : SnapshotControlTests(async () => await MariaDbSnapshotDatabase.CreateAsync(server), output), IClassFixture<MariaDbServer>;
