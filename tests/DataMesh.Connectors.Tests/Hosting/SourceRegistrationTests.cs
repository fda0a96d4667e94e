using Microsoft.Extensions.DependencyInjection;
using Xunit;

namespace DataMesh.Tests.Hosting;

/// <summary>Sources are registered through the runtime's one registration: names are unique across connectors.</summary>
public sealed class SourceRegistrationTests
{
    [Fact]
    public void A_source_name_is_refused_when_any_connector_already_uses_it()
    {
        var builder = new ServiceCollection().AddDataMesh();
        builder.AddPostgresSource("shop", o => o.ConnectionString = "Host=localhost");
        var ex = Assert.Throws<ArgumentException>(() => builder.AddMySqlSource("shop", o => o.ConnectionString = "Server=localhost;User ID=u"));
        Assert.Contains("A source named 'shop' is already added", ex.Message, StringComparison.Ordinal);
        builder.AddMySqlSource("inventory", o => o.ConnectionString = "Server=localhost;User ID=u");
    }

    [Fact]
    public void A_cassandra_source_shares_the_one_registration_and_its_options_name_each_setting()
    {
        var builder = new ServiceCollection().AddDataMesh();
        var options = new CassandraSourceOptions();
        options.Tables.Add("CREATE TABLE ks.t (id int PRIMARY KEY) WITH cdc = true");
        builder.AddCassandraSource("node1", o => o.Tables.Add(options.Tables[0]));
        Assert.Throws<ArgumentException>(() => builder.AddPostgresSource("node1", o => o.ConnectionString = "Host=localhost"));

        Assert.Equal(
            [
                "Cassandra source 'node1': CdcRawDirectory is required: the node's cdc_raw directory (cdc_raw_directory in cassandra.yaml).",
                "Cassandra source 'node1': Tables: CQL entry 1 ('CREATE TABLE ks.t (id int …'), offset 13: table ks.t has no id: add WITH id = <its id> " +
                    "(a commit log names tables by id: SELECT id FROM system_schema.tables WHERE keyspace_name = 'ks' AND table_name = 't')",
            ],
            options.Validate("node1"));
    }

    [Fact]
    public void A_source_name_that_cannot_be_a_topic_name_part_is_refused()
    {
        var builder = new ServiceCollection().AddDataMesh();
        var ex = Assert.Throws<ArgumentException>(() => builder.AddPostgresSource("shop.eu", o => o.ConnectionString = "Host=localhost"));
        Assert.Contains("topic name part", ex.Message, StringComparison.Ordinal);
    }
}
