using DataMesh.Pipelines;
using DataMesh.Schemas;

namespace DataMesh;

/// <summary>
/// A validated definition file (<c>docs/definitions.md</c>): the sources to capture, the pipelines to run and the settings
/// of the resources they need. Immutable; a controller plans from it. Secret references (<c>${env:NAME}</c>,
/// <c>${config:Key}</c>) are kept as written, never resolved into the model, so that a plan or status built from it
/// cannot show a secret.
/// </summary>
/// <param name="Sources">The sources, in the file's order.</param>
/// <param name="Pipelines">The pipelines, in the file's order.</param>
/// <param name="Settings">Settings of topics and schemas.</param>
public sealed record DataMeshDefinition(IReadOnlyList<SourceDefinition> Sources, IReadOnlyList<PipelineDefinition> Pipelines, DefinitionSettings Settings);

/// <summary>The <c>settings</c> block: how the topics and subjects a definition needs are created.</summary>
/// <param name="TopicPrefix">The first part of table topics' names (<c>ChangeEventOptions.TopicPrefix</c>); <c>dm</c> by default.</param>
/// <param name="TopicPartitions">Partitions of the topics created, unless a source or sink says otherwise; 1 by default.</param>
/// <param name="Compaction">Whether table topics are compacted (<c>cleanup.policy=compact</c>); true by default, so that tombstones drop deleted rows.</param>
/// <param name="Retention">How long records are kept (<c>retention.ms</c>); null (the default) for the cluster's default, <see cref="Timeout.InfiniteTimeSpan"/> for forever.</param>
/// <param name="Compatibility">The compatibility level of the subjects created; null (the default) for the schema store's default.</param>
public sealed record DefinitionSettings(string TopicPrefix, int TopicPartitions, bool Compaction, TimeSpan? Retention, CompatibilityLevel? Compatibility)
{
    /// <summary>The settings of a file without a <c>settings</c> block.</summary>
    public static DefinitionSettings Default { get; } = new("dm", 1, true, null, null);
}

/// <summary>A source: a database whose log is captured to table topics.</summary>
/// <param name="Name">The source's name, unique in the file; part of its topics' names.</param>
/// <param name="Type">The source type: <c>postgres</c>, <c>mysql</c>, <c>mariadb</c>, <c>cockroachdb</c> or <c>cassandra</c>.</param>
/// <param name="IncludeTables">The <c>include_tables</c> patterns (empty: every table).</param>
/// <param name="ExcludeTables">The <c>exclude_tables</c> patterns.</param>
/// <param name="InitialSnapshot">The <c>snapshot.initial</c> mode.</param>
/// <param name="Settings">Every setting as written, flattened to <c>snake_case</c> paths joined by <c>:</c> (<c>connection_string</c>,
/// <c>snapshot:chunk_size</c>, <c>include_tables:0</c>), secret references unresolved; bound to the source type's options when
/// the source runs.</param>
public sealed record SourceDefinition(
    string Name,
    string Type,
    IReadOnlyList<string> IncludeTables,
    IReadOnlyList<string> ExcludeTables,
    InitialSnapshot InitialSnapshot,
    IReadOnlyDictionary<string, string> Settings);

