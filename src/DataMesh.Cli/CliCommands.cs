using System.Globalization;
using Microsoft.Extensions.Configuration;

namespace DataMesh.Cli;

/// <summary>
/// The <c>datamesh</c> tool's commands. Exit codes, for scripts and CI: 0 the command succeeded; 2 the definition has
/// problems (one line each on standard output, <c>FILE:line:column: path: reason</c>); 1 the schema registry named by
/// <c>--schema-registry</c> could not be read; 3 the command is not implemented yet; 64 bad usage or a file that cannot
/// be read (the usage on standard error). See <c>docs/definitions.md</c>.
/// </summary>
internal static class CliCommands
{
    public const int Ok = 0;
    public const int RegistryUnreadable = 1;
    public const int Invalid = 2;
    public const int NotImplemented = 3;
    public const int Usage = 64;

    private static readonly string[] Later = ["plan", "apply", "status", "pause", "resume", "snapshot", "delete", "run"];

    private const string UsageText = """
        usage: datamesh COMMAND FILE

          validate FILE [--schema-registry URL]
                          check a definition file (YAML or JSON); exit 0 when it is valid, 2 with one line per problem
                          (FILE:line:column: path: reason); with a Confluent-compatible schema registry, also check the
                          pipelines' tables, columns and filters against the registered schemas (exit 1 if it cannot be read)
          plan FILE       not implemented yet (exit 3)
          apply FILE      not implemented yet (exit 3)
          status FILE     not implemented yet (exit 3)
          pause FILE      not implemented yet (exit 3)
          resume FILE     not implemented yet (exit 3)
          snapshot FILE   not implemented yet (exit 3)
          delete FILE     not implemented yet (exit 3)
          run FILE        not implemented yet (exit 3)

        Secrets in a definition are references: ${env:NAME} (an environment variable) or ${config:Key} (a key of
        appsettings.json in the current directory, or an environment variable DATAMESH__Section__Key). The format is in
        docs/definitions.md.
        """;

    /// <summary>Runs the command in <paramref name="args"/>, writing results to <paramref name="output"/> and usage to <paramref name="error"/>.</summary>
    /// <returns>The exit code.</returns>
    public static async Task<int> RunAsync(string[] args, TextWriter output, TextWriter error, CancellationToken cancellationToken)
    {
        if (args.Length == 1 && args[0] is "-h" or "--help" or "help")
        {
            await output.WriteLineAsync(UsageText).ConfigureAwait(false);
            return Ok;
        }

        var withRegistry = args.Length == 4 && args[0] == "validate" && args[2] == "--schema-registry";
        if ((args.Length != 2 && !withRegistry) || (args[0] != "validate" && !Later.Contains(args[0])))
        {
            var problem = args.Length == 0 ? "no command given"
                : args[0] != "validate" && !Later.Contains(args[0]) ? $"unknown command '{args[0]}'"
                : $"'{args[0]}' takes one definition file{(args[0] == "validate" ? " (and --schema-registry URL)" : string.Empty)}";
            await error.WriteLineAsync($"datamesh: {problem}").ConfigureAwait(false);
            await error.WriteLineAsync(UsageText).ConfigureAwait(false);
            return Usage;
        }

        var (command, file) = (args[0], args[1]);
        if (withRegistry && !(Uri.TryCreate(args[3], UriKind.Absolute, out var url) && url.Scheme is "http" or "https"))
        {
            await error.WriteLineAsync("datamesh: --schema-registry needs a URL such as http://localhost:8081").ConfigureAwait(false);
            await error.WriteLineAsync(UsageText).ConfigureAwait(false);
            return Usage;
        }

        if (command != "validate")
        {
            await error.WriteLineAsync($"datamesh: '{command}' is not implemented yet; only 'validate' is (issue 12).").ConfigureAwait(false);
            return NotImplemented;
        }

        string text;
        try
        {
            text = await File.ReadAllTextAsync(file, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or ArgumentException or NotSupportedException)
        {
            await error.WriteLineAsync($"datamesh: cannot read '{file}': {ex.Message}").ConfigureAwait(false);
            await error.WriteLineAsync(UsageText).ConfigureAwait(false);
            return Usage;
        }

        var options = new DefinitionValidationOptions { Configuration = Configuration() };
        foreach (var type in ConnectorSourceTypes.All)
        {
            options.SourceTypes.Add(type);
        }

        DefinitionValidation validation;
        using (var registry = withRegistry ? Registry(args[3]) : null)
        {
            options.SchemaStore = registry;
            try
            {
                validation = await DefinitionFile.ValidateAsync(text, options, cancellationToken).ConfigureAwait(false);
            }
            catch (Exception ex) when (registry is not null && ex is not OperationCanceledException)
            {
                // The URL may carry credentials (user:password@host): name only its scheme, host and port.
                var uri = new Uri(args[3]);
                var detail = uri.UserInfo.Length == 0 ? $"{ex.GetType().Name}: {ex.Message}" : ex.GetType().Name;
                await error.WriteLineAsync($"datamesh: the schema registry at {uri.Scheme}://{uri.Host}:{uri.Port} could not be read ({detail}); is it running?").ConfigureAwait(false);
                return RegistryUnreadable;
            }
        }

        if (!validation.IsValid)
        {
            foreach (var problem in validation.Problems)
            {
                await output.WriteLineAsync(string.Create(CultureInfo.InvariantCulture, $"{file}:{problem}")).ConfigureAwait(false);
            }

            return Invalid;
        }

        var definition = validation.Definition!;
        await output.WriteLineAsync(string.Create(CultureInfo.InvariantCulture,
            $"{file}: OK ({Count(definition.Sources.Count, "source")}, {Count(definition.Pipelines.Count, "pipeline")})")).ConfigureAwait(false);
        return Ok;
    }

    private static Schemas.ConfluentSchemaRegistryStore Registry(string url) =>
        new(new Confluent.SchemaRegistry.SchemaRegistryConfig { Url = url, RequestTimeoutMs = 10_000 });

    private static string Count(int count, string what) =>
        string.Create(CultureInfo.InvariantCulture, $"{count} {what}{(count == 1 ? string.Empty : "s")}");

    /// <summary>What <c>${config:Key}</c> reads: appsettings.json in the current directory, then DATAMESH__ environment variables.</summary>
    private static IConfiguration Configuration() =>
        new ConfigurationBuilder()
            .SetBasePath(Directory.GetCurrentDirectory())
            .AddJsonFile("appsettings.json", optional: true)
            .AddEnvironmentVariables("DATAMESH__")
            .Build();
}
