using Avro.Generic;
using DataMesh.IntegrationTests.Infrastructure;
using Xunit;

namespace DataMesh.IntegrationTests.Postgres;

/// <summary>Arrays of every scalar type of docs/type-mapping.md: each element travels as a column of the element's type
/// does (the same Avro value), from the log and from a snapshot.</summary>
public sealed class PostgresArrayTypesTests(PostgresServer server) : IClassFixture<PostgresServer>
{
    /// <summary>Each element type with a value whose text needs the array's quoting where the type's text can (spaces,
    /// quotes, backslashes, commas, braces, box's ';' delimiter).</summary>
    private static readonly (string Type, string Value)[] Elements =
    [
        ("interval", "'1 year 2 mons 3 days 04:05:06.789'"), ("inet", "'192.168.0.1/24'"), ("cidr", "'10.0.0.0/8'"),
        ("macaddr", "'08:00:2b:01:02:03'"), ("numeric", "'-1234.5678'"), ("numeric(6,2)", "'1.50'"), ("money", "'-1234.56'"),
        ("timetz", "'12:34:56.789+05:30'"), ("bytea", @"'\x00ff5c227b'"), ("jsonb", """'{"a": [1, "x, \"y\" \\ {z}"]}'"""),
        ("json", """'{"a" : "b"}'"""), ("text", """'a "b", {c} \ d'"""), ("varchar(10)", "'x y'"), ("char(3)", "'ab'"),
        ("\"char\"", "'x'"), ("name", "'a b'"), ("uuid", "'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'"), ("boolean", "true"),
        ("bit(3)", "B'101'"), ("bit(1)", "B'1'"), ("varbit", "B'1101'"), ("date", "'2024-02-29'"), ("time", "'23:59:59.999999'"),
        ("timestamp", "'2026-11-26 10:30:15.123456'"), ("timestamptz", "'2026-11-26 10:30:15.5+02'"), ("smallint", "'-32768'"),
        ("integer", "2147483647"), ("bigint", "'-9223372036854775808'"), ("oid", "4294967295"), ("real", "1.5"),
        ("double precision", "'-0.25'"), ("xml", "'<a>x y</a>'"), ("point", "'(1.5,2)'"), ("box", "'(1,1),(0,0)'"),
        ("int4range", "'[1,10)'"), ("mood", "'happy'"), ("posint", "5"), ("pair", """ROW(1, 'x "y"')"""), ("tsvector", "'a:1 b'"),
        ("pg_lsn", "'0/16B3748'"),
    ];

    [Fact]
    public async Task Every_element_type_travels_in_an_array_as_its_column_does()
    {
        const string LowerBound = "'[0:1]={7,8}'";
        var columns = string.Join(", ", Elements.Select((e, i) => $"s{i} {e.Type}, a{i} {e.Type}[]"));
        var values = string.Join(", ", Elements.Select((e, i) => $"{e.Value}::{e.Type}, ARRAY[{e.Value}::{e.Type}, NULL, {e.Value}::{e.Type}]"));
        await using var cdc = await PgCdc.CreateAsync(server, $"""
            CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy');
            CREATE DOMAIN posint AS integer CHECK (VALUE > 0);
            CREATE TYPE pair AS (a int, b text);
            CREATE TABLE arr (id int PRIMARY KEY, {columns}, v2 int2vector, ov oidvector, lb int[]);
            INSERT INTO arr VALUES (1, {values}, '1 2 3', '23 25', {LowerBound});
            """);
        await cdc.StartAsync(o => o.IncludeTables.Add("public.arr"));
        await cdc.ExecuteAsync($"INSERT INTO arr VALUES (2, {values}, '1 2 3', '23 25', {LowerBound})");

        // Read with the logical types left out: Apache.Avro's conversions cannot hold every value.
        var records = await PostgresTypesTests.RawValuesAsync(cdc, "arr", 2);
        Assert.Equal(["r", "c"], records.Select(r => (string)r["op"]));
        foreach (var after in records.Select(r => (GenericRecord)r["after"]))
        {
            for (var i = 0; i < Elements.Length; i++)
            {
                var scalar = Show(after[$"s{i}"]);
                var array = (object?[])after[$"a{i}"];
                Assert.True(array.Select(Show).SequenceEqual([scalar, Show(null), scalar]), $"row {after["id"]}, {Elements[i].Type}[]: [{string.Join(", ", array.Select(Show))}], its column says {scalar}");
            }

            // Not arrays in their text form ("1 2 3"): they travel as that text.
            Assert.Equal("1 2 3", after["v2"]);
            Assert.Equal("23 25", after["ov"]);

            // An explicit lower bound is not kept: the elements travel from the first (documented).
            Assert.Equal([7, 8], ((object?[])after["lb"]).Cast<int>());
        }
    }

