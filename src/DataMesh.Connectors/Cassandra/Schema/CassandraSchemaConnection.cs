using System.Globalization;
using System.Net;
using DataMesh.Connectors.Cassandra;
using DataMesh.Connectors.Cassandra.Native;

namespace DataMesh;

/// <summary>
/// Where a Cassandra source reads its tables' schemas from <c>system_schema</c>, over CQL native protocol v4 (our own
/// small client): a node's native transport, the role to authenticate as (<c>PasswordAuthenticator</c>), TLS. The
/// alternative to <see cref="CassandraSourceOptions.Tables"/>: set <see cref="ContactPoint"/> to use it. See
/// <c>docs/cassandra.md</c>.
/// </summary>
public sealed class CassandraSchemaConnection
{
    /// <summary>The node to ask, as <c>host</c>, <c>host:port</c> or <c>[ipv6]:port</c> (port 9042 when left out).
    /// Usually the node the source runs beside. Setting it makes the source read <c>system_schema</c> instead of
    /// <see cref="CassandraSourceOptions.Tables"/>.</summary>
    public string? ContactPoint { get; set; }

    /// <summary>The role to authenticate as (SASL PLAIN, which <c>PasswordAuthenticator</c> speaks); it needs
    /// <c>SELECT</c> on <c>system_schema</c> (every role has it by default). Empty when the node runs
    /// <c>AllowAllAuthenticator</c>.</summary>
    public string? User { get; set; }

    /// <summary>The role's password: take it from configuration or a secret store, not from code. It is never logged nor
    /// put in a message, and never sent in clear to another machine (set <see cref="Tls"/>).</summary>
    public string? Password { get; set; }

    /// <summary>Speak TLS (the node's <c>client_encryption_options</c>). The node's certificate is always verified: it
    /// must chain to a CA this system trusts (or one of <see cref="TlsCaCertificate"/>) and name the host of
    /// <see cref="ContactPoint"/>. There is no setting that turns the check off.</summary>
    public bool Tls { get; set; }

    /// <summary>A PEM file of the CA(s) that signed the node's certificate, trusted instead of the system's CAs (a
    /// private CA). Only with <see cref="Tls"/>.</summary>
    public string? TlsCaCertificate { get; set; }

    /// <summary>The limit on connecting, TLS and the handshake. Default 10 s.</summary>
    public TimeSpan ConnectTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>The limit on each request's answer (one page). Default 30 s.</summary>
    public TimeSpan RequestTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>Rows asked for per page of a <c>system_schema</c> query. Default 1000.</summary>
    public int PageSize { get; set; } = 1000;

    /// <summary>Whether <see cref="ContactPoint"/> is set.</summary>
    internal bool IsSet => !string.IsNullOrWhiteSpace(ContactPoint);

