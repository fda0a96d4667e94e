using System.Buffers;
using System.Data;
using System.Globalization;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using DataMesh.Connectors.Postgres;
using DataMesh.Events;
using DataMesh.Sources;
using Microsoft.Extensions.Logging;
using Npgsql;

namespace DataMesh.Connectors.CockroachDb;

/// <summary>
/// The CockroachDB connector on the source runtime: a sinkless changefeed (<c>CREATE CHANGEFEED FOR … WITH updated,
/// resolved, diff, mvcc_timestamp, format='json', envelope='wrapped'</c>, no <c>INTO</c>) read over pgwire on a
/// dedicated connection with no command timeout. Its rows are (table, key, value); a NULL table is a resolved timestamp
/// (<c>changefeed-for</c> / <c>create-changefeed</c> pages, "sinkless changefeeds").
/// </summary>
/// <remarks>
/// <para>Positions: CockroachDB promises that after a resolved timestamp no change at or before it follows
/// (<c>changefeed-messages</c>, "Resolved messages"). Each resolved row is a checkpoint after the rows before it, so the
/// runtime stores it only once Kafka acknowledged them; a restart passes it as <c>cursor</c> and CockroachDB repeats the
/// changes after it (duplicates are allowed, gaps never).</para>
/// <para>Order: within one resolved interval CockroachDB gives no order across keys, only per key
/// (<c>changefeed-messages</c>, "Ordering guarantees"); rows are produced in the order received, which keeps the per-key order.</para>
/// <para>Initial state: on a first start (no stored position, <see cref="InitialSnapshot.WhenNoPosition"/>) the connector
/// reads the cluster's clock, waits until "initial scan at that time, not finished" is stored, and starts with
/// <c>cursor</c> = that time and <c>initial_scan='yes'</c>, so the scan is of the rows as of that time and every scan row
/// has <c>updated</c> at or before it: those become <c>op = r</c>. A restart before the scan's resolved timestamp was
/// stored runs the same scan again, then every change after its time (deletes included).</para>
/// <para>Tables created while it runs: see <see cref="RunFromAsync"/>.</para>
/// <para>Stop: the reader's cancellation makes Npgsql send a CancelRequest (CockroachDB's way to end a sinkless
/// changefeed besides closing the connection) and, if the server does not answer within the connection's
/// <c>Cancellation Timeout</c>, break the connection; the connection is then closed. When changes were handed over after
/// the last resolved timestamp, the feed first reads on until a resolved timestamp past them all is checkpointed (at most
/// <see cref="StopWait"/>), so that the position the runtime stores repeats nothing after a restart.</para>
/// </remarks>
internal sealed class CockroachDbConnector : SourceConnector<CockroachDbPosition>
{
    /// <summary>Rows written before they are handed to Kafka while more rows are already waiting.</summary>
    private const int FlushEvery = 512;

    private readonly string _name;
    private readonly CockroachDbSourceOptions _options;
    private readonly ILogger _logger;
    private readonly Dictionary<string, CockroachDbTable> _tables = new(StringComparer.Ordinal);
    private readonly Dictionary<string, List<CockroachDbTable>> _versions = new(StringComparer.Ordinal);
    private readonly ArrayBufferWriter<byte> _scratch = new(256);
    private readonly ChangefeedImage _after = new();
    private readonly ChangefeedImage _before = new();
    private SourceContext<CockroachDbPosition>? _context;
    private NpgsqlDataSource? _dataSource;
    private NpgsqlConnection? _meta;
    private NpgsqlConnection? _feed;
    private CockroachDbCatalog? _catalog;
    private string _database = string.Empty;
    private volatile AwaitedStore? _awaitedStore;
    private string? _addedAt;

    /// <summary>Whether the server takes <c>encode_json_value_null_as_object</c> (24.2 and later: cockroachdb/cockroach#122848),
    /// so that a JSONB column's JSON null and SQL NULL differ in the changefeed's rows.</summary>
    private bool _jsonNullAsObject;

    /// <summary>Tables (schema.table) CockroachDB said were dropped in this run: left out of every changefeed that resumes
    /// from a cursor before the drop (one of that name found again is added as a new table).</summary>
    private readonly HashSet<string> _dropped = new(StringComparer.Ordinal);

    /// <summary>How long a changefeed refused for a cursor in the future is created again before the source gives up: ten
    /// times CockroachDB's default maximum clock offset between nodes (500 ms, <c>--max-offset</c>; a node further off
    /// stops itself), so a cursor read from one node's clock that another node's is behind of is retried, and a cursor
    /// that is far ahead (a position from another cluster) is not retried for ever.</summary>
    private static readonly TimeSpan ClockSkewWait = TimeSpan.FromSeconds(5);

    /// <summary>When the retries of a cursor in the future end (<see cref="Environment.TickCount64"/>), or null when the last
    /// changefeed started.</summary>
    private long? _skewDeadline;

    /// <summary>Tables of a position found missing from the catalog in this run: said once (warning 1413).</summary>
    private readonly HashSet<string> _gone = new(StringComparer.Ordinal);
    private long _nextPollMs; // Environment.TickCount64

    public CockroachDbConnector(string name, CockroachDbSourceOptions options, ILogger logger)
    {
        _name = name;
        _options = options;
        _logger = logger;
    }

    public override string Kind => "cockroachdb";

    public override IReadOnlyList<SourceField> PositionFields => CockroachDbSourceBlock.Fields;

    public override string FormatPosition(CockroachDbPosition position) => position.ToJson();

    public override CockroachDbPosition ParsePosition(string text) => CockroachDbPosition.Parse(text);

    public override string Describe(CockroachDbPosition position) => position.ToString();

    public override bool? IsTransient(Exception exception) => exception switch
    {
        PostgresException pg when IsExpiredCursor(pg) || IsSchemaChangeStop(pg) => false,
        PostgresException pg => pg.SqlState.StartsWith("08", StringComparison.Ordinal) || pg.SqlState is "40001" or "57P01" or "57014" or "53300",
        _ => PostgresConnector.IsTransientError(exception),
    };

    /// <summary>The connections the connector opens: no pooling (each connection is its own), no type loading (Npgsql
    /// would otherwise query CockroachDB's pg_type at each open; the connector reads only text and bytes), no command
    /// timeout (a changefeed never ends), and the application name <c>datamesh-&lt;source&gt;</c> unless set. TLS as the
    /// PostgreSQL source's (<see cref="PostgresTls"/>): to a remote server whose certificate is not verified, the password
    /// is never sent in clear (CockroachDB's password authentication is a clear-text password over the channel).</summary>
    internal static NpgsqlDataSource DataSource(string connectionString, string sourceName)
    {
        var builder = new NpgsqlDataSourceBuilder(connectionString);
        builder.ConnectionStringBuilder.Pooling = false;
        builder.ConnectionStringBuilder.CommandTimeout = 0;
        builder.ConnectionStringBuilder.ApplicationName ??= "datamesh-" + sourceName;
        builder.ConfigureTypeLoading(t => t.EnableTypeLoading(false));
        PostgresTls.Secure(builder.ConnectionStringBuilder);
        return builder.Build();
    }

