using Avro.Generic;
using Avro.IO;
using Confluent.Kafka;
using DataMesh.Connectors.Cassandra;
using DataMesh.Connectors.Cassandra.Cdc;
using DataMesh.Connectors.Cassandra.CommitLog;
using DataMesh.Events;
using DataMesh.Hosting;
using DataMesh.Schemas;
using DataMesh.Sources;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Xunit;

namespace DataMesh.Tests.Cassandra;

/// <summary>
/// The Cassandra source on the source runtime and the embedded Kafka cluster, reading a <c>cdc_raw</c> directory that a
/// test writer fills the way a Cassandra 4.0 node does (<see cref="CdcRawWriter"/>): the real mutations of the 4.0.11
/// fixture segment, and mutations written by the format for updates, deletions, static rows and dropped columns.
/// </summary>
public sealed partial class CassandraSourceTests : IAsyncDisposable
{
    private const string Version = "4.0.11-encrypted";
    private const string Node = "node1";
    private static readonly Guid OrdersId = Guid.Parse("0d4b2c3b-0000-4000-8000-00000000000a");

    private readonly string _directory = Directory.CreateTempSubdirectory("datamesh-cdc-raw-").FullName;
    private readonly string _prefix = "cs" + Guid.NewGuid().ToString("N")[..8];
    private readonly KafkaConnection _kafka = new(new KafkaOptions { RequestTimeout = TimeSpan.FromSeconds(10) });
    private readonly PositionStore _positions;
    private KafkaSchemaStore? _schemas;

    public CassandraSourceTests()
    {
        _positions = new PositionStore(_kafka, "positions-" + Guid.NewGuid().ToString("N"));
    }

    private static string Standard1(Guid id) =>
        $"CREATE TABLE \"Keyspace1\".\"Standard1\" (key ascii, col ascii, val blob, val0 blob, PRIMARY KEY (key, col)) WITH id = {id} AND cdc = true";

    [Fact]
    public async Task The_real_4_0_segment_arrives_as_one_create_per_row_with_the_fixture_cells_and_hash_while_its_cdc_index_grows()
    {
        var expected = CassandraFixtures.Expected(Version);
        var mutations = CassandraFixtures.Mutations40();
        var writer = new CdcRawWriter(_directory, 7, 100, [mutations.Take(3), mutations.Skip(3).Take(150), mutations.Skip(153)]);
        var options = Options(Standard1(expected.TableId));
        var runtime = await RuntimeAsync(options);
        using var stop = new CancellationTokenSource();
        var run = runtime.RunAsync(stop.Token);

        writer.Sync(1);
        writer.Sync(2);
        await WaitForStoredAsync(runtime, 100, writer.End(2));
        writer.Sync(3, completed: true);
        var records = await ReadAsync(Topic("Keyspace1", "Standard1"), 355);

        Assert.All(records, r => Assert.Equal("c", r.Value!["op"]));
        Assert.All(records, r => Assert.Null(r.Value!["before"]));
        var hash = 0;
        foreach (var record in records)
        {
            var after = (GenericRecord)record.Value!["after"];
            Assert.Equal("name0", after["col"]);
            Assert.Equal(after["key"], record.Key!["key"]);
            Assert.Null(after["val0"]);
            hash = CellHash.Fold(hash, (byte[])after["val"]);
        }

        Assert.Equal((expected.Cells, expected.Hash), (records.Count, hash));
        var source = (GenericRecord)records[^1].Value!["source"];
        Assert.Equal(("cassandra", Node, 100L, (long)writer.End(3)), ((string)source["connector"], (string)source["node"], (long)source["segment"], (long)source["offset"]));
        await WaitForStoredAsync(runtime, 100, writer.End(3));
        await WaitUntilAsync(() => !File.Exists(writer.Path), "the acknowledged segment to be deleted");
        Assert.False(File.Exists(CdcIndex.PathOf(writer.Path)));
        await stop.CancelAsync();
        Assert.Equal(SourceOutcome.Stopped, await run);
    }

