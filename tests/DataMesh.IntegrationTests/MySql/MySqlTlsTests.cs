using DataMesh.Connectors.MySql;
using DataMesh.Connectors.MySql.Protocol;
using DataMesh.IntegrationTests.Infrastructure;
using DataMesh.Tests.Tls;
using MySqlConnector;
using Xunit;

namespace DataMesh.IntegrationTests.MySql;

/// <summary>
/// TLS against the real MariaDB, whose certificate (for IP 127.0.0.1 only) scripts/servers.sh signs with a throwaway CA:
/// both of a source's paths (MySqlConnector and the replication client) accept and refuse the same certificates, a
/// source streams over verified TLS and over mutual TLS, and a refused one says what to set. No password appears in any
/// log line, status or exception of these tests.
/// </summary>
public sealed class MySqlTlsTests(MariaDbServer server) : IClassFixture<MariaDbServer>, IDisposable
{
    private static readonly string Ca = Path.Combine(ServerEnvironment.Require(ServerEnvironment.TlsDirectory), "ca.pem");
    private readonly TestCertificates _certificates = new();
    private readonly SecretScan _scan = new();

    public void Dispose() => _certificates.Dispose();

    [Fact]
    public async Task A_source_with_VerifyFull_and_the_servers_CA_streams_over_verified_tls()
    {
        await using var cdc = await MySqlCdc.CreateAsync(server, "CREATE TABLE t (id INT PRIMARY KEY, v VARCHAR(10))");
        await cdc.StartAsync(o => o.ConnectionString = Tls(server.ConnectionString, "127.0.0.1", MySqlSslMode.VerifyFull, Ca), logs: _scan);
        await cdc.WaitForSavedPositionAsync();
        await cdc.ExecuteAsync("INSERT INTO t VALUES (1, 'tls')");

        var record = Assert.Single(await cdc.ReadAsync(cdc.Topic("t"), 1));
        Assert.Equal("tls", record.After!["v"]);
        Assert.Contains(_scan.Texts, line => line.Contains($"MySQL source '{cdc.SourceName}' connected to 127.0.0.1", StringComparison.Ordinal)
            && line.Contains("server certificate verified", StringComparison.Ordinal));
        await cdc.StopAsync();
        _scan.AssertNoSecret();
    }

    [Theory]
    [InlineData("127.0.0.1", "VerifyFull", "servers-ca", null)]
    [InlineData("localhost", "VerifyFull", "servers-ca", "the certificate is for '127.0.0.1', not for 'localhost'")]
    [InlineData("localhost", "VerifyCA", "servers-ca", null)]
    [InlineData("127.0.0.1", "VerifyCA", "other-ca", "(issued by 'CN=DataMesh throwaway test CA') is not signed by a CA of SslCa")]
    [InlineData("127.0.0.1", "VerifyFull", "other-ca", "is not signed by a CA of SslCa")]
    [InlineData("127.0.0.1", "VerifyFull", null, "is not signed by a CA this system trusts")]
    [InlineData("127.0.0.1", "Required", null, null)]
    public async Task Both_paths_of_a_source_accept_and_refuse_the_same_certificates(string host, string sslMode, string? ca, string? refusal)
    {
        var caFile = ca switch
        {
            "servers-ca" => Ca,
            "other-ca" => _certificates.WritePem(_certificates.Ca("Another CA"), "other-ca"),
            _ => null,
        };
        var connectionString = Tls(server.ConnectionString, host, Enum.Parse<MySqlSslMode>(sslMode), caFile);

        Exception? replicationError = null;
        try
        {
            await using var connection = await ReplicationConnection.OpenAsync(MySqlTls.ReplicationSettings(new MySqlConnectionStringBuilder(connectionString)), CancellationToken.None);
            Assert.True(connection.IsEncrypted);
            Assert.Equal(sslMode.StartsWith("Verify", StringComparison.Ordinal), connection.ServerVerified);
        }
        catch (MySqlReplicationException ex)
        {
            replicationError = ex;
            _scan.Add(ex.ToString());
        }

        Exception? connectorError = null;
        try
        {
            await using var connection = new MySqlConnection(connectionString);
            await connection.OpenAsync();
            Assert.NotNull(await new MySqlCommand("SELECT 1", connection).ExecuteScalarAsync());
        }
        catch (MySqlException ex)
        {
            connectorError = ex;
            _scan.Add(ex.ToString());
        }

        Assert.True((replicationError is null) == (connectorError is null), $"the replication client {(replicationError is null ? "accepted" : "refused")} and MySqlConnector {(connectorError is null ? "accepted" : "refused")} the certificate: {replicationError?.Message} {connectorError?.Message}");
        if (refusal is null)
        {
            Assert.Null(replicationError);
        }
        else
        {
            Assert.Contains(refusal, Assert.IsType<MySqlReplicationException>(replicationError).Message, StringComparison.Ordinal);
            _scan.AssertNoSecret();
        }
    }

