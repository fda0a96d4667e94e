using DataMesh.Connectors.Cassandra.Schema;
using DataMesh.Sources;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Logging.Abstractions;
using Xunit;

namespace DataMesh.Tests.Cassandra;

/// <summary>Tables read from <c>system_schema</c> over our native-protocol client (from <see cref="FakeCassandraServer"/>:
/// no Cassandra runs here) equal those from the equivalent CQL statements; the settings are checked at start.</summary>
public sealed class SystemSchemaTests : IAsyncDisposable
{
    private static readonly Guid OrdersId = Guid.Parse("5a1c395e-b41f-11e5-9f22-ba0be0483c18");
    private static readonly Guid EventsId = Guid.Parse("0d4b2c3b-0000-4000-8000-0000000000e1");

    private const string Statements = $"""
        CREATE TYPE shop.address (street text, zip int);
        CREATE TYPE shop.person (name text, home frozen<address>);
        CREATE TABLE shop.orders (id int, region text, line int, sub timeuuid,
            attrs map<text, frozen<list<int>>>, buyer frozen<person>, note text, qty int, ship_to address, tags set<text>, total bigint STATIC,
            PRIMARY KEY ((id, region), line, sub))
            WITH CLUSTERING ORDER BY (line DESC, sub ASC) AND id = {"5a1c395e-b41f-11e5-9f22-ba0be0483c18"} AND cdc = true;
        ALTER TABLE shop.orders ADD legacy list<text>;
        ALTER TABLE shop.orders DROP legacy USING TIMESTAMP 1700000000000000;
        CREATE TABLE shop.events (k uuid PRIMARY KEY, at timestamp, v blob) WITH id = {"0d4b2c3b-0000-4000-8000-0000000000e1"} AND cdc = true;
        """;

    private readonly FakeCassandraServer _server = new(new Dictionary<string, string> { ["cdc"] = "s3cret" });

    /// <summary>The same tables as <see cref="Statements"/>, as a node's <c>system_schema</c> holds them (types listed before
    /// the types they use, columns by name), with a table whose CDC is off (and a counter), a system table and a table of
    /// a keyspace the filter leaves out.</summary>
    internal static FakeSystemSchema Schema() => new FakeSystemSchema()
        .Table("system", "local", Guid.Parse("7ad54392-bcdd-35a6-8417-4e047860b377"), cdc: false)
        .Column("system", "local", "key", "partition_key", 0, "text")
        .Table("shop", "audit", Guid.NewGuid(), cdc: false)
        .Column("shop", "audit", "k", "partition_key", 0, "int")
        .Column("shop", "audit", "hits", "regular", -1, "counter")
        .Table("shop", "events", EventsId, cdc: true)
        .Column("shop", "events", "at", "regular", -1, "timestamp")
        .Column("shop", "events", "k", "partition_key", 0, "uuid")
        .Column("shop", "events", "v", "regular", -1, "blob")
        .Table("shop", "orders", OrdersId, cdc: true)
        .Column("shop", "orders", "attrs", "regular", -1, "map<text, frozen<list<int>>>")
        .Column("shop", "orders", "buyer", "regular", -1, "frozen<person>")
        .Column("shop", "orders", "id", "partition_key", 0, "int")
        .Column("shop", "orders", "line", "clustering", 0, "int", "desc")
        .Column("shop", "orders", "note", "regular", -1, "text")
        .Column("shop", "orders", "qty", "regular", -1, "int")
        .Column("shop", "orders", "region", "partition_key", 1, "text")
        .Column("shop", "orders", "ship_to", "regular", -1, "address")
        .Column("shop", "orders", "sub", "clustering", 1, "timeuuid", "asc")
        .Column("shop", "orders", "tags", "regular", -1, "set<text>")
        .Column("shop", "orders", "total", "static", -1, "bigint")
        .Type("shop", "person", ["name", "home"], ["text", "frozen<address>"])
        .Type("shop", "address", ["street", "zip"], ["text", "int"])
        .Dropped("shop", "orders", "legacy", "list<text>")
        .Table("elsewhere", "t", Guid.NewGuid(), cdc: true)
        .Column("elsewhere", "t", "k", "partition_key", 0, "int");

