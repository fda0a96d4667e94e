using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using DataMesh.Connectors.Cassandra.CommitLog;
using DataMesh.Sources;
using Xunit;

namespace DataMesh.Tests.Cassandra;

/// <summary>
/// Replica de-duplication (docs/cassandra.md, "Replica de-duplication"): one source reads three nodes' <c>cdc_raw</c>
/// directories, each filled by a test writer the way a 4.0 node does with its copies of the same writes (identical
/// partition updates, as replicas receive them from the coordinator), in other orders and other segments.
/// </summary>
public sealed partial class CassandraSourceTests
{
    private static readonly string[] ThreeNodes = ["node1", "node2", "node3"];

    [Theory]
    [InlineData(CassandraConsistencyLevel.One, 10, 0, 20)]
    [InlineData(CassandraConsistencyLevel.Quorum, 10, 10, 10)]
    [InlineData(CassandraConsistencyLevel.All, 10, 20, 0)]
    public async Task Three_copies_of_each_write_arriving_out_of_order_from_three_nodes_produce_each_event_exactly_once(
        CassandraConsistencyLevel level, long published, long held, long duplicates)
    {
        using var copies = new CopyCounter();
        var writes = Enumerable.Range(1, 10).Select(i => Insert(i, 1, i * 10)).ToArray();
        var nodes = NodeDirectories(ThreeNodes);
        // node1: in order, one segment; node2: reversed, over two segments; node3: the second half first.
        var node1 = new CdcRawWriter(nodes[0], 7, 100, [writes]);
        var node2a = new CdcRawWriter(nodes[1], 7, 300, [writes.AsEnumerable().Reverse().Take(4)]);
        var node2b = new CdcRawWriter(nodes[1], 7, 301, [writes.AsEnumerable().Reverse().Skip(4)]);
        var node3 = new CdcRawWriter(nodes[2], 7, 200, [writes.Skip(5), writes.Take(5)]);
        var options = ReplicaOptions(nodes, level);
        var runtime = await RuntimeAsync(options);
        using var stop = new CancellationTokenSource();
        var run = runtime.RunAsync(stop.Token);

        node3.Sync(1);
        node1.Sync(1, completed: true);
        node2a.Sync(1, completed: true);
        node3.Sync(2, completed: true);
        node2b.Sync(1, completed: true);
        await WaitUntilAsync(() => runtime.StoredPosition is { } p
            && p.Of("node1") >= new CommitLogPosition(100, node1.End(1)) && p.Of("node2") >= new CommitLogPosition(301, node2b.End(1)) && p.Of("node3") >= new CommitLogPosition(200, node3.End(2)),
            "every node's position past its last write");

        var records = await ReadAsync(Topic("shop", "orders"), 10, exact: true);
        Assert.Equal(Enumerable.Range(1, 10), records.Select(r => (int)r.Key!["id"]).Order());
        Assert.All(records, r => Assert.Equal("c", r.Value!["op"]));
        Assert.Equal((published, held, duplicates), (copies["published"], copies["held"], copies["duplicate"]));
        Assert.Matches("""^\{"nodes":\{"node1":\{"segment":100,"offset":\d+\},"node2":\{"segment":301,"offset":\d+\},"node3":\{"segment":200,"offset":\d+\}\}\}$""",
            await _positions.LoadAsync("cass", CancellationToken.None));
        await WaitUntilAsync(() => nodes.All(d => Directory.GetFiles(d).Length == 0), "every node's acknowledged segments to be deleted");
        await stop.CancelAsync();
        Assert.Equal(SourceOutcome.Stopped, await run);
    }

    [Theory]
    [InlineData(CassandraConsistencyLevel.One, 2)]
    [InlineData(CassandraConsistencyLevel.Quorum, 1)]
    public async Task A_copy_arriving_after_the_window_is_published_again_under_one_and_dropped_under_quorum(CassandraConsistencyLevel level, int expected)
    {
        using var copies = new CopyCounter();
        var time = new ManualClock();
        var nodes = NodeDirectories(ThreeNodes);
        var write = Insert(1, 1, 10);
        new CdcRawWriter(nodes[0], 7, 100, [[write]]).Sync(1, completed: true);
        new CdcRawWriter(nodes[1], 7, 100, [[write]]).Sync(1, completed: true);
        var options = ReplicaOptions(nodes, level);
        options.Replicas.Window = TimeSpan.FromSeconds(10);
        var runtime = await RuntimeAsync(options, time: time);
        using var stop = new CancellationTokenSource();
        var run = runtime.RunAsync(stop.Token);
        await ReadAsync(Topic("shop", "orders"), 1, exact: true);

        // node3 is far behind: its copy arrives after the window.
        time.Advance(TimeSpan.FromSeconds(11));
        var late = new CdcRawWriter(nodes[2], 7, 100, [[write]]);
        late.Sync(1, completed: true);
        await WaitUntilAsync(() => copies.Total == 3, "the late copy to be read");
        // Under QUORUM, its lone copy expires: it no longer holds node3's position. The window stands still while the source
        // flushes (a checkpoint included), and an advance of this clock that falls inside a flush is absorbed: advance
        // again until the position moves.
        var past = new CommitLogPosition(100, late.End(1));
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (!(runtime.StoredPosition?.Of("node3") >= past))
        {
            Assert.True(DateTime.UtcNow < deadline, "waited 30 s for node3's position past the late copy");
            time.Advance(TimeSpan.FromSeconds(11));
            await Task.Delay(200);
        }

        var records = await ReadAsync(Topic("shop", "orders"), expected, exact: true);
        Assert.Equal(expected, records.Count);
        // Under QUORUM the late copy's update is forgotten and counted as expired, though the write itself was published
        // (from node1 and node2): "expired" means not published, or a late copy of an update published before.
        Assert.Equal(level == CassandraConsistencyLevel.One ? 0 : 1, copies.Expired);
        await stop.CancelAsync();
        Assert.Equal(SourceOutcome.Stopped, await run);
    }

