using DataMesh.IntegrationTests.Infrastructure;
using Microsoft.Extensions.Logging;
using Npgsql;
using Xunit;

namespace DataMesh.IntegrationTests.Postgres;

/// <summary>
/// Tables created while a PostgreSQL source runs: captured from their first row when the source may install its event
/// trigger (a superuser), added promptly by polling otherwise, and never blocked by a table that cannot be captured.
/// </summary>
public sealed class PostgresNewTableTests(PostgresServer server) : IClassFixture<PostgresServer>
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task Rows_written_right_after_CREATE_TABLE_all_arrive_also_after_a_drop_and_re_create()
    {
        await using var cdc = await PgCdc.CreateAsync(server, "CREATE TABLE first (id int PRIMARY KEY)");
        await cdc.StartAsync(o =>
        {
            o.IncludeTables.Add("public.*");
            o.ExcludeTables.Add("public.skip_*");
            o.HeartbeatInterval = TimeSpan.FromSeconds(10);
        });

        await using (var connection = await PostgresServer.OpenConnectionAsync(cdc.ConnectionString))
        {
            await ExecuteAsync(connection, "CREATE TABLE fresh (id int PRIMARY KEY, v text)");
            for (var id = 1; id <= 10; id++)
            {
                await ExecuteAsync(connection, $"INSERT INTO fresh VALUES ({id}, 'v{id}')");
            }

            // A script that drops and re-creates the table, then fills it; and a table created and filled in one transaction.
            await ExecuteAsync(connection, "DROP TABLE fresh; CREATE TABLE fresh (id int PRIMARY KEY, v text)");
            for (var id = 11; id <= 20; id++)
            {
                await ExecuteAsync(connection, $"INSERT INTO fresh VALUES ({id}, 'v{id}')");
            }

            await ExecuteAsync(connection, "BEGIN; CREATE TABLE together (id int PRIMARY KEY); INSERT INTO together SELECT generate_series(1, 5); COMMIT");
        }

        var records = await EdgeRead.ReadOrFailAsync(cdc, cdc.Topic("fresh"), 20, "table 'fresh', created (twice) after the source started", Patience);
        Assert.Equal(Enumerable.Range(1, 20), records.Select(r => (int)r.Key!["id"]));
        Assert.All(records, r => Assert.Equal("c", r.Op));
        var together = await EdgeRead.ReadOrFailAsync(cdc, cdc.Topic("together"), 5, "table 'together', created and filled in one transaction", Patience);
        Assert.Equal(Enumerable.Range(1, 5), together.Select(r => (int)r.Key!["id"]));

        // The trigger applies the patterns as the source does: '_' is an ordinary character, '*' any run of characters.
        await cdc.ExecuteAsync("CREATE TABLE skip_me (id int PRIMARY KEY); CREATE TABLE skipxme (id int PRIMARY KEY)");
        Assert.False(await InPublicationAsync(cdc, "skip_me"), "excluded table skip_me was added to the publication");
        Assert.True(await InPublicationAsync(cdc, "skipxme"), "table skipxme, not matched by the exclude pattern public.skip_*, was not added when it was created");
        Assert.False(EdgeRead.Stopped(cdc), "the source stopped");
    }

    [Fact]
    public async Task A_keyless_table_created_while_running_is_not_published_and_the_source_warns()
    {
        await using var cdc = await PgCdc.CreateAsync(server, "CREATE TABLE first (id int PRIMARY KEY)");
        await cdc.StartAsync(o => o.IncludeTables.Add("public.*"));

        // Published, its updates would fail for the application ("does not have a replica identity and publishes updates").
        await cdc.ExecuteAsync("CREATE TABLE keyless (v int); INSERT INTO keyless VALUES (1); UPDATE keyless SET v = 2; DELETE FROM keyless");
        await WaitForAsync(() => cdc.Logs.Find(LogLevel.Warning, "\"public\".\"keyless\"", "REPLICA IDENTITY FULL").Count > 0, cdc,
            "a warning that names table keyless and ALTER TABLE ... REPLICA IDENTITY FULL");
        Assert.False(await InPublicationAsync(cdc, "keyless"), "the keyless table was added to the publication");

        // Given an identity, it joins at once.
        await cdc.ExecuteAsync("ALTER TABLE keyless REPLICA IDENTITY FULL; INSERT INTO keyless VALUES (3)");
        var records = await EdgeRead.ReadOrFailAsync(cdc, cdc.Topic("keyless"), 1, "table 'keyless', after REPLICA IDENTITY FULL", Patience);
        Assert.Equal(3, (int)records[0].After!["v"]);
        Assert.False(EdgeRead.Stopped(cdc), "the source stopped");
    }

    [Fact]
    public async Task Tables_that_cannot_be_captured_do_not_stop_later_tables_from_being_added()
    {
        await using var cdc = await PgCdc.CreateAsync(server, "CREATE TABLE first (id int PRIMARY KEY)");
        var role = UniqueName.Create("cdc");
        await cdc.ExecuteAsync($"""
            CREATE ROLE {role} LOGIN REPLICATION PASSWORD 'pw';
            GRANT CREATE ON DATABASE "{new NpgsqlConnectionStringBuilder(cdc.ConnectionString).Database}" TO {role};
            GRANT CREATE, USAGE ON SCHEMA public TO {role};
            ALTER TABLE first OWNER TO {role};
            """);
        var userConnection = new NpgsqlConnectionStringBuilder(cdc.ConnectionString) { Username = role, Password = "pw" }.ConnectionString;
        try
        {
            // Not a superuser: no event trigger, the source polls the catalog.
            await cdc.StartAsync(o =>
            {
                o.ConnectionString = userConnection;
                o.IncludeTables.Add("public.*");
            });

            await cdc.ExecuteAsync("CREATE TABLE secret (id int PRIMARY KEY)");
            await using (var connection = await PostgresServer.OpenConnectionAsync(userConnection))
            {
                await ExecuteAsync(connection, "CREATE TABLE keyless (v int)");
                await ExecuteAsync(connection, "CREATE TABLE later (id int PRIMARY KEY, v text)");
            }

            await WaitForAsync(() => InPublicationAsync(cdc, "later"), cdc, "table 'later' in the publication");
            await cdc.ExecuteAsync("INSERT INTO later VALUES (1, 'one'), (2, 'two')");
            var records = await EdgeRead.ReadOrFailAsync(cdc, cdc.Topic("later"), 2, "table 'later', created after tables that cannot be captured", Patience);
            Assert.Equal([1, 2], records.Select(r => (int)r.Key!["id"]));

            await WaitForAsync(() => cdc.Logs.Find(LogLevel.Warning, "\"public\".\"secret\"", "GRANT SELECT").Count > 0, cdc, "a warning naming table secret and the GRANT to run");
            await WaitForAsync(() => cdc.Logs.Find(LogLevel.Warning, "\"public\".\"keyless\"", "REPLICA IDENTITY FULL").Count > 0, cdc, "a warning naming table keyless and REPLICA IDENTITY FULL");
            Assert.False(await InPublicationAsync(cdc, "secret"));
            Assert.False(await InPublicationAsync(cdc, "keyless"));
            Assert.False(EdgeRead.Stopped(cdc), "the source stopped");
        }
        finally
        {
            await cdc.StopAsync();
            await cdc.ExecuteAsync($"DROP OWNED BY {role}; DROP ROLE {role}");
        }
    }

    [Fact]
    public async Task The_event_trigger_stays_while_the_source_is_stopped_and_is_removed_when_it_polls()
    {
        await using var cdc = await PgCdc.CreateAsync(server, "CREATE TABLE first (id int PRIMARY KEY)");
        await cdc.StartAsync(o => o.IncludeTables.Add("public.*"));
        const string Trigger = "SELECT count(*) FROM pg_event_trigger e JOIN pg_proc p ON p.oid = e.evtfoid WHERE e.evtname = 'datamesh_src' AND p.proname = 'datamesh_src'";
        Assert.Equal(1L, await cdc.ScalarAsync<long>(Trigger));

        // Created and filled while the source is stopped: the trigger added the table, the slot kept its changes.
        await EdgeRead.RestartAsync(cdc, o =>
        {
            o.IncludeTables.Add("public.*");
            o.NewTables = Connectors.Postgres.NewTableCapture.Poll;
        }, () => cdc.ExecuteAsync("CREATE TABLE meanwhile (id int PRIMARY KEY); INSERT INTO meanwhile VALUES (1), (2), (3)"));

        var records = await EdgeRead.ReadOrFailAsync(cdc, cdc.Topic("meanwhile"), 3, "table 'meanwhile', created while the source was stopped", Patience);
        Assert.Equal([1, 2, 3], records.Select(r => (int)r.Key!["id"]));
        Assert.Equal(0L, await cdc.ScalarAsync<long>(Trigger));
        Assert.Equal(0L, await cdc.ScalarAsync<long>("SELECT count(*) FROM pg_proc WHERE proname = 'datamesh_src'"));
        Assert.Single(cdc.Logs.Find(LogLevel.Information, "removed its event trigger 'datamesh_src'"));
    }

    private static async Task ExecuteAsync(NpgsqlConnection connection, string sql)
    {
        await using var command = new NpgsqlCommand(sql, connection);
        await command.ExecuteNonQueryAsync();
    }

    private static async Task<bool> InPublicationAsync(PgCdc cdc, string table) =>
        await cdc.ScalarAsync<bool>($"SELECT EXISTS (SELECT 1 FROM pg_publication_tables WHERE schemaname = 'public' AND tablename = '{table}')");

    private static Task WaitForAsync(Func<bool> condition, PgCdc cdc, string what) => WaitForAsync(() => Task.FromResult(condition()), cdc, what);

    private static async Task WaitForAsync(Func<Task<bool>> condition, PgCdc cdc, string what)
    {
        var deadline = DateTime.UtcNow + Patience;
        while (!await condition())
        {
            var log = string.Join("\n", cdc.Logs.Entries.Where(e => e.Level >= LogLevel.Warning).Select(e => e.Message));
            Assert.True(DateTime.UtcNow < deadline, $"did not see {what} within {Patience}; warnings:\n{log}");
            Assert.False(EdgeRead.Stopped(cdc), $"the source stopped while waiting for {what}; warnings:\n{log}");
            await Task.Delay(200);
        }
    }
}
