using System.Net;
using System.Net.Http.Headers;
using System.Net.Security;
using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;
using System.Text.Json;
using DataMesh.Sources;

namespace DataMesh.Connectors.Cassandra.Cdc;

/// <summary>
/// A node's <c>cdc_raw</c> read through the DataMesh agent that runs beside the node (<c>MapCassandraCdcAgent</c> in
/// DataMesh.Server; <c>samples/CassandraAgent</c>), over HTTPS with a bearer token, after Apache Cassandra Sidecar, through
/// which cassandra-analytics' CDC reads replicas' commit logs: <c>GET cdc/segments</c> lists the segments with their
/// indexes' text, <c>GET cdc/segments/{name}</c> gives a segment's bytes (all of them the first time: the index's durable
/// offset is logical, and a compressed or encrypted segment's bytes may run past it; of a plain segment that grows, only
/// the range that became durable since),
/// <c>DELETE cdc/segments/{name}</c> deletes an acknowledged one. The certificate is always verified (against
/// <see cref="CassandraAgentConnection.TlsCaCertificate"/> when given, else the system's CAs); the token goes only to a
/// verified agent.
/// </summary>
/// <remarks>Synchronous, as the follower reads a directory: the source's poll loop waits on its own thread.</remarks>
internal sealed class CdcRawAgentClient : ICdcRawStore
{
    private readonly string _source;
    private readonly string _node;
    private readonly Uri _base;
    private readonly HttpClient _client;
    private readonly X509Certificate2Collection? _roots;
    private readonly Dictionary<string, string?> _indexes = new(StringComparer.Ordinal);
    private readonly Dictionary<string, long?> _lengths = new(StringComparer.Ordinal);
    private readonly bool _keepSegments;
    private string? _tlsProblem;

    /// <summary>The plain segment read last (neither compressed nor encrypted) and its bytes, final up to
    /// <c>Trusted</c> (a durable offset): a growing segment is then fetched only from there. One segment's bytes at most.</summary>
    private (string Name, byte[] Bytes, int Trusted)? _plain;

    public CdcRawAgentClient(string source, string node, Uri agent, CassandraAgentConnection connection, bool keepSegments = false)
    {
        _keepSegments = keepSegments;
        _source = source;
        _node = node;
        _base = agent.AbsoluteUri.EndsWith('/') ? agent : new Uri(agent.AbsoluteUri + "/");
        _roots = connection.LoadCa();
        var handler = new SocketsHttpHandler
        {
            ConnectTimeout = TimeSpan.FromSeconds(10),
            PooledConnectionIdleTimeout = TimeSpan.FromMinutes(1),
            AutomaticDecompression = DecompressionMethods.None,
            SslOptions = new SslClientAuthenticationOptions
            {
                EnabledSslProtocols = SslProtocols.None, // the system's choice: TLS 1.2 and 1.3
                CertificateRevocationCheckMode = X509RevocationMode.NoCheck,
                CertificateChainPolicy = _roots is null ? null : CassandraTls.CustomRoots(_roots),
                RemoteCertificateValidationCallback = (_, certificate, _, errors) =>
                {
                    _tlsProblem = CertificateProblem(certificate, errors);
                    return _tlsProblem is null;
                },
            },
        };
        // A segment's bytes at most: Cassandra's commitlog_segment_size is below 2 GiB.
        _client = new HttpClient(handler) { Timeout = connection.RequestTimeout, MaxResponseContentBufferSize = int.MaxValue };
        _client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", connection.Token);
    }

    public string Location => _base.AbsoluteUri;

    public IReadOnlyList<CdcSegmentFile> List(CancellationToken cancellationToken)
    {
        using var response = Send(HttpMethod.Get, "cdc/segments", cancellationToken);
        Listing? listing;
        try
        {
            using var body = response.Content.ReadAsStream(cancellationToken);
            listing = JsonSerializer.Deserialize(body, CdcAgentJson.Default.Listing);
        }
        catch (JsonException ex)
        {
            throw new SourceException($"Cassandra source '{_source}': the agent of node {_node} at {Location} answered GET cdc/segments with something that is not its listing: {ex.Message}", isTransient: false, ex);
        }

        if (listing?.AllowDelete == false && !_keepSegments)
        {
            // Said at the first listing, before any segment is deleted: else the source would stop at its first acknowledged
            // segment, with some nodes' segments deleted.
            throw new SourceException($"Cassandra source '{_source}': the agent of node {_node} at {Location} keeps its segments (AllowDelete false), and this source deletes them once acknowledged: set KeepSegments on this source, or AllowDelete on the agent.", isTransient: false);
        }

        _indexes.Clear();
        _lengths.Clear();
        List<CdcSegmentFile> segments = [];
        foreach (var entry in listing?.Segments ?? [])
        {
            if (entry.Name is { } name && CdcSegmentFile.TryParse(name, out var segment))
            {
                segments.Add(segment);
                _indexes[name] = entry.Index;
                _lengths[name] = entry.Length;
            }
        }

        segments.Sort((a, b) => a.Id.CompareTo(b.Id));
        return segments;
    }