/// <summary>A pipeline: source topics, transforms and a sink (<see cref="PipelineOptions"/>).</summary>
/// <param name="Name">The pipeline's name, unique in the file.</param>
/// <param name="Source">The source named by <c>source</c>, or null when the pipeline names <c>source_topics</c>.</param>
/// <param name="Tables">The source's tables it reads (<c>tables</c>), as <c>schema.table</c>.</param>
/// <param name="SourceTopics">The topics read: <c>source_topics</c>, or the topics of <see cref="Tables"/>.</param>
/// <param name="Transforms">The transforms, in order.</param>
/// <param name="Sink">Where records go.</param>
/// <param name="Workers">Records transformed in parallel (<see cref="PipelineOptions.Workers"/>); null for the default.</param>
/// <param name="GroupId">The consumer group; null for <c>datamesh-pipeline-&lt;name&gt;</c>.</param>
/// <param name="OnError">What a record that cannot be transformed or written does (the dead-letter policy).</param>
/// <param name="DeadLetterTopic">The dead-letter topic; null for the default.</param>
/// <param name="MaxBatchSize">The most records per sink batch; null for the default.</param>
/// <param name="SinkRetries">Retries of a failed sink batch; null for the default.</param>
/// <param name="CommitInterval">How often offsets are committed; null for the default.</param>
/// <param name="SessionTimeout">How long the group waits for a member that stopped answering before its partitions move
/// (<see cref="PipelineOptions.SessionTimeout"/>); null for the default.</param>
public sealed record PipelineDefinition(
    string Name,
    string? Source,
    IReadOnlyList<string> Tables,
    IReadOnlyList<string> SourceTopics,
    IReadOnlyList<TransformDefinition> Transforms,
    SinkDefinition Sink,
    int? Workers,
    string? GroupId,
    ErrorHandling OnError,
    string? DeadLetterTopic,
    int? MaxBatchSize,
    int? SinkRetries,
    TimeSpan? CommitInterval,
    TimeSpan? SessionTimeout = null);

/// <summary>One transform of a pipeline.</summary>
/// <param name="Kind">The transform: <c>filter</c>, <c>keep</c>, <c>drop</c>, <c>rename</c>, <c>mask</c>, <c>cast</c>,
/// <c>add_constant</c>, <c>add_from_envelope</c>, <c>route</c>, <c>unwrap</c> or <c>outbox_router</c>.</param>
/// <param name="Description">What it does, as the pipeline names it in logs (for example <c>filter(op != 'd')</c>); never a secret.</param>
/// <param name="Settings">Its settings as written, flattened like <see cref="SourceDefinition.Settings"/> (a filter's
/// expression is the setting <c>filter</c>), secret references unresolved.</param>
public sealed record TransformDefinition(string Kind, string Description, IReadOnlyDictionary<string, string> Settings);

/// <summary>The kinds of pipeline sink a definition declares.</summary>
public enum SinkKind
{
    /// <summary>A Kafka topic (<c>sink: {kafka: {topic: ..., partitions: ...}}</c>).</summary>
    Kafka,

    /// <summary>A JSON Lines file (<c>sink: {json_lines: {path: ...}}</c>).</summary>
    JsonLines,

    /// <summary>A database table of a table sink type (<c>sink: {postgres_table: {connection_string: ..., table: ...}}</c>; see <see cref="ISinkType"/>).</summary>
    Table,
}

/// <summary>A pipeline's sink.</summary>
/// <param name="Kind">Kafka or a JSON Lines file.</param>
/// <param name="Topic">The Kafka sink's topic (<see cref="PipelineOptions.TargetTopic"/>).</param>
/// <param name="Partitions">The Kafka sink topic's partitions; null for <see cref="DefinitionSettings.TopicPartitions"/>.</param>
/// <param name="Path">The JSON Lines sink's file or template (<c>JsonLinesSinkOptions.Path</c>).</param>
public sealed record SinkDefinition(SinkKind Kind, string? Topic, int? Partitions, string? Path)
{
    /// <summary>A table sink's type (<c>postgres_table</c>); null for the others.</summary>
    public string? Type { get; init; }

    /// <summary>A table sink's settings as written, flattened like <see cref="SourceDefinition.Settings"/>, secret
    /// references unresolved; empty for the others.</summary>
    public IReadOnlyDictionary<string, string> Settings { get; init; } = NoSettings;

    private static IReadOnlyDictionary<string, string> NoSettings { get; } = new Dictionary<string, string>();

    /// <summary>Whether <paramref name="other"/> is the same sink, settings compared by value.</summary>
    /// <param name="other">The other sink.</param>
    /// <returns>True when equal.</returns>
    public bool Equals(SinkDefinition? other) =>
        other is not null && Kind == other.Kind && Topic == other.Topic && Partitions == other.Partitions && Path == other.Path && Type == other.Type
        && Settings.Count == other.Settings.Count && Settings.All(s => other.Settings.TryGetValue(s.Key, out var value) && value == s.Value);

    /// <inheritdoc />
    public override int GetHashCode() => HashCode.Combine(Kind, Topic, Partitions, Path, Type, Settings.Count);
}