    [Fact]
    public async Task Tables_read_from_system_schema_over_several_pages_equal_those_of_the_equivalent_cql_statements()
    {
        Schema().AnswerOn(_server);
        var options = Options();
        options.ExcludeTables.Add("elsewhere.*");

        var tables = await Source(options).LoadAsync(CancellationToken.None);

        var expected = CqlSchemaParser.Parse([Statements]);
        Assert.Equal(expected.OrderBy(t => t.Table.Name).Select(Describe), tables.OrderBy(t => t.Table.Name).Select(Describe));
        Assert.True(_server.Requests.Count(r => r.Query == SystemSchemaReader.ColumnsQuery && r.Paged) >= 2, "system_schema.columns came in 3 or more pages");
        Assert.All(_server.Requests.Where(r => r.Query is not null), r => Assert.Equal((1, 4), (r.Consistency, r.PageSize)));
    }

    [Fact]
    public async Task A_table_id_the_last_read_did_not_know_calls_for_one_more_read_and_known_or_retried_ids_do_not()
    {
        Schema().AnswerOn(_server);
        var source = Source(Options());
        await source.LoadAsync(CancellationToken.None);
        var added = Guid.NewGuid();

        Assert.False(source.ShouldReread(OrdersId));
        Assert.False(source.ShouldReread(Guid.Parse("7ad54392-bcdd-35a6-8417-4e047860b377")), "a system table is known, though not captured");
        Assert.True(source.ShouldReread(added));
        Assert.False(source.ShouldReread(added), "once per id");
    }

    [Fact]
    public async Task Refused_credentials_a_compact_table_and_an_unreachable_node_stop_the_source_with_messages_that_say_why()
    {
        Schema().AnswerOn(_server);
        var options = Options();
        options.SchemaConnection.Password = "wrong";
        var refused = await Assert.ThrowsAsync<SourceException>(() => Source(options).LoadAsync(CancellationToken.None));
        Assert.False(refused.IsTransient);
        Assert.Contains($"Cassandra source 'cass': cannot read the schema from system_schema at 127.0.0.1:{_server.Port} (user 'cdc', TLS off) (SchemaConnection)", refused.Message, StringComparison.Ordinal);
        Assert.Contains("error 0x0100 (Bad credentials): Provided username cdc and/or password are incorrect", refused.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("wrong", refused.Message.Replace("wrong-", string.Empty, StringComparison.Ordinal), StringComparison.Ordinal);

        Schema().Table("shop", "legacy", Guid.NewGuid(), cdc: true, "dense").Column("shop", "legacy", "k", "partition_key", 0, "int").AnswerOn(_server);
        var compact = await Assert.ThrowsAsync<SourceException>(() => Source(Options()).LoadAsync(CancellationToken.None));
        Assert.Contains("table shop.legacy uses COMPACT STORAGE", compact.Message, StringComparison.Ordinal);

        var closed = Options();
        closed.SchemaConnection.ContactPoint = "127.0.0.1:1";
        var unreachable = await Assert.ThrowsAsync<SourceException>(() => Source(closed).LoadAsync(CancellationToken.None));
        Assert.True(unreachable.IsTransient);
        Assert.Contains("cannot connect to the native transport", unreachable.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("cassandra-1:9042", null, null, false, null)]
    [InlineData("[::1]:9142", "cdc", "s3cret", false, null)]
    [InlineData("localhost", "cdc", "s3cret", false, null)]
    [InlineData("cassandra-1:99999", null, null, false, "SchemaConnection.ContactPoint 'cassandra-1:99999' is not host, host:port or [ipv6]:port")]
    [InlineData("cassandra-1", "cdc", null, false, "SchemaConnection.User and SchemaConnection.Password go together")]
    [InlineData("cassandra-1", "cdc", "s3cret", false, "SchemaConnection.Password would go in clear to cassandra-1: set SchemaConnection.Tls to true")]
    [InlineData("cassandra-1", "cdc", "s3cret", true, null)]
    public void The_schema_connection_is_checked_at_start_with_messages_that_name_the_setting_and_never_the_password(string contactPoint, string? user, string? password, bool tls, string? problem)
    {
        var options = new CassandraSourceOptions { CdcRawDirectory = Path.GetTempPath() };
        options.SchemaConnection.ContactPoint = contactPoint;
        options.SchemaConnection.User = user;
        options.SchemaConnection.Password = password;
        options.SchemaConnection.Tls = tls;

        var problems = options.Validate("cass").ToList();

        if (problem is null)
        {
            Assert.Empty(problems);
        }
        else
        {
            Assert.Contains(problems, p => p.Contains(problem, StringComparison.Ordinal));
        }

        Assert.All(problems, p => Assert.DoesNotContain("s3cret", p, StringComparison.Ordinal));
    }

    [Fact]
    public void Tables_and_a_contact_point_together_or_a_schema_connection_without_a_contact_point_are_refused()
    {
        var both = new CassandraSourceOptions { CdcRawDirectory = Path.GetTempPath() };
        both.Tables.Add(Statements);
        both.SchemaConnection.ContactPoint = "127.0.0.1";
        var half = new CassandraSourceOptions { CdcRawDirectory = Path.GetTempPath() };
        half.Tables.Add(Statements);
        half.SchemaConnection.User = "cdc";
        var none = new CassandraSourceOptions { CdcRawDirectory = Path.GetTempPath() };
        var ca = new CassandraSourceOptions { CdcRawDirectory = Path.GetTempPath() };
        ca.SchemaConnection.ContactPoint = "127.0.0.1";
        ca.SchemaConnection.Tls = true;
        ca.SchemaConnection.TlsCaCertificate = "/nonexistent/ca.pem";

        Assert.Contains("Tables and SchemaConnection.ContactPoint are both set", Assert.Single(both.Validate("cass")), StringComparison.Ordinal);
        Assert.Contains("SchemaConnection has a user, password or TLS but no ContactPoint", Assert.Single(half.Validate("cass")), StringComparison.Ordinal);
        Assert.Contains("or set SchemaConnection.ContactPoint to read them from system_schema", Assert.Single(none.Validate("cass")), StringComparison.Ordinal);
        Assert.Contains("SchemaConnection.TlsCaCertificate '/nonexistent/ca.pem' does not exist", Assert.Single(ca.Validate("cass")), StringComparison.Ordinal);
    }

    [Fact]
    public void The_schema_connection_binds_from_configuration()
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["CdcRawDirectory"] = Path.GetTempPath(),
            ["SchemaConnection:ContactPoint"] = "cassandra-1:9142",
            ["SchemaConnection:User"] = "cdc",
            ["SchemaConnection:Password"] = "s3cret",
            ["SchemaConnection:Tls"] = "true",
            ["SchemaConnection:RequestTimeout"] = "00:00:05",
            ["SchemaConnection:PageSize"] = "500",
        }).Build();
        var options = new CassandraSourceOptions();

