using DataMesh.Connectors.MySql;
using DataMesh.Connectors.Postgres;
using DataMesh.IntegrationTests.Infrastructure;
using DataMesh.IntegrationTests.MySql;
using DataMesh.IntegrationTests.Postgres;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using MySqlConnector;
using Npgsql;
using Xunit;

namespace DataMesh.IntegrationTests;

/// <summary>
/// No password in any log line, exception or status. Every host of the integration tests (<see cref="PgCdc"/>,
/// <see cref="MySqlCdc"/>) collects all its lines at every level and fails its test when one holds a password of the test
/// servers (<see cref="LogCollector.AssertNoSecret"/>); these tests show that check can fail, and run the paths most
/// likely to repeat a connection string: a source that cannot log in or open its database.
/// </summary>
public sealed class SecretsInLogsTests(PostgresServer postgres, MariaDbServer mariaDb) : IClassFixture<PostgresServer>, IClassFixture<MariaDbServer>
{
    [Fact]
    public void The_hosts_secret_check_fails_on_a_password_in_a_line_or_in_its_exception()
    {
        var secret = SecretScan.Secrets[0];
        // Planted lines: kept out of the suite's log, which ./build.sh test scans for the same passwords.
        var inLine = new LogCollector(toSuiteLog: false);
        inLine.CreateLogger("test").LogDebug("connecting with {ConnectionString}", "Password=" + secret);
        var inException = new LogCollector(toSuiteLog: false);
        inException.CreateLogger("test").LogWarning(new InvalidOperationException("Password=" + secret), "could not connect");
        var clean = new LogCollector();
        clean.CreateLogger("test").LogInformation("connected");

        Assert.Throws<Xunit.Sdk.XunitException>(() => inLine.AssertNoSecret());
        Assert.Throws<Xunit.Sdk.XunitException>(() => inException.AssertNoSecret());
        clean.AssertNoSecret();
    }

    [Theory]
    [InlineData("wrong password")]
    [InlineData("no database")]
    public async Task A_PostgreSQL_source_that_cannot_connect_says_why_without_the_password(string problem)
    {
        await using var cdc = await PgCdc.CreateAsync(postgres, "CREATE TABLE t (id int PRIMARY KEY)");
        var builder = new NpgsqlConnectionStringBuilder(cdc.ConnectionString);
        var password = problem == "wrong password" ? "wrong-" + Guid.NewGuid().ToString("N") : builder.Password!;
        builder.Password = password;
        if (problem == "no database")
        {
            builder.Database = "no_such_database";
        }

        var options = new PostgresSourceOptions { ConnectionString = builder.ConnectionString, SlotName = cdc.Slot, RetryDelay = TimeSpan.FromMilliseconds(100) };
        var logs = new LogCollector();
        await using var provider = Services();
        await using var connector = new PostgresConnector(cdc.SourceName, options, logs.CreateLogger("source"));

        var status = await SourceRunner.RunUntilStoppedOrRetryingAsync(cdc.SourceName, connector, options, provider, logger: logs.CreateLogger("runtime"));

        Assert.NotNull(status.Message);
        logs.CreateLogger("status").LogInformation("{Status}", status.ToString());
        Assert.Contains(logs.Entries, e => e.Message.Contains(problem == "wrong password" ? "password authentication failed" : "no_such_database", StringComparison.Ordinal));
        logs.AssertNoSecret(password);
    }

    [Theory]
    [InlineData("wrong password")]
    [InlineData("no database")]
    public async Task A_MySQL_source_that_cannot_connect_says_why_without_the_password(string problem)
    {
        await using var cdc = await MySqlCdc.CreateAsync(mariaDb, "CREATE TABLE t (id INT PRIMARY KEY)");
        var builder = new MySqlConnectionStringBuilder(mariaDb.ConnectionString);
        var password = problem == "wrong password" ? "wrong-" + Guid.NewGuid().ToString("N") : builder.Password;
        builder.Password = password;
        if (problem == "no database")
        {
            builder.Database = "no_such_database";
        }

        var options = new MySqlSourceOptions { ConnectionString = builder.ConnectionString, RetryDelay = TimeSpan.FromMilliseconds(100), IncludeTables = { cdc.Database + ".t" } };
        var logs = new LogCollector();

        var status = await cdc.RunUntilStoppedAsync(options, logs.CreateLogger("source"));

        Assert.NotNull(status.Message);
        logs.CreateLogger("status").LogInformation("{Status}", status.ToString());
        Assert.Contains(logs.Entries, e => e.Message.Contains(problem == "wrong password" ? "Access denied" : "no_such_database", StringComparison.Ordinal));
        logs.AssertNoSecret(password);
    }

    private static ServiceProvider Services()
    {
        var services = new ServiceCollection();
        services.AddLogging();
        services.AddDataMesh();
        return services.BuildServiceProvider();
    }
}
