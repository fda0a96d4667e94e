using System.Globalization;
using System.Text.RegularExpressions;
using DataMesh.Events;
using DataMesh.Pipelines;
using DataMesh.Pipelines.Filtering;
using DataMesh.Pipelines.Sinks;
using DataMesh.Pipelines.Transforms;
using DataMesh.Schemas;
using DataMesh.Sources;

namespace DataMesh.ControlPlane.Definitions;

/// <summary>
/// Validates a definition file and builds its <see cref="DataMeshDefinition"/>: reads the whole file, reports every
/// problem it finds (a problem in one source or pipeline does not stop the others from being checked), and checks the
/// pipelines against the schema store when one is given. The format is in <c>docs/definitions.md</c>.
/// </summary>
internal static partial class DefinitionValidator
{
    /// <summary>The source types a definition can name.</summary>
    public static readonly string[] SourceTypeNames = ["postgres", "mysql", "mariadb", "cockroachdb", "cassandra"];

    private static readonly string[] TopFields = ["sources", "pipelines", "settings"];
    private static readonly string[] SettingsFields = ["topic_prefix", "topic_partitions", "compaction", "retention", "compatibility"];
    private static readonly string[] SinkKinds = ["kafka", "json_lines"];
    private static readonly string[] PipelineFields =
    [
        "name", "source", "tables", "source_topics", "transforms", "sink", "workers", "group_id", "on_error", "dead_letter_topic",
        "max_batch_size", "sink_retries", "commit_interval", "session_timeout",
    ];

    public static async ValueTask<DefinitionValidation> ValidateAsync(string text, DefinitionValidationOptions options, CancellationToken cancellationToken)
    {
        var problems = new ProblemList();
        var secrets = new SecretReferences(options, problems);
        DefinitionNode? root;
        try
        {
            root = DefinitionReader.Read(text);
        }
        catch (DefinitionSyntaxException ex)
        {
            problems.Add("(syntax)", ex.Line, ex.Column, ex.Message);
            return new DefinitionValidation(null, problems.Result());
        }

        if (root is not MappingNode mapping)
        {
            problems.Add("(file)", root?.Line ?? 1, root?.Column ?? 1, root is null
                ? "the file is empty; a definition declares sources and pipelines (docs/definitions.md)"
                : $"a definition is a mapping of sources, pipelines and settings, not {root.Describe()}");
            return new DefinitionValidation(null, problems.Result());
        }

        var top = new FieldReader(mapping, string.Empty, "a definition", TopFields, problems, secrets);
        var settings = ReadSettings(top, problems, secrets);
        var sources = ReadSources(top, settings, options, problems, secrets);
        var pipelines = ReadPipelines(top, sources, options, problems, secrets);
        if (top.Entry("sources") is null && top.Entry("pipelines") is null)
        {
            problems.Add("(file)", mapping, "a definition declares sources, pipelines or both; this one has neither");
        }
        else if (!options.StoredDefinition && DeclaresNone(top.Entry("sources")) && DeclaresNone(top.Entry("pipelines")))
        {
            // Applied, it would stop every source and pipeline: that is what datamesh delete is for.
            problems.Add("(file)", mapping, "a definition declares sources, pipelines or both; this one's lists are empty (to stop everything, use datamesh delete)");
        }

        if (options.SchemaStore is { } store)
        {
            await CheckSchemasAsync(store, options.RequireSchemas, pipelines, sources, problems, cancellationToken).ConfigureAwait(false);
        }

        var result = problems.Result();
        return result.Count > 0
            ? new DefinitionValidation(null, result)
            : new DefinitionValidation(new DataMeshDefinition([.. sources.Select(s => s.Definition)], [.. pipelines.Select(p => p.Definition)], settings), result)
            {
                Parts = new DefinitionParts(
                    sources.ToDictionary(s => s.Definition.Name, s => (s.Type, s.Options), StringComparer.Ordinal),
                    pipelines.ToDictionary(p => p.Definition.Name, p => (IReadOnlyList<Transform>)[.. p.Transforms.Select(t => t.Transform)], StringComparer.Ordinal),
                    pipelines.Where(p => p.TableSink is not null).ToDictionary(p => p.Definition.Name, p => p.TableSink!.Value, StringComparer.Ordinal),
                    [.. secrets.LiteralSecrets],
                    problems.Secrets),
            };
    }

