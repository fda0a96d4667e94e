using System.Globalization;
using Confluent.Kafka;
using DataMesh.Events;
using DataMesh.Hosting;
using DataMesh.Pipelines;
using DataMesh.Pipelines.Sinks;
using DataMesh.Schemas;
using DataMesh.Sources;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Logging.Abstractions;

namespace DataMesh.ControlPlane.Controller;

/// <summary>
/// Runs what the controller's state declares (<c>datamesh run</c>): reads the state topic every
/// <see cref="DataMeshControllerOptions.PollInterval"/>, starts the sources and pipelines of the applied definition that
/// are not paused, restarts exactly those whose settings changed (by their hash), stops those removed or paused, hands
/// snapshot requests to the source it holds, and reports each component's state to the status topic. Any number of
/// runners can run one definition: a source runs on the runner that holds its lease and waits on the others; a pipeline
/// runs on every runner, its consumer group sharing the partitions. Secret references are resolved here, in the runner's
/// own environment; they are never written anywhere.
/// </summary>
internal sealed class DefinitionRunner(IServiceProvider services, DataMeshControllerOptions options) : BackgroundService
{
    private readonly Dictionary<string, Running> _running = new(StringComparer.Ordinal);
    private readonly HashSet<string> _handledSnapshots = new(StringComparer.Ordinal);
    private readonly ILogger _logger = (services.GetService<ILoggerFactory>() ?? NullLoggerFactory.Instance).CreateLogger("DataMesh.Runner");
    private readonly Dictionary<string, (string State, string? Message, string Hash, DateTimeOffset At)> _reported = new(StringComparer.Ordinal);
    private AppliedDefinition? _definition;

    /// <summary>Why this runner cannot run the applied definition, and its components (reported "refused"), or null.</summary>
    private (string Reason, IReadOnlyDictionary<string, string> Components)? _refused;
    private (long Generation, DateTimeOffset AppliedAt) _generation = (-1, default);
    private volatile RunnerCounts _counts = new(-1, 0, 0);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        await Task.Yield();
        var kafka = services.GetRequiredService<KafkaConnection>();
        using var store = new ControllerStore(kafka, options.StateTopic);
        ControlPlaneMetrics.Observe(this, options.RunnerId, () => _counts);
        try
        {
            while (!stoppingToken.IsCancellationRequested)
            {
                var pass = System.Diagnostics.Stopwatch.StartNew();
                try
                {
                    var state = await store.ReadAsync(stoppingToken).ConfigureAwait(false);
                    await ReconcileAsync(state, store, stoppingToken).ConfigureAwait(false);
                    await ReportAsync(store, stoppingToken).ConfigureAwait(false);
                    ControlPlaneMetrics.Reconciled(options.RunnerId, pass.Elapsed);
                }
                catch (Exception ex) when (!stoppingToken.IsCancellationRequested)
                {
                    ControlPlaneMetrics.StateError(options.RunnerId);
                    ControllerLog.StateUnreadable(_logger, options.RunnerId, ex.Message);
                }

                var failed = _running.Values.Count(r => r.Failure is not null);
                _counts = new RunnerCounts(_generation.Generation, _running.Count - failed, failed);

                await Task.Delay(options.PollInterval, stoppingToken).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
            // stopping
        }
        finally
        {
            foreach (var key in _running.Keys.ToList())
            {
                await StopAsync(key, "stopped (the runner stops)", "stopped").ConfigureAwait(false);
            }

            ControlPlaneMetrics.Forget(this);

            using var cleanup = new CancellationTokenSource(TimeSpan.FromSeconds(5));
            foreach (var key in _reported.Keys)
            {
                try
                {
                    await store.DeleteStatusAsync(key, options.RunnerId, cleanup.Token).ConfigureAwait(false);
                }
                catch (Exception ex) when (ex is KafkaException or OperationCanceledException or InvalidOperationException or TimeoutException)
                {
                    // The report ages out as stale; nothing else depends on it.
                }
            }
        }
    }

