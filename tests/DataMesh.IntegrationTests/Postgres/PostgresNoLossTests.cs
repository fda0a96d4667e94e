using System.Globalization;
using DataMesh.IntegrationTests.Conformance;
using DataMesh.IntegrationTests.Infrastructure;
using Npgsql;
using Xunit;
using Xunit.Abstractions;

namespace DataMesh.IntegrationTests.Postgres;

/// <summary>
/// No committed change is lost: every committed version of every key reaches the topic, in order, across kills of the
/// connector; and a heartbeat never moves the slot past a transaction that is still open.
/// </summary>
[Collection(ServerRestartCollection.Name)]
public sealed class PostgresNoLossTests(PostgresServer server, ITestOutputHelper output) : IClassFixture<PostgresServer>
{
    /// <summary>The conformance suite's kill scenario (<see cref="ConnectorConformanceTests"/>) at a larger volume.</summary>
    [Fact]
    public async Task Every_committed_version_of_every_key_arrives_in_order_across_20_kills()
    {
        await using var driver = new PostgresConformance(server);
        await driver.InitializeAsync();
        await using var harness = new ConformanceHarness(driver);
        await ConnectorConformanceTests.KillsLoseNothingAsync(
            driver, harness, new ConnectorConformanceTests.KillPlan { Changes = 200_000, Keys = 2_000, MaxBatch = 50, Pause = null, WriteAll = true }, output);
    }

    [Fact]
    public async Task A_heartbeat_never_moves_the_slot_past_an_open_transaction()
    {
        await using var cdc = await PgCdc.CreateAsync(server, """
            CREATE TABLE c (id int PRIMARY KEY, v text NOT NULL);
            CREATE TABLE other (id int PRIMARY KEY, pad text NOT NULL);
            """);
        await cdc.StartAsync(o => o.IncludeTables.Add("public.c"));

        await using var open = new NpgsqlConnection(cdc.ConnectionString);
        await open.OpenAsync();
        await using var transaction = await open.BeginTransactionAsync();
        await using (var insert = new NpgsqlCommand("INSERT INTO c VALUES (1, 'opened before the heartbeats')", open, transaction))
        {
            await insert.ExecuteNonQueryAsync();
        }

        var afterInsert = await cdc.ScalarAsync<string>("SELECT pg_current_wal_lsn()::text");

        // Traffic on an uncaptured table: the server's WAL moves on, the source is idle and sends heartbeats.
        for (var batch = 0; batch < 20; batch++)
        {
            await cdc.ExecuteAsync($"INSERT INTO other SELECT g, repeat('x', 100) FROM generate_series({batch * 1000}, {(batch * 1000) + 999}) g");
        }

        // Wait until the slot's confirmed position passed the open transaction's insert. A source that holds the slot
        // back while a transaction is open never gets there: that is fine too, the commit below must arrive either way.
        var passed = false;
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (DateTime.UtcNow < deadline)
        {
            passed = await cdc.ScalarAsync<bool?>($"SELECT confirmed_flush_lsn > '{afterInsert}'::pg_lsn FROM pg_replication_slots WHERE slot_name = '{cdc.Slot}'") == true;
            if (passed)
            {
                break;
            }

            await cdc.ExecuteAsync("INSERT INTO other VALUES (-1, 'tick') ON CONFLICT (id) DO UPDATE SET pad = other.pad || 'x'");
            await Task.Delay(200);
        }

        var confirmed = await cdc.ScalarAsync<string>($"SELECT confirmed_flush_lsn::text FROM pg_replication_slots WHERE slot_name = '{cdc.Slot}'");
        await EdgeRead.RestartAsync(cdc, o => o.IncludeTables.Add("public.c"), beforeStart: () => transaction.CommitAsync());

        var records = await EdgeRead.ReadOrFailAsync(
            cdc,
            cdc.Topic("c"),
            1,
            string.Create(CultureInfo.InvariantCulture, $"the transaction open during the heartbeats (insert at WAL {afterInsert}; the slot's confirmed position {(passed ? "passed it" : "stayed before it")}, {confirmed}), committed while the connector was stopped"));
        Assert.Equal("c", records[0].Op);
        Assert.Equal(1, records[0].After!["id"]);
        Assert.Equal("opened before the heartbeats", records[0].After!["v"]);
    }
}