    [Fact]
    public async Task The_real_encrypted_3_4_segments_are_read_whole_with_the_key_from_the_options_and_arrive_as_updates()
    {
        const string version = "3.4-encrypted";
        var expected = CassandraFixtures.Expected(version);
        foreach (var segment in CassandraFixtures.Segments(version))
        {
            File.Copy(segment, Path.Combine(_directory, Path.GetFileName(segment)));
        }

        var options = Options(Standard1(expected.TableId));
        options.EncryptionKeys["Testing:1"] = CassandraFixtures.Testing1KeyHex;
        options.TopicPartitions = 4; // 14 561 events: more than the embedded cluster keeps in one partition
        var runtime = await RuntimeAsync(options);
        using var stop = new CancellationTokenSource();
        var run = runtime.RunAsync(stop.Token);

        var records = await ReadAsync(Topic("Keyspace1", "Standard1"), expected.Cells, exact: true, partitions: 4);

        // A COMPACT STORAGE table's rows carry no row liveness: updates, as documented.
        Assert.All(records, r => Assert.Equal("u", r.Value!["op"]));
        var hash = records.Aggregate(0, (sum, r) => CellHash.Fold(sum, (byte[])((GenericRecord)r.Value!["after"])["val"]));
        Assert.Equal((expected.Cells, expected.Hash), (records.Count, hash));
        await WaitUntilAsync(() => Directory.GetFiles(_directory).Length == 0, "both segments to be deleted once acknowledged");
        await stop.CancelAsync();
        Assert.Equal(SourceOutcome.Stopped, await run);
    }

