using System.Collections.Concurrent;
using System.Collections.Immutable;
using System.Diagnostics;
using DataMesh.Events;
using Microsoft.Extensions.Logging;

namespace DataMesh.Sources;

/// <summary>
/// DBLog (Andreakis &amp; Papapanagiotou 2020, Algorithm 1) in the source runtime. Workers (at most
/// <see cref="SnapshotOptions.ParallelTables"/>, a table each) repeat for every chunk: take a low watermark, read the
/// next chunk in key order after the last key emitted, take a high watermark (rows of the watermark table, or read-only
/// watermarks the connector recognises in its log: <see cref="ISnapshotDialect"/>). The log thread, through the
/// <see cref="SourceContext{TPosition}"/>, forwards every log event as usual; between a chunk's watermarks it records the
/// keys the log changed in the chunk's table; at the high watermark it emits the chunk's other rows (<c>op = r</c>) right
/// there in the log's order, and the table's progress moves on. The progress travels with each checkpoint, so a stored
/// position carries the snapshot progress Kafka acknowledged: a restart resumes from the last emitted chunk.
/// </summary>
/// <remarks>Threads: workers run on their own tasks; <see cref="OnWatermark"/>, <see cref="WindowFor"/> and
/// <see cref="Current"/> are called by the log thread (and <see cref="OnWatermark"/> by a worker for a read-only low
/// watermark); the control methods by anyone. State changes take a lock.</remarks>
internal sealed class SnapshotEngine : ISnapshotControl, IAsyncDisposable
{
    /// <summary>Rows the first range chunk of a table's read asks for (then doubling up to <see cref="SnapshotOptions.ChunkSize"/>).</summary>
    internal const int FirstLimit = 1024;

    /// <summary>Keys a chunk that reads rows again asks for at most: those rows are the wide ones (an unchanged TOASTed
    /// value), such a chunk cannot stop at <see cref="SnapshotOptions.MaxChunkBytes"/>, and PostgreSQL takes at most 65,535
    /// parameters per statement (one per key column per key).</summary>
    internal const int MaxRecheckKeys = 256;

    private readonly string _source;
    private readonly SnapshotOptions _options;
    private readonly ISnapshotDialect _dialect;
    private readonly ISourceHost _host;
    private readonly ILogger _logger;
    private readonly System.Collections.Concurrent.ConcurrentDictionary<(string Schema, string Name), SourceTable> _logTables = new();
    private readonly object _lock = new();
    private readonly Dictionary<string, SnapshotChunk> _byWatermark = new(StringComparer.Ordinal);
    private readonly Dictionary<(string Schema, string Name), SnapshotChunk> _windows = [];
    private readonly HashSet<string> _running = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, TableClock> _clocks = new(StringComparer.Ordinal);
    private readonly SemaphoreSlim _wake = new(0);
    private readonly ConcurrentBag<SnapshotChunkStorage> _storage = [];
    private volatile SnapshotState _state = SnapshotState.Empty;
    private readonly List<Action> _early = []; // control calls made before the stored state was known, in their order
    private volatile bool _restored; // until the source read its stored state, what is due is not known: not idle
    private CancellationTokenSource? _attempt;
    private Task? _scheduler;
    private volatile int _openWindows;
    private volatile Exception? _fault;

    public SnapshotEngine(string source, SnapshotOptions options, ISnapshotDialect dialect, ISourceHost host, ILogger logger)
    {
        _source = source;
        _options = options;
        _dialect = dialect;
        _host = host;
        _logger = logger;
    }

    /// <summary>The state the next checkpoint carries.</summary>
    public SnapshotState Current => _state;

    /// <summary>The watermark and signal tables.</summary>
    public SnapshotTables Tables => _dialect.Tables;

    /// <summary>Takes the log's latest description of a table (called on the log's thread when it describes one), which
    /// the snapshot's rows use while it has the shape the snapshot reads.</summary>
    internal void LogDescribed(SourceTable table)
    {
        if (_logTables.Count >= 4096)
        {
            // Bounded (tables created and dropped by the thousand): a snapshot of a table the log described before that
            // describes it again itself.
            _logTables.Clear();
        }

        _logTables[(table.Schemas.Table.Schema, table.Schemas.Table.Name)] = table;
    }

    /// <summary>Whether some chunk's window is open (a cheap check on the log thread's hot path).</summary>
    public bool HasOpenWindows => _openWindows > 0;

    /// <summary>An error of a worker that must stop the source (the context throws it at its next flush).</summary>
    public Exception? Fault => _fault;

