using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using DataMesh.Events;
using DataMesh.Sources;

namespace DataMesh.ControlPlane.Controller;

/// <summary>A source or pipeline of a definition, as the controller plans and a runner runs it.</summary>
/// <param name="Key">Its key: <c>source/NAME</c> or <c>pipeline/NAME</c>.</param>
/// <param name="Hash">The hash of everything it runs with (settings as written, secret references unresolved): a component
/// whose hash is unchanged is not touched by an apply.</param>
/// <param name="Source">The source, for a source.</param>
/// <param name="Pipeline">The pipeline, for a pipeline.</param>
internal sealed record Component(string Key, string Hash, SourceDefinition? Source, PipelineDefinition? Pipeline)
{
    public string Name => Source?.Name ?? Pipeline!.Name;
}

/// <summary>A definition read for the controller: validated (with the same messages as <c>datamesh validate</c>), refused
/// when it holds a literal secret (the controller keeps the text in Kafka), and split into components.</summary>
internal sealed class AppliedDefinition
{
    private AppliedDefinition(string text, DataMeshDefinition definition, DefinitionParts parts)
    {
        Text = text;
        Definition = definition;
        Parts = parts;
        Components = [.. definition.Sources.Select(SourceComponent), .. definition.Pipelines.Select(PipelineComponent)];
    }

    public string Text { get; }

    public DataMeshDefinition Definition { get; }

    public DefinitionParts Parts { get; }

    public IReadOnlyList<Component> Components { get; }

    public static string SourceKey(string name) => "source/" + name;

    public static string PipelineKey(string name) => "pipeline/" + name;

    /// <summary>Validates <paramref name="text"/>; with <paramref name="schemas"/>, also plans each pipeline's transforms
    /// against the latest value schema of each of its topics that has one (what plan and apply check; a runner does not).</summary>
    /// <param name="text">The definition's text.</param>
    /// <param name="options">The controller's options (source and sink types, configuration).</param>
    /// <param name="cancellationToken">Cancels the read.</param>
    /// <param name="schemas">The schema store to plan transforms against, or null.</param>
    /// <param name="stored">Whether <paramref name="text"/> is the applied definition read back from the state topic (by a
    /// runner, status, delete): read as the version that applied it read it (<see cref="DefinitionValidationOptions.StoredDefinition"/>),
    /// so that rules added since do not stop what runs; a literal secret in it is not refused again (it is stored already).</param>
    /// <exception cref="DefinitionInvalidException">It has problems, or a literal secret.</exception>
    public static async Task<AppliedDefinition> ReadAsync(string text, DataMeshControllerOptions options, CancellationToken cancellationToken, Schemas.ISchemaStore? schemas = null, bool stored = false)
    {
        var validationOptions = new DefinitionValidationOptions { Configuration = options.Configuration, SchemaStore = schemas, RequireSchemas = false, StoredDefinition = stored };
        foreach (var type in options.SourceTypes)
        {
            validationOptions.SourceTypes.Add(type);
        }

        foreach (var type in options.SinkTypes)
        {
            validationOptions.SinkTypes.Add(type);
        }

        var validation = await DefinitionFile.ValidateAsync(text, validationOptions, cancellationToken).ConfigureAwait(false);
        if (!validation.IsValid)
        {
            throw new DefinitionInvalidException(validation.Problems);
        }

        var parts = validation.Parts!;
        if (parts.LiteralSecrets.Count > 0 && !stored)
        {
            throw new DefinitionInvalidException(parts.LiteralSecrets);
        }

        var missing = parts.Sources.Where(s => s.Value.Type is null).Select(s => s.Key).ToList();
        if (missing.Count > 0)
        {
            var source = validation.Definition!.Sources.First(s => s.Name == missing[0]);
            throw new InvalidOperationException($"Source '{source.Name}' has type '{source.Type}', and no such source type is registered with the controller (DataMeshControllerOptions.SourceTypes).");
        }

        return new AppliedDefinition(text, validation.Definition!, parts);
    }

    /// <summary>The topic prefix a source's table topics take.</summary>
    public string TopicPrefix(string source) => Parts.Sources[source].Options.Events?.TopicPrefix ?? Definition.Settings.TopicPrefix;

