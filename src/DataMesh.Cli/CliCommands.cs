using System.Globalization;
using System.Reflection;
using System.Text.Json;
using DataMesh.Hosting;
using DataMesh.Schemas;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.AspNetCore.Server.Kestrel.Https;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace DataMesh.Cli;

/// <summary>
/// The <c>datamesh</c> tool's commands. Exit codes, for scripts and CI: 0 the command succeeded; 2 the definition has
/// problems (one line each on standard output, <c>FILE:line:column: path: reason</c>); 1 the cluster, the schema
/// registry or the operation failed (one line on standard error); 64 bad usage or a file that cannot be read (the usage
/// on standard error). See <c>docs/definitions.md</c>.
/// </summary>
internal static class CliCommands
{
    public const int Ok = 0;
    public const int Failed = 1;
    public const int Invalid = 2;
    public const int Usage = 64;

    private static readonly string[] Commands = ["validate", "plan", "apply", "status", "pause", "resume", "snapshot", "delete", "run"];

    private const string UsageText = """
        usage: datamesh COMMAND FILE [OPTIONS]       (datamesh --version: the tool's version)

          validate FILE [--schema-registry URL]
                          check a definition file (YAML or JSON); exit 0 when it is valid, 2 with one line per problem
                          (FILE:line:column: path: reason); with a Confluent-compatible schema registry, also check the
                          pipelines' tables, columns and filters against the registered schemas (exit 1 if it cannot be read)
          plan FILE       show what apply would create, update, restart and stop; changes nothing
          apply FILE      create and update what the plan lists, then record the definition: runners start what is new,
                          restart only what changed and stop what is gone
          status [FILE] [--json]
                          the applied definition's sources and pipelines: state on each runner, last error, snapshot
                          progress, pipeline lag (FILE is not needed: status reads what is applied)
          pause FILE [--only COMPONENT,...]     stop the file's sources and pipelines (positions and offsets kept)
          resume FILE [--only COMPONENT,...]    start them again; also restarts failed ones
          snapshot FILE [--source NAME] [--tables T,...] [--condition SQL]
                          capture the current rows of the sources' tables (interleaved with the log, after DBLog)
          delete FILE [--with-resources]        stop everything the file declares; with --with-resources also delete
                          its topics, consumer groups and stored positions
          run FILE [--http ADDRESS]
                          host everything the file declares: apply it, then run its sources and pipelines, following
                          later applies, until Ctrl-C. Each start applies FILE again: a supervisor that restarts a run
                          re-applies that file, undoing later applies of another. Runs share the work only on one
                          cluster (the same --kafka; without it each starts its own embedded one). With --http
                          (e.g. 127.0.0.1:8080), also serve the Schema Registry API, the controller's API (/api) and
                          its web page (/ui/) at that address; without a bearer token
                          (DataMesh:Server:Controller:BearerToken) or client certificates
                          (DataMesh:Server:Controller:ClientCertificates:CaPaths) the API answers only requests over
                          loopback. https://HOST:PORT serves TLS with Kestrel:Certificates:Default:Path (and KeyPath)

        Every command but validate takes --kafka HOST:PORT (or DataMesh:Kafka:BootstrapServers in appsettings.json);
        run without it starts the embedded cluster and prints its address for the other commands. Components are
        source/NAME or pipeline/NAME. --schema-registry URL keeps schemas in a Confluent-compatible registry;
        --state-topic NAME moves the controller's state (default datamesh.controller).

        Secrets in a definition are references: ${env:NAME} (an environment variable) or ${config:Key} (a key of
        appsettings.json in the current directory, or an environment variable DATAMESH__Section__Key). The format is in
        docs/definitions.md.
        """;

    /// <summary>The tool's version: the informational version the build stamps (the package version, and the commit
    /// where the build knows it).</summary>
    private static string ToolVersion =>
        typeof(CliCommands).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion
        ?? typeof(CliCommands).Assembly.GetName().Version?.ToString() ?? "unknown";

    private static readonly HashSet<string> Flags = ["--json", "--with-resources"];
    private static readonly HashSet<string> Valued = ["--schema-registry", "--kafka", "--state-topic", "--only", "--source", "--tables", "--condition", "--http"];