    public override async Task RunAsync(SourceContext<CockroachDbPosition> context, CockroachDbPosition? start, CancellationToken cancellationToken)
    {
        await CloseAsync().ConfigureAwait(false);
        _context = context;
        _tables.Clear();
        _dropped.Clear();
        _gone.Clear();
        _skewDeadline = null;
        _dataSource = DataSource(_options.ConnectionString, _name);
        var builder = new NpgsqlConnectionStringBuilder(_options.ConnectionString);
        CockroachDbLog.Connecting(_logger, _name, builder.Host, builder.Port, builder.Database, builder.Username, builder.SslMode.ToString());
        _meta = await _dataSource.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        _database = _meta.Database;
        _catalog = new CockroachDbCatalog(_meta, _name);
        var version = await _catalog.VersionAsync(cancellationToken).ConfigureAwait(false);
        if (!version.StartsWith("CockroachDB", StringComparison.Ordinal))
        {
            throw new SourceException($"CockroachDB source '{_name}': the server at {builder.Host}:{builder.Port} is not CockroachDB (version() says '{version}'). Point ConnectionString at a CockroachDB node, or use AddPostgresSource for PostgreSQL.", isTransient: false);
        }

        CockroachDbLog.Connected(_logger, _name, version);
        _jsonNullAsObject = CockroachDbCatalog.IsAtLeast(version, 24, 2);
        await _catalog.SerializableAsync(cancellationToken).ConfigureAwait(false);
        await DescribeTablesAsync(cancellationToken).ConfigureAwait(false);

        var position = start;
        var from = "stored position";
        if (position is null)
        {
            // The first start's cursor is stored before the changefeed starts, so that a restart before the first resolved
            // timestamp resumes there instead of at a later clock reading: without a scan the changes in between would be
            // lost; with one, a row the first scan emitted and that was deleted in between would never get its delete.
            var initialScan = _options.Snapshot.Initial == InitialSnapshot.WhenNoPosition;
            position = new CockroachDbPosition(await _catalog.NowAsync(cancellationToken).ConfigureAwait(false), initialScan, Names(_tables.Values));
            await StoreBeforeFeedAsync(context, position, cancellationToken).ConfigureAwait(false);
            from = "the cluster's clock";
        }

        context.StreamingStarted();
        while (true)
        {
            try
            {
                position = await RunFromAsync(position, from, cancellationToken).ConfigureAwait(false);
                from = "tables added";
            }
            catch (PostgresException ex) when (IsExpiredCursor(ex))
            {
                if (_options.ExpiredCursor != ExpiredCursorPolicy.Rescan)
                {
                    throw new SourceException(
                        $"CockroachDB source '{_name}': CockroachDB refused the stored position {position.Resolved} as the changefeed's cursor: {ex.MessageText}. " +
                        "The changes since then were garbage-collected (the tables' gc.ttlseconds is shorter than the source was away). " +
                        "Reset the stored position to start afresh with an initial scan, or set ExpiredCursor to Rescan (rows deleted in the gap are then not seen as deletes); " +
                        "raise gc.ttlseconds (ALTER TABLE … CONFIGURE ZONE USING gc.ttlseconds = …) so it does not happen again.",
                        isTransient: false, ex);
                }

                CockroachDbLog.Rescanning(_logger, _name, position.Resolved, ex.MessageText);
                await CloseFeedAsync().ConfigureAwait(false);
                await DescribeTablesAsync(cancellationToken).ConfigureAwait(false);
                // As at a first start: a restart during this scan scans again as of the same time.
                position = new CockroachDbPosition(await _catalog.NowAsync(cancellationToken).ConfigureAwait(false), ScanPending: true, Names(_tables.Values));
                await StoreBeforeFeedAsync(context, position, cancellationToken).ConfigureAwait(false);
                from = "rescan after an expired cursor";
            }
            catch (PostgresException ex) when (IsCursorInFuture(ex))
            {
                // The cursor is a clock reading of the catalog connection's node (a first start, tables added) and the
                // changefeed's node, whose clock is behind, plans it: CockroachDB evaluates the cursor as AS OF SYSTEM TIME
                // and refuses a time after its own clock (changefeed_stmt.go; changefeed_test.go expects "cannot specify
                // timestamp in the future" for a cursor an hour ahead). The stored position stays; the same changefeed is
                // created again shortly, when that clock has passed the cursor.
                await CloseFeedAsync().ConfigureAwait(false);
                var cursor = (context.LastCheckpoint ?? position).Resolved;
                _skewDeadline ??= Environment.TickCount64 + (long)ClockSkewWait.TotalMilliseconds;
                if (Environment.TickCount64 >= _skewDeadline)
                {
                    throw new SourceException(
                        $"CockroachDB source '{_name}': CockroachDB refused the changefeed's cursor {cursor} as in the future ({ex.MessageText}) for {ClockSkewWait.TotalSeconds:0} s. " +
                        "The cursor is ahead of the clock of the node that plans the changefeed: check the nodes' clock synchronization (CockroachDB's --max-offset), " +
                        "and if the stored position comes from another cluster, reset it.",
                        isTransient: false, ex);
                }

                CockroachDbLog.CursorInFuture(_logger, _name, cursor, ex.MessageText);
                await Task.Delay(TimeSpan.FromMilliseconds(250), cancellationToken).ConfigureAwait(false);
                position = context.LastCheckpoint ?? position;
                from = "a cursor in the future retried";
            }
            catch (PostgresException ex) when (DroppedTable(ex) is { } dropped)
            {
                position = await LeaveDroppedAsync(dropped, ex, context.LastCheckpoint ?? position).ConfigureAwait(false);
                from = "a table dropped";
            }
            catch (PostgresException ex) when (OfflineTable(ex) is { } offline)
            {
                // Since 22.2 a DROP TABLE often takes the table offline first, and CockroachDB then ends the changefeed with
                // this error rather than "was dropped". An IMPORT INTO or a RESTORE takes a table offline too; their rows
                // never reach a changefeed (CockroachDB's own changefeeds fail on them), so going on would leave a gap.
                // The reason is "importing" or "restoring" for those; for a DROP it is the statement's text, which may name
                // a table or database that holds those words.
                if (offline.Reason.Equals("importing", StringComparison.OrdinalIgnoreCase) || offline.Reason.Equals("restoring", StringComparison.OrdinalIgnoreCase))
                {
                    throw new SourceException(
                        $"CockroachDB source '{_name}': CockroachDB ended the changefeed because table {offline.Table} is offline ({ex.MessageText}). " +
                        "The rows an IMPORT INTO or a RESTORE writes never reach a changefeed, so the source cannot go on without missing them. " +
                        "Once it is done, reset the source's stored position to capture the tables again with an initial scan, or exclude the table (ExcludeTables).",
                        isTransient: false, ex);
                }

                if ((await _catalog.TablesAsync(cancellationToken).ConfigureAwait(false)).Any(t => t.Name == offline.Table || t.Schema + "." + t.Name == offline.Table))
                {
                    throw new SourceException(
                        $"CockroachDB source '{_name}': CockroachDB ended the changefeed because table {offline.Table} is offline ({ex.MessageText}), a DROP under way it seems; " +
                        "the changefeed is created again from the last stored position.",
                        isTransient: true, ex);
                }

                position = await LeaveDroppedAsync(offline.Table, ex, context.LastCheckpoint ?? position).ConfigureAwait(false);
                from = "a table dropped";
            }
            catch (PostgresException ex) when (IsSchemaChangeStop(ex))
            {
                throw new SourceException(
                    $"CockroachDB source '{_name}': CockroachDB stopped the changefeed at a schema change ({ex.MessageText}) because SchemaChangePolicy is Stop. " +
                    "Set SchemaChangePolicy to Backfill to follow schema changes (rows are emitted again in their new shape), or reset the stored position after the change.",
                    isTransient: false, ex);
            }
        }
    }

