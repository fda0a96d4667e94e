using System.Globalization;

namespace DataMesh;

/// <summary>One thing wrong with a definition file.</summary>
/// <param name="Path">Where, as a path into the file: <c>pipelines[0].transforms[2].filter</c>; <c>(syntax)</c> for a file
/// that is not well-formed.</param>
/// <param name="Reason">What is wrong and, where it helps, the nearest valid name. Never a secret's value.</param>
/// <param name="Line">The 1-based line in the file.</param>
/// <param name="Column">The 1-based column in the file.</param>
public sealed record DefinitionProblem(string Path, string Reason, int Line, int Column)
{
    /// <summary><c>line:column: path: reason</c>.</summary>
    /// <returns>The problem as one line.</returns>
    public override string ToString() => string.Create(CultureInfo.InvariantCulture, $"{Line}:{Column}: {Path}: {Reason}");
}

/// <summary>The outcome of validating a definition file: the definition when it is valid, else every problem found.</summary>
/// <param name="Definition">The definition; null when <see cref="Problems"/> is not empty.</param>
/// <param name="Problems">Every problem, in the order of the file.</param>
public sealed record DefinitionValidation(DataMeshDefinition? Definition, IReadOnlyList<DefinitionProblem> Problems)
{
    /// <summary>Whether the file is valid.</summary>
    public bool IsValid => Problems.Count == 0;

    /// <summary>What running the definition needs beyond the model: the sources' bound options (secrets resolved) and the
    /// pipelines' transforms; null when the file is not valid.</summary>
    internal DefinitionParts? Parts { get; init; }
}

/// <summary>What running a valid definition needs beyond its model. Holds resolved secrets: never logged or stored.</summary>
/// <param name="Sources">Each source's type (null when none was given for its name) and options, by source name.</param>
/// <param name="Transforms">Each pipeline's transforms, by pipeline name.</param>
/// <param name="Sinks">Each pipeline with a table sink: its type and bound options (secrets resolved), by pipeline name.</param>
/// <param name="LiteralSecrets">The settings holding a secret written in the file rather than referenced.</param>
/// <param name="Secrets">Every value a reference resolved to and every password-like value, longest first: what
/// <see cref="Redact"/> hides in any text shown of the definition (a plan's topic named with a reference).</param>
internal sealed record DefinitionParts(
    IReadOnlyDictionary<string, (ISourceType? Type, SourceOptions Options)> Sources,
    IReadOnlyDictionary<string, IReadOnlyList<Pipelines.Transforms.Transform>> Transforms,
    IReadOnlyDictionary<string, (ISinkType Type, object Options)> Sinks,
    IReadOnlyList<DefinitionProblem> LiteralSecrets,
    IReadOnlyList<string> Secrets)
{
    /// <summary><paramref name="text"/> with every one of <see cref="Secrets"/> replaced by <c>***</c>.</summary>
    public string Redact(string text) => ControlPlane.Definitions.ProblemList.Redact(text, Secrets);
}

/// <summary>What a definition is validated against.</summary>
public sealed class DefinitionValidationOptions
{
    /// <summary>Whether the text is a definition applied before, read back (by runners): it is read as the version that
    /// applied it read it. Rules added since for new files (a bare number as a duration, read then as days; a second name or
    /// type in a source; empty lists) would otherwise stop what runs after an upgrade.</summary>
    internal bool StoredDefinition { get; init; }

    /// <summary>
    /// The source types whose settings can be checked (the connectors' <c>ConnectorSourceTypes.All</c>). A source whose
    /// type is one of the five known names but not listed here is checked for its name, type and tables only.
    /// </summary>
    public IList<ISourceType> SourceTypes { get; } = [];

    /// <summary>The table sink types pipelines may declare besides <c>kafka</c> and <c>json_lines</c> (the connectors'
    /// <c>ConnectorSinkTypes.All</c>).</summary>
    public IList<ISinkType> SinkTypes { get; } = [];

    /// <summary>
    /// The schema store holding the sources' registered schemas, or null. With one, each pipeline's source topics must have
    /// a registered value schema, and its transforms (filter fields, columns kept, renamed, masked, cast) are planned
    /// against the latest version, so a misspelt column is reported with the nearest name.
    /// </summary>
    public Schemas.ISchemaStore? SchemaStore { get; set; }

    /// <summary>
    /// With a <see cref="SchemaStore"/>: whether a pipeline's topic with no registered value schema is a problem (true, the
    /// default, as <c>datamesh validate --schema-registry</c> reports it), or is skipped and only the topics that have one
    /// are checked (false: what the controller does, since a new source registers its tables' schemas when it first runs;
    /// a topic another pipeline of the definition writes is then not checked either, since the definition may change it).
    /// </summary>
    public bool RequireSchemas { get; set; } = true;

    /// <summary>Resolves <c>${config:Key}</c> references; null to report them as unresolvable.</summary>
    public Microsoft.Extensions.Configuration.IConfiguration? Configuration { get; set; }

    /// <summary>Resolves <c>${env:NAME}</c> references; <see cref="Environment.GetEnvironmentVariable(string)"/> by default.</summary>
    public Func<string, string?> EnvironmentVariables { get; set; } = Environment.GetEnvironmentVariable;
}

/// <summary>Reads and validates definition files (<c>docs/definitions.md</c>).</summary>
public static class DefinitionFile
{
    /// <summary>Validates a definition, reporting every problem at once.</summary>
    /// <param name="text">The file's text, YAML or JSON.</param>
    /// <param name="options">What it is validated against.</param>
    /// <param name="cancellationToken">Cancels the schema store's look-ups.</param>
    /// <returns>The definition, or the problems.</returns>
    public static async ValueTask<DefinitionValidation> ValidateAsync(string text, DefinitionValidationOptions options, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(text);
        ArgumentNullException.ThrowIfNull(options);
        return await ControlPlane.Definitions.DefinitionValidator.ValidateAsync(text, options, cancellationToken).ConfigureAwait(false);
    }
}