    public string? ReadIndex(CdcSegmentFile segment, CancellationToken cancellationToken) => _indexes.GetValueOrDefault(segment.Name);

    /// <summary>The length the listing gave (an agent before 2026-12-07 gives none).</summary>
    public long? Length(CdcSegmentFile segment, CancellationToken cancellationToken) => _lengths.GetValueOrDefault(segment.Name);

    public byte[] Read(CdcSegmentFile segment, long durable, CancellationToken cancellationToken)
    {
        var path = "cdc/segments/" + Uri.EscapeDataString(segment.Name);
        if (_plain is { } plain && plain.Name == segment.Name && durable >= plain.Trusted && durable <= int.MaxValue)
        {
            // A plain segment read before up to a durable offset: its bytes below that offset are final (the node only
            // appends sections), so only what became durable since is fetched.
            if (durable == plain.Trusted)
            {
                return plain.Bytes;
            }

            // Forgotten until the range arrives whole: a failed request (the file replaced, say) reads it whole next time.
            _plain = null;
            using var tail = Send(HttpMethod.Get, path, cancellationToken, range: new RangeHeaderValue(plain.Trusted, durable - 1));
            var added = Body(tail, cancellationToken);
            BytesFetched += added.Length;
            if (tail.StatusCode == HttpStatusCode.PartialContent && added.Length == durable - plain.Trusted)
            {
                var grown = new byte[durable];
                plain.Bytes.AsSpan(0, plain.Trusted).CopyTo(grown);
                added.CopyTo(grown.AsSpan(plain.Trusted));
                _plain = (segment.Name, grown, (int)durable);
                return grown;
            }
        }

        // The whole segment, not a range up to the durable offset: for a compressed or encrypted segment that offset is
        // logical (uncompressed), and its bytes may run past it; the reader stops at the durable offset itself.
        _plain = null;
        using var response = Send(HttpMethod.Get, path, cancellationToken);
        var bytes = Body(response, cancellationToken);
        BytesFetched += bytes.Length;
        if (durable is > 0 and < int.MaxValue && bytes.Length >= durable && IsPlain(bytes, segment.Name))
        {
            _plain = (segment.Name, bytes, (int)durable);
        }

        return bytes;
    }

    /// <summary>Segment bytes received so far (for tests and diagnostics).</summary>
    internal long BytesFetched { get; private set; }

    public void Delete(CdcSegmentFile segment, CancellationToken cancellationToken)
    {
        using var response = Send(HttpMethod.Delete, "cdc/segments/" + Uri.EscapeDataString(segment.Name), cancellationToken, notFoundIsAnswer: true);
    }

    public void Dispose()
    {
        _client.Dispose();
        CassandraTls.Dispose(_roots);
    }

    private HttpResponseMessage Send(HttpMethod method, string path, CancellationToken cancellationToken, bool notFoundIsAnswer = false, RangeHeaderValue? range = null)
    {
        using var request = new HttpRequestMessage(method, new Uri(_base, path));
        request.Headers.Range = range;
        HttpResponseMessage response;
        try
        {
            _tlsProblem = null;
            // The whole answer read within Agent:RequestTimeout (and the stop's cancellation): an agent that stalls
            // mid-answer cannot hold the poll loop.
            response = _client.Send(request, HttpCompletionOption.ResponseContentRead, cancellationToken);
        }
        catch (HttpRequestException ex) when (ex.InnerException is AuthenticationException || _tlsProblem is not null)
        {
            throw new SourceException($"Cassandra source '{_source}': the TLS certificate of node {_node}'s agent at {Location} is refused: {_tlsProblem ?? ex.InnerException?.Message ?? ex.Message}. The token was not sent.", isTransient: false, ex);
        }
        catch (HttpRequestException ex)
        {
            throw new IOException($"Cassandra source '{_source}': the agent of node {_node} at {Location} cannot be reached ({method} {path}): {ex.Message}", ex);
        }
        catch (TaskCanceledException ex) when (!cancellationToken.IsCancellationRequested)
        {
            throw new IOException($"Cassandra source '{_source}': the agent of node {_node} at {Location} did not answer {method} {path} within {_client.Timeout.TotalSeconds:0.#} s (Agent:RequestTimeout).", ex);
        }

        if (response.IsSuccessStatusCode || (notFoundIsAnswer && response.StatusCode == HttpStatusCode.NotFound))
        {
            return response;
        }

        var status = (int)response.StatusCode;
        var reason = Reason(response, cancellationToken);
        response.Dispose();
        if (response.StatusCode == HttpStatusCode.Unauthorized)
        {
            throw new SourceException($"Cassandra source '{_source}': the agent of node {_node} at {Location} refused the request ({method} {path}: HTTP {status}{reason}): set Agent:Token to the token the agent was started with.", isTransient: false);
        }

        if (response.StatusCode == HttpStatusCode.Forbidden)
        {
            var what = method == HttpMethod.Delete
                ? "the agent keeps its segments (AllowDelete false): set KeepSegments on this source, or AllowDelete on the agent"
                : "the agent answers plain HTTP only from its own machine: serve it over HTTPS";
            throw new SourceException($"Cassandra source '{_source}': the agent of node {_node} at {Location} refused the request ({method} {path}: HTTP {status}{reason}): {what}.", isTransient: false);
        }

        // A segment deleted or rewritten meanwhile, the agent restarting, its disk: read again later.
        throw new IOException($"Cassandra source '{_source}': the agent of node {_node} at {Location} answered {method} {path} with HTTP {status}{reason}.");
    }