    [Fact]
    public async Task A_restart_resumes_from_the_stored_position_with_no_gap_and_no_repeat_and_kept_segments_stay()
    {
        var table = OrdersTable();
        var first = new CdcRawWriter(_directory, 7, 200, [Enumerable.Range(1, 10).Select(i => Insert(i, 1, i * 10))]);
        first.Sync(1, completed: true);
        var options = Options(table);
        options.KeepSegments = true;
        var runtime = await RuntimeAsync(options);
        using (var stop = new CancellationTokenSource())
        {
            var run = runtime.RunAsync(stop.Token);
            await WaitForStoredAsync(runtime, 200, first.End(1));
            await stop.CancelAsync();
            Assert.Equal(SourceOutcome.Stopped, await run);
        }

        Assert.True(File.Exists(first.Path));
        var second = new CdcRawWriter(_directory, 7, 201, [Enumerable.Range(11, 5).Select(i => Insert(i, 1, i * 10))]);
        second.Sync(1, completed: true);
        runtime = await RuntimeAsync(options);
        using (var stop = new CancellationTokenSource())
        {
            var run = runtime.RunAsync(stop.Token);
            await WaitForStoredAsync(runtime, 201, second.End(1));
            await stop.CancelAsync();
            Assert.Equal(SourceOutcome.Stopped, await run);
        }

        var records = await ReadAsync(Topic("shop", "orders"), 15, exact: true);
        Assert.Equal(Enumerable.Range(1, 15), records.Select(r => (int)r.Key!["id"]));
        Assert.Equal(
            $$"""{"node":"{{Node}}","segment":201,"offset":{{second.End(1)}}}""",
            await _positions.LoadAsync("cass", CancellationToken.None));
        Assert.True(File.Exists(first.Path));
        Assert.True(File.Exists(second.Path));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Cassandra_3_segments_moved_into_cdc_raw_after_newer_ones_arrive_while_running_and_across_a_restart(bool keep)
    {
        // Cassandra 3.x moves a segment into cdc_raw when it discards it, and can discard an older one after a newer one.
        string Segment(long id, int from, int count)
        {
            return MoveIn(_directory, $"CommitLog-6-{id}.log", SegmentWriter.Plain(6, id, [Enumerable.Range(from, count).Select(i => Insert(i, 1, i))], size: 1 << 16));
        }

        var options = Options(OrdersTable());
        options.KeepSegments = keep;
        var newest = Segment(602, 1, 5);
        var runtime = await RuntimeAsync(options);
        using (var stop = new CancellationTokenSource())
        {
            var run = runtime.RunAsync(stop.Token);
            await WaitForStoredAsync(runtime, 602, 1);
            var late = Segment(601, 6, 5);
            await ReadAsync(Topic("shop", "orders"), 10);
            if (keep)
            {
                await WaitUntilAsync(() => runtime.StoredPosition?.ReadOf(Node) is [601], "a stored position listing segment 601 as read");
            }
            else
            {
                // Deleted once a stored position listed it as read; the list then forgets it.
                await WaitUntilAsync(() => !File.Exists(late) && !File.Exists(newest), "both segments to be deleted once acknowledged");
                await WaitUntilAsync(() => runtime.StoredPosition?.ReadOf(Node) is [], "a stored position with an empty list");
            }

            await stop.CancelAsync();
            Assert.Equal(SourceOutcome.Stopped, await run);
        }

        // Discarded while the source is stopped.
        Segment(600, 11, 5);
        runtime = await RuntimeAsync(options);
        using (var stop = new CancellationTokenSource())
        {
            var run = runtime.RunAsync(stop.Token);
            await WaitUntilAsync(() => keep ? runtime.StoredPosition?.ReadOf(Node) is [600, 601] : Directory.GetFiles(_directory).Length == 0, "segment 600 to be read and acknowledged");
            await stop.CancelAsync();
            Assert.Equal(SourceOutcome.Stopped, await run);
        }

        var records = await ReadAsync(Topic("shop", "orders"), 15, exact: true);
        Assert.Equal(Enumerable.Range(1, 15), records.Select(r => (int)r.Key!["id"]).Order());
        Assert.Equal(keep ? ["CommitLog-6-600.log", "CommitLog-6-601.log", "CommitLog-6-602.log"] : [],
            Directory.GetFiles(_directory).Select(Path.GetFileName).Order(StringComparer.Ordinal));
    }

    [Fact]
    public async Task A_segment_stays_in_cdc_raw_until_a_position_past_it_is_stored_after_kafka_acknowledged_its_events()
    {
        var first = new CdcRawWriter(_directory, 7, 500, [Enumerable.Range(1, 5).Select(i => Insert(i, 1, i))]);
        first.Sync(1, completed: true);
        var options = Options(OrdersTable());
        options.PositionSaveInterval = TimeSpan.FromSeconds(30); // the first position is stored at once, the next one not for 30 s
        var runtime = await RuntimeAsync(options);
        using (var stop = new CancellationTokenSource())
        {
            var run = runtime.RunAsync(stop.Token);
            await WaitForStoredAsync(runtime, 500, first.End(1));
            await WaitUntilAsync(() => !File.Exists(first.Path), "the first segment to be deleted once its position was stored");
            await Task.Delay(500); // the runtime's keeper stores once more 100 ms after its first store, then every 30 s

            var second = new CdcRawWriter(_directory, 7, 501, [Enumerable.Range(6, 5).Select(i => Insert(i, 1, i))]);
            second.Sync(1, completed: true);
            await ReadAsync(Topic("shop", "orders"), 10);
            await Task.Delay(500);

            // Read, produced and acknowledged, but its position is not stored yet: a crash now would read it again.
            Assert.True(File.Exists(second.Path));
            await stop.CancelAsync();
            Assert.Equal(SourceOutcome.Stopped, await run);
            Assert.True(File.Exists(second.Path));
            Assert.Contains("\"segment\":501", await _positions.LoadAsync("cass", CancellationToken.None), StringComparison.Ordinal);

            // The next run finds the stored position past it, and deletes it.
            runtime = await RuntimeAsync(options);
            using var again = new CancellationTokenSource();
            run = runtime.RunAsync(again.Token);
            await WaitUntilAsync(() => !File.Exists(second.Path), "the second segment to be deleted after the restart");
            await again.CancelAsync();
            await run;
        }
    }

    [Fact]
    public async Task Inserts_updates_row_and_partition_deletions_static_rows_and_dropped_columns_become_documented_events()
    {
        var mutations = new[]
        {
            Insert(1, 1, 5),
            Update(1, 1, 6, droppedCell: true),
            Static(1, total: 100),
            DeleteRow(1, 1),
            DeletePartition(2),
            SetTags(3, 1, replace: true, "a", "b"),
        };
        var writer = new CdcRawWriter(_directory, 7, 300, [mutations]);
        writer.Sync(1, completed: true);
        var runtime = await RuntimeAsync(Options(OrdersTable()));
        using var stop = new CancellationTokenSource();
        var run = runtime.RunAsync(stop.Token);

        var records = await ReadAsync(Topic("shop", "orders"), 8, exact: true);

        string Describe(Record r) => r.Value is null
            ? $"tombstone {r.Key!["id"]}/{r.Key!["line"] ?? "null"}"
            : $"{r.Value["op"]} {r.Key!["id"]}/{r.Key!["line"] ?? "null"} after={Row(r.Value["after"] as GenericRecord)}";
        Assert.Equal(
            [
                "c 1/1 after=id=1 line=1 total=null qty=5 note=n1 tags=null _range_start=null _range_end=null",
                "u 1/1 after=id=1 line=1 total=null qty=6 note=null tags=null _range_start=null _range_end=null",
                "u 1/null after=id=1 line=null total=100 qty=null note=null tags=null _range_start=null _range_end=null",
                "d 1/1 after=null",
                "tombstone 1/1",
                "d 2/null after=null",
                "tombstone 2/null",
                "u 3/1 after=id=3 line=1 total=null qty=null note=null tags=[\"a\",\"b\"] _range_start=null _range_end=null",
            ],
            records.Select(Describe));
        await stop.CancelAsync();
        await run;
    }

    [Theory]
    [InlineData(6)]
    [InlineData(7)]
    public async Task A_range_deletion_of_a_clustering_slice_arrives_as_a_delete_keyed_by_the_shared_prefix_with_its_bounds_in_before(int version)
    {
        var table = "CREATE TABLE shop.lines (id int, a int, b int, v int, PRIMARY KEY (id, a, b)) WITH id = 0d4b2c3b-0000-4000-8000-00000000000b AND cdc = true";
        var id = Guid.Parse("0d4b2c3b-0000-4000-8000-00000000000b");
        MutationWriter Lines() => new MutationWriter().UVInt(1).Partition(id, MutationWriter.Int(1), 0, T0, MutationWriter.DeletionTimeEpoch, 0).Columns("v");
        byte[][] mutations =
        [
            // DELETE FROM shop.lines WHERE id = 1 AND a > 3 AND a < 9
            Lines().Byte(0x02).Byte(7).Short(1).ClusteringHeader().Raw(MutationWriter.Int(3)).Deletion(T0 + 1, L0)
                .Byte(0x02).Byte(0).Short(1).ClusteringHeader().Raw(MutationWriter.Int(9)).Deletion(T0 + 1, L0)
                .Byte(0x01).ToArray(),
            // DELETE FROM shop.lines WHERE id = 1 AND a = 2 AND b >= 5 (to the end of a = 2)
            Lines().Byte(0x02).Byte(1).Short(2).ClusteringHeader().Raw(MutationWriter.Int(2)).Raw(MutationWriter.Int(5)).Deletion(T0 + 2, L0)
                .Byte(0x02).Byte(6).Short(1).ClusteringHeader().Raw(MutationWriter.Int(2)).Deletion(T0 + 2, L0)
                .Byte(0x01).ToArray(),
        ];
        if (version == 6)
        {
            // Cassandra 3.x moves a segment to cdc_raw once it is full, without an index: read whole.
            File.WriteAllBytes(Path.Combine(_directory, "CommitLog-6-400.log"), SegmentWriter.Plain(6, 400, [mutations]));
        }
        else
        {
            new CdcRawWriter(_directory, 7, 400, [mutations]).Sync(1, completed: true);
        }

        var runtime = await RuntimeAsync(Options(table));
        using var stop = new CancellationTokenSource();
        var run = runtime.RunAsync(stop.Token);

        // The slice sharing no clustering value has no tombstone: its key is the static row's (docs/cassandra.md).
        var records = await ReadAsync(Topic("shop", "lines"), 3, exact: true);

        string Describe(Record r) => r.Value is null
            ? $"tombstone {r.Key!["id"]}/{r.Key!["a"] ?? "null"}/{r.Key!["b"] ?? "null"}"
            : $"{r.Value["op"]} {r.Key!["id"]}/{r.Key!["a"] ?? "null"}/{r.Key!["b"] ?? "null"} ts={((GenericRecord)r.Value["source"])["ts_ms"]} before={Row(r.Value["before"] as GenericRecord)} after={Row(r.Value["after"] as GenericRecord)}";
        Assert.Equal(
            [
                """d 1/null/null ts=1700000000000 before=id=1 a=null b=null v=null _range_start={"method":">","values":{"a":3},"order":{"a":"asc"}} _range_end={"method":"<","values":{"a":9},"order":{"a":"asc"}} after=null""",
                """d 1/2/null ts=1700000000000 before=id=1 a=2 b=null v=null _range_start={"method":">=","values":{"a":2,"b":5},"order":{"a":"asc","b":"asc"}} _range_end={"method":"<=","values":{"a":2},"order":{"a":"asc"}} after=null""",
                "tombstone 1/2/null",
            ],
            records.Select(Describe));
        await stop.CancelAsync();
        Assert.Equal(SourceOutcome.Stopped, await run);
    }

    [Fact]
    public async Task A_range_deletion_on_a_descending_clustering_column_names_the_order_of_each_bound_value()
    {
        // On CLUSTERING ORDER BY (a DESC) the log writes bounds in that order: DELETE … WHERE a > 3 AND a < 9 starts after 9
        // and ends before 3. A consumer reading the methods in value order would delete the other side: the bounds say the order.
        var table = "CREATE TABLE shop.lines (id int, a int, b int, v int, PRIMARY KEY (id, a, b)) WITH CLUSTERING ORDER BY (a DESC, b ASC) AND id = 0d4b2c3b-0000-4000-8000-00000000000b AND cdc = true";
        var id = Guid.Parse("0d4b2c3b-0000-4000-8000-00000000000b");
        MutationWriter Lines() => new MutationWriter().UVInt(1).Partition(id, MutationWriter.Int(1), 0, T0, MutationWriter.DeletionTimeEpoch, 0).Columns("v");
        byte[][] mutations =
        [
            // DELETE FROM shop.lines WHERE id = 1 AND a > 3 AND a < 9: in clustering order, after 9 and before 3
            Lines().Byte(0x02).Byte(7).Short(1).ClusteringHeader().Raw(MutationWriter.Int(9)).Deletion(T0 + 1, L0)
                .Byte(0x02).Byte(0).Short(1).ClusteringHeader().Raw(MutationWriter.Int(3)).Deletion(T0 + 1, L0)
                .Byte(0x01).ToArray(),
            // DELETE FROM shop.lines WHERE id = 1 AND a = 2 AND b >= 5 (b ascending: to the end of a = 2)
            Lines().Byte(0x02).Byte(1).Short(2).ClusteringHeader().Raw(MutationWriter.Int(2)).Raw(MutationWriter.Int(5)).Deletion(T0 + 2, L0)
                .Byte(0x02).Byte(6).Short(1).ClusteringHeader().Raw(MutationWriter.Int(2)).Deletion(T0 + 2, L0)
                .Byte(0x01).ToArray(),
        ];
        new CdcRawWriter(_directory, 7, 400, [mutations]).Sync(1, completed: true);

        var runtime = await RuntimeAsync(Options(table));
        using var stop = new CancellationTokenSource();
        var run = runtime.RunAsync(stop.Token);
        var records = await ReadAsync(Topic("shop", "lines"), 3, exact: true);

        Assert.Equal(
            [
                """_range_start={"method":">","values":{"a":9},"order":{"a":"desc"}} _range_end={"method":"<","values":{"a":3},"order":{"a":"desc"}}""",
                """_range_start={"method":">=","values":{"a":2,"b":5},"order":{"a":"desc","b":"asc"}} _range_end={"method":"<=","values":{"a":2},"order":{"a":"desc"}}""",
            ],
            records.Where(r => r.Value is not null).Select(r => (GenericRecord)r.Value!["before"]).Select(b => $"_range_start={b["_range_start"]} _range_end={b["_range_end"]}"));
        await stop.CancelAsync();
        Assert.Equal(SourceOutcome.Stopped, await run);
    }

    [Fact]
    public async Task A_range_deletion_without_its_end_bound_stops_the_source_naming_the_segment_and_offset()
    {
        var table = "CREATE TABLE shop.lines (id int, a int, b int, v int, PRIMARY KEY (id, a, b)) WITH id = 0d4b2c3b-0000-4000-8000-00000000000b AND cdc = true";
        var open = new MutationWriter().UVInt(1).Partition(Guid.Parse("0d4b2c3b-0000-4000-8000-00000000000b"), MutationWriter.Int(1), 0, T0, MutationWriter.DeletionTimeEpoch, 0)
            .Columns("v")
            .Byte(0x02).Byte(7).Short(1).ClusteringHeader().Raw(MutationWriter.Int(3)).Deletion(T0, L0) // a > 3, and no end
            .Byte(0x01).ToArray();
        var writer = new CdcRawWriter(_directory, 7, 400, [[open]]);
        writer.Sync(1, completed: true);
        var monitor = new SourceMonitor();
        var runtime = await RuntimeAsync(Options(table), monitor);

        Assert.Equal(SourceOutcome.Failed, await runtime.RunAsync(CancellationToken.None));
        Assert.Matches(@"commit-log segment CommitLog-7-400\.log, byte \d+: mutation byte \d+: the partition ends inside a range deletion", monitor.Get("cass")!.Message);
    }

    [Fact]
    public async Task A_segment_arriving_while_the_source_waits_is_read_at_once_not_at_the_next_poll_interval()
    {
        var expected = CassandraFixtures.Expected(Version);
        var mutations = CassandraFixtures.Mutations40();
        var options = Options(Standard1(expected.TableId));
        options.PollInterval = TimeSpan.FromMinutes(2);
        var monitor = new SourceMonitor();
        var runtime = await RuntimeAsync(options, monitor);
        using var stop = new CancellationTokenSource();
        var run = runtime.RunAsync(stop.Token);
        await WaitUntilAsync(() => monitor.Get("cass")?.State == SourceState.Running, "the source to stream");
        await Task.Delay(500); // its first poll found cdc_raw empty: it now waits (two minutes without a wake-up)

        var clock = System.Diagnostics.Stopwatch.StartNew();
        var writer = new CdcRawWriter(_directory, 7, 100, [mutations]);
        writer.Sync(1, completed: true);
        var records = await ReadAsync(Topic("Keyspace1", "Standard1"), expected.Cells);

        Assert.Equal(expected.Cells, records.Count);
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(30), $"the segment's events took {clock.Elapsed} to arrive");
        await stop.CancelAsync();
        Assert.Equal(SourceOutcome.Stopped, await run);
    }

