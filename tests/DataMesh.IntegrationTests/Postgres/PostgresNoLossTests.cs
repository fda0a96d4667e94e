using System.Globalization;
using Confluent.Kafka;
using DataMesh.Events;
using DataMesh.Hosting;
using DataMesh.IntegrationTests.Infrastructure;
using DataMesh.Kafka;
using DataMesh.Schemas;
using DataMesh.Sources;
using Npgsql;
using Xunit;

namespace DataMesh.IntegrationTests.Postgres;

/// <summary>
/// No committed change is lost: every committed version of every key reaches the topic, in order, across kills of the
/// connector; and a heartbeat never moves the slot past a transaction that is still open.
/// </summary>
[Collection(ServerRestartCollection.Name)]
public sealed class PostgresNoLossTests(PostgresServer server) : IClassFixture<PostgresServer>
{
    private const long Deleted = -1;

    [Fact]
    public async Task Every_committed_version_of_every_key_arrives_in_order_across_20_kills()
    {
        const int Changes = 200_000;
        const int Keys = 2_000;
        await using var setup = await PgCdc.CreateAsync(server, "CREATE TABLE kv (id int PRIMARY KEY, v bigint NOT NULL)");
        using var cluster = EmbeddedKafkaCluster.Start();
        var topic = TopicNames.ForTable("dm", "nolost", "public", "kv");
        cluster.CreateTopic(KafkaSchemaStoreOptions.DefaultTopic, 1);
        cluster.CreateTopic(PositionStore.DefaultTopic, 1);
        // The embedded cluster keeps at most 5 MB per partition: 16 partitions hold every event. Keys keep their partition.
        const int Partitions = 16;
        cluster.CreateTopic(topic, Partitions);

        var random = new Random(20261127);
        var process = ConnectorProcess.Start(cluster.BootstrapServers, "nolost", setup.Slot, "public.kv", setup.ConnectionString);
        try
        {
            // The first connector creates the slot: changes committed before that are not in it, so the workload waits.
            var streaming = DateTime.UtcNow.AddSeconds(60);
            while (await setup.ScalarAsync<bool?>($"SELECT active FROM pg_replication_slots WHERE slot_name = '{setup.Slot}'") != true)
            {
                Assert.True(DateTime.UtcNow < streaming, $"The connector process did not start streaming from slot '{setup.Slot}' within 60 s; connector log:\n{ConnectorProcess.RecentLog}");
                await Task.Delay(100);
            }

            var workload = Task.Run(() => RecordedWorkloadAsync(setup.ConnectionString, Changes, Keys, seed: 13));
            for (var kill = 0; kill < 20; kill++)
            {
                await Task.Delay(random.Next(300, 2500));
                process.Kill();
                process.Dispose();
                process = ConnectorProcess.Start(cluster.BootstrapServers, "nolost", setup.Slot, "public.kv", setup.ConnectionString);
            }

            var committed = await workload;
            var total = committed.Values.Sum(s => s.Count);

            using var kafka = new KafkaConnection(new KafkaOptions { BootstrapServers = cluster.BootstrapServers, CreateTopics = false });
            await using var store = await KafkaSchemaStore.CreateAsync(new KafkaSchemaStoreOptions { BootstrapServers = cluster.BootstrapServers, CreateTopic = false });
            var config = kafka.CreateConsumerConfig(null);
            config.AutoOffsetReset = AutoOffsetReset.Error; // a record dropped before it was read fails the test instead of hiding
            using var consumer = new ConsumerBuilder<byte[]?, byte[]?>(config).Build();
            consumer.Assign(Enumerable.Range(0, Partitions).Select(p => new TopicPartitionOffset(topic, p, Offset.Beginning)));

            // Per key: how much of its committed sequence the topic has matched so far (greedy subsequence matching),
            // the topic's own sequence (for the failure message), and whether a 'd' awaits its tombstone.
            var matched = committed.Keys.ToDictionary(k => k, _ => 0);
            var seen = new Dictionary<int, List<long>>();
            var awaitingTombstone = new HashSet<int>();
            var incomplete = committed.Count(kv => kv.Value.Count > 0);
            long read = 0;
            var deadline = DateTime.UtcNow.AddMinutes(5);
            while (incomplete > 0)
            {
                if (DateTime.UtcNow > deadline)
                {
                    var key = committed.Keys.Order().First(k => matched[k] < committed[k].Count);
                    var topicValues = seen.TryGetValue(key, out var list) ? list : [];
                    var watermarks = string.Join(", ", Enumerable.Range(0, Partitions).Select(p =>
                    {
                        var w = consumer.QueryWatermarkOffsets(new TopicPartition(topic, p), TimeSpan.FromSeconds(10));
                        return $"{p}: {w.Low.Value}-{w.High.Value}";
                    }));
                    Assert.Fail(
                        $"After {read} records ({total} committed changes; partition offsets {watermarks}), {incomplete} keys' committed sequences are not subsequences of the topic's. " +
                        $"First: key {key}, committed [{Format(committed[key])}], matched {matched[key]} of them, next missing {committed[key][matched[key]]}; " +
                        $"topic [{Format(topicValues)}]; connector log:\n{ConnectorProcess.RecentLog}");
                }

                var result = consumer.Consume(TimeSpan.FromMilliseconds(500));
                if (result is null)
                {
                    continue;
                }

                read++;
                var id = (int)(await PgCdc.DecodeAsync(store, result.Message.Key))!["id"];
                var value = await PgCdc.DecodeAsync(store, result.Message.Value);
                long v;
                if (value is null)
                {
                    if (awaitingTombstone.Remove(id))
                    {
                        continue; // the tombstone of the 'd' just counted
                    }

                    v = Deleted;
                }
                else if (value["after"] is global::Avro.Generic.GenericRecord after)
                {
                    awaitingTombstone.Remove(id);
                    v = (long)after["v"];
                }
                else
                {
                    awaitingTombstone.Add(id);
                    v = Deleted;
                }

                if (!seen.TryGetValue(id, out var values))
                {
                    seen[id] = values = [];
                }

                values.Add(v);
                if (committed.TryGetValue(id, out var sequence) && matched[id] < sequence.Count && sequence[matched[id]] == v)
                {
                    matched[id]++;
                    if (matched[id] == sequence.Count)
                    {
                        incomplete--;
                    }
                }
            }

            Assert.True(read >= total, $"{read} records for {total} committed changes: some are missing");
        }
        finally
        {
            process.Dispose();
        }
    }

