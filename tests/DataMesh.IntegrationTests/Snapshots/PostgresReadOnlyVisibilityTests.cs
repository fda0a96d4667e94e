using System.Globalization;
using DataMesh.IntegrationTests.Infrastructure;
using DataMesh.IntegrationTests.Postgres;
using Npgsql;
using Xunit;
using Xunit.Abstractions;

namespace DataMesh.IntegrationTests.Snapshots;

/// <summary>
/// PostgreSQL writes a commit to the WAL (and logical decoding sends it) before the transaction leaves the process array,
/// when it becomes visible to new snapshots; with synchronous replication it waits for the standby in between, for as
/// long as the standby takes. A read-only snapshot's read in that gap does not see a change the log already delivered:
/// its chunk must wait, not emit the older row after the newer change.
/// </summary>
/// <remarks>Changes the server's <c>synchronous_standby_names</c> (to a standby that never comes) and
/// <c>synchronous_commit</c> (to <c>local</c>, so that no other session waits), so it runs alone.</remarks>
[Collection(ServerRestartCollection.Name)]
public sealed class PostgresReadOnlyVisibilityTests(PostgresServer server, ITestOutputHelper output) : IClassFixture<PostgresServer>
{
    [Fact]
    public async Task A_change_the_log_delivered_while_its_commit_waits_for_a_synchronous_standby_holds_the_chunk_until_it_is_visible()
    {
        await using var cdc = await PgCdc.CreateAsync(server, $"CREATE TABLE t ({SnapshotTestKit.TableColumns}); INSERT INTO t SELECT g, g, 'n' || g FROM generate_series(1, 1000) g");
        await cdc.StartAsync(o =>
        {
            o.Snapshot.Initial = InitialSnapshot.None;
            o.Snapshot.Watermarks = SnapshotWatermarks.ReadOnly;
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
                    await using var connection = new NpgsqlConnection(cdc.ConnectionString);
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

            await SnapshotTestKit.ReadAllAsync(cdc, "t", partitions: 1, until: r => r.Any(x => x.Op == "u" && Convert.ToInt64(x.Key!["id"], CultureInfo.InvariantCulture) == 5 && (long)x.After!["v"] > v));
            Assert.Equal(v, await cdc.ScalarAsync<long>("SELECT v FROM t WHERE id = 5"));
            Assert.False(waiting.IsCompleted);

            // The snapshot's read could not see it: no chunk may be emitted meanwhile.
            SnapshotTestKit.Snapshots(cdc).Request(["public.t"]);
            await Task.Delay(TimeSpan.FromSeconds(3));
            var early = await SnapshotTestKit.ReadAllAsync(cdc, "t", partitions: 1);
            Assert.True(early.All(r => r.Op != "r"), $"{early.Count(r => r.Op == "r")} snapshot rows emitted while the change was not visible; row 5: " +
                string.Join(" | ", early.Where(r => Convert.ToInt64(r.Key!["id"], CultureInfo.InvariantCulture) == 5).Select(r => $"{r.Op} v={r.After?["v"]}")));
            Assert.False(SnapshotTestKit.Snapshots(cdc).IsIdle);

            // The standby requirement goes: the commit completes, becomes visible, and the snapshot finishes exactly.
            await ResetAsync("synchronous_standby_names");
            Assert.Equal(1, await waiting);
            await SnapshotTestKit.WaitIdleAsync(cdc, TimeSpan.FromSeconds(60));
            var reads = await SnapshotTestKit.AssertTopicEqualsTableAsync(cdc.ConnectionString, await SnapshotTestKit.ReadToMarkerAsync(cdc.Kafka, cdc.Store, cdc.Topic("t"), 1, cdc.ConnectionString));
            output.WriteLine($"{reads} snapshot rows");
            Assert.Equal(1000, reads);
        }
        finally
        {
            await ResetAsync("synchronous_standby_names");
            await ResetAsync("synchronous_commit");
            if (waiting is not null)
            {
                await waiting.WaitAsync(TimeSpan.FromSeconds(30));
            }
        }
    }

    private Task SetAsync(string setting, string value) => ApplyAsync($"ALTER SYSTEM SET {setting} = '{value}'", setting, value);

    private Task ResetAsync(string setting) => ApplyAsync($"ALTER SYSTEM RESET {setting}", setting, null);

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
