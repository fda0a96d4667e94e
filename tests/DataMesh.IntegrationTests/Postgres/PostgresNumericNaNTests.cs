using DataMesh.Connectors.Postgres;
using DataMesh.Events;
using DataMesh.IntegrationTests.Infrastructure;
using DataMesh.Sources;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using Xunit;

namespace DataMesh.IntegrationTests.Postgres;

/// <summary>numeric's NaN (and infinities) in key and non-key columns, from the log and from a snapshot, under both
/// settings of DataMesh:Events:DecimalHandling (docs/type-mapping.md).</summary>
public sealed class PostgresNumericNaNTests(PostgresServer server) : IClassFixture<PostgresServer>
{
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Under_Precise_a_NaN_key_stops_the_source_naming_table_column_and_setting(bool snapshot)
    {
        await using var cdc = await PgCdc.CreateAsync(server, "CREATE TABLE k (id numeric PRIMARY KEY, v int)");
        // From the log: the slot exists before the rows are written. From a snapshot: the rows are there before the slot.
        const string Rows = "INSERT INTO k VALUES (1.5, 1); INSERT INTO k VALUES ('NaN', 2)";
        if (snapshot)
        {
            await cdc.ExecuteAsync(Rows);
        }

        await cdc.ExecuteAsync($"SELECT pg_create_logical_replication_slot('{cdc.Slot}', 'pgoutput')");
        await cdc.ExecuteAsync("CREATE PUBLICATION datamesh_src FOR TABLE k");
        if (!snapshot)
        {
            await cdc.ExecuteAsync(Rows);
        }

        var services = new ServiceCollection();
        services.AddLogging();
        services.AddDataMesh();
        await using var provider = services.BuildServiceProvider();
        var options = new PostgresSourceOptions { ConnectionString = cdc.ConnectionString, SlotName = cdc.Slot, Snapshot = { Initial = snapshot ? InitialSnapshot.WhenNoPosition : InitialSnapshot.None } };
        await using var connector = new PostgresConnector(cdc.SourceName, options, NullLogger.Instance);
        var status = await SourceRunner.RunUntilStoppedOrRetryingAsync(cdc.SourceName, connector, options, provider);
        Assert.True(status.State == SourceState.Failed, $"{status.State}: {status.Message}");
        Assert.Contains("table public.k, column 'id'", status.Message, StringComparison.Ordinal);
        Assert.Contains("'NaN' has no Avro decimal form; set DataMesh:Events:DecimalHandling to String", status.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Under_String_NaN_and_infinities_in_keys_and_values_arrive_as_text(bool snapshot)
    {
        await using var cdc = await PgCdc.CreateAsync(server, "CREATE TABLE k (id numeric PRIMARY KEY, fixed numeric(8,2), a numeric[])");
        const string Insert = "INSERT INTO k VALUES ('NaN', 'NaN', '{NaN,Infinity,1.5}'), ('Infinity', -1.5, NULL), ('-Infinity', 'NaN', '{-Infinity}'), (2.50, NULL, '{}')";
        if (snapshot)
        {
            await cdc.ExecuteAsync(Insert);
        }

        await cdc.StartAsync(dataMesh: o => o.Events.DecimalHandling = DecimalHandling.String);
        if (!snapshot)
        {
            await cdc.ExecuteAsync(Insert);
        }

        await cdc.ExecuteAsync("UPDATE k SET fixed = 1 WHERE id = 'NaN'; DELETE FROM k WHERE id = 'Infinity'");
        var records = (await cdc.ReadAsync(cdc.Topic("k"), 7)).Where(r => r.Value is not null).ToList();
        var rows = records.Where(r => r.Op is "c" or "r").ToDictionary(r => (string)r.Key!["id"], r => r.After!);
        Assert.Equal(["-Infinity", "2.50", "Infinity", "NaN"], rows.Keys.Order(StringComparer.Ordinal));
        Assert.Equal(["NaN", "-1.50", "NaN", null], new[] { "NaN", "Infinity", "-Infinity", "2.50" }.Select(id => (string?)rows[id]["fixed"]));
        Assert.Equal("NaN|Infinity|1.5", string.Join('|', ((System.Collections.IEnumerable)rows["NaN"]["a"]).Cast<object>()));
        var update = Assert.Single(records, r => r.Op == "u");
        Assert.Equal("NaN", (string)update.Key!["id"]);
        Assert.Equal("1.00", (string)update.After!["fixed"]);
        var delete = Assert.Single(records, r => r.Op == "d");
        Assert.Equal("Infinity", (string)delete.Key!["id"]);
    }
}
