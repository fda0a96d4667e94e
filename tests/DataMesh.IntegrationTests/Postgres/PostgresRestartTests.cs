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

/// <summary>Nothing lost: the connector killed at random points, PostgreSQL restarted mid-stream, a 2-million-row transaction.</summary>
[Collection(ServerRestartCollection.Name)]
public sealed class PostgresRestartTests(PostgresServer server) : IClassFixture<PostgresServer>
{
    [Fact]
    public async Task Killing_the_connector_20_times_during_200k_changes_loses_nothing()
    {
        await using var setup = await PgCdc.CreateAsync(server, "CREATE TABLE kv (id int PRIMARY KEY, v bigint NOT NULL)");
        using var cluster = EmbeddedKafkaCluster.Start();
        var topic = TopicNames.ForTable("dm", "killed", "public", "kv");
        cluster.CreateTopic(KafkaSchemaStoreOptions.DefaultTopic, 1);
        cluster.CreateTopic(PositionStore.DefaultTopic, 1);
        // The embedded cluster keeps at most 5 MB per partition (librdkafka's mock drops older records): 16 partitions
        // hold every event of this workload. Keys keep their partition, so per-key order is kept.
        const int Partitions = 16;
        cluster.CreateTopic(topic, Partitions);

        var random = new Random(20261126);
        var workload = Task.Run(() => WorkloadAsync(setup.ConnectionString, changes: 200_000, keys: 5_000, seed: 7));
        var process = ConnectorProcess.Start(cluster.BootstrapServers, "killed", setup.Slot, "public.kv", setup.ConnectionString);
        try
        {
            for (var kill = 0; kill < 20; kill++)
            {
                await Task.Delay(random.Next(300, 2500));
                process.Kill();
                process.Dispose();
                process = ConnectorProcess.Start(cluster.BootstrapServers, "killed", setup.Slot, "public.kv", setup.ConnectionString);
            }

            await workload;

            // Let the last connector catch up, then compare each key's last event with the table.
            var expected = await TableAsync(setup.ConnectionString);
            using var kafka = new KafkaConnection(new KafkaOptions { BootstrapServers = cluster.BootstrapServers, CreateTopics = false });
            await using var store = await KafkaSchemaStore.CreateAsync(new KafkaSchemaStoreOptions { BootstrapServers = cluster.BootstrapServers, CreateTopic = false });
            var state = new Dictionary<int, long>();
            long read = 0;
            var config = kafka.CreateConsumerConfig(null);
            config.AutoOffsetReset = AutoOffsetReset.Error; // a record dropped before it was read fails the test instead of hiding
            using var consumer = new ConsumerBuilder<byte[]?, byte[]?>(config).Build();
            consumer.Assign(Enumerable.Range(0, Partitions).Select(p => new TopicPartitionOffset(topic, p, Offset.Beginning)));
            var deadline = DateTime.UtcNow.AddMinutes(5);
            while (!Same(state, expected))
            {
                Assert.True(DateTime.UtcNow < deadline, $"After {read} records the topic's state has {state.Count} keys, the table {expected.Count}; first difference: {FirstDifference(state, expected)}; connector log:\n{ConnectorProcess.RecentLog}");
                var result = consumer.Consume(TimeSpan.FromMilliseconds(500));
                if (result is null)
                {
                    continue;
                }

                read++;
                var key = await PgCdc.DecodeAsync(store, result.Message.Key);
                var value = await PgCdc.DecodeAsync(store, result.Message.Value);
                var id = (int)key!["id"];
                if (value?["after"] is global::Avro.Generic.GenericRecord after)
                {
                    state[id] = (long)after["v"];
                }
                else
                {
                    state.Remove(id);
                }
            }

            Assert.Equal(expected, state);
            Assert.True(read >= 200_000, $"{read} records for 200,000 changes: some are missing");
        }
        finally
        {
            process.Dispose();
        }
    }

