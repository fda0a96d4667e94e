using DataMesh.Connectors.MySql;
using DataMesh.IntegrationTests.Infrastructure;
using DataMesh.Sources;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using MySqlConnector;
using Xunit;

namespace DataMesh.IntegrationTests.MySql;

/// <summary>
/// Row changes that a session logs as statements (its own <c>binlog_format</c> STATEMENT or MIXED, whatever the server's
/// ROW), end to end from MariaDB 10.11: a change of a captured table has no rows in the binlog and must stop the source;
/// a change of an uncaptured table must not, also when it reads a captured one. The source captures only <c>ha_c</c>;
/// <c>ha_u</c> is in the same database and not captured.
/// </summary>
public sealed class MySqlStatementLoggedChangeTests(MariaDbServer server) : IClassFixture<MariaDbServer>
{
    private const string Setup = "CREATE TABLE ha_c (id INT PRIMARY KEY, v VARCHAR(10)); CREATE TABLE ha_u (id INT PRIMARY KEY, x INT); "
        + "INSERT INTO ha_c VALUES (0, 'a'), (1, 'b'); INSERT INTO ha_u VALUES (0, 0), (1, 1)";

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task A_LOAD_DATA_into_a_captured_table_logged_as_a_statement_stops_the_source_with_the_table_position_and_what_to_do(bool local)
    {
        // The rows of a statement-logged LOAD DATA travel as the file's bytes (BEGIN_LOAD_QUERY, APPEND_BLOCK) and the
        // statement (EXECUTE_LOAD_QUERY), events of their own that the source passed over: the rows were lost without a word.
        await using var cdc = await MySqlCdc.CreateAsync(server, Setup);
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        var run = cdc.RunConnectorAsync(NullLogger.Instance, timeout.Token, o => CaptureOnly(o, cdc));
        await cdc.WaitForSavedPositionAsync();

        await LoadDataAsync(cdc, "ha_c", local);

        var error = await Assert.ThrowsAsync<MySqlSchemaException>(() => run);
        Assert.Contains($"a LOAD DATA of `{cdc.Database}`.`ha_c` was logged as a statement, without its rows", error.Message, StringComparison.Ordinal);
        Assert.Contains("SET GLOBAL binlog_format=ROW", error.Message, StringComparison.Ordinal);
        Assert.Contains($"{error.File}:{error.Position}", error.Message, StringComparison.Ordinal);
        Assert.StartsWith("mariadb-bin.", error.File, StringComparison.Ordinal);
        Assert.True(error.Position > 4);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task A_LOAD_DATA_into_an_uncaptured_table_logged_as_a_statement_passes(bool local)
    {
        await using var cdc = await MySqlCdc.CreateAsync(server, Setup);
        await cdc.StartAsync(o => CaptureOnly(o, cdc));

        await LoadDataAsync(cdc, "ha_u", local);
        await AssertStillRunningAsync(cdc);
        Assert.Equal(4L, await server.ScalarAsync<long>($"SELECT COUNT(*) FROM `{cdc.Database}`.ha_u"));
    }

    [Theory]
    [InlineData("DELETE u FROM ha_u u JOIN ha_c c ON u.id = c.id WHERE c.id = 0")]
    [InlineData("DELETE FROM ha_u USING ha_u JOIN ha_c ON ha_u.id = ha_c.id WHERE ha_c.id = 0")]
    [InlineData("DELETE `{db}`.`ha_u`.* FROM `{db}`.`ha_u` INNER JOIN `{db}`.ha_c AS `c` ON `ha_u`.id = c.id WHERE c.id = 0")]
    [InlineData("DELETE LOW_PRIORITY QUICK IGNORE `ha_u` FROM ha_c, (ha_u) WHERE ha_u.id = ha_c.id AND ha_c.id = 0")]
    [InlineData("UPDATE ha_u u JOIN ha_c c ON u.id = c.id SET u.x = u.x + 1, `u`.`x` = 5 WHERE c.v = 'a'")]
    [InlineData("UPDATE ha_u, ha_c SET x = 5 WHERE ha_u.id = ha_c.id")]
    [InlineData("UPDATE ha_c AS c STRAIGHT_JOIN `{db}`.ha_u ON c.id = ha_u.id SET `{db}`.`ha_u`.`x` = LENGTH(c.v)")]
    [InlineData("UPDATE ha_u AS u LEFT OUTER JOIN (SELECT id, v FROM ha_c) AS d USING (id) SET u.x = IF(d.v = 'a', 1, 2)")]
    [InlineData("UPDATE ha_u SET x = (SELECT COUNT(*) FROM ha_c) WHERE id IN (SELECT id FROM ha_c)")]
    public async Task A_change_of_an_uncaptured_table_logged_as_a_statement_passes_also_when_it_reads_a_captured_one(string change)
    {
        // The source stopped at any statement-logged UPDATE or DELETE that named a captured table, also where the table was
        // only read: a multi-table statement changes only its targets (DELETE's list, UPDATE's SET columns).
        await using var cdc = await MySqlCdc.CreateAsync(server, Setup);
        await cdc.StartAsync(o => CaptureOnly(o, cdc));

        await cdc.ExecuteAsync("SET SESSION binlog_format = 'STATEMENT'; " + change.Replace("{db}", cdc.Database, StringComparison.Ordinal));
        Assert.Equal("0:a,1:b", await server.ScalarAsync<string>($"SELECT GROUP_CONCAT(id, ':', v ORDER BY id) FROM `{cdc.Database}`.ha_c"));
        await AssertStillRunningAsync(cdc);
    }

    [Theory]
    [InlineData("DELETE c FROM ha_u u JOIN ha_c c ON u.id = c.id WHERE c.id = 0", "a DELETE")]
    [InlineData("DELETE ha_u, `ha_c`.* FROM ha_u JOIN ha_c ON ha_u.id = ha_c.id WHERE ha_c.id = 0", "a DELETE")]
    [InlineData("DELETE FROM `{db}`.ha_c USING ha_u JOIN `{db}`.`ha_c` ON ha_u.id = ha_c.id WHERE ha_u.id = 0", "a DELETE")]
    [InlineData("UPDATE ha_u u JOIN ha_c c ON u.id = c.id SET u.x = 1, c.v = 'y'", "an UPDATE")]
    [InlineData("UPDATE ha_u, ha_c SET v = 'w' WHERE ha_u.id = ha_c.id", "an UPDATE")]
    [InlineData("UPDATE ha_u JOIN `{db}`.`ha_c` ON ha_u.id = ha_c.id SET `{db}`.`ha_c`.`v` = 'q'", "an UPDATE")]
    [InlineData("UPDATE ha_c AS c SET c.v = 'z' WHERE c.id = 1", "an UPDATE")]
    public async Task A_multi_table_change_of_a_captured_table_logged_as_a_statement_stops_the_source(string change, string what)
    {
        await using var cdc = await MySqlCdc.CreateAsync(server, Setup);
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        var run = cdc.RunConnectorAsync(NullLogger.Instance, timeout.Token, o => CaptureOnly(o, cdc));
        await cdc.WaitForSavedPositionAsync();

        await cdc.ExecuteAsync("SET SESSION binlog_format = 'STATEMENT'; " + change.Replace("{db}", cdc.Database, StringComparison.Ordinal));

        var error = await Assert.ThrowsAsync<MySqlSchemaException>(() => run);
        Assert.Contains($"{what} of `{cdc.Database}`.`ha_c` was logged as a statement, without its rows", error.Message, StringComparison.Ordinal);
        Assert.Contains($"{error.File}:{error.Position}", error.Message, StringComparison.Ordinal);
    }

    /// <summary>Inserts a row into the captured table (logged as a row) and reads it after the snapshot's two rows: the
    /// source read past what came before and runs.</summary>
    private static async Task AssertStillRunningAsync(MySqlCdc cdc)
    {
        await cdc.ExecuteAsync("INSERT INTO ha_c VALUES (9, 'after')");
        var records = await cdc.ReadAsync(cdc.Topic("ha_c"), 3, TimeSpan.FromSeconds(30));
        Assert.True(records.Count == 3, cdc.Diagnose());
        Assert.Equal(["r", "r", "c"], records.Select(r => r.Op));
        Assert.Equal(9, records[2].After!["id"]);
        Assert.Equal(SourceState.Running, cdc.Host.Services.GetRequiredService<SourceMonitor>().Get(cdc.SourceName)!.State);
    }

    private static void CaptureOnly(MySqlSourceOptions options, MySqlCdc cdc)
    {
        options.IncludeTables.Clear();
        options.IncludeTables.Add(cdc.Database + ".ha_c");
    }

    /// <summary>Loads two rows into <paramref name="table"/> with LOAD DATA logged as a statement: LOCAL (the client sends
    /// the file; MySqlConnector's <see cref="MySqlBulkLoader"/> with a stream, as it allows LOCAL without verified TLS only
    /// so), or from a file the server reads (same machine).</summary>
    private async Task LoadDataAsync(MySqlCdc cdc, string table, bool local)
    {
        var connectionString = new MySqlConnectionStringBuilder(server.ConnectionStringFor(cdc.Database)) { AllowLoadLocalInfile = true }.ConnectionString;
        await using var connection = new MySqlConnection(connectionString);
        await connection.OpenAsync();
        await using (var format = new MySqlCommand("SET SESSION binlog_format = 'STATEMENT'", connection))
        {
            await format.ExecuteNonQueryAsync();
        }

        const string rows = "5,7\n6,8\n";
        if (local)
        {
            using var stream = new MemoryStream(System.Text.Encoding.UTF8.GetBytes(rows));
            var loader = new MySqlBulkLoader(connection) { TableName = table, FieldTerminator = ",", LineTerminator = "\n", SourceStream = stream, Local = true };
            Assert.Equal(2, await loader.LoadAsync());
            return;
        }

        var file = Path.Combine(Path.GetTempPath(), UniqueName.Create("ha_load") + ".csv");
        try
        {
            await File.WriteAllTextAsync(file, rows);
            if (!OperatingSystem.IsWindows())
            {
                File.SetUnixFileMode(file, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead);
            }

            await using var load = new MySqlCommand($"LOAD DATA INFILE '{file}' INTO TABLE `{cdc.Database}`.`{table}` FIELDS TERMINATED BY ','", connection);
            Assert.Equal(2, await load.ExecuteNonQueryAsync());
        }
        finally
        {
            File.Delete(file);
        }
    }
}
