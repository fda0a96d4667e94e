using System.Buffers.Binary;
using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;

namespace DataMesh.Tests.MySql;

/// <summary>
/// A protocol-level stand-in for a MySQL 8 server (a <see cref="TcpListener"/> on port 0), for the paths that the
/// MariaDB 10.11 of the test harness cannot exercise: <c>caching_sha2_password</c> (fast path, full path with the
/// server's RSA key, full path over TLS), <c>COM_BINLOG_DUMP_GTID</c>, and v2 row events. Its bytes follow the
/// documented client/server protocol (Protocol::HandshakeV10, AuthMoreData, AuthSwitchRequest, the binlog event layouts).
/// Over TLS it presents <see cref="Certificate"/> (a self-signed one when null), and can ask for a client certificate or
/// switch to <c>mysql_clear_password</c> as a server behind PAM or LDAP (or a man in the middle) would.
/// </summary>
internal sealed class FakeMySqlServer : IAsyncDisposable
{
    public static readonly byte[] Nonce = Encoding.ASCII.GetBytes("0123456789abcdefghij");
    private const uint ProtocolCapabilities = 0x1 | 0x200 | 0x8000 | 0x80000 | 0x200000 | 0x2000 | 0x20000;
    private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
    private readonly Task _serve;
    private RSA? _key;

    public FakeMySqlServer(string password, bool fullAuthentication, bool offerTls, Func<Stream, Task>? afterAuthentication = null)
    {
        Password = password;
        FullAuthentication = fullAuthentication;
        OfferTls = offerTls;
        AfterAuthentication = afterAuthentication;
        _listener.Start();
        _serve = Task.Run(ServeAsync);
    }

    public int Port => ((IPEndPoint)_listener.LocalEndpoint).Port;

    public string Password { get; }

    public bool FullAuthentication { get; }

    public bool OfferTls { get; }

    public Func<Stream, Task>? AfterAuthentication { get; }

    /// <summary>The TLS certificate with its key; null for a self-signed one.</summary>
    public X509Certificate2? Certificate { get; init; }

    /// <summary>Whether the server asks for a client certificate (seen as "client-cert=subject").</summary>
    public bool RequireClientCertificate { get; init; }

    /// <summary>Whether the server answers the handshake response with a switch to mysql_clear_password (seen as
    /// "clear-password" when the password arrived, "clear-password-refused" when the client closed instead).</summary>
    public bool SwitchToClearPassword { get; init; }

    /// <summary>Ends when the server has served its one client.</summary>
    public Task Served => _serve;

    /// <summary>The server's RSA key for caching_sha2_password's full path without TLS (made when first used: it is slow to make).</summary>
    public RSA Key => _key ??= RSA.Create(2048);

    public string PublicKeyPem => Key.ExportSubjectPublicKeyInfoPem();

    /// <summary>What the server saw: "fast", "rsa", "tls-clear", "public-key-request" ...</summary>
    public List<string> Seen { get; } = [];

    public Exception? Failure { get; private set; }

    public async ValueTask DisposeAsync()
    {
        _listener.Stop();
        try
        {
            await _serve;
        }
        catch (Exception)
        {
            // the listener was stopped
        }

        _key?.Dispose();
    }

    public static async Task WritePacketAsync(Stream stream, byte sequence, byte[] payload)
    {
        var header = new byte[4];
        header[0] = (byte)payload.Length;
        header[1] = (byte)(payload.Length >> 8);
        header[2] = (byte)(payload.Length >> 16);
        header[3] = sequence;
        await stream.WriteAsync(header);
        await stream.WriteAsync(payload);
        await stream.FlushAsync();
    }

    public static async Task<(byte Sequence, byte[] Payload)> ReadPacketAsync(Stream stream)
    {
        var header = new byte[4];
        await stream.ReadExactlyAsync(header);
        var payload = new byte[header[0] | (header[1] << 8) | (header[2] << 16)];
        await stream.ReadExactlyAsync(payload);
        return (header[3], payload);
    }

    public static byte[] Ok() => [0x00, 0, 0, 2, 0, 0, 0];