    public async ValueTask DisposeAsync()
    {
        _positions.Dispose();
        _schemas?.Dispose();
        _kafka.Dispose();
        Directory.Delete(_directory, recursive: true);
        await Task.CompletedTask;
    }

    private const long T0 = 1_700_000_000_000_000;
    private const int L0 = 1_700_000_000;

    private static string OrdersTable() => $"""
        CREATE TABLE shop.orders (id int, line int, total bigint STATIC, qty int, note text, tags set<text>, old text, PRIMARY KEY (id, line))
            WITH id = {OrdersId} AND cdc = true;
        ALTER TABLE shop.orders DROP old USING TIMESTAMP 1700000000000001;
        """;

    private static MutationWriter Partition(int id, int flags = 0) =>
        new MutationWriter().UVInt(1).Partition(OrdersId, MutationWriter.Int(id), flags, T0, MutationWriter.DeletionTimeEpoch, 0);

    /// <summary>INSERT INTO shop.orders (id, line, qty, note) VALUES (…): a row with its primary-key liveness.</summary>
    private static byte[] Insert(int id, int line, int qty) =>
        Partition(id).Columns("qty", "note")
            .Byte(0x24).ClusteringHeader().Raw(MutationWriter.Int(line)).Timestamp(T0)
            .Byte(0x08).Raw(MutationWriter.Int(qty))
            .Byte(0x08).VText("n" + id)
            .Byte(0x01).ToArray();

