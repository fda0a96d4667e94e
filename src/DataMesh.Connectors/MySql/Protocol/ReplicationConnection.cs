using System.Buffers;
using System.Buffers.Binary;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Authentication;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;

namespace DataMesh.Connectors.MySql.Protocol;

/// <summary>How the replication client uses TLS: MySqlConnector's <c>SslMode</c>, with the same meaning.</summary>
internal enum TlsMode
{
    /// <summary>Never.</summary>
    None,

    /// <summary>When the server offers it, without checking its certificate: the password itself is never sent over it.</summary>
    Preferred,

    /// <summary>Always, without checking the certificate: the password itself is never sent over it.</summary>
    Required,

    /// <summary>Always, checking that a trusted CA (<c>SslCa</c>, else the system's) signed the certificate, not the host name.</summary>
    VerifyCA,

    /// <summary>Always, checking the chain and that the certificate names the host.</summary>
    VerifyFull,
}

/// <summary>What the replication client connects with. <see cref="ToString"/> shows no secret.</summary>
internal sealed record ReplicationConnectionSettings(string Host, int Port, string User, string Password)
{
    public TlsMode Tls { get; init; } = TlsMode.Preferred;

    /// <summary>A PEM file of the CAs that may sign the server's certificate (<c>SslCa</c>); null for the system's CAs.</summary>
    public string? CaFile { get; init; }

    /// <summary>The client certificate (PEM, <c>SslCert</c>) with <see cref="ClientKeyFile"/>, for servers that require one.</summary>
    public string? ClientCertificateFile { get; init; }

    /// <summary>The client certificate's private key (PEM, unencrypted, <c>SslKey</c>).</summary>
    public string? ClientKeyFile { get; init; }

    /// <summary>A PKCS #12 file with the client certificate and its key (<c>CertificateFile</c>), the alternative to the PEM pair.</summary>
    public string? ClientPkcs12File { get; init; }

    /// <summary>The password of <see cref="ClientPkcs12File"/> (<c>CertificatePassword</c>).</summary>
    public string? ClientPkcs12Password { get; init; }

    /// <summary>Whether revocation is checked online for a certificate verified against the system's CAs
    /// (<see cref="TlsMode.VerifyFull"/> without <c>SkipCertificateRevocationCheck</c>, as MySqlConnector does).</summary>
    public bool CheckRevocation { get; init; }

    /// <summary>Whether the server is on this machine (a loopback address), where no network man in the middle can be:
    /// the password may then be sent as the server asks over any channel, as MySqlConnector does.</summary>
    public bool Local { get; init; }

    /// <summary>The server's RSA public key (PEM) for caching_sha2_password's full path without TLS, or null.</summary>
    public string? ServerRsaPublicKey { get; init; }

    /// <summary>Whether the client may ask the server for its RSA public key (open to a man in the middle without TLS).</summary>
    public bool AllowPublicKeyRetrieval { get; init; }

    public TimeSpan ConnectTimeout { get; init; } = TimeSpan.FromSeconds(15);

    /// <summary>The user, the server and the TLS mode: never the password or a key.</summary>
    public override string ToString() => $"{User}@{Host}:{Port} (SslMode={Tls})";
}

/// <summary>
/// A connection of our own that speaks the replication side of the MySQL/MariaDB protocol: handshake, TLS,
/// authentication, <c>COM_QUERY</c> for session settings, <c>COM_REGISTER_SLAVE</c>, <c>COM_BINLOG_DUMP</c> and
/// <c>COM_BINLOG_DUMP_GTID</c>, then the stream of binlog events.
/// </summary>
internal sealed class ReplicationConnection : IAsyncDisposable
{
    private const byte ComQuit = 0x01;
    private const byte ComQuery = 0x03;
    private const byte ComBinlogDump = 0x12;
    private const byte ComRegisterSlave = 0x15;
    private const byte ComBinlogDumpGtid = 0x1E;
    private const ushort BinlogDumpNonBlock = 1;
    private const ushort BinlogThroughGtid = 4;

    private readonly PacketChannel _channel;

    /// <summary>Whether a binlog stream was asked for: the server then only writes, and the connection ends without a
    /// goodbye.</summary>
    private bool _streaming;

