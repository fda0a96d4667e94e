using DataMesh.Events;
using DataMesh.IntegrationTests.Infrastructure;
using Xunit;

namespace DataMesh.IntegrationTests.MySql;

/// <summary>TRUNCATE TABLE, which MariaDB logs as a statement even with binlog_format=ROW, as truncate events.</summary>
public sealed class MySqlTruncateTests(MariaDbServer server) : IClassFixture<MariaDbServer>
{
    [Fact]
    public async Task Truncate_emits_a_truncate_event_in_commit_order_and_keeps_the_schema()
    {
        await using var other = await server.CreateDatabaseAsync("myother");
        await using var cdc = await MySqlCdc.CreateAsync(server, "CREATE TABLE orders (id INT PRIMARY KEY, item VARCHAR(20)); CREATE TABLE parts (id INT PRIMARY KEY)");
        await server.ExecuteAsync($"CREATE TABLE `{other.Name}`.orders (id INT PRIMARY KEY)");
        await cdc.StartAsync();
        await cdc.WaitForSavedPositionAsync();

        await cdc.ExecuteAsync("INSERT INTO orders VALUES (1, 'a'), (2, 'b'); INSERT INTO parts VALUES (1)");
        await cdc.ExecuteAsync("TRUNCATE TABLE orders");
        await cdc.ExecuteAsync("INSERT INTO orders VALUES (3, 'c')");
        // Qualified and quoted, from the source's database; then the same table name in a database that is not captured.
        await cdc.ExecuteAsync($"TRUNCATE `{cdc.Database}`.`orders`");
        await cdc.ExecuteAsync($"TRUNCATE TABLE `{other.Name}`.orders");
        await cdc.ExecuteAsync("INSERT INTO orders VALUES (4, 'd')");
        // A truncate changes no schema: the history continues with the DDL after it.
        await cdc.ExecuteAsync("ALTER TABLE orders ADD COLUMN note VARCHAR(10)");
        await cdc.ExecuteAsync("INSERT INTO orders VALUES (5, 'e', 'n5')");

        var records = await cdc.ReadAsync(cdc.Topic("orders"), 7);
        Assert.Equal(["c", "c", "t", "c", "t", "c", "c"], records.Select(r => r.Op));
        Assert.Equal([1, 2, null, 3, null, 4, 5], records.Select(r => (int?)r.After?["id"]));
        foreach (var truncate in records.Where(r => r.Op == "t"))
        {
            Assert.Null(truncate.Key);
            Assert.Null(truncate.Before);
            Assert.Null(truncate.After);
            Assert.Equal(cdc.Database, truncate.Source["db"]);
            Assert.Equal("orders", truncate.Source["table"]);
            Assert.NotNull(truncate.Source["gtid"]);
            Assert.Equal(0L, truncate.Source["row"]);
        }

        // Each truncate has a transaction (GTID) of its own, between those of the rows around it.
        var txIds = records.Select(r => (long)r.Source["txId"]!).ToList();
        Assert.True(txIds[1] < txIds[2] && txIds[2] < txIds[3] && txIds[3] < txIds[4] && txIds[4] < txIds[5], string.Join(",", txIds));
        Assert.True((long)records[2].Source["pos"] < (long)records[3].Source["pos"]);
        Assert.Equal("n5", records[6].After!["note"]);
        var parts = await cdc.ReadAsync(cdc.Topic("parts"), 1);
        Assert.Equal("c", Assert.Single(parts).Op);

        // A restart rebuilds the schema from the history (the truncates left no record there) and goes on.
        await cdc.StopAsync();
        await cdc.ExecuteAsync("TRUNCATE orders");
        await cdc.ExecuteAsync("INSERT INTO orders VALUES (6, 'f', 'n6')");
        await cdc.StartAsync();
        records = await cdc.ReadAsync(cdc.Topic("orders"), 9);
        Assert.Equal(["t", "c"], records.Skip(7).Select(r => r.Op));
        Assert.Equal("n6", records[8].After!["note"]);
    }

    [Fact]
    public async Task With_EmitTruncates_off_a_truncate_is_not_emitted_and_the_stream_goes_on()
    {
        await using var cdc = await MySqlCdc.CreateAsync(server, "CREATE TABLE items (id INT PRIMARY KEY)");
        await cdc.StartAsync(o => o.Events = new ChangeEventOptions { EmitTruncates = false });
        await cdc.WaitForSavedPositionAsync();

        await cdc.ExecuteAsync("INSERT INTO items VALUES (1)");
        await cdc.ExecuteAsync("TRUNCATE TABLE items");
        await cdc.ExecuteAsync("INSERT INTO items VALUES (2)");

        // Commit order: a truncate event would sit between the two creates.
        var records = await cdc.ReadAsync(cdc.Topic("items"), 2);
        Assert.Equal(["c", "c"], records.Select(r => r.Op));
        Assert.Equal([1, 2], records.Select(r => (int)r.After!["id"]));
    }
}
