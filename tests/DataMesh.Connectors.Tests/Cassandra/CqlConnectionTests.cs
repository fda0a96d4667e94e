using System.Diagnostics;
using System.Security.Authentication;
using DataMesh.Connectors.Cassandra.Native;
using DataMesh.Tests.Tls;
using Xunit;

namespace DataMesh.Tests.Cassandra;

/// <summary>
/// Our CQL native-protocol v4 client against <see cref="FakeCassandraServer"/>, which speaks the frames as
/// <c>native_protocol_v4.spec</c> says (no Cassandra runs here): the handshake, SASL PLAIN for PasswordAuthenticator,
/// paging, ERROR frames, and frames that break the protocol — each a clear error, never a hang.
/// </summary>
public sealed class CqlConnectionTests : IAsyncDisposable
{
    private const string Numbers = "SELECT n FROM ks.numbers";
    private readonly List<FakeCassandraServer> _servers = [];

    [Fact]
    public async Task The_handshake_authenticates_with_sasl_plain_and_a_query_reads_every_page_once_at_consistency_one()
    {
        var server = Server(new Dictionary<string, string> { ["cdc"] = "s3cret" });
        server.Answer(new FakeResult(Numbers, "ks", "numbers", [("n", [0x0009]), ("name", [0x000D])], [.. Enumerable.Range(0, 7).Select(i => new object?[] { i, i == 3 ? null : $"n{i}" })]));

        await using var connection = await CqlConnection.OpenAsync(Settings(server, "cdc", "s3cret"), CancellationToken.None);
        var rows = await connection.QueryAsync(Numbers, pageSize: 3, CancellationToken.None);

        Assert.Equal("org.apache.cassandra.auth.PasswordAuthenticator", connection.Authenticator);
        Assert.Equal("3.0.0", Assert.Single(server.Startups)["CQL_VERSION"]);
        Assert.False(Assert.Single(server.Startups).ContainsKey("COMPRESSION"));
        Assert.Equal(3, rows.Pages);
        Assert.Equal(Enumerable.Range(0, 7), rows.Rows.Select(r => rows.Get<int>(r, "n")));
        Assert.Null(rows.Get<string>(rows.Rows[3], "name"));
        Assert.Equal("n6", rows.Get<string>(rows.Rows[6], "name"));
        var queries = server.Requests.Where(r => r.Opcode == 0x07).ToList();
        Assert.Equal([false, true, true], queries.Select(q => q.Paged));
        Assert.All(queries, q => Assert.Equal((1, 3), (q.Consistency, q.PageSize)));
        var streams = server.Requests.Select(r => r.Stream).ToList();
        Assert.Equal(streams.Distinct().Count(), streams.Count);
    }

    [Fact]
    public async Task A_node_without_authentication_answers_ready_and_needs_no_user()
    {
        var server = Server();
        server.Answer(new FakeResult(Numbers, "ks", "numbers", [("n", [0x0009])], [[1]]));

        await using var connection = await CqlConnection.OpenAsync(Settings(server), CancellationToken.None);

        Assert.Null(connection.Authenticator);
        var rows = await connection.QueryAsync(Numbers, 100, CancellationToken.None);
        Assert.Equal(1, rows.Get<int>(Assert.Single(rows.Rows), "n"));
        Assert.Equal(1, rows.Pages);
    }