    private async Task ServeAsync()
    {
        using var client = await _listener.AcceptTcpClientAsync();
        Stream stream = client.GetStream();
        try
        {
            await WritePacketAsync(stream, 0, Handshake());
            var (sequence, response) = await ReadPacketAsync(stream);
            var capabilities = BinaryPrimitives.ReadUInt32LittleEndian(response);
            if ((capabilities & 0x800) != 0)
            {
                Seen.Add("ssl-request");
                var tls = new SslStream(stream, false, (_, certificate, _, _) =>
                {
                    if (certificate is not null)
                    {
                        Seen.Add("client-cert=" + certificate.Subject);
                    }

                    return true;
                });
                using var selfSigned = Certificate is null ? SelfSigned() : null;
                await tls.AuthenticateAsServerAsync(new SslServerAuthenticationOptions { ServerCertificate = Certificate ?? selfSigned, ClientCertificateRequired = RequireClientCertificate });
                stream = tls;
                (sequence, response) = await ReadPacketAsync(stream);
            }

            var user = ReadNullTerminated(response, 32, out var at);
            var authLength = response[at];
            var auth = response.AsSpan(at + 1, authLength).ToArray();
            var plugin = ReadNullTerminated(response, at + 1 + authLength, out _);
            Seen.Add($"user={user} plugin={plugin}");
            if (SwitchToClearPassword)
            {
                await WritePacketAsync(stream, ++sequence, [0xFE, .. Encoding.ASCII.GetBytes("mysql_clear_password"), 0]);
                byte[] clear;
                try
                {
                    (sequence, clear) = await ReadPacketAsync(stream);
                }
                catch (Exception ex) when (ex is IOException or EndOfStreamException)
                {
                    Seen.Add("clear-password-refused");
                    return;
                }

                Seen.Add("clear-password");
                await WritePacketAsync(stream, ++sequence, Encoding.UTF8.GetString(clear.AsSpan(0, clear.Length - 1)) == Password ? Ok() : Error(1045, "28000", "Access denied"));
                return;
            }

            var expected = Scramble(Password, Nonce);
            if (!auth.AsSpan().SequenceEqual(expected))
            {
                await WritePacketAsync(stream, ++sequence, Error(1045, "28000", "Access denied"));
                return;
            }

            if (!FullAuthentication)
            {
                Seen.Add("fast");
                await WritePacketAsync(stream, ++sequence, [0x01, 0x03]);
                await WritePacketAsync(stream, ++sequence, Ok());
            }
            else
            {
                await WritePacketAsync(stream, ++sequence, [0x01, 0x04]);
                var (next, data) = await ReadPacketAsync(stream);
                sequence = next;
                if (data is [0x02])
                {
                    Seen.Add("public-key-request");
                    await WritePacketAsync(stream, ++sequence, [0x01, .. Encoding.ASCII.GetBytes(PublicKeyPem)]);
                    (sequence, data) = await ReadPacketAsync(stream);
                }

                string received;
                if (stream is SslStream)
                {
                    Seen.Add("tls-clear");
                    received = Encoding.UTF8.GetString(data.AsSpan(0, data.Length - 1));
                }
                else
                {
                    Seen.Add("rsa");
                    var clear = Key.Decrypt(data, RSAEncryptionPadding.OaepSHA1);
                    for (var i = 0; i < clear.Length; i++)
                    {
                        clear[i] ^= Nonce[i % Nonce.Length];
                    }

                    received = Encoding.UTF8.GetString(clear.AsSpan(0, clear.Length - 1));
                }

                await WritePacketAsync(stream, ++sequence, received == Password ? Ok() : Error(1045, "28000", "Access denied"));
            }

            if (AfterAuthentication is { } next2)
            {
                await next2(stream);
            }
        }
        catch (Exception ex) when (ex is IOException or SocketException or ObjectDisposedException or CryptographicException or System.Security.Authentication.AuthenticationException)
        {
            Failure = ex;
        }
    }

    public static byte[] Error(ushort code, string state, string message) =>
        [0xFF, (byte)code, (byte)(code >> 8), (byte)'#', .. Encoding.ASCII.GetBytes(state), .. Encoding.UTF8.GetBytes(message)];

    public static byte[] Scramble(string password, byte[] nonce)
    {
        var hash1 = SHA256.HashData(Encoding.UTF8.GetBytes(password));
        var hash2 = SHA256.HashData(hash1);
        var hash3 = SHA256.HashData([.. hash2, .. nonce]);
        return hash1.Select((b, i) => (byte)(b ^ hash3[i])).ToArray();
    }

    private byte[] Handshake()
    {
        var capabilities = ProtocolCapabilities | (OfferTls ? 0x800u : 0);
        var payload = new List<byte> { 10 };
        payload.AddRange(Encoding.ASCII.GetBytes("8.0.36"));
        payload.Add(0);
        payload.AddRange(BitConverter.GetBytes(42u));
        payload.AddRange(Nonce.AsSpan(0, 8).ToArray());
        payload.Add(0);
        payload.AddRange(BitConverter.GetBytes((ushort)capabilities));
        payload.Add(255);
        payload.AddRange(BitConverter.GetBytes((ushort)2));
        payload.AddRange(BitConverter.GetBytes((ushort)(capabilities >> 16)));
        payload.Add(21);
        payload.AddRange(new byte[10]);
        payload.AddRange(Nonce.AsSpan(8).ToArray());
        payload.Add(0);
        payload.AddRange(Encoding.ASCII.GetBytes("caching_sha2_password"));
        payload.Add(0);
        return [.. payload];
    }

    private static string ReadNullTerminated(byte[] data, int start, out int next)
    {
        var end = Array.IndexOf(data, (byte)0, start);
        next = end + 1;
        return Encoding.UTF8.GetString(data, start, end - start);
    }

    private static X509Certificate2 SelfSigned()
    {
        using var key = RSA.Create(2048);
        var request = new CertificateRequest("CN=fake-mysql", key, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        using var certificate = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(1));
        return X509CertificateLoader.LoadPkcs12(certificate.Export(X509ContentType.Pfx), null);
    }
}
