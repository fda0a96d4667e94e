using System.Diagnostics;
using System.Globalization;
using Confluent.Kafka;
using Confluent.Kafka.Admin;
using DataMesh.ControlPlane.Controller;
using DataMesh.ControlPlane.Definitions;
using DataMesh.Events;
using DataMesh.Hosting;
using DataMesh.Schemas;
using DataMesh.Sources;

namespace DataMesh;

/// <summary>
/// The control plane's controller: plans what a definition needs against what exists, applies it as the smallest change,
/// and records what runners run (pause, resume, snapshot, delete) in its state topic, which every runner
/// (<c>datamesh run</c>) watches. It holds no state of its own: any number of controllers (CLI invocations, the HTTP API)
/// can act on one cluster, and a controller killed in the middle of an apply leaves what it created, which the next
/// apply finds and keeps. See <c>docs/definitions.md</c>.
/// </summary>
public sealed class DataMeshController : IDisposable
{
    private readonly KafkaConnection _kafka;
    private readonly ISchemaStore _schemas;
    private readonly DataMeshControllerOptions _options;
    private readonly ControllerStore _store;

    /// <summary>Creates a controller on a cluster and a schema store.</summary>
    /// <param name="kafka">The cluster holding the topics and the controller's state.</param>
    /// <param name="schemas">The schema store whose subjects' compatibility the settings set.</param>
    /// <param name="options">The controller's settings (the source types above all).</param>
    /// <exception cref="ArgumentException">A setting is invalid.</exception>
    public DataMeshController(KafkaConnection kafka, ISchemaStore schemas, DataMeshControllerOptions options)
    {
        ArgumentNullException.ThrowIfNull(kafka);
        ArgumentNullException.ThrowIfNull(schemas);
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        _kafka = kafka;
        _schemas = schemas;
        _options = options;
        _store = new ControllerStore(kafka, options.StateTopic);
    }

    /// <summary>Computes what applying <paramref name="definitionText"/> would change, changing nothing.</summary>
    /// <param name="definitionText">A definition file's text (YAML or JSON).</param>
    /// <param name="cancellationToken">Cancels the plan.</param>
    /// <returns>The plan.</returns>
    /// <exception cref="DefinitionInvalidException">The definition has problems, or holds a secret written in the file.</exception>
    public async Task<DataMeshPlan> PlanAsync(string definitionText, CancellationToken cancellationToken = default)
    {
        var definition = await AppliedDefinition.ReadAsync(definitionText, _options, cancellationToken, _schemas).ConfigureAwait(false);
        var state = await _store.ReadAsync(cancellationToken).ConfigureAwait(false);
        var (plan, _) = await PlanAsync(definition, state, cancellationToken).ConfigureAwait(false);
        return plan;
    }

    /// <summary>
    /// Applies <paramref name="definitionText"/>: creates and updates the resources the plan lists, then records the
    /// definition, upon which runners start what is new, restart what changed and stop what is gone; what is unchanged is
    /// not touched. Safe to repeat: a second apply of the same file changes nothing.
    /// </summary>
    /// <param name="definitionText">A definition file's text.</param>
    /// <param name="progress">Told each change as it is made, or null.</param>
    /// <param name="cancellationToken">Cancels the apply; what was done is kept, and the next apply finds it.</param>
    /// <returns>The plan that was applied.</returns>
    /// <exception cref="DefinitionInvalidException">The definition has problems, or holds a secret written in the file.</exception>
    public async Task<DataMeshPlan> ApplyAsync(string definitionText, IProgress<PlanChange>? progress = null, CancellationToken cancellationToken = default)
    {
        AppliedDefinition definition;
        try
        {
            definition = await AppliedDefinition.ReadAsync(definitionText, _options, cancellationToken, _schemas).ConfigureAwait(false);
        }
        catch (DefinitionInvalidException)
        {
            ControlPlaneMetrics.Applied(_options.StateTopic, "refused");
            throw;
        }

        var state = await _store.ReadAsync(cancellationToken).ConfigureAwait(false);
        var (plan, steps) = await PlanAsync(definition, state, cancellationToken).ConfigureAwait(false);
        foreach (var (change, execute) in steps)
        {
            cancellationToken.ThrowIfCancellationRequested();
            if (execute is not null)
            {
                try
                {
                    await execute(cancellationToken).ConfigureAwait(false);
                }
                catch (KafkaException ex)
                {
                    throw new InvalidOperationException(
                        $"Apply stopped at '{change}': Kafka answered {ex.Error.Reason}. The changes listed before it were made and the definition was not stored; apply again once Kafka can make this change.", ex);
                }
            }

            progress?.Report(change);
        }

        var unchanged = state.Definition is { } applied && applied.Text == definition.Text;
        if (!unchanged)
        {
            var record = new DefinitionRecord(plan.Generation, DateTimeOffset.UtcNow, definition.Text, definition.Components.ToDictionary(c => c.Key, c => c.Hash, StringComparer.Ordinal));
            await _store.WriteAsync(ControllerStore.DefinitionKey, record, cancellationToken).ConfigureAwait(false);
        }

        ControlPlaneMetrics.Applied(_options.StateTopic, unchanged ? "unchanged" : "applied");
        return plan;
    }

    /// <summary>What a source of the applied definition <paramref name="text"/> left in its database and how to remove it,
    /// with the names its own settings give (a slot or publication named in the file, or the defaults from its name);
    /// null when the source leaves nothing or cannot be read.</summary>
    private string? LeftInDatabase(string text, string name) => AppliedSourceOptions(text, name)?.LeftInDatabase(name);