    /// <summary>An answer's body, read in whole by <see cref="Send"/> already (<see cref="HttpCompletionOption.ResponseContentRead"/>):
    /// copied from its buffer synchronously, as the follower reads a directory.</summary>
    private static byte[] Body(HttpResponseMessage response, CancellationToken cancellationToken)
    {
        using var body = response.Content.ReadAsStream(cancellationToken);
        using var copy = new MemoryStream(response.Content.Headers.ContentLength is { } length and <= int.MaxValue ? (int)length : 0);
        body.CopyTo(copy);
        return copy.ToArray();
    }

    /// <summary>Whether a segment's header says its sections are plain (neither compressed nor encrypted); false when the
    /// header cannot be read (the reader then says why).</summary>
    private static bool IsPlain(byte[] bytes, string name)
    {
        try
        {
            var descriptor = CommitLog.CommitLogDescriptor.Read(bytes, name);
            return !descriptor.IsCompressed && !descriptor.IsEncrypted;
        }
        catch (FormatException)
        {
            return false;
        }
    }

    private static string Reason(HttpResponseMessage response, CancellationToken cancellationToken)
    {
        try
        {
            using var body = response.Content.ReadAsStream(cancellationToken);
            using var reader = new StreamReader(body);
            var buffer = new char[300];
            var read = reader.ReadBlock(buffer, 0, buffer.Length);
            var text = new string(buffer, 0, read).ReplaceLineEndings(" ").Trim();
            return text.Length == 0 ? string.Empty : ": " + text;
        }
        catch (Exception ex) when (ex is IOException or HttpRequestException)
        {
            return string.Empty;
        }
    }

    private string? CertificateProblem(X509Certificate? certificate, SslPolicyErrors errors)
    {
        if (certificate is null || (errors & SslPolicyErrors.RemoteCertificateNotAvailable) != 0)
        {
            return "the agent sent no certificate";
        }

        if ((errors & SslPolicyErrors.RemoteCertificateChainErrors) != 0)
        {
            return $"the certificate '{certificate.Subject}' (issued by '{certificate.Issuer}') is not signed by a CA {(_roots is null ? "this system trusts" : "of Agent:TlsCaCertificate")}, or is not valid now: set Agent:TlsCaCertificate to the PEM of the CA that signed the agent's certificate";
        }

        if ((errors & SslPolicyErrors.RemoteCertificateNameMismatch) != 0)
        {
            return $"the certificate '{certificate.Subject}' does not name the host '{_base.Host}': give the agent's address by a name its certificate has";
        }

        return errors == SslPolicyErrors.None ? null : errors.ToString();
    }

    /// <summary>The agent's answer to <c>GET cdc/segments</c>: the segments, and whether it deletes acknowledged ones.</summary>
    internal sealed record Listing(IReadOnlyList<ListedSegment>? Segments, bool? AllowDelete);

    /// <summary>One segment of the listing: its file name, its index's text (null without one) and the file's length.</summary>
    internal sealed record ListedSegment(string? Name, string? Index, long? Length = null);
}

[System.Text.Json.Serialization.JsonSourceGenerationOptions(PropertyNamingPolicy = System.Text.Json.Serialization.JsonKnownNamingPolicy.CamelCase)]
[System.Text.Json.Serialization.JsonSerializable(typeof(CdcRawAgentClient.Listing))]
internal sealed partial class CdcAgentJson : System.Text.Json.Serialization.JsonSerializerContext;
