using DataMesh.IntegrationTests.Infrastructure;
using Xunit;

namespace DataMesh.IntegrationTests;

/// <summary>The harness fails, rather than skips, a server test when the servers were not started.</summary>
public sealed class HarnessTests
{
    [Fact]
    public void A_missing_setting_fails_with_the_way_to_start_the_servers()
    {
        var name = "DATAMESH_TEST_" + Guid.NewGuid().ToString("N");

        var error = Assert.Throws<InvalidOperationException>(() => ServerEnvironment.Require(name));

        Assert.Equal($"{name} is not set: run ./build.sh test, which starts the servers", error.Message);
        Assert.Equal(
            "DATAMESH_PG_CONNECTION is not set: run ./build.sh test, which starts the servers",
            ServerEnvironment.MissingMessage(ServerEnvironment.PostgresConnection));
    }

    [Fact]
    public void Unique_names_are_valid_identifiers_and_differ()
    {
        var first = UniqueName.Create("slot");
        var second = UniqueName.Create("slot");

        Assert.NotEqual(first, second);
        Assert.Matches("^slot_[0-9a-f]{32}$", first);
        Assert.True(UniqueName.Create(new string('a', 30)).Length <= 63);
        Assert.Throws<ArgumentException>(() => UniqueName.Create("Bad-Name"));
    }
}
