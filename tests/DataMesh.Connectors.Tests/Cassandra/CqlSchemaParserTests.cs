using DataMesh.Connectors.Cassandra.Schema;
using Xunit;

namespace DataMesh.Tests.Cassandra;

/// <summary>Table schemas from the CQL statements that <c>DESCRIBE TABLE … WITH INTERNALS</c> prints: every CQL type,
/// keys, clustering order, CDC, ids, user types and dropped columns; errors that name the statement and the offset.</summary>
public sealed class CqlSchemaParserTests
{
    private const string Everything = """
        CREATE TYPE shop.address (street text, zip int);
        CREATE TABLE IF NOT EXISTS shop."Orders" (
            region text, id int, line int, -- the key
            c_ascii ascii, c_bigint bigint, c_blob blob, c_boolean boolean, c_date date, c_decimal decimal,
            c_double double, c_duration duration, c_float float, c_inet inet, c_int int, c_smallint smallint, c_text text,
            c_time time, c_timestamp timestamp, c_timeuuid timeuuid, c_tinyint tinyint, c_uuid uuid, c_varchar varchar,
            c_varint varint, c_list list<int>, c_set set<text>, c_map map<text, frozen<list<int>>>, c_tuple tuple<int, text>,
            c_udt address, c_frozen_udt frozen<address>, total bigint static,
            PRIMARY KEY ((region, id), line)
        ) WITH CLUSTERING ORDER BY (line DESC)
            AND id = 5a1c395e-b41f-11e5-9f22-ba0be0483c18
            AND cdc = true
            AND compaction = {'class': 'org.apache.cassandra.db.compaction.SizeTieredCompactionStrategy', 'max_threshold': '32'}
            AND bloom_filter_fp_chance = 0.01 AND comment = 'it''s ours' AND gc_grace_seconds = 864000;
        """;

    [Fact]
    public void A_create_table_with_every_type_gives_the_key_clustering_static_and_regular_columns_in_order()
    {
        var table = Assert.Single(CqlSchemaParser.Parse([Everything]));

        Assert.Equal(Guid.Parse("5a1c395e-b41f-11e5-9f22-ba0be0483c18"), table.Table.Id);
        Assert.Equal("shop.Orders", table.Table.QualifiedName);
        Assert.True(table.Cdc);
        Assert.Equal([true], table.Descending);
        Assert.Equal(["region", "id"], table.Table.PartitionKey.Select(c => c.Name));
        Assert.Equal(["line"], table.Table.Clustering.Select(c => c.Name));
        Assert.Equal(CassandraColumnKind.Static, table.Table.Columns.Single(c => c.Name == "total").Kind);
        Assert.Equal(30, table.Table.Columns.Count);
        Assert.True(table.Table.Columns.Single(c => c.Name == "c_udt").Type.IsMultiCell);
        Assert.False(table.Table.Columns.Single(c => c.Name == "c_frozen_udt").Type.IsMultiCell);
        Assert.Equal(["street", "zip"], table.Table.Columns.Single(c => c.Name == "c_udt").Type.FieldNames);
        Assert.Equal("map<text, frozen<list<int>>>", table.Table.Columns.Single(c => c.Name == "c_map").Type.ToString());
    }

    [Fact]
    public void A_dropped_column_is_named_by_alter_table_drop_and_keeps_its_type_for_older_mutations()
    {
        var table = Assert.Single(CqlSchemaParser.Parse([
            "CREATE TABLE ks.t (id int PRIMARY KEY, a text, gone int) WITH id = 'b4dbb7b4-dc49-3fb5-b3bf-ce6e434832ca' AND cdc = true",
            "ALTER TABLE ks.t DROP gone USING TIMESTAMP 1700000000000000; ALTER TABLE ks.t ADD older list<text>; ALTER TABLE ks.t DROP older",
        ])).Table;

        Assert.Equal(["id", "a"], table.Columns.Select(c => c.Name));
        var gone = table.FindColumn("gone"u8);
        Assert.NotNull(gone);
        Assert.True(gone.IsDropped);
        Assert.Equal(4, gone.Type.FixedLength);
        Assert.True(table.FindColumn("older"u8)!.IsDropped);
        Assert.False(table.FindColumn("a"u8)!.IsDropped);
    }

