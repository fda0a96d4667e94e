using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json.Nodes;

namespace DataMesh.Tests.Schemas;

/// <summary>
/// A protocol-level stand-in for Confluent Schema Registry: an HTTP/1.1 server on 127.0.0.1 (port 0) that serves
/// the REST endpoints Confluent.SchemaRegistry's client calls, with the request and response bodies, status codes
/// and error codes of Confluent's documented API (no registry server can run here). It stands for the real
/// registry's documented behaviour: global ids shared by identical schemas across subjects, versions from 1,
/// lookups (POST /subjects/{s}), per-subject and global compatibility (GET/PUT /config), 404s with error codes
/// 40401 (subject), 40402 (version), 40403 (schema) and 40408 (no subject-level compatibility). It does not check
/// compatibility itself (the real registry would answer 409): the store's own check runs before it.
/// </summary>
internal sealed class FakeSchemaRegistry : IAsyncDisposable
{
    private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
    private readonly CancellationTokenSource _stop = new();
    private readonly Lock _gate = new();
    private readonly Dictionary<int, string> _schemas = [];
    private readonly Dictionary<string, int> _ids = new(StringComparer.Ordinal);
    private readonly Dictionary<string, List<(int Version, int Id)>> _subjects = new(StringComparer.Ordinal);
    private readonly Dictionary<string, string> _subjectLevels = new(StringComparer.Ordinal);
    private readonly List<Task> _connections = [];
    private readonly Task _accept;
    private string _globalLevel = "BACKWARD";

    public FakeSchemaRegistry()
    {
        _listener.Start();
        Url = $"http://127.0.0.1:{((IPEndPoint)_listener.LocalEndpoint).Port.ToString(CultureInfo.InvariantCulture)}";
        _accept = Task.Run(AcceptLoop);
    }

    public string Url { get; }

    /// <summary>Every Authorization header received.</summary>
    public List<string> Authorizations { get; } = [];

    /// <summary>Every request served, as "METHOD /path".</summary>
    public List<string> Requests { get; } = [];

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        _listener.Stop();
        await _accept.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        Task[] connections;
        lock (_gate)
        {
            connections = [.. _connections];
        }

