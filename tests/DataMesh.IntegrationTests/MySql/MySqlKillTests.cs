using Confluent.Kafka;
using DataMesh.Events;
using DataMesh.Hosting;
using DataMesh.IntegrationTests.Conformance;
using DataMesh.IntegrationTests.Infrastructure;
using DataMesh.Kafka;
using DataMesh.Schemas;
using DataMesh.Sources;
using MySqlConnector;
using Xunit;
using Xunit.Abstractions;

namespace DataMesh.IntegrationTests.MySql;

/// <summary>The MySQL/MariaDB source in a process of its own, killed (SIGKILL) at random points during a workload: nothing is lost.</summary>
[Collection(ServerRestartCollection.Name)]
public sealed class MySqlKillTests(MariaDbServer server, ITestOutputHelper output) : IClassFixture<MariaDbServer>
{
    /// <summary>The conformance suite's kill scenario (<see cref="ConnectorConformanceTests"/>) at a larger volume.</summary>
    [Fact]
    public async Task Killing_the_connector_20_times_during_100k_changes_loses_nothing()
    {
        await using var driver = new MariaDbConformance(server);
        await driver.InitializeAsync();
        await using var harness = new ConformanceHarness(driver);
        await ConnectorConformanceTests.KillsLoseNothingAsync(
            driver, harness, new ConnectorConformanceTests.KillPlan { Changes = 100_000, Keys = 2_000, MaxBatch = 50, Pause = null, WriteAll = true }, output);
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
                    ids.Add((int)(await CdcRecord.DecodeAsync(store, result.Message.Key))!["id"]);
                }
            }
        }

        await using var xa = new MySqlXaTests.UnresolvedXa(server, MySqlXaTests.NewXid());
        var xid = xa.Xid;
        var process = ConnectorProcess.StartSource("mysql", cluster.BootstrapServers, source, MariaDbConformance.SourceSettings(server.ConnectionString, database.Name));
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
            process = ConnectorProcess.StartSource("mysql", cluster.BootstrapServers, source, MariaDbConformance.SourceSettings(server.ConnectionString, database.Name));
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
