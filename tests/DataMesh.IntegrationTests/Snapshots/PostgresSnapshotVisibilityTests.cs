using System.Globalization;
using DataMesh.IntegrationTests.Infrastructure;
using Npgsql;
using Xunit;
using Xunit.Abstractions;

namespace DataMesh.IntegrationTests.Snapshots;

/// <summary>
/// PostgreSQL writes a commit to the WAL (and logical decoding sends it) before the transaction leaves the process array,
/// when it becomes visible to new snapshots; with synchronous replication it waits for the standby in between, for as
/// long as the standby takes. A snapshot's read in that gap does not see a change the log already delivered (before the
/// chunk's low watermark, a watermark row or a read-only one): its chunk must wait, not emit the older row after the newer
/// change.
/// </summary>
/// <remarks>Changes the server's <c>synchronous_standby_names</c> (to a standby that never comes) and
/// <c>synchronous_commit</c> (to <c>local</c>, so that no other session waits), so it runs alone.</remarks>
[Collection(ServerRestartCollection.Name)]
public sealed class PostgresSnapshotVisibilityTests(PostgresServer server, ITestOutputHelper output) : IClassFixture<PostgresServer>
{
    [Theory]
    [InlineData(SnapshotWatermarks.Table)]
    [InlineData(SnapshotWatermarks.ReadOnly)]
    public async Task A_change_the_log_delivered_while_its_commit_waits_for_a_synchronous_standby_holds_the_chunk_until_it_is_visible(SnapshotWatermarks watermarks)
    {
        var table = WrittenTable.ById;
        await using var db = await PostgresSnapshotDatabase.CreateAsync(server);
        await db.ExecuteAsync(table.CreateSql(db, 1000));
        await db.StartAsync(o =>
        {
            o.Snapshot.Initial = InitialSnapshot.None;
            o.Snapshot.Watermarks = watermarks;
        });
        Task<int>? waiting = null;
        try
        {
            await SetAsync("synchronous_commit", "local");
            await SetAsync("synchronous_standby_names", "datamesh_absent_standby");

            // Committed in the WAL and streamed, but waiting for the standby: not visible to any snapshot yet. (The server
            // begins to wait for standbys when its checkpointer has read the setting: until then an update just commits.)
            var v = 5L;
            for (var attempt = 1; waiting is null; attempt++)
            {
                Assert.True(attempt <= 20, "commits did not wait for the synchronous standby");
                var update = Task.Run(async () =>
                {
                    await using var connection = new NpgsqlConnection(db.Cdc.ConnectionString);
                    await connection.OpenAsync();
                    await using var command = new NpgsqlCommand($"SET synchronous_commit = on; UPDATE t SET v = {1000 + attempt}, note = 'late' WHERE id = 5", connection) { CommandTimeout = 120 };
                    return await command.ExecuteNonQueryAsync();
                });
                if (await Task.WhenAny(update, Task.Delay(500)) == update)
                {
                    await update;
                    v = 1000 + attempt;
                }
                else
                {
                    waiting = update;
                }
            }

            await SnapshotTestKit.ReadAllAsync(db, "t", partitions: 1, until: r => r.Any(x => x.Op == "u" && Convert.ToInt64(x.Key!["id"], CultureInfo.InvariantCulture) == 5 && (long)x.After!["v"] > v));
            Assert.Equal(v, await db.ScalarAsync<long>("SELECT v FROM t WHERE id = 5"));
            Assert.False(waiting.IsCompleted);

            // The snapshot's read could not see it: no chunk may be emitted meanwhile.
            db.Snapshots.Request(["public.t"]);
            await AssertHeldUntilVisibleAsync(db, table, waiting);
        }
        finally
        {
            await RestoreAsync(waiting);
        }
    }

    /// <summary>Puts the server's settings back and lets the waiting change's commit end.</summary>
    private async Task RestoreAsync(Task<int>? waiting)
    {
        await ResetAsync("synchronous_standby_names");
        await ResetAsync("synchronous_commit");
        if (waiting is not null)
        {
            await waiting.WaitAsync(TimeSpan.FromSeconds(30));
        }
    }

    private Task SetAsync(string setting, string value) => ApplyAsync($"ALTER SYSTEM SET {setting} = '{value}'", setting, value);

    private Task ResetAsync(string setting) => ApplyAsync($"ALTER SYSTEM RESET {setting}", setting, null);

