using DataMesh.Connectors.MySql;
using DataMesh.Connectors.MySql.Binlog;
using DataMesh.IntegrationTests.Infrastructure;
using MySqlConnector;
using Xunit;

namespace DataMesh.IntegrationTests.MySql;

/// <summary>
/// XA transactions on MariaDB 10.11: the server writes a prepared transaction's rows to the binlog at XA PREPARE and its
/// outcome later, in an event group of its own. Rows arrive at the XA COMMIT, never after an XA ROLLBACK, and a restart
/// in between still delivers them. Each test prepares its own XID (XIDs are server-wide) from a connection it then
/// closes, as a transaction manager may, and resolves it from another.
/// </summary>
public sealed class MySqlXaTests(MariaDbServer server) : IClassFixture<MariaDbServer>
{
    [Fact]
    public async Task A_prepared_XA_transaction_that_is_rolled_back_produces_no_event()
    {
        await using var xa = await StartAsync();
        var (cdc, xid) = (xa.Cdc!, xa.Xid);

        await PrepareAsync(cdc, xid, "INSERT INTO t VALUES (1, 1)");
        await cdc.ExecuteAsync("INSERT INTO t VALUES (2, 2)");
        await cdc.ExecuteAsync($"XA ROLLBACK '{xid}'");
        await cdc.ExecuteAsync("INSERT INTO t VALUES (3, 3)");

        var records = await cdc.ReadAsync(cdc.Topic("t"), 3, TimeSpan.FromSeconds(15));
        Assert.Equal([2, 3], records.Select(r => (int)r.After!["id"]));
    }

    [Fact]
    public async Task A_prepared_XA_transaction_that_commits_arrives_once_in_its_commits_place_with_the_commits_GTID()
    {
        await using var xa = await StartAsync();
        var (cdc, xid) = (xa.Cdc!, xa.Xid);

        await cdc.ExecuteAsync("INSERT INTO t VALUES (1, 1)");
        var prepared = MariaDbGtid.Parse(await PrepareAsync(cdc, xid, "INSERT INTO t VALUES (2, 2); UPDATE t SET v = 10 WHERE id = 1"));
        await cdc.ExecuteAsync("INSERT INTO t VALUES (3, 3)");
        await cdc.ExecuteAsync($"XA COMMIT '{xid}'");
        await cdc.ExecuteAsync("INSERT INTO t VALUES (4, 4)");
        var one = NewXid();
        await cdc.ExecuteAsync($"XA START '{one}'; INSERT INTO t VALUES (5, 5); XA END '{one}'; XA COMMIT '{one}' ONE PHASE");

        var records = await cdc.ReadAsync(cdc.Topic("t"), 7, TimeSpan.FromSeconds(15));
        Assert.Equal(["c1", "c3", "c2", "u1", "c4", "c5"], records.Select(r => $"{r.Op}{r.After!["id"]}"));
        Assert.Equal(10, records[3].After!["v"]);
        // The XA COMMIT's own GTID (between the transactions of rows 3 and 4; other tests' may come between), not the PREPARE's.
        var txIds = records.Select(r => (long)r.Source["txId"]).ToList();
        Assert.True(txIds[1] < txIds[2] && txIds[2] < txIds[4], $"txIds {string.Join(",", txIds)}");
        Assert.True(txIds[2] > (long)prepared.Sequence, $"txIds {string.Join(",", txIds)}, the PREPARE is {prepared}");
        Assert.Equal(txIds[2], txIds[3]);
        Assert.Equal(records[2].Source["gtid"], records[3].Source["gtid"]);
        Assert.Equal(records[2].Source["pos"], records[3].Source["pos"]);
        Assert.Equal([0L, 1L], new[] { (long)records[2].Source["row"], (long)records[3].Source["row"] });
    }