    /// <summary>Whether a top-level list is absent, null or empty.</summary>
    private static bool DeclaresNone(MappingEntry? entry) =>
        entry is null || entry.Value is ScalarNode { IsNull: true } || entry.Value is SequenceNode { Items.Count: 0 };

    /// <summary>Writes every scalar under <paramref name="node"/> to <paramref name="flat"/> by its path (<c>a:b:0</c>), as written.</summary>
    internal static void Flatten(DefinitionNode node, string prefix, Dictionary<string, string> flat)
    {
        switch (node)
        {
            case ScalarNode scalar:
                flat[prefix] = scalar.IsNull ? string.Empty : scalar.Text;
                break;
            case SequenceNode sequence:
                for (var i = 0; i < sequence.Items.Count; i++)
                {
                    Flatten(sequence.Items[i], string.Create(CultureInfo.InvariantCulture, $"{prefix}:{i}"), flat);
                }

                break;
            case MappingNode map:
                foreach (var entry in map.Entries)
                {
                    Flatten(entry.Value, prefix.Length == 0 ? entry.Key : prefix + ":" + entry.Key, flat);
                }

                break;
        }
    }

    private static DefinitionSettings ReadSettings(FieldReader top, ProblemList problems, SecretReferences secrets)
    {
        var defaults = DefinitionSettings.Default;
        if (top.Entry("settings") is not { } entry || entry.Value is ScalarNode { IsNull: true })
        {
            return defaults;
        }

        if (entry.Value is not MappingNode mapping)
        {
            problems.Add("settings", entry.Value, $"must be a mapping of {string.Join(", ", SettingsFields)}, not {entry.Value.Describe()}");
            return defaults;
        }

        var reader = new FieldReader(mapping, "settings", "settings", SettingsFields, problems, secrets);
        var prefix = reader.String("topic_prefix") ?? defaults.TopicPrefix;
        if (prefix.Length > 0 && !TopicNames.IsValid(prefix, out var reason))
        {
            problems.Add("settings.topic_prefix", reader.Entry("topic_prefix")!.Value, $"'{prefix}' is not a valid topic prefix: {reason}");
        }

        TimeSpan? retention = null;
        if (reader.Entry("retention")?.Value is ScalarNode { Text: "infinite" })
        {
            retention = Timeout.InfiniteTimeSpan;
        }
        else if (reader.Value<TimeSpan>("retention") is { } given)
        {
            retention = given;
            if (given <= TimeSpan.Zero)
            {
                problems.Add("settings.retention", reader.Entry("retention")!.Value, "must be a positive duration, or infinite");
            }
        }

        return new DefinitionSettings(
            prefix,
            reader.Number("topic_partitions", 1, 10_000) ?? defaults.TopicPartitions,
            reader.Value<bool>("compaction") ?? defaults.Compaction,
            retention,
            reader.Value<CompatibilityLevel>("compatibility"));
    }