        Microsoft.Extensions.Configuration.ConfigurationBinder.Bind(configuration, options, o => o.ErrorOnUnknownConfiguration = true);

        Assert.Empty(options.Validate("cass"));
        var settings = options.SchemaConnection.Settings();
        Assert.Equal(("cassandra-1", 9142, "cdc", true, TimeSpan.FromSeconds(5)), (settings.Host, settings.Port, settings.User, settings.Tls, settings.RequestTimeout));
        Assert.Equal(500, options.SchemaConnection.PageSize);
        Assert.DoesNotContain("s3cret", settings.ToString(), StringComparison.Ordinal);
    }

    public async ValueTask DisposeAsync() => await _server.DisposeAsync();

    /// <summary>Everything the reader takes from a table: id, names, CDC, COMPACT STORAGE, clustering order, each
    /// column's name, kind and type (UDT fields too), and the dropped columns.</summary>
    internal static string Describe(CqlTableDefinition definition)
    {
        static string Type(CassandraColumn column) => $"{column.Name} {column.Kind} {Show(column.Type)} multi={column.Type.IsMultiCell} dropped={column.IsDropped}";
        static string Show(CqlType type) => $"{type}[{string.Join(",", type.FieldNames)}]({string.Join(", ", type.Parameters.Select(Show))})";
        var table = definition.Table;
        var dropped = table.FindColumn("legacy"u8) is { } legacy ? Type(legacy) : "none";
        return $"{table.Id} {table.QualifiedName} cdc={definition.Cdc} compact={definition.CompactStorage} desc=[{string.Join(",", definition.Descending)}] " +
            $"{string.Join("; ", table.Columns.Select(Type))}; legacy: {dropped}";
    }

    private CassandraSourceOptions Options()
    {
        var options = new CassandraSourceOptions { CdcRawDirectory = Path.GetTempPath() };
        options.SchemaConnection.ContactPoint = _server.ContactPoint;
        options.SchemaConnection.User = "cdc";
        options.SchemaConnection.Password = "s3cret";
        options.SchemaConnection.PageSize = 4;
        Assert.Empty(options.Validate("cass"));
        return options;
    }

    private static CassandraTableSource Source(CassandraSourceOptions options) =>
        new("cass", options, new TableFilter(options, ["system", "system_schema", "system_auth"]), NullLogger.Instance);
}
