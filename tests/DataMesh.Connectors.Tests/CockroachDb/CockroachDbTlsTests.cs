using DataMesh.Connectors.CockroachDb;
using Npgsql;
using Xunit;

namespace DataMesh.Tests.CockroachDb;

/// <summary>The CockroachDB source's connections follow the PostgreSQL source's TLS rule: a password never goes in clear to
/// a remote server whose certificate was not verified.</summary>
public sealed class CockroachDbTlsTests
{
    [Theory]
    [InlineData("Host=crdb.example.com;Username=cdc;Password=secret;SSL Mode=Require", "!Password")]
    [InlineData("Host=crdb.example.com;Username=cdc;Password=secret;SSL Mode=Prefer", "!Password")]
    [InlineData("Host=crdb.example.com;Username=cdc;Password=secret;SSL Mode=VerifyFull", null)]
    [InlineData("Host=127.0.0.1;Username=cdc;Password=secret;SSL Mode=Disable", null)]
    [InlineData("Host=crdb.example.com;Username=cdc;Password=secret;SSL Mode=Require;Require Auth=Password", "Password")]
    public void A_remote_server_whose_certificate_is_not_verified_never_gets_the_password_in_clear(string connectionString, string? requireAuth)
    {
        using var dataSource = CockroachDbConnector.DataSource(connectionString, "ledger");
        var built = new NpgsqlConnectionStringBuilder(dataSource.ConnectionString);
        Assert.Equal(requireAuth, string.IsNullOrEmpty(built.RequireAuth) ? null : built.RequireAuth);
    }
}
