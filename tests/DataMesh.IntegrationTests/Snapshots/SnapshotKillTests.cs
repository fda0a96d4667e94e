using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;
using Confluent.Kafka;
using DataMesh.Hosting;
using DataMesh.IntegrationTests.Infrastructure;
using DataMesh.Schemas;
using DataMesh.Sources;
using Xunit;
using Xunit.Abstractions;

namespace DataMesh.IntegrationTests.Snapshots;

/// <summary>
/// A snapshot survives a crash: the source, in a process of its own (tests/tools/DataMesh.ConnectorHost), is SIGKILLed
/// in the middle of the initial snapshot of a 30,000-row table while a writer changes it, after the stored position
/// carries some chunks' progress; restarted, it resumes after the last stored chunk (every row it reads, known by its
/// read time, has a key after the stored progress), and once done, the table rebuilt from the topic equals the table.
/// Run on PostgreSQL and MariaDB by the classes at the end.
/// </summary>
public abstract class SnapshotKillTests : SnapshotDatabaseTests
{
    private protected SnapshotKillTests(Func<Task<SnapshotDatabase>> create, ITestOutputHelper output)
        : base(create, output)
    {
    }

    [Fact]
    public async Task A_snapshot_killed_with_SIGKILL_resumes_from_its_last_stored_chunk_and_the_topic_equals_the_table()
    {
        const int Rows = 30_000;
        const int Partitions = 8;
        // Chunks of 50: 600 chunks, each with its watermarks, so that the snapshot lasts long enough to be caught in the
        // middle (with chunks of 1000 it had stored 27 of 30 chunks when first seen; with chunks of 200 a MariaDB snapshot
        // of the 30,000 rows took 0.45 s on a fast machine and ended between two polls of the stored positions).
        const int ChunkSize = 50;
        var table = WrittenTable.ById;
        await using var db = await CreateDatabaseAsync();
        await db.ExecuteAsync(table.CreateSql(db, Rows));

        using var kafka = new KafkaConnection(new KafkaOptions { RequestTimeout = TimeSpan.FromSeconds(20) });
        foreach (var service in db.ServiceTopics)
        {
            kafka.EmbeddedCluster!.EnsureTopic(service, 1);
        }

        kafka.EmbeddedCluster!.EnsureTopic(db.Topic("t"), Partitions);
        await using var store = await KafkaSchemaStore.CreateAsync(new KafkaSchemaStoreOptions { EmbeddedCluster = kafka.EmbeddedCluster, CreateTopic = false });
        var settings = db.ProcessSettings();
        settings["TopicPartitions"] = Partitions.ToString(CultureInfo.InvariantCulture);
        settings["Snapshot:ChunkSize"] = ChunkSize.ToString(CultureInfo.InvariantCulture);

        var clock = Stopwatch.StartNew();
        using var positions = new StoredPositions(kafka, db.SourceName);
        var process = ConnectorProcess.StartSource(db.Kind, kafka.BootstrapServers, db.SourceName, settings);
        // The writer from the start: what it commits before the source streams is in the table before the snapshot reads it.
        var writer = await table.StartWriterAsync(db, Rows, pause: TimeSpan.FromMilliseconds(1));
        try
        {
            // Killed mid-snapshot, once a stored position carries some chunks' progress.
            await SnapshotTestKit.WaitUntilAsync(() => positions.Poll() is { Rows: > 0 } || positions.SnapshotEnded || process.HasExited, TimeSpan.FromSeconds(60), () => $"stored progress {positions.Last}; the source's log:\n{process.RecentLines}");
            Assert.False(process.HasExited, $"the source ended by itself:\n{process.RecentLines}");
            Assert.False(positions.SnapshotEnded, $"the snapshot ended ({clock.Elapsed.TotalSeconds:0.0} s after the start) before the test saw a stored position carrying its progress: it needs a slower snapshot (more rows, smaller chunks); the source's log:\n{process.RecentLines}");
            process.Kill();
            var killedAt = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
            var stored = positions.ReadToEnd()!;
            Output.WriteLine($"{db.Server}: killed after {clock.Elapsed.TotalSeconds:0.0} s with {stored.Rows} rows of progress stored, up to id {stored.After}");
            Assert.True(stored.Rows < Rows - 5000, $"the snapshot was nearly done ({stored.Rows} rows) when killed: the test proves little");

            // Restarted: it resumes from the stored progress and finishes (the stored position carries no snapshot then).
            process.Dispose();
            process = ConnectorProcess.StartSource(db.Kind, kafka.BootstrapServers, db.SourceName, settings);
            await SnapshotTestKit.WaitUntilAsync(() => positions.Poll() is { Snapshot: false } || process.HasExited, TimeSpan.FromSeconds(90), () => $"the snapshot did not finish: stored progress {positions.Last}; the source's log:\n{process.RecentLines}");
            Assert.False(process.HasExited, $"the source ended by itself:\n{process.RecentLines}");
            var written = await writer.StopAsync();

            // The log caught up: the table rebuilt from the topic equals the table. Resumed: the rows the restarted source
            // read (a snapshot row's source.ts_ms is its chunk's read time) start right after the stored progress's last
            // key, not at the table's start.
            var resumed = new List<int>();
            var compared = await SnapshotTestKit.AssertTopicEqualsTableAsync(db, table, new TableTopic(kafka, store, db.Topic("t"), Partitions), r =>
            {
                if (r.Op == "r" && (long)r.Source["ts_ms"] > killedAt)
                {
                    resumed.Add((int)r.After!["id"]);
                }
            });
            Output.WriteLine($"the connector processes' warnings:\n{ConnectorProcess.RecentLog}");
            Output.WriteLine($"{db.Server}: done after {clock.Elapsed.TotalSeconds:0.0} s: {compared.Reads} snapshot rows in the topic, {resumed.Count} read after the restart from id {(resumed.Count == 0 ? "-" : resumed.Min())}; {written} changes written; {compared.Checksum}");
            Assert.True(resumed.Count > 0 && resumed.Min() > stored.After && resumed.Min() <= stored.After + ChunkSize,
                $"the restarted source read {resumed.Count} rows from id {(resumed.Count == 0 ? "-" : resumed.Min())}; the stored progress ended at id {stored.After}");
        }
        finally
        {
            await writer.DisposeAsync();
            process.Dispose();
        }
    }

