using System.Diagnostics;
using System.Globalization;
using Avro.Generic;
using DataMesh.IntegrationTests.Infrastructure;
using Xunit;
using Xunit.Abstractions;

namespace DataMesh.IntegrationTests.Conformance;

/// <summary>
/// What every source connector must do, run against each (a subclass per connector gives the driver): no committed
/// change lost across kills, restarts and Kafka outages; no repeat after a graceful stop; key changes, keyless tables,
/// schema changes and truncates as the event contract says; bounded memory while Kafka is away; tables created while
/// the source runs captured from their first row. A check that needs what a connector's database cannot do (a
/// <see cref="Capability"/> its driver lacks) is reported as skipped with the driver's reason. Each test owns a database, a source name, an embedded Kafka cluster
/// and its topics, all GUID-named.
/// </summary>
public abstract class ConnectorConformanceTests : HarnessTestBase
{
    private const string Table = "kv";
    private static readonly TimeSpan Arrival = TimeSpan.FromSeconds(30);
    private readonly ITestOutputHelper _output;

    private protected ConnectorConformanceTests(ConformanceDriver driver, ITestOutputHelper output)
        : base(driver)
    {
        _output = output;
    }

    private ConformanceHarness H => Harness;

    public override async Task InitializeAsync()
    {
        await base.InitializeAsync();
        if (Driver.Lacks.TryGetValue(Capability.Transactions, out var why))
        {
            _output.WriteLine($"{Driver.Kind}: each change is committed as a transaction of its own ({Capability.Transactions}: {why})");
        }
    }

    [ConformanceFact]
    public Task Every_committed_version_of_every_key_arrives_in_commit_order_across_20_kills() =>
        KillsLoseNothingAsync(Driver, H, new KillPlan(), _output);

    [ConformanceFact]
    public async Task Changes_made_while_the_source_is_stopped_arrive_after_it_starts_again()
    {
        var (source, workload, writer) = await StartAndWriteAsync(seed: 2);
        await using var disposeWriter = writer;
        await source.StopAsync();
        await workload.RunAsync(writer, changes: 100);
        await H.StartInProcessAsync(new SourceRequest(H.Source));
        await VerifyAsync(H, Table, workload, Arrival, "changes made while the source was stopped, after it started again");
    }

    [ConformanceFact]
    public async Task After_a_graceful_stop_a_restart_repeats_nothing()
    {
        var (source, _, writer) = await StartAndWriteAsync(seed: 3);
        await using var disposeWriter = writer;
        await source.StopAsync();
        var before = H.Count(Table);
        await H.StartInProcessAsync(new SourceRequest(H.Source));
        // A marker after the restart: whatever the source repeats comes before it.
        const int Marker = 1_000_000;
        await writer.CommitAsync([new RowChange.Insert(("id", Marker), ("v", 0L))]);
        var records = await H.ReadAsync(Table, r => r.Any(x => (int?)x.Key?["id"] == Marker), Arrival);
        Assert.True(records.Any(x => (int?)x.Key?["id"] == Marker), $"The change made after the restart did not arrive within {Arrival}; source log:\n{H.SourceLog}");
        var repeated = records.Where(r => r.Offset >= before && (int?)r.Key?["id"] != Marker).ToList();
        Assert.True(
            repeated.Count == 0,
            $"After a graceful stop with {before} records on the topic and no change while stopped, the restarted source repeated {repeated.Count} of them " +
            $"(the stored position was not the last acknowledged one): {string.Join(", ", repeated.Take(20).Select(Describe))}");
    }

    [ConformanceFact]
    public async Task A_key_change_is_a_delete_and_tombstone_of_the_old_key_then_a_create_of_the_new()
    {
        Driver.Require(Capability.KeyUpdate);
        await H.CreateTableAsync(Table, VersionedWorkload.Columns);
        await H.StartInProcessAsync(new SourceRequest(H.Source));
        await Driver.WaitUntilStreamingAsync(H.Source, H, TimeSpan.FromSeconds(60));
        await using var writer = await Driver.OpenWriterAsync(Table);
        await writer.CommitAsync([new RowChange.Insert(("id", 4), ("v", 1L))]);
        await writer.CommitAsync([new RowChange.Update("id", 4, ("id", 40))]);
        await writer.CommitAsync([new RowChange.Insert(("id", 99), ("v", 2L))]);

        var records = await H.ReadAsync(Table, r => r.Any(x => (int?)x.Key?["id"] == 99), Arrival);
        Assert.Equal(["c 4 v1", "d 4", "tombstone 4", "c 40 v1", "c 99 v2"], records.Select(Describe));
    }