    /// <summary>The partitions of a source's table topics: its own <c>topic_partitions</c>, else the settings'.</summary>
    public int TopicPartitions(SourceDefinition source) =>
        source.Settings.ContainsKey("topic_partitions") ? Parts.Sources[source.Name].Options.TopicPartitions : Definition.Settings.TopicPartitions;

    /// <summary>The topics of the tables a source names exactly (patterns with wildcards find their tables at run time).</summary>
    public IEnumerable<string> TableTopics(SourceDefinition source) =>
        source.IncludeTables
            .Where(t => t.IndexOfAny(['*', '?']) < 0 && t.Contains('.', StringComparison.Ordinal))
            .Select(t => TopicNames.ForTable(TopicPrefix(source.Name), source.Name, t[..t.IndexOf('.', StringComparison.Ordinal)], t[(t.IndexOf('.', StringComparison.Ordinal) + 1)..]));

    /// <summary>Whether a source's tables are found at run time: it names no table (every table) or a pattern with a
    /// wildcard.</summary>
    public static bool MatchesByPattern(SourceDefinition source) =>
        source.IncludeTables.Count == 0 || source.IncludeTables.Any(t => t.IndexOfAny(['*', '?']) >= 0);

    /// <summary>The tables a source registered (from its runner's reports) that this definition's version of the source
    /// captures too, with their topics: those under its topic prefix whose names its include and exclude patterns select,
    /// ordered by topic. A table a report names without its table (a runner older than the registration) is left out, as
    /// are the tables named exactly (<see cref="TableTopics"/> has them).</summary>
    public List<(string Table, string Topic)> RegisteredTableTopics(SourceDefinition source, IEnumerable<TableRegistration> registered)
    {
        var prefix = TopicNames.ForSource(TopicPrefix(source.Name), source.Name);
        var filter = new TableFilter(Parts.Sources[source.Name].Options, []);
        var named = TableTopics(source).ToHashSet(StringComparer.Ordinal);
        return [.. registered
            .Where(t => t.Table is { } name && name.IndexOf('.', StringComparison.Ordinal) is > 0 and var dot
                && filter.Captures(name[..dot], name[(dot + 1)..])
                && t.Topic.StartsWith(prefix, StringComparison.Ordinal) && !named.Contains(t.Topic))
            .Select(t => (Table: t.Table!, t.Topic))
            .DistinctBy(t => t.Topic)
            .OrderBy(t => t.Topic, StringComparer.Ordinal)];
    }

    private Component SourceComponent(SourceDefinition source)
    {
        var text = new StringBuilder();
        text.Append(CultureInfo.InvariantCulture, $"{source.Type}\n{TopicPrefix(source.Name)}\n{TopicPartitions(source)}\n");
        Append(text, source.Settings);
        return new Component(SourceKey(source.Name), Hash(text), source, null);
    }

    private Component PipelineComponent(PipelineDefinition pipeline)
    {
        var text = new StringBuilder();
        text.Append(CultureInfo.InvariantCulture,
            $"{string.Join(',', pipeline.SourceTopics)}\n{pipeline.Sink}\n{pipeline.Sink.Partitions ?? Definition.Settings.TopicPartitions}\n{pipeline.Workers}\n{pipeline.GroupId}\n{pipeline.OnError}\n{pipeline.DeadLetterTopic}\n{pipeline.MaxBatchSize}\n{pipeline.SinkRetries}\n{pipeline.CommitInterval}\n");
        if (pipeline.SessionTimeout is { } session)
        {
            text.Append(CultureInfo.InvariantCulture, $"session {session}\n"); // only when set: existing pipelines keep their hash
        }

        Append(text, pipeline.Sink.Settings);
        foreach (var transform in pipeline.Transforms)
        {
            text.Append(transform.Kind).Append('\n');
            Append(text, transform.Settings);
        }

        return new Component(PipelineKey(pipeline.Name), Hash(text), null, pipeline);
    }

    private static void Append(StringBuilder text, IReadOnlyDictionary<string, string> settings)
    {
        foreach (var (key, value) in settings.OrderBy(s => s.Key, StringComparer.Ordinal))
        {
            text.Append(key).Append('=').Append(value).Append('\n');
        }
    }

    private static string Hash(StringBuilder text) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(text.ToString())))[..16];
}
