using System.Net;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace DataMesh;

/// <summary>
/// Registers and maps the agent that runs beside a Cassandra node and serves its <c>cdc_raw</c> to a DataMesh Cassandra
/// source over HTTPS, after Apache Cassandra Sidecar (through which cassandra-analytics' CDC reads the replicas' commit
/// logs): the source reads every replica's segments through their agents and publishes each write once, with no shared
/// volume. <c>GET cdc/segments</c> lists the segments with the text of their <c>_cdc.idx</c>; <c>GET cdc/segments/{name}</c>
/// sends a segment's bytes (byte ranges honoured); <c>DELETE cdc/segments/{name}</c> deletes a completed segment and its
/// index. Every request needs the bearer token; a request over plain HTTP from another machine is refused.
/// </summary>
public static class CassandraCdcAgentExtensions
{
    /// <summary>Adds the agent's services with its options (checked when the host starts).</summary>
    /// <param name="services">The services.</param>
    /// <param name="configure">Sets the options.</param>
    /// <returns>The services, for chaining.</returns>
    public static IServiceCollection AddCassandraCdcAgent(this IServiceCollection services, Action<CassandraCdcAgentOptions> configure)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(configure);
        services.AddOptions<CassandraCdcAgentOptions>().Configure(configure).ValidateOnStart();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<CassandraCdcAgentOptions>, CassandraCdcAgentOptionsValidator>());
        services.TryAddSingleton<CassandraCdcAgent>();
        return services;
    }

    /// <summary>Adds the agent's services with options bound from <paramref name="configuration"/> (usually
    /// <see cref="CassandraCdcAgentOptions.SectionName"/>).</summary>
    /// <param name="services">The services.</param>
    /// <param name="configuration">The section to bind.</param>
    /// <returns>The services, for chaining.</returns>
    public static IServiceCollection AddCassandraCdcAgent(this IServiceCollection services, IConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(configuration);
        return services.AddCassandraCdcAgent(configuration.Bind);
    }

    /// <summary>Maps the agent's endpoints under <c>cdc/</c>. Call <see cref="AddCassandraCdcAgent(IServiceCollection, Action{CassandraCdcAgentOptions})"/> first.</summary>
    /// <param name="endpoints">The application's endpoints.</param>
    /// <returns>A builder for conventions applied to the agent's endpoints.</returns>
    /// <exception cref="InvalidOperationException"><c>AddCassandraCdcAgent</c> was not called.</exception>
    public static IEndpointConventionBuilder MapCassandraCdcAgent(this IEndpointRouteBuilder endpoints)
    {
        ArgumentNullException.ThrowIfNull(endpoints);
        var agent = endpoints.ServiceProvider.GetService<CassandraCdcAgent>()
            ?? throw new InvalidOperationException("MapCassandraCdcAgent() needs the services of AddCassandraCdcAgent(): call services.AddCassandraCdcAgent(...) when building the host.");
        var group = endpoints.MapGroup("cdc").WithGroupName("DataMesh.CassandraAgent");
        group.AddEndpointFilter((context, next) => agent.Admit(context.HttpContext) is { } refused ? ValueTask.FromResult<object?>(refused) : next(context));
        group.MapGet("segments", agent.List);
        group.MapGet("segments/{name}", agent.Get);
        group.MapDelete("segments/{name}", agent.Delete);
        agent.LogMapped();
        return group;
    }
}

/// <summary>The agent's request handling over one <c>cdc_raw</c> directory.</summary>
internal sealed partial class CassandraCdcAgent(IOptions<CassandraCdcAgentOptions> options, ILogger<CassandraCdcAgent> logger)
{
    private readonly CassandraCdcAgentOptions _options = options.Value;
    private readonly byte[] _tokenHash = SHA256.HashData(Encoding.UTF8.GetBytes(options.Value.Token?.Trim() ?? string.Empty));

    /// <summary>The file name of a commit-log segment, the only files served: <c>CommitLog-&lt;version&gt;-&lt;id&gt;.log</c>.</summary>
    [GeneratedRegex(@"^CommitLog-[0-9]{1,9}-[0-9]{1,19}\.log\z", RegexOptions.CultureInvariant)]
    private static partial Regex SegmentName();

    public void LogMapped() => AgentLog.Mapped(logger, Path.GetFullPath(_options.CdcRawDirectory), _options.AllowDelete);

    /// <summary>Null when the request may go on; else the answer that refuses it.</summary>
    public IResult? Admit(HttpContext context)
    {
        var remote = context.Connection.RemoteIpAddress;
        if (!context.Request.IsHttps && !(remote is not null && IPAddress.IsLoopback(remote)))
        {
            AgentLog.PlainHttp(logger, remote?.ToString() ?? "?");
            return Results.Text("This agent answers over HTTPS only: its answers hold commit-log data and its requests a token.", statusCode: StatusCodes.Status403Forbidden);
        }

        var header = context.Request.Headers.Authorization.ToString();
        var given = header.StartsWith("Bearer ", StringComparison.Ordinal) ? header["Bearer ".Length..].Trim() : string.Empty;
        if (!CryptographicOperations.FixedTimeEquals(SHA256.HashData(Encoding.UTF8.GetBytes(given)), _tokenHash) || given.Length == 0)
        {
            AgentLog.Refused(logger, context.Request.Method, context.Request.Path.Value ?? string.Empty, remote?.ToString() ?? "?", given.Length == 0 ? "no bearer token" : "a wrong token");
            context.Response.Headers.WWWAuthenticate = "Bearer";
            return Results.Text("The bearer token is missing or wrong: give the one this agent was started with (the source's Agent:Token).", statusCode: StatusCodes.Status401Unauthorized);
        }

        return null;
    }