    [ConformanceFact]
    public async Task Events_of_a_keyless_table_land_in_one_partition_in_commit_order()
    {
        Driver.Require(Capability.KeylessTables);
        const int Partitions = 4;
        await H.CreateTableAsync(Table, [new("id", ColumnType.Int32), new("v", ColumnType.Int64)], partitions: Partitions);
        await H.StartInProcessAsync(new SourceRequest(H.Source) { TopicPartitions = Partitions });
        await Driver.WaitUntilStreamingAsync(H.Source, H, TimeSpan.FromSeconds(60));
        await using var writer = await Driver.OpenWriterAsync(Table);
        var expected = new List<string>();

        // Transactions apart in time, while the source streams live (not catching up in one burst): a Kafka client's
        // partitioner sticks to one partition for a few milliseconds only, so events without a rule of their own spread.
        async Task CommitAsync(string expect, params RowChange[] changes)
        {
            await writer.CommitAsync(changes);
            expected.Add(expect);
            await Task.Delay(30);
        }

        await CommitAsync("c v0", new RowChange.Insert(("id", 0), ("v", 0L)));
        var first = await H.ReadAsync(Table, r => r.Count > 0, Arrival);
        Assert.True(first.Count > 0, $"The first insert did not arrive within {Arrival}; source log:\n{H.SourceLog}");
        for (var i = 1; i <= 20; i++)
        {
            await CommitAsync($"c v{i}", new RowChange.Insert(("id", i), ("v", (long)i)));
        }

        await CommitAsync("u v101", new RowChange.Update("v", 1L, ("v", 101L)));
        await CommitAsync("d v2", new RowChange.Delete("v", 2L));
        await CommitAsync("c v-1", new RowChange.Insert(("id", -1), ("v", -1L)));

        var records = await H.ReadAsync(Table, r => r.Any(x => (long?)x.After?["v"] == -1), Arrival);
        var partitions = records.GroupBy(r => r.Partition).OrderBy(g => g.Key).Select(g => $"partition {g.Key}: {g.Count()}").ToList();
        Assert.True(partitions.Count == 1, $"The {records.Count} events of a keyless table spread over {partitions.Count} of its topic's {Partitions} partitions ({string.Join(", ", partitions)}): their order is lost.");
        Assert.Equal(expected, records.OrderBy(r => r.Offset).Select(r => $"{r.Op} v{(r.After ?? r.Before)?["v"]}"));
    }

    [ConformanceFact]
    public async Task Each_event_decodes_with_the_schema_it_was_written_with_across_added_and_dropped_columns()
    {
        Driver.Require(Capability.AddDropColumn);
        const string S = "s";
        await H.CreateTableAsync(S, [new("id", ColumnType.Int32, Key: true), new("w", ColumnType.Int32), new("n", ColumnType.Int64), new("d", ColumnType.Text)]);
        await H.StartInProcessAsync(new SourceRequest(H.Source));
        await Driver.WaitUntilStreamingAsync(H.Source, H, TimeSpan.FromSeconds(60));
        await using var writer = await Driver.OpenWriterAsync(S);
        await writer.CommitAsync([new RowChange.Insert(("id", 1), ("w", 10), ("n", 100L), ("d", "d1"))]);
        await Driver.AlterTableAsync(S, new SchemaChange.AddColumn(new("a", ColumnType.Int32)));
        await writer.CommitAsync([new RowChange.Insert(("id", 2), ("w", 20), ("n", 200L), ("d", "d2"), ("a", 2))]);
        await Driver.AlterTableAsync(S, new SchemaChange.DropColumn("d"));
        await writer.CommitAsync([new RowChange.Insert(("id", 3), ("w", 30), ("n", 300L), ("a", 3))]);

        var records = await H.ReadAsync(S, r => r.Any(x => (int?)x.Key?["id"] == 3), Arrival);
        var rows = FirstAfterImages(records);
        Assert.True(rows.ContainsKey(3), $"The insert after the last column change did not arrive within {Arrival}; got {string.Join(", ", records.Select(Describe))}; source log:\n{H.SourceLog}");
        AssertRow(rows[1], ("id", 1), ("w", 10), ("n", 100L), ("d", "d1"));
        AssertRow(rows[2], ("id", 2), ("w", 20), ("n", 200L), ("d", "d2"), ("a", 2));
        AssertRow(rows[3], ("id", 3), ("w", 30), ("n", 300L), ("a", 3));
    }

