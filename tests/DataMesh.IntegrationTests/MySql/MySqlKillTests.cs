using Confluent.Kafka;
using DataMesh.Events;
using DataMesh.Hosting;
using DataMesh.IntegrationTests.Infrastructure;
using DataMesh.IntegrationTests.Postgres;
using DataMesh.Kafka;
using DataMesh.Schemas;
using DataMesh.Sources;
using MySqlConnector;
using Xunit;

namespace DataMesh.IntegrationTests.MySql;

/// <summary>The MySQL/MariaDB source in a process of its own, killed (SIGKILL) at random points during a workload: nothing is lost.</summary>
[Collection(ServerRestartCollection.Name)]
public sealed class MySqlKillTests(MariaDbServer server) : IClassFixture<MariaDbServer>
{
    [Fact]
    public async Task Killing_the_connector_20_times_during_100k_changes_loses_nothing()
    {
        const int Partitions = 16; // the embedded cluster keeps 5 MB per partition
        await using var database = await server.CreateDatabaseAsync("mykill");
        var connection = server.ConnectionStringFor(database.Name);
        await ExecuteAsync(connection, "CREATE TABLE kv (id INT PRIMARY KEY, v BIGINT NOT NULL)");
        var source = "mykill";
        var topic = TopicNames.ForTable("dm", source, database.Name, "kv");
        using var cluster = StartCluster(topic, Partitions);

        var process = ConnectorProcess.StartMySql(cluster.BootstrapServers, source, database.Name, connection);
        await WaitForBinlogDumpAsync(connection, 1);
        var committed = new Dictionary<int, List<long>>();
        var workload = Task.Run(() => WorkloadAsync(connection, changes: 100_000, keys: 2_000, seed: 5, committed));
        var random = new Random(20261127);
        try
        {
            for (var kill = 0; kill < 20; kill++)
            {
                await Task.Delay(random.Next(200, 1500));
                process.Kill();
                process.Dispose();
                process = ConnectorProcess.StartMySql(cluster.BootstrapServers, source, database.Name, connection);
            }

            await workload;

            using var kafka = new KafkaConnection(new KafkaOptions { BootstrapServers = cluster.BootstrapServers, CreateTopics = false });
            await using var store = await KafkaSchemaStore.CreateAsync(new KafkaSchemaStoreOptions { BootstrapServers = cluster.BootstrapServers, CreateTopic = false });
            var config = kafka.CreateConsumerConfig(null);
            config.AutoOffsetReset = AutoOffsetReset.Error;
            using var consumer = new ConsumerBuilder<byte[]?, byte[]?>(config).Build();
            consumer.Assign(Enumerable.Range(0, Partitions).Select(p => new TopicPartitionOffset(topic, p, Offset.Beginning)));
            var seen = new Dictionary<int, List<long>>();
            var deadline = DateTime.UtcNow.AddMinutes(5);
            while (FirstIncomplete(committed, seen) is { } missing)
            {
                Assert.True(DateTime.UtcNow < deadline, $"Key {missing}: committed {string.Join(",", committed[missing])}, the topic has {string.Join(",", seen.GetValueOrDefault(missing) ?? [])}; connector log:\n{ConnectorProcess.RecentLog}");
                var result = consumer.Consume(TimeSpan.FromMilliseconds(500));
                if (result?.Message.Value is null)
                {
                    continue; // a tombstone follows its delete, which already counted
                }

                var key = (int)(await PgCdc.DecodeAsync(store, result.Message.Key))!["id"];
                var value = await PgCdc.DecodeAsync(store, result.Message.Value);
                var version = value!["after"] is global::Avro.Generic.GenericRecord after ? (long)after["v"] : -1;
                if (!seen.TryGetValue(key, out var versions))
                {
                    seen[key] = versions = [];
                }

                versions.Add(version);
            }
        }
        finally
        {
            process.Dispose();
        }
    }