    private static List<ReadSource> ReadSources(FieldReader top, DefinitionSettings settings, DefinitionValidationOptions options, ProblemList problems, SecretReferences secrets)
    {
        var read = new List<ReadSource>();
        if (Items(top, "sources", "a list of sources", problems) is not { } items)
        {
            return read;
        }

        var names = new Dictionary<string, string>(StringComparer.Ordinal);
        var held = new Dictionary<string, string>(StringComparer.Ordinal);
        for (var i = 0; i < items.Count; i++)
        {
            var path = string.Create(CultureInfo.InvariantCulture, $"sources[{i}]");
            if (items[i] is not MappingNode mapping)
            {
                problems.Add(path, items[i], $"a source is a mapping of name, type and its settings, not {items[i].Describe()}");
                continue;
            }

            var name = ReadName(mapping, path, "source", SourceName(), names, problems);
            var type = ReadType(mapping, path, problems);
            var sourceType = type is null ? null : options.SourceTypes.FirstOrDefault(t => t.Name == type);
            var sourceOptions = sourceType?.CreateOptions() ?? new UncheckedSourceOptions();
            // A runner runs many components: by default a fatal error fails this source (reported "failed") and the runner
            // goes on; on_fatal_error: stop_host stops the runner's process instead, as for a host's own source.
            sourceOptions.OnFatalError = FatalErrorPolicy.StopSource;
            var binder = new OptionsBinder(problems, secrets);
            binder.Bind(sourceOptions, mapping, path, ["name", "type"], $"a {type ?? "source"} source", reportUnknown: sourceType is not null);
            if (name is not null && type is not null)
            {
                try
                {
                    foreach (var message in sourceOptions.Validate(name))
                    {
                        binder.Report(message, name, path, mapping);
                    }
                }
                catch (Exception ex) when (ex is not OperationCanceledException)
                {
                    problems.Add(path, mapping, $"the settings could not be checked: {ex.Message}");
                }
            }

            var flat = new Dictionary<string, string>(StringComparer.Ordinal);
            foreach (var entry in mapping.Entries.Where(e => e.Key is not ("name" or "type")))
            {
                Flatten(entry.Value, entry.Key, flat);
            }

            // Checked for a definition being applied, not for one applied before (a runner reading it), which ran as it is.
            if (name is not null && type is not null && !options.StoredDefinition)
            {
                foreach (var (setting, resource) in sourceOptions.ExclusiveResources(name))
                {
                    if (!held.TryAdd(resource, name))
                    {
                        problems.Add($"{path}.{setting}", mapping.Find(setting)?.Value ?? mapping,
                            $"source '{name}' would use the {resource}, as source '{held[resource]}' does: two sources cannot share it (one would take over or end the other's stream, and changes would be lost). Set {setting} to another value.");
                    }
                }
            }

            if (name is not null)
            {
                var definition = new SourceDefinition(name, type ?? string.Empty, [.. sourceOptions.IncludeTables], [.. sourceOptions.ExcludeTables],
                    sourceOptions.Snapshot?.Initial ?? InitialSnapshot.WhenNoPosition, flat);
                read.Add(new ReadSource(definition, sourceType, sourceOptions, sourceOptions.Events?.TopicPrefix ?? settings.TopicPrefix));
            }
        }

        return read;
    }

    private static string? ReadType(MappingNode mapping, string path, ProblemList problems)
    {
        if (mapping.Find("type") is not { } entry)
        {
            problems.Add(path + ".type", mapping, $"is required: one of {string.Join(", ", SourceTypeNames)}");
            return null;
        }

        if (entry.Value is not ScalarNode { IsNull: false } scalar)
        {
            problems.Add(path + ".type", entry.Value, $"must be one of {string.Join(", ", SourceTypeNames)}, not {entry.Value.Describe()}");
            return null;
        }

        if (!SourceTypeNames.Contains(scalar.Text))
        {
            problems.Add(path + ".type", scalar,
                $"there is no source type '{scalar.Text}'{NearestName.Hint(scalar.Text, SourceTypeNames)} (the types: {string.Join(", ", SourceTypeNames)})");
            return null;
        }

        return scalar.Text;
    }