    private async Task ReconcileAsync(ControllerState state, ControllerStore store, CancellationToken cancellationToken)
    {
        if (state.Definition is null)
        {
            _definition = null;
            _refused = null;
            _generation = (0, default);
        }
        else if ((state.Definition.Generation, state.Definition.AppliedAt) != _generation)
        {
            try
            {
                _definition = await AppliedDefinition.ReadAsync(state.Definition.Text, options, cancellationToken, stored: true).ConfigureAwait(false);
                _refused = null;
                ControllerLog.Generation(_logger, options.RunnerId, state.Definition.Generation, _definition.Components.Count);
            }
            catch (Exception ex) when (ex is DefinitionInvalidException or InvalidOperationException)
            {
                // A secret reference this runner cannot resolve, a source type it does not know: this runner runs nothing
                // until a version it can run is applied (what changed stops now, the rest at the next pass), so that no
                // old transform runs beside the new ones elsewhere; the other runners go on.
                ControllerLog.DefinitionRefused(_logger, options.RunnerId, state.Definition.Generation, ex.Message);
                _refused = ($"this runner cannot run generation {state.Definition.Generation.ToString(CultureInfo.InvariantCulture)} of the definition, so it runs none of it: {ex.Message}", state.Definition.Components);
                _generation = (state.Definition.Generation, state.Definition.AppliedAt);
                foreach (var (key, running) in _running.ToList())
                {
                    if (state.Definition.Components.GetValueOrDefault(key) != running.Component.Hash)
                    {
                        await StopAsync(key, "stopped: the applied definition's new version cannot run here", "stopped").ConfigureAwait(false);
                    }
                }

                _definition = null;
                return;
            }

            _generation = (state.Definition.Generation, state.Definition.AppliedAt);
        }

        var wanted = (_definition?.Components ?? []).Where(c => !state.Paused.Contains(c.Key)).ToDictionary(c => c.Key, StringComparer.Ordinal);
        foreach (var (key, running) in _running.ToList())
        {
            if (!wanted.TryGetValue(key, out var component))
            {
                var why = state.Paused.Contains(key) ? "paused" : _refused is { } refused ? "stopped: " + refused.Reason : "stopped (no longer declared)";
                await StopAsync(key, why, state.Paused.Contains(key) ? "paused" : "stopped").ConfigureAwait(false);
            }
            else if (component.Hash != running.Component.Hash)
            {
                await StopAsync(key, "restarting with its changed settings", "restarted").ConfigureAwait(false);
            }
            else if (state.Restarts.GetValueOrDefault(key) is { } restart && restart != running.RestartId)
            {
                // A resume restarts a failed component; one that runs (or stands by) goes on untouched, and this request
                // is done for it (a later failure waits for the next resume).
                if (running.Failure is not null)
                {
                    await StopAsync(key, "restarting (resume)", "restarted").ConfigureAwait(false);
                }
                else
                {
                    running.RestartId = restart;
                }
            }
        }

        foreach (var (key, component) in wanted)
        {
            if (!_running.ContainsKey(key))
            {
                Start(component, state.Restarts.GetValueOrDefault(key));
            }
        }

        foreach (var (key, request) in state.Snapshots.OrderBy(r => r.Value.RequestedAt))
        {
            var source = ControllerState.SnapshotSource(key);
            if (_handledSnapshots.Contains(request.Id)
                || !_running.TryGetValue(AppliedDefinition.SourceKey(source), out var running)
                || services.GetService<SourceMonitor>() is not { } monitor
                || monitor.Get(source)?.State != SourceState.Running
                || monitor.Snapshots(source) is not { } snapshots)
            {
                continue;
            }

            // Every captured table: those named, or, for patterns (or none: every table), those the source registered.
            var include = running.Component.Source!.IncludeTables;
            IReadOnlyList<string> tables = request.Tables.Count > 0 ? request.Tables
                : include.Count > 0 && include.All(t => SnapshotEngine.NameProblem(t) is null) ? [.. include]
                : monitor.Get(source)?.Tables.Select(t => t.Table).ToList() ?? [];
            _handledSnapshots.Add(request.Id);
            try
            {
                if (tables.Count == 0)
                {
                    throw new ArgumentException("the source has registered no table yet, so there is none to snapshot; name the tables");
                }

                snapshots.Request(tables, request.Condition);
                ControllerLog.SnapshotRequested(_logger, options.RunnerId, request.Id, source, string.Join(", ", tables));
                running.Note = null;
            }
            catch (ArgumentException ex)
            {
                // The source goes on: the refusal is its status's message until a later request is handed over.
                running.Note = $"snapshot {request.Id} was refused: {ex.Message}";
                ControllerLog.SnapshotRefused(_logger, options.RunnerId, request.Id, source, ex.Message);
            }

            await store.WriteAsync("snapshot/" + key, null, cancellationToken).ConfigureAwait(false);
        }
    }