    [ConformanceFact]
    public async Task A_widened_column_is_a_compatible_schema_change_and_a_narrowed_one_stops_the_source_unless_accepted()
    {
        Driver.Require(Capability.ChangeColumnType);
        const string S = "s";
        await H.CreateTableAsync(S, [new("id", ColumnType.Int32, Key: true), new("w", ColumnType.Int32), new("n", ColumnType.Int64)]);
        var source = await H.StartInProcessAsync(new SourceRequest(H.Source));
        await Driver.WaitUntilStreamingAsync(H.Source, H, TimeSpan.FromSeconds(60));
        await using var writer = await Driver.OpenWriterAsync(S);
        await writer.CommitAsync([new RowChange.Insert(("id", 1), ("w", 10), ("n", 100L))]);
        await Driver.AlterTableAsync(S, new SchemaChange.ChangeType("w", ColumnType.Int64));
        await writer.CommitAsync([new RowChange.Insert(("id", 4), ("w", 3_000_000_000L), ("n", 400L))]);

        var records = await H.ReadAsync(S, r => r.Any(x => (int?)x.Key?["id"] == 4), Arrival);
        var rows = FirstAfterImages(records);
        Assert.True(rows.ContainsKey(4), $"The insert after widening column w did not arrive within {Arrival}; got {string.Join(", ", records.Select(Describe))}; source log:\n{H.SourceLog}");
        AssertRow(rows[1], ("id", 1), ("w", 10), ("n", 100L));
        AssertRow(rows[4], ("id", 4), ("w", 3_000_000_000L), ("n", 400L));

        // Narrowing BIGINT to INT is incompatible (an int reader cannot read a long): by default the source stops ...
        await Driver.AlterTableAsync(S, new SchemaChange.ChangeType("n", ColumnType.Int32));
        await writer.CommitAsync([new RowChange.Insert(("id", 5), ("w", 5L), ("n", 5))]);
        var deadline = DateTime.UtcNow + Arrival;
        while (!source.Failed && DateTime.UtcNow < deadline)
        {
            await Task.Delay(100);
        }

        var failure = H.SourceLog;
        var early = await H.ReadAsync(S, r => r.Any(x => (int?)x.Key?["id"] == 5), TimeSpan.FromSeconds(1));
        Assert.True(source.Failed, $"With the default IncompatibleSchemaChange, narrowing column n from BIGINT to INT did not stop the source within {Arrival} (the row after it {(early.Any(x => (int?)x.Key?["id"] == 5) ? "arrived" : "did not arrive")}); source log:\n{failure}");
        Assert.DoesNotContain(early, x => (int?)x.Key?["id"] == 5);
        await source.StopAsync();

        // ... and with the setting that accepts it, the schema is registered as a new version and the row arrives.
        await H.StartInProcessAsync(new SourceRequest(H.Source) { AcceptIncompatibleSchemaChanges = true });
        records = await H.ReadAsync(S, r => r.Any(x => (int?)x.Key?["id"] == 5), Arrival);
        rows = FirstAfterImages(records);
        Assert.True(rows.ContainsKey(5), $"With IncompatibleSchemaChange accepting, the insert after narrowing column n did not arrive within {Arrival}; source log:\n{H.SourceLog}");
        AssertRow(rows[5], ("id", 5), ("w", 5L), ("n", 5));
        Assert.True(failure.Contains("IncompatibleSchemaChange", StringComparison.Ordinal), $"The failure on the incompatible change does not name the setting IncompatibleSchemaChange; source log:\n{failure}");
    }

