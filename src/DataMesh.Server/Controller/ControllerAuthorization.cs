using System.Net;
using System.Security.Cryptography;
using System.Text;
using Microsoft.AspNetCore.Http;

namespace DataMesh.Server.Controller;

/// <summary>
/// Who may call the controller's API: with a configured bearer token, whoever presents it (compared in constant time);
/// without one, only requests that arrive over loopback. Thread-safe.
/// </summary>
internal sealed class ControllerAuthorization
{
    private readonly byte[]? _tokenHash;

    public ControllerAuthorization(string? bearerToken)
    {
        _tokenHash = string.IsNullOrEmpty(bearerToken) ? null : SHA256.HashData(Encoding.UTF8.GetBytes(bearerToken));
    }

    /// <summary>Whether a token is configured.</summary>
    public bool HasToken => _tokenHash is not null;

    /// <summary>Null when the request may go on, else why not (never the token).</summary>
    public string? Check(HttpContext context)
    {
        if (_tokenHash is null)
        {
            return IsLoopback(context.Connection.RemoteIpAddress)
                ? null
                : "The controller's API has no bearer token configured, so it answers only requests over loopback; set DataMesh:Server:Controller:BearerToken to reach it from other machines.";
        }

        var header = context.Request.Headers.Authorization.ToString();
        const string Scheme = "Bearer ";
        if (!header.StartsWith(Scheme, StringComparison.OrdinalIgnoreCase))
        {
            return "The controller's API needs 'Authorization: Bearer TOKEN'.";
        }

        // Both sides hashed first, so that the comparison takes as long whatever the length presented.
        var presented = SHA256.HashData(Encoding.UTF8.GetBytes(header[Scheme.Length..].Trim()));
        return CryptographicOperations.FixedTimeEquals(presented, _tokenHash) ? null : "The bearer token is not the controller API's.";
    }

    public static bool IsLoopback(IPAddress? address) =>
        address is not null && (IPAddress.IsLoopback(address) || (address.IsIPv4MappedToIPv6 && IPAddress.IsLoopback(address.MapToIPv4())));
}
