using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using Microsoft.AspNetCore.Http;

namespace DataMesh.Server.Controller;

/// <summary>
/// Who may call the controller's API. Each configured check must pass: with a bearer token, the request presents it
/// (compared in constant time); with client certificates, its connection presented one that
/// <see cref="ClientCertificateTrust"/> accepts; with both, both. With neither, only requests that arrive over loopback.
/// Thread-safe.
/// </summary>
internal sealed class ControllerAuthorization : IDisposable
{
    private readonly byte[]? _tokenHash;

    public ControllerAuthorization(string? bearerToken, ClientCertificateTrust? certificates = null)
    {
        _tokenHash = string.IsNullOrEmpty(bearerToken) ? null : SHA256.HashData(Encoding.UTF8.GetBytes(bearerToken));
        Certificates = certificates;
    }

    /// <summary>Whether a token is configured.</summary>
    public bool HasToken => _tokenHash is not null;

    /// <summary>The client certificates accepted, or null when none are asked for.</summary>
    public ClientCertificateTrust? Certificates { get; }

    /// <summary>Whether only loopback is let in: neither a token nor client certificates are configured.</summary>
    public bool IsLoopbackOnly => _tokenHash is null && Certificates is null;

    /// <summary>What the start message says of the API's authentication.</summary>
    public string Describe()
    {
        if (IsLoopbackOnly)
        {
            return "no bearer token or client certificate is configured, so only requests over loopback are answered";
        }

        var certificate = Certificates is null ? null
            : $"a client certificate that chains to a CA of {string.Join(", ", Certificates.Paths)}{(Certificates.IsRestricted ? " and is among AllowedSubjects or AllowedThumbprints" : string.Empty)}";
        return "every request needs " + (certificate is null ? "the bearer token" : HasToken ? "the bearer token and " + certificate : certificate);
    }

    /// <summary>Null when the request may go on, else why not (never the token) and the client certificate it presented.</summary>
    public async ValueTask<(string Reason, X509Certificate2? Certificate)?> CheckAsync(HttpContext context)
    {
        if (IsLoopbackOnly)
        {
            return IsLoopback(context.Connection.RemoteIpAddress)
                ? null
                : ("The controller's API has no bearer token or client certificate configured, so it answers only requests over loopback; set DataMesh:Server:Controller:BearerToken or ClientCertificates:CaPaths to reach it from other machines.", null);
        }

        if (Certificates is not null)
        {
            X509Certificate2? certificate;
            try
            {
                // Kestrel with ClientCertificateMode.DelayCertificate asks for it here (HTTP/1.1 renegotiation); otherwise it is the handshake's.
                certificate = context.Connection.ClientCertificate ?? await context.Connection.GetClientCertificateAsync(context.RequestAborted).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is InvalidOperationException or NotSupportedException or IOException)
            {
                return ($"The client certificate could not be asked for ({ex.GetType().Name}): ask for it in the TLS handshake (ClientCertificateMode.AllowCertificate; docs/server.md).", null);
            }

            if (Certificates.Check(certificate) is { } refusal)
            {
                return (refusal, certificate);
            }
        }

        if (_tokenHash is not null && CheckToken(context.Request.Headers.Authorization.ToString()) is { } tokenRefusal)
        {
            return (tokenRefusal, null);
        }

        return null;
    }

    public void Dispose() => Certificates?.Dispose();

    public static bool IsLoopback(IPAddress? address) =>
        address is not null && (IPAddress.IsLoopback(address) || (address.IsIPv4MappedToIPv6 && IPAddress.IsLoopback(address.MapToIPv4())));

    private string? CheckToken(string header)
    {
        const string Scheme = "Bearer ";
        if (!header.StartsWith(Scheme, StringComparison.OrdinalIgnoreCase))
        {
            return "The controller's API needs 'Authorization: Bearer TOKEN'.";
        }

        // Both sides hashed first, so that the comparison takes as long whatever the length presented.
        var presented = SHA256.HashData(Encoding.UTF8.GetBytes(header[Scheme.Length..].Trim()));
        return CryptographicOperations.FixedTimeEquals(presented, _tokenHash) ? null : "The bearer token is not the controller API's.";
    }
}