    private static string? ReadName(MappingNode mapping, string path, string what, Regex pattern, Dictionary<string, string> names, ProblemList problems)
    {
        if (mapping.Find("name") is not { } entry)
        {
            problems.Add(path + ".name", mapping, $"is required: every {what} has a name, unique in the file");
            return null;
        }

        if (entry.Value is not ScalarNode { IsNull: false } scalar || scalar.Text.Length == 0)
        {
            problems.Add(path + ".name", entry.Value, $"must be a name, not {(entry.Value is ScalarNode { IsNull: false } ? "empty" : entry.Value.Describe())}");
            return null;
        }

        if (!pattern.IsMatch(scalar.Text))
        {
            problems.Add(path + ".name", scalar, what == "source"
                ? $"'{scalar.Text}' is not a valid source name: letters, digits, _ and -, starting with a letter or digit, at most 100 characters (it is part of topic names)"
                : $"'{scalar.Text}' is not a valid pipeline name: letters, digits, _, - and ., starting with a letter or digit, at most 200 characters");
            return null;
        }

        if (names.TryGetValue(scalar.Text, out var first))
        {
            problems.Add(path + ".name", scalar, $"another {what} is named '{scalar.Text}' ({first}); {what} names are unique");
            return null;
        }

        names[scalar.Text] = $"{path} at line {scalar.Line.ToString(CultureInfo.InvariantCulture)}";
        return scalar.Text;
    }

    private static IReadOnlyList<DefinitionNode>? Items(FieldReader top, string key, string what, ProblemList problems)
    {
        if (top.Entry(key) is not { } entry || entry.Value is ScalarNode { IsNull: true })
        {
            return null;
        }

        if (entry.Value is not SequenceNode sequence)
        {
            problems.Add(key, entry.Value, $"must be {what}, not {entry.Value.Describe()}");
            return null;
        }

        return sequence.Items;
    }

    private static List<ReadPipeline> ReadPipelines(FieldReader top, List<ReadSource> sources, DefinitionValidationOptions options, ProblemList problems, SecretReferences secrets)
    {
        var read = new List<ReadPipeline>();
        if (Items(top, "pipelines", "a list of pipelines", problems) is not { } items)
        {
            return read;
        }

        var names = new Dictionary<string, string>(StringComparer.Ordinal);
        var groups = new Dictionary<string, string>(StringComparer.Ordinal);
        for (var i = 0; i < items.Count; i++)
        {
            var path = string.Create(CultureInfo.InvariantCulture, $"pipelines[{i}]");
            if (items[i] is not MappingNode mapping)
            {
                problems.Add(path, items[i], $"a pipeline is a mapping of name, source and tables (or source_topics), transforms and sink, not {items[i].Describe()}");
                continue;
            }

            var before = problems.Count;
            var reader = new FieldReader(mapping, path, "a pipeline", PipelineFields, problems, secrets);
            var name = ReadName(mapping, path, "pipeline", PipelineName(), names, problems);
            var (source, tables, topics) = ReadInputs(reader, sources, problems);
            var transforms = ReadTransforms(reader, problems, secrets);
            var (sink, tableSink) = ReadSink(reader, options, sources, problems, secrets);
            var workers = reader.Number("workers", 1, 1024);
            var maxBatchSize = reader.Number("max_batch_size", 1);
            var sinkRetries = reader.Number("sink_retries", 0);
            var commitInterval = reader.Value<TimeSpan>("commit_interval");
            if (commitInterval is { } interval && interval <= TimeSpan.Zero)
            {
                problems.Add(reader.PathOf("commit_interval"), reader.Entry("commit_interval")!.Value, "must be a positive duration");
            }

            var sessionTimeout = reader.Value<TimeSpan>("session_timeout");
            if (sessionTimeout is { } session && (session < PipelineOptions.MinSessionTimeout || session > PipelineOptions.MaxSessionTimeout))
            {
                problems.Add(reader.PathOf("session_timeout"), reader.Entry("session_timeout")!.Value, "must be from 6s to 5m (brokers refuse a shorter session unless their group.min.session.timeout.ms allows it; a longer one needs more than librdkafka's max.poll.interval.ms)");
            }

            var onError = reader.Value<ErrorHandling>("on_error") ?? ErrorHandling.DeadLetter;
            var groupId = reader.String("group_id");
            if (name is not null && !options.StoredDefinition && PipelineOptions.GroupOf(name, groupId) is var group && !groups.TryAdd(group, name))
            {
                // Members of one group share its partitions: each pipeline would see only some of the records of a topic
                // both read, and commit the others' offsets.
                problems.Add(reader.PathOf("group_id"), reader.Entry("group_id")?.Value ?? mapping,
                    $"pipeline '{name}' would join consumer group '{group}', as pipeline '{groups[group]}' does: each would read only part of the records. Give each pipeline its own group_id (or none).");
            }
            var deadLetterTopic = reader.String("dead_letter_topic");
            if (deadLetterTopic is not null)
            {
                var node = reader.Entry("dead_letter_topic")!.Value;
                if (!TopicNames.IsValid(deadLetterTopic, out var reason))
                {
                    problems.Add(reader.PathOf("dead_letter_topic"), node, TopicProblem(deadLetterTopic, reason));
                }
                else if (topics.Any(t => t.Topic == deadLetterTopic) || deadLetterTopic == sink?.Topic)
                {
                    problems.Add(reader.PathOf("dead_letter_topic"), node, $"'{deadLetterTopic}' is a topic the pipeline reads or writes; dead letters need a topic of their own");
                }
            }

            if (name is null || sink is null || problems.Count > before)
            {
                continue;
            }

            if (sink.Kind == SinkKind.Kafka)
            {
                var pipelineOptions = new PipelineOptions
                {
                    Name = name,
                    TargetTopic = sink.Topic,
                    GroupId = groupId,
                    DeadLetterTopic = deadLetterTopic,
                    OnError = onError,
                };
                foreach (var topic in topics)
                {
                    pipelineOptions.SourceTopics.Add(topic.Topic);
                }

                try
                {
                    pipelineOptions.Validate();
                }
                catch (ArgumentException ex)
                {
                    problems.Add(path, mapping, ex.Message);
                    continue;
                }
            }

            var definition = new PipelineDefinition(name, source, tables, [.. topics.Select(t => t.Topic)], [.. transforms.Select(t => t.Definition)], sink,
                workers, groupId, onError, deadLetterTopic, maxBatchSize, sinkRetries, commitInterval, sessionTimeout);
            read.Add(new ReadPipeline(definition, topics, transforms, tableSink));
        }

        return read;
    }