    /// <inheritdoc />
    public IReadOnlyList<SnapshotTableStatus> Progress
    {
        get
        {
            var state = _state;
            return state.Tables.Select(t =>
            {
                var clock = _clocks.GetValueOrDefault(t.QualifiedName);
                var rate = clock is null ? 0 : Math.Max(0, t.Rows - clock.RowsAtStart) / Math.Max(0.001, Stopwatch.GetElapsedTime(clock.Started).TotalSeconds);
                var estimate = clock?.Estimate is { } e ? Math.Max(e, t.Rows) : (long?)null;
                TimeSpan? left = estimate is { } total && rate > 0 ? TimeSpan.FromSeconds((total - t.Rows) / rate) : null;
                bool reading;
                lock (_lock)
                {
                    reading = _running.Contains(t.QualifiedName);
                }

                return new SnapshotTableStatus(t.QualifiedName, t.Rows, t.Condition, reading, state.Paused, estimate, rate, left);
            }).ToList();
        }
    }

    /// <inheritdoc />
    public bool IsIdle => _restored && _state.IsIdle;

    /// <summary>Sets the state read from the stored position, at start; with <paramref name="requestInitial"/>, the initial
    /// snapshot is requested in the same step (so the engine never looks idle in between).</summary>
    public void Restore(SnapshotState state, bool requestInitial = false)
    {
        lock (_lock)
        {
            _state = requestInitial ? state with { InitialPending = true } : state;
            if (state.Paused && state.Tables.Count > 0)
            {
                SnapshotLog.Control(_logger, _source, $"paused, as stored ({string.Join(", ", state.Tables.Select(t => t.QualifiedName))}): Resume() or a resume-snapshot signal goes on");
            }

            // Requests, pauses, resumes and cancels made before the stored state was known (at start, or while the source
            // stood by for its lease), in their order, under the same lock: none is overwritten by the stored state.
            foreach (var early in _early)
            {
                early();
            }

            _early.Clear();
            _restored = true; // after the replay: IsIdle (read without the lock) never sees the state before it
        }
    }

    /// <summary>The source lost its lease and stands by: the chunks under way are abandoned and nothing is scheduled until
    /// <see cref="Restore"/> (with the state the next holder stored); requests made meanwhile are kept for then.</summary>
    public void Suspend()
    {
        lock (_lock)
        {
            ResetLocked(_state);
            _restored = false;
        }
    }

    /// <summary>Starts an attempt of the source from what Kafka acknowledged (<paramref name="acknowledged"/>): each
    /// table's progress is the acknowledged one (chunks emitted since may not have reached Kafka: they are read again);
    /// a table requested since then starts from its beginning; chunks of the previous attempt are abandoned.</summary>
    public void Reset(SnapshotState acknowledged)
    {
        lock (_lock)
        {
            if (acknowledged.Cancels < _state.Cancels)
            {
                // Cancelled after that checkpoint: nothing it was reading is due any more (only what was requested since).
                acknowledged = acknowledged with { Tables = [], InitialPending = false };
            }

            var tables = acknowledged.Tables;
            foreach (var table in _state.Tables)
            {
                if (!tables.Any(t => t.Schema == table.Schema && t.Name == table.Name))
                {
                    // Requested after the acknowledged checkpoint: read from its beginning.
                    tables = tables.Add(table with { After = null, Rows = 0 });
                }
            }

            ResetLocked(acknowledged with { Tables = tables, Paused = _state.Paused, InitialPending = acknowledged.InitialPending || _state.InitialPending, Cancels = _state.Cancels });
        }
    }

    private void ResetLocked(SnapshotState state)
    {
        _attempt?.Cancel();
        _attempt?.Dispose();
        _attempt = null;
        foreach (var chunk in _byWatermark.Values)
        {
            chunk.Abandon();
        }

        _byWatermark.Clear();
        _windows.Clear();
        _openWindows = 0;
        _running.Clear();
        _state = state;
        _fault = null; // surfaced by the attempt it ended; the next one starts clean
    }

    /// <summary>The connector streams its log: watermarks written from now on will be read.</summary>
    public void StreamingStarted()
    {
        lock (_lock)
        {
            if (_attempt is not null)
            {
                return;
            }

            _attempt = new CancellationTokenSource();
            var token = _attempt.Token;
            _scheduler = Task.Run(() => ScheduleAsync(token), CancellationToken.None);
        }
    }

