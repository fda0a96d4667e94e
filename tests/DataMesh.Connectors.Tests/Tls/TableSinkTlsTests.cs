using DataMesh.Connectors.Sinks;
using Npgsql;
using Xunit;

namespace DataMesh.Tests.Tls;

/// <summary>The table sinks keep the sources' rule: a password never goes to a server whose certificate is not checked.</summary>
public sealed class TableSinkTlsTests
{
    private const string Password = "Tr0ub4dor";

    [Theory]
    [InlineData("Server=db.example.com;User ID=w;Password=Tr0ub4dor;Database=d", "SslMode=Preferred (the default)")]
    [InlineData("Server=10.0.0.7;User ID=w;Password=Tr0ub4dor;Database=d;SslMode=Required", "SslMode=Required,")]
    public void A_mysql_table_sink_refuses_an_unverified_tls_mode_for_a_server_on_the_network(string connectionString, string mode)
    {
        var e = Assert.Throws<ArgumentException>(() => new MySqlTableSink(new MySqlTableSinkOptions { ConnectionString = connectionString, Table = "t" }));
        Assert.Contains("MySqlTableSinkOptions.ConnectionString has " + mode, e.Message, StringComparison.Ordinal);
        Assert.Contains("Set SslMode=VerifyFull with SslCa=", e.Message, StringComparison.Ordinal);
        Assert.DoesNotContain(Password, e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_table_sinks_connection_string_the_driver_cannot_read_is_refused_by_validation_without_its_password()
    {
        // Found by a new-user pass: validate said OK, and the run failed later. The password runs into a key the driver
        // names ('zz;Tr0ub4dor...'), which the message must not repeat.
        foreach (var type in DataMesh.ConnectorSinkTypes.All)
        {
            var options = type.CreateOptions();
            ((TableSinkOptions)options).ConnectionString = type.Name == "mysql_table"
                ? "Server=127.0.0.1;User ID=w;Password=x;Tr0ub4dor=1"
                : "Host=127.0.0.1;Username=w;Password=x;Tr0ub4dor=1";
            ((TableSinkOptions)options).Table = "t";
            var problem = Assert.Single(type.Validate(options));
            Assert.StartsWith("ConnectionString is not a valid", problem, StringComparison.Ordinal);
            Assert.DoesNotContain(Password, problem, StringComparison.Ordinal);
        }
    }

    [Theory]
    [InlineData("Server=db.example.com;User ID=w;Password=p;Database=d;SslMode=VerifyFull")]
    [InlineData("Server=db.example.com;User ID=w;Password=p;Database=d;SslMode=None")]
    [InlineData("Server=127.0.0.1;User ID=w;Password=p;Database=d")]
    public async Task A_mysql_table_sink_accepts_verified_tls_no_tls_or_a_server_on_this_machine(string connectionString)
    {
        await using var sink = new MySqlTableSink(new MySqlTableSinkOptions { ConnectionString = connectionString, Table = "t" });
    }

    [Theory]
    [InlineData("Host=db.example.com;Username=w;Password=p;Database=d", "!Password")]
    [InlineData("Host=db.example.com;Username=w;Password=p;Database=d;SSL Mode=Require", "!Password")]
    [InlineData("Host=db.example.com;Username=w;Password=p;Database=d;SSL Mode=VerifyFull", null)]
    [InlineData("Host=127.0.0.1;Username=w;Password=p;Database=d", null)]
    [InlineData("Host=db.example.com;Username=w;Password=p;Database=d;Require Auth=Password", "Password")]
    public async Task A_postgres_table_sink_never_sends_its_password_in_clear_to_a_server_it_did_not_verify(string connectionString, string? requireAuth)
    {
        await using var dialect = new PostgresTableDialect(new PostgresTableSinkOptions { ConnectionString = connectionString, Table = "t" });
        var builder = new NpgsqlConnectionStringBuilder(dialect.ConnectionString);
        Assert.Equal(requireAuth, string.IsNullOrEmpty(builder.RequireAuth) ? null : builder.RequireAuth);
    }
}