    [ConformanceFact]
    public async Task A_truncate_arrives_as_a_truncate_event_in_commit_order()
    {
        Driver.Require(Capability.Truncate);
        await H.CreateTableAsync(Table, VersionedWorkload.Columns);
        await H.StartInProcessAsync(new SourceRequest(H.Source));
        await Driver.WaitUntilStreamingAsync(H.Source, H, TimeSpan.FromSeconds(60));
        await using var writer = await Driver.OpenWriterAsync(Table);
        await writer.CommitAsync([new RowChange.Insert(("id", 1), ("v", 1L))]);
        await writer.CommitAsync([new RowChange.Insert(("id", 2), ("v", 2L))]);
        await Driver.TruncateAsync(Table);
        await writer.CommitAsync([new RowChange.Insert(("id", 3), ("v", 3L))]);

        var records = await H.ReadAsync(Table, r => r.Any(x => (int?)x.Key?["id"] == 3), Arrival);
        Assert.Equal(["c 1 v1", "c 2 v2", "t", "c 3 v3"], records.Select(Describe));
    }

    [ConformanceFact]
    public async Task With_Kafka_down_for_30_s_memory_stays_bounded_and_every_change_arrives_after()
    {
        // The bound: the source keeps no memory per server transaction while Kafka is away (what it produces waits in
        // the Kafka client's bounded queue, outside the managed heap). Measured as the growth of the connector
        // process's managed heap, after full collections, per transaction committed on the server during the outage.
        const double BoundBytesPerTransaction = 16;
        var outage = TimeSpan.FromSeconds(30);
        const string Noise = "noise";
        await H.CreateTableAsync(Table, VersionedWorkload.Columns);
        await H.CreateTableAsync(Noise, VersionedWorkload.Columns, captured: false);
        var request = new SourceRequest(H.Source);
        using var process = H.StartProcess(request, reportMemoryEvery: TimeSpan.FromMilliseconds(500));
        await Driver.WaitUntilStreamingAsync(H.Source, H, TimeSpan.FromSeconds(60));
        var workload = new VersionedWorkload(keys: 100, seed: 8);
        await using var writer = await Driver.OpenWriterAsync(Table);
        await using var noise = await Driver.OpenWriterAsync(Noise);
        await workload.RunAsync(writer, changes: 100);
        await VerifyAsync(H, Table, workload, Arrival, "changes made before Kafka went down");

        var baseline = await process.NextMemoryReportAsync(TimeSpan.FromSeconds(10));
        var baselineRss = process.ResidentBytes();
        var captured = workload.Transactions;
        long uncaptured = 0;
        H.Cluster.SetBrokerDown(-1);
        MemoryReport down;
        long downRss;
        try
        {
            var clock = Stopwatch.StartNew();
            while (clock.Elapsed < outage)
            {
                await noise.CommitAsync([new RowChange.Upsert("id", ("id", (int)(uncaptured % 1000)), ("v", uncaptured))]);
                uncaptured++;
                if (uncaptured % 100 == 0)
                {
                    await workload.RunAsync(writer, changes: 5, maxBatch: 5);
                }
            }

            down = await process.NextMemoryReportAsync(TimeSpan.FromSeconds(10));
            downRss = process.ResidentBytes();
        }
        finally
        {
            H.Cluster.SetBrokerUp(-1);
        }

        var transactions = uncaptured + workload.Transactions - captured;
        var perTransaction = (double)(down.ManagedBytes - baseline.ManagedBytes) / transactions;
        var summary = string.Create(CultureInfo.InvariantCulture,
            $"Kafka down {outage.TotalSeconds:0} s: {transactions} server transactions ({workload.Transactions - captured} on the captured table); connector managed heap " +
            $"{baseline.ManagedBytes / 1024} -> {down.ManagedBytes / 1024} KiB ({perTransaction:0.0} B per transaction), resident {baselineRss / (1024 * 1024)} -> {downRss / (1024 * 1024)} MiB " +
            $"({(double)(downRss - baselineRss) / transactions:0.0} B per transaction)");
        _output.WriteLine(summary);
        Assert.False(process.HasExited, $"The connector process exited while Kafka was down; its log:\n{H.SourceLog}");
        await VerifyAsync(H, Table, workload, TimeSpan.FromSeconds(90), "changes made while Kafka was down, after it came back");
        Assert.True(perTransaction <= BoundBytesPerTransaction, $"{summary}: above the bound of {BoundBytesPerTransaction} B per transaction, so memory grows without bound while Kafka is away.");
    }