    private static (string? Source, List<string> Tables, List<InputTopic> Topics) ReadInputs(FieldReader reader, List<ReadSource> sources, ProblemList problems)
    {
        var sourceName = reader.String("source");
        var tables = reader.Strings("tables");
        var sourceTopics = reader.Strings("source_topics");
        var topics = new List<InputTopic>();
        var tableNames = new List<string>();
        if (sourceName is not null)
        {
            var source = sources.FirstOrDefault(s => s.Definition.Name == sourceName);
            if (source is null)
            {
                var known = sources.Select(s => s.Definition.Name).ToArray();
                var hint = NearestName.Hint(sourceName, known);
                problems.Add(reader.PathOf("source"), reader.Entry("source")!.Value, $"no source is named '{sourceName}'" + (hint.Length > 0 ? hint
                    : known.Length > 0 ? $" (the sources: {string.Join(", ", known)})" : " (the file declares no source)"));
            }

            if (sourceTopics is not null)
            {
                problems.Add(reader.PathOf("source_topics"), reader.Entry("source_topics")!.Value,
                    "a pipeline reads either a source's tables ('source' with 'tables') or 'source_topics', not both");
            }

            if (tables is null)
            {
                reader.Missing("tables", "is required with 'source': the source's tables the pipeline reads, as schema.table");
            }
            else if (tables.Count == 0 && reader.Entry("tables")!.Value is SequenceNode { Items.Count: 0 })
            {
                problems.Add(reader.PathOf("tables"), reader.Entry("tables")!.Value, "must name at least one table, as schema.table");
            }

            foreach (var (table, node, path) in tables ?? [])
            {
                if (TableFilter.Check(table) is { } reason || table.IndexOfAny(['*', '?']) >= 0)
                {
                    problems.Add(path, node, $"'{table}' must name one table as schema.table (MySQL: database.table), without wildcards");
                    continue;
                }

                tableNames.Add(table);
                if (source is null)
                {
                    continue;
                }

                var dot = table.IndexOf('.', StringComparison.Ordinal);
                var (schema, name) = (table[..dot], table[(dot + 1)..]);
                if (!new TableFilter(source.Options, []).Captures(schema, name))
                {
                    var named = source.Definition.IncludeTables.Where(t => t.IndexOfAny(['*', '?']) < 0).ToArray();
                    var hint = NearestName.Hint(table, named);
                    problems.Add(path, node, $"source '{source.Definition.Name}' does not capture '{table}'" + (hint.Length > 0 ? hint
                        : $" (its include_tables: {string.Join(", ", source.Definition.IncludeTables)}; exclude_tables: {string.Join(", ", source.Definition.ExcludeTables)})"));
                    continue;
                }

                topics.Add(new InputTopic(TopicNames.ForTable(source.TopicPrefix, source.Definition.Name, schema, name), path, node, source, table));
            }
        }
        else if (sourceTopics is not null)
        {
            if (tables is not null)
            {
                problems.Add(reader.PathOf("tables"), reader.Entry("tables")!.Value, "'tables' names tables of a 'source', and this pipeline names none; name its source, or read 'source_topics' alone");
            }

            if (sourceTopics.Count == 0 && reader.Entry("source_topics")!.Value is SequenceNode { Items.Count: 0 })
            {
                problems.Add(reader.PathOf("source_topics"), reader.Entry("source_topics")!.Value, "must name at least one topic");
            }

            foreach (var (topic, node, path) in sourceTopics)
            {
                if (!TopicNames.IsValid(topic, out var reason))
                {
                    problems.Add(path, node, TopicProblem(topic, reason));
                    continue;
                }

                topics.Add(new InputTopic(topic, path, node, null, null));
            }
        }
        else if (reader.Entry("source") is null && reader.Entry("source_topics") is null)
        {
            reader.Missing("source", "is required: a pipeline reads a source's tables ('source' with 'tables') or 'source_topics'");
        }

        return (sourceName, tableNames, topics);
    }

