using System.Buffers.Binary;
using System.Collections.Concurrent;
using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Cryptography.X509Certificates;
using System.Text;

namespace DataMesh.Tests.Cassandra;

/// <summary>What the fake does instead of answering a QUERY properly.</summary>
public enum FakeMisbehaviour
{
    None,

    /// <summary>A RESULT header that promises more body than is sent, then the connection closes (a node that dies
    /// mid-answer).</summary>
    TruncatedBody,

    /// <summary>Bytes that are not a v4 frame (an HTTP server on the port).</summary>
    Garbage,

    /// <summary>No answer at all, the connection kept open (a hung node).</summary>
    Silence,

    /// <summary>The answer on another stream id than the request's.</summary>
    WrongStream,
}

/// <summary>One table of the fake: its columns (name and the [option] type id, with parameters for collections) and
/// rows, answered to a query of exactly <see cref="Query"/>.</summary>
internal sealed record FakeResult(string Query, string Keyspace, string Table, IReadOnlyList<(string Name, ushort[] Type)> Columns, List<object?[]> Rows);

/// <summary>
/// A Cassandra node as far as CQL native protocol v4 goes (<c>native_protocol_v4.spec</c>), after MySqlConnector's
/// <c>FakeMySqlServer</c>: a <see cref="TcpListener"/> on a loopback port 0, optionally TLS, that answers STARTUP with
/// READY, or with AUTHENTICATE <c>org.apache.cassandra.auth.PasswordAuthenticator</c> when it has users and then checks
/// the SASL PLAIN token of AUTH_RESPONSE (AUTH_SUCCESS, or ERROR 0x0100 as a real node does for bad credentials); QUERY
/// of a known statement with ROWS pages of the asked page size, each with a paging state until the last (the state is
/// the next row's index, opaque to the client); an unknown statement with ERROR 0x2200 (Invalid, like "unconfigured
/// table"). It stands for a real node's wire behaviour only: what <c>system_schema</c> holds is what the test puts in.
/// </summary>
internal sealed class FakeCassandraServer : IAsyncDisposable
{
    private const string PasswordAuthenticator = "org.apache.cassandra.auth.PasswordAuthenticator";
    private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
    private readonly CancellationTokenSource _stop = new();
    private readonly ConcurrentDictionary<string, FakeResult> _results = new(StringComparer.Ordinal);
    private readonly List<Task> _connections = [];
    private readonly Task _accepting;

    public FakeCassandraServer(IReadOnlyDictionary<string, string>? users = null, X509Certificate2? certificate = null)
    {
        Users = users;
        Certificate = certificate;
        _listener.Start();
        _accepting = AcceptAsync();
    }

    public IReadOnlyDictionary<string, string>? Users { get; }

    public X509Certificate2? Certificate { get; }

    public int Port => ((IPEndPoint)_listener.LocalEndpoint).Port;

    public string ContactPoint => $"127.0.0.1:{Port}";

    public FakeMisbehaviour Misbehaviour { get; set; }

    /// <summary>When set, the bytes a QUERY is answered with, after which the connection closes.</summary>
    public byte[]? RawAnswer { get; set; }

    /// <summary>Every request frame received: opcode, stream id, and for a QUERY its text, consistency, page size and
    /// whether it carried a paging state.</summary>
    public ConcurrentQueue<(byte Opcode, short Stream, string? Query, ushort Consistency, int PageSize, bool Paged)> Requests { get; } = new();

    /// <summary>The STARTUP options received.</summary>
    public ConcurrentQueue<IReadOnlyDictionary<string, string>> Startups { get; } = new();

    /// <summary>Connections whose TLS handshake failed.</summary>
    public int TlsFailures;

    /// <summary>Sets what a query of <paramref name="result"/>'s text answers (replacing what it answered).</summary>
    public void Answer(FakeResult result) => _results[result.Query] = result;

    public int Queries(string query) => Requests.Count(r => r.Query == query && !r.Paged);

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        _listener.Stop();
        try
        {
            await _accepting;
        }
        catch (Exception ex) when (ex is OperationCanceledException or SocketException or ObjectDisposedException)
        {
        }

        Task[] connections;
        lock (_connections)
        {
            connections = [.. _connections];
        }

