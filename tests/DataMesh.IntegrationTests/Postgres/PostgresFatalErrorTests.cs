using DataMesh.IntegrationTests.Conformance;
using DataMesh.IntegrationTests.Infrastructure;
using DataMesh.Kafka;
using DataMesh.Schemas;
using DataMesh.Sources;
using Xunit;

namespace DataMesh.IntegrationTests.Postgres;

/// <summary>A fatal source error in a real host process: logged with what to do, the host stops gracefully with exit code 1,
/// never an unhandled exception.</summary>
public sealed class PostgresFatalErrorTests(PostgresServer server) : IClassFixture<PostgresServer>
{
    [Fact]
    public async Task A_fatal_source_error_stops_the_host_gracefully_with_exit_code_1_and_says_what_to_do()
    {
        await using var cdc = await PgCdc.CreateAsync(server, "CREATE TABLE t (id int PRIMARY KEY)");
        using var cluster = EmbeddedKafkaCluster.Start();
        cluster.CreateTopic(KafkaSchemaStoreOptions.DefaultTopic, 1);
        cluster.CreateTopic(PositionStore.DefaultTopic, 1);
        using var process = ConnectorProcess.StartSource("postgres", cluster.BootstrapServers, cdc.SourceName, PostgresConformance.SourceSettings(cdc.ConnectionString, cdc.Slot, ["nomatch.*"]));
        var code = await process.WaitForExitAsync(TimeSpan.FromSeconds(90));
        var log = process.RecentLines;
        Assert.True(code == 1, $"exit code {code}; log:\n{log}");
        Assert.Contains("no table matches IncludeTables [nomatch.*]", log, StringComparison.Ordinal);
        Assert.Contains("stopping the host with exit code 1", log, StringComparison.Ordinal);
        Assert.DoesNotContain("Unhandled exception", log, StringComparison.Ordinal);
    }
}
