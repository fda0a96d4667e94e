using System.Buffers;
using System.Diagnostics;
using System.Net.Sockets;
using DataMesh.Connectors.Leases;
using DataMesh.Events;
using DataMesh.Sources;
using DataMesh.Sources.Leases;
using Microsoft.Extensions.Logging;
using Npgsql;
using Npgsql.Replication;
using Npgsql.Replication.Internal;
using NpgsqlTypes;

namespace DataMesh.Connectors.Postgres;

/// <summary>
/// The PostgreSQL connector on the source runtime: checks the database, manages the slot and the publication, streams
/// pgoutput (protocol 1) from the runtime's start position and hands each change to the runtime while the message's
/// bytes are in hand. The runtime stores a position only after Kafka acknowledged everything before it; this connector
/// then confirms it to the slot (<see cref="OnPositionStoredAsync"/>), so the slot never moves past an unacknowledged
/// change.
/// </summary>
internal sealed partial class PostgresConnector : SourceConnector<PostgresPosition>
{
    /// <summary>Schemas never captured.</summary>
    public static readonly IReadOnlyList<string> SystemSchemas = ["pg_catalog", "information_schema"];

    private readonly string _name;
    private readonly PostgresSourceOptions _options;
    private readonly ILogger _logger;
    private readonly Dictionary<uint, PgRelation> _relations = [];
    private readonly HashSet<uint> _ignored = [];
    private readonly Dictionary<uint, HashSet<string>> _relaxed = [];

    /// <summary>The columns (relation id, name) already named in a warning that an unchanged TOASTed value of theirs would stop the source.</summary>
    private readonly HashSet<(uint, string)> _toastWarned = [];
    private readonly RowMessage _row = new();
    private byte[] _message = ArrayPool<byte>.Shared.Rent(64 * 1024);
    private SourceContext<PostgresPosition>? _context;
    private PostgresSnapshotDialect? _snapshots;
    private NpgsqlConnection? _meta;
    private PostgresCatalog? _catalog;
    private LogicalReplicationConnection? _replication;
    private TableFilter? _filter;
    private PublicationManager? _tables;
    private string _database = string.Empty;
    private int _moneyScale = 2;
    private BeginMessage _transaction;
    private bool _inTransaction;
    private ulong _lastCheckpoint;
    private ulong _serverWalEnd;
    private ulong _storedLsn;

    public PostgresConnector(string name, PostgresSourceOptions options, ILogger logger)
    {
        _name = name;
        _options = options;
        _logger = logger;
    }

    public override string Kind => "postgresql";

    public override IReadOnlyList<SourceField> PositionFields => PgSourceBlock.Fields;

    /// <summary>How often the stream loop asks the publication manager whether a look for new tables is due.</summary>
    private static readonly TimeSpan TableCheckInterval = TimeSpan.FromMilliseconds(500);

    /// <summary>How often an idle stream looks whether the server's position passed a read-only high watermark.</summary>
    private static readonly TimeSpan IdleWatermarkInterval = TimeSpan.FromMilliseconds(10);

    /// <summary>Read-only watermarks: above this many delivered transactions, the stream loop forgets those a snapshot
    /// shows ended (at most once a second).</summary>
    private const int DeliveredToForget = 1024;

    /// <summary>The session settings under which pgoutput's text values have the forms <see cref="PgValueWriter"/> reads.</summary>
    internal static string SessionOptions => "-c DateStyle=ISO,YMD -c IntervalStyle=iso_8601 -c TimeZone=UTC -c extra_float_digits=3 -c bytea_output=hex";

    /// <summary>The replication connection's further setting: money in the C locale's form (<c>-$1,234.56</c>), whatever the
    /// database's <c>lc_monetary</c> (the walsender formats pgoutput's values under it). The ordinary sessions set it after
    /// reading the database's money fraction digits (<see cref="PostgresCatalog.UseCMoneyAsync"/>).</summary>
    internal const string MoneyOptions = " -c lc_monetary=C";

    /// <summary>How long a description waits for the catalog to show the columns a RELATION message names.</summary>
    private static readonly TimeSpan CatalogCatchUp = TimeSpan.FromSeconds(2);