    [Fact]
    public async Task An_array_columns_dbtype_carries_its_elements_modifier_as_the_elements_column_does()
    {
        // The array column's atttypmod (in the catalog and in pgoutput's RELATION message) is its element's: numeric(6,2)[]
        // has the typmod of numeric(6,2). Its dm.dbtype said _numeric, the modifier lost.
        string[] types = ["numeric(6,2)", "varchar(10)", "char(3)", "bit(3)", "varbit(5)", "numeric", "integer", "mood", "posint"];
        var columns = string.Join(", ", types.Select((t, i) => $"s{i} {t}, a{i} {t}[]"));
        var values = string.Join(", ", types.Select((t, i) => $"NULL, ARRAY[NULL::{t}]"));
        await using var cdc = await PgCdc.CreateAsync(server, $"""
            CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy');
            CREATE DOMAIN posint AS integer CHECK (VALUE > 0);
            CREATE TABLE mods (id int PRIMARY KEY, {columns});
            INSERT INTO mods VALUES (1, {values});
            """);
        await cdc.StartAsync(o => o.IncludeTables.Add("public.mods"));
        await cdc.ExecuteAsync($"INSERT INTO mods VALUES (2, {values})");
        var records = await cdc.ReadAsync(cdc.Topic("mods"), 2);

        // The snapshot's description (from the catalog) and the log's (from the RELATION message) are one schema.
        Assert.Single(await cdc.Store.GetVersionsAsync(global::DataMesh.Events.TopicNames.ValueSubject(cdc.Topic("mods"))));
        var row = records[1].After!.Schema;
        for (var i = 0; i < types.Length; i++)
        {
            var scalar = row[$"s{i}"].GetProperty("dm.dbtype");
            Assert.Equal($"{scalar.Trim('"')}[]", row[$"a{i}"].GetProperty("dm.dbtype").Trim('"'));
        }

        Assert.Equal("\"numeric(6,2)\"", row["s0"].GetProperty("dm.dbtype"));

        // A table sink creates its table from the topic as before (from the Avro types, not dm.dbtype).
        await using var sinkDatabase = await server.CreateDatabaseAsync("sink");
        var sinkConnection = server.ConnectionStringFor(sinkDatabase.Name);
        await using var sink = new global::DataMesh.Connectors.Sinks.PostgresTableSink(new global::DataMesh.Connectors.Sinks.PostgresTableSinkOptions { ConnectionString = sinkConnection, Table = "mods_copy", SchemaEvolution = global::DataMesh.Connectors.Sinks.SchemaEvolution.CreateTable });
        var options = new global::DataMesh.Pipelines.PipelineOptions { Name = "mods-" + Guid.NewGuid().ToString("N")[..8], CommitInterval = TimeSpan.FromMilliseconds(200), Sink = sink };
        options.SourceTopics.Add(cdc.Topic("mods"));
        using var stop = new CancellationTokenSource();
        var run = new global::DataMesh.Pipelines.KafkaPipeline(options, cdc.Kafka, cdc.Store).RunAsync(stop.Token);
        await using var connection = new Npgsql.NpgsqlConnection(sinkConnection);
        await connection.OpenAsync();
        var deadline = DateTime.UtcNow.AddSeconds(60);
        long copied = 0;
        while (copied < 2 && DateTime.UtcNow < deadline && !run.IsCompleted)
        {
            await Task.Delay(200);
            await using var exists = new Npgsql.NpgsqlCommand("SELECT to_regclass('mods_copy') IS NOT NULL", connection);
            if (await exists.ExecuteScalarAsync() is true)
            {
                await using var count = new Npgsql.NpgsqlCommand("SELECT count(*) FROM mods_copy WHERE a0::text = '[null]'", connection);
                copied = (long)(await count.ExecuteScalarAsync())!;
            }
        }

        await stop.CancelAsync();
        await run;
        Assert.Equal(2, copied);
    }

    private static string Show(object? value) => value switch
    {
        GenericRecord record => record.ToString(),
        _ => CdcRecord.Canonical(value) + ":" + value?.GetType().Name,
    };
}