    /// <summary>Lists the tables of a pending initial snapshot (on the scheduler, once streaming).</summary>
    private async Task ListInitialAsync(CancellationToken cancellationToken)
    {
        if (!_state.InitialPending)
        {
            return;
        }

        var tables = await _dialect.ListTablesAsync(cancellationToken).ConfigureAwait(false);
        Add(tables.Select(t => (t.Table.Schema, t.Table.Name)), condition: null, initial: true);
        lock (_lock)
        {
            _state = _state with { InitialPending = false };
        }
    }

    /// <inheritdoc />
    public void Request(IEnumerable<string> tables, string? condition = null)
    {
        LastSkipped = null;
        Request(Names(tables), Checked(condition));
    }

    /// <inheritdoc />
    public string? LastSkipped { get; private set; }

    /// <summary>Logs that a table cannot be snapshotted (error 7103) and keeps it as <see cref="LastSkipped"/>.</summary>
    private void Skipped(string table, string reason)
    {
        SnapshotLog.TableSkipped(_logger, _source, table, reason);
        LastSkipped = $"{table}: {reason}";
    }

    /// <inheritdoc />
    public void Pause() => Control(() => Update(s => s with { Paused = true }, "paused"), "paused");

    /// <inheritdoc />
    public void Resume() => Control(() => Update(s => s with { Paused = false }, "resumed"), "resumed");

    /// <inheritdoc />
    public void Cancel() => Control(CancelNow, "cancelled");

    /// <summary>Exact <c>schema.table</c> names, checked.</summary>
    /// <exception cref="ArgumentException">A name is not of that form (or is a pattern).</exception>
    private List<(string Schema, string Name)> Names(IEnumerable<string> tables)
    {
        ArgumentNullException.ThrowIfNull(tables);
        var names = new List<(string, string)>();
        foreach (var table in tables)
        {
            if (NameProblem(table) is { } problem)
            {
                throw new ArgumentException($"Snapshot request for source '{_source}': table '{table}' {problem}.", nameof(tables));
            }

            var dot = table.IndexOf('.', StringComparison.Ordinal);
            names.Add((table[..dot], table[(dot + 1)..]));
        }

        return names;
    }

    /// <summary>The condition, checked to stay inside its parentheses in a chunk's query (<see cref="SnapshotCondition"/>).</summary>
    /// <exception cref="ArgumentException">It does not.</exception>
    private string? Checked(string? condition)
    {
        if (condition is not null && SnapshotCondition.Problem(condition, _dialect.ConditionQuoting) is { } problem)
        {
            throw new ArgumentException($"Snapshot request for source '{_source}': the condition '{condition}' cannot be used: {problem}.", nameof(condition));
        }

        return condition;
    }

    /// <summary>What is wrong with a table name of a snapshot request, or null for an exact <c>schema.table</c>.</summary>
    internal static string? NameProblem(string table) =>
        string.IsNullOrWhiteSpace(table) ? "is empty"
        : table.IndexOfAny(['*', '?']) >= 0 ? "is a pattern: a snapshot takes exact schema.table names (MySQL: database.table)"
        : TableFilter.Check(table) is not null ? "must have the form schema.table (MySQL: database.table)"
        : null;

    /// <summary>Requests checked names (now, or once the stored state is known).</summary>
    private void Request(List<(string Schema, string Name)> names, string? condition) =>
        Control(() => Add(names, condition, initial: false), $"requested {string.Join(", ", names.Select(n => $"{n.Schema}.{n.Name}"))}");

    /// <summary>Runs a control call now, or once the stored state is known (<see cref="Restore"/>).</summary>
    private void Control(Action action, string what)
    {
        lock (_lock)
        {
            if (!_restored)
            {
                // The stored state is not known yet (starting, or standing by for the lease): applied once it is, in order.
                _early.Add(action);
                SnapshotLog.Control(_logger, _source, $"{what} (kept until the source reads)");
                return;
            }
        }

        action();
    }

    private void CancelNow()
    {
        // Counted, so that a retry from a checkpoint taken before the cancel (Reset) does not bring its tables back.
        Update(s => SnapshotState.Empty with { Cancels = s.Cancels + 1 }, "cancelled");
        lock (_lock)
        {
            foreach (var chunk in _byWatermark.Values)
            {
                chunk.Abandon();
            }

            _byWatermark.Clear();
            _windows.Clear();
            _openWindows = 0;
        }
    }

