using DataMesh.Connectors.MySql;
using Xunit;

namespace DataMesh.Tests.Tls;

/// <summary>What a MySQL source refuses in its connection string's TLS settings, at validation (before any connection).</summary>
public sealed class MySqlTlsOptionsTests
{
    private const string Password = "pässword;with=odd";

    [Theory]
    [InlineData("Server=db.example.com;User ID=cdc;Password=\"pässword;with=odd\"", "SslMode=Preferred (the default)")]
    [InlineData("Server=db.example.com;User ID=cdc;Password=\"pässword;with=odd\";SslMode=Preferred", "SslMode=Preferred,")]
    [InlineData("Server=10.0.0.7;User ID=cdc;Password=\"pässword;with=odd\";SslMode=Required", "SslMode=Required,")]
    [InlineData("Server=localhost,db.example.com;User ID=cdc;Password=\"pässword;with=odd\";SslMode=Required", "SslMode=Required,")]
    public void A_server_on_the_network_with_an_unverified_SslMode_is_refused_with_what_to_set(string connectionString, string expected)
    {
        var problem = Assert.Single(Problems(connectionString));
        Assert.Contains(expected, problem, StringComparison.Ordinal);
        Assert.Contains("Set SslMode=VerifyFull with SslCa=", problem, StringComparison.Ordinal);
        Assert.Contains("or SslMode=None on a network you trust", problem, StringComparison.Ordinal);
        Assert.DoesNotContain(Password, problem, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("Server=127.0.0.1;User ID=cdc;Password=p")]
    [InlineData("Server=localhost;User ID=cdc;Password=p;SslMode=Required")]
    [InlineData("Server=::1;User ID=cdc;Password=p;SslMode=Required")]
    [InlineData("Server=/run/mysqld/mysqld.sock;Protocol=Unix;User ID=cdc;Password=p")]
    [InlineData("Server=db.example.com;User ID=cdc;Password=p;SslMode=None")]
    [InlineData("Server=db.example.com;User ID=cdc;Password=p;SslMode=VerifyFull")]
    [InlineData("Server=db.example.com;User ID=cdc;Password=p;SslMode=VerifyCA")]
    [InlineData("Server=db.example.com;User ID=cdc;SslMode=Required")]
    public void Verified_tls_no_tls_a_server_on_this_machine_or_no_password_are_accepted(string connectionString) =>
        Assert.Empty(Problems(connectionString));

    [Fact]
    public void SslCa_with_a_mode_that_does_not_check_it_is_refused()
    {
        var problem = Assert.Single(Problems($"Server=127.0.0.1;User ID=cdc;Password=p;SslMode=Required;SslCa={typeof(MySqlTlsOptionsTests).Assembly.Location}"));
        Assert.Contains("SslMode=Required does not check the certificate against it: set SslMode=VerifyFull", problem, StringComparison.Ordinal);
    }

    [Fact]
    public void SslCert_without_SslKey_is_refused_as_MySqlConnector_would_ignore_it() =>
        Assert.Contains(Problems($"Server=db;User ID=cdc;Password=p;SslMode=VerifyFull;SslCert={typeof(MySqlTlsOptionsTests).Assembly.Location}"),
            p => p.Contains("SslCert without SslKey: set both", StringComparison.Ordinal));

    [Fact]
    public void Missing_tls_files_and_unsupported_tls_settings_are_named()
    {
        var problems = Problems("Server=db;User ID=cdc;Password=p;SslMode=VerifyFull;SslCa=/nonexistent/ca.pem;SslKey=/nonexistent/client.key;TlsVersion=TLS 1.3");
        Assert.Contains(problems, p => p.Contains("SslKey without SslCert", StringComparison.Ordinal));
        Assert.Contains(problems, p => p.Contains("SslCa file '/nonexistent/ca.pem' does not exist", StringComparison.Ordinal));
        Assert.Contains(problems, p => p.Contains("TlsVersion", StringComparison.Ordinal));
    }

    private static List<string> Problems(string connectionString) =>
        [.. new MySqlSourceOptions { ConnectionString = connectionString }.Validate("orders").Where(p => !p.Contains("IncludeTables", StringComparison.Ordinal))];
}