    /// <summary>
    /// A snapshot lists as running only transactions below its xmax (one past the newest that ended). Here a change's
    /// transaction gets its id after the low watermark row's (whose write a trigger holds), commits in the log before it
    /// and waits for the standby; no transaction numbered after it ends. A look at "what was running after the
    /// watermark's commit" that trusted the snapshot's list alone would not see it and read the chunk without its change.
    /// </summary>
    [Fact]
    public async Task A_change_numbered_after_the_low_watermark_but_committed_before_it_holds_the_chunk_until_it_is_visible()
    {
        var table = WrittenTable.ById;
        await using var db = await PostgresSnapshotDatabase.CreateAsync(server);
        await db.ExecuteAsync(table.CreateSql(db, 1000));
        await db.StartAsync(o => o.Snapshot.Initial = InitialSnapshot.None);
        await WaitForAsync(async () => await db.ScalarAsync<bool>("SELECT to_regclass('public.datamesh_watermarks') IS NOT NULL"), "the watermark table was not created");
        // The watermark row's write waits, after it has its transaction id, for an advisory lock the test holds.
        await db.ExecuteAsync("""
            CREATE FUNCTION hold_watermark() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN PERFORM pg_advisory_xact_lock(4242); RETURN NEW; END $$;
            CREATE TRIGGER hold_watermark AFTER INSERT OR UPDATE ON datamesh_watermarks FOR EACH ROW EXECUTE FUNCTION hold_watermark();
            """);
        Task<int>? change = null;
        await using var holder = new NpgsqlConnection(db.Cdc.ConnectionString);
        await holder.OpenAsync();
        try
        {
            await SetAsync("synchronous_commit", "local");
            await SetAsync("synchronous_standby_names", "datamesh_absent_standby");
            await WaitForSynchronousCommitsAsync(db);

            await using (var hold = new NpgsqlCommand("SELECT pg_advisory_lock(4242)", holder))
            {
                await hold.ExecuteNonQueryAsync();
            }

            db.Snapshots.Request(["public.t"]);
            await WaitForAsync(
                async () => await db.ScalarAsync<long>($"SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND application_name = 'datamesh-{db.SourceName}-snapshot' AND wait_event_type = 'Lock' AND wait_event = 'advisory'") == 1,
                "the low watermark's write did not wait for the advisory lock");

            // Numbered after the watermark's transaction, committed (and streamed) before it, not yet visible.
            change = Task.Run(async () =>
            {
                await using var connection = new NpgsqlConnection(db.Cdc.ConnectionString);
                await connection.OpenAsync();
                await using var command = new NpgsqlCommand("SET synchronous_commit = on; UPDATE t SET v = 2000, note = 'late' WHERE id = 5", connection) { CommandTimeout = 120 };
                return await command.ExecuteNonQueryAsync();
            });
            await SnapshotTestKit.ReadAllAsync(db, "t", partitions: 1, until: r => r.Any(x => x.Op == "u" && (long)x.After!["v"] == 2000));
            Assert.False(change.IsCompleted);

            await using (var release = new NpgsqlCommand("SELECT pg_advisory_unlock(4242)", holder))
            {
                await release.ExecuteNonQueryAsync();
            }

            await AssertHeldUntilVisibleAsync(db, table, change);
        }
        finally
        {
            await RestoreAsync(change);
        }
    }

    /// <summary>A transaction that holds an id and stays open (idle in transaction) is running at every low watermark's
    /// look; the chunks then wait for the log's delivered transactions instead, which never include it, and go on.</summary>
    [Fact]
    public async Task A_transaction_left_open_does_not_hold_a_snapshot()
    {
        var table = WrittenTable.ById;
        await using var db = await PostgresSnapshotDatabase.CreateAsync(server);
        await db.ExecuteAsync(table.CreateSql(db, 5000));
        await db.ExecuteAsync("CREATE TABLE other (id int PRIMARY KEY, v int); INSERT INTO other VALUES (1, 0)");
        await db.StartAsync(o =>
        {
            o.Snapshot.Initial = InitialSnapshot.None;
            o.Snapshot.ChunkSize = 1000;
        });
        await using var open = new NpgsqlConnection(db.Cdc.ConnectionString);
        await open.OpenAsync();
        await using (var begin = new NpgsqlCommand("BEGIN; UPDATE other SET v = 1 WHERE id = 1", open))
        {
            await begin.ExecuteNonQueryAsync();
        }

        var started = DateTime.UtcNow;
        db.Snapshots.Request(["public.t"]);
        await SnapshotTestKit.WaitIdleAsync(db, TimeSpan.FromSeconds(60));
        var took = DateTime.UtcNow - started;
        var compared = await SnapshotTestKit.AssertTopicEqualsTableAsync(db, table, TableTopic.Of(db, "t", 1));
        Assert.Equal(5000, compared.Reads);
        Assert.True(took < TimeSpan.FromSeconds(20), $"the snapshot of 5,000 rows took {took.TotalSeconds:F1} s with a transaction left open");
        output.WriteLine($"{took.TotalMilliseconds:F0} ms");
    }

