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