    /// <summary>UPDATE shop.orders SET qty = … WHERE …: cells without liveness; optionally a cell of the dropped column.</summary>
    private static byte[] Update(int id, int line, int qty, bool droppedCell)
    {
        var writer = Partition(id).Columns(droppedCell ? ["qty", "old"] : ["qty"])
            .Byte(0x20).ClusteringHeader().Raw(MutationWriter.Int(line))
            .Byte(0x00).Timestamp(T0 + 1).Raw(MutationWriter.Int(qty));
        if (droppedCell)
        {
            writer.Byte(0x00).Timestamp(T0).VText("from before the drop");
        }

        return writer.Byte(0x01).ToArray();
    }

    /// <summary>UPDATE shop.orders SET total = … WHERE id = …: the static row.</summary>
    private static byte[] Static(int id, long total) =>
        new MutationWriter().UVInt(1).Partition(OrdersId, MutationWriter.Int(id), 0x08, T0, MutationWriter.DeletionTimeEpoch, 0)
            .Columns("total").Columns()
            .Byte(0xA0).Byte(0x01).Byte(0x00).Timestamp(T0 + 2).Raw(MutationWriter.Long(total))
            .Byte(0x01).ToArray();

    /// <summary>DELETE FROM shop.orders WHERE id = … AND line = ….</summary>
    private static byte[] DeleteRow(int id, int line) =>
        Partition(id).Columns()
            .Byte(0x30).ClusteringHeader().Raw(MutationWriter.Int(line)).Deletion(T0 + 3, L0)
            .Byte(0x01).ToArray();