    [Fact]
    public async Task A_source_refused_by_the_servers_certificate_fails_with_what_to_set_and_no_secret()
    {
        await using var cdc = await MySqlCdc.CreateAsync(server, "CREATE TABLE t (id INT PRIMARY KEY)");
        var options = new MySqlSourceOptions
        {
            ConnectionString = Tls(server.ConnectionString, "localhost", MySqlSslMode.VerifyFull, Ca),
            IncludeTables = { cdc.Database + ".*" },
        };

        var status = await cdc.RunUntilStoppedAsync(options, _scan);
        _scan.Add(status.ToString());

        Assert.Equal(DataMesh.Sources.SourceState.Failed, status.State);
        Assert.Contains("The TLS certificate of localhost:", status.Message, StringComparison.Ordinal);
        Assert.Contains("not for 'localhost' (SslMode=VerifyFull checks the host name)", status.Message, StringComparison.Ordinal);
        Assert.Contains("SslMode=VerifyCA", status.Message, StringComparison.Ordinal);
        _scan.AssertNoSecret();
    }

    [Fact]
    public async Task A_user_that_requires_a_client_certificate_streams_with_SslCert_and_SslKey()
    {
        var user = ServerEnvironment.Require(ServerEnvironment.TlsUser);
        var serversCa = _certificates.LoadCa(Ca, Path.Combine(ServerEnvironment.Require(ServerEnvironment.TlsDirectory), "ca.key"));
        var client = _certificates.WritePem(_certificates.Client(serversCa, user), "client");
        var builder = new MySqlConnectionStringBuilder(Tls(server.ConnectionString, "127.0.0.1", MySqlSslMode.VerifyFull, Ca))
        {
            UserID = user,
            Password = ServerEnvironment.Require(ServerEnvironment.TlsPassword),
        };

        // Without a client certificate, and with one for another name, the server refuses the user on both paths.
        var someoneElse = _certificates.WritePem(_certificates.Client(serversCa, "someone-else"), "someone-else");
        foreach (var (certificate, key) in new[] { (string.Empty, string.Empty), (someoneElse, Path.ChangeExtension(someoneElse, ".key")) })
        {
            var refused = new MySqlConnectionStringBuilder(builder.ConnectionString) { SslCert = certificate, SslKey = key };
            var replication = await Assert.ThrowsAsync<MySqlReplicationException>(() => ReplicationConnection.OpenAsync(MySqlTls.ReplicationSettings(refused), CancellationToken.None));
            Assert.Equal(1045, replication.ErrorCode);
            var connector = await Assert.ThrowsAsync<MySqlException>(() => new MySqlConnection(refused.ConnectionString).OpenAsync());
            Assert.Equal(MySqlErrorCode.AccessDenied, connector.ErrorCode);
            _scan.Add(replication.ToString());
            _scan.Add(connector.ToString());
        }

        builder.SslCert = client;
        builder.SslKey = Path.ChangeExtension(client, ".key");
        await using var cdc = await MySqlCdc.CreateAsync(server, "CREATE TABLE t (id INT PRIMARY KEY, v VARCHAR(10))");
        await cdc.StartAsync(o => o.ConnectionString = builder.ConnectionString, logs: _scan);
        await cdc.WaitForSavedPositionAsync();
        await cdc.ExecuteAsync("INSERT INTO t VALUES (1, 'mtls')");

        var record = Assert.Single(await cdc.ReadAsync(cdc.Topic("t"), 1));
        Assert.Equal("mtls", record.After!["v"]);
        Assert.Contains(_scan.Texts, line => line.Contains($"connected to 127.0.0.1", StringComparison.Ordinal) && line.Contains("server certificate verified", StringComparison.Ordinal));
        await cdc.StopAsync();
        _scan.AssertNoSecret();
    }

    /// <summary>The connection string with another host, SslMode and SslCa, and no pooling (each test sees its own handshakes).</summary>
    private static string Tls(string connectionString, string host, MySqlSslMode mode, string? caFile) =>
        new MySqlConnectionStringBuilder(connectionString) { Server = host, SslMode = mode, SslCa = caFile ?? string.Empty, Pooling = false }.ConnectionString;
}