    private void Start(Component component, string? restartId)
    {
        var stop = new CancellationTokenSource();
        var running = new Running(component, _definition!, restartId, stop);
        running.Task = Task.Run(() => RunAsync(running, stop.Token), CancellationToken.None);
        _running[component.Key] = running;
        ControlPlaneMetrics.ComponentChanged(options.RunnerId, component.Key, "started");
        ControllerLog.Component(_logger, options.RunnerId, component.Key, "started");
    }

    private async Task RunAsync(Running running, CancellationToken cancellationToken)
    {
        var component = running.Component;
        var definition = running.Definition;
        try
        {
            if (component.Source is { } source)
            {
                var type = definition.Parts.Sources[source.Name].Type;
                var sourceOptions = SourceOptionsOf(source, definition, services.GetService<IOptions<DataMeshOptions>>()?.Value.Events);
                var guarded = new GuardedServices(services, new PipelineSchemaGuard(services.GetRequiredService<ISchemaStore>(), () => _definition));
                if (!await type!.RunAsync(guarded, source.Name, sourceOptions, cancellationToken).ConfigureAwait(false))
                {
                    running.Fail(services.GetService<SourceMonitor>()?.Get(source.Name)?.Message ?? "the source failed; its log says why");
                    ControlPlaneMetrics.ComponentChanged(options.RunnerId, component.Key, "failed");
                    if (sourceOptions.OnFatalError == FatalErrorPolicy.StopHost)
                    {
                        // As a host running the source itself would: the runner's process stops with exit code 1 (the
                        // source's log said so), and what supervises it decides what comes next.
                        Hosting.HostStop.AfterFatalError(services.GetService<IHostApplicationLifetime>());
                    }
                }
            }
            else
            {
                var pipeline = component.Pipeline!;
                var pipelineOptions = PipelineOptionsOf(pipeline, definition);
                try
                {
                    var loggers = services.GetService<ILoggerFactory>() ?? NullLoggerFactory.Instance;
                    var kafkaPipeline = new KafkaPipeline(pipelineOptions, services.GetRequiredService<KafkaConnection>(), services.GetRequiredService<ISchemaStore>(), loggers);
                    running.Pipeline = kafkaPipeline;
                    await kafkaPipeline.RunAsync(cancellationToken).ConfigureAwait(false);
                }
                finally
                {
                    if (pipelineOptions.Sink is { } sink)
                    {
                        await sink.DisposeAsync().ConfigureAwait(false);
                    }
                }
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            // stopped
        }
        catch (Exception ex)
        {
            running.Fail(ex.Message);
            ControlPlaneMetrics.ComponentChanged(options.RunnerId, component.Key, "failed");
            ControllerLog.ComponentFailed(_logger, ex, options.RunnerId, component.Key, ex.Message);
        }
    }

    /// <summary>A source's options from its definition: the host's change-event settings (<c>DataMesh:Events</c>) under
    /// the definition's topic prefix, unless the source sets its own, and the partitions of its topics.</summary>
    internal static SourceOptions SourceOptionsOf(SourceDefinition source, AppliedDefinition definition, ChangeEventOptions? hostEvents)
    {
        var options = definition.Parts.Sources[source.Name].Options;
        options.Events ??= (hostEvents ?? new ChangeEventOptions()).WithTopicPrefix(definition.Definition.Settings.TopicPrefix);
        options.TopicPartitions = definition.TopicPartitions(source);
        return options;
    }

    /// <summary>A pipeline's options from its definition: the same settings a pipeline built in code takes.</summary>
    internal static PipelineOptions PipelineOptionsOf(PipelineDefinition pipeline, AppliedDefinition definition)
    {
        var result = new PipelineOptions
        {
            Name = pipeline.Name,
            GroupId = pipeline.GroupId,
            OnError = pipeline.OnError,
            DeadLetterTopic = pipeline.DeadLetterTopic,
            TargetPartitions = pipeline.Sink.Partitions ?? definition.Definition.Settings.TopicPartitions,
        };
        foreach (var topic in pipeline.SourceTopics)
        {
            result.SourceTopics.Add(topic);
        }

        foreach (var transform in definition.Parts.Transforms[pipeline.Name])
        {
            result.Transforms.Add(transform);
        }

        if (pipeline.Sink.Kind == SinkKind.Kafka)
        {
            result.TargetTopic = pipeline.Sink.Topic;
        }
        else if (pipeline.Sink.Kind == SinkKind.Table)
        {
            var (type, options) = definition.Parts.Sinks[pipeline.Name];
            result.Sink = type.Create(options);
        }
        else
        {
            result.Sink = new JsonLinesSink(new JsonLinesSinkOptions { Path = pipeline.Sink.Path! });
        }

        result.Workers = pipeline.Workers ?? result.Workers;
        result.MaxBatchSize = pipeline.MaxBatchSize ?? result.MaxBatchSize;
        result.SinkRetries = pipeline.SinkRetries ?? result.SinkRetries;
        result.CommitInterval = pipeline.CommitInterval ?? result.CommitInterval;
        result.SessionTimeout = pipeline.SessionTimeout;
        result.Validate();
        return result;
    }

    /// <summary>Stops a component; <paramref name="change"/> is what the metrics count (stopped, paused, restarted).</summary>
    private async Task StopAsync(string key, string why, string change)
    {
        if (!_running.Remove(key, out var running))
        {
            return;
        }

        await running.Stop.CancelAsync().ConfigureAwait(false);
        await running.Task!.ConfigureAwait(false);
        running.Stop.Dispose();
        ControlPlaneMetrics.ComponentChanged(options.RunnerId, key, change);
        ControllerLog.Component(_logger, options.RunnerId, key, why);
    }

    private async Task ReportAsync(ControllerStore store, CancellationToken cancellationToken)
    {
        var monitor = services.GetService<SourceMonitor>();
        var now = DateTimeOffset.UtcNow;
        foreach (var (key, running) in _running)
        {
            string state;
            string? message = running.Failure;
            List<SnapshotTableStatus>? snapshot = null;
            string? position = null;
            List<TableRegistration>? tables = null;
            long? recordsRead = null, deadLettered = null;
            if (running.Failure is not null)
            {
                state = "failed";
            }
            else if (running.Component.Source is { } source)
            {
                var status = monitor?.Get(source.Name);
                state = status is null ? "starting" : status.State.ToString().ToLowerInvariant();
                message = status?.Message ?? running.Note;
                var snapshots = monitor?.Snapshots(source.Name);
                snapshot = snapshots?.Progress.ToList();
                if (snapshots?.LastSkipped is { } skipped)
                {
                    // Skipped by the source (a table gone, without a key): otherwise only in this runner's log.
                    message = (message is null ? string.Empty : message + "; ") + "snapshot skipped " + skipped;
                }
                if (status?.State == SourceState.Running)
                {
                    position = status.StoredPosition;
                    try
                    {
                        tables = await RegistrationsAsync(status.Tables, services.GetRequiredService<ISchemaStore>(), running.ValueSchemaVersions, cancellationToken).ConfigureAwait(false);
                    }
                    catch (Exception ex) when (ex is not OperationCanceledException)
                    {
                        // The schema store cannot be read now: the registration waits for the next report.
                        ControllerLog.StatusUnwritten(_logger, options.RunnerId, key, ex.Message);
                    }
                }
            }
            else
            {
                state = running.Task!.IsCompleted ? "stopped" : "running";
                (recordsRead, deadLettered) = running.Pipeline is { } pipeline ? (pipeline.RecordsRead, pipeline.DeadLettered) : (0L, 0L);
            }

            // A driver's message may repeat a value a reference resolved to (a database name, a query): never in a status.
            message = message is null ? null : running.Definition.Parts.Redact(message);
            var registration = $"{running.Component.Hash}/{position}/{string.Join(',', tables?.Select(t => $"{t.Table}={t.KeySchemaId}:{t.ValueSchemaId}") ?? [])}/{deadLettered}";
            var changed = !_reported.TryGetValue(key, out var last) || last.State != state || last.Message != message || last.Hash != registration || now - last.At >= options.StatusInterval;
            if (!changed)
            {
                continue;
            }

            try
            {
                await store.WriteStatusAsync(new StatusRecord(key, options.RunnerId, state, message, running.Component.Hash, now, snapshot is { Count: > 0 } ? snapshot : null, position, tables, recordsRead, deadLettered), cancellationToken)
                    .ConfigureAwait(false);
                _reported[key] = (state, message, registration, now);
            }
            catch (Exception ex) when (ex is KafkaException or InvalidOperationException or TimeoutException)
            {
                ControllerLog.StatusUnwritten(_logger, options.RunnerId, key, ex.Message);
            }
        }

        if (_refused is { } refused)
        {
            // What runs nowhere else would show "running; no runner reports it": each component says why not here.
            foreach (var (key, hash) in refused.Components.Where(c => !_running.ContainsKey(c.Key)))
            {
                if (_reported.TryGetValue(key, out var last) && last.State == "refused" && last.Message == refused.Reason && now - last.At < options.StatusInterval)
                {
                    continue;
                }

                try
                {
                    await store.WriteStatusAsync(new StatusRecord(key, options.RunnerId, "refused", refused.Reason, hash, now, null), cancellationToken).ConfigureAwait(false);
                    _reported[key] = ("refused", refused.Reason, hash, now);
                }
                catch (Exception ex) when (ex is KafkaException or InvalidOperationException or TimeoutException)
                {
                    ControllerLog.StatusUnwritten(_logger, options.RunnerId, key, ex.Message);
                }
            }
        }

        foreach (var key in _reported.Keys.Except(_running.Keys).Where(k => _refused?.Components.ContainsKey(k) != true).ToList())
        {
            await store.DeleteStatusAsync(key, options.RunnerId, cancellationToken).ConfigureAwait(false);
            _reported.Remove(key);
        }
    }

    /// <summary>The report of the tables a source registered (<see cref="SourceStatus.Tables"/>), each with the version of
    /// its value schema in its subject: looked up in the schema store once per table and schema
    /// (<paramref name="versions"/> keeps them for the component's run), so a report of unchanged tables asks nothing.</summary>
    internal static async Task<List<TableRegistration>> RegistrationsAsync(IReadOnlyList<RegisteredTable> registered, ISchemaStore schemas, Dictionary<(string Topic, int Id), int> versions, CancellationToken cancellationToken)
    {
        var tables = new List<TableRegistration>(registered.Count);
        foreach (var table in registered)
        {
            if (!versions.TryGetValue((table.Topic, table.ValueSchemaId), out var version))
            {
                var subject = TopicNames.ValueSubject(table.Topic);
                version = await schemas.GetLatestAsync(subject, cancellationToken).ConfigureAwait(false) is { } latest && latest.Id == table.ValueSchemaId
                    ? latest.Version
                    : (await schemas.GetVersionsAsync(subject, cancellationToken).ConfigureAwait(false)).FirstOrDefault(v => v.Id == table.ValueSchemaId)?.Version ?? 0;
                if (version > 0)
                {
                    versions[(table.Topic, table.ValueSchemaId)] = version;
                }
            }

            tables.Add(new TableRegistration(table.Topic, table.ValueSchemaId, version, table.Table, table.KeySchemaId));
        }

        return tables;
    }

    private sealed class Running(Component component, AppliedDefinition definition, string? restartId, CancellationTokenSource stop)
    {
        public Component Component { get; } = component;

        /// <summary>The definition it was started from (the runner's may change while it starts).</summary>
        public AppliedDefinition Definition { get; } = definition;

        /// <summary>The last resume request this component has seen (it restarts on a newer one only if it failed).</summary>
        public string? RestartId { get; set; } = restartId;

        public CancellationTokenSource Stop { get; } = stop;

        public Task? Task { get; set; }

        public KafkaPipeline? Pipeline { get; set; }

        /// <summary>For a source, the versions of its tables' value schemas, by topic and schema id (read by the reports).</summary>
        public Dictionary<(string Topic, int Id), int> ValueSchemaVersions { get; } = [];

        public string? Failure { get; private set; }

        /// <summary>The last error that did not stop the component (a refused snapshot request).</summary>
        public string? Note { get; set; }

        public void Fail(string message) => Failure = message;
    }
}
