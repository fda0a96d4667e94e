using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.AspNetCore.Routing.Template;

namespace DataMesh.Server.SchemaRegistry;

/// <summary>The routes of the Schema Registry API, as Confluent's REST API names them.</summary>
internal static class SchemaRegistryEndpoints
{
    /// <summary>The first segments of the API's paths: with no path prefix, the paths under them are the API's.</summary>
    private static readonly string[] Roots = ["schemas", "subjects", "compatibility", "config", "mode", "associations"];

    /// <summary>
    /// Maps the API's routes in <paramref name="group"/>, and after them a fallback that answers the API's other paths as
    /// Confluent's registry does (Jersey's NotFoundException and NotAllowedException through rest-utils'
    /// WebApplicationExceptionMapper): <c>{"error_code":404,"message":"HTTP 404 Not Found"}</c>, and 405 likewise for a
    /// path of the API asked with another method (with <c>Allow</c>). The API's paths are every path under
    /// <paramref name="prefix"/>, or with no prefix those under the API's own first segments (<see cref="Roots"/>): the
    /// host's other paths are left to the host.
    /// </summary>
    public static void Map(RouteGroupBuilder group, string prefix, SchemaRegistryApi api)
    {
        var routes = new RouteTable();
        routes.Add(HttpMethods.Get, "/schemas/ids/{id}", api.GetSchemaByIdAsync);
        routes.Add(HttpMethods.Get, "/schemas/ids/{id}/schema", api.GetRawSchemaByIdAsync);
        routes.Add(HttpMethods.Get, "/schemas/ids/{id}/versions", api.GetVersionsOfIdAsync);
        routes.Add(HttpMethods.Get, "/schemas/ids/{id}/subjects", api.GetSubjectsOfIdAsync);
        routes.Add(HttpMethods.Get, "/schemas/types", api.GetSchemaTypesAsync);
        routes.Add(HttpMethods.Get, "/associations/resources/{**resource}", api.GetAssociationsAsync);
        routes.Add(HttpMethods.Get, "/subjects", api.GetSubjectsAsync);
        routes.Add(HttpMethods.Post, "/subjects/{subject}", api.LookUpAsync);
        routes.Add(HttpMethods.Delete, "/subjects/{subject}", api.DeleteSubjectAsync);
        routes.Add(HttpMethods.Get, "/subjects/{subject}/versions", api.GetVersionNumbersAsync);
        routes.Add(HttpMethods.Post, "/subjects/{subject}/versions", api.RegisterAsync);
        routes.Add(HttpMethods.Get, "/subjects/{subject}/versions/{version}", api.GetVersionAsync);
        routes.Add(HttpMethods.Get, "/subjects/{subject}/versions/{version}/schema", api.GetRawVersionAsync);
        routes.Add(HttpMethods.Get, "/subjects/{subject}/versions/{version}/referencedby", api.GetReferencedByAsync);
        routes.Add(HttpMethods.Delete, "/subjects/{subject}/versions/{version}", api.DeleteVersionAsync);
        routes.Add(HttpMethods.Post, "/compatibility/subjects/{subject}/versions/{version}", api.CheckCompatibilityAsync);
        routes.Add(HttpMethods.Post, "/compatibility/subjects/{subject}/versions", api.CheckCompatibilityWithAllAsync);
        routes.Add(HttpMethods.Get, "/config", api.GetConfigAsync);
        routes.Add(HttpMethods.Put, "/config", api.SetConfigAsync);
        routes.Add(HttpMethods.Get, "/config/{subject}", api.GetConfigAsync);
        routes.Add(HttpMethods.Put, "/config/{subject}", api.SetConfigAsync);
        routes.Add(HttpMethods.Get, "/mode", api.GetModeAsync);
        routes.Add(HttpMethods.Get, "/mode/{subject}", api.GetModeAsync);
        routes.Add(HttpMethods.Put, "/mode", api.SetModeAsync);
        routes.Add(HttpMethods.Put, "/mode/{subject}", api.SetModeAsync);
        routes.Add(HttpMethods.Delete, "/config", api.DeleteConfigAsync);
        routes.Add(HttpMethods.Delete, "/config/{subject}", api.DeleteConfigAsync);

        foreach (var (method, template, handler) in routes.Routes)
        {
            group.MapMethods(template, [method], handler);
        }

        foreach (var root in string.IsNullOrEmpty(prefix) ? Roots.Select(r => "/" + r) : [string.Empty])
        {
            // The path within the API comes from the route's own values, not from the request's path: the host may have
            // mapped DataMesh inside a group of its own (app.MapGroup("/api").MapDataMesh()), whose prefix the request's
            // path has too.
            RequestDelegate unknown = context =>
            {
                var methods = routes.MethodsOf(context.Request.RouteValues["rest"] is { } rest ? root + "/" + rest : root);
                if (methods.Count == 0 && OtherMethodsOf(context) is { Count: > 0 } others)
                {
                    // A route of the host's, or of DataMesh's controller API when it shares the prefix, asked with another
                    // method: ASP.NET Core's own 405, as without the API's fallback.
                    context.Response.StatusCode = StatusCodes.Status405MethodNotAllowed;
                    context.Response.Headers.Allow = string.Join(", ", others);
                    return Task.CompletedTask;
                }

                return api.AnswerUnknownAsync(context, methods);
            };
            foreach (var pattern in new[] { root.Length == 0 ? "/" : root, root + "/{**rest}" })
            {
                // After every route of the API and of the host: only a path nothing else takes, or a method no route of the
                // path takes, comes here (ASP.NET Core's own 405 would have an empty body).
                group.Map(pattern, unknown).WithOrder(int.MaxValue);
            }
        }
    }