    [Fact]
    public async Task Bad_credentials_are_an_error_with_the_code_and_the_nodes_message_and_never_the_password()
    {
        var server = Server(new Dictionary<string, string> { ["cdc"] = "s3cret" });

        var error = await Assert.ThrowsAsync<CqlServerException>(() => CqlConnection.OpenAsync(Settings(server, "cdc", "wrong-password"), CancellationToken.None));

        Assert.Equal(0x0100, error.Code);
        Assert.Contains("Bad credentials", error.Message, StringComparison.Ordinal);
        Assert.Contains("Provided username cdc and/or password are incorrect", error.Message, StringComparison.Ordinal);
        Assert.Contains("authentication as 'cdc'", error.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("wrong-password", error.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_node_that_requires_authentication_without_a_configured_user_says_so()
    {
        var server = Server(new Dictionary<string, string> { ["cdc"] = "s3cret" });

        var error = await Assert.ThrowsAsync<CqlServerException>(() => CqlConnection.OpenAsync(Settings(server), CancellationToken.None));

        Assert.Contains("requires authentication (org.apache.cassandra.auth.PasswordAuthenticator) and no user is configured", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task An_error_frame_becomes_an_exception_with_its_code_and_message_and_the_connection_stays_usable()
    {
        var server = Server();
        server.Answer(new FakeResult(Numbers, "ks", "numbers", [("n", [0x0009])], [[1]]));
        await using var connection = await CqlConnection.OpenAsync(Settings(server), CancellationToken.None);

        var error = await Assert.ThrowsAsync<CqlServerException>(() => connection.QueryAsync("SELECT * FROM ks.nothing", 10, CancellationToken.None));

        Assert.Equal(0x2200, error.Code);
        Assert.Equal("unconfigured table or unknown statement: SELECT * FROM ks.nothing", error.ServerMessage);
        Assert.Contains($"Cassandra 127.0.0.1:{server.Port} answered the query 'SELECT * FROM ks.nothing' (page 1) with error 0x2200 (Invalid)", error.Message, StringComparison.Ordinal);
        Assert.Single((await connection.QueryAsync(Numbers, 10, CancellationToken.None)).Rows);
    }

    [Theory]
    [InlineData(FakeMisbehaviour.TruncatedBody, "the connection closed inside the body of a Result frame (256 bytes)")]
    [InlineData(FakeMisbehaviour.Garbage, "is not a CQL v4 response frame: version byte 0x48 (is this a CQL native transport port?)")]
    [InlineData(FakeMisbehaviour.WrongStream, "a Result frame on stream 2 answered the query 'SELECT n FROM ks.numbers' (page 1), sent on stream 1")]
    public async Task A_frame_that_breaks_the_protocol_is_a_clear_error_at_once(FakeMisbehaviour misbehaviour, string expected)
    {
        var server = Server();
        server.Answer(new FakeResult(Numbers, "ks", "numbers", [("n", [0x0009])], [[1]]));
        await using var connection = await CqlConnection.OpenAsync(Settings(server), CancellationToken.None);
        server.Misbehaviour = misbehaviour;
        var clock = Stopwatch.StartNew();

        var error = await Assert.ThrowsAsync<CqlProtocolException>(() => connection.QueryAsync(Numbers, 10, CancellationToken.None));

        Assert.Contains(expected, error.Message, StringComparison.Ordinal);
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(5), $"took {clock.Elapsed}");
        var again = await Assert.ThrowsAsync<InvalidOperationException>(() => connection.QueryAsync(Numbers, 10, CancellationToken.None));
        Assert.Contains("open a new connection", again.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_node_that_never_answers_times_out_and_a_cancelled_query_stops()
    {
        var server = Server();
        await using var connection = await CqlConnection.OpenAsync(Settings(server) with { RequestTimeout = TimeSpan.FromMilliseconds(300) }, CancellationToken.None);
        server.Misbehaviour = FakeMisbehaviour.Silence;

        var timeout = await Assert.ThrowsAsync<TimeoutException>(() => connection.QueryAsync(Numbers, 10, CancellationToken.None));
        Assert.Contains("no answer to the query 'SELECT n FROM ks.numbers' (page 1) within 0.3 s (RequestTimeout)", timeout.Message, StringComparison.Ordinal);

        await using var second = await CqlConnection.OpenAsync(Settings(server), CancellationToken.None);
        using var cancel = new CancellationTokenSource(TimeSpan.FromMilliseconds(200));
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => second.QueryAsync(Numbers, 10, cancel.Token));
    }

    [Fact]
    public async Task Random_answers_give_protocol_or_server_errors_never_a_crash_or_a_hang()
    {
        var server = Server();
        var random = new Random(15);
        for (var i = 0; i < 300; i++)
        {
            // Half a well-framed RESULT or ERROR on the right stream with a random body, half bytes at random.
            var body = new byte[random.Next(0, 80)];
            random.NextBytes(body);
            if (i % 2 == 0 && body.Length >= 4)
            {
                body[0] = body[1] = body[2] = 0;
                body[3] = 2; // kind ROWS
            }

            var framed = i % 4 != 3;
            var answer = framed ? [0x84, 0, 0, 1, (byte)(i % 3 == 0 ? 0x00 : 0x08), 0, 0, (byte)(body.Length >> 8), (byte)body.Length, .. body] : body;
            server.RawAnswer = answer;
            await using var connection = await CqlConnection.OpenAsync(Settings(server) with { RequestTimeout = TimeSpan.FromSeconds(2) }, CancellationToken.None);
            var error = await Record.ExceptionAsync(() => connection.QueryAsync(Numbers, 10, CancellationToken.None));
            Assert.True(error is CqlProtocolException or CqlServerException, $"answer {i} ({Convert.ToHexString(answer)}): {error}");
        }
    }

    [Fact]
    public async Task Tls_to_a_node_whose_certificate_is_not_trusted_is_refused_before_any_credential_and_a_trusted_ca_is_accepted()
    {
        using var certificates = new TestCertificates();
        var ca = certificates.Ca("Cassandra test CA");
        var server = Server(new Dictionary<string, string> { ["cdc"] = "s3cret" }, certificates.Server(ca, ["127.0.0.1"]));
        server.Answer(new FakeResult(Numbers, "ks", "numbers", [("n", [0x0009])], [[1]]));

        var refused = await Assert.ThrowsAsync<AuthenticationException>(() => CqlConnection.OpenAsync(Settings(server, "cdc", "s3cret") with { Tls = true }, CancellationToken.None));

        Assert.Contains("the TLS certificate is refused: the certificate 'CN=127.0.0.1' (issued by 'CN=Cassandra test CA') is not signed by a CA this system trusts", refused.Message, StringComparison.Ordinal);
        Assert.Contains("No credential was sent", refused.Message, StringComparison.Ordinal);
        Assert.Empty(server.Startups);

        using var ca2 = certificates.Ca("Another CA");
        var other = await Assert.ThrowsAsync<AuthenticationException>(() => CqlConnection.OpenAsync(Settings(server, "cdc", "s3cret") with { Tls = true, TrustedCertificates = [ca2] }, CancellationToken.None));
        Assert.Contains("not signed by a CA of the trusted CA file", other.Message, StringComparison.Ordinal);

        await using var connection = await CqlConnection.OpenAsync(Settings(server, "cdc", "s3cret") with { Tls = true, TrustedCertificates = [ca] }, CancellationToken.None);
        Assert.Single((await connection.QueryAsync(Numbers, 10, CancellationToken.None)).Rows);
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var server in _servers)
        {
            await server.DisposeAsync();
        }
    }

    internal static CqlConnectionSettings Settings(FakeCassandraServer server, string? user = null, string? password = null) =>
        new("127.0.0.1", server.Port, user, password, Tls: false, TrustedCertificates: null, TimeSpan.FromSeconds(5), TimeSpan.FromSeconds(5));

    private FakeCassandraServer Server(IReadOnlyDictionary<string, string>? users = null, System.Security.Cryptography.X509Certificates.X509Certificate2? certificate = null)
    {
        var server = new FakeCassandraServer(users, certificate);
        _servers.Add(server);
        return server;
    }
}