    /// <summary>The problems of the settings, each naming the setting; <paramref name="prefix"/> starts each message.</summary>
    internal IEnumerable<string> Validate(string prefix)
    {
        const string Name = nameof(CassandraSourceOptions.SchemaConnection);
        if (!TryParseContactPoint(ContactPoint, out var host, out _))
        {
            yield return prefix + $"{Name}.{nameof(ContactPoint)} '{ContactPoint}' is not host, host:port or [ipv6]:port (port 1-65535; 9042 when left out).";
        }

        if (string.IsNullOrEmpty(User) != string.IsNullOrEmpty(Password))
        {
            yield return prefix + $"{Name}.{nameof(User)} and {Name}.{nameof(Password)} go together: set both (PasswordAuthenticator) or neither (AllowAllAuthenticator).";
        }

        if (!string.IsNullOrEmpty(Password) && !Tls && host is not null && !IsLocal(host))
        {
            yield return prefix + $"{Name}.{nameof(Password)} would go in clear to {host}: set {Name}.{nameof(Tls)} to true (the node's client_encryption_options), or connect to the node on this machine (localhost).";
        }

        if (!string.IsNullOrEmpty(TlsCaCertificate))
        {
            if (!Tls)
            {
                yield return prefix + $"{Name}.{nameof(TlsCaCertificate)} is set but {Name}.{nameof(Tls)} is false: set Tls to true, or remove the CA file.";
            }
            else
            {
                var problem = CassandraTls.CaProblem(TlsCaCertificate);
                if (problem is not null)
                {
                    yield return prefix + $"{Name}.{nameof(TlsCaCertificate)} '{TlsCaCertificate}' {problem}: give the PEM file of the CA that signed the node's certificate.";
                }
            }
        }

        if (ConnectTimeout < TimeSpan.FromMilliseconds(100) || ConnectTimeout > TimeSpan.FromMinutes(10))
        {
            yield return prefix + string.Create(CultureInfo.InvariantCulture, $"{Name}.{nameof(ConnectTimeout)} must be between 100 ms and 10 minutes; it is {ConnectTimeout}.");
        }

        if (RequestTimeout < TimeSpan.FromMilliseconds(100) || RequestTimeout > TimeSpan.FromMinutes(10))
        {
            yield return prefix + string.Create(CultureInfo.InvariantCulture, $"{Name}.{nameof(RequestTimeout)} must be between 100 ms and 10 minutes; it is {RequestTimeout}.");
        }

        if (PageSize is < 1 or > 100_000)
        {
            yield return prefix + string.Create(CultureInfo.InvariantCulture, $"{Name}.{nameof(PageSize)} must be between 1 and 100000; it is {PageSize}.");
        }
    }

    /// <summary>The client's settings (the CA file loaded; dispose its certificates after use).</summary>
    internal CqlConnectionSettings Settings()
    {
        if (!TryParseContactPoint(ContactPoint, out var host, out var port))
        {
            throw new InvalidOperationException($"{nameof(CassandraSourceOptions.SchemaConnection)}.{nameof(ContactPoint)} is not valid");
        }

        return new CqlConnectionSettings(host, port, string.IsNullOrEmpty(User) ? null : User, Password, Tls,
            Tls && !string.IsNullOrEmpty(TlsCaCertificate) ? CassandraTls.LoadCa(TlsCaCertificate) : null, ConnectTimeout, RequestTimeout);
    }

    /// <summary>Parses <c>host</c>, <c>host:port</c>, <c>[ipv6]</c>, <c>[ipv6]:port</c> or a bare IPv6 address.</summary>
    internal static bool TryParseContactPoint(string? text, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out string? host, out int port)
    {
        host = null;
        port = 9042;
        text = text?.Trim();
        if (string.IsNullOrEmpty(text))
        {
            return false;
        }

        string portText = string.Empty;
        if (text.StartsWith('['))
        {
            var close = text.IndexOf(']', StringComparison.Ordinal);
            if (close < 0)
            {
                return false;
            }

            host = text[1..close];
            var rest = text[(close + 1)..];
            if (rest.Length > 0)
            {
                if (rest[0] != ':')
                {
                    host = null;
                    return false;
                }

                portText = rest[1..];
            }
        }
        else if (text.Count(c => c == ':') > 1)
        {
            host = text; // a bare IPv6 address
        }
        else
        {
            var colon = text.IndexOf(':', StringComparison.Ordinal);
            host = colon < 0 ? text : text[..colon];
            portText = colon < 0 ? string.Empty : text[(colon + 1)..];
        }

        if (portText.Length > 0 && (!int.TryParse(portText, NumberStyles.None, CultureInfo.InvariantCulture, out port) || port is < 1 or > 65535))
        {
            host = null;
            return false;
        }

        if (host.Length == 0 || host.Any(char.IsWhiteSpace))
        {
            host = null;
            return false;
        }

        return true;
    }

    private static bool IsLocal(string host) =>
        string.Equals(host, "localhost", StringComparison.OrdinalIgnoreCase) || (IPAddress.TryParse(host, out var address) && IPAddress.IsLoopback(address));
}