    private static List<ReadTransform> ReadTransforms(FieldReader reader, ProblemList problems, SecretReferences secrets)
    {
        var transforms = new List<ReadTransform>();
        if (reader.Entry("transforms") is not { } entry || entry.Value is ScalarNode { IsNull: true })
        {
            return transforms;
        }

        if (entry.Value is not SequenceNode sequence)
        {
            problems.Add(reader.PathOf("transforms"), entry.Value, $"must be a list of transforms, not {entry.Value.Describe()}");
            return transforms;
        }

        for (var i = 0; i < sequence.Items.Count; i++)
        {
            var path = string.Create(CultureInfo.InvariantCulture, $"{reader.PathOf("transforms")}[{i}]");
            var before = problems.Count;
            var read = TransformDefinitions.Read(sequence.Items[i], path, problems, secrets);
            if (read is null && problems.Count == before)
            {
                // Never dropped in silence: a pipeline without one of its transforms (a mask) would pass data it should not.
                problems.Add(path, sequence.Items[i], "could not be read as a transform");
            }

            if (read is { } transform)
            {
                if (transform.Definition.Kind == "outbox_router" && i < sequence.Items.Count - 1)
                {
                    problems.Add(transform.Path, sequence.Items[i], "outbox_router must be the last transform of a pipeline: it emits the records its outbox rows hold, which no transform reads");
                }

                transforms.Add(transform);
            }
        }

        return transforms;
    }

