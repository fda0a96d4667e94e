using System.Buffers;
using System.Buffers.Binary;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;
using System.Text;

namespace DataMesh.Connectors.Cassandra.Native;

/// <summary>Parses a response body; the reader starts after the frame's tracing id, warnings and custom payload.</summary>
internal delegate T CqlResponseParser<out T>(CqlOpcode opcode, ref CqlBodyReader reader);

/// <summary>
/// A small client of CQL native protocol v4 (Apache Cassandra's <c>native_protocol_v4.spec</c>), enough to read
/// <c>system_schema</c>: <c>STARTUP</c> (CQL 3.0.0, no compression), <c>PasswordAuthenticator</c> by SASL PLAIN
/// (<c>AUTH_RESPONSE</c> until <c>AUTH_SUCCESS</c>), and <c>QUERY</c> at consistency ONE with result paging. TLS through
/// <see cref="SslStream"/> with the server's certificate always verified. One request at a time: each gets the next
/// stream id, and an answer on another stream is a protocol error (server <c>EVENT</c>s, stream -1, are passed over).
/// </summary>
/// <remarks>Not thread-safe. Any failure (an ERROR frame aside), a timeout or a cancellation leaves the connection
/// unusable: dispose it and connect again. Tested against a fake server that speaks the frames as the spec says, not
/// against a real Cassandra (none runs here).</remarks>
internal sealed class CqlConnection : IAsyncDisposable
{
    private readonly CqlConnectionSettings _settings;
    private readonly TcpClient _client;
    private Stream _stream;
    private short _nextStream;
    private bool _broken;

    private CqlConnection(CqlConnectionSettings settings, TcpClient client)
    {
        _settings = settings;
        _client = client;
        _stream = client.GetStream();
    }

    /// <summary>The authenticator the node asked for, or null when it asked for none.</summary>
    public string? Authenticator { get; private set; }