    /// <summary>Runs the command in <paramref name="args"/>, writing results to <paramref name="output"/> and usage to <paramref name="error"/>.</summary>
    /// <returns>The exit code.</returns>
    public static async Task<int> RunAsync(string[] args, TextWriter output, TextWriter error, CancellationToken cancellationToken)
    {
        // "help", or -h/--help anywhere ("datamesh plan --help"): the usage, which covers every command.
        if ((args.Length > 0 && args[0] == "help") || args.Any(a => a is "-h" or "--help"))
        {
            await output.WriteLineAsync(UsageText).ConfigureAwait(false);
            return Ok;
        }

        // "version" or --version alone: the version of the tool (that of the DataMesh packages it was built with).
        if (args is ["version"] or ["--version"])
        {
            await output.WriteLineAsync($"datamesh {ToolVersion}").ConfigureAwait(false);
            return Ok;
        }

        if (Parse(args, out var problem) is not { } parsed)
        {
            return await UsageAsync(error, problem).ConfigureAwait(false);
        }

        var (command, file, options) = parsed;
        if (options.TryGetValue("--schema-registry", out var registryUrl) && !(Uri.TryCreate(registryUrl, UriKind.Absolute, out var url) && url.Scheme is "http" or "https"))
        {
            return await UsageAsync(error, "--schema-registry needs a URL such as http://localhost:8081").ConfigureAwait(false);
        }

        var allowed = command switch
        {
            "validate" => new[] { "--schema-registry" },
            "status" => ["--kafka", "--schema-registry", "--state-topic", "--json"],
            "pause" or "resume" => ["--kafka", "--schema-registry", "--state-topic", "--only"],
            "snapshot" => ["--kafka", "--schema-registry", "--state-topic", "--source", "--tables", "--condition"],
            "delete" => ["--kafka", "--schema-registry", "--state-topic", "--with-resources"],
            "run" => ["--kafka", "--schema-registry", "--state-topic", "--http"],
            _ => ["--kafka", "--schema-registry", "--state-topic"],
        };
        if (options.Keys.FirstOrDefault(o => !allowed.Contains(o)) is { } extra)
        {
            return await UsageAsync(error, $"'{command}' does not take {extra}").ConfigureAwait(false);
        }

        if (options.TryGetValue("--http", out var http))
        {
            if (HttpUrl(http) is not { } httpUrl)
            {
                return await UsageAsync(error, $"--http needs an address such as 127.0.0.1:8080, http://0.0.0.0:8080 or https://0.0.0.0:8443 (a port alone is not one); '{http}' is not one").ConfigureAwait(false);
            }

            if (httpUrl.StartsWith("https://", StringComparison.Ordinal) && Configuration(options).GetSection("Kestrel:Certificates:Default") is var certificate &&
                string.IsNullOrWhiteSpace(certificate["Path"]) && string.IsNullOrWhiteSpace(certificate["Subject"]))
            {
                return await UsageAsync(error, "--http https://... needs the server's certificate: Kestrel:Certificates:Default:Path (a PEM certificate with Kestrel:Certificates:Default:KeyPath, or a .pfx with :Password) in appsettings.json or DATAMESH__Kestrel__Certificates__Default__Path").ConfigureAwait(false);
            }

            options["--http"] = httpUrl;
        }

        string text = string.Empty;
        try
        {
            if (file is not null)
            {
                text = await File.ReadAllTextAsync(file, cancellationToken).ConfigureAwait(false);
            }
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or ArgumentException or NotSupportedException)
        {
            return await UsageAsync(error, $"cannot read '{file}': {ex.Message}").ConfigureAwait(false);
        }

        return command == "validate"
            ? await ValidateAsync(file!, text, registryUrl, output, error, cancellationToken).ConfigureAwait(false)
            : await ControlAsync(command, file, text, options, output, error, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>The command, its file (null for a status without one: it reads the applied definition) and its options;
    /// null with the problem (what is missing or not understood) else.</summary>
    private static (string Command, string? File, Dictionary<string, string> Options)? Parse(string[] args, out string problem)
    {
        problem = string.Empty;
        if (args.Length == 0 || !Commands.Contains(args[0]))
        {
            problem = args.Length == 0 ? "no command given" : $"unknown command '{args[0]}'";
            return null;
        }

        var withoutFile = args is ["status", ..] && (args.Length == 1 || args[1].StartsWith("--", StringComparison.Ordinal));
        if (!withoutFile && (args.Length < 2 || args[1].StartsWith("--", StringComparison.Ordinal)))
        {
            problem = $"'{args[0]}' needs a definition file: datamesh {args[0]} FILE [OPTIONS]";
            return null;
        }

        var options = new Dictionary<string, string>(StringComparer.Ordinal);
        for (var i = withoutFile ? 1 : 2; i < args.Length; i++)
        {
            var known = Flags.Contains(args[i]) || Valued.Contains(args[i]);
            if (known && options.ContainsKey(args[i]))
            {
                problem = $"{args[i]} is given twice";
                return null;
            }

            if (Flags.Contains(args[i]))
            {
                options[args[i]] = "true";
            }
            else if (Valued.Contains(args[i]) && i + 1 < args.Length)
            {
                options[args[i]] = args[++i];
            }
            else
            {
                problem = Valued.Contains(args[i]) ? $"{args[i]} needs a value"
                    : args[i].StartsWith('-') ? $"unknown option '{args[i]}'"
                    : $"'{args[0]}' takes one definition file; '{args[i]}' is one too many";
                return null;
            }
        }

        return (args[0], withoutFile ? null : args[1], options);
    }

    private static async Task<int> UsageAsync(TextWriter error, string problem)
    {
        await error.WriteLineAsync($"datamesh: {problem}").ConfigureAwait(false);
        await error.WriteLineAsync(UsageText).ConfigureAwait(false);
        return Usage;
    }

    private static async Task<int> ValidateAsync(string file, string text, string? registryUrl, TextWriter output, TextWriter error, CancellationToken cancellationToken)
    {
        var options = new DefinitionValidationOptions { Configuration = Configuration(null) };
        options.AddConnectorTypes();

        DefinitionValidation validation;
        using (var registry = registryUrl is null ? null : Registry(registryUrl))
        {
            options.SchemaStore = registry;
            try
            {
                validation = await DefinitionFile.ValidateAsync(text, options, cancellationToken).ConfigureAwait(false);
            }
            catch (Exception ex) when (registry is not null && ex is not OperationCanceledException)
            {
                await error.WriteLineAsync($"datamesh: the schema registry at {Redacted(registryUrl!)} could not be read ({Detail(registryUrl!, ex)}); is it running?").ConfigureAwait(false);
                return Failed;
            }
        }

        if (!validation.IsValid)
        {
            await WriteProblemsAsync(file, validation.Problems, output).ConfigureAwait(false);
            return Invalid;
        }

        var definition = validation.Definition!;
        await output.WriteLineAsync(string.Create(CultureInfo.InvariantCulture,
            $"{file}: OK ({Count(definition.Sources.Count, "source")}, {Count(definition.Pipelines.Count, "pipeline")})")).ConfigureAwait(false);
        return Ok;
    }

    private static async Task<int> ControlAsync(string command, string? file, string text, Dictionary<string, string> options, TextWriter output, TextWriter error, CancellationToken cancellationToken)
    {
        var configuration = Configuration(options);
        if (command != "run" && string.IsNullOrWhiteSpace(configuration["DataMesh:Kafka:BootstrapServers"]))
        {
            await error.WriteLineAsync($"datamesh: '{command}' needs a Kafka cluster: --kafka HOST:PORT (for the embedded cluster, the address 'datamesh run' printed)").ConfigureAwait(false);
            return Usage;
        }

        var httpUrl = options.GetValueOrDefault("--http");
        IHostApplicationBuilder builder = httpUrl is null
            ? Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { Configuration = new ConfigurationManager(), DisableDefaults = true })
            : WebApplication.CreateEmptyBuilder(new WebApplicationOptions { ContentRootPath = Directory.GetCurrentDirectory() });
        builder.Configuration.AddConfiguration(configuration);
        builder.Logging.ClearProviders();
        if (command == "run")
        {
            // ASP.NET Core's per-request lines (the page polls every 1.5 s) only from Warning; appsettings.json's
            // Logging:LogLevel (e.g. "Microsoft.AspNetCore": "Information") overrides it.
            builder.Logging.AddSimpleConsole(o => o.SingleLine = true).SetMinimumLevel(LogLevel.Information)
                .AddFilter("Microsoft.AspNetCore", LogLevel.Warning)
                .AddConfiguration(configuration.GetSection("Logging"));
        }

        var controllerOptions = new DataMeshControllerOptions { Configuration = configuration };
        if (options.TryGetValue("--state-topic", out var stateTopic))
        {
            controllerOptions.StateTopic = stateTopic;
        }

        controllerOptions.AddConnectorTypes();

        var dataMesh = builder.Services.AddDataMesh(configuration.GetSection("DataMesh"));
        if (command == "run")
        {
            dataMesh.AddDefinitionRunner(o =>
            {
                o.StateTopic = controllerOptions.StateTopic;
                o.Configuration = configuration;
                o.AddConnectorTypes();
            });
        }

        if (builder is WebApplicationBuilder web)
        {
            // The same process serves the Schema Registry API, the controller's API and its page (docs/server.md).
            // Kestrel's own settings (the "Kestrel" section: Certificates:Default for https://, EndpointDefaults, Limits ...).
            web.WebHost.UseKestrelCore().UseKestrelHttpsConfiguration()
                .ConfigureKestrel((context, kestrel) => kestrel.Configure(context.Configuration.GetSection("Kestrel")))
                .UseUrls(httpUrl!);
            web.Services.AddOptions<KestrelServerOptions>().Configure<IOptions<DataMeshServerOptions>>((kestrel, server) =>
            {
                if (server.Value.Controller is { Enabled: true, ClientCertificates.CaPaths.Count: > 0 })
                {
                    // Asked for in the handshake, never required there: the Schema Registry API, /metrics and the page need none,
                    // and a request without one gets the API's 401 rather than a failed handshake. Any certificate passes the
                    // handshake; the controller's API checks it against ClientCertificates (its CAs only, its revocation mode).
                    kestrel.ConfigureHttpsDefaults(https =>
                    {
                        https.ClientCertificateMode = ClientCertificateMode.AllowCertificate;
                        https.AllowAnyClientCertificate();
                        https.CheckCertificateRevocation = false;
                    });
                }
            });
            web.Services.AddRoutingCore();
            web.Services.AddDataMeshServer(configuration.GetSection(DataMeshServerOptions.SectionName), o =>
            {
                o.Controller.Settings.StateTopic = controllerOptions.StateTopic;
                o.Controller.Settings.Configuration = configuration;
                o.Controller.Settings.AddConnectorTypes();
            });
        }

        try
        {
            // Built inside the try: mapping the server reads its options, and settings it refuses are a failed run, not a crash.
            using var host = builder switch
            {
                WebApplicationBuilder webBuilder => MapServer(webBuilder.Build()),
                HostApplicationBuilder hostBuilder => hostBuilder.Build(),
                _ => throw new InvalidOperationException("unreachable"),
            };
            var kafka = host.Services.GetRequiredService<KafkaConnection>();
            using var controller = new DataMeshController(kafka, host.Services.GetRequiredService<ISchemaStore>(), controllerOptions);
            return command switch
            {
                "plan" => await PlanAsync(controller, text, output, cancellationToken).ConfigureAwait(false),
                "apply" => await ApplyAsync(controller, text, output, cancellationToken).ConfigureAwait(false),
                "status" => await StatusAsync(controller, options.ContainsKey("--json"), output, cancellationToken).ConfigureAwait(false),
                "pause" or "resume" => await PauseAsync(controller, command, text, options, output, cancellationToken).ConfigureAwait(false),
                "snapshot" => await SnapshotAsync(controller, text, options, output, cancellationToken).ConfigureAwait(false),
                "delete" => await DeleteAsync(controller, text, options.ContainsKey("--with-resources"), output, cancellationToken).ConfigureAwait(false),
                _ => await RunHostAsync(host, controller, kafka, text, output, cancellationToken).ConfigureAwait(false),
            };
        }
        catch (DefinitionInvalidException ex)
        {
            await WriteProblemsAsync(file ?? "(applied definition)", ex.Problems, output).ConfigureAwait(false);
            return Invalid;
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            await error.WriteLineAsync($"datamesh: {command} failed: {ex.Message}").ConfigureAwait(false);
            return Failed;
        }
    }

    private static async Task<int> PlanAsync(DataMeshController controller, string text, TextWriter output, CancellationToken cancellationToken)
    {
        var plan = await controller.PlanAsync(text, cancellationToken).ConfigureAwait(false);
        await output.WriteLineAsync(plan.ToString()).ConfigureAwait(false);
        return Ok;
    }

    private static async Task<int> ApplyAsync(DataMeshController controller, string text, TextWriter output, CancellationToken cancellationToken)
    {
        var plan = await controller.ApplyAsync(text, new Progress(output), cancellationToken).ConfigureAwait(false);
        await output.WriteLineAsync(plan.HasChanges
            ? string.Create(CultureInfo.InvariantCulture, $"Applied: generation {plan.Generation}.")
            : "No changes: everything is as the file declares.").ConfigureAwait(false);
        return Ok;
    }

    private static async Task<int> StatusAsync(DataMeshController controller, bool json, TextWriter output, CancellationToken cancellationToken)
    {
        var status = await controller.GetStatusAsync(cancellationToken).ConfigureAwait(false);
        if (json)
        {
            await output.WriteLineAsync(JsonSerializer.Serialize(status, Json)).ConfigureAwait(false);
            return Ok;
        }

        foreach (var line in StatusLines(status))
        {
            await output.WriteLineAsync(line).ConfigureAwait(false);
        }

        return Ok;
    }

    /// <summary>The lines <c>status</c> prints: what each runner reports comes first, the desired state in brackets after
    /// the component (<c>source/shop [desired: running]: runner-a failed: …</c>), so that a failed or waiting component
    /// does not read as running.</summary>
    internal static IEnumerable<string> StatusLines(DataMeshStatus status)
    {
        if (status.Generation == 0)
        {
            yield return "Nothing is applied.";
            yield break;
        }

        yield return string.Create(CultureInfo.InvariantCulture, $"Generation {status.Generation}, applied {status.AppliedAt:u}");
        foreach (var component in status.Components)
        {
            var runners = component.Runners.Count == 0 ? "no runner reports it"
                : string.Join("; ", component.Runners.Select(r => $"{r.Runner} {r.State}{(r.Current ? string.Empty : " (an older version)")}{(r.Message is null ? string.Empty : ": " + r.Message)}"));
            var lag = component.Lag is { } l ? string.Create(CultureInfo.InvariantCulture, $"; lag {l} records") : string.Empty;
            yield return $"{component.Component} [desired: {component.Desired}]: {runners}{lag}";
            foreach (var runner in component.Runners.Where(r => r.Tables.Count > 0 || r.Position is not null))
            {
                yield return $"  registered by {runner.Runner}: position {runner.Position ?? "(none stored yet)"}; " +
                    (runner.Tables.Count == 0 ? "no table yet" : string.Create(CultureInfo.InvariantCulture, $"{runner.Tables.Count} table{(runner.Tables.Count == 1 ? string.Empty : "s")}"));
                foreach (var table in runner.Tables)
                {
                    yield return TableLine(table);
                }
            }

            foreach (var table in component.Runners.SelectMany(r => r.Snapshot))
            {
                yield return string.Create(CultureInfo.InvariantCulture,
                    $"  snapshot {table.Table}: {table.Rows} rows{(table.EstimatedRows is { } e ? $" of about {e}" : string.Empty)}{(table.Reading ? ", reading" : string.Empty)}{(table.Paused ? ", paused" : string.Empty)}");
            }
        }
    }

    /// <summary>A registered table as <c>status</c> prints it: <c>    public.orders: topic dm.shop.public.orders, key schema 3, value schema 4 (v2)</c>.</summary>
    internal static string TableLine(TableRegistration table)
    {
        var key = table.KeySchemaId is { } id ? "key schema " + id.ToString(CultureInfo.InvariantCulture)
            : table.Table is null ? "key schema not reported" : "no key (keyless)";
        return string.Create(CultureInfo.InvariantCulture,
            $"    {table.Table ?? "(table not reported)"}: topic {table.Topic}, {key}, value schema {table.ValueSchemaId} (v{table.ValueSchemaVersion})");
    }

    private static async Task<int> PauseAsync(DataMeshController controller, string command, string text, Dictionary<string, string> options, TextWriter output, CancellationToken cancellationToken)
    {
        var components = options.TryGetValue("--only", out var only)
            ? only.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).ToList()
            : await ComponentsAsync(text, cancellationToken).ConfigureAwait(false);
        if (command == "pause")
        {
            await controller.PauseAsync(components, cancellationToken).ConfigureAwait(false);
        }
        else
        {
            await controller.ResumeAsync(components, cancellationToken).ConfigureAwait(false);
        }

        await output.WriteLineAsync($"{(command == "pause" ? "Paused" : "Resumed")}: {string.Join(", ", components)}").ConfigureAwait(false);
        return Ok;
    }