    /// <summary>A signal row from the signal table (Debezium's shape: <c>execute-snapshot</c> with
    /// <c>{"data-collections": [...], "additional-conditions": [{"data-collection": ..., "filter": ...}]}</c>,
    /// <c>pause-snapshot</c>, <c>resume-snapshot</c>, <c>stop-snapshot</c>).</summary>
    public void OnSignal(string id, string type, string? data)
    {
        try
        {
            switch (type)
            {
                case "execute-snapshot":
                    // Every name checked before any is requested: a refused signal requests nothing.
                    var request = SnapshotSignal.Parse(data).Select(r => (Names: Names(r.Tables), Condition: Checked(r.Condition))).ToList();
                    foreach (var (names, condition) in request)
                    {
                        Request(names, condition);
                    }

                    break;
                case "pause-snapshot":
                    Pause();
                    break;
                case "resume-snapshot":
                    Resume();
                    break;
                case "stop-snapshot":
                    Cancel();
                    break;
                default:
                    SnapshotLog.SignalRefused(_logger, _source, id, $"unknown signal type '{type}' (execute-snapshot, pause-snapshot, resume-snapshot, stop-snapshot)");
                    return;
            }

            SnapshotLog.Signal(_logger, _source, id, type);
        }
        catch (Exception ex) when (ex is ArgumentException or System.Text.Json.JsonException or FormatException)
        {
            SnapshotLog.SignalRefused(_logger, _source, id, ex.Message);
        }
    }

    /// <summary>The log reached a watermark of this source (a row of the watermark table, or a read-only watermark the
    /// connector recognised; a read-only low watermark is opened by the worker itself). A low watermark opens its chunk's
    /// window; a high watermark closes it and returns the chunk, whose rows the caller emits now.</summary>
    public SnapshotChunk? OnWatermark(string watermark)
    {
        lock (_lock)
        {
            if (!_byWatermark.TryGetValue(watermark, out var chunk))
            {
                return null; // a watermark of an earlier attempt, or another process's
            }

            var id = (chunk.Table.Schemas.Table.Schema, chunk.Table.Schemas.Table.Name);
            if (watermark == chunk.LowWatermark)
            {
                chunk.WindowOpen = true;
                _windows[id] = chunk;
                _openWindows = _windows.Count;
                return null;
            }

            if (!chunk.IsReady)
            {
                // The worker takes the high watermark only after the read: this cannot be; be safe and read the chunk again.
                chunk.Abandon();
                return null;
            }

            _byWatermark.Remove(chunk.LowWatermark);
            _byWatermark.Remove(chunk.HighWatermark);
            _windows.Remove(id);
            _openWindows = _windows.Count;
            return chunk;
        }
    }

    /// <summary>The chunk whose window is open on a table, or null.</summary>
    public SnapshotChunk? WindowFor(string schema, string name)
    {
        lock (_lock)
        {
            return _windows.GetValueOrDefault((schema, name));
        }
    }

    /// <summary>The log thread emitted a chunk's rows at its high watermark: the table's progress moves on.</summary>
    /// <param name="chunk">The chunk.</param>
    /// <param name="emitted">Rows emitted.</param>
    /// <param name="recheck">Keys to read again (their log events in the window lacked a column), or null.</param>
    public void Emitted(SnapshotChunk chunk, int emitted, List<string>? recheck)
    {
        var progress = chunk.Progress;
        var keys = chunk.Request?.Keys;
        // A range chunk with fewer rows than it asked for ends the range, unless its read stopped at the byte budget.
        var rangeDone = keys is null ? (chunk.Read.Rows < (chunk.Request?.Limit ?? _options.ChunkSize) && !chunk.Full) || chunk.Read.LastKey is null : progress.RangeDone;
        // A recheck chunk read the first keys of the list: what is left, plus what this window asks to read again.
        IEnumerable<string> left = keys is null ? progress.Recheck ?? [] : (progress.Recheck ?? []).Skip(keys.Count);
        var pending = left.Concat(recheck ?? []).Distinct(StringComparer.Ordinal).ToArray();
        var done = rangeDone && pending.Length == 0;
        lock (_lock)
        {
            _state = _state.With(progress, done ? null : progress with
            {
                After = keys is null ? chunk.Read.LastKey ?? progress.After : progress.After,
                Rows = progress.Rows + emitted,
                RangeDone = rangeDone,
                Recheck = pending.Length == 0 ? null : pending,
            });
        }

        _host.Metrics?.SnapshotRows(chunk.Table.QualifiedName, emitted);
        SnapshotLog.Chunk(_logger, _source, chunk.Table.QualifiedName, chunk.Read.Rows, emitted);
        if (done)
        {
            SnapshotLog.TableDone(_logger, _source, chunk.Table.QualifiedName, chunk.Progress.Rows + emitted);
        }

        chunk.Complete();
    }