    /// <summary>
    /// Runs the changefeed from <paramref name="position"/> until tables are added (then returns the position to go on
    /// from), a stop or an error. The captured tables the position covers resume from its cursor (with a scan as of it when
    /// the position is an unfinished initial scan); the others (created, or first matched, after the position) are added
    /// as a sinkless changefeed cannot be altered: the changefeed of the covered tables runs on until a resolved timestamp
    /// R at or after a clock reading taken when they were seen (so that they exist at R), it ends, and "R, adding these
    /// tables" is stored; a changefeed of the added tables alone with <c>cursor</c> = R and <c>initial_scan = 'yes'</c> emits their rows as of
    /// R (as creates: the source never emitted them) and ends at its first resolved timestamp at or after R, dropping its
    /// changes after R; then one changefeed of all the tables resumes from R, which brings every change after R.
    /// </summary>
    private async Task<CockroachDbPosition> RunFromAsync(CockroachDbPosition position, string from, CancellationToken cancellationToken)
    {
        await DescribeTablesAsync(cancellationToken).ConfigureAwait(false);
        // A table CockroachDB said was dropped is not resumed: one of that name now is another table, added as new.
        var covered = _tables.Values.Where(t => (position.Tables is null || position.Tables.Contains(QualifiedName(t), StringComparer.Ordinal)) && !_dropped.Contains(QualifiedName(t))).ToList();
        var current = Names(_tables.Values);
        foreach (var gone in (position.Tables ?? []).Concat(position.Adding ?? []).Except(current, StringComparer.Ordinal).Distinct(StringComparer.Ordinal))
        {
            if (!_dropped.Contains(gone) && _gone.Add(gone))
            {
                // Dropped (or no longer matched by the table settings) before this run looked: said once.
                CockroachDbLog.TableGone(_logger, _name, gone, position.Resolved);
            }
        }

        var coveredNames = covered.Select(t => t.Name).ToHashSet(StringComparer.Ordinal);
        _addedAt = null;
        _nextPollMs = Environment.TickCount64 + (long)_options.NewTablePollInterval.TotalMilliseconds;
        var cursor = position.Resolved;
        var added = position.Adding is null ? [] : _tables.Values.Where(t => !coveredNames.Contains(t.Name) && position.Adding.Contains(QualifiedName(t), StringComparer.Ordinal) && !_dropped.Contains(QualifiedName(t))).ToList();
        if (added.Count == 0)
        {
            added = [.. _tables.Values.Where(t => !coveredNames.Contains(t.Name))];
            _addedAt = added.Count == 0 ? null : await _catalog!.NowAsync(cancellationToken).ConfigureAwait(false);
            if (covered.Count > 0)
            {
                CockroachDbLog.Starting(_logger, _name, covered.Count, cursor, from, position.ScanPending);
                var plan = new FeedPlan(covered, cursor, position.ScanPending ? FeedScan.Snapshot : FeedScan.None);
                cursor = await StreamAsync(plan, cancellationToken).ConfigureAwait(false);
                added = [.. _tables.Values.Where(t => !coveredNames.Contains(t.Name))];
            }
            else
            {
                // Nothing to resume: the added tables are scanned as of the time they were seen.
                cursor = _addedAt!;
            }

            // Stored before the scan starts, as an initial scan's time is: a restart during it scans again as of the same
            // time (then every change after it follows), so a row it emitted and that was deleted since gets its delete.
            await StoreBeforeFeedAsync(_context!, new CockroachDbPosition(cursor, ScanPending: false, Names(covered), Names(added)), cancellationToken).ConfigureAwait(false);
        }

        // else: an addition whose scan did not finish before a restart: the same scan again, as of the same time.
        CockroachDbLog.AddingTables(_logger, _name, string.Join(", ", added.Select(QualifiedName)), cursor);
        var next = new CockroachDbPosition(cursor, ScanPending: false, Names([.. covered, .. added]));
        await StreamAsync(new FeedPlan(added, cursor, FeedScan.Created) { Done = next }, cancellationToken).ConfigureAwait(false);
        foreach (var table in added)
        {
            // Created again after a drop and now added as of a time it exists: resumed from here on like any other.
            _dropped.Remove(QualifiedName(table));
        }

        return next;
    }

    /// <summary>
    /// Leaves a dropped table out: CockroachDB ends a changefeed whose target was dropped, and no changefeed can target a
    /// dropped table, so the others go on from the last resolved timestamp handed over (<paramref name="resume"/>; what
    /// followed it comes again). A table of that name that exists now was created again: CockroachDB resolves a
    /// changefeed's targets as of its cursor, so it is added as a new table (scanned as of a time it exists), not resumed.
    /// </summary>
    /// <returns>The position to go on from.</returns>
    private async Task<CockroachDbPosition> LeaveDroppedAsync(string dropped, PostgresException ex, CockroachDbPosition resume)
    {
        var names = DroppedNames(dropped, resume);
        if (names.Count == 0 || names.Any(n => !_dropped.Add(n)))
        {
            throw new SourceException(
                $"CockroachDB source '{_name}': CockroachDB ended the changefeed because table {dropped} was dropped ({ex.MessageText}), " +
                $"{(names.Count == 0 ? "a table this source does not know by that name" : "again after the source had left it out")}. Restart the source; if this repeats, reset its stored position.",
                isTransient: false, ex);
        }

        CockroachDbLog.TableDropped(_logger, _name, string.Join(", ", names), resume.Resolved);
        await CloseFeedAsync().ConfigureAwait(false);
        return resume;
    }

    /// <summary>The table a changefeed error says is offline, and why (<c>CHANGEFEED cannot target offline table: name
    /// (offline reason: "importing")</c>, changefeedvalidators' check of each target's descriptor), or null.</summary>
    private static (string Table, string Reason)? OfflineTable(PostgresException ex)
    {
        const string Prefix = "CHANGEFEED cannot target offline table: ";
        const string ReasonStart = " (offline reason: ";
        var text = ex.MessageText;
        if (!text.StartsWith(Prefix, StringComparison.Ordinal))
        {
            return null;
        }

        var rest = text[Prefix.Length..];
        var at = rest.IndexOf(ReasonStart, StringComparison.Ordinal);
        var table = (at >= 0 ? rest[..at] : rest).Trim();
        var reason = at >= 0 ? rest[(at + ReasonStart.Length)..].TrimEnd(')').Trim('"') : string.Empty;
        return table.Length > 0 ? (table, reason) : null;
    }

