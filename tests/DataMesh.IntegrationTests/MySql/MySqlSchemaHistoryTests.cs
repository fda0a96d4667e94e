using System.Globalization;
using System.Text;
using System.Text.Json;
using Confluent.Kafka;
using DataMesh.Connectors.MySql;
using DataMesh.IntegrationTests.Infrastructure;
using DataMesh.Sources;
using Microsoft.Extensions.Logging.Abstractions;
using Xunit;

namespace DataMesh.IntegrationTests.MySql;

/// <summary>The schema history on real MariaDB 10.11 and the embedded Kafka cluster: the first start's snapshot of a server
/// with many tables, and a history topic whose oldest records the cluster dropped.</summary>
public sealed class MySqlSchemaHistoryTests(MariaDbServer server) : IClassFixture<MariaDbServer>
{
    private const string HistoryTopic = "_datamesh_mysql_history";

    [Fact]
    public async Task A_first_start_on_a_server_with_300_tables_of_20_columns_stores_its_snapshot_in_bounded_parts_and_restarts_from_them()
    {
        // 300 tables x 20 columns: about 1.2 MB of schema, more than the 1 MB that Kafka takes in one record.
        var setup = new StringBuilder();
        for (var t = 0; t < 300; t++)
        {
            setup.Append(CultureInfo.InvariantCulture, $"CREATE TABLE wide_{t:000} (id INT PRIMARY KEY");
            for (var c = 1; c < 20; c++)
            {
                setup.Append(CultureInfo.InvariantCulture, $", {Column(c)} VARCHAR(100)");
            }

            setup.Append(");\n");
        }

        await using var cdc = await MySqlCdc.CreateAsync(server, setup.ToString());
        // The schema history is under test: no snapshot of the 300 (empty) tables.
        await cdc.StartAsync(o => o.Snapshot.Initial = InitialSnapshot.None);
        // The first start reads the schema of every table on the shared server (these 300 and other tests'): on a loaded
        // 2-core machine that takes longer than the default minute. This test is about the history's parts, not speed.
        await cdc.WaitForSavedPositionAsync(timeout: TimeSpan.FromMinutes(3));
        await cdc.ExecuteAsync($"INSERT INTO wide_299 (id, {Column(19)}) VALUES (1, 'first')");
        var first = Assert.Single(await cdc.ReadAsync(cdc.Topic("wide_299"), 1));
        Assert.Equal("first", first.After![Column(19)]);

        // The snapshot is in several records, none near Kafka's limit, that hold every table (the test's and any other
        // database's on the shared server) once.
        var parts = new List<(int Bytes, JsonElement Record)>();
        await TopicReader.ReadToEndAsync(cdc.Kafka, HistoryTopic, "the schema history", message =>
        {
            var record = JsonDocument.Parse(message.Value).RootElement.Clone();
            if (record.GetProperty("source").GetString() == cdc.SourceName && record.TryGetProperty("snapshot", out var snapshot) && snapshot.GetBoolean())
            {
                parts.Add((message.Value!.Length, record));
            }
        }, CancellationToken.None);
        Assert.True(parts.Count > 1, $"{parts.Count} snapshot record(s)");
        Assert.All(parts, p => Assert.InRange(p.Bytes, 1, 300 * 1024));
        Assert.True(parts.Sum(p => p.Bytes) > 1_000_000, $"{parts.Sum(p => p.Bytes)} bytes of snapshot");
        var tables = parts.SelectMany(p => p.Record.GetProperty("tables").EnumerateArray())
            .Select(t => t.GetProperty("Database").GetString() + "." + t.GetProperty("Name").GetString())
            .ToList();
        Assert.Equal(tables.Count, tables.Distinct().Count());
        Assert.Equal(300, tables.Count(t => t.StartsWith(cdc.Database + ".wide_", StringComparison.Ordinal)));

        // A restart restores the schema from the parts: a change made while stopped, to a table altered while stopped,
        // arrives with the new column.
        await cdc.StopAsync();
        await cdc.ExecuteAsync($"INSERT INTO wide_150 (id, {Column(1)}) VALUES (2, 'while stopped')");
        await cdc.ExecuteAsync("ALTER TABLE wide_000 ADD COLUMN added INT");
        await cdc.ExecuteAsync("INSERT INTO wide_000 (id, added) VALUES (3, 7)");
        await cdc.StartAsync();
        var stopped = Assert.Single(await cdc.ReadAsync(cdc.Topic("wide_150"), 1, TimeSpan.FromMinutes(2)));
        Assert.Equal("while stopped", stopped.After![Column(1)]);
        var altered = Assert.Single(await cdc.ReadAsync(cdc.Topic("wide_000"), 1, TimeSpan.FromMinutes(2)));
        Assert.Equal(7, altered.After!["added"]);
    }