    [Fact]
    public async Task A_PostgreSQL_restart_mid_stream_is_survived()
    {
        await using var cdc = await PgCdc.CreateAsync(server, "CREATE TABLE kv (id int PRIMARY KEY, v bigint NOT NULL)");
        await cdc.StartAsync();
        var workload = Task.Run(async () =>
        {
            for (var attempt = 0; ; attempt++)
            {
                try
                {
                    await WorkloadAsync(cdc.ConnectionString, changes: 30_000, keys: 1_000, seed: 11);
                    return;
                }
                catch (Exception ex) when (ex is NpgsqlException && attempt < 3)
                {
                    // The restart broke the workload's own connection: the table's final state is what is compared.
                    await Task.Delay(500);
                }
            }
        });
        await Task.Delay(1500);
        await server.RestartAsync();
        await workload;
        var expected = await TableAsync(cdc.ConnectionString);

        var state = new Dictionary<int, long>();
        var deadline = DateTime.UtcNow.AddMinutes(3);
        var offset = 0;
        while (!Same(state, expected))
        {
            Assert.True(DateTime.UtcNow < deadline, $"After {offset} records the topic's state differs from the table: {FirstDifference(state, expected)}");
            var count = await cdc.CountAsync(cdc.Topic("kv"), TimeSpan.FromMilliseconds(500));
            foreach (var record in (await cdc.ReadAsync(cdc.Topic("kv"), count)).Skip(offset))
            {
                var id = (int)record.Key!["id"];
                if (record.After is { } after)
                {
                    state[id] = (long)after["v"];
                }
                else
                {
                    state.Remove(id);
                }
            }

            offset = count;
        }

        Assert.Equal(expected, state);
    }

    /// <summary>Random inserts, updates and deletes over <paramref name="keys"/> keys, in transactions of 1 to 50 changes.</summary>
    internal static async Task WorkloadAsync(string connectionString, int changes, int keys, int seed)
    {
        var random = new Random(seed);
        await using var connection = new NpgsqlConnection(connectionString);
        await connection.OpenAsync();
        var done = 0;
        long version = 0;
        while (done < changes)
        {
            await using var transaction = await connection.BeginTransactionAsync();
            var batch = new NpgsqlBatch(connection, transaction);
            var size = Math.Min(random.Next(1, 51), changes - done);
            for (var i = 0; i < size; i++)
            {
                var id = random.Next(keys);
                var command = random.Next(10) switch
                {
                    < 6 => new NpgsqlBatchCommand($"INSERT INTO kv VALUES ({id}, {++version}) ON CONFLICT (id) DO UPDATE SET v = EXCLUDED.v"),
                    < 9 => new NpgsqlBatchCommand($"UPDATE kv SET v = {++version} WHERE id = {id}"),
                    _ => new NpgsqlBatchCommand($"DELETE FROM kv WHERE id = {id}"),
                };
                batch.BatchCommands.Add(command);
            }

            await batch.ExecuteNonQueryAsync();
            await transaction.CommitAsync();
            done += size;
        }
    }

    internal static async Task<Dictionary<int, long>> TableAsync(string connectionString)
    {
        var table = new Dictionary<int, long>();
        await using var connection = new NpgsqlConnection(connectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand("SELECT id, v FROM kv", connection);
        await using var reader = await command.ExecuteReaderAsync();
        while (await reader.ReadAsync())
        {
            table[reader.GetInt32(0)] = reader.GetInt64(1);
        }

        return table;
    }

    private static bool Same(Dictionary<int, long> a, Dictionary<int, long> b) => a.Count == b.Count && a.All(kv => b.TryGetValue(kv.Key, out var v) && v == kv.Value);

    private static string FirstDifference(Dictionary<int, long> topic, Dictionary<int, long> table)
    {
        foreach (var (id, v) in table)
        {
            if (!topic.TryGetValue(id, out var seen) || seen != v)
            {
                return $"key {id}: table {v}, topic {(topic.ContainsKey(id) ? seen.ToString(System.Globalization.CultureInfo.InvariantCulture) : "absent")}";
            }
        }

        var extra = topic.Keys.Except(table.Keys).FirstOrDefault();
        return topic.ContainsKey(extra) ? $"key {extra} is in the topic, not in the table" : "none";
    }
}