    public IResult List()
    {
        var segments = new List<object>();
        foreach (var path in Directory.EnumerateFiles(_options.CdcRawDirectory, "CommitLog-*.log"))
        {
            var name = Path.GetFileName(path);
            if (SegmentName().IsMatch(name))
            {
                // The length lets a source wait until a Cassandra 3.x segment stops growing: 3.x moves a segment into
                // cdc_raw with Files.move, a copy when cdc_raw is on another file system.
                var file = new FileInfo(path);
                if (file.Exists)
                {
                    segments.Add(new { name, index = ReadIndex(path), length = file.Length });
                }
            }
        }

        return Results.Json(new { segments, allowDelete = _options.AllowDelete }, JsonSerializerOptions.Web);
    }

    public IResult Get(string name)
    {
        if (!SegmentName().IsMatch(name) || !File.Exists(Path.Combine(_options.CdcRawDirectory, name)))
        {
            return Results.Text($"No segment '{name}' in cdc_raw.", statusCode: StatusCodes.Status404NotFound);
        }

        return Results.File(Path.GetFullPath(Path.Combine(_options.CdcRawDirectory, name)), "application/octet-stream", enableRangeProcessing: true);
    }

    public IResult Delete(string name)
    {
        if (!_options.AllowDelete)
        {
            AgentLog.DeleteRefused(logger, name);
            return Results.Text("This agent keeps its segments (AllowDelete is false): set the source's KeepSegments.", statusCode: StatusCodes.Status403Forbidden);
        }

        var path = Path.Combine(_options.CdcRawDirectory, name);
        if (!SegmentName().IsMatch(name) || !File.Exists(path))
        {
            return Results.Text($"No segment '{name}' in cdc_raw.", statusCode: StatusCodes.Status404NotFound);
        }

        // Never a segment the node may still write to: one of 4.0+ is done once its index says COMPLETED; one of 3.x
        // (version 6, no index) is moved to cdc_raw only when finished.
        var index = ReadIndex(path);
        var version6 = name.StartsWith("CommitLog-6-", StringComparison.Ordinal);
        if (!(index is null ? version6 : index.Split('\n', StringSplitOptions.TrimEntries) is [_, "COMPLETED", ..]))
        {
            return Results.Text($"Segment '{name}' is not completed (its _cdc.idx does not say COMPLETED): the node may still write to it.", statusCode: StatusCodes.Status409Conflict);
        }

        File.Delete(path);
        File.Delete(IndexPath(path));
        AgentLog.Deleted(logger, name);
        return Results.NoContent();
    }

    private static string IndexPath(string segmentPath) => Path.ChangeExtension(segmentPath, null) + "_cdc.idx";

    private static string? ReadIndex(string segmentPath)
    {
        try
        {
            using var stream = new FileStream(IndexPath(segmentPath), FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
            using var reader = new StreamReader(stream);
            return reader.ReadToEnd();
        }
        catch (FileNotFoundException)
        {
            return null;
        }
    }
}

/// <summary>Checks <see cref="CassandraCdcAgentOptions"/> at start.</summary>
internal sealed class CassandraCdcAgentOptionsValidator : IValidateOptions<CassandraCdcAgentOptions>
{
    public ValidateOptionsResult Validate(string? name, CassandraCdcAgentOptions options)
    {
        const string Section = CassandraCdcAgentOptions.SectionName + ":";
        var failures = new List<string>();
        if (string.IsNullOrWhiteSpace(options.CdcRawDirectory))
        {
            failures.Add($"{Section}CdcRawDirectory is required: the node's cdc_raw directory (cdc_raw_directory in cassandra.yaml).");
        }
        else if (!Directory.Exists(options.CdcRawDirectory))
        {
            failures.Add($"{Section}CdcRawDirectory '{options.CdcRawDirectory}' does not exist: give the node's cdc_raw directory, with cdc_enabled: true in cassandra.yaml.");
        }

        if (string.IsNullOrWhiteSpace(options.Token) || options.Token.Trim().Length < 16)
        {
            failures.Add($"{Section}Token is required, at least 16 characters (e.g. openssl rand -hex 24): every request must carry it (its text is not shown here).");
        }

        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }
}

/// <summary>Log messages of the Cassandra agent (event ids 8040-8049). Never a token.</summary>
internal static partial class AgentLog
{
    [LoggerMessage(EventId = 8040, Level = LogLevel.Information, Message = "Cassandra agent serving cdc_raw '{Directory}' at cdc/ (deletion of completed segments {Delete})")]
    private static partial void MappedCore(ILogger logger, string directory, string delete);

    public static void Mapped(ILogger logger, string directory, bool delete) => MappedCore(logger, directory, delete ? "allowed" : "refused");

    [LoggerMessage(EventId = 8041, Level = LogLevel.Warning, Message = "Cassandra agent: {Method} {Path} from {Remote} refused: {Reason}")]
    public static partial void Refused(ILogger logger, string method, string path, string remote, string reason);

    [LoggerMessage(EventId = 8042, Level = LogLevel.Warning, Message = "Cassandra agent: a plain-HTTP request from {Remote} refused (HTTPS only, except from this machine)")]
    public static partial void PlainHttp(ILogger logger, string remote);

    [LoggerMessage(EventId = 8043, Level = LogLevel.Information, Message = "Cassandra agent: segment {Segment} and its index deleted (acknowledged by the source)")]
    public static partial void Deleted(ILogger logger, string segment);

    [LoggerMessage(EventId = 8044, Level = LogLevel.Warning, Message = "Cassandra agent: the deletion of segment {Segment} refused: AllowDelete is false (the source should set KeepSegments)")]
    public static partial void DeleteRefused(ILogger logger, string segment);
}