    [Fact]
    public async Task A_schema_history_that_lost_its_snapshot_to_the_embedded_clusters_5_MB_limit_stops_the_source_saying_what_to_do()
    {
        await using var cdc = await MySqlCdc.CreateAsync(server, "CREATE TABLE t (id INT PRIMARY KEY)");
        await cdc.StartAsync();
        await cdc.WaitForSavedPositionAsync();
        await cdc.StopAsync();

        // Another source's history, 6 MB of it, pushes this source's snapshot out of the partition's 5 MB.
        using (var producer = new ProducerBuilder<byte[], byte[]>(cdc.Kafka.CreateProducerConfig()).Build())
        {
            var ddl = "/*" + new string('x', 100_000) + "*/ ALTER TABLE other.t ADD COLUMN c INT";
            for (var i = 0; i < 60; i++)
            {
                var value = JsonSerializer.SerializeToUtf8Bytes(new Dictionary<string, object> { ["source"] = "other", ["file"] = "mariadb-bin.000001", ["pos"] = 1000 + i, ["ddl"] = ddl });
                await producer.ProduceAsync(new TopicPartition(HistoryTopic, 0), new Message<byte[], byte[]> { Key = Encoding.UTF8.GetBytes($"other|mariadb-bin.000001|{1000 + i}"), Value = value });
            }
        }

        long firstOffset;
        using (var consumer = new ConsumerBuilder<Ignore, Ignore>(cdc.Kafka.CreateConsumerConfig(groupId: null)).Build())
        {
            firstOffset = consumer.QueryWatermarkOffsets(new TopicPartition(HistoryTopic, 0), TimeSpan.FromSeconds(10)).Low.Value;
        }

        Assert.True(firstOffset > 0, "the embedded cluster kept every record");
        using (var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60)))
        {
            var error = await Assert.ThrowsAsync<MySqlSchemaException>(() => cdc.RunConnectorAsync(NullLogger.Instance, timeout.Token));
            foreach (var expected in new[]
            {
                $"source '{cdc.SourceName}'", $"topic '{HistoryTopic}'", $"offset {firstOffset.ToString(CultureInfo.InvariantCulture)}", "5 MB",
                $"PositionStore.SaveAsync(\"{cdc.SourceName}\", null)", "DataMesh:Kafka:BootstrapServers", "compact",
            })
            {
                Assert.Contains(expected, error.Message, StringComparison.Ordinal);
            }
        }

        // What the message says works: after a reset the source starts afresh with a new snapshot, and restarts from it
        // although the topic still does not start at offset 0.
        using (var positions = new PositionStore(cdc.Kafka))
        {
            await positions.SaveAsync(cdc.SourceName, null, CancellationToken.None);
        }

        await cdc.StartAsync();
        await cdc.WaitForSavedPositionAsync();
        await cdc.StopAsync();
        await cdc.ExecuteAsync("INSERT INTO t VALUES (1)");
        await cdc.StartAsync();
        var record = Assert.Single(await cdc.ReadAsync(cdc.Topic("t"), 1));
        Assert.Equal(1, record.After!["id"]);
    }

    private static string Column(int index) => "attribute_with_a_long_descriptive_name_" + index.ToString("00", CultureInfo.InvariantCulture);
}
