using System.Net;
using System.Security.Authentication;
using Npgsql;

namespace DataMesh.Connectors.Postgres;

/// <summary>
/// How a PostgreSQL source's connection string is secured. Npgsql checks the server's certificate (<c>SSL Mode=VerifyFull</c>
/// or <c>VerifyCA</c>, with <c>Root Certificate</c>) and presents a client certificate (<c>SSL Certificate</c>, <c>SSL Key</c>);
/// the source passes those settings through unchanged. What it adds: over a channel whose server is not verified, and not on
/// this machine, the password is never sent in clear (pg_hba.conf method <c>password</c>): unless <c>Require Auth</c> is
/// set (or <c>PGREQUIREAUTH</c>), it sets <c>Require Auth=!Password</c>, and explains the refusal and the certificate errors.
/// </summary>
internal static class PostgresTls
{
    private const string ClearPasswordRefusal = "\"Password\" authentication method is not allowed";

    /// <summary>Sets <c>Require Auth=!Password</c> where the password could go in clear to an unverified server.</summary>
    public static void Secure(NpgsqlConnectionStringBuilder builder)
    {
        if (builder.SslMode is not (SslMode.VerifyCA or SslMode.VerifyFull) && string.IsNullOrEmpty(builder.RequireAuth)
            && string.IsNullOrEmpty(Environment.GetEnvironmentVariable("PGREQUIREAUTH")) && !IsLocal(builder.Host))
        {
            builder.RequireAuth = "!Password";
        }
    }

    /// <summary>Whether every host of <paramref name="host"/> (Npgsql's comma-separated list) is on this machine:
    /// <c>localhost</c>, a loopback address, or a Unix socket folder. No DNS is asked.</summary>
    public static bool IsLocal(string? host) => !string.IsNullOrEmpty(host) && host.Split(',').Select(h => h.Trim()).All(h =>
    {
        var name = h.StartsWith('[') ? h[1..h.IndexOf(']', StringComparison.Ordinal)] : h.Split(':')[0];
        return string.Equals(name, "localhost", StringComparison.OrdinalIgnoreCase) || h.StartsWith('/')
            || (IPAddress.TryParse(name, out var address) && IPAddress.IsLoopback(address));
    });

    /// <summary>A fatal error that says what to set, for a refused certificate or a refused clear-text password; null for
    /// any other error.</summary>
    public static PostgresSourceException? Explain(Exception exception, string source, NpgsqlConnectionStringBuilder builder)
    {
        if (exception is NpgsqlException && exception.Message.StartsWith(ClearPasswordRefusal, StringComparison.Ordinal))
        {
            return new PostgresSourceException(
                $"PostgreSQL source '{source}': the server {builder.Host}:{builder.Port} asks for the password in clear (pg_hba.conf method 'password') and its TLS " +
                $"certificate is not verified (SSL Mode={builder.SslMode}): a man in the middle would get the password, so it was not sent. Set SSL Mode=VerifyFull " +
                "with Root Certificate=<PEM file of the CA that signed the server's certificate>, or have the server use scram-sha-256 for this user (see docs/postgres.md, TLS).",
                exception);
        }

        for (var inner = exception; inner is not null; inner = inner.InnerException)
        {
            if (inner is AuthenticationException)
            {
                var verify = builder.SslMode is SslMode.VerifyCA or SslMode.VerifyFull;
                return new PostgresSourceException(
                    $"PostgreSQL source '{source}': the TLS handshake with {builder.Host}:{builder.Port} failed (SSL Mode={builder.SslMode}): {inner.Message} " +
                    (verify
                        ? "Check that Root Certificate is the PEM file of the CA that signed the server's certificate, that the certificate is valid now and, with VerifyFull, that it names Host (else connect with a name it has, or use VerifyCA). "
                        : string.Empty) +
                    "With a client certificate, check SSL Certificate and SSL Key (see docs/postgres.md, TLS).",
                    exception);
            }
        }

        return null;
    }
}