        await Task.WhenAll(connections).WaitAsync(TimeSpan.FromSeconds(5)).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        _stop.Dispose();
    }

    private async Task AcceptLoop()
    {
        while (!_stop.IsCancellationRequested)
        {
            TcpClient client;
            try
            {
                client = await _listener.AcceptTcpClientAsync(_stop.Token);
            }
            catch (Exception e) when (e is OperationCanceledException or SocketException or ObjectDisposedException)
            {
                return;
            }

            lock (_gate)
            {
                _connections.Add(Task.Run(() => Serve(client)));
            }
        }
    }

    private async Task Serve(TcpClient client)
    {
        using var _ = client;
        var stream = client.GetStream();
        try
        {
            while (!_stop.IsCancellationRequested)
            {
                var requestLine = await ReadLine(stream);
                if (string.IsNullOrEmpty(requestLine))
                {
                    return;
                }

                var contentLength = 0;
                string? header;
                while (!string.IsNullOrEmpty(header = await ReadLine(stream)))
                {
                    var colon = header.IndexOf(':', StringComparison.Ordinal);
                    if (colon > 0 && header[..colon].Trim().Equals("Content-Length", StringComparison.OrdinalIgnoreCase))
                    {
                        contentLength = int.Parse(header[(colon + 1)..].Trim(), CultureInfo.InvariantCulture);
                    }
                    else if (colon > 0 && header[..colon].Trim().Equals("Authorization", StringComparison.OrdinalIgnoreCase))
                    {
                        lock (_gate)
                        {
                            Authorizations.Add(header[(colon + 1)..].Trim());
                        }
                    }
                }

                var body = new byte[contentLength];
                await stream.ReadExactlyAsync(body, _stop.Token);
                var parts = requestLine.Split(' ');
                var (status, json) = Handle(parts[0], parts[1], Encoding.UTF8.GetString(body));
                var payload = Encoding.UTF8.GetBytes(json);
                var head = $"HTTP/1.1 {status} {(HttpStatusCode)status}\r\nContent-Type: application/vnd.schemaregistry.v1+json\r\nContent-Length: {payload.Length}\r\n\r\n";
                await stream.WriteAsync(Encoding.ASCII.GetBytes(head), _stop.Token);
                await stream.WriteAsync(payload, _stop.Token);
            }
        }
        catch (Exception e) when (e is IOException or OperationCanceledException or EndOfStreamException or ObjectDisposedException)
        {
            // The client closed the connection, or the server is stopping.
        }
    }

    private async Task<string?> ReadLine(NetworkStream stream)
    {
        var line = new List<byte>();
        var one = new byte[1];
        while (true)
        {
            if (await stream.ReadAsync(one, _stop.Token) == 0)
            {
                return line.Count == 0 ? null : Encoding.ASCII.GetString([.. line]);
            }

            if (one[0] == '\n')
            {
                return Encoding.ASCII.GetString([.. line]).TrimEnd('\r');
            }

            line.Add(one[0]);
        }
    }

    private (int Status, string Json) Handle(string method, string target, string body)
    {
        var path = target.Split('?')[0];
        var segments = path.Trim('/').Split('/').Select(Uri.UnescapeDataString).ToArray();
        lock (_gate)
        {
            Requests.Add($"{method} {path}");
            return (method, segments) switch
            {
                ("POST", ["subjects", var s, "versions"]) => Register(s, body),
                ("POST", ["subjects", var s]) => Lookup(s, body),
                ("GET", ["subjects", var s, "versions"]) => _subjects.TryGetValue(s, out var vs)
                    ? (200, new JsonArray([.. vs.Select(v => (JsonNode)v.Version)]).ToJsonString())
                    : Error(404, 40401, $"Subject '{s}' not found."),
                ("GET", ["subjects", var s, "versions", var v]) => Version(s, v),
                ("GET", ["schemas", "ids", var id]) => _schemas.TryGetValue(int.Parse(id, CultureInfo.InvariantCulture), out var schema)
                    ? (200, new JsonObject { ["schema"] = schema }.ToJsonString())
                    : Error(404, 40403, "Schema not found"),
                ("GET", ["config"]) => (200, new JsonObject { ["compatibilityLevel"] = _globalLevel }.ToJsonString()),
                ("PUT", ["config"]) => SetLevel(null, body),
                ("GET", ["config", var s]) => _subjectLevels.TryGetValue(s, out var level)
                    ? (200, new JsonObject { ["compatibilityLevel"] = level }.ToJsonString())
                    : Error(404, 40408, $"Subject '{s}' does not have subject-level compatibility configured"),
                ("PUT", ["config", var s]) => SetLevel(s, body),
                _ => Error(404, 404, "HTTP 404 Not Found"),
            };
        }
    }

    private static string Canonical(string schema) => global::Avro.Schema.Parse(schema).ToString();

    private (int, string) Register(string subject, string body)
    {
        var schema = JsonNode.Parse(body)!["schema"]!.GetValue<string>();
        var key = Canonical(schema);
        if (!_ids.TryGetValue(key, out var id))
        {
            id = _ids.Count + 100;
            _ids.Add(key, id);
            _schemas.Add(id, schema);
        }

        if (!_subjects.TryGetValue(subject, out var versions))
        {
            versions = [];
            _subjects.Add(subject, versions);
        }

        if (!versions.Any(v => v.Id == id))
        {
            versions.Add((versions.Count + 1, id));
        }

        return (200, new JsonObject { ["id"] = id }.ToJsonString());
    }

    private (int, string) Lookup(string subject, string body)
    {
        if (!_subjects.TryGetValue(subject, out var versions))
        {
            return Error(404, 40401, $"Subject '{subject}' not found.");
        }

        var key = Canonical(JsonNode.Parse(body)!["schema"]!.GetValue<string>());
        if (!_ids.TryGetValue(key, out var id) || !versions.Any(v => v.Id == id))
        {
            return Error(404, 40403, "Schema not found");
        }

        return (200, Registered(subject, versions.First(v => v.Id == id)));
    }

    private (int, string) Version(string subject, string version)
    {
        if (!_subjects.TryGetValue(subject, out var versions) || versions.Count == 0)
        {
            return Error(404, 40401, $"Subject '{subject}' not found.");
        }

        if (version == "latest")
        {
            return (200, Registered(subject, versions[^1]));
        }

        var n = int.Parse(version, CultureInfo.InvariantCulture);
        return versions.Any(v => v.Version == n)
            ? (200, Registered(subject, versions.First(v => v.Version == n)))
            : Error(404, 40402, $"Version {version} not found.");
    }

    private string Registered(string subject, (int Version, int Id) v) =>
        new JsonObject { ["subject"] = subject, ["version"] = v.Version, ["id"] = v.Id, ["schema"] = _schemas[v.Id] }.ToJsonString();

    private (int, string) SetLevel(string? subject, string body)
    {
        var level = JsonNode.Parse(body)!["compatibility"]!.GetValue<string>();
        if (subject is null)
        {
            _globalLevel = level;
        }
        else
        {
            _subjectLevels[subject] = level;
        }

        return (200, new JsonObject { ["compatibility"] = level }.ToJsonString());
    }

    private static (int, string) Error(int status, int code, string message) =>
        (status, new JsonObject { ["error_code"] = code, ["message"] = message }.ToJsonString());
}
