using DataMesh.IntegrationTests.Conformance;
using DataMesh.IntegrationTests.Infrastructure;
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
}