    [Theory]
    [InlineData("CREATE TABLE t (id int PRIMARY KEY) WITH id = 5a1c395e-b41f-11e5-9f22-ba0be0483c18", "CQL entry 1 ('CREATE TABLE t (id int PRIMARY KEY …'), offset 13: table 't' needs its keyspace")]
    [InlineData("CREATE TABLE ks.t (id int PRIMARY KEY) WITH cdc = true", "offset 13: table ks.t has no id: add WITH id = <its id>")]
    [InlineData("CREATE TABLE ks.t (id int, PRIMARY KEY (idx)) WITH id = 5a1c395e-b41f-11e5-9f22-ba0be0483c18", "offset 40: the primary key names column 'idx'")]
    [InlineData("CREATE TABLE ks.t (id int PRIMARY KEY, c counter) WITH id = 5a1c395e-b41f-11e5-9f22-ba0be0483c18", "offset 41: 'counter': counter columns are not supported")]
    [InlineData("CREATE TABLE ks.t (id int PRIMARY KEY, c map<text>) WITH id = 5a1c395e-b41f-11e5-9f22-ba0be0483c18", "offset 41: 'map<text>': map takes 2 type parameter(s)")]
    [InlineData("CREATE TABLE ks.t (id int PRIMARY KEY, c address) WITH id = 5a1c395e-b41f-11e5-9f22-ba0be0483c18", "offset 41: 'address' is not a CQL type this reader knows")]
    [InlineData("CREATE TABLE ks.t (id int PRIMARY KEY) WITH id = 12", "offset 49: '12' is not a table id")]
    [InlineData("CREATE TABLE ks.t (id int PRIMARY KEY) WITH id = 5a1c395e-b41f-11e5-9f22-ba0be0483c18 AND cdc = maybe", "cdc must be true or false, not 'maybe'")]
    [InlineData("ALTER TABLE ks.t DROP a", "offset 12: ALTER TABLE ks.t before its CREATE TABLE")]
    [InlineData("CREATE INDEX ON ks.t (a)", "offset 7: expected TYPE or TABLE after CREATE")]
    [InlineData("CREATE TABLE ks.t (id int PRIMARY KEY, a text", "offset 45: expected ')' at the end")]
    [InlineData("CREATE TABLE ks.t (id int PRIMARY KEY, 'a' text)", "offset 39: expected column name, found 'a'")]
    public void A_statement_that_is_not_valid_is_refused_naming_it_and_the_offset(string statement, string expected)
    {
        var ex = Assert.Throws<FormatException>(() => CqlSchemaParser.Parse([statement]));
        Assert.Contains(expected, ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void The_source_options_bind_from_configuration_strictly()
    {
        var configuration = Microsoft.Extensions.Configuration.MemoryConfigurationBuilderExtensions.AddInMemoryCollection(new Microsoft.Extensions.Configuration.ConfigurationBuilder(), new Dictionary<string, string?>
        {
            ["CdcRawDirectory"] = Path.GetTempPath(),
            ["Node"] = "node1",
            ["Tables:0"] = "CREATE TABLE ks.t (id int PRIMARY KEY) WITH id = 5a1c395e-b41f-11e5-9f22-ba0be0483c18 AND cdc = true",
            ["EncryptionKeys:key1"] = CassandraFixtures.Testing1KeyHex,
            ["KeepSegments"] = "true",
            ["PollInterval"] = "00:00:01",
        }).Build();
        var options = new CassandraSourceOptions();

        Microsoft.Extensions.Configuration.ConfigurationBinder.Bind(configuration, options, o => o.ErrorOnUnknownConfiguration = true);

        Assert.Empty(options.Validate("node1"));
        Assert.Equal(("node1", true, TimeSpan.FromSeconds(1)), (options.Node, options.KeepSegments, options.PollInterval));
        Assert.Equal(16, options.Keys()["KEY1"].Length);
        Assert.Single(options.ParseTables());
    }

    [Fact]
    public void The_source_options_say_what_is_missing_at_start()
    {
        var options = new CassandraSourceOptions { CdcRawDirectory = "/no/such/cdc_raw" };
        options.EncryptionKeys["testing:1"] = "not hex";
        Assert.Equal(
            [
                "Cassandra source 'node1': CdcRawDirectory '/no/such/cdc_raw' does not exist: give the node's cdc_raw directory (cdc_raw_directory in cassandra.yaml), and set cdc_enabled: true there.",
                "Cassandra source 'node1': EncryptionKeys entry 'testing:1' must be an AES key of 16, 24 or 32 bytes written as hex (its text is not shown here).",
                "Cassandra source 'node1': Tables is empty: give the CREATE TABLE statement of each captured table (DESCRIBE TABLE keyspace.table WITH INTERNALS prints it, with its id), or set SchemaConnection.ContactPoint to read them from system_schema.",
            ],
            options.Validate("node1"));

        options = new CassandraSourceOptions { CdcRawDirectory = Path.GetTempPath() };
        options.Tables.Add("CREATE TABLE ks.t (id int PRIMARY KEY) WITH id = 5a1c395e-b41f-11e5-9f22-ba0be0483c18");
        Assert.Equal(
            ["Cassandra source 'node1': Tables: table ks.t does not say WITH cdc = true: its mutations do not reach cdc_raw. Run ALTER TABLE ks.t WITH cdc = true; and give the statement with it."],
            options.Validate("node1"));
    }
}
