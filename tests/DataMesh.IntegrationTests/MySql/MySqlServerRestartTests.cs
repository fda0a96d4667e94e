using DataMesh.Connectors.MySql;
using DataMesh.Connectors.MySql.Protocol;
using DataMesh.IntegrationTests.Infrastructure;
using Xunit;

namespace DataMesh.IntegrationTests.MySql;

/// <summary>The connector survives MariaDB restarts (clean and crash) mid-stream: it reconnects with backoff from its last
/// transaction and every change is accounted for.</summary>
[Collection(ServerRestartCollection.Name)]
public sealed class MySqlServerRestartTests(MariaDbServer server) : IClassFixture<MariaDbServer>
{
    [Fact]
    public async Task Server_restarts_mid_stream_lose_no_change()
    {
        await using var cdc = await MySqlCdc.CreateAsync(server, "CREATE TABLE ticks (id INT PRIMARY KEY, at DATETIME(6) NOT NULL)");
        await cdc.StartAsync();
        await cdc.WaitForSavedPositionAsync();
        var next = 0;
        async Task WriteAsync(int count)
        {
            for (var i = 0; i < count; i++, next++)
            {
                await cdc.ExecuteAsync($"INSERT INTO ticks VALUES ({next}, NOW(6))");
            }
        }

        await WriteAsync(10);
        await server.RestartAsync();
        await WriteAsync(10);
        await server.CrashRestartAsync();
        await WriteAsync(10);

        // At least once: a restart may repeat changes (after a lost lease session the source resumes from its stored
        // position), so read until every id arrived rather than until as many records as changes did.
        var deadline = DateTime.UtcNow.AddSeconds(90);
        var records = await cdc.ReadAsync(cdc.Topic("ticks"), next, TimeSpan.FromSeconds(90));
        while (records.Select(r => (int)r.After!["id"]).Distinct().Count() < next && DateTime.UtcNow < deadline)
        {
            records = await cdc.ReadAsync(cdc.Topic("ticks"), records.Count + 1, deadline - DateTime.UtcNow);
        }

        Assert.Equal(Enumerable.Range(0, next), records.Select(r => (int)r.After!["id"]).Distinct().Order());
    }

    [Fact]
    public async Task A_purged_binlog_position_is_a_clear_error_asking_for_a_new_snapshot()
    {
        var builder = new MySqlConnector.MySqlConnectionStringBuilder(server.ConnectionString);
        var settings = new ReplicationConnectionSettings(builder.Server, (int)builder.Port, builder.UserID, builder.Password) { Tls = TlsMode.None };
        await using var connection = await ReplicationConnection.OpenAsync(settings, CancellationToken.None);
        await connection.QueryAsync("SET @master_binlog_checksum = @@global.binlog_checksum", CancellationToken.None);
        await connection.StartBinlogDumpAsync("mariadb-bin.999999", 4, 4_000_002, nonBlocking: true, CancellationToken.None);

        var error = await Assert.ThrowsAsync<MySqlReplicationException>(async () =>
        {
            while (!(await connection.ReadEventAsync(CancellationToken.None)).IsEmpty)
            {
            }
        });
        Assert.True(error.IsPositionPurged, error.Message);
        Assert.Equal(1236, error.ErrorCode);
        Assert.Contains("new snapshot is needed", error.Message, StringComparison.Ordinal);
    }
}