    public async ValueTask DisposeAsync()
    {
        lock (_lock)
        {
            ResetLocked(_state);
        }

        if (_scheduler is { } scheduler)
        {
            try
            {
                await scheduler.ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
            }
        }

        await _dialect.DisposeAsync().ConfigureAwait(false);
        _wake.Dispose();
    }

    private void Add(IEnumerable<(string Schema, string Name)> tables, string? condition, bool initial)
    {
        lock (_lock)
        {
            var list = _state.Tables;
            foreach (var (schema, name) in tables)
            {
                if (list.Any(t => t.Schema == schema && t.Name == name))
                {
                    // Already requested and not done: left as it is (a new condition for it is not used).
                    SnapshotLog.Control(_logger, _source, $"of {schema}.{name} requested again while one is pending or running: the pending one goes on, the new request is dropped");
                    continue;
                }

                list = list.Add(new SnapshotTableProgress(schema, name, null, 0, condition, initial));
                SnapshotLog.TableRequested(_logger, _source, $"{schema}.{name}", condition ?? "all rows");
            }

            _state = _state with { Tables = list };
        }

        Wake();
    }

    private void Update(Func<SnapshotState, SnapshotState> change, string what)
    {
        lock (_lock)
        {
            _state = change(_state);
        }

        SnapshotLog.Control(_logger, _source, what);
        Wake();
    }

    private void Wake()
    {
        if (_wake.CurrentCount == 0)
        {
            _wake.Release();
        }
    }

