using DataMesh.IntegrationTests.Infrastructure;
using Xunit;

namespace DataMesh.IntegrationTests;

/// <summary>
/// The servers can be restarted from a test (scripts/pg-ctl.sh, scripts/mariadb-ctl.sh), as connector tests
/// that survive a restart need. Alone in <see cref="ServerRestartCollection"/>, so no other test sees the restart.
/// </summary>
[Collection(ServerRestartCollection.Name)]
public sealed class ServerRestartTests : IClassFixture<PostgresServer>, IClassFixture<MariaDbServer>
{
    private readonly PostgresServer _postgres;
    private readonly MariaDbServer _mariaDb;

    public ServerRestartTests(PostgresServer postgres, MariaDbServer mariaDb)
    {
        _postgres = postgres;
        _mariaDb = mariaDb;
    }

    [Fact]
    public async Task Postgres_restarts_and_keeps_its_replication_slots()
    {
        var slot = UniqueName.Create("restart_slot");
        await _postgres.ScalarAsync<string>($"SELECT slot_name::text FROM pg_create_logical_replication_slot('{slot}', 'pgoutput')");
        try
        {
            var startedBefore = await _postgres.ScalarAsync<DateTime>("SELECT pg_postmaster_start_time()");
            await using var old = await _postgres.OpenConnectionAsync();

            await _postgres.RestartAsync();

            await Assert.ThrowsAnyAsync<Exception>(() => PostgresServer.ScalarAsync<int>(old, "SELECT 1"));
            var startedAfter = await _postgres.ScalarAsync<DateTime>("SELECT pg_postmaster_start_time()");
            Assert.True(startedAfter > startedBefore, $"start time {startedAfter:O} is not after {startedBefore:O}");
            Assert.Equal(1L, await _postgres.ScalarAsync<long>($"SELECT count(*) FROM pg_replication_slots WHERE slot_name = '{slot}'"));
        }
        finally
        {
            await _postgres.DropReplicationSlotIfExistsAsync(slot);
        }
    }

    [Fact]
    public async Task Postgres_recovers_from_a_crash()
    {
        await using var table = await _postgres.CreateTableAsync("id int PRIMARY KEY", "crash_test");
        await _postgres.ExecuteAsync($"INSERT INTO {table.Name} VALUES (1)");
        var startedBefore = await _postgres.ScalarAsync<DateTime>("SELECT pg_postmaster_start_time()");

        await _postgres.CrashRestartAsync();

        Assert.True(await _postgres.ScalarAsync<DateTime>("SELECT pg_postmaster_start_time()") > startedBefore);
        Assert.Equal(1L, await _postgres.ScalarAsync<long>($"SELECT count(*) FROM {table.Name}"));
    }

    [Fact]
    public async Task MariaDb_restarts_with_a_new_binlog_file_and_the_same_gtids()
    {
        await using var table = await _mariaDb.CreateTableAsync("id INT PRIMARY KEY", "restart_test");
        await _mariaDb.ExecuteAsync($"INSERT INTO {table.QualifiedName} VALUES (1)");
        var gtidBefore = await _mariaDb.ScalarAsync<string>("SELECT @@gtid_binlog_pos");
        var (fileBefore, _) = await _mariaDb.GetBinlogPositionAsync();

        await _mariaDb.RestartAsync();

        var (fileAfter, _) = await _mariaDb.GetBinlogPositionAsync();
        Assert.NotEqual(fileBefore, fileAfter);
        Assert.Equal(gtidBefore, await _mariaDb.ScalarAsync<string>("SELECT @@gtid_binlog_pos"));
        Assert.Equal(1L, await _mariaDb.ScalarAsync<long>($"SELECT COUNT(*) FROM {table.QualifiedName}"));
    }

    [Fact]
    public async Task MariaDb_recovers_from_a_crash()
    {
        await using var table = await _mariaDb.CreateTableAsync("id INT PRIMARY KEY", "crash_test");
        await _mariaDb.ExecuteAsync($"INSERT INTO {table.QualifiedName} VALUES (1)");
        var gtidBefore = await _mariaDb.ScalarAsync<string>("SELECT @@gtid_binlog_pos");

        await _mariaDb.CrashRestartAsync();

        Assert.Equal(1L, await _mariaDb.ScalarAsync<long>($"SELECT COUNT(*) FROM {table.QualifiedName}"));
        Assert.Equal(gtidBefore, await _mariaDb.ScalarAsync<string>("SELECT @@gtid_binlog_pos"));
    }
}