    private static (SinkDefinition? Sink, (ISinkType Type, object Options)? Table) ReadSink(FieldReader reader, DefinitionValidationOptions options, List<ReadSource> sources, ProblemList problems, SecretReferences secrets)
    {
        string[] sinkKinds = [.. SinkKinds, .. options.SinkTypes.Select(t => t.Name)];
        string[] described = ["kafka: {topic: ...}", "json_lines: {path: ...}", .. options.SinkTypes.Select(t => t.Name + ": {...}")];
        var kinds = string.Join(", ", described[..^1]) + " or " + described[^1];
        if (reader.Entry("sink") is not { } entry || entry.Value is ScalarNode { IsNull: true })
        {
            reader.Missing("sink", $"is required: {kinds}");
            return (null, null);
        }

        var path = reader.PathOf("sink");
        if (entry.Value is not MappingNode { Entries.Count: 1 } mapping)
        {
            problems.Add(path, entry.Value, entry.Value is MappingNode { Entries.Count: > 1 }
                ? $"a pipeline has one sink; this one names {string.Join(" and ", ((MappingNode)entry.Value).Entries.Select(e => e.Key))}"
                : $"must be {kinds}, not {entry.Value.Describe()}");
            return (null, null);
        }

        var kind = mapping.Entries[0];
        var kindPath = path + "." + kind.Key;
        if (!sinkKinds.Contains(kind.Key))
        {
            problems.Add(kindPath, kind.Line, kind.Column, $"there is no sink '{kind.Key}'{NearestName.Hint(kind.Key, sinkKinds)} (the sinks: {string.Join(", ", sinkKinds)})");
            return (null, null);
        }

        if (kind.Value is not MappingNode settings)
        {
            problems.Add(kindPath, kind.Value, $"must be a mapping of the sink's settings ({(kind.Key == "kafka" ? "topic, partitions" : kind.Key == "json_lines" ? "path" : "connection_string, table ...")}), not {kind.Value.Describe()}");
            return (null, null);
        }

        if (options.SinkTypes.FirstOrDefault(t => t.Name == kind.Key) is { } sinkType)
        {
            var sinkOptions = sinkType.CreateOptions();
            var binder = new OptionsBinder(problems, secrets);
            var before = problems.Count;
            binder.Bind(sinkOptions, settings, kindPath, [], $"the {kind.Key} sink");
            if (problems.Count == before)
            {
                foreach (var message in sinkType.Validate(sinkOptions))
                {
                    binder.Report(message, kind.Key, kindPath, settings);
                }
            }

            var flat = new Dictionary<string, string>(StringComparer.Ordinal);
            Flatten(settings, string.Empty, flat);
            return (new SinkDefinition(SinkKind.Table, null, null, null) { Type = kind.Key, Settings = flat }, (sinkType, sinkOptions));
        }

        if (kind.Key == "kafka")
        {
            var kafka = new FieldReader(settings, kindPath, "the kafka sink", ["topic", "partitions"], problems, secrets);
            var topic = kafka.String("topic", "is required: the topic records are written to");
            if (topic is not null && !TopicNames.IsValid(topic, out var reason))
            {
                problems.Add(kafka.PathOf("topic"), kafka.Entry("topic")!.Value, TopicProblem(topic, reason));
            }
            else if (topic is not null && !options.StoredDefinition)
            {
                // New definitions only: a stored one (applied before this check) is still read, run and deleted.
                foreach (var source in sources)
                {
                    if (TopicNames.IsOfSource(topic, source.TopicPrefix, source.Definition.Name, out var space))
                    {
                        problems.Add(kafka.PathOf("topic"), kafka.Entry("topic")!.Value,
                            $"'{topic}' is among the topics of source '{source.Definition.Name}' ({space}<schema>.<table>): the pipeline's records would be mixed with the source's change events (and a table the source captures later could have that very topic). Give the pipeline a topic of its own.");
                        break;
                    }
                }
            }

            return (new SinkDefinition(SinkKind.Kafka, topic, kafka.Number("partitions", 1, 10_000), null), null);
        }

        var jsonLines = new FieldReader(settings, kindPath, "the json_lines sink", ["path"], problems, secrets);
        var file = jsonLines.String("path", "is required: the file the records are appended to, or a template with {topic}");
        if (file is not null)
        {
            try
            {
                new JsonLinesSinkOptions { Path = file }.Validate();
            }
            catch (ArgumentException ex)
            {
                problems.Add(jsonLines.PathOf("path"), jsonLines.Entry("path")!.Value, ex.Message);
            }
        }

        return (new SinkDefinition(SinkKind.JsonLines, null, null, file), null);
    }

