using DataMesh.IntegrationTests.Infrastructure;
using Npgsql;
using Xunit;

namespace DataMesh.IntegrationTests.Postgres;

/// <summary>
/// The grants docs/postgres.md lists as the minimum, on the real PostgreSQL: a role with only LOGIN, REPLICATION and
/// SELECT on the captured table (the table's owner makes the publication; with table watermarks, the watermark table too,
/// with SELECT, INSERT, UPDATE) snapshots and streams. A role without REPLICATION or SELECT is refused with the statement
/// to run: <see cref="PostgresConfigurationTests"/>. No password in any line.
/// </summary>
public sealed class PostgresLeastPrivilegeTests(PostgresServer server) : IClassFixture<PostgresServer>
{
    private readonly SecretScan _scan = new();

    [Theory]
    [InlineData(SnapshotWatermarks.ReadOnly)]
    [InlineData(SnapshotWatermarks.Table)]
    public async Task A_role_with_only_REPLICATION_and_SELECT_on_the_captured_table_snapshots_and_streams(SnapshotWatermarks watermarks)
    {
        await using var cdc = await PgCdc.CreateAsync(server, "CREATE TABLE t (id int PRIMARY KEY, v text); INSERT INTO t VALUES (1, 'before')");
        var role = UniqueName.Create("least");
        var password = "pw-" + Guid.NewGuid().ToString("N");
        var publication = UniqueName.Create("pub");
        var setup = $"CREATE ROLE {role} LOGIN REPLICATION PASSWORD '{password}'; GRANT SELECT ON t TO {role}; ";
        setup += watermarks == SnapshotWatermarks.Table
            ? $"CREATE TABLE datamesh_watermarks (source text PRIMARY KEY, watermark text NOT NULL); GRANT SELECT, INSERT, UPDATE ON datamesh_watermarks TO {role}; CREATE PUBLICATION {publication} FOR TABLE t, datamesh_watermarks;"
            : $"CREATE PUBLICATION {publication} FOR TABLE t;";
        await cdc.ExecuteAsync(setup);
        try
        {
            await cdc.StartAsync(
                o =>
                {
                    o.ConnectionString = new NpgsqlConnectionStringBuilder(cdc.ConnectionString) { Username = role, Password = password }.ConnectionString;
                    o.ManagePublication = false;
                    o.PublicationName = publication;
                    o.IncludeTables.Add("public.t");
                    o.Snapshot.Watermarks = watermarks;
                },
                logs: _scan);
            await cdc.ExecuteAsync("INSERT INTO t VALUES (2, 'after')");

            var records = await cdc.ReadAsync(cdc.Topic("t"), 2);
            Assert.Equal(["before", "after"], records.Select(r => r.After!["v"]));
            await cdc.StopAsync();
            _scan.AssertNoSecret(password);
        }
        finally
        {
            await cdc.StopAsync();
            await cdc.ExecuteAsync($"DROP PUBLICATION {publication}; DROP OWNED BY {role}; DROP ROLE {role}");
        }
    }
}