    /// <summary>The snapshot's read could not see the waiting change: no chunk may be emitted meanwhile. Then the standby
    /// requirement goes: the commit completes, becomes visible, and the snapshot finishes exactly.</summary>
    private async Task AssertHeldUntilVisibleAsync(PostgresSnapshotDatabase db, WrittenTable table, Task<int> waiting)
    {
        await Task.Delay(TimeSpan.FromSeconds(3));
        var early = await SnapshotTestKit.ReadAllAsync(db, "t", partitions: 1);
        Assert.True(early.All(r => r.Op != "r"), $"{early.Count(r => r.Op == "r")} snapshot rows emitted while the change was not visible; row 5: " +
            string.Join(" | ", early.Where(r => Convert.ToInt64(r.Key!["id"], CultureInfo.InvariantCulture) == 5).Select(r => $"{r.Op} v={r.After?["v"]}")));
        Assert.False(db.Snapshots.IsIdle);

        await ResetAsync("synchronous_standby_names");
        Assert.Equal(1, await waiting);
        await SnapshotTestKit.WaitIdleAsync(db, TimeSpan.FromSeconds(60));
        var compared = await SnapshotTestKit.AssertTopicEqualsTableAsync(db, table, TableTopic.Of(db, "t", 1));
        output.WriteLine($"{compared.Reads} snapshot rows");
        Assert.Equal(1000, compared.Reads);
    }

    private static async Task WaitForAsync(Func<Task<bool>> condition, string what)
    {
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (!await condition())
        {
            Assert.True(DateTime.UtcNow < deadline, what);
            await Task.Delay(50);
        }
    }

    /// <summary>Waits until a commit waits for the (absent) synchronous standby: the server applies the setting when its
    /// checkpointer has read it. A probe's commit that waits (seen in pg_stat_activity as SyncRep) is cancelled, which
    /// ends the wait (its commit stays), so that no probe is left running.</summary>
    private static async Task WaitForSynchronousCommitsAsync(PostgresSnapshotDatabase db)
    {
        for (var attempt = 1; ; attempt++)
        {
            Assert.True(attempt <= 20, "commits did not wait for the synchronous standby");
            await using var connection = new NpgsqlConnection(db.Cdc.ConnectionString);
            await connection.OpenAsync();
            var pid = connection.ProcessID;
            var probe = Task.Run(async () =>
            {
                await using var command = new NpgsqlCommand($"SET synchronous_commit = on; UPDATE t SET note = 'probe {attempt}' WHERE id = 7", connection) { CommandTimeout = 120 };
                return await command.ExecuteNonQueryAsync();
            });
            var deadline = DateTime.UtcNow.AddSeconds(30);
            while (!probe.IsCompleted)
            {
                if (await db.ScalarAsync<long>($"SELECT count(*) FROM pg_stat_activity WHERE pid = {pid} AND wait_event = 'SyncRep'") == 1)
                {
                    await db.ExecuteAsync($"SELECT pg_cancel_backend({pid})");
                    await probe; // PostgreSQL warns that the transaction committed locally, and returns
                    return;
                }

                Assert.True(DateTime.UtcNow < deadline, "the probe's commit neither ended nor waited for the standby");
                await Task.Delay(20);
            }

            await probe; // committed without waiting: the setting is not applied yet
            await Task.Delay(100);
        }
    }

    /// <summary>Changes a setting of the server and waits until new sessions have it.</summary>
    private async Task ApplyAsync(string sql, string setting, string? value)
    {
        await server.ExecuteAsync(sql);
        await server.ExecuteAsync("SELECT pg_reload_conf()");
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (true)
        {
            var now = await server.ScalarAsync<string>($"SELECT current_setting('{setting}')");
            if (value is null ? now != "datamesh_absent_standby" && now != "local" : now == value)
            {
                return;
            }

            Assert.True(DateTime.UtcNow < deadline, $"{setting} is still '{now}'");
            await Task.Delay(50);
        }
    }
}
