using DataMesh.Connectors.Postgres;
using DataMesh.IntegrationTests.Infrastructure;
using DataMesh.Sources;
using DataMesh.Tests.Tls;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;
using Xunit;

namespace DataMesh.IntegrationTests.Postgres;

/// <summary>
/// TLS of a PostgreSQL source against the real server, whose certificate (for IP 127.0.0.1 only) scripts/servers.sh signs
/// with a throwaway CA: Npgsql checks the certificate with the settings the source passes through (SSL Mode=VerifyFull,
/// Root Certificate), a source streams over verified TLS and over mutual TLS (user datamesh_cert, hostssl with
/// clientcert=verify-full), and a refused one fails with what to set. <see cref="FakePostgresServer"/> stands for what the
/// real server cannot show: an expired certificate, and a request for the password in clear. No password appears in any log
/// line, status or exception of these tests.
/// </summary>
public sealed class PostgresTlsTests(PostgresServer server) : IClassFixture<PostgresServer>, IDisposable
{
    private static readonly string TlsDirectory = ServerEnvironment.Require(ServerEnvironment.TlsDirectory);
    private static readonly string Ca = Path.Combine(TlsDirectory, "ca.pem");
    private readonly TestCertificates _certificates = new();
    private readonly SecretScan _scan = new();

    public void Dispose() => _certificates.Dispose();

    [Fact]
    public async Task A_source_with_VerifyFull_and_Root_Certificate_streams_over_verified_tls()
    {
        await using var cdc = await PgCdc.CreateAsync(server, "CREATE TABLE t (id int PRIMARY KEY, v text)");
        await cdc.StartAsync(o => o.ConnectionString = Tls(cdc.ConnectionString, "127.0.0.1", SslMode.VerifyFull, Ca), logs: _scan);
        await cdc.ExecuteAsync("INSERT INTO t VALUES (1, 'tls')");

        var record = Assert.Single(await cdc.ReadAsync(cdc.Topic("t"), 1));
        Assert.Equal("tls", record.After!["v"]);
        // Both of the source's connections (catalog and walsender) are TLS.
        var database = new NpgsqlConnectionStringBuilder(cdc.ConnectionString).Database;
        Assert.Equal("2 of 2", await cdc.ScalarAsync<string>(
            $"SELECT count(*) FILTER (WHERE s.ssl) || ' of ' || count(*) FROM pg_stat_activity a JOIN pg_stat_ssl s USING (pid) WHERE a.datname = '{database}' AND a.application_name = 'datamesh-{cdc.SourceName}'"));
        Assert.Contains(_scan.Texts, line => line.Contains("(SSL Mode VerifyFull,", StringComparison.Ordinal));
        await cdc.StopAsync();
        _scan.AssertNoSecret();
    }

    [Theory]
    [InlineData("localhost", "VerifyFull", "servers-ca")]
    [InlineData("127.0.0.1", "VerifyFull", "other-ca")]
    [InlineData("127.0.0.1", "VerifyCA", "other-ca")]
    public async Task A_certificate_that_VerifyFull_or_VerifyCA_refuses_stops_the_source_with_what_to_set(string host, string sslMode, string ca)
    {
        await using var cdc = await PgCdc.CreateAsync(server, "CREATE TABLE t (id int PRIMARY KEY)");
        var caFile = ca == "servers-ca" ? Ca : _certificates.WritePem(_certificates.Ca("Another CA"), "other-ca");

        var status = await RunUntilStoppedAsync(cdc, Tls(cdc.ConnectionString, host, Enum.Parse<SslMode>(sslMode), caFile));

        Assert.Equal(SourceState.Failed, status.State);
        Assert.Contains($"the TLS handshake with {host}:", status.Message, StringComparison.Ordinal);
        Assert.Contains($"(SSL Mode={sslMode})", status.Message, StringComparison.Ordinal);
        Assert.Contains("Root Certificate is the PEM file of the CA that signed the server's certificate", status.Message, StringComparison.Ordinal);
        _scan.AssertNoSecret();
    }

