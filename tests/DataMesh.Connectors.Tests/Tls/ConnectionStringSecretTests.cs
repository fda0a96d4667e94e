using DataMesh.Connectors.MySql;
using DataMesh.Connectors.Postgres;
using Xunit;

namespace DataMesh.Tests.Tls;

/// <summary>A connection string that does not parse is refused at validation without showing any part of its password
/// (an unquoted password with ';' parses as further keys, which the drivers name in their errors).</summary>
public sealed class ConnectionStringSecretTests
{
    [Fact]
    public void A_mysql_connection_string_that_does_not_parse_shows_no_part_of_the_password()
    {
        var problems = new MySqlSourceOptions { ConnectionString = "Server=db;User ID=cdc;Password=Tr0ub4dor;S3cretTail=x;SslMode=None" }.Validate("orders").ToList();
        Assert.Contains(problems, p => p.Contains("ConnectionString is not a valid", StringComparison.Ordinal) && p.Contains("***", StringComparison.Ordinal));
        Assert.DoesNotContain(problems, p => p.Contains("S3cretTail", StringComparison.OrdinalIgnoreCase) || p.Contains("Tr0ub4dor", StringComparison.Ordinal));
    }

    [Fact]
    public void A_postgres_connection_string_that_does_not_parse_shows_no_part_of_the_password()
    {
        var problems = new PostgresSourceOptions { ConnectionString = "Host=db;Username=cdc;Password=Tr0ub4dor;S3cretTail=x" }.Validate("orders").ToList();
        Assert.Contains(problems, p => p.Contains("ConnectionString is not a valid", StringComparison.Ordinal) && p.Contains("***", StringComparison.Ordinal));
        Assert.DoesNotContain(problems, p => p.Contains("S3cretTail", StringComparison.OrdinalIgnoreCase) || p.Contains("Tr0ub4dor", StringComparison.Ordinal));
    }
}
