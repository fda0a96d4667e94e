using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using DataMesh.Hosting;
using DataMesh.Schemas;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

namespace DataMesh.Server.Controller;

/// <summary>
/// The handlers of the controller's HTTP API over one <see cref="DataMeshController"/> on the host's cluster. Bodies are
/// JSON in snake_case, as <c>datamesh status --json</c> prints; a definition is sent as the request body, as written in its
/// file (YAML or JSON). Errors are <c>{"error": "...", "problems": [...]}</c>: 400 a definition with problems (each
/// <c>{path, reason, line, column}</c>, the CLI's messages), 401 no or a wrong token or client certificate, 404 an unknown component or nothing
/// applied, 413 a body over the limit, 500 anything else.
/// </summary>
/// <remarks>
/// Thread-safe: one instance serves every request. Changes (apply, delete, pause, resume, snapshot) are made one at a
/// time; status answers from a result at most <see cref="StatusReuse"/> old, so that many pages polling cost one read.
/// No response holds a secret: the controller keeps references only (<c>${env:NAME}</c>), refuses a definition with a
/// secret written in it, and the message of an unexpected exception is logged, not answered.
/// </remarks>
internal sealed class ControllerApi : IDisposable
{
    /// <summary>How long a status is answered again before it is read anew.</summary>
    public static readonly TimeSpan StatusReuse = TimeSpan.FromMilliseconds(750);