    [Fact]
    public async Task VerifyCA_accepts_the_servers_certificate_under_a_name_it_does_not_have()
    {
        await using var connection = await PostgresServer.OpenConnectionAsync(Tls(server.ConnectionString, "localhost", SslMode.VerifyCA, Ca));
        Assert.True(await PostgresServer.ScalarAsync<bool>(connection, "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()"));
    }

    [Fact]
    public async Task A_user_that_requires_a_client_certificate_streams_with_SSL_Certificate_and_SSL_Key()
    {
        var user = ServerEnvironment.Require(ServerEnvironment.TlsUser);
        var serversCa = _certificates.LoadCa(Ca, Path.Combine(TlsDirectory, "ca.key"));
        var client = _certificates.WritePem(_certificates.Client(serversCa, user), "client");
        await using var cdc = await PgCdc.CreateAsync(server, "CREATE TABLE t (id int PRIMARY KEY, v text)");
        var builder = new NpgsqlConnectionStringBuilder(Tls(cdc.ConnectionString, "127.0.0.1", SslMode.VerifyFull, Ca))
        {
            Username = user,
            Password = ServerEnvironment.Require(ServerEnvironment.TlsPassword),
        };

        // Without a client certificate pg_hba.conf (hostssl ... clientcert=verify-full) refuses the user.
        var refused = await RunUntilStoppedAsync(cdc, builder.ConnectionString);
        Assert.Equal(SourceState.Failed, refused.State);
        Assert.Contains("certificate", refused.Message, StringComparison.Ordinal);

        builder.SslCertificate = client;
        builder.SslKey = Path.ChangeExtension(client, ".key");
        await cdc.StartAsync(o => o.ConnectionString = builder.ConnectionString, logs: _scan);
        await cdc.ExecuteAsync("INSERT INTO t VALUES (1, 'mtls')");

        var record = Assert.Single(await cdc.ReadAsync(cdc.Topic("t"), 1));
        Assert.Equal("mtls", record.After!["v"]);
        await cdc.StopAsync();
        _scan.AssertNoSecret();
    }