    /// <summary>The table a changefeed error says was dropped (<c>"name" was dropped</c>, changefeedbase's check of each
    /// target's descriptor: the table's name, or its full name with <c>full_table_name</c>), or null.</summary>
    private static string? DroppedTable(PostgresException ex)
    {
        const string Suffix = "\" was dropped";
        var text = ex.MessageText;
        return text.Length > Suffix.Length + 1 && text[0] == '"' && text.EndsWith(Suffix, StringComparison.Ordinal) ? text[1..^Suffix.Length] : null;
    }

    /// <summary>The captured tables (schema.table) that <paramref name="reported"/> (a table's name, or
    /// <c>database.schema.table</c>) names, among those of the changefeed that ended and those described.</summary>
    private List<string> DroppedNames(string reported, CockroachDbPosition resume)
    {
        var parts = reported.Split('.');
        var table = parts[^1];
        var schema = parts.Length >= 2 ? parts[^2] : null;
        return [.. (resume.Tables ?? []).Concat(resume.Adding ?? []).Concat(Names(_tables.Values)).Distinct(StringComparer.Ordinal)
            .Where(n => n.EndsWith("." + table, StringComparison.Ordinal) && (schema is null || n == schema + "." + table))];
    }

    /// <summary>The captured tables' names as a position records them, in ordinal order.</summary>
    private static List<string> Names(IEnumerable<CockroachDbTable> tables) => [.. tables.Select(QualifiedName).Order(StringComparer.Ordinal)];

    private static string QualifiedName(CockroachDbTable table) => table.Table.Schemas.Table.Schema + "." + table.Name;

    /// <summary>Called by the runtime's position keeper after a position was stored: ends <see cref="StoreBeforeFeedAsync"/>'s wait.</summary>
    public override ValueTask OnPositionStoredAsync(CockroachDbPosition position, CancellationToken cancellationToken)
    {
        if (_awaitedStore is { } awaited && ReferenceEquals(awaited.Position, position))
        {
            awaited.Stored.TrySetResult();
        }

        return ValueTask.CompletedTask;
    }

    public override async ValueTask DisposeAsync()
    {
        await CloseAsync().ConfigureAwait(false);
        await base.DisposeAsync().ConfigureAwait(false);
    }