    [Fact]
    public async Task A_heartbeat_never_moves_the_slot_past_an_open_transaction()
    {
        await using var cdc = await PgCdc.CreateAsync(server, """
            CREATE TABLE c (id int PRIMARY KEY, v text NOT NULL);
            CREATE TABLE other (id int PRIMARY KEY, pad text NOT NULL);
            """);
        await cdc.StartAsync(o => o.IncludeTables.Add("public.c"));

        await using var open = new NpgsqlConnection(cdc.ConnectionString);
        await open.OpenAsync();
        await using var transaction = await open.BeginTransactionAsync();
        await using (var insert = new NpgsqlCommand("INSERT INTO c VALUES (1, 'opened before the heartbeats')", open, transaction))
        {
            await insert.ExecuteNonQueryAsync();
        }

        var afterInsert = await cdc.ScalarAsync<string>("SELECT pg_current_wal_lsn()::text");

        // Traffic on an uncaptured table: the server's WAL moves on, the source is idle and sends heartbeats.
        for (var batch = 0; batch < 20; batch++)
        {
            await cdc.ExecuteAsync($"INSERT INTO other SELECT g, repeat('x', 100) FROM generate_series({batch * 1000}, {(batch * 1000) + 999}) g");
        }

        // Wait until the slot's confirmed position passed the open transaction's insert. A source that holds the slot
        // back while a transaction is open never gets there: that is fine too, the commit below must arrive either way.
        var passed = false;
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (DateTime.UtcNow < deadline)
        {
            passed = await cdc.ScalarAsync<bool?>($"SELECT confirmed_flush_lsn > '{afterInsert}'::pg_lsn FROM pg_replication_slots WHERE slot_name = '{cdc.Slot}'") == true;
            if (passed)
            {
                break;
            }

            await cdc.ExecuteAsync("INSERT INTO other VALUES (-1, 'tick') ON CONFLICT (id) DO UPDATE SET pad = other.pad || 'x'");
            await Task.Delay(200);
        }

        var confirmed = await cdc.ScalarAsync<string>($"SELECT confirmed_flush_lsn::text FROM pg_replication_slots WHERE slot_name = '{cdc.Slot}'");
        await EdgeRead.RestartAsync(cdc, o => o.IncludeTables.Add("public.c"), beforeStart: () => transaction.CommitAsync());

        var records = await EdgeRead.ReadOrFailAsync(
            cdc,
            cdc.Topic("c"),
            1,
            string.Create(CultureInfo.InvariantCulture, $"the transaction open during the heartbeats (insert at WAL {afterInsert}; the slot's confirmed position {(passed ? "passed it" : "stayed before it")}, {confirmed}), committed while the connector was stopped"));
        Assert.Equal("c", records[0].Op);
        Assert.Equal(1, records[0].After!["id"]);
        Assert.Equal("opened before the heartbeats", records[0].After!["v"]);
    }

