using System.Net;
using DataMesh.Connectors.MySql.Protocol;
using MySqlConnector;

namespace DataMesh.Connectors.MySql;

/// <summary>
/// One reading of a MySQL source's connection string for both of its paths: MySqlConnector (server checks, schema and
/// position queries) and the replication client (<see cref="ReplicationConnection"/>). Both take <c>SslMode</c>,
/// <c>SslCa</c>, <c>SslCert</c>/<c>SslKey</c> and <c>CertificateFile</c> with MySqlConnector's meaning, and the source
/// refuses a setting that would let a man in the middle take the password (see docs/mysql.md, TLS).
/// </summary>
internal static class MySqlTls
{
    /// <summary>The replication client's settings from the connection string.</summary>
    public static ReplicationConnectionSettings ReplicationSettings(MySqlConnectionStringBuilder builder)
    {
        var host = builder.Server.Split(',')[0].Trim();
        return new ReplicationConnectionSettings(host, (int)builder.Port, builder.UserID, builder.Password)
        {
            Tls = builder.SslMode switch
            {
                MySqlSslMode.None => TlsMode.None,
                MySqlSslMode.Preferred => TlsMode.Preferred,
                MySqlSslMode.Required => TlsMode.Required,
                MySqlSslMode.VerifyCA => TlsMode.VerifyCA,
                _ => TlsMode.VerifyFull,
            },
            CaFile = NullIfEmpty(builder.SslCa),
            ClientCertificateFile = NullIfEmpty(builder.SslCert),
            ClientKeyFile = NullIfEmpty(builder.SslKey),
            ClientPkcs12File = NullIfEmpty(builder.CertificateFile),
            ClientPkcs12Password = NullIfEmpty(builder.CertificatePassword),
            CheckRevocation = builder.SslMode == MySqlSslMode.VerifyFull && !builder.SkipCertificateRevocationCheck,
            Local = IsLocal(builder.Server),
            ServerRsaPublicKey = string.IsNullOrEmpty(builder.ServerRsaPublicKeyFile) ? null : File.ReadAllText(builder.ServerRsaPublicKeyFile),
            AllowPublicKeyRetrieval = builder.AllowPublicKeyRetrieval,
            ConnectTimeout = TimeSpan.FromSeconds(Math.Max(1, builder.ConnectionTimeout)),
        };
    }

    /// <summary>Whether every server of <paramref name="server"/> (MySqlConnector's comma-separated list) is on this machine:
    /// <c>localhost</c>, a loopback address, or a Unix socket path. No DNS is asked.</summary>
    public static bool IsLocal(string server) => server.Split(',').Select(s => s.Trim()).All(host =>
        host.Length > 0 && (string.Equals(host, "localhost", StringComparison.OrdinalIgnoreCase) || host.StartsWith('/')
            || (IPAddress.TryParse(host.Trim('[', ']'), out var address) && IPAddress.IsLoopback(address))));

    /// <summary>What in the connection string's TLS settings the source refuses, each with what to set instead.</summary>
    public static IEnumerable<string> Problems(MySqlConnectionStringBuilder builder)
    {
        // MySqlConnector sends the password itself to a server that asks for it (mysql_clear_password, caching_sha2's full
        // path) over TLS that it did not verify, and a man in the middle can always ask: such a setting is refused for a
        // server that is not on this machine. The replication client alone would refuse at that point, but the source's
        // MySqlConnector connections would not.
        if (builder.SslMode is MySqlSslMode.Preferred or MySqlSslMode.Required && builder.Password.Length > 0 && !IsLocal(builder.Server))
        {
            var mode = builder.ContainsKey("SslMode") ? $"SslMode={builder.SslMode}" : "SslMode=Preferred (the default)";
            yield return $"ConnectionString has {mode}, which encrypts without checking the server's certificate; over such a channel a man in the middle " +
                "can ask for the password in clear, and MySqlConnector would send it. Set SslMode=VerifyFull with SslCa=<PEM file of the CA that signed " +
                "the server's certificate> (unless the system trusts that CA; VerifyCA skips the host-name check), or SslMode=None on a network you trust " +
                "(the password then travels only as a challenge response, the data unencrypted). See docs/mysql.md, TLS.";
        }

        if (builder.SslMode is MySqlSslMode.Preferred or MySqlSslMode.Required && !string.IsNullOrEmpty(builder.SslCa))
        {
            yield return $"ConnectionString sets SslCa, but SslMode={builder.SslMode} does not check the certificate against it: set SslMode=VerifyFull (or VerifyCA).";
        }

        if (string.IsNullOrEmpty(builder.SslCert) != string.IsNullOrEmpty(builder.SslKey))
        {
            // MySqlConnector uses the client certificate only when both are set.
            yield return $"ConnectionString sets {(string.IsNullOrEmpty(builder.SslCert) ? "SslKey without SslCert" : "SslCert without SslKey")}: set both (PEM files of the client certificate and its key).";
        }

        foreach (var (setting, file) in new[] { ("SslCa", builder.SslCa), ("SslCert", builder.SslCert), ("SslKey", builder.SslKey), ("CertificateFile", builder.CertificateFile) })
        {
            if (!string.IsNullOrEmpty(file) && !File.Exists(file))
            {
                yield return $"ConnectionString's {setting} file '{file}' does not exist.";
            }
        }

        if (builder.CertificateStoreLocation != MySqlCertificateStoreLocation.None || !string.IsNullOrEmpty(builder.TlsVersion) || !string.IsNullOrEmpty(builder.TlsCipherSuites))
        {
            yield return "ConnectionString sets CertificateStoreLocation, TlsVersion or TlsCipherSuites, which the binlog client does not support: " +
                "give the client certificate as SslCert and SslKey (PEM) or CertificateFile (PKCS #12); the TLS versions and ciphers are the system's.";
        }
    }

    private static string? NullIfEmpty(string value) => value.Length == 0 ? null : value;
}
