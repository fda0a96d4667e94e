using System.Globalization;
using System.Security.Cryptography.X509Certificates;
using DataMesh.Connectors.Cassandra;

namespace DataMesh;

/// <summary>
/// How a Cassandra source reaches the DataMesh agents that serve nodes' <c>cdc_raw</c> over HTTPS (the nodes of
/// <see cref="CassandraSourceOptions.Nodes"/> given as <c>https://</c> addresses; the agent is <c>MapCassandraCdcAgent</c>
/// in DataMesh.Server, hosted by <c>samples/CassandraAgent</c>). See docs/cassandra.md, "Agents".
/// </summary>
public sealed class CassandraAgentConnection
{
    /// <summary>The bearer token the agents were started with (a secret: never logged). Required when a node is an agent.</summary>
    public string? Token { get; set; }

    /// <summary>A PEM file of the CA(s) that sign the agents' certificates; only they are trusted then. Default: the
    /// system's CAs. The certificate is always verified, and must name the host of the agent's address.</summary>
    public string? TlsCaCertificate { get; set; }

    /// <summary>How long one request to an agent may take (a listing, a segment's bytes, a deletion). Default 30 s;
    /// 1 s – 10 min.</summary>
    public TimeSpan RequestTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>The address of an agent node: a node value that starts with <c>https://</c>.</summary>
    internal static bool IsAgent(string location) => location.StartsWith("https://", StringComparison.OrdinalIgnoreCase);

    /// <summary>The problems of these settings, for a source with agent nodes.</summary>
    internal IEnumerable<string> Validate(string prefix)
    {
        if (string.IsNullOrWhiteSpace(Token))
        {
            yield return prefix + $"Agent:{nameof(Token)} is required: a node is read through its agent, which refuses requests without the token it was started with.";
        }
        else if (Token.Any(c => char.IsControl(c) || char.IsWhiteSpace(c)))
        {
            yield return prefix + $"Agent:{nameof(Token)} holds white space or control characters (its text is not shown here): give the agent's token alone.";
        }

        if (RequestTimeout < TimeSpan.FromSeconds(1) || RequestTimeout > TimeSpan.FromMinutes(10))
        {
            yield return prefix + string.Create(CultureInfo.InvariantCulture, $"Agent:{nameof(RequestTimeout)} must be between 1 second and 10 minutes; it is {RequestTimeout}.");
        }

        if (!string.IsNullOrWhiteSpace(TlsCaCertificate) && CassandraTls.CaProblem(TlsCaCertificate) is { } problem)
        {
            yield return prefix + $"Agent:{nameof(TlsCaCertificate)} '{TlsCaCertificate}' {problem}: give the PEM file of the CA that signs the agents' certificates.";
        }
    }

    /// <summary>The CAs of <see cref="TlsCaCertificate"/>, or null to trust the system's.</summary>
    internal X509Certificate2Collection? LoadCa() => string.IsNullOrWhiteSpace(TlsCaCertificate) ? null : CassandraTls.LoadCa(TlsCaCertificate);
}