        await Task.WhenAll(connections.Select(c => c.ContinueWith(_ => { }, TaskScheduler.Default)));
        _stop.Dispose();
    }

    private async Task AcceptAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            var client = await _listener.AcceptTcpClientAsync(_stop.Token);
            client.NoDelay = true; // as Cassandra's native transport (TCP_NODELAY on by default)
            lock (_connections)
            {
                _connections.Add(ServeAsync(client));
            }
        }
    }

    private async Task ServeAsync(TcpClient client)
    {
        using var _ = client;
        Stream stream = client.GetStream();
        try
        {
            if (Certificate is not null)
            {
                var tls = new SslStream(stream);
                stream = tls;
                try
                {
                    await tls.AuthenticateAsServerAsync(new SslServerAuthenticationOptions { ServerCertificate = Certificate }, _stop.Token);
                }
                catch (Exception ex) when (ex is System.Security.Authentication.AuthenticationException or IOException)
                {
                    Interlocked.Increment(ref TlsFailures);
                    return;
                }
            }

            var authenticated = Users is null;
            var header = new byte[9];
            while (!_stop.IsCancellationRequested)
            {
                if (await stream.ReadAtLeastAsync(header, 9, throwOnEndOfStream: false, _stop.Token) < 9)
                {
                    return;
                }

                var streamId = BinaryPrimitives.ReadInt16BigEndian(header.AsSpan(2));
                var opcode = header[4];
                var body = new byte[BinaryPrimitives.ReadInt32BigEndian(header.AsSpan(5))];
                await stream.ReadExactlyAsync(body, _stop.Token);
                if (header[0] != 0x04)
                {
                    await SendAsync(stream, header[0] | 0x80, streamId, 0x00, Error(0x000A, $"Invalid or unsupported protocol version ({header[0]})"));
                    return;
                }

                var reader = new Reader(body);
                switch (opcode)
                {
                    case 0x01: // STARTUP
                    {
                        Requests.Enqueue((opcode, streamId, null, 0, 0, false));
                        var options = reader.StringMap();
                        Startups.Enqueue(options);
                        if (!options.TryGetValue("CQL_VERSION", out var version) || version != "3.0.0")
                        {
                            await SendAsync(stream, 0x84, streamId, 0x00, Error(0x000A, "Missing value CQL_VERSION in STARTUP message"));
                        }
                        else if (Users is null)
                        {
                            await SendAsync(stream, 0x84, streamId, 0x02, []);
                        }
                        else
                        {
                            await SendAsync(stream, 0x84, streamId, 0x03, new Writer().String(PasswordAuthenticator).ToArray());
                        }

                        break;
                    }

                    case 0x0F: // AUTH_RESPONSE: SASL PLAIN, authzid NUL user NUL password
                    {
                        Requests.Enqueue((opcode, streamId, null, 0, 0, false));
                        var token = Encoding.UTF8.GetString(reader.Bytes()).Split('\0');
                        if (token.Length == 3 && Users is not null && Users.TryGetValue(token[1], out var password) && password == token[2])
                        {
                            authenticated = true;
                            await SendAsync(stream, 0x84, streamId, 0x10, new Writer().Int(-1).ToArray());
                        }
                        else
                        {
                            await SendAsync(stream, 0x84, streamId, 0x00, Error(0x0100, $"Provided username {(token.Length > 1 ? token[1] : "?")} and/or password are incorrect"));
                        }

                        break;
                    }

                    case 0x07: // QUERY
                    {
                        var query = reader.LongString();
                        var consistency = reader.Short();
                        var flags = reader.Byte();
                        var pageSize = (flags & 0x04) != 0 ? reader.Int() : int.MaxValue;
                        var start = (flags & 0x08) != 0 ? BinaryPrimitives.ReadInt32BigEndian(reader.Bytes()) : 0;
                        Requests.Enqueue((opcode, streamId, query, consistency, pageSize, (flags & 0x08) != 0));
                        if (!authenticated)
                        {
                            await SendAsync(stream, 0x84, streamId, 0x00, Error(0x2100, "You have not logged in"));
                            break;
                        }

                        if (RawAnswer is { } raw)
                        {
                            await SendRawAsync(stream, raw);
                            return;
                        }

                        switch (Misbehaviour)
                        {
                            case FakeMisbehaviour.TruncatedBody:
                                await SendRawAsync(stream, [0x84, 0, (byte)(streamId >> 8), (byte)streamId, 0x08, 0, 0, 1, 0, 0, 0, 0, 2, 0, 0]);
                                return;
                            case FakeMisbehaviour.Garbage:
                                await SendRawAsync(stream, "HTTP/1.1 400 Bad Request\r\n\r\n"u8.ToArray());
                                return;
                            case FakeMisbehaviour.Silence:
                                await Task.Delay(Timeout.Infinite, _stop.Token);
                                return;
                        }

                        var answerStream = Misbehaviour == FakeMisbehaviour.WrongStream ? (short)(streamId + 1) : streamId;
                        if (!_results.TryGetValue(query, out var result))
                        {
                            await SendAsync(stream, 0x84, answerStream, 0x00, Error(0x2200, $"unconfigured table or unknown statement: {query}"));
                            break;
                        }

                        await SendAsync(stream, 0x84, answerStream, 0x08, Rows(result, start, pageSize));
                        break;
                    }

                    default:
                        await SendAsync(stream, 0x84, streamId, 0x00, Error(0x000A, $"unexpected opcode 0x{opcode:X2}"));
                        break;
                }
            }
        }
        catch (Exception ex) when (ex is OperationCanceledException or IOException or EndOfStreamException or ObjectDisposedException)
        {
        }
        finally
        {
            await stream.DisposeAsync();
        }
    }

    private static byte[] Error(int code, string message) => new Writer().Int(code).String(message).ToArray();

    /// <summary>A ROWS result (kind 2): metadata with the global table spec, a paging state while rows remain, the rows
    /// from <paramref name="start"/>.</summary>
    private static byte[] Rows(FakeResult result, int start, int pageSize)
    {
        var end = (int)Math.Min(result.Rows.Count, (long)start + pageSize);
        var writer = new Writer().Int(2).Int(0x0001 | (end < result.Rows.Count ? 0x0002 : 0)).Int(result.Columns.Count);
        if (end < result.Rows.Count)
        {
            var state = new byte[4];
            BinaryPrimitives.WriteInt32BigEndian(state, end);
            writer.Bytes(state);
        }

        writer.String(result.Keyspace).String(result.Table);
        foreach (var (name, type) in result.Columns)
        {
            writer.String(name);
            foreach (var id in type)
            {
                writer.Short(id);
            }
        }

        writer.Int(end - start);
        for (var r = start; r < end; r++)
        {
            for (var c = 0; c < result.Columns.Count; c++)
            {
                writer.Bytes(Value(result.Rows[r][c]));
            }
        }

        return writer.ToArray();
    }

    /// <summary>A value as the spec serializes it: text as UTF-8, int 4 bytes, boolean 1, uuid 16, lists and sets as
    /// [int] n and n [bytes], maps as [int] n and n key/value [bytes] pairs.</summary>
    private static byte[]? Value(object? value) => value switch
    {
        null => null,
        string text => Encoding.UTF8.GetBytes(text),
        int number => new Writer().Int(number).ToArray(),
        bool flag => [flag ? (byte)1 : (byte)0],
        Guid id => id.ToByteArray(bigEndian: true),
        byte[] bytes => bytes,
        IReadOnlyDictionary<string, byte[]> map => map.Aggregate(new Writer().Int(map.Count), (w, e) => w.Bytes(Encoding.UTF8.GetBytes(e.Key)).Bytes(e.Value)).ToArray(),
        IEnumerable<string> list => list.Aggregate(new Writer().Int(list.Count()), (w, e) => w.Bytes(Encoding.UTF8.GetBytes(e))).ToArray(),
        _ => throw new ArgumentException($"the fake cannot send a {value.GetType().Name}"),
    };

    private static async Task SendAsync(Stream stream, int version, short streamId, byte opcode, byte[] body)
    {
        var frame = new byte[9 + body.Length];
        frame[0] = (byte)version;
        BinaryPrimitives.WriteInt16BigEndian(frame.AsSpan(2), streamId);
        frame[4] = opcode;
        BinaryPrimitives.WriteInt32BigEndian(frame.AsSpan(5), body.Length);
        body.CopyTo(frame, 9);
        await SendRawAsync(stream, frame);
    }

    private static async Task SendRawAsync(Stream stream, byte[] bytes)
    {
        await stream.WriteAsync(bytes);
        await stream.FlushAsync();
    }

    private sealed class Writer
    {
        private readonly MemoryStream _out = new();

        public Writer Int(int value)
        {
            Span<byte> bytes = stackalloc byte[4];
            BinaryPrimitives.WriteInt32BigEndian(bytes, value);
            _out.Write(bytes);
            return this;
        }

        public Writer Short(ushort value)
        {
            Span<byte> bytes = stackalloc byte[2];
            BinaryPrimitives.WriteUInt16BigEndian(bytes, value);
            _out.Write(bytes);
            return this;
        }

        public Writer String(string value)
        {
            var bytes = Encoding.UTF8.GetBytes(value);
            Short((ushort)bytes.Length);
            _out.Write(bytes);
            return this;
        }

        public Writer Bytes(byte[]? value)
        {
            Int(value?.Length ?? -1);
            _out.Write(value ?? []);
            return this;
        }

        public byte[] ToArray() => _out.ToArray();
    }

    private sealed class Reader(byte[] body)
    {
        private int _at;

        public byte Byte() => body[_at++];

        public ushort Short()
        {
            var value = BinaryPrimitives.ReadUInt16BigEndian(body.AsSpan(_at));
            _at += 2;
            return value;
        }

        public int Int()
        {
            var value = BinaryPrimitives.ReadInt32BigEndian(body.AsSpan(_at));
            _at += 4;
            return value;
        }

        public string String()
        {
            var length = Short();
            var text = Encoding.UTF8.GetString(body, _at, length);
            _at += length;
            return text;
        }

        public string LongString()
        {
            var length = Int();
            var text = Encoding.UTF8.GetString(body, _at, length);
            _at += length;
            return text;
        }

        public byte[] Bytes()
        {
            var length = Int();
            var bytes = body.AsSpan(_at, length).ToArray();
            _at += length;
            return bytes;
        }

        public Dictionary<string, string> StringMap()
        {
            var count = Short();
            var map = new Dictionary<string, string>(StringComparer.Ordinal);
            for (var i = 0; i < count; i++)
            {
                map[String()] = String();
            }

            return map;
        }
    }
}