    /// <summary>
    /// Marks <paramref name="position"/> as a checkpoint (nothing was written before it in this run, so Kafka has nothing to
    /// acknowledge first) and waits until the runtime stored it: the changefeed that follows may emit scan rows, and a
    /// restart must find this position, not an earlier one or none (then it would scan again at a later time, and a row the
    /// first scan emitted and that was deleted in between would never get its delete).
    /// </summary>
    private async Task StoreBeforeFeedAsync(SourceContext<CockroachDbPosition> context, CockroachDbPosition position, CancellationToken cancellationToken)
    {
        var awaited = new AwaitedStore(position, new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously));
        _awaitedStore = awaited;
        try
        {
            context.Checkpoint(position);
            await context.FlushAsync(cancellationToken).ConfigureAwait(false);
            context.RequestStore();
            CockroachDbLog.StoringStart(_logger, _name, position.ToString());
            await awaited.Stored.Task.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            _awaitedStore = null;
        }
    }

    private static bool IsExpiredCursor(PostgresException ex) =>
        ex.MessageText.Contains("gc threshold", StringComparison.OrdinalIgnoreCase) || ex.MessageText.Contains("do the targets exist", StringComparison.OrdinalIgnoreCase);

    /// <summary>CockroachDB's refusal of a cursor after its clock (<c>AS OF SYSTEM TIME: cannot specify timestamp in the
    /// future</c>, <c>pkg/sql/sem/tree</c>'s evaluation of AS OF SYSTEM TIME, which the cursor goes through).</summary>
    private static bool IsCursorInFuture(PostgresException ex) => ex.MessageText.Contains("cannot specify timestamp in the future", StringComparison.OrdinalIgnoreCase);

    private static bool IsSchemaChangeStop(PostgresException ex) => ex.MessageText.Contains("schema change occurred", StringComparison.OrdinalIgnoreCase);

    /// <summary>Lists the captured tables and describes them (again: the same description is the same table).</summary>
    private async Task DescribeTablesAsync(CancellationToken cancellationToken)
    {
        _tables.Clear();
        foreach (var (schema, name) in await CapturedTablesAsync(cancellationToken).ConfigureAwait(false))
        {
            await DescribeAsync(schema, name, asOf: null, cancellationToken).ConfigureAwait(false);
        }

        if (_tables.Count == 0)
        {
            throw new SourceException(
                $"CockroachDB source '{_name}': no table of database '{_database}' matches IncludeTables ({string.Join(", ", _options.IncludeTables.DefaultIfEmpty("every table"))}) and ExcludeTables; a changefeed needs at least one.",
                isTransient: false);
        }
    }

    /// <summary>The tables of the catalog that the patterns capture; two with the same name are refused.</summary>
    private async Task<List<(string Schema, string Name)>> CapturedTablesAsync(CancellationToken cancellationToken)
    {
        var filter = new TableFilter(_options, CockroachDbCatalog.SystemSchemas);
        var captured = new List<(string Schema, string Name)>();
        foreach (var (schema, name) in await _catalog!.TablesAsync(cancellationToken).ConfigureAwait(false))
        {
            if (CockroachDbCatalog.SystemSchemas.Contains(schema) || !filter.Captures(schema, name))
            {
                continue;
            }

            if (captured.FirstOrDefault(c => c.Name == name) is { Schema: not null } other)
            {
                throw new SourceException(
                    $"CockroachDB source '{_name}': tables {other.Schema}.{name} and {schema}.{name} have the same name; a changefeed names its rows' table without the schema. Exclude one of them (ExcludeTables), or capture them with two sources.",
                    isTransient: false);
            }

            captured.Add((schema, name));
        }

        return captured;
    }

    /// <summary>Every <see cref="CockroachDbSourceOptions.NewTablePollInterval"/>, between rows of the changefeed: captured
    /// tables the changefeed does not watch yet are described and the clock read (they exist at that time); the
    /// changefeed then ends at its first resolved timestamp at or after it and the tables are added
    /// (<see cref="RunFromAsync"/>).</summary>
    private async Task PollForNewTablesAsync(CancellationToken cancellationToken)
    {
        _nextPollMs = Environment.TickCount64 + (long)_options.NewTablePollInterval.TotalMilliseconds;
        var found = new List<string>();
        foreach (var (schema, name) in await CapturedTablesAsync(cancellationToken).ConfigureAwait(false))
        {
            if (!_tables.ContainsKey(name))
            {
                await DescribeAsync(schema, name, asOf: null, cancellationToken).ConfigureAwait(false);
                found.Add(schema + "." + name);
            }
        }

        if (found.Count > 0)
        {
            _addedAt = await _catalog!.NowAsync(cancellationToken).ConfigureAwait(false);
            CockroachDbLog.TablesFound(_logger, _name, string.Join(", ", found), _addedAt);
        }
    }

    private async Task<CockroachDbTable> DescribeAsync(string schema, string name, string? asOf, CancellationToken cancellationToken) =>
        await DescribeAsync(schema, name, asOf, omit: null, cancellationToken).ConfigureAwait(false);

    /// <summary>Describes and registers a table (as of <paramref name="asOf"/>), leaving out the computed columns in
    /// <paramref name="omit"/> (virtual ones a row was found without), and makes it the table's current version.</summary>
    private async Task<CockroachDbTable> DescribeAsync(string schema, string name, string? asOf, IReadOnlySet<string>? omit, CancellationToken cancellationToken)
    {
        var (description, types, computed) = await _catalog!.DescribeAsync(schema, name, asOf, omit, cancellationToken).ConfigureAwait(false);
        var table = _context!.Table(new SourceTableInfo(description, _database, schema));
        await _context.RegisterAsync(table, cancellationToken).ConfigureAwait(false);
        var columns = description.Columns.Select(c => c.Name).ToArray();
        var key = description.KeyColumns.Select(k => Array.IndexOf(columns, k)).ToArray();
        if (!_versions.TryGetValue(name, out var versions))
        {
            _versions[name] = versions = [];
        }

        if (versions.FirstOrDefault(v => ReferenceEquals(v.Table, table)) is not { } described)
        {
            described = new CockroachDbTable(table, types, columns, key, computed);
            versions.Add(described);
        }

        return _tables[name] = described;
    }

    private string Statement(FeedPlan plan)
    {
        var targets = string.Join(", ", plan.Tables.Select(t => $"{Quote(_database)}.{Quote(t.Table.Schemas.Table.Schema)}.{Quote(t.Name)}"));
        var resolved = ((long)Math.Max(1, _options.ResolvedInterval.TotalMilliseconds)).ToString(CultureInfo.InvariantCulture) + "ms";
        var policy = _options.SchemaChangePolicy == CockroachDbSchemaChangePolicy.Stop ? "stop" : "backfill";
        // min_checkpoint_frequency as well: since 22.1 CockroachDB sends resolved timestamps no more often than it (30 s unless
        // set), whatever `resolved` asks for.
        return $"CREATE CHANGEFEED FOR TABLE {targets} WITH updated, resolved = '{resolved}', min_checkpoint_frequency = '{resolved}', diff, mvcc_timestamp, format = 'json', envelope = 'wrapped', " +
            (_jsonNullAsObject ? "encode_json_value_null_as_object, " : string.Empty) +
            $"schema_change_policy = '{policy}', cursor = '{plan.Cursor}', initial_scan = '{(plan.Scan == FeedScan.None ? "no" : "yes")}'";
    }

    private static string Quote(string identifier) => "\"" + identifier.Replace("\"", "\"\"", StringComparison.Ordinal) + "\"";

    /// <summary>Runs one changefeed until <see cref="ReadFeedAsync"/> ends it; returns the resolved timestamp it ended at.</summary>
    private async Task<string> StreamAsync(FeedPlan plan, CancellationToken cancellationToken)
    {
        // The feed's own end (Npgsql cancels the query when the token given to ExecuteReaderAsync is cancelled, for as long
        // as its reader reads): on the source's stop at once when no change handed over is past the last resolved
        // timestamp; else at the first resolved timestamp past them all (stored, so a restart repeats nothing), or after
        // StopWait.
        using var feedStop = new CancellationTokenSource();
        var ahead = new AheadOfResolved();
        using var onStop = cancellationToken.UnsafeRegister(_ => ahead.Stop(feedStop, StopWait, _logger, _name), null);
        _feed = await _dataSource!.OpenConnectionAsync(feedStop.Token).ConfigureAwait(false);
        var command = new NpgsqlCommand(Statement(plan), _feed) { CommandTimeout = 0 };
        await using var commandScope = command.ConfigureAwait(false);
        var reader = await command.ExecuteReaderAsync(CommandBehavior.SingleResult, feedStop.Token).ConfigureAwait(false);
        _skewDeadline = null;
        try
        {
            return await ReadFeedAsync(reader, plan, ahead, feedStop, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            await EndFeedAsync(reader).ConfigureAwait(false);
            await CloseFeedAsync().ConfigureAwait(false);
        }
    }

    /// <summary>Flushes while a read is in flight; if the flush fails, the read is cancelled (Npgsql's CancelRequest, then
    /// a broken connection after its Cancellation Timeout) and awaited first, so that the reader is idle when the feed is
    /// ended.</summary>
    private static async Task FlushWhileReadingAsync(SourceContext<CockroachDbPosition> context, Task<bool> read, CancellationTokenSource reads, CancellationToken cancellationToken)
    {
        try
        {
            await context.FlushAsync(cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            await reads.CancelAsync().ConfigureAwait(false);
            try
            {
                await read.WaitAsync(TimeSpan.FromSeconds(30), CancellationToken.None).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is OperationCanceledException or NpgsqlException or IOException or TimeoutException or PostgresException)
            {
                // the flush's error is the one reported
            }

            throw;
        }
    }

    /// <summary>Ends a changefeed that may still be streaming, without waiting on its endless rows: a read whose token is
    /// cancelled as soon as it has to wait makes Npgsql send a CancelRequest and, if CockroachDB does not end the query
    /// within the Cancellation Timeout, break the connection. Only then is the reader disposed (disposing a reader
    /// consumes its remaining rows, which a changefeed never ends).</summary>
    private static async Task EndFeedAsync(NpgsqlDataReader reader)
    {
        try
        {
            using var end = new CancellationTokenSource(TimeSpan.FromMilliseconds(1));
            while (await reader.ReadAsync(end.Token).ConfigureAwait(false))
            {
                // rows already received after the failure or the stop: dropped, the next run reads them again
            }
        }
        catch (Exception ex) when (ex is OperationCanceledException or NpgsqlException or IOException or SocketException or ObjectDisposedException or InvalidOperationException)
        {
            // the feed ended (cancelled, broken, or failed before)
        }

        try
        {
            await reader.DisposeAsync().ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is NpgsqlException or IOException or SocketException or ObjectDisposedException or InvalidOperationException)
        {
            // the connection is closed right after
        }
    }

    /// <summary>
    /// Reads a changefeed. Its resolved timestamps are checkpoints of its tables, except during its scan (before a resolved
    /// timestamp at or after the cursor: the stored position stays what it was) and in a changefeed of added tables
    /// (<see cref="FeedScan.Created"/>), which ends at its first resolved timestamp at or after the cursor with the position
    /// <see cref="FeedPlan.Done"/>. A changefeed of the covered tables looks for new tables and ends, after its checkpoint,
    /// at the first resolved timestamp at or after the time they were seen. On the source's stop it ends as
    /// <paramref name="ahead"/> says: at once, or after the checkpoint of a resolved timestamp past every change handed over.
    /// </summary>
    private async Task<string> ReadFeedAsync(NpgsqlDataReader reader, FeedPlan plan, AheadOfResolved ahead, CancellationTokenSource feedStop, CancellationToken cancellationToken)
    {
        var context = _context!;
        var cursor = plan.Cursor;
        var cursorUtf8 = Encoding.UTF8.GetBytes(cursor);
        var scanning = plan.Scan != FeedScan.None;
        ahead.Scanning = scanning;
        var names = Names(plan.Tables);
        var unflushed = 0;
        using var reads = CancellationTokenSource.CreateLinkedTokenSource(feedStop.Token);
        var work = feedStop.Token;
        while (true)
        {
            var next = reader.ReadAsync(reads.Token);
            if (!next.IsCompleted && context.HasPending)
            {
                // Nothing more has arrived: what was written goes to Kafka now, while the read waits (a change never waits
                // for the next resolved timestamp; a busy feed is handed over in batches).
                await FlushWhileReadingAsync(context, next, reads, work).ConfigureAwait(false);
                unflushed = 0;
            }

            if (!await next.ConfigureAwait(false))
            {
                break;
            }

            if (work.IsCancellationRequested)
            {
                // The feed ends (a stop with nothing to wait for, or whose wait ran out): a row Npgsql had already received
                // is not handed over (the restart reads it again), so nothing goes past the last checkpoint.
                throw new OperationCanceledException(cancellationToken);
            }

            var value = reader.GetFieldValue<byte[]>(2);
            if (reader.IsDBNull(0))
            {
                var resolved = Resolved(value);
                if (scanning)
                {
                    if (Hlc.Compare(resolved, cursor) < 0)
                    {
                        // Before the scan's time: the scan is not finished, the stored position stays what it was.
                        context.ReportAlive();
                        continue;
                    }

                    scanning = false;
                    ahead.Scanning = false;
                    CockroachDbLog.ScanDone(_logger, _name, resolved);
                }

                if (plan.Done is { } done)
                {
                    context.Checkpoint(done);
                    await context.FlushAsync(work).ConfigureAwait(false);
                    return resolved;
                }

                context.Checkpoint(new CockroachDbPosition(resolved, ScanPending: false, names));
                await context.FlushAsync(work).ConfigureAwait(false);
                unflushed = 0;
                context.ReportProgress(Hlc.WallNanos(resolved) / 1_000_000);
                CockroachDbLog.Resolved(_logger, _name, resolved);
                if (ahead.Resolved(resolved))
                {
                    // Stopping, and every change handed over is at or before this checkpoint: the runtime stores it once
                    // Kafka acknowledged them.
                    CockroachDbLog.StoppedAtResolved(_logger, _name, resolved);
                    throw new OperationCanceledException(cancellationToken);
                }

                if (_addedAt is { } addedAt && Hlc.Compare(resolved, addedAt) >= 0)
                {
                    return resolved;
                }

                if (_addedAt is null && Environment.TickCount64 >= _nextPollMs)
                {
                    await PollForNewTablesAsync(work).ConfigureAwait(false);
                }

                continue;
            }

            var table = TableOf(reader.GetString(0));
            var key = reader.IsDBNull(1) ? [] : reader.GetFieldValue<byte[]>(1);
            var scanCursor = scanning ? cursorUtf8 : null;
            var scanAsCreates = plan.Scan == FeedScan.Created;
            var change = ReadChange(table, value);
            if (scanAsCreates && (scanCursor is null || Hlc.Compare(change.UpdatedUtf8, scanCursor) > 0))
            {
                // A change after the scan of added tables: the changefeed of all the tables that follows, from the scan's
                // cursor, brings it.
                continue;
            }

            if (!change.SameShape || !HasKey(table, key))
            {
                table = await VersionOfAsync(table, value, key, change.UpdatedText, work).ConfigureAwait(false);
                change = ReadChange(table, value);
            }

            Emit(table, key, change, scanCursor, scanAsCreates);
            ahead.Emitted(change.UpdatedUtf8);
            if (++unflushed >= FlushEvery)
            {
                await context.FlushAsync(work).ConfigureAwait(false);
                unflushed = 0;
            }
        }

        throw new IOException($"CockroachDB ended the changefeed of source '{_name}' without an error.");
    }

    private string Resolved(byte[] value)
    {
        try
        {
            using var document = JsonDocument.Parse(value);
            if (document.RootElement.TryGetProperty("resolved", out var resolved) && resolved.GetString() is { } text && Hlc.IsValid(text))
            {
                return text;
            }
        }
        catch (JsonException)
        {
            // reported below
        }

        throw new SourceException($"CockroachDB source '{_name}': a changefeed row with a NULL table is not a resolved timestamp ({{\"resolved\":\"…\"}}): {Excerpt(value)}", isTransient: false);
    }

    /// <summary>The captured table of a changefeed row.</summary>
    private CockroachDbTable TableOf(string tableName) => _tables.TryGetValue(tableName, out var table) ? table
        : throw new SourceException($"CockroachDB source '{_name}': the changefeed sent a row of table '{tableName}', which the source did not ask for.", isTransient: false);

    /// <summary>Reads a change's wrapped envelope in one pass: <c>after</c> and <c>before</c> into the connector's two
    /// images, where <c>updated</c> and <c>mvcc_timestamp</c> are; any other property is skipped.</summary>
    private Change ReadChange(CockroachDbTable table, byte[] value)
    {
        Range? updated = null;
        Range? mvcc = null;
        var sameShape = true;
        _after.Clear(table.Columns.Length);
        _before.Clear(table.Columns.Length);
        var reader = new Utf8JsonReader(value);
        try
        {
            if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject)
            {
                throw new SourceException($"CockroachDB source '{_name}': a changefeed row of table {table.Table.QualifiedName} is not a JSON object (envelope='wrapped'): {Excerpt(value)}", isTransient: false);
            }

            while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
            {
                if (reader.ValueTextEquals("after"u8))
                {
                    reader.Read();
                    if (reader.TokenType == JsonTokenType.StartObject)
                    {
                        sameShape = _after.ReadRow(ref reader, value, table);
                        continue;
                    }
                }
                else if (reader.ValueTextEquals("before"u8))
                {
                    reader.Read();
                    if (reader.TokenType == JsonTokenType.StartObject)
                    {
                        _before.ReadRow(ref reader, value, table);
                        continue;
                    }
                }
                else if (reader.ValueTextEquals("updated"u8))
                {
                    reader.Read();
                    updated = Timestamp(ref reader, "updated", table, value);
                    continue;
                }
                else if (reader.ValueTextEquals("mvcc_timestamp"u8))
                {
                    reader.Read();
                    mvcc = reader.TokenType == JsonTokenType.Null ? null : Timestamp(ref reader, "mvcc_timestamp", table, value);
                    continue;
                }
                else
                {
                    reader.Read();
                }

                reader.Skip();
            }

            if (reader.Read())
            {
                throw new JsonException($"'{(char)value[reader.TokenStartIndex]}' follows the envelope's object");
            }
        }
        catch (JsonException ex)
        {
            throw new SourceException($"CockroachDB source '{_name}': a changefeed row of table {table.Table.QualifiedName} is not valid JSON at byte {reader.BytesConsumed}: {ex.Message} ({Excerpt(value)})", isTransient: false, ex);
        }

        return new Change(
            value,
            updated ?? throw new SourceException($"CockroachDB source '{_name}': a changefeed row of table {table.Table.QualifiedName} has no 'updated' timestamp; the changefeed must be created WITH updated.", isTransient: false),
            mvcc,
            sameShape);
    }

    /// <summary>Where an HLC timestamp (a JSON string of digits, a point and digits) lies in the message.</summary>
    private Range Timestamp(ref Utf8JsonReader reader, string property, CockroachDbTable table, byte[] value)
    {
        if (reader.TokenType != JsonTokenType.String || reader.ValueIsEscaped || !Hlc.IsValid(reader.ValueSpan))
        {
            throw new SourceException($"CockroachDB source '{_name}': a changefeed row of table {table.Table.QualifiedName} has a '{property}' that is not an HLC timestamp (\"<wall nanoseconds>.<logical>\"): {Excerpt(value)}", isTransient: false);
        }

        var start = (int)reader.TokenStartIndex + 1;
        return new Range(start, start + reader.ValueSpan.Length);
    }

    /// <summary>Writes the change read by <see cref="ReadChange"/>: a delete without <c>before</c> takes its key's values
    /// from the changefeed's key.</summary>
    private void Emit(CockroachDbTable table, byte[] key, Change change, byte[]? scanCursor, bool scanAsCreates)
    {
        var context = _context!;
        var decimals = context.Events.DecimalHandling;
        var block = new CockroachDbSourceBlock(change.Value.AsSpan(change.Updated), change.Mvcc is { } mvcc ? change.Value.AsSpan(mvcc) : default, change.Mvcc is not null);
        try
        {
            if (!_after.IsRow)
            {
                if (!_before.IsRow)
                {
                    ReadKey(table, key, change);
                }

                context.Delete(table.Table, new CockroachDbRowImage(table, _before, _scratch, decimals, _jsonNullAsObject), block);
            }
            else if (_before.IsRow)
            {
                context.Update(table.Table, new CockroachDbRowImage(table, _before, _scratch, decimals, _jsonNullAsObject), hasBefore: true, new CockroachDbRowImage(table, _after, _scratch, decimals, _jsonNullAsObject), block);
            }
            else if (scanCursor is not null && Hlc.Compare(change.UpdatedUtf8, scanCursor) <= 0 && !scanAsCreates)
            {
                context.Read(table.Table, new CockroachDbRowImage(table, _after, _scratch, decimals, _jsonNullAsObject), block);
            }
            else
            {
                context.Insert(table.Table, new CockroachDbRowImage(table, _after, _scratch, decimals, _jsonNullAsObject), block);
            }
        }
        catch (Exception ex) when (ex is FormatException or InvalidOperationException or OverflowException or JsonException)
        {
            // FormatException: a value PostgreSQL's text form cannot read; InvalidOperationException: a string whose escapes
            // are no UTF-16 (a lone surrogate); OverflowException: a number past its column's type; JsonException: an array.
            throw new SourceException($"CockroachDB source '{_name}': cannot read the change of table {table.Table.QualifiedName} at {change.UpdatedText}: {ex.Message}", isTransient: false, ex);
        }
        catch (SourceValueException ex)
        {
            throw new SourceException($"CockroachDB source '{_name}': {ex.Message} (change at {change.UpdatedText})", isTransient: false, ex);
        }
    }

    /// <summary>A delete without a before image: its key columns from the changefeed's key.</summary>
    private void ReadKey(CockroachDbTable table, byte[] key, Change change)
    {
        try
        {
            _before.ReadKey(key, table);
        }
        catch (JsonException ex)
        {
            throw new SourceException($"CockroachDB source '{_name}': the key of a delete of table {table.Table.QualifiedName} at {change.UpdatedText} is not valid JSON (byte {ex.BytePositionInLine}): {Excerpt(key)}", isTransient: false, ex);
        }
    }

    /// <summary>The column names of a change's <c>after</c>, or of its <c>before</c> for a delete (for a change of shape,
    /// which is rare).</summary>
    private static List<string> AfterColumns(byte[] value)
    {
        using var document = JsonDocument.Parse(value);
        var root = document.RootElement;
        return root.TryGetProperty("after", out var image) && image.ValueKind == JsonValueKind.Object
            || root.TryGetProperty("before", out image) && image.ValueKind == JsonValueKind.Object
            ? [.. image.EnumerateObject().Select(p => p.Name)]
            : [];
    }

    /// <summary>Whether the changefeed's key of the change just read as <paramref name="table"/> (<see cref="ReadChange"/>) is
    /// its image's values of the table's key columns (<see cref="ChangefeedImage.HasKey"/>); a row without a key (none in a changefeed) has nothing to
    /// compare.</summary>
    private bool HasKey(CockroachDbTable table, byte[] key) => key.Length == 0 || (_after.IsRow ? _after : _before).HasKey(key, table);

    /// <summary>
    /// The table version a row's columns and key belong to. A column added or dropped makes CockroachDB (schema_change_policy
    /// backfill) emit every row again in the new shape; rows of other keys in the old shape may still follow within the
    /// same resolved interval (no order across keys), and a restart from a cursor before the change replays old-shape
    /// rows. An <c>ALTER PRIMARY KEY</c> re-emits no row (changefeedccl's kvfeed restarts the feed at the change and skips
    /// the backfill of a change that is only of the primary index, <c>kvfeed/kv_feed.go</c>, <c>scanIfShould</c>): the
    /// rows changed after it have the same columns and come keyed by the new key columns (a key array of their values), and
    /// a restart from a cursor before it replays rows keyed by the old ones. So: a version seen before with these columns
    /// and this key, or else the table as the catalog showed it at the row's <c>updated</c> time (<c>AS OF SYSTEM
    /// TIME</c>), registered like any new schema version (its key schema too), so that each event's key is the table's
    /// primary key at the event.
    /// </summary>
    private async Task<CockroachDbTable> VersionOfAsync(CockroachDbTable current, byte[] value, byte[] key, string updated, CancellationToken cancellationToken)
    {
        var versions = _versions[current.Name];
        foreach (var version in versions)
        {
            if (ReadChange(version, value).SameShape && HasKey(version, key))
            {
                return _tables[current.Name] = version;
            }
        }

        if (ReadChange(current, value).SameShape)
        {
            CockroachDbLog.KeyChanged(_logger, _name, current.Table.QualifiedName, updated);
        }
        else
        {
            CockroachDbLog.SchemaChanged(_logger, _name, current.Table.QualifiedName, updated);
        }

        var described = await DescribeAsync(current.Table.Schemas.Table.Schema, current.Name, updated, cancellationToken).ConfigureAwait(false);
        if (!ReadChange(described, value).SameShape
            && await WithoutVirtualColumnsAsync(described, value, updated, cancellationToken).ConfigureAwait(false) is { } narrower)
        {
            described = narrower;
        }

        if (!ReadChange(described, value).SameShape)
        {
            throw new SourceException(
                $"CockroachDB source '{_name}': a row of table {current.Table.QualifiedName} at {updated} has columns ({string.Join(", ", AfterColumns(value))}) " +
                $"that information_schema.columns as of that time does not show ({string.Join(", ", described.Columns)}).",
                isTransient: false);
        }

        if (!HasKey(described, key))
        {
            throw new SourceException(
                $"CockroachDB source '{_name}': a row of table {current.Table.QualifiedName} at {updated} has the key {Excerpt(key)}, which is not its values of the primary key " +
                $"({string.Join(", ", described.KeyColumns.Select(i => described.Columns[i]))}) that information_schema shows as of that time.",
                isTransient: false);
        }

        return described;
    }

    /// <summary>
    /// The table without the computed columns a row lacks, when that is all that differs from <paramref name="version"/>
    /// (the catalog as of the row's time): CockroachDB leaves VIRTUAL computed columns (a hash-sharded secondary index's
    /// shard column among them) out of a changefeed's rows, and its catalog lists them like stored ones. The table is
    /// described again as of <paramref name="asOf"/> without them and registered (logged, 1414); that version stays
    /// among the table's versions for the rows that follow. Null when the row lacks other columns (or key columns), or
    /// has columns the table does not.
    /// </summary>
    private async Task<CockroachDbTable?> WithoutVirtualColumnsAsync(CockroachDbTable version, byte[] value, string asOf, CancellationToken cancellationToken)
    {
        var present = AfterColumns(value).ToHashSet(StringComparer.Ordinal);
        var absent = version.Columns.Where((column, i) => !present.Contains(column)).ToList();
        if (present.Count == 0 || absent.Count == 0 || !present.IsSubsetOf(version.Columns)
            || absent.Any(column => Array.IndexOf(version.Columns, column) is var i && (!version.Computed[i] || version.KeyColumns.Contains(i))))
        {
            return null;
        }

        CockroachDbLog.VirtualColumnsLeftOut(_logger, _name, version.Table.QualifiedName, string.Join(", ", absent));
        var described = await DescribeAsync(version.Table.Schemas.Table.Schema, version.Name, asOf, absent.ToHashSet(StringComparer.Ordinal), cancellationToken).ConfigureAwait(false);
        return ReadChange(described, value).SameShape ? described : null;
    }

    private static string Excerpt(byte[] value) => value.Length <= 200 ? Encoding.UTF8.GetString(value) : Encoding.UTF8.GetString(value, 0, 200) + "…";

    private async Task CloseFeedAsync()
    {
        if (_feed is { } feed)
        {
            _feed = null;
            try
            {
                await feed.DisposeAsync().ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is NpgsqlException or IOException or SocketException or ObjectDisposedException or InvalidOperationException)
            {
                // A connection broken by the failure that ended the feed: nothing of it is needed any more.
            }
        }
    }

    private async Task CloseAsync()
    {
        await CloseFeedAsync().ConfigureAwait(false);
        if (_meta is not null)
        {
            await _meta.DisposeAsync().ConfigureAwait(false);
            _meta = null;
        }

        if (_dataSource is not null)
        {
            await _dataSource.DisposeAsync().ConfigureAwait(false);
            _dataSource = null;
        }
    }

    /// <summary>How long a stop waits for a resolved timestamp past the changes handed over: three resolved intervals and at
    /// least 5 s (a real cluster's resolved timestamps trail its changes by its closed-timestamp interval, a few seconds), at
    /// most half the source's <see cref="SourceOptions.ShutdownTimeout"/>. The runtime's wait for Kafka's acknowledgements
    /// (up to <see cref="SourceOptions.ShutdownTimeout"/>) follows it.</summary>
    private TimeSpan StopWait => TimeSpan.FromTicks(Math.Min(Math.Max(_options.ResolvedInterval.Ticks * 3, TimeSpan.FromSeconds(5).Ticks), _options.ShutdownTimeout.Ticks / 2));

    /// <summary>The latest <c>updated</c> of the changes handed over since the last resolved timestamp past them (the feed's
    /// loop writes it; a stop, on another thread, reads whether there is one), and whether the source is stopping.</summary>
    private sealed class AheadOfResolved
    {
        private byte[] _latest = new byte[48];
        private volatile int _length;
        private volatile bool _stopping;

        /// <summary>Whether the feed is in its scan (no resolved timestamp can end a stop's wait before the scan's end: a
        /// stop then ends the feed at once, and the restart scans again).</summary>
        public volatile bool Scanning;

        /// <summary>A change was handed over (the feed's loop).</summary>
        public void Emitted(ReadOnlySpan<byte> updated)
        {
            var length = _length;
            if (length > 0 && !After(updated, _latest.AsSpan(0, length)))
            {
                return;
            }

            if (updated.Length > _latest.Length)
            {
                _latest = new byte[updated.Length];
            }

            updated.CopyTo(_latest);
            _length = updated.Length;
        }

        /// <summary>Whether HLC <paramref name="a"/> is after <paramref name="b"/>, for every row without parsing: with wall
        /// parts of one length, the bytes' order is the HLCs' (a logical part printed longer but equal may count as after,
        /// which only copies an equal value); otherwise <see cref="Hlc.Compare(ReadOnlySpan{byte}, ReadOnlySpan{byte})"/>.</summary>
        private static bool After(ReadOnlySpan<byte> a, ReadOnlySpan<byte> b)
        {
            var wallA = a.IndexOf((byte)'.') is var pointA and >= 0 ? pointA : a.Length;
            var wallB = b.IndexOf((byte)'.') is var pointB and >= 0 ? pointB : b.Length;
            return wallA == wallB ? a.SequenceCompareTo(b) > 0 : Hlc.Compare(a, b) > 0;
        }

        /// <summary>A resolved timestamp was passed on as a checkpoint (the feed's loop).</summary>
        /// <returns>Whether the source is stopping and nothing handed over is past this checkpoint: the feed ends.</returns>
        public bool Resolved(string resolved)
        {
            if (_length > 0 && Hlc.Compare(_latest.AsSpan(0, _length), Encoding.UTF8.GetBytes(resolved)) <= 0)
            {
                _length = 0;
            }

            return _stopping && _length == 0;
        }

        /// <summary>The source stops: the feed ends now when nothing handed over is past the last checkpoint, else at the
        /// next resolved timestamp past it all, or after <paramref name="wait"/>.</summary>
        public void Stop(CancellationTokenSource feedStop, TimeSpan wait, ILogger logger, string source)
        {
            _stopping = true;
            if (_length == 0 || Scanning)
            {
                feedStop.Cancel();
                return;
            }

            CockroachDbLog.StopWaitsForResolved(logger, source, wait);
            feedStop.CancelAfter(wait);
        }
    }

    /// <summary>A change row's message and where its timestamps are in it (<see cref="ReadChange"/>).</summary>
    private readonly record struct Change(byte[] Value, Range Updated, Range? Mvcc, bool SameShape)
    {
        public ReadOnlySpan<byte> UpdatedUtf8 => Value.AsSpan(Updated);

        public string UpdatedText => Encoding.UTF8.GetString(UpdatedUtf8);
    }

    /// <summary>A position the connector waits to see stored (<see cref="StoreBeforeFeedAsync"/>).</summary>
    private sealed record AwaitedStore(CockroachDbPosition Position, TaskCompletionSource Stored);

    /// <summary>What a changefeed's scan rows are.</summary>
    private enum FeedScan
    {
        /// <summary>No scan (<c>initial_scan = 'no'</c>).</summary>
        None,

        /// <summary>The initial scan: rows as of the cursor are snapshot reads (<c>op = r</c>).</summary>
        Snapshot,

        /// <summary>The scan of tables added after the position: rows as of the cursor are creates (<c>op = c</c>; the source
        /// never emitted them), changes after the cursor are dropped (the next changefeed brings them), and the changefeed
        /// ends at its first resolved timestamp at or after the cursor.</summary>
        Created,
    }

    /// <summary>One changefeed: its tables, cursor and scan, and for <see cref="FeedScan.Created"/> the position stored when
    /// its scan is done.</summary>
    private sealed record FeedPlan(IReadOnlyList<CockroachDbTable> Tables, string Cursor, FeedScan Scan)
    {
        public CockroachDbPosition? Done { get; init; }
    }
}