    /// <summary>
    /// The methods of the application's other routes (not the API's, not a fallback) whose pattern takes the request's path,
    /// in order; asked only for a path of the API's fallback that no route of the API takes.
    /// </summary>
    private static List<string> OtherMethodsOf(HttpContext context)
    {
        var methods = new List<string>();
        if (context.RequestServices.GetService(typeof(EndpointDataSource)) is not EndpointDataSource endpoints)
        {
            return methods;
        }

        foreach (var endpoint in endpoints.Endpoints)
        {
            if (endpoint is RouteEndpoint route
                && endpoint.Metadata.GetMetadata<IHttpMethodMetadata>() is { HttpMethods.Count: > 0 } accepted
                && new TemplateMatcher(new RouteTemplate(route.RoutePattern), new RouteValueDictionary(route.RoutePattern.Defaults)).TryMatch(context.Request.Path, []))
            {
                methods.AddRange(accepted.HttpMethods.Where(m => !methods.Contains(m, StringComparer.OrdinalIgnoreCase)));
            }
        }

        return methods;
    }

    /// <summary>The API's routes, and which methods a path has among them.</summary>
    private sealed class RouteTable
    {
        private readonly List<(string Method, TemplateMatcher Matcher)> _matchers = [];

        public List<(string Method, string Template, RequestDelegate Handler)> Routes { get; } = [];

        public void Add(string method, string template, Func<HttpContext, Task> handler)
        {
            Routes.Add((method, template, new RequestDelegate(handler)));
            _matchers.Add((method, new TemplateMatcher(TemplateParser.Parse(template.TrimStart('/')), [])));
        }

        /// <summary>The methods of the routes that match <paramref name="path"/> (within the API: without its prefix), in order.</summary>
        public IReadOnlyList<string> MethodsOf(string path)
        {
            var local = new PathString(path.Length == 0 ? "/" : path);
            var methods = new List<string>();
            foreach (var (method, matcher) in _matchers)
            {
                if (!methods.Contains(method) && matcher.TryMatch(local, []))
                {
                    methods.Add(method);
                }
            }

            return methods;
        }
    }
}