    [Fact]
    public async Task A_restart_between_XA_PREPARE_and_XA_COMMIT_still_delivers_the_rows()
    {
        await using var xa = await StartAsync();
        var (cdc, xid) = (xa.Cdc!, xa.Xid);

        await cdc.ExecuteAsync("INSERT INTO t VALUES (1, 1)");
        var prepared = await PrepareAsync(cdc, xid, "INSERT INTO t VALUES (2, 2)");
        var (file, afterPrepare) = await server.GetBinlogPositionAsync();
        await cdc.ExecuteAsync("INSERT INTO t VALUES (3, 3)");
        await cdc.ReadAsync(cdc.Topic("t"), 2, TimeSpan.FromSeconds(30));
        await Task.Delay(500); // positions are saved every 100 ms
        await cdc.StopAsync();

        // The stored position does not pass the PREPARE, by GTID (a resume by GTID starts after the stored one) nor by file and position.
        var stored = MySqlPosition.FromJson(await cdc.WaitForSavedPositionAsync());
        var storedGtid = MariaDbGtidPosition.Parse(stored.Gtid).Gtids.Single(g => g.Domain == 0);
        Assert.True(storedGtid.Sequence < MariaDbGtid.Parse(prepared).Sequence, $"stored {stored}, the XA PREPARE is {prepared}");
        Assert.False(stored.IsAtOrAfter(file, afterPrepare), $"stored {stored}, the XA PREPARE ends before {file}:{afterPrepare}");

        await cdc.ExecuteAsync($"XA COMMIT '{xid}'");
        await cdc.ExecuteAsync("INSERT INTO t VALUES (4, 4)");
        await cdc.StartAsync();

        var records = await cdc.ReadAsync(cdc.Topic("t"), 5, TimeSpan.FromSeconds(30));
        var ids = records.Select(r => (int)r.After!["id"]).ToList();
        // At least once: row 3 may come again after the restart, the XA row once, after row 3 and before row 4.
        Assert.Equal(1, ids.Count(id => id == 2));
        Assert.True(ids.IndexOf(2) > ids.IndexOf(3) && ids.IndexOf(2) < ids.IndexOf(4), $"ids {string.Join(",", ids)}");
        Assert.Equal([1, 2, 3, 4], ids.Distinct().Order());
    }

    /// <summary>A server-wide unique XID.</summary>
    internal static string NewXid() => "dm-" + Guid.NewGuid().ToString("N");

    /// <summary>Runs <paramref name="sql"/> in XA transaction <paramref name="xid"/>, prepares it and disconnects (a pooled
    /// session kept alive would keep the prepared transaction attached to it), then waits until the server has ended that
    /// session; returns the PREPARE's GTID.</summary>
    /// <remarks>Closing a connection only sends COM_QUIT: the server ends the session later, on its own thread. Until then
    /// the prepared transaction is still attached to it, and an XA COMMIT or XA ROLLBACK from another connection fails
    /// with XAER_NOTA (Unknown XID) — under load, even after another statement ran in between. The server detaches it
    /// before it removes the session from its thread list (<c>unlink_thd</c>: <c>THD::cleanup</c>, then the erase), so a
    /// session gone from <c>information_schema.PROCESSLIST</c> has let go of its XID.</remarks>
    internal static async Task<string> PrepareAsync(string connectionString, string xid, string sql)
    {
        var unpooled = new MySqlConnectionStringBuilder(connectionString) { Pooling = false }.ConnectionString;
        string gtid;
        long session;
        await using (var connection = await MariaDbServer.OpenConnectionAsync(unpooled))
        {
            session = await MariaDbServer.ScalarAsync<long>(connection, $"XA START '{xid}'; {sql}; XA END '{xid}'; XA PREPARE '{xid}'; SELECT CAST(CONNECTION_ID() AS SIGNED)");
            gtid = await MariaDbServer.ScalarAsync<string>(connection, "SELECT @@last_gtid");
        }

        await using var other = await MariaDbServer.OpenConnectionAsync(connectionString);
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        while (await MariaDbServer.ScalarAsync<long>(other, $"SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE ID = {session}") > 0)
        {
            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"the session {session} that prepared XA transaction '{xid}' was still open on the server 30 s after it disconnected");
            }

            await Task.Delay(10);
        }

        return gtid;
    }

    private Task<string> PrepareAsync(MySqlCdc cdc, string xid, string sql) => PrepareAsync(server.ConnectionStringFor(cdc.Database), xid, sql);

    /// <summary>A source on table <c>t (id, v)</c>, streaming, and an XID for the test.</summary>
    private async Task<UnresolvedXa> StartAsync()
    {
        var cdc = await MySqlCdc.CreateAsync(server, "CREATE TABLE t (id INT PRIMARY KEY, v INT NOT NULL)");
        await cdc.StartAsync();
        await cdc.WaitForSavedPositionAsync();
        return new UnresolvedXa(server, NewXid(), cdc);
    }

    /// <summary>An XID for a test. Disposing rolls back the XA transaction if the test left it prepared (a failed
    /// assertion), so that dropping its database does not wait on its locks and block the tests after it, then disposes
    /// <paramref name="cdc"/>.</summary>
    internal sealed class UnresolvedXa(MariaDbServer server, string xid, MySqlCdc? cdc = null) : IAsyncDisposable
    {
        public string Xid => xid;

        public MySqlCdc? Cdc => cdc;

        public async ValueTask DisposeAsync()
        {
            try
            {
                await server.ExecuteAsync($"XA ROLLBACK '{xid}'");
            }
            catch (MySqlException)
            {
                // Committed or rolled back by the test (XAER_NOTA).
            }

            if (cdc is not null)
            {
                await cdc.DisposeAsync();
            }
        }
    }
}
