using DataMesh.Connectors.MySql;
using DataMesh.Connectors.MySql.Protocol;
using DataMesh.Tests.MySql;
using Xunit;

namespace DataMesh.Tests.Tls;

/// <summary>
/// The replication client's TLS against <see cref="FakeMySqlServer"/>, which stands for a MySQL 8 server (or a man in the
/// middle speaking its protocol) with certificates made in the test: the server's certificate is checked with
/// MySqlConnector's meaning of SslMode and SslCa, a client certificate is presented when the server asks, and the password
/// itself (caching_sha2's full path, mysql_clear_password) never goes over TLS whose certificate was not verified. The
/// same checks against the real MariaDB and its certificates are in the integration tests (MySqlTlsTests).
/// </summary>
public sealed class ReplicationTlsTests : IDisposable
{
    private const string Password = "s3cret-pässword-tls";
    private readonly TestCertificates _certificates = new();
    private readonly System.Security.Cryptography.X509Certificates.X509Certificate2 _ca;
    private readonly string _caFile;

    public ReplicationTlsTests()
    {
        _ca = _certificates.Ca("DataMesh test CA");
        _caFile = _certificates.WritePem(_ca, "ca");
    }

    public void Dispose() => _certificates.Dispose();

    [Theory]
    [InlineData("Preferred")]
    [InlineData("Required")]
    public async Task Over_tls_whose_certificate_is_not_verified_caching_sha2s_full_path_is_refused_and_the_password_not_sent(string sslMode)
    {
        var mode = Enum.Parse<TlsMode>(sslMode);
        await using var server = new FakeMySqlServer(Password, fullAuthentication: true, offerTls: true);
        var error = await Assert.ThrowsAsync<MySqlReplicationException>(() => ReplicationConnection.OpenAsync(Settings(server) with { Tls = mode }, CancellationToken.None));
        await server.Served.WaitAsync(TimeSpan.FromSeconds(10));

        Assert.DoesNotContain("tls-clear", server.Seen);
        Assert.Contains($"not verified (SslMode={mode})", error.Message, StringComparison.Ordinal);
        Assert.Contains("Set SslMode=VerifyFull with SslCa=", error.Message, StringComparison.Ordinal);
        Assert.DoesNotContain(Password, error.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_switch_to_mysql_clear_password_over_unverified_tls_is_refused_and_the_password_not_sent()
    {
        await using var server = new FakeMySqlServer(Password, fullAuthentication: false, offerTls: true) { SwitchToClearPassword = true };
        var error = await Assert.ThrowsAsync<MySqlReplicationException>(() => ReplicationConnection.OpenAsync(Settings(server) with { Tls = TlsMode.Required }, CancellationToken.None));
        await server.Served.WaitAsync(TimeSpan.FromSeconds(10));

        Assert.Contains("clear-password-refused", server.Seen);
        Assert.Contains("mysql_clear_password", error.Message, StringComparison.Ordinal);
        Assert.Contains("was not verified (SslMode=Required)", error.Message, StringComparison.Ordinal);
        Assert.DoesNotContain(Password, error.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_switch_to_mysql_clear_password_without_tls_is_refused()
    {
        await using var server = new FakeMySqlServer(Password, fullAuthentication: false, offerTls: false) { SwitchToClearPassword = true };
        var error = await Assert.ThrowsAsync<MySqlReplicationException>(() => ReplicationConnection.OpenAsync(Settings(server) with { Tls = TlsMode.None }, CancellationToken.None));
        await server.Served.WaitAsync(TimeSpan.FromSeconds(10));

        Assert.Contains("clear-password-refused", server.Seen);
        Assert.Contains("has no TLS", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task VerifyFull_with_the_servers_CA_sends_the_full_path_password_inside_tls()
    {
        await using var server = new FakeMySqlServer(Password, fullAuthentication: true, offerTls: true) { Certificate = _certificates.Server(_ca, ["127.0.0.1"]) };
        await using var connection = await ReplicationConnection.OpenAsync(Settings(server) with { Tls = TlsMode.VerifyFull, CaFile = _caFile }, CancellationToken.None);

        Assert.True(connection.ServerVerified);
        Assert.Contains("server certificate verified", connection.TlsDescription, StringComparison.Ordinal);
        Assert.Equal(["ssl-request", "user=repl plugin=caching_sha2_password", "tls-clear"], server.Seen);
    }

    [Fact]
    public async Task VerifyFull_also_switches_to_mysql_clear_password_inside_verified_tls()
    {
        await using var server = new FakeMySqlServer(Password, fullAuthentication: false, offerTls: true) { Certificate = _certificates.Server(_ca, ["127.0.0.1"]), SwitchToClearPassword = true };
        await using var connection = await ReplicationConnection.OpenAsync(Settings(server) with { Tls = TlsMode.VerifyFull, CaFile = _caFile }, CancellationToken.None);

        Assert.Equal(Authentication.ClearPassword, connection.AuthPlugin);
        Assert.Contains("clear-password", server.Seen);
    }

    [Fact]
    public async Task VerifyFull_refuses_a_certificate_for_another_host_before_any_credential_and_VerifyCA_accepts_it()
    {
        var certificate = _certificates.Server(_ca, ["db.example.com", "10.1.2.3"]);
        await using (var server = new FakeMySqlServer(Password, fullAuthentication: true, offerTls: true) { Certificate = certificate })
        {
            var error = await Assert.ThrowsAsync<MySqlReplicationException>(() => ReplicationConnection.OpenAsync(Settings(server) with { Tls = TlsMode.VerifyFull, CaFile = _caFile }, CancellationToken.None));
            await server.Served.WaitAsync(TimeSpan.FromSeconds(10));

            Assert.Equal(["ssl-request"], server.Seen); // no handshake response, so no user name and no scramble
            Assert.Contains("the certificate is for 'db.example.com', '10.1.2.3', not for '127.0.0.1'", error.Message, StringComparison.Ordinal);
            Assert.Contains("SslMode=VerifyCA", error.Message, StringComparison.Ordinal);
        }

        await using (var server = new FakeMySqlServer(Password, fullAuthentication: true, offerTls: true) { Certificate = certificate })
        {
            await using var connection = await ReplicationConnection.OpenAsync(Settings(server) with { Tls = TlsMode.VerifyCA, CaFile = _caFile }, CancellationToken.None);
            Assert.True(connection.ServerVerified);
            Assert.Contains("tls-clear", server.Seen);
        }
    }

    [Theory]
    [InlineData("VerifyCA")]
    [InlineData("VerifyFull")]
    public async Task An_expired_certificate_is_refused(string sslMode)
    {
        var mode = Enum.Parse<TlsMode>(sslMode);
        var expired = _certificates.Server(_ca, ["127.0.0.1"], DateTimeOffset.UtcNow.AddDays(-10), DateTimeOffset.UtcNow.AddHours(-1));
        await using var server = new FakeMySqlServer(Password, fullAuthentication: true, offerTls: true) { Certificate = expired };
        var error = await Assert.ThrowsAsync<MySqlReplicationException>(() => ReplicationConnection.OpenAsync(Settings(server) with { Tls = mode, CaFile = _caFile }, CancellationToken.None));
        await server.Served.WaitAsync(TimeSpan.FromSeconds(10));

        Assert.Equal(["ssl-request"], server.Seen);
        Assert.Contains("CN=127.0.0.1' is valid from", error.Message, StringComparison.Ordinal);
        Assert.Contains("not now: renew the server's certificate", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("VerifyCA")]
    [InlineData("VerifyFull")]
    public async Task A_certificate_of_another_CA_is_refused(string sslMode)
    {
        var mode = Enum.Parse<TlsMode>(sslMode);
        var other = _certificates.Ca("Some other CA");
        await using var server = new FakeMySqlServer(Password, fullAuthentication: true, offerTls: true) { Certificate = _certificates.Server(other, ["127.0.0.1"]) };
        var error = await Assert.ThrowsAsync<MySqlReplicationException>(() => ReplicationConnection.OpenAsync(Settings(server) with { Tls = mode, CaFile = _caFile }, CancellationToken.None));
        await server.Served.WaitAsync(TimeSpan.FromSeconds(10));

        Assert.Equal(["ssl-request"], server.Seen);
        Assert.Contains("(issued by 'CN=Some other CA') is not signed by a CA of SslCa", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Without_SslCa_VerifyFull_trusts_only_the_systems_CAs()
    {
        await using var server = new FakeMySqlServer(Password, fullAuthentication: true, offerTls: true) { Certificate = _certificates.Server(_ca, ["127.0.0.1"]) };
        var error = await Assert.ThrowsAsync<MySqlReplicationException>(() => ReplicationConnection.OpenAsync(Settings(server) with { Tls = TlsMode.VerifyFull }, CancellationToken.None));

        Assert.Contains("is not signed by a CA this system trusts: set SslCa", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_client_certificate_from_SslCert_and_SslKey_is_presented_when_the_server_asks()
    {
        var client = _certificates.WritePem(_certificates.Client(_ca, "datamesh-client"), "client");
        await using var server = new FakeMySqlServer(Password, fullAuthentication: false, offerTls: true) { Certificate = _certificates.Server(_ca, ["127.0.0.1"]), RequireClientCertificate = true };
        await using var connection = await ReplicationConnection.OpenAsync(
            Settings(server) with { Tls = TlsMode.VerifyFull, CaFile = _caFile, ClientCertificateFile = client, ClientKeyFile = Path.ChangeExtension(client, ".key") }, CancellationToken.None);

        Assert.Contains("client-cert=CN=datamesh-client", server.Seen);
    }

    [Fact]
    public async Task A_client_certificate_from_a_pkcs12_CertificateFile_is_presented_when_the_server_asks()
    {
        var client = _certificates.WritePkcs12(_certificates.Client(_ca, "datamesh-pfx"), "client", "pfx-pässword");
        await using var server = new FakeMySqlServer(Password, fullAuthentication: false, offerTls: true) { Certificate = _certificates.Server(_ca, ["127.0.0.1"]), RequireClientCertificate = true };
        await using var connection = await ReplicationConnection.OpenAsync(
            Settings(server) with { Tls = TlsMode.VerifyCA, CaFile = _caFile, ClientPkcs12File = client, ClientPkcs12Password = "pfx-pässword" }, CancellationToken.None);

        Assert.Contains("client-cert=CN=datamesh-pfx", server.Seen);
    }

    [Fact]
    public async Task To_a_server_on_this_machine_the_password_goes_over_unverified_tls_as_MySqlConnector_does()
    {
        await using var server = new FakeMySqlServer(Password, fullAuthentication: true, offerTls: true);
        await using var connection = await ReplicationConnection.OpenAsync(Settings(server) with { Tls = TlsMode.Required, Local = true }, CancellationToken.None);

        Assert.False(connection.ServerVerified);
        Assert.Contains("server certificate not verified", connection.TlsDescription, StringComparison.Ordinal);
        Assert.Contains("tls-clear", server.Seen);
    }

    [Fact]
    public void The_settings_print_no_password()
    {
        var settings = new ReplicationConnectionSettings("db", 3306, "repl", Password) { ClientPkcs12Password = "pfx-secret", Tls = TlsMode.VerifyFull };
        Assert.Equal("repl@db:3306 (SslMode=VerifyFull)", settings.ToString());
    }

    /// <summary>Settings of a server that is not on this machine (<see cref="ReplicationConnectionSettings.Local"/> is false),
    /// as a server on the network would be.</summary>
    private static ReplicationConnectionSettings Settings(FakeMySqlServer server) =>
        new("127.0.0.1", server.Port, "repl", Password) { ConnectTimeout = TimeSpan.FromSeconds(10) };
}
