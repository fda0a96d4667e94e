using System.Text.RegularExpressions;
using DataMesh.IntegrationTests.Infrastructure;
using MySqlConnector;
using Xunit;

namespace DataMesh.IntegrationTests;

/// <summary>The MariaDB that ./build.sh starts is what the binlog connector needs.</summary>
public sealed partial class MariaDbServerTests(MariaDbServer server) : IClassFixture<MariaDbServer>
{
    [Fact]
    public async Task Server_is_MariaDB_10_11()
    {
        var version = await server.ScalarAsync<string>("SELECT VERSION()");

        Assert.StartsWith("10.11.", version, StringComparison.Ordinal);
        Assert.Contains("MariaDB", version, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Binlog_is_row_based_with_full_images_and_gtids()
    {
        await using var connection = await server.OpenConnectionAsync();
        await using var command = new MySqlCommand(
            "SELECT @@log_bin, @@binlog_format, @@binlog_row_image, @@binlog_row_metadata, @@server_id, @@gtid_strict_mode, @@bind_address",
            connection);
        await using var reader = await command.ExecuteReaderAsync();
        Assert.True(await reader.ReadAsync());

        Assert.Equal(1L, Convert.ToInt64(reader.GetValue(0), System.Globalization.CultureInfo.InvariantCulture));
        Assert.Equal("ROW", reader.GetString(1));
        Assert.Equal("FULL", reader.GetString(2));
        Assert.Equal("FULL", reader.GetString(3));
        Assert.NotEqual(0L, Convert.ToInt64(reader.GetValue(4), System.Globalization.CultureInfo.InvariantCulture));
        Assert.Equal(1L, Convert.ToInt64(reader.GetValue(5), System.Globalization.CultureInfo.InvariantCulture));
        Assert.Equal("127.0.0.1", reader.GetString(6));
    }

    [Fact]
    public async Task Gtid_binlog_pos_advances_with_a_commit()
    {
        await using var table = await server.CreateTableAsync("id INT PRIMARY KEY, name VARCHAR(50) NOT NULL", "gtid_test");
        var serverId = Convert.ToInt64(await server.ScalarAsync<object>("SELECT @@server_id"), System.Globalization.CultureInfo.InvariantCulture);
        var before = await server.ScalarAsync<string>("SELECT @@gtid_binlog_pos");

        await server.ExecuteAsync($"INSERT INTO {table.QualifiedName} VALUES (1, 'one')");
        var after = await server.ScalarAsync<string>("SELECT @@gtid_binlog_pos");

        var match = GtidPattern().Match(after);
        Assert.True(match.Success, $"gtid_binlog_pos '{after}' is not domain-server-sequence");
        Assert.Equal(serverId, long.Parse(match.Groups["server"].Value, System.Globalization.CultureInfo.InvariantCulture));
        Assert.NotEqual(before, after);
    }

    [Fact]
    public async Task The_user_may_read_the_binlog()
    {
        await using var connection = await server.OpenConnectionAsync();
        var grants = new List<string>();
        await using (var command = new MySqlCommand("SHOW GRANTS", connection))
        await using (var reader = await command.ExecuteReaderAsync())
        {
            while (await reader.ReadAsync())
            {
                grants.Add(reader.GetString(0));
            }
        }

        Assert.Contains(grants, g => g.Contains("ALL PRIVILEGES ON *.*", StringComparison.Ordinal)
            || g.Contains("REPLICATION SLAVE", StringComparison.Ordinal));

        var privileges = new HashSet<string>(StringComparer.Ordinal);
        await using (var command = new MySqlCommand(
            "SELECT PRIVILEGE_TYPE FROM information_schema.USER_PRIVILEGES WHERE GRANTEE = CONCAT('''', SUBSTRING_INDEX(CURRENT_USER(), '@', 1), '''@''', SUBSTRING_INDEX(CURRENT_USER(), '@', -1), '''')",
            connection))
        await using (var reader = await command.ExecuteReaderAsync())
        {
            while (await reader.ReadAsync())
            {
                privileges.Add(reader.GetString(0));
            }
        }

        Assert.Contains("REPLICATION SLAVE", privileges);
        Assert.Contains("BINLOG MONITOR", privileges); // REPLICATION CLIENT's name since MariaDB 10.5
        Assert.Contains("SELECT", privileges);
        Assert.Contains("RELOAD", privileges);
    }

    [Fact]
    public async Task The_current_binlog_file_is_in_the_binlog_folder()
    {
        var (file, position) = await server.GetBinlogPositionAsync();

        Assert.True(position > 0);
        Assert.True(File.Exists(Path.Combine(MariaDbServer.BinlogDirectory, file)), $"{file} is not in {MariaDbServer.BinlogDirectory}");
        var index = await File.ReadAllLinesAsync(Directory.GetFiles(MariaDbServer.BinlogDirectory, "*.index").Single());
        Assert.Contains(index, line => line.EndsWith(file, StringComparison.Ordinal));
    }

    [Fact]
    public async Task Mariadb_binlog_reads_a_row_event_from_the_server()
    {
        await using var table = await server.CreateTableAsync("id INT PRIMARY KEY, name VARCHAR(50) NOT NULL", "binlog_test");
        var (file, position) = await server.GetBinlogPositionAsync();
        await server.ExecuteAsync($"INSERT INTO {table.QualifiedName} VALUES (7, 'seven')");
        var gtid = await server.ScalarAsync<string>("SELECT @@gtid_binlog_pos");

        // The same binlog dump protocol (COM_BINLOG_DUMP) a connector speaks, through MariaDB's own client.
        var output = await ScriptRunner.RunAsync(
            "mariadb-binlog",
            [
                "--no-defaults", "--read-from-remote-server", $"--host={server.Host}", $"--port={server.Port}",
                $"--user={server.User}", $"--start-position={position}", "--base64-output=decode-rows", "--verbose", file,
            ],
            TimeSpan.FromSeconds(60),
            new Dictionary<string, string> { ["MYSQL_PWD"] = server.Password });

        Assert.Contains($"### INSERT INTO `{table.Database}`.`{table.Name}`", output, StringComparison.Ordinal);
        Assert.Contains("###   @2='seven'", output, StringComparison.Ordinal);
        Assert.Contains($"GTID {gtid}", output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_temporary_database_is_created_and_dropped()
    {
        string name;
        await using (var database = await server.CreateDatabaseAsync("harness"))
        {
            name = database.Name;
            await using var table = await server.CreateTableAsync("id BIGINT PRIMARY KEY", database: database.Name);
            await using var connection = await database.OpenConnectionAsync();
            await using var insert = new MySqlCommand($"INSERT INTO {table.Name} VALUES (1), (2)", connection);
            Assert.Equal(2, await insert.ExecuteNonQueryAsync());
        }

        Assert.Equal(0L, await server.ScalarAsync<long>(
            $"SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = '{name}'"));
    }

    [GeneratedRegex(@"^(?<domain>\d+)-(?<server>\d+)-(?<sequence>\d+)$")]
    private static partial Regex GtidPattern();
}