    internal static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web)
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,

        // Served as application/json only (never inside HTML), so quotes and '<' need no escaping.
        Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
        Converters = { new JsonStringEnumConverter(JsonNamingPolicy.SnakeCaseLower) },
    };

    private readonly IServiceProvider _services;
    private readonly ControllerApiOptions _options;
    private readonly ControllerAuthorization _authorization;
    private readonly ILogger _logger;
    private readonly Lazy<DataMeshController> _controller;
    private readonly SemaphoreSlim _changes = new(1, 1);
    private readonly Lock _statusLock = new();
    private (Task<DataMeshStatus> Task, long At)? _status;

    public ControllerApi(IServiceProvider services, IOptions<DataMeshServerOptions> options, ILogger<ControllerApi>? logger = null)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(options);
        _services = services;
        _options = options.Value.Controller;
        _logger = logger ?? (ILogger)NullLogger.Instance;
        _authorization = new ControllerAuthorization(_options.BearerToken, ClientCertificateTrust.Create(_options.ClientCertificates));
        _controller = new(() => new DataMeshController(
            services.GetRequiredService<KafkaConnection>(), services.GetRequiredService<ISchemaStore>(), _options.Settings));
    }

    /// <summary>Whether the host has what the controller needs (a <see cref="KafkaConnection"/>, from <c>AddDataMesh()</c>).</summary>
    public bool CanMap => _services.GetService<KafkaConnection>() is not null;

    public ControllerApiOptions Options => _options;

    public ILogger Logger => _logger;

    public ControllerAuthorization Authorization => _authorization;

    /// <summary><c>GET /status</c>: the applied definition's components, as <see cref="DataMeshStatus"/>.</summary>
    public Task GetStatusAsync(HttpContext context) => RunAsync(context, async ct =>
        await WriteAsync(context, 200, await StatusAsync(ct).ConfigureAwait(false), ct).ConfigureAwait(false));

    /// <summary><c>GET /sources</c>, <c>GET /pipelines</c>: the components of one kind (<c>source</c> or <c>pipeline</c>).</summary>
    public Task ListAsync(HttpContext context, string kind) => RunAsync(context, async ct =>
    {
        var status = await StatusAsync(ct).ConfigureAwait(false);
        await WriteAsync(context, 200, status.Components.Where(c => c.Component.StartsWith(kind + "/", StringComparison.Ordinal)).ToList(), ct).ConfigureAwait(false);
    });

    /// <summary><c>GET /sources/{name}</c>, <c>GET /pipelines/{name}</c>: one component, 404 when it is not applied.</summary>
    public Task GetComponentAsync(HttpContext context, string kind) => RunAsync(context, async ct =>
    {
        var component = Component(context, kind);
        var status = await StatusAsync(ct).ConfigureAwait(false);
        if (status.Components.FirstOrDefault(c => c.Component == component) is not { } found)
        {
            await WriteErrorAsync(context, 404, NotApplied(component, status), ct).ConfigureAwait(false);
            return;
        }

        await WriteAsync(context, 200, found, ct).ConfigureAwait(false);
    });

    /// <summary><c>GET /definition</c>: <c>{generation, applied_at, text}</c> of the applied definition, 404 when none is.</summary>
    public Task GetDefinitionAsync(HttpContext context) => RunAsync(context, async ct =>
    {
        var applied = await _controller.Value.GetAppliedDefinitionAsync(ct).ConfigureAwait(false);
        if (applied is null)
        {
            await WriteErrorAsync(context, 404, "Nothing is applied: apply a definition first.", ct).ConfigureAwait(false);
            return;
        }

        await WriteAsync(context, 200, applied, ct).ConfigureAwait(false);
    });

    /// <summary><c>POST /validate</c>: 200 with <c>{valid, problems, sources, pipelines}</c>, whether the definition is valid or not.</summary>
    public Task ValidateAsync(HttpContext context) => RunAsync(context, async ct =>
    {
        if (await ReadDefinitionAsync(context, ct).ConfigureAwait(false) is not { } text)
        {
            return;
        }

        var options = new DefinitionValidationOptions { Configuration = _options.Settings.Configuration };
        foreach (var type in _options.Settings.SourceTypes)
        {
            options.SourceTypes.Add(type);
        }

        foreach (var type in _options.Settings.SinkTypes)
        {
            options.SinkTypes.Add(type);
        }

        var validation = await DefinitionFile.ValidateAsync(text, options, ct).ConfigureAwait(false);
        await WriteAsync(context, 200, new ValidationBody(
            validation.IsValid, validation.Problems, validation.Definition?.Sources.Count ?? 0, validation.Definition?.Pipelines.Count ?? 0), ct).ConfigureAwait(false);
    });

    /// <summary><c>POST /plan</c>: what applying the definition would change, changing nothing.</summary>
    public Task PlanAsync(HttpContext context) => RunAsync(context, async ct =>
    {
        if (await ReadDefinitionAsync(context, ct).ConfigureAwait(false) is { } text)
        {
            var plan = await _controller.Value.PlanAsync(text, ct).ConfigureAwait(false);
            await WriteAsync(context, 200, PlanBody.Of(plan, applied: false), ct).ConfigureAwait(false);
        }
    });

    /// <summary><c>POST /apply</c>: applies the definition; answers the plan applied.</summary>
    public Task ApplyAsync(HttpContext context) => RunAsync(context, async ct =>
    {
        if (await ReadDefinitionAsync(context, ct).ConfigureAwait(false) is { } text)
        {
            var plan = await ChangeAsync(() => _controller.Value.ApplyAsync(text, null, ct), ct).ConfigureAwait(false);
            ServerLog.ControllerChanged(_logger, "apply", string.Create(CultureInfo.InvariantCulture, $"generation {plan.Generation}"));
            await WriteAsync(context, 200, PlanBody.Of(plan, applied: true), ct).ConfigureAwait(false);
        }
    });

    /// <summary><c>DELETE /definition[?with_resources=true]</c>: deletes the applied definition (and its resources).</summary>
    public Task DeleteAsync(HttpContext context) => RunAsync(context, async ct =>
    {
        var parameter = context.Request.Query["with_resources"].ToString();
        if (parameter is not ("" or "true" or "1" or "false" or "0"))
        {
            await WriteErrorAsync(context, 400, $"with_resources must be true or false (or 1 or 0), not '{parameter}'; nothing was deleted.", ct).ConfigureAwait(false);
            return;
        }

        var withResources = parameter is "true" or "1";
        var result = await ChangeAsync<DataMeshPlan?>(async () =>
        {
            var applied = await _controller.Value.GetAppliedDefinitionAsync(ct).ConfigureAwait(false);
            return applied is null ? null : await _controller.Value.DeleteAsync(applied.Text, withResources, ct).ConfigureAwait(false);
        }, ct).ConfigureAwait(false);
        if (result is null)
        {
            await WriteErrorAsync(context, 404, "Nothing is applied: there is nothing to delete.", ct).ConfigureAwait(false);
            return;
        }

        ServerLog.ControllerChanged(_logger, withResources ? "delete with resources" : "delete", string.Create(CultureInfo.InvariantCulture, $"generation {result.Generation}"));
        await WriteAsync(context, 200, PlanBody.Of(result, applied: true), ct).ConfigureAwait(false);
    });

    /// <summary><c>POST /sources/{name}/pause</c>, <c>POST /pipelines/{name}/pause</c>.</summary>
    public Task PauseAsync(HttpContext context, string kind) => ComponentChangeAsync(context, kind, "pause", (c, ct) => _controller.Value.PauseAsync([c], ct));

    /// <summary><c>POST /sources/{name}/resume</c>, <c>POST /pipelines/{name}/resume</c>: also restarts a failed component.</summary>
    public Task ResumeAsync(HttpContext context, string kind) => ComponentChangeAsync(context, kind, "resume", (c, ct) => _controller.Value.ResumeAsync([c], ct));

    /// <summary><c>POST /sources/{name}/snapshot</c>, with an optional body <c>{"tables": ["schema.table"], "condition": "SQL"}</c>.</summary>
    public Task SnapshotAsync(HttpContext context) => RunAsync(context, async ct =>
    {
        SnapshotRequestBody? request = null;
        if (context.Request.ContentLength is > 0 || context.Request.Headers.TransferEncoding.Count > 0)
        {
            if (await ReadDefinitionAsync(context, ct).ConfigureAwait(false) is not { } text)
            {
                return;
            }

            try
            {
                request = text.Trim().Length == 0 ? null : JsonSerializer.Deserialize<SnapshotRequestBody>(text, Json);
            }
            catch (JsonException ex)
            {
                await WriteErrorAsync(context, 400, $"The body must be {{\"tables\": [\"schema.table\", ...], \"condition\": \"SQL\"}} or empty: {ex.Message}", ct).ConfigureAwait(false);
                return;
            }
        }

        var name = (string)context.Request.RouteValues["name"]!;
        await ComponentChangeAsync(context, "snapshot", "source/" + name,
            (_, c) => _controller.Value.RequestSnapshotAsync(name, request?.Tables ?? [], request?.Condition, c), ct).ConfigureAwait(false);
    });

    public void Dispose()
    {
        if (_controller.IsValueCreated)
        {
            _controller.Value.Dispose();
        }

        _changes.Dispose();
        _authorization.Dispose();
    }

    private Task ComponentChangeAsync(HttpContext context, string kind, string verb, Func<string, CancellationToken, Task> change) =>
        RunAsync(context, ct => ComponentChangeAsync(context, verb, Component(context, kind), change, ct));

    private async Task ComponentChangeAsync(HttpContext context, string verb, string component, Func<string, CancellationToken, Task> change, CancellationToken ct)
    {
        try
        {
            await ChangeAsync(async () =>
            {
                await change(component, ct).ConfigureAwait(false);
                return true;
            }, ct).ConfigureAwait(false);
        }
        catch (SnapshotRequestException ex)
        {
            // A table name the request cannot take (a pattern, no schema): the request, not the component, is wrong.
            await WriteErrorAsync(context, 400, SecretScrubber.Scrub(ex.Message), ct).ConfigureAwait(false);
            return;
        }
        catch (ArgumentException ex)
        {
            // The controller's own message: the component is not applied, with the applied ones' names.
            await WriteErrorAsync(context, 404, SecretScrubber.Scrub(ex.Message), ct).ConfigureAwait(false);
            return;
        }

        ServerLog.ControllerChanged(_logger, verb, component);
        await WriteAsync(context, 200, new ComponentChangeBody(component, verb), ct).ConfigureAwait(false);
    }

    private async Task<T> ChangeAsync<T>(Func<Task<T>> change, CancellationToken ct)
    {
        await _changes.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            return await change().ConfigureAwait(false);
        }
        finally
        {
            lock (_statusLock)
            {
                _status = null;
            }

            _changes.Release();
        }
    }

    private Task<DataMeshStatus> StatusAsync(CancellationToken ct)
    {
        lock (_statusLock)
        {
            var now = Environment.TickCount64;
            if (_status is { } cached && !cached.Task.IsFaulted && !cached.Task.IsCanceled && now - cached.At < StatusReuse.TotalMilliseconds)
            {
                return cached.Task.WaitAsync(ct);
            }

            // Not tied to one request's cancellation: other requests may wait on it.
            var task = _controller.Value.GetStatusAsync(CancellationToken.None);
            _status = (task, now);
            return task.WaitAsync(ct);
        }
    }

    private async Task RunAsync(HttpContext context, Func<CancellationToken, Task> handle)
    {
        var ct = context.RequestAborted;
        if (CrossSiteRequests.Check(context.Request, _authorization.IsLoopbackOnly) is { } crossSite)
        {
            ServerLog.ControllerRefused(_logger, context.Request.Method, Route(context), crossSite);
            await WriteErrorAsync(context, 403, crossSite, ct).ConfigureAwait(false);
            return;
        }

        if (await _authorization.CheckAsync(context).ConfigureAwait(false) is { } refusal)
        {
            if (refusal.Certificate is { } certificate)
            {
                ServerLog.ControllerCertificateRefused(_logger, context.Request.Method, Route(context), certificate.Subject, ClientCertificateTrust.Thumbprint(certificate), refusal.Reason);
            }
            else
            {
                ServerLog.ControllerRefused(_logger, context.Request.Method, Route(context), refusal.Reason);
            }

            // A client certificate has no HTTP authentication scheme: the challenge names the token's, when there is one to give.
            if (_authorization.HasToken || _authorization.IsLoopbackOnly)
            {
                context.Response.Headers.WWWAuthenticate = "Bearer";
            }

            await WriteErrorAsync(context, 401, refusal.Reason, ct).ConfigureAwait(false);
            return;
        }

        try
        {
            await handle(ct).ConfigureAwait(false);
        }
        catch (DefinitionInvalidException ex)
        {
            await WriteAsync(context, 400, new ErrorBody(ex.Problems.Count == 0 ? SecretScrubber.Scrub(ex.Message) : Problems(ex.Problems.Count), ex.Problems), ct).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
            // The client went away.
        }
        catch (Exception ex) when (!context.Response.HasStarted)
        {
            // Never the exception's message: a driver's may repeat a connection string. The log has it.
            ServerLog.ControllerFailed(_logger, context.Request.Method, Route(context), ex);
            await WriteErrorAsync(context, 500, $"The controller failed ({ex.GetType().Name}); the server's log says why.", ct).ConfigureAwait(false);
        }
    }

    private async Task<string?> ReadDefinitionAsync(HttpContext context, CancellationToken ct)
    {
        var limit = _options.MaxRequestBytes;
        if (context.Request.ContentLength > limit)
        {
            await WriteErrorAsync(context, 413, string.Create(CultureInfo.InvariantCulture, $"The body is larger than {limit} bytes (DataMesh:Server:Controller:MaxRequestBytes)."), ct).ConfigureAwait(false);
            return null;
        }

        using var buffer = new MemoryStream();
        var chunk = new byte[16 * 1024];
        int read;
        while ((read = await context.Request.Body.ReadAsync(chunk, ct).ConfigureAwait(false)) > 0)
        {
            if (buffer.Length + read > limit)
            {
                await WriteErrorAsync(context, 413, string.Create(CultureInfo.InvariantCulture, $"The body is larger than {limit} bytes (DataMesh:Server:Controller:MaxRequestBytes)."), ct).ConfigureAwait(false);
                return null;
            }

            buffer.Write(chunk, 0, read);
        }

        return Encoding.UTF8.GetString(buffer.GetBuffer(), 0, (int)buffer.Length);
    }

    private static string Component(HttpContext context, string kind) => kind + "/" + (string)context.Request.RouteValues["name"]!;

    private static string Route(HttpContext context) => (context.GetEndpoint() as Microsoft.AspNetCore.Routing.RouteEndpoint)?.RoutePattern.RawText ?? context.Request.Path;

    private static string NotApplied(string component, DataMeshStatus status) => status.Generation == 0
        ? $"'{component}' is not applied: nothing is (apply a definition first)."
        : $"'{component}' is not in the applied definition (its components: {string.Join(", ", status.Components.Select(c => c.Component))}).";

    private static string Problems(int count) => string.Create(CultureInfo.InvariantCulture, $"The definition has {count} problem{(count == 1 ? string.Empty : "s")}.");

    private static Task WriteErrorAsync(HttpContext context, int status, string message, CancellationToken ct) =>
        WriteAsync(context, status, new ErrorBody(message, []), ct);

    private static async Task WriteAsync<T>(HttpContext context, int status, T body, CancellationToken ct)
    {
        context.Response.StatusCode = status;
        context.Response.ContentType = "application/json; charset=utf-8";
        context.Response.Headers.CacheControl = "no-store";
        await JsonSerializer.SerializeAsync(context.Response.Body, body, Json, ct).ConfigureAwait(false);
    }

    private sealed record ValidationBody(bool Valid, IReadOnlyList<DefinitionProblem> Problems, int Sources, int Pipelines);

    private sealed record ErrorBody(string Error, IReadOnlyList<DefinitionProblem> Problems);

    private sealed record ComponentChangeBody(string Component, string Requested);

    /// <summary>Any other field is refused: a misspelt "tables" would otherwise snapshot every table.</summary>
    [JsonUnmappedMemberHandling(JsonUnmappedMemberHandling.Disallow)]
    private sealed record SnapshotRequestBody(List<string>? Tables, string? Condition);

    private sealed record PlanChangeBody(PlanAction Action, string Kind, string Name, string Detail, string Line);

    private sealed record PlanBody(long Generation, bool HasChanges, bool Applied, IReadOnlyList<PlanChangeBody> Changes, IReadOnlyList<string> Notes, string Text)
    {
        public static PlanBody Of(DataMeshPlan plan, bool applied) => new(
            plan.Generation, plan.HasChanges, applied,
            [.. plan.Changes.Select(c => new PlanChangeBody(c.Action, c.Kind, c.Name, c.Detail, c.ToString()))], plan.Notes, plan.ToString());
    }
}