    [Fact]
    public async Task An_expired_server_certificate_stops_the_source_with_what_to_set()
    {
        var ca = _certificates.Ca("DataMesh fake CA");
        var caFile = _certificates.WritePem(ca, "fake-ca");
        await using var fake = new FakePostgresServer(_certificates.Server(ca, ["127.0.0.1"], DateTimeOffset.UtcNow.AddDays(-10), DateTimeOffset.UtcNow.AddHours(-1)));
        await using var cdc = await PgCdc.CreateAsync(server, "SELECT 1");

        var status = await RunUntilStoppedAsync(cdc, $"Host=127.0.0.1;Port={fake.Port};Username=u;Password={SecretScan.Secrets[1]};Database=d;SSL Mode=VerifyFull;Root Certificate={caFile}");

        Assert.Equal(SourceState.Failed, status.State);
        Assert.Contains("the TLS handshake with 127.0.0.1:", status.Message, StringComparison.Ordinal);
        Assert.Contains("that the certificate is valid now", status.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("startup", fake.Seen);
        _scan.AssertNoSecret();
    }

    [Fact]
    public async Task Over_tls_that_was_not_verified_the_password_is_never_sent_in_clear()
    {
        var ca = _certificates.Ca("DataMesh fake CA");
        var password = SecretScan.Secrets[1];

        // What Npgsql does by itself: SSL Mode=Require checks no certificate, and the password goes to whoever asks for it.
        await using (var fake = new FakePostgresServer(_certificates.Server(ca, ["127.0.0.1"])))
        {
            var plain = $"Host=127.0.0.1;Port={fake.Port};Username=u;Password={password};Database=d;SSL Mode=Require;Timeout=5";
            await Assert.ThrowsAnyAsync<Exception>(() => PostgresServer.OpenConnectionAsync(plain));
            await fake.Served.WaitAsync(TimeSpan.FromSeconds(10));
            Assert.Contains("password", fake.Seen);
        }

        // What the source does: for a server not on this machine it sets Require Auth=!Password, and explains the refusal.
        var builder = new NpgsqlConnectionStringBuilder($"Host=db.example.com;Username=u;Password={password};Database=d;SSL Mode=Require;Timeout=5");
        PostgresTls.Secure(builder);
        Assert.Equal("!Password", builder.RequireAuth);
        await using (var fake = new FakePostgresServer(_certificates.Server(ca, ["127.0.0.1"])))
        {
            builder.Host = "127.0.0.1";
            builder.Port = fake.Port;
            var error = await Assert.ThrowsAnyAsync<NpgsqlException>(() => PostgresServer.OpenConnectionAsync(builder.ConnectionString));
            await fake.Served.WaitAsync(TimeSpan.FromSeconds(10));

            Assert.Contains("no-password", fake.Seen);
            Assert.DoesNotContain("password", fake.Seen);
            var explained = PostgresTls.Explain(error, "src", builder);
            Assert.True(explained is not null, "not explained: " + error);
            Assert.Contains("asks for the password in clear (pg_hba.conf method 'password')", explained.Message, StringComparison.Ordinal);
            Assert.Contains("Set SSL Mode=VerifyFull with Root Certificate=", explained.Message, StringComparison.Ordinal);
            _scan.Add(explained.ToString());
            _scan.AssertNoSecret();
        }
    }

    [Theory]
    [InlineData("Host=db.example.com;SSL Mode=Prefer", "!Password")]
    [InlineData("Host=db.example.com;SSL Mode=Require", "!Password")]
    [InlineData("Host=db.example.com;SSL Mode=Disable", "!Password")]
    [InlineData("Host=db.example.com;SSL Mode=VerifyFull", "")]
    [InlineData("Host=db.example.com;SSL Mode=VerifyCA", "")]
    [InlineData("Host=db.example.com;SSL Mode=Require;Require Auth=Password", "Password")]
    [InlineData("Host=127.0.0.1;SSL Mode=Require", "")]
    [InlineData("Host=localhost;SSL Mode=Prefer", "")]
    [InlineData("Host=/var/run/postgresql", "")]
    public void The_clear_password_is_refused_only_where_the_server_is_not_verified_nor_on_this_machine(string connectionString, string requireAuth)
    {
        var builder = new NpgsqlConnectionStringBuilder(connectionString);
        PostgresTls.Secure(builder);
        Assert.Equal(requireAuth, builder.RequireAuth ?? string.Empty);
    }

    /// <summary>Runs the source's connector on the runtime until it fails or retries; every line it logs goes to the scan.</summary>
    private async Task<SourceStatus> RunUntilStoppedAsync(PgCdc cdc, string connectionString)
    {
        var options = new PostgresSourceOptions { ConnectionString = connectionString, SlotName = cdc.Slot };
        var services = new ServiceCollection().AddLogging();
        services.AddDataMesh();
        await using var provider = services.BuildServiceProvider();
        await using var connector = new PostgresConnector(cdc.SourceName, options, _scan);
        var status = await SourceRunner.RunUntilStoppedOrRetryingAsync(cdc.SourceName, connector, options, provider, logger: _scan);
        _scan.Add(status.ToString());
        return status;
    }

    /// <summary>The connection string with another host, SSL Mode and Root Certificate, and no pooling.</summary>
    private static string Tls(string connectionString, string host, SslMode mode, string? rootCertificate) =>
        new NpgsqlConnectionStringBuilder(connectionString) { Host = host, SslMode = mode, RootCertificate = rootCertificate, Pooling = false }.ConnectionString;
}