    private static async Task<int> SnapshotAsync(DataMeshController controller, string text, Dictionary<string, string> options, TextWriter output, CancellationToken cancellationToken)
    {
        var tables = options.TryGetValue("--tables", out var list) ? list.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries) : [];
        var sources = options.TryGetValue("--source", out var source)
            ? [source]
            : (await ComponentsAsync(text, cancellationToken).ConfigureAwait(false)).Where(c => c.StartsWith("source/", StringComparison.Ordinal)).Select(c => c["source/".Length..]).ToList();
        foreach (var name in sources)
        {
            await controller.RequestSnapshotAsync(name, tables, options.GetValueOrDefault("--condition"), cancellationToken).ConfigureAwait(false);
            await output.WriteLineAsync($"Snapshot asked of source {name}{(tables.Length > 0 ? " (" + string.Join(", ", tables) + ")" : string.Empty)}; 'datamesh status' shows its progress.").ConfigureAwait(false);
        }

        return Ok;
    }

    private static async Task<int> DeleteAsync(DataMeshController controller, string text, bool withResources, TextWriter output, CancellationToken cancellationToken)
    {
        var result = await controller.DeleteAsync(text, withResources, cancellationToken).ConfigureAwait(false);
        foreach (var change in result.Changes)
        {
            await output.WriteLineAsync(change.ToString()).ConfigureAwait(false);
        }

        foreach (var note in result.Notes)
        {
            await output.WriteLineAsync("Note: " + note).ConfigureAwait(false);
        }

        return Ok;
    }

    private static async Task<int> RunHostAsync(IHost host, DataMeshController controller, KafkaConnection kafka, string text, TextWriter output, CancellationToken cancellationToken)
    {
        if (kafka.IsEmbedded)
        {
            await output.WriteLineAsync($"Embedded Kafka at {kafka.BootstrapServers}: give --kafka {kafka.BootstrapServers} to plan, apply, status and the other commands while this runs.").ConfigureAwait(false);
        }

        // The host first: an address that cannot be served (in use, not this machine's) fails the run before anything is
        // applied. Its runner runs what is applied until the apply below makes the file's definition the applied one.
        try
        {
            await host.StartAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is IOException or System.Net.Sockets.SocketException)
        {
            throw new IOException($"the --http address cannot be served, nothing was applied: {ex.Message}", ex);
        }

        DataMeshPlan plan;
        try
        {
            plan = await controller.ApplyAsync(text, new Progress(output), cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            await host.StopAsync(CancellationToken.None).ConfigureAwait(false);
            throw;
        }

        if (host.Services.GetService<IServer>()?.Features.Get<IServerAddressesFeature>()?.Addresses is { Count: > 0 } addresses)
        {
            var options = host.Services.GetRequiredService<IOptions<DataMeshServerOptions>>().Value;
            foreach (var address in addresses)
            {
                await output.WriteLineAsync($"Serving at {address}: the page {address}{options.Controller.PagePath}/, the controller's API {address}{options.Controller.PathPrefix}, the Schema Registry API {address}{options.SchemaRegistry.PathPrefix}/").ConfigureAwait(false);
            }
        }

        await output.WriteLineAsync(string.Create(CultureInfo.InvariantCulture, $"Applied generation {plan.Generation}; running until Ctrl-C.")).ConfigureAwait(false);
        try
        {
            await host.WaitForShutdownAsync(cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            await host.StopAsync(CancellationToken.None).ConfigureAwait(false);
        }

        return Environment.ExitCode;
    }

    private static WebApplication MapServer(WebApplication app)
    {
        app.MapDataMesh();
        return app;
    }

    /// <summary><c>HOST:PORT</c> or an <c>http://HOST:PORT</c> or <c>https://HOST:PORT</c> URL, as Kestrel takes it; null when it is none.</summary>
    internal static string? HttpUrl(string address)
    {
        if (address.All(char.IsAsciiDigit))
        {
            return null; // a port alone: "http://8080" would name the host 8080
        }

        var url = address.Contains("://", StringComparison.Ordinal) ? address : "http://" + address;
        return Uri.TryCreate(url, UriKind.Absolute, out var uri) && (uri.Scheme == Uri.UriSchemeHttp || uri.Scheme == Uri.UriSchemeHttps) && uri.AbsolutePath == "/" &&
            uri.UserInfo.Length == 0 && uri.Query.Length == 0 && uri.Fragment.Length == 0
            ? $"{uri.Scheme}://{uri.Authority}"
            : null;
    }

    private static async Task<List<string>> ComponentsAsync(string text, CancellationToken cancellationToken)
    {
        var options = new DefinitionValidationOptions { Configuration = Configuration(null) };
        options.AddConnectorTypes();

        var validation = await DefinitionFile.ValidateAsync(text, options, cancellationToken).ConfigureAwait(false);
        if (!validation.IsValid)
        {
            throw new DefinitionInvalidException(validation.Problems);
        }

        return [.. validation.Definition!.Sources.Select(s => "source/" + s.Name), .. validation.Definition.Pipelines.Select(p => "pipeline/" + p.Name)];
    }

    private static async Task WriteProblemsAsync(string file, IEnumerable<DefinitionProblem> problems, TextWriter output)
    {
        foreach (var problem in problems)
        {
            await output.WriteLineAsync(string.Create(CultureInfo.InvariantCulture, $"{file}:{problem}")).ConfigureAwait(false);
        }
    }

    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web) { PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower, WriteIndented = true };

    private static ConfluentSchemaRegistryStore Registry(string url) =>
        new(new Confluent.SchemaRegistry.SchemaRegistryConfig { Url = url, RequestTimeoutMs = 10_000 });

    /// <summary>The URL without credentials (user:password@host): its scheme, host and port.</summary>
    private static string Redacted(string url)
    {
        var uri = new Uri(url);
        return $"{uri.Scheme}://{uri.Host}:{uri.Port}";
    }

    private static string Detail(string url, Exception ex) => new Uri(url).UserInfo.Length == 0 ? $"{ex.GetType().Name}: {ex.Message}" : ex.GetType().Name;

    private static string Count(int count, string what) =>
        string.Create(CultureInfo.InvariantCulture, $"{count} {what}{(count == 1 ? string.Empty : "s")}");

    /// <summary>appsettings.json in the current directory, then DATAMESH__ environment variables, then the command line's
    /// --kafka and --schema-registry. What <c>${config:Key}</c> reads too.</summary>
    private static IConfiguration Configuration(Dictionary<string, string>? options)
    {
        var overrides = new Dictionary<string, string?>(StringComparer.Ordinal);
        if (options?.GetValueOrDefault("--kafka") is { } kafka)
        {
            overrides["DataMesh:Kafka:BootstrapServers"] = kafka;
        }

        if (options?.GetValueOrDefault("--schema-registry") is { } registry)
        {
            overrides["DataMesh:SchemaStore:Kind"] = nameof(SchemaStoreKind.ConfluentSchemaRegistry);
            overrides["DataMesh:SchemaStore:RegistryUrl"] = registry;
        }

        return new ConfigurationBuilder()
            .SetBasePath(Directory.GetCurrentDirectory())
            .AddJsonFile("appsettings.json", optional: true)
            .AddEnvironmentVariables("DATAMESH__")
            .AddInMemoryCollection(overrides)
            .Build();
    }

    /// <summary>Prints each change as apply makes it.</summary>
    private sealed class Progress(TextWriter output) : IProgress<PlanChange>
    {
        public void Report(PlanChange value)
        {
            if (value.Action != PlanAction.Unchanged)
            {
                output.WriteLine(value.ToString());
            }
        }
    }
}
