using System.Collections.Frozen;
using System.Text;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace DataMesh.Server.Page;

/// <summary>
/// The web page over the controller's API: <c>index.html</c>, <c>app.js</c> and <c>app.css</c>, embedded in this assembly
/// (nothing from a CDN: the page works on a machine that reaches nothing else). The page holds no data; it reads everything
/// from the API, with the token the user types when one is configured.
/// </summary>
internal static class PageEndpoints
{
    private const string Policy = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

    private static readonly FrozenDictionary<string, string> Types = new Dictionary<string, string>(StringComparer.Ordinal)
    {
        ["index.html"] = "text/html; charset=utf-8",
        ["app.js"] = "text/javascript; charset=utf-8",
        ["app.css"] = "text/css; charset=utf-8",
    }.ToFrozenDictionary();

    public static void Map(IEndpointRouteBuilder endpoints, string path, string apiPrefix)
    {
        var files = Types.Keys.ToFrozenDictionary(name => name, name => Load(name, apiPrefix));
        // One route matches both "/ui" and "/ui/"; the page's relative links need the slash.
        endpoints.MapGet(path, context =>
        {
            if (context.Request.Path.Value?.EndsWith('/') != true)
            {
                context.Response.Redirect(context.Request.PathBase + path + "/");
                return Task.CompletedTask;
            }

            return WriteAsync(context, "index.html", files["index.html"]);
        });
        foreach (var name in new[] { "app.js", "app.css" })
        {
            endpoints.MapGet(path + "/" + name, context => WriteAsync(context, name, files[name]));
        }
    }

    private static async Task WriteAsync(HttpContext context, string name, byte[] body)
    {
        var headers = context.Response.Headers;
        headers.ContentType = Types[name];
        headers.CacheControl = "no-cache";
        headers.XContentTypeOptions = "nosniff";
        headers.ContentSecurityPolicy = Policy;
        headers["Referrer-Policy"] = "no-referrer";
        context.Response.ContentLength = body.Length;
        await context.Response.Body.WriteAsync(body, context.RequestAborted).ConfigureAwait(false);
    }

    private static byte[] Load(string name, string apiPrefix)
    {
        using var stream = typeof(PageEndpoints).Assembly.GetManifestResourceStream("DataMesh.Server.Page." + name)
            ?? throw new InvalidOperationException($"The page's resource '{name}' is missing from {typeof(PageEndpoints).Assembly.GetName().Name}.");
        using var reader = new StreamReader(stream, Encoding.UTF8);
        var text = reader.ReadToEnd();
        return Encoding.UTF8.GetBytes(name == "index.html" ? text.Replace("{{API}}", System.Net.WebUtility.HtmlEncode(apiPrefix), StringComparison.Ordinal) : text);
    }
}