    /// <summary>The options of source <paramref name="name"/> of the applied definition <paramref name="text"/>, bound from
    /// its settings without resolving secrets (the names, patterns and flags a plan or request needs); null when the
    /// source is not there or its type unknown.</summary>
    private SourceOptions? AppliedSourceOptions(string text, string name)
    {
        try
        {
            if (DefinitionReader.Read(text) is not MappingNode top || top.Find("sources")?.Value is not SequenceNode sources)
            {
                return null;
            }

            foreach (var item in sources.Items.OfType<MappingNode>())
            {
                if (item.Find("name")?.Value is ScalarNode { Text: var itemName } && itemName == name
                    && item.Find("type")?.Value is ScalarNode { Text: var type } && _options.SourceTypes.FirstOrDefault(t => t.Name == type) is { } sourceType)
                {
                    var options = sourceType.CreateOptions();
                    var problems = new ProblemList();
                    var secrets = new SecretReferences(new DefinitionValidationOptions { Configuration = new Microsoft.Extensions.Configuration.ConfigurationBuilder().Build(), StoredDefinition = true }, problems);
                    new OptionsBinder(problems, secrets).Bind(options, item, "source", ["name", "type"], "a source", reportUnknown: false);
                    return options;
                }
            }
        }
        catch (Exception ex) when (ex is FormatException or InvalidOperationException or ArgumentException)
        {
            // A definition applied before always reads; should it not, the caller goes without.
        }

        return null;
    }