    /// <summary>
    /// Random upserts, updates and deletes over <paramref name="keys"/> keys in transactions of 1 to 50 changes; returns,
    /// per key, every committed version in commit order (<see cref="Deleted"/> for a delete). A change that affected no row
    /// is not recorded: it produced no event.
    /// </summary>
    private static async Task<Dictionary<int, List<long>>> RecordedWorkloadAsync(string connectionString, int changes, int keys, int seed)
    {
        var committed = Enumerable.Range(0, keys).ToDictionary(k => k, _ => new List<long>());
        var random = new Random(seed);
        await using var connection = new NpgsqlConnection(connectionString);
        await connection.OpenAsync();
        var done = 0;
        long version = 0;
        while (done < changes)
        {
            await using var transaction = await connection.BeginTransactionAsync();
            await using var batch = new NpgsqlBatch(connection, transaction);
            var planned = new List<(int Id, long Value)>();
            var size = Math.Min(random.Next(1, 51), changes - done);
            for (var i = 0; i < size; i++)
            {
                var id = random.Next(keys);
                switch (random.Next(10))
                {
                    case < 6:
                        planned.Add((id, ++version));
                        batch.BatchCommands.Add(new NpgsqlBatchCommand($"INSERT INTO kv VALUES ({id}, {version}) ON CONFLICT (id) DO UPDATE SET v = EXCLUDED.v"));
                        break;
                    case < 9:
                        planned.Add((id, ++version));
                        batch.BatchCommands.Add(new NpgsqlBatchCommand($"UPDATE kv SET v = {version} WHERE id = {id}"));
                        break;
                    default:
                        planned.Add((id, Deleted));
                        batch.BatchCommands.Add(new NpgsqlBatchCommand($"DELETE FROM kv WHERE id = {id}"));
                        break;
                }
            }

            await batch.ExecuteNonQueryAsync();
            await transaction.CommitAsync();
            for (var i = 0; i < planned.Count; i++)
            {
                if (batch.BatchCommands[i].RecordsAffected > 0)
                {
                    committed[planned[i].Id].Add(planned[i].Value);
                }
            }

            done += size;
        }

        return committed;
    }

    private static string Format(List<long> values) =>
        values.Count <= 40
            ? string.Join(", ", values.Select(v => v.ToString(CultureInfo.InvariantCulture)))
            : string.Join(", ", values.Take(20).Select(v => v.ToString(CultureInfo.InvariantCulture))) + $", ... ({values.Count - 40} more) ..., " +
              string.Join(", ", values.TakeLast(20).Select(v => v.ToString(CultureInfo.InvariantCulture)));
}