    /// <summary>How a table is described to the runtime (the log and the snapshots alike).</summary>
    internal static SourceTableInfo TableInfo(TableDescription description, string database, string schema, string name) => new(description, database, schema)
    {
        MissingValues = MissingValuePolicy.Placeholder,
        MissingValueHint = $"PostgreSQL sends an unchanged TOASTed value only with REPLICA IDENTITY FULL: run ALTER TABLE {CapturedTable.Quote(schema)}.{CapturedTable.Quote(name)} REPLICA IDENTITY FULL;",
    };

    public override ISnapshotDialect? CreateSnapshotDialect() => _snapshots = new PostgresSnapshotDialect(_name, _options, _logger);

    /// <summary>A session advisory lock, per database, on a connection of its own (<c>datamesh-&lt;source&gt;-lease</c>).</summary>
    public override ISourceLease? CreateLease(string sourceName)
    {
        var builder = new NpgsqlConnectionStringBuilder(_options.ConnectionString) { ApplicationName = "datamesh-" + sourceName + "-lease", Pooling = false };
        PostgresTls.Secure(builder);
        var connectionString = builder.ConnectionString;
        var name = SessionLockLease.NameFor(sourceName, hashed: false);
        var idle = (long)SessionLockLease.IdleTimeout(_options.LeaseCheckInterval).TotalMilliseconds;
        // hashtextextended (PostgreSQL 11+) keys the lock by the name's 64-bit hash; the session holds at most this one.
        return new SessionLockLease(
            $"PostgreSQL advisory lock on hashtextextended('{name}', 0) in database {(string.IsNullOrEmpty(builder.Database) ? "(the user's default)" : builder.Database)}",
            name,
            async cancellationToken => await DbConnections.OpenAsync(new NpgsqlConnection(connectionString), cancellationToken).ConfigureAwait(false),
            "SELECT pg_try_advisory_lock(hashtextextended(@name, 0))",
            "SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid() AND granted)",
            "SELECT pg_advisory_unlock(hashtextextended(@name, 0))",
            // Keepalives and idle_session_timeout (set only where it exists: PostgreSQL 14+) end a dead holder's session on the
            // server's side.
            $"SELECT set_config('tcp_keepalives_idle', '10', false), set_config('tcp_keepalives_interval', '5', false), set_config('tcp_keepalives_count', '3', false), " +
            $"CASE WHEN current_setting('server_version_num')::int >= 140000 THEN set_config('idle_session_timeout', '{idle}', false) END",
            ex => PostgresTls.Explain(ex, _name, builder));
    }

    public override string FormatPosition(PostgresPosition position) => position.ToJson();

    public override PostgresPosition ParsePosition(string text) => PostgresPosition.Parse(text);

    public override string Describe(PostgresPosition position) => position.ToString();

    public override bool? IsTransient(Exception exception) => IsTransientError(exception);

    /// <summary>Whether a PostgreSQL error may clear by itself (connection loss, shutdown, too many connections, a
    /// serialization failure ...); null when it is not PostgreSQL's.</summary>
    internal static bool? IsTransientError(Exception exception) => exception switch
    {
        PostgresSourceException source => source.IsTransient,
        PostgresException pg => pg.SqlState.StartsWith("08", StringComparison.Ordinal) || pg.SqlState is "57P01" or "57P02" or "57P03" or "53300" or "55006" or "40001" or "40P01",
        NpgsqlException or SocketException => true,
        _ => null,
    };

    public override ValueTask OnPositionStoredAsync(PostgresPosition position, CancellationToken cancellationToken)
    {
        // The slot is confirmed only to a stored position: it never moves past a change Kafka did not acknowledge.
        Volatile.Write(ref _storedLsn, position.Lsn);
        _replication?.SetReplicationStatus(new NpgsqlLogSequenceNumber(position.Lsn));
        return ValueTask.CompletedTask;
    }

    public override async Task RunAsync(SourceContext<PostgresPosition> context, PostgresPosition? start, CancellationToken cancellationToken)
    {
        await CloseAsync().ConfigureAwait(false);
        _context = context;
        _snapshots?.ReadOnly?.ClearHigh(); // their chunks are abandoned: the new attempt reads them again
        _relations.Clear();
        _ignored.Clear();
        _inTransaction = false;
        var builder = new NpgsqlConnectionStringBuilder(_options.ConnectionString);
        builder.Options = string.IsNullOrWhiteSpace(builder.Options) ? SessionOptions : builder.Options + " " + SessionOptions;
        builder.ApplicationName ??= "datamesh-" + _name;
        PostgresTls.Secure(builder);
        var slot = _options.Slot(_name);
        var publication = _options.Publication(_name);
        PostgresLog.Connecting(_logger, _name, builder.Host, builder.Port, builder.Database, builder.Username, builder.SslMode.ToString(), slot, publication);

        _meta = new NpgsqlConnection(builder.ConnectionString);
        try
        {
            await _meta.OpenAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (PostgresTls.Explain(ex, _name, builder) is { } explained)
        {
            throw explained;
        }

        _database = _meta.Database;
        _catalog = new PostgresCatalog(_meta, _name);
        await _catalog.CheckServerAsync(cancellationToken).ConfigureAwait(false);
        _filter = new TableFilter(_options, SystemSchemas, OwnTables());
        _moneyScale = await _catalog.UseCMoneyAsync(cancellationToken).ConfigureAwait(false);
        _tables = new PublicationManager(_name, _options, _catalog, _logger, OwnTables());
        await _tables.StartAsync(publication, cancellationToken).ConfigureAwait(false);

        var existing = await WaitForSlotAsync(slot, cancellationToken).ConfigureAwait(false);
        _replication = new LogicalReplicationConnection(new NpgsqlConnectionStringBuilder(builder.ConnectionString) { Options = builder.Options + MoneyOptions }.ConnectionString);
        try
        {
            await _replication.Open(cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (PostgresTls.Explain(ex, _name, builder) is { } explained)
        {
            throw explained;
        }

        ulong from;
        string origin;
        if (existing is null)
        {
            if (start is not null)
            {
                throw new PostgresSourceException(
                    $"PostgreSQL source '{_name}': replication slot '{slot}' does not exist, but position {start} is stored for this source. " +
                    "The changes since then are no longer in a slot and cannot be streamed; reset the stored position to start afresh (and take a snapshot).");
            }

            if (!_options.CreateSlot)
            {
                throw new PostgresSourceException($"PostgreSQL source '{_name}': replication slot '{slot}' does not exist and CreateSlot is off.");
            }

            var created = await _replication.CreateLogicalReplicationSlot(slot, "pgoutput", isTemporary: false, LogicalSlotSnapshotInitMode.NoExport, twoPhase: false, cancellationToken).ConfigureAwait(false);
            from = (ulong)created.ConsistentPoint;
            origin = "new slot";
            PostgresLog.SlotCreated(_logger, _name, slot, PostgresPosition.Format(from));
        }
        else if (start is { } position && existing.Value.ConfirmedFlush > position.Lsn)
        {
            // DataMesh stores a position before it confirms it to the slot, so the slot can only be behind the stored
            // position. Ahead of it, something else moved the slot (or the positions topic is an older copy): the
            // changes in between can no longer be streamed.
            throw new PostgresSourceException(
                $"PostgreSQL source '{_name}': replication slot '{slot}' is confirmed up to {PostgresPosition.Format(existing.Value.ConfirmedFlush)}, beyond the stored position {position}; " +
                "the changes in between were consumed by something else and cannot be streamed again. Reset the stored position to continue from the slot (and take a snapshot).");
        }
        else
        {
            from = Math.Max(start?.Lsn ?? 0, existing.Value.ConfirmedFlush);
            origin = start is null ? "slot's confirmed position" : "stored position";
        }

        _lastCheckpoint = from;
        Volatile.Write(ref _storedLsn, Math.Max(Volatile.Read(ref _storedLsn), from));
        PostgresLog.Streaming(_logger, _name, PostgresPosition.Format(from), origin);
        if (_snapshots is { } snapshots)
        {
            // After the checks of the user's own setup (SELECT, REPLICATION, the slot): the snapshots' own tables, created
            // when missing and added to the publication (when DataMesh maintains it) before any watermark is written.
            await snapshots.PrepareAsync(cancellationToken).ConfigureAwait(false);
            await _tables.AddOwnTablesAsync(cancellationToken).ConfigureAwait(false);
        }

        // The slot exists: whatever is written from now on reaches this stream, snapshot watermarks included.
        context.StreamingStarted();
        await StreamAsync(slot, publication, from, cancellationToken).ConfigureAwait(false);
    }

    public override async ValueTask DisposeAsync()
    {
        await CloseAsync().ConfigureAwait(false);
        ArrayPool<byte>.Shared.Return(_message);
        _message = [];
        await base.DisposeAsync().ConfigureAwait(false);
    }

    /// <summary>The snapshots' watermark (none with read-only watermarks) and signal tables, captured whatever the patterns say.</summary>
    private IReadOnlyList<string> OwnTables() =>
        _snapshots?.Tables is { } own
            ? [.. new[] { own.Watermark, own.Signal }.OfType<string>().Select(table => own.Schema + "." + table)]
            : [];

    private async Task CloseAsync()
    {
        var replication = _replication;
        _replication = null;
        if (replication is not null)
        {
            await replication.DisposeAsync().ConfigureAwait(false);
        }

        if (_meta is not null)
        {
            await _meta.DisposeAsync().ConfigureAwait(false);
            _meta = null;
        }
    }

    private async Task StreamAsync(string slot, string publication, ulong start, CancellationToken cancellationToken)
    {
        var replicationSlot = new Npgsql.Replication.PgOutput.PgOutputReplicationSlot(new ReplicationSlotOptions(slot, new NpgsqlLogSequenceNumber(start)));
        var pluginOptions = new Dictionary<string, string?> { ["proto_version"] = "1", ["publication_names"] = CapturedTable.Quote(publication) };
        // The stream has a token of its own, cancelled whenever this method ends: a read left in flight by a failure
        // elsewhere (a heartbeat, a faulted producer) must not wait for the next message of an idle server.
        using var streaming = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var stream = _replication!.StartLogicalReplication(replicationSlot, streaming.Token, new NpgsqlLogSequenceNumber(start), pluginOptions);
        var enumerator = stream.GetAsyncEnumerator(streaming.Token);
        Task<bool>? pending = null;
        try
        {
            pending = enumerator.MoveNextAsync().AsTask();
            await PumpAsync(enumerator, () => pending, next => pending = next, slot, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            // The enumerator cannot be disposed while a MoveNextAsync is in flight: cancel it and let it end first.
            await streaming.CancelAsync().ConfigureAwait(false);
            if (pending is not null)
            {
                try
                {
                    await pending.ConfigureAwait(false);
                }
                catch (Exception ex) when (ex is OperationCanceledException or NpgsqlException or IOException or PostgresException or ObjectDisposedException)
                {
                    // Already reported through the main path.
                }
            }

            try
            {
                await enumerator.DisposeAsync().ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is NotSupportedException or NpgsqlException or IOException or ObjectDisposedException)
            {
                // The connection is closed right after; nothing of the stream's state is needed any more.
            }
        }
    }

    private async Task PumpAsync(IAsyncEnumerator<XLogDataMessage> enumerator, Func<Task<bool>> getPending, Action<Task<bool>> setPending, string slot, CancellationToken cancellationToken)
    {
        // Deadlines on the coarse monotonic clock (milliseconds): read for every message, at a few nanoseconds a read.
        var nextHeartbeat = Environment.TickCount64 + (long)_options.HeartbeatInterval.TotalMilliseconds;
        var nextTableCheck = Environment.TickCount64 + (long)TableCheckInterval.TotalMilliseconds;
        var nextForget = Environment.TickCount64;
        var readOnly = _snapshots?.ReadOnly;
        var delivered = _snapshots?.Delivered;
        while (true)
        {
            if (Environment.TickCount64 >= nextTableCheck)
            {
                // The publication manager decides whether a look for new tables is due (busy or idle stream alike).
                await _tables!.RefreshIfDueAsync(cancellationToken).ConfigureAwait(false);
                nextTableCheck = Environment.TickCount64 + (long)TableCheckInterval.TotalMilliseconds;
            }

            if (delivered is { DeliveredCount: > DeliveredToForget } && Environment.TickCount64 >= nextForget)
            {
                delivered.Forget(PgSnapshot.Parse(await _catalog!.CurrentSnapshotAsync(cancellationToken).ConfigureAwait(false)));
                nextForget = Environment.TickCount64 + 1000;
            }

            var pending = getPending();
            if (!pending.IsCompleted)
            {
                var wait = (int)Math.Clamp(Math.Min(nextHeartbeat, nextTableCheck) - Environment.TickCount64, 1, int.MaxValue);
                if (readOnly is { HasHighWatermarks: true })
                {
                    wait = Math.Min(wait, (int)IdleWatermarkInterval.TotalMilliseconds);
                }

                using var delayCancel = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
                var delay = Task.Delay(wait, delayCancel.Token);
                var first = await Task.WhenAny(pending, delay).ConfigureAwait(false);
                // Synchronously: the only callback is the delay's own (it stops its timer). CancelAsync would queue it to
                // the thread pool and this loop would wait for it there: one more thread-pool hop (a wake-up, a spin) for
                // every wait on the server (in the pg benchmark, one every 10 to 1,000 changes, depending on the load).
                delayCancel.Cancel();
                if (first != pending)
                {
                    cancellationToken.ThrowIfCancellationRequested();
                    if (readOnly is { HasHighWatermarks: true } && !_inTransaction)
                    {
                        await PassIdleAsync(readOnly, cancellationToken).ConfigureAwait(false);
                    }

                    if (Environment.TickCount64 >= nextHeartbeat)
                    {
                        await HeartbeatAsync(pending, cancellationToken).ConfigureAwait(false);
                        nextHeartbeat = Environment.TickCount64 + (long)_options.HeartbeatInterval.TotalMilliseconds;
                    }

                    continue;
                }
            }

            if (!await pending.ConfigureAwait(false))
            {
                throw new IOException($"PostgreSQL ended the replication stream of slot '{slot}'.");
            }

            var message = enumerator.Current;
            var length = await ReadMessageAsync(message.Data, cancellationToken).ConfigureAwait(false);
            _serverWalEnd = Math.Max(_serverWalEnd, (ulong)message.WalEnd);
            await HandleAsync(_message.AsMemory(0, length), (ulong)message.WalStart, cancellationToken).ConfigureAwait(false);
            if (_message.Length > 4 * 1024 * 1024)
            {
                // One huge value (a large TOASTed row) does not pin a huge buffer for the rest of the run.
                ArrayPool<byte>.Shared.Return(_message);
                _message = ArrayPool<byte>.Shared.Rent(64 * 1024);
            }

            setPending(enumerator.MoveNextAsync().AsTask());
        }
    }

    private async ValueTask<int> ReadMessageAsync(Stream data, CancellationToken cancellationToken)
    {
        var length = 0;
        while (true)
        {
            if (length == _message.Length)
            {
                if (_message.Length >= Array.MaxLength / 2)
                {
                    throw new PostgresSourceException($"PostgreSQL source '{_name}': a pgoutput message is larger than {_message.Length} bytes, more than the connector can hold.");
                }

                var larger = ArrayPool<byte>.Shared.Rent(_message.Length * 2);
                _message.AsSpan().CopyTo(larger);
                ArrayPool<byte>.Shared.Return(_message);
                _message = larger;
            }

            var read = await data.ReadAsync(_message.AsMemory(length), cancellationToken).ConfigureAwait(false);
            if (read == 0)
            {
                return length;
            }

            length += read;
        }
    }

    private async Task HandleAsync(ReadOnlyMemory<byte> message, ulong lsn, CancellationToken cancellationToken)
    {
        var context = _context!;
        if (message.IsEmpty)
        {
            throw new PostgresSourceException($"PostgreSQL source '{_name}': an empty pgoutput message at LSN {PostgresPosition.Format(lsn)}.");
        }

        try
        {
            switch ((PgOutputKind)message.Span[0])
            {
                case PgOutputKind.Begin:
                    _transaction = BeginMessage.Parse(message.Span);
                    if (_snapshots?.Delivered is { } delivered)
                    {
                        // Before its events: a transaction whose commit record starts at or past a read-only high watermark
                        // was not visible to that chunk's read, and every one that was came before it. Delivered: a low
                        // watermark waits until it is visible before its chunk's read.
                        Pass(delivered.Passed(_transaction.FinalLsn));
                        delivered.Begin(_transaction.Xid);
                    }

                    _inTransaction = true;
                    break;
                case PgOutputKind.Commit:
                    var commit = CommitMessage.Parse(message.Span);
                    _inTransaction = false;
                    // After its events and before its checkpoint (which then carries the chunks' progress): every transaction
                    // whose commit record ends at or before this one's end has come.
                    Pass(_snapshots?.Delivered.Passed(commit.EndLsn));
                    _snapshots?.Delivered.Committed(_transaction.Xid);
                    if (commit.EndLsn > _lastCheckpoint)
                    {
                        context.Checkpoint(new PostgresPosition(commit.EndLsn));
                        _lastCheckpoint = commit.EndLsn;
                    }

                    break;
                case PgOutputKind.Relation:
                    await OnRelationAsync(RelationMessage.Parse(message.Span), cancellationToken).ConfigureAwait(false);
                    break;
                case PgOutputKind.Insert:
                case PgOutputKind.Update:
                case PgOutputKind.Delete:
                    await OnRowAsync(message, lsn, cancellationToken).ConfigureAwait(false);
                    break;
                case PgOutputKind.Truncate:
                    OnTruncate(TruncateMessage.Parse(message.Span), lsn);
                    break;
                case PgOutputKind.Type:
                case PgOutputKind.Origin:
                case PgOutputKind.Message:
                    break;
                default:
                    throw new FormatException($"Unknown pgoutput message type 0x{message.Span[0]:x2}.");
            }
        }
        catch (FormatException ex)
        {
            throw new PostgresSourceException($"PostgreSQL source '{_name}': cannot decode the change at LSN {PostgresPosition.Format(lsn)}: {ex.Message}", ex);
        }
        catch (SourceValueException ex) when (ex is not SourceNullValueException)
        {
            throw new PostgresSourceException($"PostgreSQL source '{_name}': {ex.Message} (change at LSN {PostgresPosition.Format(lsn)})", ex);
        }

        if (context.HasPending)
        {
            await context.FlushAsync(cancellationToken).ConfigureAwait(false);
        }

        context.ReportProgress(_inTransaction ? _transaction.CommitTimeMicros / 1000 + 946_684_800_000L : 0, (long)(_serverWalEnd - Math.Min(_serverWalEnd, Volatile.Read(ref _storedLsn))));
    }

    private async Task OnRelationAsync(RelationMessage relation, CancellationToken cancellationToken)
    {
        if (!_filter!.Captures(relation.Namespace, relation.Name))
        {
            // A publication for all tables (or one managed elsewhere) also sends tables this source does not capture.
            _ignored.Add(relation.RelationId);
            _relations.Remove(relation.RelationId);
            return;
        }

        _ignored.Remove(relation.RelationId);
        await DescribeAsync(relation, cancellationToken).ConfigureAwait(false);
    }

    private async Task DescribeAsync(RelationMessage relation, CancellationToken cancellationToken)
    {
        var types = await _catalog!.GetTypesAsync(relation.Columns.Select(c => c.TypeOid), cancellationToken).ConfigureAwait(false);
        var columnTypes = relation.Columns.Select(c => PgColumnType.Resolve(c.TypeOid, c.TypeModifier, types, _moneyScale)).ToArray();
        var catalog = await _catalog.GetColumnsAsync(relation.RelationId, cancellationToken).ConfigureAwait(false);
        // PostgreSQL streams a commit before new snapshots see it: the RELATION message of a transaction that added a column
        // can arrive before the catalog shows the column, which was then described without its NOT NULL and its default
        // (old records read null where PostgreSQL gives them the default). Read again while the catalog lacks a column the
        // message names, for a while: a column a later statement dropped (a catalog ahead of the log) never comes back.
        for (var since = Stopwatch.GetTimestamp(); relation.Columns.Any(c => !catalog.Names.Contains(c.Name)) && Stopwatch.GetElapsedTime(since) < CatalogCatchUp;)
        {
            await Task.Delay(10, cancellationToken).ConfigureAwait(false);
            catalog = await _catalog.GetColumnsAsync(relation.RelationId, cancellationToken).ConfigureAwait(false);
        }

        _relations.TryGetValue(relation.RelationId, out var known);
        var relaxed = _relaxed.TryGetValue(relation.RelationId, out var set) ? set : [];
        var description = PgRelation.Describe(relation, catalog, columnTypes, known?.Table.Schemas.Table, relaxed);
        var table = _context!.Table(TableInfo(description, _database, relation.Namespace, relation.Name));
        WarnOfUnplaceableToast(relation, table);
        await _context.RegisterAsync(table, cancellationToken).ConfigureAwait(false);
        _relations[relation.RelationId] = new PgRelation(relation, table, columnTypes);
    }

    /// <summary>Warns once per column when an UPDATE that leaves a large (TOASTed) value of it unchanged would stop the source:
    /// without REPLICA IDENTITY FULL PostgreSQL does not send such a value, and the runtime has no placeholder for the
    /// column (<see cref="SourceTable.CarriesPlaceholder"/>). Of such columns, PostgreSQL can TOAST only its variable-length
    /// ones (arrays, geometries, numerics); values under about 2 kB never are, so most such tables never meet it.</summary>
    private void WarnOfUnplaceableToast(RelationMessage relation, SourceTable table)
    {
        if (relation.ReplicaIdentity == 'f')
        {
            return;
        }

        var described = table.Schemas.Table.Columns;
        var columns = Enumerable.Range(0, described.Count)
            .Where(i => !table.CarriesPlaceholder(i) && described[i].Type.Kind is DataTypeKind.Array or DataTypeKind.Geometry or DataTypeKind.Decimal or DataTypeKind.VariableDecimal)
            .Select(i => described[i].Name)
            .Where(name => _toastWarned.Add((relation.RelationId, name)))
            .ToList();
        if (columns.Count > 0)
        {
            PostgresLog.UnplaceableToast(_logger, _name, table.QualifiedName, string.Join(", ", columns), table.Info.MissingValueHint!);
        }
    }

    private async Task OnRowAsync(ReadOnlyMemory<byte> message, ulong lsn, CancellationToken cancellationToken)
    {
        var row = _row;
        row.Parse(message.Span);
        if (_ignored.Contains(row.RelationId))
        {
            return;
        }

        if (!_relations.TryGetValue(row.RelationId, out var relation))
        {
            throw new FormatException($"a {row.Kind} for relation {row.RelationId}, which no RELATION message described.");
        }

        while (true)
        {
            try
            {
                Emit(relation, row, message.Span, lsn);
                return;
            }
            catch (SourceNullValueException ex)
            {
                // The catalog said NOT NULL, but this change (older than a migration, say) has a NULL: the column becomes
                // nullable in a new schema version (a compatible change) and the row is written again.
                if (!_relaxed.TryGetValue(row.RelationId, out var relaxed))
                {
                    _relaxed[row.RelationId] = relaxed = new HashSet<string>(StringComparer.Ordinal);
                }

                if (relation.Table.Schemas.Table.KeyColumns.Contains(ex.Column) || !relaxed.Add(ex.Column))
                {
                    throw new PostgresSourceException($"PostgreSQL source '{_name}': {ex.Message} (change at LSN {PostgresPosition.Format(lsn)}); PostgreSQL sent NULL for a key column.", ex);
                }

                await DescribeAsync(relation.Message, cancellationToken).ConfigureAwait(false);
                relation = _relations[row.RelationId];
            }
        }
    }

    private void Emit(PgRelation relation, RowMessage row, ReadOnlySpan<byte> message, ulong lsn)
    {
        var columns = relation.ColumnTypes.Length;
        if ((row.HasNew && row.New.Count != columns) || (row.OldKind != '\0' && row.Old.Count != columns))
        {
            throw new FormatException($"a {row.Kind} on {relation.QualifiedName} has {(row.HasNew ? row.New.Count : row.Old.Count)} columns; its RELATION message has {columns}.");
        }

        var decimals = _context!.Events.DecimalHandling;
        var block = new PgSourceBlock(_transaction, lsn);
        var old = new PgRowImage(message, row.Old, relation, keyOnly: row.OldKind == 'K', decimals);
        switch (row.Kind)
        {
            case PgOutputKind.Insert:
                _context.Insert(relation.Table, new PgRowImage(message, row.New, relation, keyOnly: false, decimals), block);
                break;
            case PgOutputKind.Update:
                _context.Update(relation.Table, old, row.OldKind != '\0', new PgRowImage(message, row.New, relation, keyOnly: false, decimals), block);
                break;
            case PgOutputKind.Delete:
                _context.Delete(relation.Table, old, block);
                break;
        }
    }

    private void OnTruncate(TruncateMessage truncate, ulong lsn)
    {
        foreach (var id in truncate.RelationIds)
        {
            if (_ignored.Contains(id) || !_relations.TryGetValue(id, out var relation))
            {
                continue;
            }

            _context!.Truncate(relation.Table, new PgSourceBlock(_transaction, lsn));
            PostgresLog.Truncated(_logger, _name, relation.QualifiedName);
        }
    }

    /// <summary>The log passed these read-only high watermarks: their chunks' rows are written here.</summary>
    private void Pass(List<string>? watermarks)
    {
        if (watermarks is null)
        {
            return;
        }

        foreach (var watermark in watermarks)
        {
            _context!.Watermark(watermark);
        }
    }

    /// <summary>Read-only watermarks on an idle stream (no transaction open, no message waiting): the server's keepalives
    /// say how far it has decoded and sent the WAL; every high watermark up to there is passed (<see cref="ReadOnlyWatermarks"/>).
    /// The chunks' rows go to Kafka now, with their progress at the last position.</summary>
    private async Task PassIdleAsync(ReadOnlyWatermarks readOnly, CancellationToken cancellationToken)
    {
        if (readOnly.Passed((ulong)_replication!.LastReceivedLsn) is { } passed)
        {
            Pass(passed);
            _context!.Checkpoint(new PostgresPosition(_lastCheckpoint));
            await _context.FlushAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    private async Task HeartbeatAsync(Task<bool> pending, CancellationToken cancellationToken)
    {
        var context = _context!;
        context.ReportAlive();
        if (!string.IsNullOrWhiteSpace(_options.HeartbeatActionQuery))
        {
            try
            {
                await _catalog!.ExecuteAsync(_options.HeartbeatActionQuery, cancellationToken).ConfigureAwait(false);
            }
            catch (PostgresException ex) when (IsTransientError(ex) != true)
            {
                throw new PostgresSourceException($"PostgreSQL source '{_name}': HeartbeatActionQuery failed: {ex.MessageText} ({ex.SqlState}).", ex);
            }
        }

        // Idle (no transaction open, nothing in flight, no message waiting): everything the server has sent is
        // processed and acknowledged, so the slot may move to the last position the server reported.
        var received = (ulong)_replication!.LastReceivedLsn;
        if (!pending.IsCompleted && !_inTransaction && context.InFlight == 0 && !context.HasPending && received > _lastCheckpoint)
        {
            context.Checkpoint(new PostgresPosition(received));
            _lastCheckpoint = received;
            await context.FlushAsync(cancellationToken).ConfigureAwait(false);
            PostgresLog.Heartbeat(_logger, _name, PostgresPosition.Format(received));
        }
    }

    private async Task<(int? ActivePid, ulong ConfirmedFlush)?> WaitForSlotAsync(string slot, CancellationToken cancellationToken)
    {
        var started = Stopwatch.GetTimestamp(); // monotonic: a step of the wall clock does not end the wait early
        var logged = false;
        while (true)
        {
            var state = await _catalog!.GetSlotAsync(slot, cancellationToken).ConfigureAwait(false);
            if (state?.ActivePid is not { } pid)
            {
                return state;
            }

            if (Stopwatch.GetElapsedTime(started) >= _options.SlotBusyTimeout)
            {
                // Transient: a connector that just died holds its slot until PostgreSQL notices (wal_sender_timeout), so the
                // runtime retries with backoff and logs this message each time.
                throw new PostgresSourceException(
                    $"PostgreSQL source '{_name}': replication slot '{slot}' is active for PID {pid}: another connector (or replica) is streaming from it. " +
                    "Stop it, or give this source another SlotName.",
                    isTransient: true);
            }

            if (!logged)
            {
                PostgresLog.SlotBusy(_logger, _name, slot, pid);
                logged = true;
            }

            await Task.Delay(500, cancellationToken).ConfigureAwait(false);
        }
    }
}
