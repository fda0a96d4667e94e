using Confluent.Kafka;
using DataMesh.Events;
using DataMesh.IntegrationTests.Conformance;
using DataMesh.IntegrationTests.Infrastructure;
using DataMesh.Kafka;
using DataMesh.Schemas;
using DataMesh.Sources;
using Xunit;

namespace DataMesh.IntegrationTests.Postgres;

/// <summary>A transaction of 2 million rows streams through a connector process whose memory stays under a fixed ceiling.</summary>
[Collection(ServerRestartCollection.Name)]
public sealed class PostgresLargeTransactionTests(PostgresServer server, Xunit.Abstractions.ITestOutputHelper output) : IClassFixture<PostgresServer>
{
    /// <summary>The ceiling on the connector process's peak resident memory (runtime, Npgsql, librdkafka's queue included).</summary>
    private const long CeilingBytes = 400L * 1024 * 1024;

    [Fact]
    public async Task Two_million_rows_in_one_transaction_stream_under_a_fixed_memory_ceiling()
    {
        const int Rows = 2_000_000;
        const int Partitions = 64; // the embedded cluster keeps 5 MB per partition: 64 partitions hold all 2 million events
        await using var setup = await PgCdc.CreateAsync(server, "CREATE TABLE big (id int PRIMARY KEY, payload text NOT NULL)");
        using var cluster = EmbeddedKafkaCluster.Start();
        var topic = TopicNames.ForTable("dm", "big", "public", "big");
        cluster.CreateTopic(KafkaSchemaStoreOptions.DefaultTopic, 1);
        cluster.CreateTopic(PositionStore.DefaultTopic, 1);
        cluster.CreateTopic(topic, Partitions);

        using var process = ConnectorProcess.StartSource("postgres", cluster.BootstrapServers, "big", PostgresConformance.SourceSettings(setup.ConnectionString, setup.Slot, ["public.big"]));
        await setup.WaitUntilStreamingAsync();
        var baseline = process.PeakResidentBytes();
        await setup.ExecuteAsync($"INSERT INTO big SELECT g, repeat('x', 40) FROM generate_series(1, {Rows}) g");

        using var consumer = new ConsumerBuilder<byte[]?, byte[]?>(new ConsumerConfig { BootstrapServers = cluster.BootstrapServers, GroupId = "count" }).Build();
        var deadline = DateTime.UtcNow.AddMinutes(8);
        long produced = 0;
        var peak = baseline;
        while (produced < Rows)
        {
            Assert.True(DateTime.UtcNow < deadline, $"{produced} of {Rows} events after 8 minutes; connector log:\n{ConnectorProcess.RecentLog}");
            Assert.False(process.HasExited, $"The connector exited; its log:\n{ConnectorProcess.RecentLog}");
            peak = Math.Max(peak, process.PeakResidentBytes());
            await Task.Delay(500);
            produced = Enumerable.Range(0, Partitions).Sum(p => consumer.QueryWatermarkOffsets(new TopicPartition(topic, p), TimeSpan.FromSeconds(10)).High.Value);
        }

        peak = Math.Max(peak, process.PeakResidentBytes());
        output.WriteLine($"{Rows} events; connector peak resident memory {peak / (1024 * 1024)} MB (baseline before the transaction {baseline / (1024 * 1024)} MB)");
        Assert.Equal(Rows, produced);
        Assert.True(peak < CeilingBytes, $"The connector's peak resident memory was {peak / (1024 * 1024)} MB (baseline {baseline / (1024 * 1024)} MB), above the {CeilingBytes / (1024 * 1024)} MB ceiling.");
    }
}
