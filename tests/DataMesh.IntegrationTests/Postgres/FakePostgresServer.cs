using System.Buffers.Binary;
using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Cryptography.X509Certificates;

namespace DataMesh.IntegrationTests.Postgres;

/// <summary>
/// A protocol-level stand-in for a PostgreSQL server (or a man in the middle speaking its protocol) on 127.0.0.1, port 0,
/// for what the real server of the tests cannot show: a TLS certificate that is expired, and a request for the password in
/// clear (pg_hba.conf method <c>password</c>, AuthenticationCleartextPassword) over TLS the client did not verify. It
/// answers SSLRequest with 'S', presents <see cref="Certificate"/>, reads the StartupMessage and asks for the password in
/// clear; <see cref="Seen"/> says what it got. Connections are served one after the other (a client may connect again,
/// e.g. after a refused GSSENCRequest) until the server is disposed.
/// </summary>
internal sealed class FakePostgresServer : IAsyncDisposable
{
    private const int SslRequestCode = 80877103;
    private const int GssEncRequestCode = 80877104;
    private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
    private readonly Task _serve;
    private readonly TaskCompletionSource _served = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public FakePostgresServer(X509Certificate2 certificate)
    {
        Certificate = certificate;
        _listener.Start();
        _serve = Task.Run(ServeAsync);
    }

    public X509Certificate2 Certificate { get; }

    public int Port => ((IPEndPoint)_listener.LocalEndpoint).Port;

    /// <summary>"tls", "startup", then "password" when the client sent one, or "no-password" when it closed instead.</summary>
    public List<string> Seen { get; } = [];

    /// <summary>Ends when a client got as far as it will: it sent the password, closed instead, or refused the certificate.</summary>
    public Task Served => _served.Task;

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
    }

    private async Task ServeAsync()
    {
        while (true)
        {
            using var client = await _listener.AcceptTcpClientAsync();
            await ServeOneAsync(client);
        }
    }

    private async Task ServeOneAsync(TcpClient client)
    {
        Stream stream = client.GetStream();
        try
        {
            while (true)
            {
                var request = await ReadExactlyAsync(stream, 8);
                var code = BinaryPrimitives.ReadInt32BigEndian(request.AsSpan(4));
                if (code == GssEncRequestCode)
                {
                    await stream.WriteAsync("N"u8.ToArray());
                    continue;
                }

                if (code != SslRequestCode)
                {
                    return; // a client that does not ask for TLS
                }

                await stream.WriteAsync("S"u8.ToArray());
                break;
            }

            var tls = new SslStream(stream);
            await tls.AuthenticateAsServerAsync(Certificate);
            stream = tls;
            Seen.Add("tls");
            var length = BinaryPrimitives.ReadInt32BigEndian(await ReadExactlyAsync(stream, 4));
            await ReadExactlyAsync(stream, length - 4);
            Seen.Add("startup");
            // AuthenticationCleartextPassword: 'R', length 8, 3.
            await stream.WriteAsync(new byte[] { (byte)'R', 0, 0, 0, 8, 0, 0, 0, 3 });
            await stream.FlushAsync();
            try
            {
                var type = await ReadExactlyAsync(stream, 1);
                Seen.Add(type[0] == (byte)'p' ? "password" : $"message {(char)type[0]}");
            }
            catch (Exception ex) when (ex is IOException or EndOfStreamException)
            {
                Seen.Add("no-password");
            }

            _served.TrySetResult();
        }
        catch (System.Security.Authentication.AuthenticationException)
        {
            Seen.Add("certificate refused");
            _served.TrySetResult();
        }
        catch (Exception ex) when (ex is IOException or EndOfStreamException or ObjectDisposedException)
        {
            Seen.Add("closed: " + ex.GetType().Name);
        }
    }

    private static async Task<byte[]> ReadExactlyAsync(Stream stream, int count)
    {
        var buffer = new byte[count];
        await stream.ReadExactlyAsync(buffer);
        return buffer;
    }
}