    [Fact]
    public async Task Killing_the_connector_between_XA_PREPARE_and_XA_COMMIT_still_delivers_the_XA_rows()
    {
        await using var database = await server.CreateDatabaseAsync("myxakill");
        var connection = server.ConnectionStringFor(database.Name);
        await ExecuteAsync(connection, "CREATE TABLE kv (id INT PRIMARY KEY, v BIGINT NOT NULL)");
        var source = "myxakill";
        var topic = TopicNames.ForTable("dm", source, database.Name, "kv");
        using var cluster = StartCluster(topic, 1);
        using var kafka = new KafkaConnection(new KafkaOptions { BootstrapServers = cluster.BootstrapServers, CreateTopics = false });
        await using var store = await KafkaSchemaStore.CreateAsync(new KafkaSchemaStoreOptions { BootstrapServers = cluster.BootstrapServers, CreateTopic = false });
        var consumer = new ConsumerBuilder<byte[]?, byte[]?>(kafka.CreateConsumerConfig(null)).Build();
        consumer.Assign(new TopicPartitionOffset(topic, 0, Offset.Beginning));
        var ids = new List<int>();
        async Task ReadUntilAsync(int id)
        {
            var deadline = DateTime.UtcNow.AddSeconds(60);
            while (!ids.Contains(id))
            {
                Assert.True(DateTime.UtcNow < deadline, $"row {id} did not arrive; the topic has {string.Join(",", ids)}; connector log:\n{ConnectorProcess.RecentLog}");
                if (consumer.Consume(TimeSpan.FromMilliseconds(200)) is { Message.Value: not null } result)
                {
                    ids.Add((int)(await PgCdc.DecodeAsync(store, result.Message.Key))!["id"]);
                }
            }
        }

        await using var xa = new MySqlXaTests.UnresolvedXa(server, MySqlXaTests.NewXid());
        var xid = xa.Xid;
        var process = ConnectorProcess.StartMySql(cluster.BootstrapServers, source, database.Name, connection);
        try
        {
            await WaitForBinlogDumpAsync(connection, 1);
            await ExecuteAsync(connection, "INSERT INTO kv VALUES (1, 1)");
            await MySqlXaTests.PrepareAsync(connection, xid, "INSERT INTO kv VALUES (2, 2)");
            await ExecuteAsync(connection, "INSERT INTO kv VALUES (3, 3)");
            await ReadUntilAsync(3);
            await Task.Delay(1000); // the host saves positions every 100 ms: the one after row 3, were it allowed
            process.Kill();
            process.Dispose();

            await ExecuteAsync(connection, $"XA COMMIT '{xid}'");
            await ExecuteAsync(connection, "INSERT INTO kv VALUES (4, 4)");
            process = ConnectorProcess.StartMySql(cluster.BootstrapServers, source, database.Name, connection);
            await ReadUntilAsync(4);
            await ReadUntilAsync(2);

            // At least once: row 3 may come again; the XA row once, after the first row 3 and before row 4.
            Assert.Equal(1, ids.Count(id => id == 2));
            Assert.True(ids.IndexOf(2) > ids.IndexOf(3) && ids.IndexOf(2) < ids.IndexOf(4), $"ids {string.Join(",", ids)}");
        }
        finally
        {
            process.Dispose();
            consumer.Dispose();
        }
    }

    /// <summary>An embedded cluster with the topics a connector process needs (it cannot create them in another process).</summary>
    private static EmbeddedKafkaCluster StartCluster(string tableTopic, int partitions)
    {
        var cluster = EmbeddedKafkaCluster.Start();
        cluster.CreateTopic(KafkaSchemaStoreOptions.DefaultTopic, 1);
        cluster.CreateTopic(PositionStore.DefaultTopic, 1);
        cluster.CreateTopic("_datamesh_mysql_history", 1);
        cluster.CreateTopic(tableTopic, partitions);
        return cluster;
    }

    /// <summary>The key whose committed versions are not (yet) a subsequence of what the topic holds, or null.</summary>
    private static int? FirstIncomplete(Dictionary<int, List<long>> committed, Dictionary<int, List<long>> seen)
    {
        foreach (var (key, versions) in committed)
        {
            var topic = seen.GetValueOrDefault(key) ?? [];
            var next = 0;
            foreach (var version in topic)
            {
                if (next < versions.Count && versions[next] == version)
                {
                    next++;
                }
            }

            if (next < versions.Count)
            {
                return key;
            }
        }

        return null;
    }

    private static async Task WorkloadAsync(string connectionString, int changes, int keys, int seed, Dictionary<int, List<long>> committed)
    {
        var random = new Random(seed);
        await using var connection = new MySqlConnection(connectionString);
        await connection.OpenAsync();
        var done = 0;
        long version = 0;
        while (done < changes)
        {
            await using var transaction = await connection.BeginTransactionAsync();
            var batch = new MySqlBatch(connection, transaction);
            var planned = new List<(int Id, long Version)>();
            var size = Math.Min(random.Next(1, 51), changes - done);
            for (var i = 0; i < size; i++)
            {
                var id = random.Next(keys);
                var v = ++version;
                var kind = random.Next(10);
                batch.BatchCommands.Add(new MySqlBatchCommand(kind switch
                {
                    < 6 => $"INSERT INTO kv VALUES ({id}, {v}) ON DUPLICATE KEY UPDATE v = {v}",
                    < 9 => $"UPDATE kv SET v = {v} WHERE id = {id}",
                    _ => $"DELETE FROM kv WHERE id = {id}",
                }));
                planned.Add((id, kind < 9 ? v : -1));
            }

            await batch.ExecuteNonQueryAsync();
            await transaction.CommitAsync();
            for (var i = 0; i < planned.Count; i++)
            {
                if (batch.BatchCommands[i].RecordsAffected > 0)
                {
                    if (!committed.TryGetValue(planned[i].Id, out var list))
                    {
                        committed[planned[i].Id] = list = [];
                    }

                    list.Add(planned[i].Version);
                }
            }

            done += size;
        }
    }

    private static async Task WaitForBinlogDumpAsync(string connectionString, int count)
    {
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (await CountBinlogDumpsAsync(connectionString) < count)
        {
            Assert.True(DateTime.UtcNow < deadline, $"The connector did not start streaming within 60 s; its log:\n{ConnectorProcess.RecentLog}");
            await Task.Delay(100);
        }
    }

    private static async Task<long> CountBinlogDumpsAsync(string connectionString)
    {
        await using var connection = await MariaDbServer.OpenConnectionAsync(connectionString);
        return await MariaDbServer.ScalarAsync<long>(connection, "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE COMMAND LIKE 'Binlog Dump%'");
    }

    private static async Task ExecuteAsync(string connectionString, string sql)
    {
        await using var connection = await MariaDbServer.OpenConnectionAsync(connectionString);
        await using var command = new MySqlCommand(sql, connection);
        await command.ExecuteNonQueryAsync();
    }
}