    [ConformanceFact]
    public async Task Rows_inserted_right_after_a_table_is_created_while_the_source_runs_all_arrive()
    {
        Driver.Require(Capability.TablesCreatedWhileRunning);
        const string Late = "late";
        await H.CreateTableAsync(Table, VersionedWorkload.Columns);
        var source = await H.StartInProcessAsync(new SourceRequest(H.Source));
        await Driver.WaitUntilStreamingAsync(H.Source, H, TimeSpan.FromSeconds(60));
        await H.CreateTableAsync(Late, VersionedWorkload.Columns);
        await using var writer = await Driver.OpenWriterAsync(Late);
        for (var id = 1; id <= 10; id++)
        {
            await writer.CommitAsync([new RowChange.Insert(("id", id), ("v", (long)id))]);
        }

        var wait = TimeSpan.FromSeconds(20);
        var records = await H.ReadAsync(Late, r => r.Count >= 10, wait);
        if (records.Count != 10)
        {
            // Say where they are: not produced, produced but not read, or only late; and what the database's side did.
            var status = source.Status(H.Source);
            var inTopic = H.Count(Late);
            string reader;
            try
            {
                reader = await Driver.DescribeLogReaderAsync();
            }
            catch (Exception ex)
            {
                reader = $"(not known: {ex.GetType().Name}: {ex.Message})";
            }
            var later = await H.ReadAsync(Late, r => r.Count >= 10, TimeSpan.FromSeconds(40));
            Assert.Fail(
                $"{records.Count} of the 10 rows inserted right after CREATE TABLE arrived within {wait}: [{string.Join(", ", records.Select(Describe))}]; " +
                $"{inTopic} records were in the topic then, {later.Count} after 40 s more; source status then: {status} (tables: {string.Join(", ", status?.Tables.Select(t => t.Table) ?? [])})\nlog reader:\n{reader}\nsource log:\n{H.SourceLog}");
        }

        Assert.Equal(Enumerable.Range(1, 10).Select(i => $"c {i} v{i}"), records.Select(Describe));
    }

    /// <summary>Creates table kv, starts the source in this process, and commits 100 changes that all arrive.</summary>
    private async Task<(InProcessSource Source, VersionedWorkload Workload, IChangeWriter Writer)> StartAndWriteAsync(int seed)
    {
        await H.CreateTableAsync(Table, VersionedWorkload.Columns);
        var source = await H.StartInProcessAsync(new SourceRequest(H.Source));
        await Driver.WaitUntilStreamingAsync(H.Source, H, TimeSpan.FromSeconds(60));
        var workload = new VersionedWorkload(keys: 20, seed);
        var writer = await Driver.OpenWriterAsync(Table);
        await workload.RunAsync(writer, changes: 100);
        await VerifyAsync(H, Table, workload, Arrival, "changes made while the source ran");
        return (source, workload, writer);
    }

    /// <summary>How the kill scenario runs: the conformance suite's defaults, larger volumes for the connectors' own kill tests.</summary>
    internal sealed record KillPlan
    {
        public int Kills { get; init; } = 20;

        public int Keys { get; init; } = 300;

        /// <summary>Changes to commit; the writer stops earlier when the kills are over, unless <see cref="WriteAll"/>.</summary>
        public int Changes { get; init; } = 60_000;

        public bool WriteAll { get; init; }

        public int MaxBatch { get; init; } = 10;

        public TimeSpan? Pause { get; init; } = TimeSpan.FromMilliseconds(5);

        /// <summary>The embedded cluster keeps 5 MB per partition: enough partitions hold every event (keys keep theirs).</summary>
        public int Partitions { get; init; } = 16;
    }