    /// <summary>Tails the positions topic for one source: the last stored position and the snapshot progress it carries.</summary>
    private sealed class StoredPositions : IDisposable
    {
        private readonly IConsumer<byte[], byte[]?> _consumer;
        private readonly byte[] _key;

        public StoredPositions(KafkaConnection kafka, string source)
        {
            _key = Encoding.UTF8.GetBytes(source);
            _consumer = new ConsumerBuilder<byte[], byte[]?>(kafka.CreateConsumerConfig(null)).Build();
            _consumer.Assign(new TopicPartitionOffset(PositionStore.DefaultTopic, 0, Offset.Beginning));
        }

        /// <summary>The last position read, or null before the first.</summary>
        public Stored? Last { get; private set; }

        /// <summary>Whether a position without a snapshot was read after one with a snapshot: the snapshot ended.</summary>
        public bool SnapshotEnded { get; private set; }

        /// <summary>Reads what was stored since the last call; returns the last position.</summary>
        public Stored? Poll()
        {
            while (_consumer.Consume(TimeSpan.FromMilliseconds(10)) is { } result)
            {
                if (result.Message.Key.AsSpan().SequenceEqual(_key) && result.Message.Value is { } value)
                {
                    var text = Encoding.UTF8.GetString(value);
                    if (!text.StartsWith("{\"log\":", StringComparison.Ordinal))
                    {
                        SnapshotEnded |= Last is { Snapshot: true };
                        Last = new Stored(false, 0, 0);
                        continue;
                    }

                    // {"log": ..., "snapshot": {"Tables": [{"After": "[\"1234\"]", "Rows": 1234, ...}]}}: table t only.
                    using var json = JsonDocument.Parse(text);
                    var table = json.RootElement.GetProperty("snapshot").TryGetProperty("Tables", out var list) ? list.EnumerateArray().FirstOrDefault() : default;
                    Last = table.ValueKind != JsonValueKind.Object ? new Stored(true, 0, 0) : new Stored(
                        true,
                        table.GetProperty("Rows").GetInt64(),
                        table.TryGetProperty("After", out var after) ? int.Parse(JsonSerializer.Deserialize<string[]>(after.GetString()!)![0], CultureInfo.InvariantCulture) : 0);
                }
            }

            return Last;
        }

        /// <summary>Reads every position stored so far (up to the topic's end, after a moment for what was in flight).</summary>
        public Stored? ReadToEnd()
        {
            Thread.Sleep(500);
            var partition = new TopicPartition(PositionStore.DefaultTopic, 0);
            var end = _consumer.QueryWatermarkOffsets(partition, TimeSpan.FromSeconds(10)).High.Value;
            var deadline = DateTime.UtcNow.AddSeconds(30);
            while (_consumer.Position(partition).Value < end && DateTime.UtcNow < deadline)
            {
                Poll();
            }

            return Last;
        }

        public void Dispose() => _consumer.Dispose();
    }

    /// <summary>A stored position: whether it carries a running snapshot, the rows it emitted and the last id it emitted.</summary>
    private sealed record Stored(bool Snapshot, long Rows, int After);
}

public sealed class PostgresSnapshotKillTests(PostgresServer server, ITestOutputHelper output)
    : SnapshotKillTests(async () => await PostgresSnapshotDatabase.CreateAsync(server), output), IClassFixture<PostgresServer>;

public sealed class MariaDbSnapshotKillTests(MariaDbServer server, ITestOutputHelper output)
    : SnapshotKillTests(async () => await MariaDbSnapshotDatabase.CreateAsync(server), output), IClassFixture<MariaDbServer>;