    /// <summary>Starts a worker for each table not running yet, up to <see cref="SnapshotOptions.ParallelTables"/>.</summary>
    private async Task ScheduleAsync(CancellationToken cancellationToken)
    {
        try
        {
            await _dialect.PrepareAsync(cancellationToken).ConfigureAwait(false);
            await ListInitialAsync(cancellationToken).ConfigureAwait(false);
            var workers = new List<Task>();
            // One wait at a time, kept until it completes: a wait left behind when a worker ended first would take the
            // next wake-up (a request, a resume) from the wait that follows, and the request would go unseen.
            Task? wake = null;
            while (!cancellationToken.IsCancellationRequested)
            {
                workers.RemoveAll(w => w.IsCompleted);
                var state = _state;
                if (!state.Paused)
                {
                    foreach (var table in state.Tables)
                    {
                        if (workers.Count >= _options.ParallelTables)
                        {
                            break;
                        }

                        lock (_lock)
                        {
                            if (!_running.Add(table.QualifiedName))
                            {
                                continue;
                            }
                        }

                        workers.Add(Task.Run(() => ReadTableAsync(table.Schema, table.Name, cancellationToken), CancellationToken.None));
                    }
                }

                // Wake on a request, a control change, or a worker that ended.
                wake ??= _wake.WaitAsync(cancellationToken);
                await Task.WhenAny([wake, .. workers]).ConfigureAwait(false);
                if (wake.IsCompleted)
                {
                    await wake.ConfigureAwait(false); // a cancelled wait ends the scheduler
                    wake = null;
                }
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
        }
        catch (Exception ex)
        {
            _fault ??= ex;
        }
    }

    /// <summary>Reads one table chunk by chunk until it is done, paused, cancelled, or the attempt ends.</summary>
    private async Task ReadTableAsync(string schema, string name, CancellationToken cancellationToken)
    {
        var qualified = $"{schema}.{name}";
        var nextReportMs = Environment.TickCount64 + 10_000;
        long? estimate = null;
        var keyChecked = false;
        SourceTable? table = null;
        SourceTable? previous = null; // the last description, kept while the shape holds (one schema registration)
        int[] match = [];
        List<string> keyColumns = [];
        // Rows a range chunk asks for: from FirstLimit doubling up to ChunkSize while chunks stay under MaxChunkBytes, and as
        // many as fitted when one filled it. A chunk that stops at the budget has its read drain the rest of its LIMIT in the
        // database (under the read's lock): starting small keeps that short for wide rows.
        var limit = Math.Min(_options.ChunkSize, FirstLimit);
        try
        {
            while (!cancellationToken.IsCancellationRequested)
            {
                var state = _state;
                var progress = state.Tables.FirstOrDefault(t => t.Schema == schema && t.Name == name);
                if (progress is null || state.Paused)
                {
                    return; // done, cancelled or paused: the scheduler starts it again when resumed
                }

                if (table is null)
                {
                    // Described for the first chunk, and again only when a read found the table changed (the dialect checks
                    // each chunk's shape under the read's lock) or the log did (a window saw another shape).
                    var info = await _dialect.DescribeTableAsync(schema, name, cancellationToken).ConfigureAwait(false);
                    if (info is null)
                    {
                        Skipped(qualified, "it does not exist or is not captured");
                        Remove(progress);
                        return;
                    }

                    // The log's description while the shape holds (it may know column defaults the catalog no longer
                    // shows: the rows' schema must not drop them), else the last one of the snapshot's: its schemas are
                    // registered once, not once per description.
                    var described = _logTables.TryGetValue((schema, name), out var logged) && SourceTable.SameShape(logged.Info, info)
                        ? logged
                        : previous is not null && SourceTable.SameShape(previous.Info, info)
                        ? previous
                        : new SourceTable(info, ChangeEventSchemas.Build(info.Table, _host.Description, _host.Events));
                    if (MatchIndexes(info.Table) is not { } indexes)
                    {
                        Skipped(qualified,
                            $"it has no primary key; name a unique key for it in Snapshot:KeyColumns (\"{qualified}\": [\"column\", ...])");
                        Remove(progress);
                        return;
                    }

                    keyColumns = indexes.Select(i => info.Table.Columns[i].Name).ToList();
                    if (!keyChecked && _options.KeyColumns.ContainsKey(qualified))
                    {
                        // A named key must be unique and NOT NULL, or the reads after a key would skip rows.
                        if (await _dialect.CheckKeyAsync(described, keyColumns, cancellationToken).ConfigureAwait(false) is { } problem)
                        {
                            Skipped(qualified, problem);
                            Remove(progress);
                            return;
                        }

                        keyChecked = true;
                    }

                    table = previous = described;
                    match = indexes;
                }

                // Not registered here: the chunk's rows register their schema when flushed, in the log's order, so a
                // snapshot never registers a definition ahead of changes the log has still to bring.
                if (estimate is null)
                {
                    // The rate counts from here: rows emitted before a restart are not this run's.
                    estimate = await _dialect.EstimateRowsAsync(table, cancellationToken).ConfigureAwait(false) ?? -1;
                    _clocks[qualified] = new TableClock(Stopwatch.GetTimestamp(), progress.Rows, estimate < 0 ? null : estimate);
                }
                var chunk = new SnapshotChunk(table, match, _dialect, progress.Initial ? SnapshotMarker.Snapshot : SnapshotMarker.Incremental, progress, RentStorage());
                lock (_lock)
                {
                    if (cancellationToken.IsCancellationRequested)
                    {
                        // The attempt ended while described (Reset cancels it under this lock): the next attempt's worker
                        // reads the table; a chunk of this one would open a window beside its.
                        return;
                    }

                    if (_state.Paused || !ReferenceEquals(_state.Tables.FirstOrDefault(t => t.Schema == schema && t.Name == name), progress))
                    {
                        // Cancelled, paused or requested anew while described: no chunk of the old progress after that.
                        Return(chunk);
                        continue;
                    }

                    _byWatermark[chunk.LowWatermark] = chunk;
                    _byWatermark[chunk.HighWatermark] = chunk;
                }

                if (_options.Watermarks == SnapshotWatermarks.ReadOnly)
                {
                    // No log event brings a read-only low watermark: the window opens here, so every log event the log thread
                    // handles from now on is in it; the dialect's low watermark then waits until every transaction the log
                    // handled before is visible to the read (ISnapshotDialect's remarks).
                    OnWatermark(chunk.LowWatermark);
                }

                await _dialect.TakeWatermarkAsync(_source, chunk.LowWatermark, WatermarkKind.Low, cancellationToken).ConfigureAwait(false);
                // The range first; then the keys whose rows windows dropped for events that lacked a column.
                var request = progress.RangeDone && progress.Recheck is { Length: > 0 } recheck
                    ? new SnapshotChunkRequest(table, keyColumns, progress.After, Math.Min(_options.ChunkSize, MaxRecheckKeys), progress.Condition, recheck.Take(Math.Min(_options.ChunkSize, MaxRecheckKeys)).ToArray())
                    : new SnapshotChunkRequest(table, keyColumns, progress.After, limit, progress.Condition, MaxBytes: _options.MaxChunkBytes);
                chunk.Request = request;
                SnapshotChunkRead read;
                try
                {
                    read = await _dialect.ReadChunkAsync(request, chunk.Writer, cancellationToken).ConfigureAwait(false);
                }
                catch (SnapshotConditionException ex)
                {
                    // The database refused the request's condition: that request ends (what it emitted stays), the source
                    // and the other tables go on.
                    Drop(chunk, progress, $"{ex.Message}; the request is dropped (ask again with a condition that a SELECT on the table accepts)");
                    return;
                }

                if (request.Keys is null && read.Rows > 0 && request.After is { } after && read.LastKey == after)
                {
                    // A keyset read moves past its last key: a chunk that ends where it began would be read again for ever.
                    var reason = $"the chunk read after key {after} ended at that same key, so the read does not move on";
                    if (progress.Condition is null)
                    {
                        Forget(chunk);
                        Return(chunk);
                        throw new InvalidOperationException(reason);
                    }

                    Drop(chunk, progress, $"{reason} with the condition '{progress.Condition}'; the request is dropped");
                    return;
                }

                if (read.TableChanged)
                {
                    // A schema change between the description and the read: forget the chunk (its low watermark, if the
                    // log brings it, is ignored), describe the table again and read the chunk again.
                    Forget(chunk);
                    Return(chunk); // never emitted: the log thread reaches its window at most
                    SnapshotLog.TableChanged(_logger, _source, qualified);
                    table = null;
                    continue;
                }

                chunk.SetReady(read);
                if (request.Keys is null)
                {
                    limit = chunk.Full ? Math.Max(1, read.Rows) : read.Rows >= limit ? Math.Min(_options.ChunkSize, limit * 2) : limit;
                }

                await _dialect.TakeWatermarkAsync(_source, chunk.HighWatermark, WatermarkKind.High, cancellationToken).ConfigureAwait(false);
                var outcome = await WaitAsync(chunk, qualified, cancellationToken).ConfigureAwait(false);
                if (outcome == ChunkOutcome.Abandoned)
                {
                    return; // a new attempt reads it again from the acknowledged progress
                }

                if (outcome == ChunkOutcome.ReadAgain)
                {
                    SnapshotLog.TableChanged(_logger, _source, qualified);
                    table = null;
                    continue;
                }

                if (Environment.TickCount64 >= nextReportMs && Progress.FirstOrDefault(p => p.Table == qualified) is { } status)
                {
                    nextReportMs = Environment.TickCount64 + 10_000;
                    SnapshotLog.Progress(_logger, _source, qualified, status.Rows, status.EstimatedRows, status.RowsPerSecond, status.TimeLeft);
                }
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
        }
        catch (Exception ex)
        {
            // A database error of the snapshot's own connections stops the source like any other error of the source:
            // a transient one is retried by the runtime, from the acknowledged progress.
            _fault ??= new SourceException($"Source '{_source}': the snapshot of table {qualified} failed: {ex.Message}", SourceErrors.IsTransient(ex) || ex is System.Data.Common.DbException { IsTransient: true }, ex);
        }
        finally
        {
            lock (_lock)
            {
                if (!cancellationToken.IsCancellationRequested)
                {
                    // A worker of an ended attempt leaves the table alone: Reset cleared it, and the next attempt's worker holds it.
                    _running.Remove(qualified);
                }

                if (_running.Count == 0)
                {
                    _storage.Clear(); // no table is read: the chunks' memory goes
                }
            }

            Wake();
        }
    }

    /// <summary>Ends a request whose chunks cannot be read (its condition): its chunk is forgotten (its low watermark, if the
    /// log brings it, is ignored) and its progress removed, with error 7103; what it emitted stays.</summary>
    private void Drop(SnapshotChunk chunk, SnapshotTableProgress progress, string reason)
    {
        Forget(chunk);
        Return(chunk);
        Skipped($"{progress.Schema}.{progress.Name}", reason);
        lock (_lock)
        {
            // This request only: one made anew meanwhile (after a cancel, with another condition) stays.
            if (_state.Tables.Any(t => ReferenceEquals(t, progress)))
            {
                Remove(progress);
            }
        }
    }

    /// <summary>Memory for a chunk's rows: a returned one, else a new one.</summary>
    internal SnapshotChunkStorage RentStorage() => _storage.TryTake(out var storage) ? storage : new SnapshotChunkStorage();

    /// <summary>A chunk's rows were handed to Kafka, or will not be emitted: its memory serves another chunk. Kept for at
    /// most two chunks per table being read (one being read, one being produced); dropped when no table is being read.</summary>
    internal void Return(SnapshotChunk chunk)
    {
        chunk.Storage.Clear();
        lock (_lock)
        {
            // Under the lock that the last worker's end clears them under: none is kept once no table is read.
            if (_running.Count > 0 && _storage.Count < 2 * _options.ParallelTables)
            {
                _storage.Add(chunk.Storage);
            }
        }
    }

    /// <summary>Waits for the log to reach the chunk's high watermark; warns every minute while it has not.</summary>
    private async Task<ChunkOutcome> WaitAsync(SnapshotChunk chunk, string table, CancellationToken cancellationToken)
    {
        var waited = TimeSpan.Zero;
        while (true)
        {
            var completed = chunk.Completed;
            var first = await Task.WhenAny(completed, Task.Delay(TimeSpan.FromMinutes(1), cancellationToken)).ConfigureAwait(false);
            if (first == completed)
            {
                return await completed.ConfigureAwait(false);
            }

            cancellationToken.ThrowIfCancellationRequested();
            waited += TimeSpan.FromMinutes(1);
            SnapshotLog.WatermarkLate(_logger, _source, table, waited, chunk.WindowOpen, _dialect.Tables.Watermark is { } watermarks
                ? $"is the watermark table {_dialect.Tables.Schema}.{watermarks} captured, and is the log reader behind?"
                : "is the log reader behind?");
        }
    }

    /// <summary>Drops a chunk that will get no high watermark: its watermarks, its window if open.</summary>
    private void Forget(SnapshotChunk chunk)
    {
        lock (_lock)
        {
            _byWatermark.Remove(chunk.LowWatermark);
            _byWatermark.Remove(chunk.HighWatermark);
            var id = (chunk.Table.Schemas.Table.Schema, chunk.Table.Schemas.Table.Name);
            if (_windows.TryGetValue(id, out var open) && ReferenceEquals(open, chunk))
            {
                _windows.Remove(id);
                _openWindows = _windows.Count;
            }
        }

        chunk.Abandon();
    }

    private void Remove(SnapshotTableProgress progress)
    {
        lock (_lock)
        {
            _state = _state.With(progress, null);
        }
    }

    /// <summary>The snapshot key: the primary key, or the unique key named in <see cref="SnapshotOptions.KeyColumns"/>.</summary>
    private int[]? MatchIndexes(TableDescription table)
    {
        if (_options.KeyColumns.TryGetValue($"{table.Schema}.{table.Name}", out var named))
        {
            var indexes = named.Select(table.IndexOf).ToArray();
            return indexes.Any(i => i < 0) ? null : indexes;
        }

        return table.KeyColumns.Count == 0 ? null : table.KeyColumns.Select(table.IndexOf).ToArray();
    }
}

/// <summary>Controls a source's snapshots (<see cref="SourceMonitor.Snapshots"/>).</summary>
public interface ISnapshotControl
{
    /// <summary>The tables still to read, with their progress.</summary>
    IReadOnlyList<SnapshotTableStatus> Progress { get; }

    /// <summary>Whether nothing is left to snapshot: the source has read its stored state at start, and there is no table to
    /// read, no initial snapshot waiting to list its tables, and no pause.</summary>
    bool IsIdle { get; }

    /// <summary>Snapshots tables (<c>schema.table</c>; MySQL <c>database.table</c>), all rows or those matching a SQL
    /// condition, interleaved with the log. A table already being read is left as it is.</summary>
    /// <param name="tables">The tables.</param>
    /// <param name="condition">A SQL condition, or null for every row.</param>
    void Request(IEnumerable<string> tables, string? condition = null);

    /// <summary>The last table a request could not snapshot and why (<c>public.ordres: it does not exist or is not
    /// captured</c>), until the next request; null when none.</summary>
    string? LastSkipped { get; }

    /// <summary>Pauses after the chunks being read.</summary>
    void Pause();

    /// <summary>Resumes a paused snapshot.</summary>
    void Resume();

    /// <summary>Stops every snapshot of the source (what was emitted stays).</summary>
    void Cancel();
}

/// <summary>One table of a running snapshot.</summary>
/// <param name="Table"><c>schema.table</c>.</param>
/// <param name="Rows">Rows emitted so far.</param>
/// <param name="Condition">Its condition, or null.</param>
/// <param name="Reading">Whether a worker reads it now.</param>
/// <param name="Paused">Whether the snapshot is paused.</param>
/// <param name="EstimatedRows">The table's row count as the database estimates it (statistics), or null.</param>
/// <param name="RowsPerSecond">Rows emitted per second since this run started reading the table.</param>
/// <param name="TimeLeft">The estimated time left at that rate, or null.</param>
public sealed record SnapshotTableStatus(string Table, long Rows, string? Condition, bool Reading, bool Paused, long? EstimatedRows = null, double RowsPerSecond = 0, TimeSpan? TimeLeft = null);

/// <summary>When this run started reading a table (a <see cref="Stopwatch"/> timestamp), its rows emitted then, and its estimated size.</summary>
internal sealed record TableClock(long Started, long RowsAtStart, long? Estimate);