    /// <summary>
    /// The source in a process of its own, SIGKILLed <see cref="KillPlan.Kills"/> times at random points and restarted
    /// while a writer commits random changes: every committed version of every key arrives, in commit order.
    /// </summary>
    internal static async Task KillsLoseNothingAsync(ConformanceDriver driver, ConformanceHarness harness, KillPlan plan, ITestOutputHelper output)
    {
        await harness.CreateTableAsync(Table, VersionedWorkload.Columns, partitions: plan.Partitions);
        var request = new SourceRequest(harness.Source) { TopicPartitions = plan.Partitions };
        var clock = Stopwatch.StartNew();
        var process = harness.StartProcess(request);
        try
        {
            await driver.WaitUntilStreamingAsync(harness.Source, harness, TimeSpan.FromSeconds(60));
            var workload = new VersionedWorkload(plan.Keys, seed: 13);
            await using var writer = await driver.OpenWriterAsync(Table);
            using var killsOver = new CancellationTokenSource();
            var writing = Task.Run(() => workload.RunAsync(writer, plan.Changes, plan.MaxBatch, plan.Pause, plan.WriteAll ? CancellationToken.None : killsOver.Token));
            var random = new Random(20261127);
            for (var kill = 0; kill < plan.Kills && !writing.IsFaulted; kill++)
            {
                await Task.Delay(random.Next(300, 2500));
                process.Kill();
                process.Dispose();
                process = harness.StartProcess(request);
            }

            await killsOver.CancelAsync();
            await writing;
            output.WriteLine($"{plan.Kills} kills in {clock.Elapsed.TotalSeconds:0.0} s; {workload.Changes} changes in {workload.Transactions} transactions over {workload.Committed.Count} keys");
            var check = await VerifyAsync(harness, Table, workload, TimeSpan.FromMinutes(2), $"{workload.Changes} changes committed across {plan.Kills} kills of the connector");
            output.WriteLine($"all arrived after {clock.Elapsed.TotalSeconds:0.0} s, in {check.Records} records ({check.Repeats} of them repeats)");
        }
        finally
        {
            process.Dispose();
        }
    }

    /// <summary>Reads the table's topic until every committed change of <paramref name="workload"/> arrived as <see cref="VersionedWorkload.Check"/> says, or fails.</summary>
    /// <returns>The check, with what it counted.</returns>
    internal static async Task<VersionedWorkload.Check> VerifyAsync(ConformanceHarness harness, string table, VersionedWorkload workload, TimeSpan timeout, string what)
    {
        Assert.True(workload.Changes > 0, $"{what}: the workload committed no change (no statement reported an affected row), so the check would prove nothing.");
        using var tail = await harness.TailAsync(table);
        var check = new VersionedWorkload.Check(workload);
        var deadline = DateTime.UtcNow + timeout;
        while (check.Problem() is { } problem)
        {
            Assert.True(DateTime.UtcNow < deadline, $"{what}: after {check.Records} records for {workload.Changes} committed changes in {timeout}, {problem}; source log:\n{harness.SourceLog}");
            foreach (var record in await tail.PollAsync(TimeSpan.FromMilliseconds(200)))
            {
                check.Add(record);
            }
        }

        return check;
    }

    /// <summary>Per key, the after image of its first create or update.</summary>
    private static Dictionary<int, GenericRecord> FirstAfterImages(List<CdcRecord> records)
    {
        var rows = new Dictionary<int, GenericRecord>();
        foreach (var record in records)
        {
            if (record.After is { } after)
            {
                rows.TryAdd((int)after["id"], after);
            }
        }

        return rows;
    }

    /// <summary>The row has exactly these fields, with these values of these CLR types (int for INT, long for BIGINT).</summary>
    private static void AssertRow(GenericRecord row, params (string Field, object Value)[] expected)
    {
        var fields = row.Schema.Fields.Select(f => f.Name).ToList();
        Assert.True(fields.SequenceEqual(expected.Select(e => e.Field)), $"Row {row["id"]} has fields [{string.Join(", ", fields)}], expected [{string.Join(", ", expected.Select(e => e.Field))}].");
        foreach (var (field, value) in expected)
        {
            var actual = row[field];
            Assert.True(
                Equals(actual, value),
                $"Row {row["id"]}, field {field}: {actual} ({actual?.GetType().Name ?? "null"}), expected {value} ({value.GetType().Name}).");
        }
    }

    private static string Describe(CdcRecord record)
    {
        var key = record.Key?["id"]?.ToString();
        if (record.Value is null)
        {
            return $"tombstone {key}";
        }

        var version = record.After is { } after && after.TryGetValue("v", out var v) ? $" v{v}" : string.Empty;
        return key is null ? record.Op! : $"{record.Op} {key}{version}";
    }
}