    /// <summary>DELETE FROM shop.orders WHERE id = ….</summary>
    private static byte[] DeletePartition(int id) =>
        Partition(id, 0x04).Columns().Deletion(T0 + 4, L0).Byte(0x01).ToArray();

    /// <summary>UPDATE shop.orders SET tags = {…} WHERE …: a complex deletion, then one cell per element.</summary>
    private static byte[] SetTags(int id, int line, bool replace, params string[] tags)
    {
        var writer = Partition(id).Columns("tags")
            .Byte(replace ? 0x60 : 0x20).ClusteringHeader().Raw(MutationWriter.Int(line));
        if (replace)
        {
            writer.Deletion(T0 + 4, L0);
        }

        writer.UVInt((ulong)tags.Length);
        foreach (var tag in tags)
        {
            writer.Byte(0x04).Timestamp(T0 + 5).VText(tag);
        }

        return writer.Byte(0x01).ToArray();
    }

    private static string Row(GenericRecord? row) => row is null
        ? "null"
        : string.Join(" ", row.Schema.Fields.Select(f => $"{f.Name}={row[f.Name] ?? "null"}"));

    private CassandraSourceOptions Options(params string[] tables)
    {
        var options = new CassandraSourceOptions
        {
            CdcRawDirectory = _directory,
            Node = Node,
            PollInterval = TimeSpan.FromMilliseconds(20),
            PositionSaveInterval = TimeSpan.FromMilliseconds(50),
            RetryDelay = TimeSpan.FromMilliseconds(50),
            MaxRetryDelay = TimeSpan.FromMilliseconds(100),
        };
        foreach (var table in tables)
        {
            options.Tables.Add(table);
        }

        Assert.Empty(options.Validate("cass"));
        return options;
    }