    private static async ValueTask CheckSchemasAsync(ISchemaStore store, bool requireSchemas, List<ReadPipeline> pipelines, List<ReadSource> sources, ProblemList problems, CancellationToken cancellationToken)
    {
        IReadOnlyList<string>? subjects = null;
        // Without RequireSchemas (the controller), a topic another pipeline of the definition writes is not checked: its
        // registered schema is that pipeline's output as it was, and the definition may be changing it.
        var written = requireSchemas ? [] : pipelines.Where(p => p.Definition.Sink.Kind == SinkKind.Kafka).Select(p => p.Definition.Sink.Topic).ToHashSet(StringComparer.Ordinal);
        foreach (var pipeline in pipelines)
        {
            foreach (var input in pipeline.Topics)
            {
                if (written.Contains(input.Topic))
                {
                    continue;
                }

                var latest = await store.GetLatestAsync(TopicNames.ValueSubject(input.Topic), cancellationToken).ConfigureAwait(false);
                if (latest is null && !requireSchemas)
                {
                    continue;
                }

                if (latest is null)
                {
                    subjects ??= await store.GetSubjectsAsync(cancellationToken).ConfigureAwait(false);
                    var topicsWithSchemas = subjects.Where(s => s.EndsWith("-value", StringComparison.Ordinal)).Select(s => s[..^"-value".Length]).ToArray();
                    string hint;
                    if (input.Source is { } source)
                    {
                        var sourcePrefix = TopicNames.ForSource(source.TopicPrefix, source.Definition.Name);
                        hint = NearestName.Hint(input.Table!, topicsWithSchemas.Where(t => t.StartsWith(sourcePrefix, StringComparison.Ordinal)).Select(t => t[sourcePrefix.Length..]));
                    }
                    else
                    {
                        hint = NearestName.Hint(input.Topic, topicsWithSchemas);
                    }

                    problems.Add(input.Path, input.Node, $"no value schema is registered for topic '{input.Topic}' (subject {TopicNames.ValueSubject(input.Topic)}){hint}");
                    continue;
                }

                if (latest.Schema is not global::Avro.RecordSchema schema)
                {
                    continue;
                }

                // Every transform's problem at once: one that cannot be planned is passed over (the next is planned on its
                // input), so a second typo shows beside the first.
                foreach (var transform in pipeline.Transforms)
                {
                    try
                    {
                        schema = transform.Transform.Plan(schema).OutputSchema;
                    }
                    catch (FilterExpressionException ex) when (transform.Node is ScalarNode expression)
                    {
                        TransformDefinitions.AddFilterProblem(problems, transform.Path, expression, ex, $", in the schema of {input.Topic}");
                    }
                    catch (TransformPlanException ex)
                    {
                        problems.Add(transform.Path, transform.Node, $"{ex.Message.TrimEnd('.')} (in the schema of {input.Topic})");
                    }
                }
            }
        }
    }

    private static string TopicProblem(string topic, string? reason) =>
        reason is not null && reason.Contains(" is not a valid topic name", StringComparison.Ordinal) ? reason : $"'{topic}' is not a valid topic name: {reason}";

    [GeneratedRegex(@"^[A-Za-z0-9][A-Za-z0-9_-]{0,99}$", RegexOptions.CultureInvariant)]
    private static partial Regex SourceName();

    [GeneratedRegex(@"^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$", RegexOptions.CultureInvariant)]
    private static partial Regex PipelineName();

    /// <summary>A source read from the file, with the options its settings were bound to.</summary>
    private sealed record ReadSource(SourceDefinition Definition, ISourceType? Type, SourceOptions Options, string TopicPrefix);

    /// <summary>A topic a pipeline reads, and where the file names it.</summary>
    private sealed record InputTopic(string Topic, string Path, DefinitionNode Node, ReadSource? Source, string? Table);

    private sealed record ReadPipeline(PipelineDefinition Definition, List<InputTopic> Topics, List<ReadTransform> Transforms, (ISinkType Type, object Options)? TableSink);

    /// <summary>The options of a source type that no <see cref="ISourceType"/> was given for: the settings every source has.</summary>
    private sealed class UncheckedSourceOptions : SourceOptions;
}