    [Fact]
    public async Task A_copy_waiting_for_quorum_holds_its_node_position_so_a_restart_reads_it_again_with_no_gap()
    {
        using var copies = new CopyCounter();
        var nodes = NodeDirectories(ThreeNodes);
        var writes = Enumerable.Range(1, 3).Select(i => Insert(i, 1, i)).ToArray();
        var node1 = new CdcRawWriter(nodes[0], 7, 100, [writes.Take(1), writes.Skip(1)]);
        node1.Sync(2, completed: true);
        var options = ReplicaOptions(nodes, CassandraConsistencyLevel.Quorum);
        options.KeepSegments = true;
        var runtime = await RuntimeAsync(options);
        using (var stop = new CancellationTokenSource())
        {
            var run = runtime.RunAsync(stop.Token);

            // Only node1 has the writes: nothing reaches QUORUM, and node1's stored position stays before its first copy.
            await WaitUntilAsync(() => runtime.StoredPosition is not null, "a stored position");
            await Task.Delay(300);
            await stop.CancelAsync();
            Assert.Equal(SourceOutcome.Stopped, await run);
        }

        Assert.True(runtime.StoredPosition!.Of("node1") < new CommitLogPosition(100, node1.End(1)));
        Assert.Equal((0, 3), (copies["published"], copies["held"]));

        // The restart reads node1's copies again; node2's copies bring them to QUORUM; node3's later ones are duplicates.
        var node2 = new CdcRawWriter(nodes[1], 7, 500, [writes]);
        node2.Sync(1, completed: true);
        runtime = await RuntimeAsync(options);
        using (var stop = new CancellationTokenSource())
        {
            var run = runtime.RunAsync(stop.Token);
            await ReadAsync(Topic("shop", "orders"), 3);
            var node3 = new CdcRawWriter(nodes[2], 7, 700, [writes]);
            node3.Sync(1, completed: true);
            await WaitUntilAsync(() => runtime.StoredPosition?.Of("node3") >= new CommitLogPosition(700, node3.End(1))
                && runtime.StoredPosition?.Of("node1") >= new CommitLogPosition(100, node1.End(2)), "every node's position past the writes");
            await stop.CancelAsync();
            Assert.Equal(SourceOutcome.Stopped, await run);
        }

        var records = await ReadAsync(Topic("shop", "orders"), 3, exact: true);
        Assert.Equal(new[] { 1, 2, 3 }, records.Select(r => (int)r.Key!["id"]).Order());
    }

    [Fact]
    public async Task A_cassandra_3_segment_moved_into_one_nodes_cdc_raw_after_a_newer_one_still_brings_its_copies_to_quorum_once()
    {
        using var copies = new CopyCounter();
        var nodes = NodeDirectories(["node1", "node2"]);
        var writes = Enumerable.Range(1, 10).Select(i => Insert(i, 1, i)).ToArray();
        void Segment(string directory, long id, IEnumerable<byte[]> mutations) =>
            MoveIn(directory, $"CommitLog-6-{id}.log", SegmentWriter.Plain(6, id, [mutations], size: 1 << 16));

        var options = ReplicaOptions(nodes, CassandraConsistencyLevel.All);
        options.Replicas.ReplicationFactor = 2;
        options.KeepSegments = true;
        Segment(nodes[0], 101, writes.Skip(5));
        Segment(nodes[1], 200, writes.Take(5));
        Segment(nodes[1], 201, writes.Skip(5));
        var runtime = await RuntimeAsync(options);
        using (var stop = new CancellationTokenSource())
        {
            var run = runtime.RunAsync(stop.Token);
            await ReadAsync(Topic("shop", "orders"), 5);

            // node1 discards its older segment only now: its copies of writes 1-5 complete them.
            Segment(nodes[0], 100, writes.Take(5));
            await WaitUntilAsync(() => runtime.StoredPosition?.ReadOf("node1") is [100] && runtime.StoredPosition?.Of("node2") >= new CommitLogPosition(201, 1),
                "node1's stored position listing segment 100 as read");
            await stop.CancelAsync();
            Assert.Equal(SourceOutcome.Stopped, await run);
        }

        // Each write's first copy waits for its second.
        Assert.Equal((10, 10), (copies["published"], copies["held"]));

        // A restart reads nothing again: node1's 100 is listed as read.
        runtime = await RuntimeAsync(options);
        using (var stop = new CancellationTokenSource())
        {
            var run = runtime.RunAsync(stop.Token);
            await WaitUntilAsync(() => runtime.StoredPosition is not null, "a stored position");
            await Task.Delay(300);
            await stop.CancelAsync();
            Assert.Equal(SourceOutcome.Stopped, await run);
        }

        var records = await ReadAsync(Topic("shop", "orders"), 10, exact: true);
        Assert.Equal(Enumerable.Range(1, 10), records.Select(r => (int)r.Key!["id"]).Order());
        Assert.Equal((10, 10), (copies["published"], copies["held"]));
    }