    private async Task<SourceRuntime<CassandraPosition>> RuntimeAsync(CassandraSourceOptions options, SourceMonitor? monitor = null, TimeProvider? time = null, ILogger? logger = null)
    {
        _schemas ??= await KafkaSchemaStore.CreateAsync(new KafkaSchemaStoreOptions { EmbeddedCluster = _kafka.EmbeddedCluster, Topic = "schemas-" + Guid.NewGuid().ToString("N") });
        return new SourceRuntime<CassandraPosition>("cass", new CassandraConnector("cass", options, logger ?? NullLogger.Instance, time), options, new ChangeEventOptions { TopicPrefix = _prefix },
            _kafka, _schemas, _positions, monitor, NullLogger.Instance);
    }

    /// <summary>Moves a whole segment into a <c>cdc_raw</c> directory as Cassandra 3.x does when it discards it (a rename:
    /// a reader never sees it half written).</summary>
    private static string MoveIn(string directory, string name, byte[] segment)
    {
        var written = Path.Combine(Path.GetDirectoryName(directory)!, Guid.NewGuid().ToString("N") + ".tmp");
        File.WriteAllBytes(written, segment);
        var path = Path.Combine(directory, name);
        File.Move(written, path);
        return path;
    }

    private string Topic(string keyspace, string table) => TopicNames.ForTable(_prefix, "cass", keyspace, table);

    private static async Task WaitForStoredAsync(SourceRuntime<CassandraPosition> runtime, long segment, long offset) =>
        await WaitUntilAsync(() => runtime.StoredPosition is { } p && p.Log >= new CommitLogPosition(segment, offset), $"a stored position at or after {segment}:{offset}");

    private static async Task WaitUntilAsync(Func<bool> condition, string what)
    {
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (!condition())
        {
            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"waited 30 s for {what}");
            }

