using System.Net;
using Microsoft.AspNetCore.Http;

namespace DataMesh.Server.Controller;

/// <summary>
/// Refuses requests a browser sends on behalf of another site's page. A page can post a "simple" request (a form, or
/// <c>fetch</c> with <c>text/plain</c>) to any address without a CORS preflight, and the browser of an operator on the
/// server's machine reaches its loopback address; with DNS rebinding such a page can read the answers too. So: a
/// request whose <c>Sec-Fetch-Site</c> is not <c>same-origin</c> (or <c>none</c>), or, from a browser that does not send
/// it, whose <c>Origin</c> names another host, is refused, and an API answering over loopback only also refuses a
/// <c>Host</c> that is not a loopback name. Clients
/// that are not browsers (the <c>datamesh</c> tool, curl, Kafka clients) send neither header; the server's own page
/// sends its own origin.
/// </summary>
internal static class CrossSiteRequests
{
    /// <summary>Null when the request may go on, else why not.</summary>
    /// <param name="request">The request.</param>
    /// <param name="loopbackOnly">Whether the API answers over loopback only (its <c>Host</c> must then be a loopback name).</param>
    public static string? Check(HttpRequest request, bool loopbackOnly)
    {
        // A browser that sends Sec-Fetch-Site decides it itself, which a page cannot forge; it knows the origin the user
        // sees, also behind a proxy that ends TLS (where the server sees http and another port). Without it (an older
        // browser), the Origin's host must be the host the request names.
        var site = request.Headers["Sec-Fetch-Site"].ToString();
        if (site.Length > 0)
        {
            if (!site.Equals("same-origin", StringComparison.OrdinalIgnoreCase) && !site.Equals("none", StringComparison.OrdinalIgnoreCase))
            {
                return $"The request was sent by a browser for a page of another site or origin (Sec-Fetch-Site: {site}); this API answers its own page and clients that are not browsers.";
            }
        }
        else if (request.Headers.Origin.ToString() is { Length: > 0 } origin && !IsOwnHost(origin, request))
        {
            return $"The request was sent by a browser for a page of another origin (Origin: {origin}, not of host {request.Host.Host}); this API answers its own page and clients that are not browsers.";
        }

        if (loopbackOnly && !IsLoopbackName(request.Host.Host))
        {
            return $"The request names host '{request.Host.Host}', not a loopback name (localhost, 127.0.0.1, [::1]), while the API answers over loopback only (a page of another site may have pointed that name at this machine); call it by a loopback name, or set a bearer token or client certificates to open it.";
        }

        return null;
    }

    private static bool IsOwnHost(string origin, HttpRequest request) =>
        // "null" (a sandboxed page, a file) or anything else that is no origin is not the server's.
        Uri.TryCreate(origin, UriKind.Absolute, out var uri) && uri.AbsolutePath == "/" && request.Host.HasValue
        && uri.IdnHost.Equals(request.Host.Host.Trim('[', ']'), StringComparison.OrdinalIgnoreCase);

    private static bool IsLoopbackName(string host)
    {
        if (host.Equals("localhost", StringComparison.OrdinalIgnoreCase) || host.EndsWith(".localhost", StringComparison.OrdinalIgnoreCase))
        {
            return true; // browsers resolve these to loopback themselves, never through DNS
        }

        return IPAddress.TryParse(host.Trim('[', ']'), out var address) && ControllerAuthorization.IsLoopback(address);
    }
}