    private readonly X509Certificate2Collection? _certificates;

    private ReplicationConnection(PacketChannel channel, InitialHandshakePacket handshake, string authPlugin, bool serverVerified, X509Certificate2Collection? certificates)
    {
        _channel = channel;
        Handshake = handshake;
        AuthPlugin = authPlugin;
        ServerVerified = serverVerified;
        _certificates = certificates;
    }

    public InitialHandshakePacket Handshake { get; }

    public string ServerVersion => Handshake.ServerVersion;

    public bool IsMariaDb => Handshake.IsMariaDb;

    /// <summary>The plugin that authenticated the session.</summary>
    public string AuthPlugin { get; }

    public bool IsEncrypted => _channel.IsEncrypted;

    /// <summary>Whether the channel is TLS whose server certificate was verified (<see cref="TlsMode.VerifyCA"/> or <see cref="TlsMode.VerifyFull"/>).</summary>
    public bool ServerVerified { get; }

    /// <summary>How the channel is protected, for the log: "off", or the TLS version and whether the certificate was verified.</summary>
    public string TlsDescription => _channel.TlsStream is { } tls
        ? $"{tls.SslProtocol}, {(ServerVerified ? "server certificate verified" : "server certificate not verified")}"
        : "off";

    public long BytesReceived => _channel.BytesReceived;