            await Task.Delay(20);
        }
    }

    private sealed record Record(GenericRecord? Key, GenericRecord? Value);

    /// <summary>Reads a topic's partitions from their start until <paramref name="count"/> records arrived (with
    /// <paramref name="exact"/>, then a little longer to see that no more come), decoded with the schemas by id.</summary>
    private async Task<List<Record>> ReadAsync(string topic, int count, bool exact = false, int partitions = 1)
    {
        var raw = await Task.Run(() =>
        {
            var messages = new List<Message<byte[]?, byte[]?>>();
            using var consumer = new ConsumerBuilder<byte[]?, byte[]?>(_kafka.CreateConsumerConfig(groupId: null)).Build();
            consumer.Assign(Enumerable.Range(0, partitions).Select(p => new TopicPartitionOffset(topic, p, Offset.Beginning)));
            var deadline = DateTime.UtcNow.AddSeconds(60);
            var quietUntil = DateTime.MaxValue;
            while (DateTime.UtcNow < deadline && (messages.Count < count || (exact && DateTime.UtcNow < quietUntil)))
            {
                var result = consumer.Consume(TimeSpan.FromMilliseconds(100));
                if (result is not null && !result.IsPartitionEOF)
                {
                    messages.Add(result.Message);
                }

                if (messages.Count >= count && quietUntil == DateTime.MaxValue)
                {
                    quietUntil = DateTime.UtcNow.AddMilliseconds(500);
                }
            }

            return messages;
        });

        Assert.True(raw.Count >= count, $"{raw.Count} of {count} records arrived in {topic}");
        List<Record> records = [];
        foreach (var message in raw)
        {
            records.Add(new Record(await DecodeAsync(message.Key), await DecodeAsync(message.Value)));
        }

        return records;
    }

    private async Task<GenericRecord?> DecodeAsync(byte[]? message)
    {
        if (message is null)
        {
            return null;
        }

        DataMesh.Avro.ConfluentWireFormat.ReadHeader(message, out var id, out _);
        var schema = await _schemas!.GetByIdAsync(id);
        using var stream = new MemoryStream(message, DataMesh.Avro.ConfluentWireFormat.HeaderLength, message.Length - DataMesh.Avro.ConfluentWireFormat.HeaderLength);
        return new GenericDatumReader<GenericRecord>(schema, schema).Read(null!, new BinaryDecoder(stream));
    }
}

/// <summary>
/// Fills a <c>cdc_raw</c> directory the way a Cassandra 4.0 node does: the segment file pre-sized and written section
/// by section, its <c>_cdc.idx</c> rewritten after each sync (emptied first, as a rewrite may be seen), <c>COMPLETED</c> on
/// its second line once the node writes no more to it.
/// </summary>
internal sealed class CdcRawWriter
{
    private readonly byte[] _whole;
    private readonly int[] _ends;

    public CdcRawWriter(string directory, int version, long id, IEnumerable<IEnumerable<byte[]>> sections)
    {
        _whole = SegmentWriter.Plain(version, id, sections, size: 1 << 18);
        Path = System.IO.Path.Combine(directory, $"CommitLog-{version}-{id}.log");
        using var reader = new CommitLogSegmentReader("x.log", _whole);
        while (reader.TryReadEntry(out _))
        {
        }

        _ends = [.. reader.Sections.Select(s => s.Next)];
    }

    public string Path { get; }

    /// <summary>The end of section <paramref name="sections"/> (1-based): the durable offset once it is synced.</summary>
    public int End(int sections) => _ends[sections - 1];

    /// <summary>Makes the first <paramref name="sections"/> sections durable.</summary>
    public void Sync(int sections, bool completed = false)
    {
        var end = End(sections);
        var file = new byte[_whole.Length];
        _whole.AsSpan(0, end).CopyTo(file);
        using (var stream = new FileStream(Path, FileMode.OpenOrCreate, FileAccess.Write, FileShare.ReadWrite | FileShare.Delete))
        {
            stream.Write(file);
        }

        var index = CdcIndex.PathOf(Path);
        File.WriteAllText(index, string.Empty);
        File.WriteAllText(index, completed ? $"{end}\nCOMPLETED" : $"{end}");
    }
}
