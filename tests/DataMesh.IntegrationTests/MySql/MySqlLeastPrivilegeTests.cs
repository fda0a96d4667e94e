using DataMesh.Connectors.MySql;
using DataMesh.IntegrationTests.Infrastructure;
using MySqlConnector;
using Xunit;

namespace DataMesh.IntegrationTests.MySql;

/// <summary>
/// The grants docs/mysql.md lists as the minimum, on the real MariaDB: a user with exactly those streams (snapshot and
/// binlog), and a user without one of them is refused with the GRANT statement to run. No password in any line.
/// </summary>
public sealed class MySqlLeastPrivilegeTests(MariaDbServer server) : IClassFixture<MariaDbServer>
{
    private const string Setup = """
        CREATE TABLE t (id INT PRIMARY KEY, v VARCHAR(10));
        INSERT INTO t VALUES (1, 'before');
        CREATE TABLE datamesh_watermarks (`source` VARCHAR(255) NOT NULL, `watermark` VARCHAR(64) NOT NULL, PRIMARY KEY (`source`)) ENGINE=InnoDB;
        """;

    private readonly SecretScan _scan = new();

    [Fact]
    public async Task A_user_with_only_REPLICATION_SLAVE_REPLICATION_CLIENT_and_SELECT_snapshots_and_streams()
    {
        await using var cdc = await MySqlCdc.CreateAsync(server, Setup);
        var (user, password) = await CreateUserAsync(cdc, Grants(cdc, except: null));
        // A table this user cannot see (no grant on its database), so not in the schema read at start; its DDL in the log
        // while the source runs must not stop it (it did, when another test altered its own table at that moment).
        var hidden = "hidden_" + Guid.NewGuid().ToString("N")[..12];
        await server.ExecuteAsync($"CREATE DATABASE `{hidden}`; CREATE TABLE `{hidden}`.s (id INT PRIMARY KEY, v INT)");
        try
        {
            try
            {
                await cdc.StartAsync(o => Configure(o, cdc, user, password), logs: _scan);
            }
            catch (TimeoutException e)
            {
                // The source's log with the failure (it failed once in a full run: the initial snapshot never started).
                throw new TimeoutException($"{e.Message}\nThe source's last log lines:\n{string.Join('\n', _scan.Texts.TakeLast(60))}", e);
            }

            await server.ExecuteAsync($"ALTER TABLE `{hidden}`.s ADD COLUMN w INT; ALTER TABLE `{hidden}`.s DROP COLUMN v; RENAME TABLE `{hidden}`.s TO `{hidden}`.s2");
            await cdc.ExecuteAsync("INSERT INTO t VALUES (2, 'after')");

            var records = await cdc.ReadAsync(cdc.Topic("t"), 2);
            Assert.True(records.Count == 2, $"{records.Count} of 2 records arrived. {cdc.Diagnose()}");
            Assert.Equal(["before", "after"], records.Select(r => r.After!["v"]));
            await cdc.StopAsync();
            _scan.AssertNoSecret(password);
        }
        finally
        {
            await server.ExecuteAsync($"DROP USER '{user}'@'%'");
            await server.ExecuteAsync($"DROP DATABASE `{hidden}`");
        }
    }

    [Theory]
    [InlineData("REPLICATION SLAVE", "lacks REPLICATION SLAVE", "GRANT REPLICATION SLAVE ON *.* TO '{user}'@'%';")]
    [InlineData("REPLICATION CLIENT", "lacks REPLICATION CLIENT", "GRANT REPLICATION CLIENT ON *.* TO '{user}'@'%';")]
    [InlineData("SELECT", "lacks SELECT on `{database}`.`t`", "GRANT SELECT ON `{database}`.`t` TO '{user}'@'%';")]
    public async Task A_user_without_one_grant_is_refused_with_the_GRANT_to_run(string missing, string problem, string grant)
    {
        await using var cdc = await MySqlCdc.CreateAsync(server, Setup);
        var (user, password) = await CreateUserAsync(cdc, Grants(cdc, except: missing));
        try
        {
            var options = new MySqlSourceOptions();
            Configure(options, cdc, user, password);

            var status = await cdc.RunUntilStoppedAsync(options, _scan);
            _scan.Add(status.ToString());

            Assert.Equal(DataMesh.Sources.SourceState.Failed, status.State);
            Assert.Contains(problem.Replace("{database}", cdc.Database, StringComparison.Ordinal), status.Message, StringComparison.Ordinal);
            Assert.Contains(grant.Replace("{user}", user, StringComparison.Ordinal).Replace("{database}", cdc.Database, StringComparison.Ordinal), status.Message, StringComparison.Ordinal);
            _scan.AssertNoSecret(password);
        }
        finally
        {
            await server.ExecuteAsync($"DROP USER '{user}'@'%'");
        }
    }

    /// <summary>The minimum: REPLICATION SLAVE and CLIENT, SELECT on the captured table, and what the snapshots' watermarks need.</summary>
    private static List<string> Grants(MySqlCdc cdc, string? except)
    {
        List<string> grants =
        [
            "GRANT REPLICATION SLAVE ON *.* TO '{user}'@'%'",
            "GRANT REPLICATION CLIENT ON *.* TO '{user}'@'%'",
            $"GRANT SELECT ON `{cdc.Database}`.`t` TO '{{user}}'@'%'",
            $"GRANT SELECT, INSERT, UPDATE ON `{cdc.Database}`.`datamesh_watermarks` TO '{{user}}'@'%'",
        ];
        return except is null ? grants : [.. grants.Where(g => !g.StartsWith("GRANT " + except + " ", StringComparison.Ordinal))];
    }

    private async Task<(string User, string Password)> CreateUserAsync(MySqlCdc cdc, List<string> grants)
    {
        var user = UniqueName.Create("least");
        var password = "pw-" + Guid.NewGuid().ToString("N");
        await server.ExecuteAsync($"CREATE USER '{user}'@'%' IDENTIFIED BY '{password}'");
        foreach (var grant in grants)
        {
            await server.ExecuteAsync(grant.Replace("{user}", user, StringComparison.Ordinal));
        }

        return (user, password);
    }

    private void Configure(MySqlSourceOptions options, MySqlCdc cdc, string user, string password)
    {
        options.ConnectionString = new MySqlConnectionStringBuilder(server.ConnectionString) { UserID = user, Password = password, Database = cdc.Database }.ConnectionString;
        options.IncludeTables.Clear();
        options.IncludeTables.Add(cdc.Database + ".t");
    }
}
