using System.Security.Cryptography.X509Certificates;

namespace DataMesh.Connectors.Cassandra.Native;

/// <summary>What <see cref="CqlConnection"/> needs to reach a node: its address, the credentials for
/// <c>PasswordAuthenticator</c> (SASL PLAIN), TLS and the time limits.</summary>
/// <param name="Host">The node's host name or address (also the name its TLS certificate must carry).</param>
/// <param name="Port">The native transport port (9042 by default).</param>
/// <param name="User">The role to authenticate as, or null when the node needs no authentication.</param>
/// <param name="Password">The role's password (never logged nor put in a message).</param>
/// <param name="Tls">Whether to speak TLS (the node's <c>client_encryption_options</c>); the certificate is always
/// verified, against <paramref name="TrustedCertificates"/> when given, else against the system's CAs, and must name
/// <paramref name="Host"/>.</param>
/// <param name="TrustedCertificates">The CAs to trust instead of the system's (a private CA), or null.</param>
/// <param name="ConnectTimeout">The limit on connecting, TLS and the handshake.</param>
/// <param name="RequestTimeout">The limit on each request's answer.</param>
internal sealed record CqlConnectionSettings(
    string Host,
    int Port,
    string? User,
    string? Password,
    bool Tls,
    X509Certificate2Collection? TrustedCertificates,
    TimeSpan ConnectTimeout,
    TimeSpan RequestTimeout)
{
    /// <summary>host:port, for messages.</summary>
    public string Endpoint => Host.Contains(':', StringComparison.Ordinal) ? $"[{Host}]:{Port}" : $"{Host}:{Port}";

    /// <summary>The settings without the password, for messages and logs.</summary>
    public override string ToString() => $"{Endpoint} (user {(User is null ? "none" : $"'{User}'")}, TLS {(Tls ? "on" : "off")})";
}