    /// <summary>Connects and authenticates.</summary>
    public static async Task<ReplicationConnection> OpenAsync(ReplicationConnectionSettings settings, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(settings);
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(settings.ConnectTimeout);
        var client = new TcpClient { NoDelay = true, ReceiveBufferSize = 1 << 20 };
        PacketChannel? channel = null;
        try
        {
            try
            {
                await client.ConnectAsync(settings.Host, settings.Port, timeout.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
            {
                throw new TimeoutException($"Connecting to {settings.Host}:{settings.Port} took longer than {settings.ConnectTimeout}.");
            }

            channel = new PacketChannel(client.GetStream());
            var connection = await HandshakeAsync(channel, settings, timeout.Token).ConfigureAwait(false);
            channel = null;
            return connection;
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            throw new TimeoutException($"The handshake with {settings.Host}:{settings.Port} took longer than {settings.ConnectTimeout}.");
        }
        finally
        {
            if (channel is not null)
            {
                await channel.DisposeAsync().ConfigureAwait(false);
            }
            else if (!client.Connected)
            {
                client.Dispose();
            }
        }
    }

    /// <summary>Runs a statement; returns its rows as text (NULL as null), empty for statements without a result set.</summary>
    public async Task<IReadOnlyList<string?[]>> QueryAsync(string sql, CancellationToken cancellationToken)
    {
        var payload = new byte[1 + Encoding.UTF8.GetByteCount(sql)];
        payload[0] = ComQuery;
        Encoding.UTF8.GetBytes(sql, payload.AsSpan(1));
        _channel.ResetSequence();
        await _channel.WritePayloadAsync(payload, cancellationToken).ConfigureAwait(false);
        var first = await _channel.ReadPayloadAsync(cancellationToken).ConfigureAwait(false);
        if (ErrorPacket.IsError(first.Span))
        {
            throw ErrorPacket.Create(first.Span).ToException($"Query '{sql}'");
        }

        if (first.Span[0] == 0x00)
        {
            return [];
        }

        var columns = ReadColumnCount(first.Span);
        for (var i = 0; i < columns; i++)
        {
            await _channel.ReadPayloadAsync(cancellationToken).ConfigureAwait(false);
        }

        var eof = await _channel.ReadPayloadAsync(cancellationToken).ConfigureAwait(false);
        if (!IsEof(eof.Span))
        {
            throw new BinlogFormatException("result set", "eof", 0, "expected the EOF packet after the column definitions");
        }

        var rows = new List<string?[]>();
        while (true)
        {
            var row = await _channel.ReadPayloadAsync(cancellationToken).ConfigureAwait(false);
            if (IsEof(row.Span))
            {
                return rows;
            }

            if (ErrorPacket.IsError(row.Span))
            {
                throw ErrorPacket.Create(row.Span).ToException($"Query '{sql}'");
            }

            rows.Add(ReadTextRow(row.Span, columns));
        }
    }

    /// <summary>Registers this client as a replica (<c>COM_REGISTER_SLAVE</c>), so that it shows in <c>SHOW SLAVE HOSTS</c>.</summary>
    public async Task RegisterReplicaAsync(uint serverId, string hostName, CancellationToken cancellationToken)
    {
        var host = Encoding.UTF8.GetBytes(hostName);
        if (host.Length > 255)
        {
            host = host[..255];
        }

        var payload = new byte[1 + 4 + 1 + host.Length + 1 + 1 + 2 + 4 + 4];
        var span = payload.AsSpan();
        span[0] = ComRegisterSlave;
        BinaryPrimitives.WriteUInt32LittleEndian(span[1..], serverId);
        span[5] = (byte)host.Length;
        host.CopyTo(span[6..]);
        // user and password lengths 0, port 0, replication rank 0, master id 0 (the payload is zeroed).
        _channel.ResetSequence();
        await _channel.WritePayloadAsync(payload, cancellationToken).ConfigureAwait(false);
        await ExpectOkAsync("COM_REGISTER_SLAVE", cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Starts the binlog stream at a file and position (<c>COM_BINLOG_DUMP</c>). For MariaDB GTID positions,
    /// set <c>@slave_connect_state</c> first and pass an empty file name and position 4.</summary>
    public async Task StartBinlogDumpAsync(string file, long position, uint serverId, bool nonBlocking, CancellationToken cancellationToken)
    {
        if (position is < 0 or > uint.MaxValue)
        {
            throw new ArgumentOutOfRangeException(nameof(position), position, "COM_BINLOG_DUMP takes a 4-byte position; use COM_BINLOG_DUMP_GTID for larger binlog files.");
        }

        var name = Encoding.UTF8.GetBytes(file);
        var payload = new byte[1 + 4 + 2 + 4 + name.Length];
        var span = payload.AsSpan();
        span[0] = ComBinlogDump;
        BinaryPrimitives.WriteUInt32LittleEndian(span[1..], (uint)position);
        BinaryPrimitives.WriteUInt16LittleEndian(span[5..], nonBlocking ? BinlogDumpNonBlock : (ushort)0);
        BinaryPrimitives.WriteUInt32LittleEndian(span[7..], serverId);
        name.CopyTo(span[11..]);
        _streaming = true;
        _channel.ResetSequence();
        await _channel.WritePayloadAsync(payload, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Starts the binlog stream of a MySQL server after a GTID set (<c>COM_BINLOG_DUMP_GTID</c>).</summary>
    /// <param name="serverId">This replica's server id.</param>
    /// <param name="file">A file name, or empty to let the GTID set decide.</param>
    /// <param name="position">The position in <paramref name="file"/>, or 4.</param>
    /// <param name="encodedGtidSet">The GTID set the client has, in the binary form of <see cref="Binlog.MySqlGtidSet.Encode"/>.</param>
    /// <param name="nonBlocking">Whether the server ends the stream (EOF) at the end of the binlog instead of waiting.</param>
    /// <param name="cancellationToken">Cancels the write.</param>
    public async Task StartBinlogDumpGtidAsync(uint serverId, string file, long position, byte[] encodedGtidSet, bool nonBlocking, CancellationToken cancellationToken)
    {
        var name = Encoding.UTF8.GetBytes(file);
        var payload = new byte[1 + 2 + 4 + 4 + name.Length + 8 + 4 + encodedGtidSet.Length];
        var span = payload.AsSpan();
        span[0] = ComBinlogDumpGtid;
        BinaryPrimitives.WriteUInt16LittleEndian(span[1..], (ushort)(BinlogThroughGtid | (nonBlocking ? BinlogDumpNonBlock : 0)));
        BinaryPrimitives.WriteUInt32LittleEndian(span[3..], serverId);
        BinaryPrimitives.WriteUInt32LittleEndian(span[7..], (uint)name.Length);
        name.CopyTo(span[11..]);
        var at = 11 + name.Length;
        BinaryPrimitives.WriteUInt64LittleEndian(span[at..], (ulong)position);
        BinaryPrimitives.WriteUInt32LittleEndian(span[(at + 8)..], (uint)encodedGtidSet.Length);
        encodedGtidSet.CopyTo(span[(at + 12)..]);
        _streaming = true;
        _channel.ResetSequence();
        await _channel.WritePayloadAsync(payload, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Reads the next binlog event of the stream: its bytes (header, body and checksum) valid until the
    /// next call, or an empty memory at the end of a non-blocking stream.</summary>
    /// <exception cref="MySqlReplicationException">The server sent an error (e.g. the position was purged).</exception>
    public async ValueTask<ReadOnlyMemory<byte>> ReadEventAsync(CancellationToken cancellationToken)
    {
        var payload = await _channel.ReadPayloadAsync(cancellationToken).ConfigureAwait(false);
        var span = payload.Span;
        if (span.Length > 0 && span[0] == 0x00)
        {
            return payload[1..];
        }

        if (ErrorPacket.IsError(span))
        {
            throw ErrorPacket.Create(span).ToException("Binlog dump");
        }

        if (IsEof(span))
        {
            return ReadOnlyMemory<byte>.Empty;
        }

        throw new BinlogFormatException("binlog stream packet", "status", 0, $"0x{(span.Length == 0 ? 0 : span[0]):X2} is not the status of a binlog stream packet (0x00 event, 0xFE end, 0xFF error)");
    }

    public async ValueTask DisposeAsync()
    {
        if (!_streaming)
        {
            // COM_QUIT, as every MySQL client sends before it closes: without it the server counts an aborted client and
            // logs "Aborted connection … (Got an error reading communication packets)" for each lease check and start.
            // The server answers nothing; a connection already broken or stuck is closed all the same, after at most 1 s.
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(1));
            try
            {
                _channel.ResetSequence();
                await _channel.WritePayloadAsync(new[] { ComQuit }, timeout.Token).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is IOException or ObjectDisposedException or OperationCanceledException or SocketException or InvalidOperationException or NotSupportedException)
            {
                // Closed below regardless.
            }
        }

        await _channel.DisposeAsync().ConfigureAwait(false);
        DisposeAll(_certificates);
    }

    private static void DisposeAll(X509Certificate2Collection? certificates)
    {
        foreach (var certificate in certificates ?? [])
        {
            certificate.Dispose();
        }
    }

    private static async Task<ReplicationConnection> HandshakeAsync(PacketChannel channel, ReplicationConnectionSettings settings, CancellationToken cancellationToken)
    {
        var first = await channel.ReadPayloadAsync(cancellationToken).ConfigureAwait(false);
        if (ErrorPacket.IsError(first.Span))
        {
            throw ErrorPacket.Create(first.Span).ToException($"Connecting to {settings.Host}:{settings.Port}");
        }

        var handshake = InitialHandshakePacket.Create(first.Span);
        var capabilities = ClientCapabilities.LongPassword | ClientCapabilities.LongFlag | ClientCapabilities.Protocol41
            | ClientCapabilities.Transactions | ClientCapabilities.SecureConnection | ClientCapabilities.MultiResults
            | ClientCapabilities.PluginAuth | ClientCapabilities.PluginAuthLengthEncodedData;
        capabilities &= handshake.Capabilities | ClientCapabilities.LongPassword;
        var serverTls = (handshake.Capabilities & ClientCapabilities.Ssl) != 0;
        if (settings.Tls is not TlsMode.None and not TlsMode.Preferred && !serverTls)
        {
            throw new MySqlReplicationException($"TLS is required (SslMode={settings.Tls}) but {settings.Host}:{settings.Port} does not offer it: configure the server's ssl_cert and ssl_key, or set SslMode=None on a network you trust.");
        }

        var verified = false;
        X509Certificate2Collection? certificates = null;
        if (settings.Tls != TlsMode.None && serverTls)
        {
            capabilities |= ClientCapabilities.Ssl;
            certificates = LoadCertificates(settings, out var roots, out var client);
            string? problem = null;
            var verify = settings.Tls is TlsMode.VerifyCA or TlsMode.VerifyFull;
            var options = new SslClientAuthenticationOptions
            {
                TargetHost = settings.Host,
                EnabledSslProtocols = SslProtocols.None,
                CertificateRevocationCheckMode = verify && roots is null && settings.CheckRevocation ? X509RevocationMode.Online : X509RevocationMode.NoCheck,
                ClientCertificates = client is null ? null : [client],
                RemoteCertificateValidationCallback = (_, certificate, chain, errors) =>
                {
                    if (!verify)
                    {
                        return true; // Preferred, Required: encrypted, not verified (the password itself is then never sent)
                    }

                    problem = ServerCertificateCheck.Problem(certificate, chain, errors, roots, settings.Tls == TlsMode.VerifyFull, settings.Host);
                    return problem is null;
                },
            };
            try
            {
                await channel.WritePayloadAsync(BuildSslRequest(capabilities), cancellationToken).ConfigureAwait(false);
                await channel.UpgradeToTlsAsync(options, cancellationToken).ConfigureAwait(false);
            }
            catch (AuthenticationException ex) when (problem is not null)
            {
                DisposeAll(certificates);
                throw new MySqlReplicationException($"The TLS certificate of {settings.Host}:{settings.Port} is refused (SslMode={settings.Tls}): {problem}. No credential was sent.", ex);
            }
            catch
            {
                DisposeAll(certificates);
                throw;
            }

            verified = verify;
        }

        try
        {
            var plugin = await AuthenticateAsync(channel, settings, handshake, capabilities, mayRevealPassword: verified || settings.Local, cancellationToken).ConfigureAwait(false);
            return new ReplicationConnection(channel, handshake, plugin, verified, certificates);
        }
        catch
        {
            DisposeAll(certificates);
            throw;
        }
    }

    /// <summary>Authenticates; returns the plugin that did. The password itself (not a scramble of it) is sent only when
    /// <paramref name="mayRevealPassword"/>: over TLS whose certificate was verified, or to a server on this machine.</summary>
    private static async Task<string> AuthenticateAsync(PacketChannel channel, ReplicationConnectionSettings settings, InitialHandshakePacket handshake, ulong capabilities, bool mayRevealPassword, CancellationToken cancellationToken)
    {
        var plugin = handshake.AuthPluginName;
        var nonce = handshake.Nonce;
        var response = Authentication.InitialResponse(plugin, settings.Password, nonce, PasswordChannel(channel, settings, mayRevealPassword));
        await channel.WritePayloadAsync(BuildHandshakeResponse(capabilities, settings.User, response, plugin), cancellationToken).ConfigureAwait(false);
        while (true)
        {
            var reply = await channel.ReadPayloadAsync(cancellationToken).ConfigureAwait(false);
            var span = reply.Span;
            if (span.Length == 0)
            {
                throw new BinlogFormatException("authentication", "header", 0, "empty packet during authentication");
            }

            switch (span[0])
            {
                case 0x00:
                    return plugin;
                case 0xFF:
                    throw ErrorPacket.Create(span).ToException($"Authenticating as '{settings.User}' with {plugin}");
                case 0xFE:
                    var request = AuthSwitchRequestPacket.Create(span);
                    plugin = request.PluginName;
                    nonce = request.Data;
                    await channel.WritePayloadAsync(Authentication.InitialResponse(plugin, settings.Password, nonce, PasswordChannel(channel, settings, mayRevealPassword)), cancellationToken).ConfigureAwait(false);
                    break;
                case 0x01 when plugin == Authentication.CachingSha2Password:
                    await ContinueCachingSha2Async(channel, settings, nonce, reply[1..], mayRevealPassword, cancellationToken).ConfigureAwait(false);
                    break;
                default:
                    throw new BinlogFormatException("authentication", "header", 0, $"unexpected packet 0x{span[0]:X2} during {plugin} authentication");
            }
        }
    }

    private static async Task ContinueCachingSha2Async(PacketChannel channel, ReplicationConnectionSettings settings, byte[] nonce, ReadOnlyMemory<byte> data, bool mayRevealPassword, CancellationToken cancellationToken)
    {
        if (data.Length == 1 && data.Span[0] == Authentication.FastAuthSuccess)
        {
            return; // the OK packet follows
        }

        if (data.Length == 1 && data.Span[0] == Authentication.PerformFullAuthentication)
        {
            if (channel.IsEncrypted)
            {
                // Over TLS the server takes only the password itself.
                if (!mayRevealPassword)
                {
                    throw new MySqlReplicationException(
                        $"{settings.Host}:{settings.Port} asks for caching_sha2_password's full authentication of '{settings.User}', which sends the password itself, and its TLS certificate was not verified (SslMode={settings.Tls}): " +
                        "a man in the middle would get the password, so the replication client did not send it. Set SslMode=VerifyFull with SslCa=<PEM file of the CA that signed the server's certificate> (or VerifyCA).");
                }

                await channel.WritePayloadAsync(Authentication.ClearText(settings.Password), cancellationToken).ConfigureAwait(false);
                return;
            }

            var key = settings.ServerRsaPublicKey;
            if (key is null)
            {
                if (!settings.AllowPublicKeyRetrieval)
                {
                    throw new MySqlReplicationException($"caching_sha2_password needs the full authentication for '{settings.User}' and the connection has no TLS: use TLS with a verified certificate (SslMode=VerifyFull and SslCa), give the server's RSA public key (ServerRSAPublicKeyFile), or allow AllowPublicKeyRetrieval=true (open to a man in the middle).");
                }

                await channel.WritePayloadAsync(new[] { Authentication.RequestPublicKey }, cancellationToken).ConfigureAwait(false);
                var keyPacket = await channel.ReadPayloadAsync(cancellationToken).ConfigureAwait(false);
                if (ErrorPacket.IsError(keyPacket.Span))
                {
                    throw ErrorPacket.Create(keyPacket.Span).ToException("Requesting the server's RSA public key");
                }

                if (keyPacket.Length < 2 || keyPacket.Span[0] != 0x01)
                {
                    throw new BinlogFormatException("auth more data", "public_key", 0, "expected the server's RSA public key");
                }

                key = Encoding.ASCII.GetString(keyPacket.Span[1..]);
            }

            await channel.WritePayloadAsync(Authentication.RsaEncryptPassword(settings.Password, nonce, key), cancellationToken).ConfigureAwait(false);
            return;
        }

        throw new BinlogFormatException("auth more data", "status", 1, $"unexpected caching_sha2_password status {(data.Length == 0 ? "(empty)" : data.Span[0].ToString(System.Globalization.CultureInfo.InvariantCulture))}");
    }

    /// <summary>Whether mysql_clear_password may send the password on this channel, and if not, why (for the refusal).</summary>
    private static Authentication.PasswordChannel PasswordChannel(PacketChannel channel, ReplicationConnectionSettings settings, bool mayRevealPassword) =>
        mayRevealPassword && (channel.IsEncrypted || settings.Local)
            ? Authentication.PasswordChannel.Trusted
            : new Authentication.PasswordChannel(false, channel.IsEncrypted
                ? $"the TLS certificate of {settings.Host}:{settings.Port} was not verified (SslMode={settings.Tls})"
                : $"the connection to {settings.Host}:{settings.Port} has no TLS");

    /// <summary>The CAs of SslCa and the client certificate, read anew for each connection (renewed files are picked up).</summary>
    private static X509Certificate2Collection? LoadCertificates(ReplicationConnectionSettings settings, out X509Certificate2Collection? roots, out X509Certificate2? client)
    {
        roots = null;
        client = null;
        var all = new X509Certificate2Collection();
        try
        {
            if (settings.CaFile is { Length: > 0 } caFile && settings.Tls is TlsMode.VerifyCA or TlsMode.VerifyFull)
            {
                roots = [];
                roots.ImportFromPemFile(caFile);
                all.AddRange(roots);
                if (roots.Count == 0)
                {
                    throw new MySqlReplicationException($"SslCa '{caFile}' holds no PEM certificate (-----BEGIN CERTIFICATE-----).");
                }
            }

            if (settings.ClientCertificateFile is { Length: > 0 } certificateFile)
            {
                client = X509Certificate2.CreateFromPemFile(certificateFile, settings.ClientKeyFile);
                if (OperatingSystem.IsWindows())
                {
                    // Schannel cannot use an ephemeral key: through PKCS #12, as MySqlConnector does.
                    using var ephemeral = client;
                    client = X509CertificateLoader.LoadPkcs12(ephemeral.Export(X509ContentType.Pkcs12), null);
                }

                all.Add(client);
            }
            else if (settings.ClientPkcs12File is { Length: > 0 } pkcs12)
            {
                client = X509CertificateLoader.LoadPkcs12FromFile(pkcs12, settings.ClientPkcs12Password);
                all.Add(client);
                if (!client.HasPrivateKey)
                {
                    throw new MySqlReplicationException($"CertificateFile '{pkcs12}' has no private key: it must be a PKCS #12 (.pfx) file with the certificate and its key.");
                }
            }

            return all.Count == 0 ? null : all;
        }
        catch (Exception ex) when (ex is CryptographicException or IOException or UnauthorizedAccessException or ArgumentException)
        {
            DisposeAll(all);
            throw new MySqlReplicationException($"The TLS files of the connection string cannot be read (SslCa, SslCert and SslKey are PEM files, CertificateFile a PKCS #12 file): {ex.Message}", ex);
        }
        catch
        {
            DisposeAll(all);
            throw;
        }
    }

    private static byte[] BuildSslRequest(ulong capabilities)
    {
        var payload = new byte[32];
        BinaryPrimitives.WriteUInt32LittleEndian(payload, (uint)capabilities);
        BinaryPrimitives.WriteUInt32LittleEndian(payload.AsSpan(4), 1 << 24);
        payload[8] = 45; // utf8mb4_general_ci
        return payload;
    }

    private static byte[] BuildHandshakeResponse(ulong capabilities, string user, byte[] authResponse, string plugin)
    {
        var buffer = new ArrayBufferWriter<byte>(128);
        buffer.Write(BuildSslRequest(capabilities));
        buffer.Write(Encoding.UTF8.GetBytes(user));
        buffer.Write<byte>([0]);
        if ((capabilities & ClientCapabilities.PluginAuthLengthEncodedData) != 0)
        {
            WriteLengthEncoded(buffer, (ulong)authResponse.Length);
        }
        else
        {
            buffer.Write<byte>([(byte)authResponse.Length]);
        }

        buffer.Write(authResponse);
        if ((capabilities & ClientCapabilities.PluginAuth) != 0)
        {
            buffer.Write(Encoding.UTF8.GetBytes(plugin));
            buffer.Write<byte>([0]);
        }

        return buffer.WrittenSpan.ToArray();
    }

    private static void WriteLengthEncoded(ArrayBufferWriter<byte> buffer, ulong value)
    {
        if (value < 0xFB)
        {
            buffer.Write<byte>([(byte)value]);
        }
        else if (value <= 0xFFFF)
        {
            buffer.Write<byte>([0xFC, (byte)value, (byte)(value >> 8)]);
        }
        else
        {
            buffer.Write<byte>([0xFD, (byte)value, (byte)(value >> 8), (byte)(value >> 16)]);
        }
    }

    private async Task ExpectOkAsync(string command, CancellationToken cancellationToken)
    {
        var reply = await _channel.ReadPayloadAsync(cancellationToken).ConfigureAwait(false);
        if (ErrorPacket.IsError(reply.Span))
        {
            throw ErrorPacket.Create(reply.Span).ToException(command);
        }

        if (!OkPacket.IsOk(reply.Span))
        {
            throw new BinlogFormatException(command + " reply", "header", 0, $"expected OK, got 0x{(reply.Length == 0 ? 0 : reply.Span[0]):X2}");
        }
    }

    private static bool IsEof(ReadOnlySpan<byte> payload) => payload.Length is > 0 and < 9 && payload[0] == 0xFE;

    private static int ReadColumnCount(ReadOnlySpan<byte> payload)
    {
        var reader = new PayloadReader(payload, "result set header");
        return reader.ReadLengthEncodedCount("column_count");
    }

    private static string?[] ReadTextRow(ReadOnlySpan<byte> payload, int columns)
    {
        var reader = new PayloadReader(payload, "text row");
        var values = new string?[columns];
        for (var i = 0; i < columns; i++)
        {
            if (reader.Remaining > 0 && reader.Rest[0] == 0xFB)
            {
                reader.Skip(1, "null");
                continue;
            }

            values[i] = Encoding.UTF8.GetString(reader.ReadLengthEncodedBytes("value"));
        }

        return values;
    }
}