    [Fact]
    public void Replica_options_are_checked_naming_the_setting()
    {
        var nodes = NodeDirectories(["a", "b"]);
        var options = ReplicaOptions(nodes, CassandraConsistencyLevel.Three);
        options.Node = "a";
        options.Replicas.Window = TimeSpan.Zero;

        var problems = options.Validate("cass").ToList();

        Assert.Contains(problems, p => p.Contains("Nodes is set, and so is CdcRawDirectory or Node", StringComparison.Ordinal));
        Assert.Contains(problems, p => p.Contains("Replicas:ConsistencyLevel Three needs 3 copies of each write, but the replication factor is 2", StringComparison.Ordinal));
        Assert.Contains(problems, p => p.Contains("Replicas:Window must be between 1 second and 24 hours", StringComparison.Ordinal));

        // Four nodes under Quorum: the default replication factor (4) would drop every write of an RF 3 keyspace.
        var four = ReplicaOptions(NodeDirectories(["n1", "n2", "n3", "n4"]), CassandraConsistencyLevel.Quorum);
        Assert.Contains(four.Validate("cass"), p => p.Contains("Replicas:ReplicationFactor is required with Replicas:ConsistencyLevel Quorum and 4 nodes", StringComparison.Ordinal));
        four.Replicas.ReplicationFactor = 3;
        Assert.Empty(four.Validate("cass"));

        var one = Options(OrdersTable());
        one.Replicas.ConsistencyLevel = CassandraConsistencyLevel.Quorum;
        Assert.Contains(one.Validate("cass"), p => p.Contains("Replicas is set but Nodes is not", StringComparison.Ordinal));
    }

    private string[] NodeDirectories(string[] names) =>
        [.. names.Select(n => Directory.CreateDirectory(Path.Combine(_directory, n)).FullName)];

    private CassandraSourceOptions ReplicaOptions(string[] directories, CassandraConsistencyLevel level)
    {
        var options = new CassandraSourceOptions
        {
            PollInterval = TimeSpan.FromMilliseconds(20),
            PositionSaveInterval = TimeSpan.FromMilliseconds(50),
            RetryDelay = TimeSpan.FromMilliseconds(50),
            MaxRetryDelay = TimeSpan.FromMilliseconds(100),
        };
        foreach (var directory in directories)
        {
            options.Nodes[Path.GetFileName(directory)] = directory;
        }

        options.Replicas.ConsistencyLevel = level;
        options.Tables.Add(OrdersTable());
        return options;
    }

    /// <summary>Listens to the connector's copy counters of source <c>cass</c>.</summary>
    private sealed class CopyCounter : IDisposable
    {
        private readonly MeterListener _listener = new();
        private readonly ConcurrentDictionary<string, long> _counts = new();

        public CopyCounter()
        {
            _listener.InstrumentPublished = (instrument, listener) =>
            {
                if (instrument.Meter.Name == "DataMesh.Connectors.Cassandra" && instrument.Name.StartsWith("datamesh.source.cassandra.", StringComparison.Ordinal))
                {
                    listener.EnableMeasurementEvents(instrument);
                }
            };
            _listener.SetMeasurementEventCallback<long>((instrument, value, tags, _) =>
            {
                string? outcome = null;
                var ours = false;
                foreach (var tag in tags)
                {
                    ours |= tag.Key == "datamesh.source" && (string?)tag.Value == "cass";
                    outcome = tag.Key == "datamesh.outcome" ? (string?)tag.Value : outcome;
                }

                if (ours)
                {
                    _counts.AddOrUpdate(outcome ?? instrument.Name, value, (_, sum) => sum + value);
                }
            });
            _listener.Start();
        }

        public long this[string outcome] => _counts.GetValueOrDefault(outcome);

        public long Total => this["published"] + this["held"] + this["duplicate"];

        public long Expired => this["datamesh.source.cassandra.updates.expired"];

        public void Dispose() => _listener.Dispose();
    }
}