    /// <summary>Connects, upgrades to TLS when set, and completes the handshake (STARTUP, authentication, READY).</summary>
    /// <exception cref="CqlServerException">The node refused the handshake (bad credentials: code 0x0100).</exception>
    /// <exception cref="AuthenticationException">The node's TLS certificate is refused; no credential was sent.</exception>
    /// <exception cref="CqlProtocolException">The node does not speak protocol v4.</exception>
    /// <exception cref="TimeoutException">Nothing within <see cref="CqlConnectionSettings.ConnectTimeout"/>.</exception>
    public static async Task<CqlConnection> OpenAsync(CqlConnectionSettings settings, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(settings);
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(settings.ConnectTimeout);
        var client = new TcpClient { NoDelay = true };
        CqlConnection? connection = null;
        try
        {
            try
            {
                await client.ConnectAsync(settings.Host, settings.Port, timeout.Token).ConfigureAwait(false);
            }
            catch (SocketException ex)
            {
                throw new IOException($"Cassandra {settings.Endpoint}: cannot connect to the native transport ({ex.SocketErrorCode}): is the node up, native_transport_port {settings.Port}, and start_native_transport true?", ex);
            }

            connection = new CqlConnection(settings, client);
            if (settings.Tls)
            {
                await connection.StartTlsAsync(timeout.Token).ConfigureAwait(false);
            }

            await connection.HandshakeAsync(timeout.Token).ConfigureAwait(false);
            return connection;
        }
        catch (OperationCanceledException ex) when (!cancellationToken.IsCancellationRequested)
        {
            await DisposeAsync(connection, client).ConfigureAwait(false);
            throw new TimeoutException($"Cassandra {settings.Endpoint}: no connection and handshake within {settings.ConnectTimeout.TotalSeconds:0.###} s (ConnectTimeout)", ex);
        }
        catch
        {
            await DisposeAsync(connection, client).ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>Runs <paramref name="cql"/> at consistency ONE and reads every page of its rows.</summary>
    /// <param name="cql">The statement (no bound values).</param>
    /// <param name="pageSize">Rows per page asked for.</param>
    /// <param name="cancellationToken">Cancels; the connection is then unusable.</param>
    /// <exception cref="CqlServerException">An ERROR frame (syntax error, unauthorized, invalid, …).</exception>
    /// <exception cref="CqlProtocolException">A frame that breaks the protocol.</exception>
    /// <exception cref="TimeoutException">A page not answered within <see cref="CqlConnectionSettings.RequestTimeout"/>.</exception>
    public async Task<CqlRows> QueryAsync(string cql, int pageSize, CancellationToken cancellationToken)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(pageSize, 1);
        IReadOnlyList<CqlColumn>? columns = null;
        List<object?[]> rows = [];
        byte[]? pagingState = null;
        var pages = 0;
        do
        {
            var request = new CqlBodyWriter(CqlOpcode.Query, NextStream());
            request.WriteLongString(cql);
            request.WriteShort(CqlFrame.ConsistencyOne);
            request.WriteByte((byte)(0x04 | (pagingState is null ? 0 : 0x08))); // page_size, with_paging_state
            request.WriteInt(pageSize);
            if (pagingState is not null)
            {
                request.WriteBytes(pagingState);
            }

            var page = await ExchangeAsync(request, $"the query '{cql}' (page {pages + 1})", static (CqlOpcode opcode, ref CqlBodyReader reader) =>
            {
                if (opcode != CqlOpcode.Result)
                {
                    throw reader.Error("opcode", $"a {opcode} frame where a RESULT was expected");
                }

                var kind = reader.ReadInt("result kind");
                return kind == CqlFrame.ResultRows
                    ? CqlRowsPage.Create(ref reader)
                    : throw reader.Error("result kind", $"kind {kind} where ROWS (2) was expected");
            }, cancellationToken).ConfigureAwait(false);
            columns ??= page.Columns;
            rows.AddRange(page.Rows);
            pagingState = page.PagingState;
            pages++;
        }
        while (pagingState is not null);

        return new CqlRows(columns, rows, pages);
    }

    /// <inheritdoc />
    public ValueTask DisposeAsync() => DisposeAsync(this, _client);

    private static async ValueTask DisposeAsync(CqlConnection? connection, TcpClient client)
    {
        if (connection is not null)
        {
            await connection._stream.DisposeAsync().ConfigureAwait(false);
        }

        client.Dispose();
    }

    private async Task StartTlsAsync(CancellationToken cancellationToken)
    {
        string? problem = null;
        var tls = new SslStream(_stream, leaveInnerStreamOpen: false);
        _stream = tls;
        var roots = _settings.TrustedCertificates;
        var options = new SslClientAuthenticationOptions
        {
            TargetHost = _settings.Host,
            EnabledSslProtocols = SslProtocols.None, // the system's choice: TLS 1.2 and 1.3
            // As MySqlConnector by default: revocation is not checked (a node's CA seldom publishes lists it can reach,
            // and an unreachable list would read as an untrusted chain).
            CertificateRevocationCheckMode = X509RevocationMode.NoCheck,
            CertificateChainPolicy = roots is null ? null : CassandraTls.CustomRoots(roots),
            RemoteCertificateValidationCallback = (_, certificate, _, errors) =>
            {
                problem = CertificateProblem(certificate, errors, roots is not null);
                return problem is null;
            },
        };
        try
        {
            await tls.AuthenticateAsClientAsync(options, cancellationToken).ConfigureAwait(false);
        }
        catch (AuthenticationException ex)
        {
            throw new AuthenticationException($"Cassandra {_settings.Endpoint}: the TLS certificate is refused: {problem ?? ex.Message}. No credential was sent.", ex);
        }
    }

    private string? CertificateProblem(X509Certificate? certificate, SslPolicyErrors errors, bool customRoots)
    {
        if (certificate is null || (errors & SslPolicyErrors.RemoteCertificateNotAvailable) != 0)
        {
            return "the node sent no certificate";
        }

        if ((errors & SslPolicyErrors.RemoteCertificateChainErrors) != 0)
        {
            return $"the certificate '{certificate.Subject}' (issued by '{certificate.Issuer}') is not signed by a CA {(customRoots ? "of the trusted CA file" : "this system trusts")}, or is not valid now: set the CA file to the PEM of the CA that signed the node's certificate";
        }

        if ((errors & SslPolicyErrors.RemoteCertificateNameMismatch) != 0)
        {
            return $"the certificate '{certificate.Subject}' does not name '{_settings.Host}': connect by one of the names in its subjectAltName";
        }

        return null;
    }

    private async Task HandshakeAsync(CancellationToken cancellationToken)
    {
        var startup = new CqlBodyWriter(CqlOpcode.Startup, NextStream());
        startup.WriteStringMap([new("CQL_VERSION", "3.0.0")]);
        var authenticator = await ExchangeAsync(startup, "STARTUP", static (CqlOpcode opcode, ref CqlBodyReader reader) => opcode switch
        {
            CqlOpcode.Ready => string.Empty,
            CqlOpcode.Authenticate => reader.ReadString("authenticator"),
            _ => throw reader.Error("opcode", $"a {opcode} frame where READY or AUTHENTICATE was expected"),
        }, cancellationToken).ConfigureAwait(false);
        if (authenticator.Length == 0)
        {
            return;
        }

        Authenticator = authenticator;
        if (string.IsNullOrEmpty(_settings.User))
        {
            throw new CqlServerException(_settings.Endpoint, 0x0100, $"the node requires authentication ({authenticator}) and no user is configured", "STARTUP");
        }

        // SASL PLAIN (RFC 4616): authorization id (empty), NUL, user, NUL, password.
        var user = Encoding.UTF8.GetBytes(_settings.User);
        var password = Encoding.UTF8.GetBytes(_settings.Password ?? string.Empty);
        var token = new byte[2 + user.Length + password.Length];
        user.CopyTo(token.AsSpan(1));
        password.CopyTo(token.AsSpan(2 + user.Length));
        var response = new CqlBodyWriter(CqlOpcode.AuthResponse, NextStream());
        response.WriteBytes(token);
        Array.Clear(token);
        Array.Clear(password);
        try
        {
            var done = await ExchangeAsync(response, $"authentication as '{_settings.User}' ({authenticator})", static (CqlOpcode opcode, ref CqlBodyReader reader) => opcode switch
            {
                CqlOpcode.AuthSuccess => true,
                CqlOpcode.AuthChallenge => false,
                _ => throw reader.Error("opcode", $"a {opcode} frame where AUTH_SUCCESS was expected"),
            }, cancellationToken).ConfigureAwait(false);
            if (!done)
            {
                throw new CqlProtocolException($"Cassandra {_settings.Endpoint}: the authenticator {authenticator} sent a challenge after the PLAIN credentials; only PasswordAuthenticator (SASL PLAIN) is supported");
            }
        }
        finally
        {
            response.Clear();
        }
    }

    private short NextStream()
    {
        var stream = _nextStream;
        _nextStream = (short)((_nextStream + 1) & 0x7FFF);
        return stream;
    }

    private async Task<T> ExchangeAsync<T>(CqlBodyWriter request, string what, CqlResponseParser<T> parse, CancellationToken cancellationToken)
    {
        if (_broken)
        {
            throw new InvalidOperationException($"Cassandra {_settings.Endpoint}: an earlier request on this connection failed midway; open a new connection");
        }

        var frame = request.Complete();
        var stream = BinaryPrimitives.ReadInt16BigEndian(frame.Span[2..]);
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(_settings.RequestTimeout);
        _broken = true; // until the answer is read whole
        byte[]? body = null;
        try
        {
            await _stream.WriteAsync(frame, timeout.Token).ConfigureAwait(false);
            await _stream.FlushAsync(timeout.Token).ConfigureAwait(false);
            var header = new byte[CqlFrame.HeaderLength];
            while (true)
            {
                await ReadFullyAsync(header, CqlFrame.HeaderLength, "a frame header", what, timeout.Token).ConfigureAwait(false);
                var (opcode, length, answerStream, flags) = ParseHeader(header, what);
                body = ArrayPool<byte>.Shared.Rent(Math.Max(length, 1));
                await ReadFullyAsync(body, length, $"the body of a {opcode} frame ({length} bytes)", what, timeout.Token).ConfigureAwait(false);
                if (answerStream == -1 && opcode == CqlOpcode.Event)
                {
                    ArrayPool<byte>.Shared.Return(body);
                    body = null;
                    continue; // a server event (never registered for): passed over
                }

                if (answerStream != stream)
                {
                    throw new CqlProtocolException($"Cassandra {_settings.Endpoint}: a {opcode} frame on stream {answerStream} answered {what}, sent on stream {stream}");
                }

                _broken = false;
                return Parse(body.AsSpan(0, length), opcode, flags, what, parse);
            }
        }
        catch (OperationCanceledException ex) when (!cancellationToken.IsCancellationRequested)
        {
            throw new TimeoutException($"Cassandra {_settings.Endpoint}: no answer to {what} within {_settings.RequestTimeout.TotalSeconds:0.###} s (RequestTimeout)", ex);
        }
        finally
        {
            if (body is not null)
            {
                ArrayPool<byte>.Shared.Return(body, clearArray: true);
            }
        }
    }

    private T Parse<T>(ReadOnlySpan<byte> body, CqlOpcode opcode, byte flags, string what, CqlResponseParser<T> parse)
    {
        var reader = new CqlBodyReader(body, $"Cassandra {_settings.Endpoint}: the {opcode} frame answering {what}");
        if ((flags & CqlFrame.FlagTracing) != 0)
        {
            reader.ReadUuid("tracing id");
        }

        if ((flags & CqlFrame.FlagWarning) != 0)
        {
            reader.ReadStringList("warnings");
        }

        if ((flags & CqlFrame.FlagCustomPayload) != 0)
        {
            reader.SkipBytesMap("custom payload");
        }

        if (opcode == CqlOpcode.Error)
        {
            var code = reader.ReadInt("error code");
            var message = reader.ReadString("error message");
            throw new CqlServerException(_settings.Endpoint, code, message, what);
        }

        return parse(opcode, ref reader);
    }

    private (CqlOpcode Opcode, int Length, short Stream, byte Flags) ParseHeader(byte[] header, string what)
    {
        var version = header[0];
        var opcode = (CqlOpcode)header[4];
        var length = BinaryPrimitives.ReadInt32BigEndian(header.AsSpan(5));
        if (version != CqlFrame.ResponseVersion)
        {
            var speaks = (version & 0x80) != 0 && (version & 0x7F) is >= 1 and <= 6
                ? $": the node answers in protocol version {version & 0x7F} (this client speaks v4, which Cassandra 2.2 to 5.0 accept)"
                : " (is this a CQL native transport port?)";
            throw new CqlProtocolException($"Cassandra {_settings.Endpoint}: the answer to {what} is not a CQL v4 response frame: version byte 0x{version:X2}{speaks}");
        }

        if ((header[1] & CqlFrame.FlagCompression) != 0)
        {
            throw new CqlProtocolException($"Cassandra {_settings.Endpoint}: a compressed frame answered {what}, though no compression was asked for");
        }

        if (length < 0 || length > CqlFrame.MaxBodyLength)
        {
            throw new CqlProtocolException($"Cassandra {_settings.Endpoint}: the frame answering {what} says its body is {length} bytes (at most 256 MB)");
        }

        if (!Enum.IsDefined(opcode))
        {
            throw new CqlProtocolException($"Cassandra {_settings.Endpoint}: the frame answering {what} has an unknown opcode 0x{(byte)opcode:X2}");
        }

        return (opcode, length, BinaryPrimitives.ReadInt16BigEndian(header.AsSpan(2)), header[1]);
    }

    private async Task ReadFullyAsync(byte[] buffer, int count, string part, string what, CancellationToken cancellationToken)
    {
        var read = await _stream.ReadAtLeastAsync(buffer.AsMemory(0, count), count, throwOnEndOfStream: false, cancellationToken).ConfigureAwait(false);
        if (read < count)
        {
            throw new CqlProtocolException($"Cassandra {_settings.Endpoint}: the connection closed inside {part} answering {what}: {read} of {count} bytes came");
        }
    }
}