    /// <summary>Pauses sources or pipelines of the applied definition: runners stop them (a source's position and a
    /// pipeline's offsets are kept) until <see cref="ResumeAsync"/>.</summary>
    /// <param name="components">The components, as <c>source/NAME</c> or <c>pipeline/NAME</c>.</param>
    /// <param name="cancellationToken">Cancels the call.</param>
    /// <exception cref="ArgumentException">A component is not in the applied definition.</exception>
    public async Task PauseAsync(IEnumerable<string> components, CancellationToken cancellationToken = default)
    {
        foreach (var component in await KnownAsync(components, cancellationToken).ConfigureAwait(false))
        {
            await _store.WriteAsync("paused/" + component, new { paused_at = DateTimeOffset.UtcNow }, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>Resumes paused components, and restarts failed ones.</summary>
    /// <param name="components">The components, as <c>source/NAME</c> or <c>pipeline/NAME</c>.</param>
    /// <param name="cancellationToken">Cancels the call.</param>
    /// <exception cref="ArgumentException">A component is not in the applied definition.</exception>
    public async Task ResumeAsync(IEnumerable<string> components, CancellationToken cancellationToken = default)
    {
        foreach (var component in await KnownAsync(components, cancellationToken).ConfigureAwait(false))
        {
            await _store.WriteAsync("paused/" + component, null, cancellationToken).ConfigureAwait(false);
            await _store.WriteAsync("restart/" + component, new RestartRecord(Guid.NewGuid().ToString("n")), cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>Asks for a snapshot of a source's tables (all its tables when <paramref name="tables"/> is empty), after
    /// DBLog: the runner holding the source hands it to the source's snapshot engine, which interleaves it with the log.</summary>
    /// <param name="source">The source's name.</param>
    /// <param name="tables">The tables, as <c>schema.table</c>; empty for every captured table.</param>
    /// <param name="condition">A condition on the rows (SQL), or null for every row.</param>
    /// <param name="cancellationToken">Cancels the call.</param>
    /// <exception cref="SnapshotRequestException">A table name is not an exact <c>schema.table</c>.</exception>
    /// <exception cref="ArgumentException">The source is not in the applied definition.</exception>
    public async Task RequestSnapshotAsync(string source, IReadOnlyList<string> tables, string? condition = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(tables);
        foreach (var table in tables)
        {
            if (SnapshotEngine.NameProblem(table) is { } problem)
            {
                throw new SnapshotRequestException($"Table '{table}' cannot be snapshotted: it {problem}.");
            }
        }

        await KnownAsync([AppliedDefinition.SourceKey(source)], cancellationToken).ConfigureAwait(false);
        if ((await _store.ReadAsync(cancellationToken).ConfigureAwait(false)).Definition is { } applied && AppliedSourceOptions(applied.Text, source) is { } options)
        {
            // A table the source does not capture would be skipped by its runner, seen only in that runner's log.
            var filter = new TableFilter(options, []);
            foreach (var table in tables)
            {
                var dot = table.IndexOf('.', StringComparison.Ordinal);
                if (!filter.Captures(table[..dot], table[(dot + 1)..]))
                {
                    throw new SnapshotRequestException(
                        $"Table '{table}' cannot be snapshotted: source '{source}' does not capture it (include_tables: {(options.IncludeTables.Count == 0 ? "every table" : string.Join(", ", options.IncludeTables))}" +
                        $"{(options.ExcludeTables.Count > 0 ? "; exclude_tables: " + string.Join(", ", options.ExcludeTables) : string.Empty)}){NearestName.Hint(table, options.IncludeTables.Where(t => SnapshotEngine.NameProblem(t) is null))}");
                }
            }
        }

        var id = Guid.NewGuid().ToString("n");
        await _store.WriteAsync("snapshot/" + ControllerState.SnapshotKey(source, id), new SnapshotRequestRecord(id, [.. tables], condition, DateTimeOffset.UtcNow), cancellationToken)
            .ConfigureAwait(false);
    }

    /// <summary>
    /// Deletes the applied definition: every runner stops its sources and pipelines. With
    /// <paramref name="withResources"/>, also deletes the topics the definition named (table topics of exact tables, sink
    /// and dead-letter topics), the pipelines' consumer groups and the sources' stored positions, so that the same
    /// definition applied again starts from scratch, and what the sources made in their databases (a PostgreSQL slot,
    /// publication and event trigger; <see cref="ISourceType.DeleteResourcesAsync"/>).
    /// </summary>
    /// <param name="definitionText">The definition to delete; it must declare every component of the applied definition.</param>
    /// <param name="withResources">Whether to delete the resources too.</param>
    /// <param name="cancellationToken">Cancels the call.</param>
    /// <returns>What was deleted and kept, as a plan.</returns>
    /// <exception cref="InvalidOperationException">Nothing is applied, or the applied definition declares components the file does not.</exception>
    public async Task<DataMeshPlan> DeleteAsync(string definitionText, bool withResources, CancellationToken cancellationToken = default)
    {
        var definition = await AppliedDefinition.ReadAsync(definitionText, _options, cancellationToken).ConfigureAwait(false);
        var state = await _store.ReadAsync(cancellationToken).ConfigureAwait(false);
        if (state.Definition is not { } applied)
        {
            throw new InvalidOperationException($"Nothing is applied on this cluster (the state topic '{_options.StateTopic}' holds no definition).");
        }

        var others = applied.Components.Keys.Except(definition.Components.Select(c => c.Key)).ToList();
        if (others.Count > 0)
        {
            throw new InvalidOperationException(
                $"The applied definition also declares {string.Join(", ", others)}, which this file does not; apply a file without the components to stop, or delete with the applied file.");
        }

        var changes = new List<PlanChange>();
        var notes = new List<string>();
        await _store.WriteAsync(ControllerStore.DefinitionKey, null, cancellationToken).ConfigureAwait(false);
        foreach (var key in state.Paused.Select(p => "paused/" + p).Concat(state.Restarts.Keys.Select(r => "restart/" + r)).Concat(state.Snapshots.Keys.Select(s => "snapshot/" + s)))
        {
            await _store.WriteAsync(key, null, cancellationToken).ConfigureAwait(false);
        }

        changes.AddRange(definition.Components.Select(c => new PlanChange(PlanAction.Stop, c.Key[..c.Key.IndexOf('/', StringComparison.Ordinal)], c.Name, "stopped by every runner")));
        if (!withResources)
        {
            notes.Add("Topics, consumer groups and stored positions are kept; delete with --with-resources to remove them.");
            return Redacted(new DataMeshPlan(changes, notes, applied.Generation), definition);
        }

        // The resources of what is applied, once no runner runs it any more: a source still running would store its
        // position again, a producer would create a deleted topic again, and a group with members cannot be deleted.
        definition = await AppliedDefinition.ReadAsync(applied.Text, _options, cancellationToken, stored: true).ConfigureAwait(false);
        var started = Stopwatch.GetTimestamp();
        while (true)
        {
            var running = (await _store.ReadStatusAsync(cancellationToken).ConfigureAwait(false))
                .Where(r => applied.Components.ContainsKey(r.Component) && IsLive(r)).Select(r => $"{r.Component} on {r.Runner}").ToList();
            if (running.Count == 0)
            {
                break;
            }

            if (Stopwatch.GetElapsedTime(started) > StopWait)
            {
                notes.Add($"Runners still ran {string.Join(", ", running)} after {StopWait.TotalSeconds:0} s: topics, consumer groups and positions are kept; run delete --with-resources again once they stopped.");
                return Redacted(new DataMeshPlan(changes, notes, applied.Generation), definition);
            }

            await Task.Delay(_options.PollInterval, cancellationToken).ConfigureAwait(false);
        }

        var topics = new List<string>();
        using var positions = new PositionStore(_kafka);
        foreach (var source in definition.Definition.Sources)
        {
            topics.AddRange(definition.TableTopics(source));
            await positions.SaveAsync(source.Name, null, cancellationToken).ConfigureAwait(false);
            changes.Add(new PlanChange(PlanAction.Delete, "position", source.Name, "forgotten: the source starts from scratch if applied again"));
            var part = definition.Parts.Sources[source.Name];
            try
            {
                foreach (var resource in await part.Type!.DeleteResourcesAsync(source.Name, part.Options, cancellationToken).ConfigureAwait(false))
                {
                    changes.Add(new PlanChange(resource.Deleted ? PlanAction.Delete : PlanAction.Unchanged, resource.Kind, resource.Name, resource.Note));
                }
            }
            catch (Exception ex) when (ex is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
            {
                // The database away or the right missing: the rest of the delete goes on, and the plan says what is left.
                foreach (var resource in part.Type!.Resources(source.Name, part.Options))
                {
                    changes.Add(new PlanChange(PlanAction.Unchanged, resource.Kind, resource.Name, $"kept: could not be deleted ({ex.Message})"));
                }
            }
        }

        foreach (var pipeline in definition.Definition.Pipelines)
        {
            topics.AddRange(PipelineTopics(pipeline, definition).Select(t => t.Name));
        }

        var existing = await _kafka.ListTopicsAsync(cancellationToken).ConfigureAwait(false);
        topics = [.. topics.Distinct().Where(existing.ContainsKey)];
        var groups = definition.Definition.Pipelines.Select(GroupOf).ToList();
        // Asked first, as a plan does: a cluster that does not answer DescribeConfigs has no admin API (the embedded cluster
        // reached over TCP), and DeleteTopics would only wait out its timeout there.
        var adminless = !_kafka.IsEmbedded && (topics.Count > 0 || groups.Count > 0) &&
            !await AnswersAdminApiAsync(topics.DefaultIfEmpty(existing.Keys.FirstOrDefault()).FirstOrDefault(), cancellationToken).ConfigureAwait(false);
        if (_kafka.IsEmbedded)
        {
            notes.Add("The embedded cluster cannot delete topics or consumer groups; they end with the process that hosts it.");
            changes.AddRange(topics.Select(t => new PlanChange(PlanAction.Unchanged, "topic", t, "kept (embedded cluster)")));
        }
        else if (adminless)
        {
            notes.Add($"Kafka at {_kafka.BootstrapServers} has no admin API (DescribeConfigs got no answer; the embedded cluster reached over TCP has none): " +
                "its topics and consumer groups are kept. Delete them with the cluster's own tools; an embedded cluster's end with the process that hosts it.");
            changes.AddRange(topics.Select(t => new PlanChange(PlanAction.Unchanged, "topic", t, "kept (no admin API)")));
            changes.AddRange(groups.Select(g => new PlanChange(PlanAction.Unchanged, "consumer group", g, "kept (no admin API)")));
        }
        else
        {
            if (topics.Count > 0)
            {
                await _kafka.Admin.DeleteTopicsAsync(topics, new DeleteTopicsOptions { RequestTimeout = _kafka.Options.RequestTimeout }).WaitAsync(cancellationToken).ConfigureAwait(false);
            }

            changes.AddRange(topics.Select(t => new PlanChange(PlanAction.Delete, "topic", t, string.Empty)));
            try
            {
                if (groups.Count > 0)
                {
                    await _kafka.Admin.DeleteGroupsAsync(groups, new DeleteGroupsOptions { RequestTimeout = _kafka.Options.RequestTimeout }).WaitAsync(cancellationToken).ConfigureAwait(false);
                }
            }
            catch (DeleteGroupsException ex) when (ex.Results.All(r => r.Error.Code is ErrorCode.NoError or ErrorCode.GroupIdNotFound))
            {
                // Groups never created: nothing to delete.
            }

            changes.AddRange(groups.Select(g => new PlanChange(PlanAction.Delete, "consumer group", g, string.Empty)));
        }

        return Redacted(new DataMeshPlan(changes, notes, applied.Generation), definition);
    }

    /// <summary>The state of every component of the applied definition: what is wanted (running or paused), what each
    /// runner reports (state, last error, snapshot progress) and, for pipelines, the consumer group's lag.</summary>
    /// <param name="cancellationToken">Cancels the call.</param>
    /// <returns>The status; <see cref="DataMeshStatus.Generation"/> 0 when nothing is applied.</returns>
    public async Task<DataMeshStatus> GetStatusAsync(CancellationToken cancellationToken = default)
    {
        var state = await _store.ReadAsync(cancellationToken).ConfigureAwait(false);
        var reports = await _store.ReadStatusAsync(cancellationToken).ConfigureAwait(false);
        if (state.Definition is not { } applied)
        {
            return new DataMeshStatus(0, null, []);
        }

        AppliedDefinition? definition = null;
        try
        {
            definition = await AppliedDefinition.ReadAsync(applied.Text, _options, cancellationToken, stored: true).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is DefinitionInvalidException or InvalidOperationException)
        {
            // A reference this process cannot resolve: the status is still known, the lag is not.
        }

        var existing = await _kafka.ListTopicsAsync(cancellationToken).ConfigureAwait(false);
        var components = new List<ComponentStatus>();
        foreach (var (key, hash) in applied.Components.OrderBy(c => c.Key, StringComparer.Ordinal))
        {
            var runners = reports.Where(r => r.Component == key)
                .Select(r => new RunnerReport(r.Runner, IsLive(r) ? r.State : "unreachable", IsLive(r) ? r.Message : $"no report since {r.UpdatedAt:u} (the runner ended without saying so)",
                    r.UpdatedAt, r.Hash == hash, r.Snapshot ?? [], r.Position, r.Tables ?? [], r.RecordsRead, r.DeadLettered))
                .OrderBy(r => r.Runner, StringComparer.Ordinal)
                .ToList();
            long? lag = null;
            if (definition?.Components.FirstOrDefault(c => c.Key == key)?.Pipeline is { } pipeline)
            {
                lag = await LagAsync(GroupOf(pipeline), pipeline.SourceTopics, existing, cancellationToken).ConfigureAwait(false);
            }

            components.Add(new ComponentStatus(key, state.Paused.Contains(key) ? "paused" : "running", runners, lag));
        }

        return new DataMeshStatus(applied.Generation, applied.AppliedAt, components);
    }

    /// <summary>The applied definition's text as it was applied (references such as <c>${env:NAME}</c> as written, never
    /// their values), or null when nothing is applied.</summary>
    /// <param name="cancellationToken">Cancels the call.</param>
    /// <returns>The applied definition, or null.</returns>
    public async Task<DataMeshAppliedDefinition?> GetAppliedDefinitionAsync(CancellationToken cancellationToken = default)
    {
        var state = await _store.ReadAsync(cancellationToken).ConfigureAwait(false);
        return state.Definition is { } applied ? new DataMeshAppliedDefinition(applied.Generation, applied.AppliedAt, applied.Text) : null;
    }

    /// <inheritdoc />
    public void Dispose() => _store.Dispose();

    /// <summary>How long a delete with resources waits for the runners to stop what it deletes (a pipeline drains for up to 30 s).</summary>
    private static readonly TimeSpan StopWait = TimeSpan.FromSeconds(60);

    /// <summary>Whether a runner's report is recent: runners report at least every <see cref="DataMeshControllerOptions.StatusInterval"/>.</summary>
    private bool IsLive(StatusRecord report) => DateTimeOffset.UtcNow - report.UpdatedAt <= 3 * _options.StatusInterval;

    private static string GroupOf(PipelineDefinition pipeline) => Pipelines.PipelineOptions.GroupOf(pipeline.Name, pipeline.GroupId);

    private static IEnumerable<(string Name, int Partitions, string Role)> PipelineTopics(PipelineDefinition pipeline, AppliedDefinition definition)
    {
        if (pipeline.Sink.Kind != SinkKind.Kafka)
        {
            if (pipeline.OnError == Pipelines.ErrorHandling.DeadLetter)
            {
                yield return (pipeline.DeadLetterTopic ?? pipeline.Name + ".dlq", definition.Definition.Settings.TopicPartitions, "dead letters of pipeline " + pipeline.Name);
            }

            yield break;
        }

        var partitions = pipeline.Sink.Partitions ?? definition.Definition.Settings.TopicPartitions;
        yield return (pipeline.Sink.Topic!, partitions, "sink of pipeline " + pipeline.Name);
        if (pipeline.OnError == Pipelines.ErrorHandling.DeadLetter)
        {
            yield return (pipeline.DeadLetterTopic ?? pipeline.Sink.Topic + ".dlq", partitions, "dead letters of pipeline " + pipeline.Name);
        }
    }

    private async Task<List<string>> KnownAsync(IEnumerable<string> components, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(components);
        var state = await _store.ReadAsync(cancellationToken).ConfigureAwait(false);
        var known = state.Definition?.Components.Keys.ToList() ?? [];
        var list = components.ToList();
        foreach (var component in list)
        {
            if (!known.Contains(component))
            {
                // The message is what the CLI and the API show: no parameter name, which would add "(Parameter 'components')".
                throw new ArgumentException(known.Count == 0
                    ? $"'{component}' is not applied: nothing is (apply a definition first)."
                    : $"'{component}' is not in the applied definition{NearestName.Hint(component, known)} (its components: {string.Join(", ", known)}).");
            }
        }

        return list;
    }

    private async Task<(DataMeshPlan Plan, List<(PlanChange Change, Func<CancellationToken, Task>? Execute)> Steps)> PlanAsync(
        AppliedDefinition definition, ControllerState state, CancellationToken cancellationToken)
    {
        var steps = new List<(PlanChange, Func<CancellationToken, Task>?)>();
        var notes = new List<string>();
        var settings = definition.Definition.Settings;
        var existing = await _kafka.ListTopicsAsync(cancellationToken).ConfigureAwait(false);
        var applied = state.Definition?.Components ?? [];
        var wanted = new List<(string Topic, int Partitions, Dictionary<string, string> Configs, string Role)>();
        List<StatusRecord>? reports = null;

        string? ComponentChange(Component component, out PlanAction action)
        {
            if (!applied.TryGetValue(component.Key, out var hash))
            {
                action = PlanAction.Create;
                return null;
            }

            action = hash == component.Hash ? PlanAction.Unchanged : PlanAction.Restart;
            return null;
        }

        foreach (var component in definition.Components)
        {
            ComponentChange(component, out var action);
            if (component.Source is { } source)
            {
                var (type, options) = definition.Parts.Sources[source.Name];
                var detail = action switch
                {
                    PlanAction.Create => $"{source.Type}, tables {Tables(source)}, initial snapshot {source.InitialSnapshot}",
                    PlanAction.Restart => "settings changed: this source restarts from its stored position; its pipelines are not touched; " +
                        $"a table it newly captures brings its changes from now on, not the rows it holds (for those: datamesh snapshot FILE --source {source.Name} --tables schema.table)",
                    _ => string.Empty,
                };
                steps.Add((new PlanChange(action, "source", source.Name, detail), null));
                foreach (var resource in type!.Resources(source.Name, options))
                {
                    steps.Add((new PlanChange(action == PlanAction.Create ? PlanAction.Create : PlanAction.Unchanged, resource.Kind, resource.Name, resource.Note), null));
                }

                var configs = new Dictionary<string, string>(StringComparer.Ordinal) { ["cleanup.policy"] = settings.Compaction ? "compact" : "delete" };
                if (settings.Retention is { } retention)
                {
                    configs["retention.ms"] = retention == Timeout.InfiniteTimeSpan ? "-1" : ((long)retention.TotalMilliseconds).ToString(CultureInfo.InvariantCulture);
                }

                foreach (var topic in definition.TableTopics(source))
                {
                    wanted.Add((topic, definition.TopicPartitions(source), configs, "table topic of source " + source.Name));
                }

                if (AppliedDefinition.MatchesByPattern(source))
                {
                    // What its patterns match is known once the source runs: the tables its runner registered (its latest
                    // live report) are planned like named ones; the rest the source creates as it finds them.
                    reports ??= await _store.ReadStatusAsync(cancellationToken).ConfigureAwait(false);
                    var registered = definition.RegisteredTableTopics(source, reports.Where(r => r.Component == component.Key && IsLive(r)).SelectMany(r => r.Tables ?? []));
                    foreach (var (table, topic) in registered)
                    {
                        wanted.Add((topic, definition.TopicPartitions(source), configs, $"table topic of source {source.Name} (table {table}, registered by its runner)"));
                    }

                    notes.Add(registered.Count > 0
                        ? $"Source {source.Name} captures tables by pattern ({Tables(source)}): the topics of the {registered.Count} table{(registered.Count == 1 ? string.Empty : "s")} its runner registered are planned; a table it matches later gets its topic from the source as the source finds it."
                        : $"Source {source.Name} captures tables by pattern ({Tables(source)}): no runner reports tables of it yet, so no topic of them is planned; the source creates each matched table's topic as it finds it.");
                }
            }
            else
            {
                var pipeline = component.Pipeline!;
                var detail = action switch
                {
                    PlanAction.Create => $"{string.Join(", ", pipeline.SourceTopics)} -> {string.Join(" -> ", pipeline.Transforms.Select(t => t.Description))}{(pipeline.Transforms.Count > 0 ? " -> " : string.Empty)}{Sink(pipeline.Sink)}",
                    PlanAction.Restart => "settings or transforms changed: this pipeline restarts from its group's committed offsets; its source is not touched (no new snapshot)",
                    _ => string.Empty,
                };
                steps.Add((new PlanChange(action, "pipeline", pipeline.Name, detail), null));
                steps.Add((new PlanChange(action == PlanAction.Create ? PlanAction.Create : PlanAction.Unchanged, "consumer group", GroupOf(pipeline), "joined by the runners of this pipeline"), null));
                var configs = new Dictionary<string, string>(StringComparer.Ordinal) { ["cleanup.policy"] = "delete" };
                if (settings.Retention is { } retention)
                {
                    configs["retention.ms"] = retention == Timeout.InfiniteTimeSpan ? "-1" : ((long)retention.TotalMilliseconds).ToString(CultureInfo.InvariantCulture);
                }

                foreach (var (topic, partitions, role) in PipelineTopics(pipeline, definition))
                {
                    wanted.Add((topic, partitions, configs, role));
                }
            }
        }

        foreach (var gone in applied.Keys.Except(definition.Components.Select(c => c.Key)).Order(StringComparer.Ordinal))
        {
            var slash = gone.IndexOf('/', StringComparison.Ordinal);
            var (kind, name) = (gone[..slash], gone[(slash + 1)..]);
            steps.Add((new PlanChange(PlanAction.Stop, kind, name, kind == "source"
                ? "no longer declared: runners stop it; its topics and position are kept" +
                  (LeftInDatabase(state.Definition!.Text, name) is { } left ? ", and so is what it made in its database: " + left : string.Empty)
                : "no longer declared: runners stop it; its topics and consumer group are kept (datamesh delete --with-resources on the applied definition removes them)"), null));
        }

        // Asked of the planned topics that exist, or of any topic: a cluster that does not answer has no admin API (the
        // embedded cluster reached over TCP), and the runners' sources and pipelines create their topics themselves.
        var toDescribe = wanted.Select(w => w.Topic).Where(existing.ContainsKey).DefaultIfEmpty(existing.Keys.FirstOrDefault()).OfType<string>();
        var (described, refused) = _kafka.IsEmbedded ? ([], null) : await DescribeConfigsAsync(toDescribe, cancellationToken).ConfigureAwait(false);
        var adminless = !_kafka.IsEmbedded && described is null;
        if (refused is not null)
        {
            notes.Add($"Kafka at {_kafka.BootstrapServers} refused DescribeConfigs ({refused}): the compaction and retention of the topics that exist are not checked.");
        }

        if (_kafka.IsEmbedded || adminless)
        {
            notes.Add(_kafka.IsEmbedded
                ? "The embedded cluster keeps no topic configuration: compaction and retention are planned but not applied there."
                : $"Kafka at {_kafka.BootstrapServers} has no admin API (DescribeConfigs got no answer; the embedded cluster reached over TCP has none): " +
                    "compaction and retention are not checked, and new topics are created by the runners' sources and pipelines as they start.");
            described ??= [];
        }

        foreach (var (topic, partitions, configs, role) in wanted.DistinctBy(w => w.Topic))
        {
            if (!existing.TryGetValue(topic, out var has))
            {
                steps.Add((new PlanChange(PlanAction.Create, "topic", topic, $"{role}; {partitions} partition{(partitions == 1 ? string.Empty : "s")}, {Describe(configs)}"),
                    adminless ? null : ct => _kafka.CreateTopicAsync(topic, partitions, _kafka.IsEmbedded ? null : configs, ct)));
                continue;
            }

            var differences = new List<string>();
            Func<CancellationToken, Task>? update = null;
            if (has < partitions)
            {
                differences.Add($"partitions {has} -> {partitions} (keys already written stay where they are: per-key order holds for new records only)");
                update = _kafka.IsEmbedded || adminless ? null : ct => _kafka.Admin.CreatePartitionsAsync([new PartitionsSpecification { Topic = topic, IncreaseTo = partitions }]).WaitAsync(ct);
                if (_kafka.IsEmbedded || adminless)
                {
                    // Reached over TCP, the embedded cluster answers no CreatePartitions either (the apply waited out its timeout).
                    notes.Add($"Topic '{topic}' has {has} partitions and cannot grow on {(adminless ? "a cluster without an admin API" : "the embedded cluster")}.");
                    differences.Clear();
                }
            }
            else if (has > partitions)
            {
                notes.Add($"Topic '{topic}' has {has} partitions, more than the {partitions} wanted; Kafka cannot remove partitions, so it keeps them.");
            }

            if (described!.TryGetValue(topic, out var current))
            {
                var alter = configs.Where(c => current.GetValueOrDefault(c.Key) != c.Value).ToList();
                if (alter.Count > 0)
                {
                    differences.AddRange(alter.Select(a => $"{a.Key} {current.GetValueOrDefault(a.Key) ?? "(unset)"} -> {a.Value}"));
                    var partitionUpdate = update;
                    update = async ct =>
                    {
                        if (partitionUpdate is not null)
                        {
                            await partitionUpdate(ct).ConfigureAwait(false);
                        }

                        await _kafka.Admin.IncrementalAlterConfigsAsync(new Dictionary<ConfigResource, List<ConfigEntry>>
                        {
                            [new ConfigResource { Type = ResourceType.Topic, Name = topic }] = [.. alter.Select(a => new ConfigEntry { Name = a.Key, Value = a.Value, IncrementalOperation = AlterConfigOpType.Set })],
                        }).WaitAsync(ct).ConfigureAwait(false);
                    };
                }
            }

            steps.Add((differences.Count == 0
                ? new PlanChange(PlanAction.Unchanged, "topic", topic, role)
                : new PlanChange(PlanAction.Update, "topic", topic, string.Join("; ", differences)), update));
        }

        if (settings.Compatibility is { } level)
        {
            foreach (var (topic, _, _, role) in wanted.Where(w => w.Role.StartsWith("table topic", StringComparison.Ordinal)))
            {
                foreach (var subject in new[] { TopicNames.KeySubject(topic), TopicNames.ValueSubject(topic) })
                {
                    var current = await _schemas.GetCompatibilityAsync(subject, cancellationToken).ConfigureAwait(false);
                    steps.Add(current == level
                        ? (new PlanChange(PlanAction.Unchanged, "subject", subject, "compatibility " + level), null)
                        : (new PlanChange(PlanAction.Update, "subject", subject, $"compatibility {current} -> {level}"),
                            ct => _schemas.SetCompatibilityAsync(subject, level, ct).AsTask()));
                }
            }
        }

        var generation = (state.Definition?.Generation ?? 0) + (state.Definition?.Text == definition.Text ? 0 : 1);
        // What a plan shows is the definition as written: a value a reference resolved to (a topic named with ${env:...})
        // is shown as ***, never as itself.
        var redacted = steps.Select(s => (Redacted(s.Item1, definition), s.Item2)).ToList();
        return (new DataMeshPlan([.. redacted.Select(s => s.Item1)], [.. notes.Select(definition.Parts.Redact)], generation), redacted);
    }

    private static PlanChange Redacted(PlanChange change, AppliedDefinition definition) =>
        change with { Name = definition.Parts.Redact(change.Name), Detail = definition.Parts.Redact(change.Detail) };

    private static DataMeshPlan Redacted(DataMeshPlan plan, AppliedDefinition definition) =>
        new([.. plan.Changes.Select(c => Redacted(c, definition))], [.. plan.Notes.Select(definition.Parts.Redact)], plan.Generation);

    private async Task<(Dictionary<string, Dictionary<string, string>>? Described, string? Refused)> DescribeConfigsAsync(IEnumerable<string> topics, CancellationToken cancellationToken)
    {
        var resources = topics.Distinct().Select(t => new ConfigResource { Type = ResourceType.Topic, Name = t }).ToList();
        if (resources.Count == 0)
        {
            return ([], null);
        }

        List<DescribeConfigsResult> results;
        try
        {
            results = await DescribeAsync(resources, cancellationToken).ConfigureAwait(false);
        }
        catch (KafkaException ex) when (KafkaAdmin.IsNoAnswer(ex))
        {
            // A cluster without the admin API (the embedded cluster reached over TCP, some proxies), as AnswersAdminApiAsync says.
            return (null, null);
        }
        catch (KafkaException ex)
        {
            // An answer that refuses (authorisation): the cluster has the admin API, the configurations are not known.
            return ([], ex.Error.Reason);
        }

        return (results.ToDictionary(r => r.ConfigResource.Name, r => r.Entries.ToDictionary(e => e.Key, e => e.Value.Value, StringComparer.Ordinal), StringComparer.Ordinal), null);
    }

    /// <summary>Whether the cluster answers the admin API (DescribeConfigs of <paramref name="topic"/> within 5 s): only no
    /// answer at all says no; a refusal (authorisation, a topic gone) says yes, and the call that follows reports it.</summary>
    private async Task<bool> AnswersAdminApiAsync(string? topic, CancellationToken cancellationToken)
    {
        if (topic is null)
        {
            return true;
        }

        try
        {
            await DescribeAsync([new ConfigResource { Type = ResourceType.Topic, Name = topic }], cancellationToken).ConfigureAwait(false);
            return true;
        }
        catch (KafkaException ex) when (KafkaAdmin.IsNoAnswer(ex))
        {
            return false;
        }
        catch (KafkaException)
        {
            return true;
        }
    }

    /// <summary>The admin API's DescribeConfigs, given 5 s at most (a cluster without the admin API never answers it).</summary>
    private Task<List<DescribeConfigsResult>> DescribeAsync(List<ConfigResource> resources, CancellationToken cancellationToken) =>
        _kafka.Admin.DescribeConfigsAsync(resources, new DescribeConfigsOptions { RequestTimeout = TimeSpan.FromSeconds(Math.Min(5, _kafka.Options.RequestTimeout.TotalSeconds)) })
            .WaitAsync(cancellationToken);

    private async Task<long?> LagAsync(string group, IReadOnlyList<string> topics, IReadOnlyDictionary<string, int> existing, CancellationToken cancellationToken)
    {
        var partitions = topics.Where(existing.ContainsKey).SelectMany(t => Enumerable.Range(0, existing[t]).Select(p => new TopicPartition(t, p))).ToList();
        if (partitions.Count == 0)
        {
            return 0;
        }

        return await Task.Run(
            () =>
            {
                var config = _kafka.CreateConsumerConfig(group);
                config.EnableAutoCommit = false;
                using var consumer = new ConsumerBuilder<Ignore, Ignore>(config).SetLogHandler((_, _) => { }).Build();
                var committed = consumer.Committed(partitions, _kafka.Options.RequestTimeout);
                long lag = 0;
                foreach (var offset in committed)
                {
                    var marks = consumer.QueryWatermarkOffsets(offset.TopicPartition, _kafka.Options.RequestTimeout);
                    var from = offset.Offset.IsSpecial ? marks.Low.Value : Math.Max(offset.Offset.Value, marks.Low.Value);
                    lag += Math.Max(0, marks.High.Value - from);
                }

                return lag;
            },
            cancellationToken).ConfigureAwait(false);
    }

    private static string Tables(SourceDefinition source) =>
        (source.IncludeTables.Count == 0 ? "every table" : string.Join(", ", source.IncludeTables)) +
        (source.ExcludeTables.Count == 0 ? string.Empty : " except " + string.Join(", ", source.ExcludeTables));

    private static string Sink(SinkDefinition sink) => sink.Kind switch
    {
        SinkKind.Kafka => "topic " + sink.Topic,
        SinkKind.Table => $"{sink.Type} {sink.Settings.GetValueOrDefault("table") ?? "(table named by each topic)"}",
        _ => "JSON Lines " + sink.Path,
    };

    private static string Describe(Dictionary<string, string> configs) => string.Join(", ", configs.Select(c => $"{c.Key}={c.Value}"));
}

/// <summary>The state of an applied definition (<c>datamesh status</c>).</summary>
/// <param name="Generation">The applied definition's generation; 0 when nothing is applied.</param>
/// <param name="AppliedAt">When it was applied.</param>
/// <param name="Components">Its sources and pipelines.</param>
public sealed record DataMeshStatus(long Generation, DateTimeOffset? AppliedAt, IReadOnlyList<ComponentStatus> Components);

/// <summary>The definition applied on a cluster (<see cref="DataMeshController.GetAppliedDefinitionAsync"/>).</summary>
/// <param name="Generation">Its generation.</param>
/// <param name="AppliedAt">When it was applied.</param>
/// <param name="Text">The file's text as applied: secrets are references, as the controller accepts no other.</param>
public sealed record DataMeshAppliedDefinition(long Generation, DateTimeOffset AppliedAt, string Text);

/// <summary>The state of one source or pipeline.</summary>
/// <param name="Component"><c>source/NAME</c> or <c>pipeline/NAME</c>.</param>
/// <param name="Desired"><c>running</c> or <c>paused</c>.</param>
/// <param name="Runners">What each runner that runs it reports (a source runs on one runner and waits on the others).</param>
/// <param name="Lag">For a pipeline, the records of its source topics its group has not committed yet; null for a source.</param>
public sealed record ComponentStatus(string Component, string Desired, IReadOnlyList<RunnerReport> Runners, long? Lag);

/// <summary>What one runner reports about a component.</summary>
/// <param name="Runner">The runner (<see cref="DataMeshControllerOptions.RunnerId"/>).</param>
/// <param name="State"><c>running</c>, <c>standby</c> (a source another runner holds), <c>starting</c>, <c>retrying</c>,
/// <c>failed</c>, <c>paused</c> or <c>stopped</c>.</param>
/// <param name="Message">The last error or what it waits for; never a secret.</param>
/// <param name="UpdatedAt">When it reported.</param>
/// <param name="Current">Whether it runs the applied definition's version of the component.</param>
/// <param name="Snapshot">A source's snapshot progress per table.</param>
/// <param name="Position">The position the source stored last (for the runner that holds it); null for a pipeline.</param>
/// <param name="Tables">The tables the source registered (for the runner that holds it): each table with its topic and
/// the key and value schemas it produces with; empty for a pipeline.</param>
/// <param name="RecordsRead">For a pipeline, the records this runner read since the pipeline started here.</param>
/// <param name="DeadLettered">For a pipeline, the records this runner sent to the dead-letter topic since it started here.</param>
public sealed record RunnerReport(
    string Runner,
    string State,
    string? Message,
    DateTimeOffset UpdatedAt,
    bool Current,
    IReadOnlyList<SnapshotTableStatus> Snapshot,
    string? Position,
    IReadOnlyList<TableRegistration> Tables,
    long? RecordsRead = null,
    long? DeadLettered = null);

/// <summary>A table a source captures, as the source registered it (<see cref="SourceStatus.Tables"/>) and its
/// runner reports it: registered when the source first produces its events, again when its schema changes.</summary>
/// <param name="Topic">The table's topic.</param>
/// <param name="ValueSchemaId">The id of the value schema the source produces the table's events with.</param>
/// <param name="ValueSchemaVersion">Its version in the subject <c>TOPIC-value</c>; 0 when the subject no longer holds it.</param>
/// <param name="Table">The table, as <c>schema.table</c> (MySQL: <c>database.table</c>); null in a report of a runner older
/// than the source registration.</param>
/// <param name="KeySchemaId">The id of its key schema; null for a keyless table (and in a report of an older runner).</param>
public sealed record TableRegistration(string Topic, int ValueSchemaId, int ValueSchemaVersion, string? Table = null, int? KeySchemaId = null);
