using System.Buffers;
using System.Collections.Concurrent;
using System.Diagnostics;
using System.Text;
using System.Text.Json;
using DataMesh.Avro;
using DataMesh.Events;
using DataMesh.Sources;
using Microsoft.Extensions.Logging;
using Npgsql;

namespace DataMesh.Connectors.Postgres;

/// <summary>
/// DBLog snapshots on PostgreSQL: the watermark table is an ordinary table in the publication; a chunk is one
/// <c>SELECT col, ... WHERE (key) &gt; (last key) ORDER BY key LIMIT n</c> in its own short transaction, its values in the
/// text format under the same session settings as the replication connection, so every value has the exact text form
/// pgoutput sends and goes through the same <see cref="PgValueWriter"/> as the log's. Row-value comparison uses the
/// primary key's index; no lock is held beyond the read's own ACCESS SHARE. With read-only watermarks nothing is written:
/// see <see cref="ReadOnlyWatermarks"/>. Either way a chunk is read only once every transaction the log delivered before its
/// low watermark is visible (commit order is not visibility order: see <see cref="ReadOnlyWatermarks"/>'s remarks).
/// </summary>
internal sealed class PostgresSnapshotDialect : ISnapshotDialect
{
    private const string SignalColumns = "(id text PRIMARY KEY, type text NOT NULL, data text)";

    /// <summary>How often a low watermark looks again at transactions delivered but not yet visible.</summary>
    private static readonly TimeSpan InvisibleRetry = TimeSpan.FromMilliseconds(20);

    /// <summary>How soon a low watermark looks again at the transactions that were running after its commit (then twice as
    /// late each time, up to <see cref="InvisibleRetry"/>).</summary>
    private static readonly TimeSpan RunningRetry = TimeSpan.FromMilliseconds(1);

    /// <summary>How long a low watermark looks at them before it waits for the log instead (which warns when late).</summary>
    private static readonly TimeSpan RunningLookLimit = TimeSpan.FromSeconds(10);

    private readonly string _source;
    private readonly PostgresSourceOptions _options;
    private readonly ILogger _logger;
    private readonly string _connectionString;
    private readonly ConcurrentDictionary<(string Schema, string Name), (string Fingerprint, Described Described)> _described = new();
    private readonly TableFilter _filter;
    private int _walBlockSize;
    private long _walSegmentSize;

    public PostgresSnapshotDialect(string source, PostgresSourceOptions options, ILogger logger)
    {
        _source = source;
        _options = options;
        _logger = logger;
        var builder = new NpgsqlConnectionStringBuilder(options.ConnectionString);
        // Standard strings whatever the server's setting: a snapshot's condition is checked as they read it (ConditionQuoting).
        const string Strings = " -c standard_conforming_strings=on";
        builder.Options = string.IsNullOrWhiteSpace(builder.Options) ? PostgresConnector.SessionOptions + Strings : builder.Options + " " + PostgresConnector.SessionOptions + Strings;
        builder.ApplicationName = "datamesh-" + source + "-snapshot";
        PostgresTls.Secure(builder);
        _connectionString = builder.ConnectionString;
        var (schema, watermark) = Split(options.Snapshot.WatermarkTable);
        var readOnly = options.Snapshot.Watermarks == SnapshotWatermarks.ReadOnly;
        Delivered = new ReadOnlyWatermarks();
        ReadOnly = readOnly ? Delivered : null;
        Tables = new SnapshotTables(schema, readOnly ? null : watermark, options.Snapshot.SignalTable is { } signal ? Split(signal).Name : null);
        // Its own filter (the options' one caches per table for the log thread); the snapshots' tables are not snapshotted.
        _filter = new TableFilter(options, PostgresConnector.SystemSchemas);
    }

    public SnapshotTables Tables { get; }

    /// <summary>Standard strings (a backslash is a character; the sessions set <c>standard_conforming_strings</c>), and
    /// PostgreSQL's dollar-quoted and <c>E'...'</c> strings, which a condition may not hold.</summary>
    public SqlQuoting ConditionQuoting => new(BackslashEscapes: false, PostgresStrings: true, HashComments: false);

    /// <summary>The state of read-only watermarks, which the connector's log thread shares, or null with table watermarks.</summary>
    public ReadOnlyWatermarks? ReadOnly { get; }

    /// <summary>The transactions the log delivered and the commits it handled, which the connector's log thread keeps for
    /// every low watermark, read-only or not (<see cref="ReadOnly"/> is this same object in read-only mode).</summary>
    public ReadOnlyWatermarks Delivered { get; }

    public async Task PrepareAsync(CancellationToken cancellationToken)
    {
        if (ReadOnly is not null)
        {
            await PrepareReadOnlyAsync(cancellationToken).ConfigureAwait(false);
            return;
        }

        var connection = await OpenAsync(cancellationToken).ConfigureAwait(false);
        await using (connection.ConfigureAwait(false))
        {
            await ReadWalAsync(connection, cancellationToken).ConfigureAwait(false);
        }

        // SELECT too: INSERT ... ON CONFLICT DO UPDATE reads the conflict target, and the publication takes only readable tables.
        await CreateIfMissingAsync(Tables.Watermark!, "(source text PRIMARY KEY, watermark text NOT NULL)", "SELECT, INSERT, UPDATE", nameof(SnapshotOptions.WatermarkTable), cancellationToken).ConfigureAwait(false);
        if (Tables.Signal is { } signal)
        {
            await CreateIfMissingAsync(signal, SignalColumns, "SELECT", nameof(SnapshotOptions.SignalTable), cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>Read-only watermarks create nothing: the server must have <c>pg_current_snapshot()</c> (13 or later), the
    /// signal table, if named, must exist; the WAL's page and segment sizes are read for <see cref="ReadOnlyWatermarks.RecordEnd"/>.
    /// With synchronous standbys, the running transactions count as delivered (<see cref="ReadOnlyWatermarks.Seed"/>).</summary>
    private async Task PrepareReadOnlyAsync(CancellationToken cancellationToken)
    {
        var connection = await OpenAsync(cancellationToken).ConfigureAwait(false);
        await using var scope = connection.ConfigureAwait(false);
        if (ReadOnlyRefusal(_source, connection.PostgreSqlVersion, $"{connection.Host}:{connection.Port}") is { } refusal)
        {
            throw new PostgresSourceException(refusal);
        }

        await ReadWalAsync(connection, cancellationToken).ConfigureAwait(false);
        if (Tables.Signal is { } name)
        {
            var signal = $"{Quote(Tables.Schema)}.{Quote(name)}";
            if (!await ExistsAsync(connection, signal, cancellationToken).ConfigureAwait(false))
            {
                throw new PostgresSourceException(
                    $"PostgreSQL source '{_source}': the signal table {Tables.Schema}.{name} (Snapshot:SignalTable) does not exist, and with Snapshot:Watermarks = ReadOnly the source creates nothing. " +
                    $"Create it as its owner: CREATE TABLE {signal} {SignalColumns}; GRANT SELECT ON {signal} TO {Quote(connection.UserName ?? "the_user")}; (and add it to the publication if you manage it), or unset Snapshot:SignalTable.");
            }
        }
    }

    /// <summary>Reads the WAL's page and segment sizes (for <see cref="ReadOnlyWatermarks.RecordEnd"/>); with synchronous
    /// standbys, the running transactions count as delivered (<see cref="ReadOnlyWatermarks.Seed"/>).</summary>
    private async Task ReadWalAsync(NpgsqlConnection connection, CancellationToken cancellationToken)
    {
        var command = new NpgsqlCommand(
            $"SELECT current_setting('wal_block_size')::int, pg_size_bytes(current_setting('wal_segment_size')), current_setting('synchronous_standby_names') <> '', {CurrentSnapshot(connection)}::text",
            connection);
        await using var scope = command.ConfigureAwait(false);
        var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        await using var readerScope = reader.ConfigureAwait(false);
        await reader.ReadAsync(cancellationToken).ConfigureAwait(false);
        _walBlockSize = reader.GetInt32(0);
        _walSegmentSize = reader.GetInt64(1);
        if (reader.GetBoolean(2))
        {
            Delivered.Seed(PgSnapshot.Parse(reader.GetString(3)));
        }
    }

    /// <summary>The SQL function of the current MVCC snapshot: <c>pg_current_snapshot()</c> from PostgreSQL 13 on,
    /// <c>txid_current_snapshot()</c> (the same text) before.</summary>
    internal static string CurrentSnapshot(NpgsqlConnection connection) =>
        connection.PostgreSqlVersion.Major >= 13 ? "pg_current_snapshot()" : "txid_current_snapshot()";

    /// <summary>The query of the current MVCC snapshot as text (<see cref="PgSnapshot.Parse"/>).</summary>
    internal static string CurrentSnapshotQuery(NpgsqlConnection connection) => $"SELECT {CurrentSnapshot(connection)}::text";

    /// <summary>Why a server cannot take read-only watermarks (before 13 it has no <c>pg_current_snapshot()</c>), or null.</summary>
    internal static string? ReadOnlyRefusal(string source, Version version, string server) => version.Major >= 13 ? null :
        $"PostgreSQL source '{source}': Snapshot:Watermarks is ReadOnly, which needs PostgreSQL 13 or later (pg_current_snapshot()); {server} runs {version}. " +
        "Set Snapshot:Watermarks to Table (the default), which writes its watermarks to Snapshot:WatermarkTable.";

    /// <summary>Creates one of the snapshots' tables when it does not exist (an existing one needs no CREATE privilege).</summary>
    private async Task CreateIfMissingAsync(string name, string columns, string privileges, string setting, CancellationToken cancellationToken)
    {
        var qualified = $"{Quote(Tables.Schema)}.{Quote(name)}";
        var connection = await OpenAsync(cancellationToken).ConfigureAwait(false);
        await using var scope = connection.ConfigureAwait(false);
        if (await ExistsAsync(connection, qualified, cancellationToken).ConfigureAwait(false))
        {
            return;
        }

        var create = new NpgsqlCommand($"CREATE TABLE IF NOT EXISTS {qualified} {columns}", connection);
        await using var createScope = create.ConfigureAwait(false);
        try
        {
            await create.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (PostgresException ex) when (ex.SqlState is PostgresErrorCodes.UniqueViolation or PostgresErrorCodes.DuplicateTable or PostgresErrorCodes.DuplicateObject)
        {
            // Another source created it at the same moment: IF NOT EXISTS does not guard the catalog's own unique index
            // (pg_type's row type of the table), so the loser of the race gets 23505 or 42P07. The table is there now.
            if (!await ExistsAsync(connection, qualified, cancellationToken).ConfigureAwait(false))
            {
                throw;
            }
        }
        catch (PostgresException ex) when (ex.SqlState == PostgresErrorCodes.InsufficientPrivilege)
        {
            throw new PostgresSourceException(
                $"PostgreSQL source '{_source}': the snapshots' table {Tables.Schema}.{name} does not exist and user '{connection.UserName}' may not create it ({ex.MessageText}). " +
                $"Create it as its owner: CREATE TABLE {qualified} {columns}; GRANT {privileges} ON {qualified} TO {Quote(connection.UserName ?? "the_user")}; " +
                $"or set Snapshot:{setting} to a table in a schema the user may create in.", ex);
        }
    }

    public Task TakeWatermarkAsync(string source, string watermark, WatermarkKind kind, CancellationToken cancellationToken) => ReadOnly switch
    {
        null when kind == WatermarkKind.Low => TableLowAsync(source, watermark, cancellationToken),
        null => ExecuteAsync(WatermarkSql, [source, watermark], cancellationToken),
        _ when kind == WatermarkKind.Low => WaitVisibleAsync(ReadOnly.Mark(), cancellationToken),
        _ => ReadOnlyHighAsync(ReadOnly, watermark, cancellationToken),
    };

    private string WatermarkSql =>
        $"INSERT INTO {Quote(Tables.Schema)}.{Quote(Tables.Watermark!)} (source, watermark) VALUES ($1, $2) ON CONFLICT (source) DO UPDATE SET watermark = EXCLUDED.watermark";

    /// <summary>
    /// A low watermark row: written, then returns once every transaction committed before it (whose events precede the
    /// chunk's window) is visible to a snapshot taken now, so to the chunk's read after it. Without that wait a
    /// transaction whose commit the log delivered before the watermark but which had not yet left the process array (for
    /// microseconds, or while a synchronous standby acknowledges it) is missing from the read, whose older row would then
    /// be emitted after the transaction's change. Usually the transactions running right after the commit have ended
    /// within a look or two (<see cref="RunningEndedAsync"/>); otherwise it waits until the log has handled the commit and
    /// each transaction the log delivered so far is visible. (Waiting for the log every time put each chunk's read behind
    /// the log thread's production of the previous chunk's rows.)
    /// </summary>
    private async Task TableLowAsync(string source, string watermark, CancellationToken cancellationToken)
    {
        Task handled;
        var connection = await OpenAsync(cancellationToken).ConfigureAwait(false);
        await using (connection.ConfigureAwait(false))
        {
            var transaction = await connection.BeginTransactionAsync(cancellationToken).ConfigureAwait(false);
            await using var transactionScope = transaction.ConfigureAwait(false);
            var insert = new NpgsqlCommand(WatermarkSql + " RETURNING txid_current()", connection, transaction);
            await using var insertScope = insert.ConfigureAwait(false);
            insert.Parameters.Add(new NpgsqlParameter { Value = source });
            insert.Parameters.Add(new NpgsqlParameter { Value = watermark });
            // The log's BEGIN carries the 32-bit xid; the wait is registered before the commit, which the log cannot pass first.
            var xid = unchecked((uint)(long)(await insert.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false))!);
            handled = Delivered.WaitCommitAsync(xid);
            try
            {
                await transaction.CommitAsync(cancellationToken).ConfigureAwait(false);
                if (await RunningEndedAsync(connection, handled, cancellationToken).ConfigureAwait(false))
                {
                    Delivered.ForgetCommitWait(xid);
                    return;
                }
            }
            catch
            {
                Delivered.ForgetCommitWait(xid);
                throw;
            }
        }

        for (var waited = TimeSpan.FromMinutes(1); ; waited += TimeSpan.FromMinutes(1))
        {
            try
            {
                await handled.WaitAsync(TimeSpan.FromMinutes(1), cancellationToken).ConfigureAwait(false);
                break;
            }
            catch (TimeoutException)
            {
                PostgresLog.LowWatermarkLate(_logger, _source, waited, $"{Tables.Schema}.{Tables.Watermark}");
            }
        }

        await WaitVisibleAsync(Delivered.Mark(), cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Whether every transaction running right after a low watermark row's commit has ended, looking until the log handles
    /// that commit (<paramref name="handled"/>) or for at most <see cref="RunningLookLimit"/>: then the chunk's read can
    /// start without waiting for the log. A transaction whose commit record precedes the watermark's had its id before the
    /// first look, so it was either no longer running (it had left the process array: visible to that snapshot and every
    /// later one) or among those running. Once each of those has ended, the read's snapshot sees every transaction the
    /// log delivers before the watermark, which is all the low watermark must ensure; the log may meanwhile still be
    /// producing the previous chunk's rows. False: the caller waits for the log and for what it delivered, as before.
    /// </summary>
    /// <remarks>A snapshot lists as running only the transactions below its xmax, one past the newest transaction that
    /// ended, so a transaction numbered after the watermark's that is still running (its commit already in the log, waiting
    /// for a synchronous standby) would be in no list if no later-numbered one had ended. So the first look takes a
    /// transaction id and rolls it back (logical decoding sends nothing for it) just before its snapshot: that snapshot's xmax is then
    /// past every transaction id given out before it.</remarks>
    private async Task<bool> RunningEndedAsync(NpgsqlConnection connection, Task handled, CancellationToken cancellationToken)
    {
        var snapshotSql = CurrentSnapshotQuery(connection);
        var first = new NpgsqlBatch(connection)
        {
            BatchCommands = { new("BEGIN"), new("SELECT txid_current()"), new("ROLLBACK"), new(snapshotSql) },
        };
        await using var firstScope = first.ConfigureAwait(false);
        string? text = null;
        var reader = await first.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        await using (reader.ConfigureAwait(false))
        {
            do
            {
                while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
                {
                    if (reader.GetValue(0) is string value)
                    {
                        text = value; // the snapshot's row (the transaction id's is a number)
                    }
                }
            }
            while (await reader.NextResultAsync(cancellationToken).ConfigureAwait(false));
        }

        var running = PgSnapshot.Parse(text ?? throw new InvalidOperationException("The server returned no snapshot.")).InProgress.ToList();
        var command = new NpgsqlCommand(snapshotSql, connection);
        await using var scope = command.ConfigureAwait(false);
        var started = Stopwatch.GetTimestamp();
        var retry = RunningRetry;
        while (running.Count > 0)
        {
            if (handled.IsCompleted || Stopwatch.GetElapsedTime(started) >= RunningLookLimit)
            {
                return false;
            }

            await Task.WhenAny(handled, Task.Delay(retry, cancellationToken)).ConfigureAwait(false);
            cancellationToken.ThrowIfCancellationRequested();
            retry = TimeSpan.FromTicks(Math.Min(retry.Ticks * 2, InvisibleRetry.Ticks));
            var now = PgSnapshot.Parse((string)(await command.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false))!);
            running.RemoveAll(now.HasEnded);
        }

        return true;
    }

    /// <summary>Returns once every transaction the log delivered up to <paramref name="mark"/> is visible to a snapshot taken
    /// now, so to the chunk's read after it (<see cref="ReadOnlyWatermarks"/>).</summary>
    private async Task WaitVisibleAsync(long mark, CancellationToken cancellationToken)
    {
        var connection = await OpenAsync(cancellationToken).ConfigureAwait(false);
        await using var scope = connection.ConfigureAwait(false);
        var command = new NpgsqlCommand(CurrentSnapshotQuery(connection), connection);
        await using var commandScope = command.ConfigureAwait(false);
        var waited = TimeSpan.Zero;
        var warn = TimeSpan.FromSeconds(10);
        while (true)
        {
            var snapshot = PgSnapshot.Parse((string)(await command.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false))!);
            var invisible = Delivered.InvisibleBefore(snapshot, mark);
            if (invisible.Count == 0)
            {
                return;
            }

            if (waited >= warn)
            {
                PostgresLog.DeliveredNotVisible(_logger, _source, string.Join(", ", invisible.Select(snapshot.Widen)), waited);
                warn += TimeSpan.FromMinutes(1);
            }

            await Task.Delay(InvisibleRetry, cancellationToken).ConfigureAwait(false);
            waited += InvisibleRetry;
        }
    }

    /// <summary>A read-only high watermark (the chunk's read is done): the WAL position now, which the log must pass.</summary>
    private async Task ReadOnlyHighAsync(ReadOnlyWatermarks readOnly, string watermark, CancellationToken cancellationToken)
    {
        var connection = await OpenAsync(cancellationToken).ConfigureAwait(false);
        await using var scope = connection.ConfigureAwait(false);
        var command = new NpgsqlCommand("SELECT pg_current_wal_insert_lsn()", connection);
        await using var commandScope = command.ConfigureAwait(false);
        var insert = (NpgsqlTypes.NpgsqlLogSequenceNumber)(await command.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false))!;
        readOnly.AddHigh(watermark, ReadOnlyWatermarks.RecordEnd((ulong)insert, _walBlockSize, _walSegmentSize));
    }

    public async Task<IReadOnlyList<SourceTableInfo>> ListTablesAsync(CancellationToken cancellationToken)
    {
        var connection = await OpenForRowsAsync(cancellationToken).ConfigureAwait(false);
        await using var scope = connection.ConfigureAwait(false);
        var catalog = new PostgresCatalog(connection, _source);
        var tables = await catalog.ResolveTablesAsync(_options, _filter, cancellationToken).ConfigureAwait(false);
        var infos = new List<SourceTableInfo>();
        foreach (var table in tables)
        {
            if (table.Schema == Tables.Schema && (table.Name == Tables.Watermark || table.Name == Tables.Signal))
            {
                continue;
            }

            if (await DescribeAsync(connection, table.Schema, table.Name, cancellationToken).ConfigureAwait(false) is { } info)
            {
                infos.Add(info.Info);
            }
        }

        return infos;
    }

    public async Task<SourceTableInfo?> DescribeTableAsync(string schema, string name, CancellationToken cancellationToken)
    {
        if (!_filter.Captures(schema, name) || (schema == Tables.Schema && (name == Tables.Watermark || name == Tables.Signal)))
        {
            return null; // not captured: the log does not bring its changes, so the snapshot must not bring its rows
        }

        var connection = await OpenForRowsAsync(cancellationToken).ConfigureAwait(false);
        await using var scope = connection.ConfigureAwait(false);
        var fingerprint = await FingerprintAsync(connection, null, schema, name, cancellationToken).ConfigureAwait(false);
        return fingerprint is null ? null : (await DescribeAsync(connection, schema, name, fingerprint, cancellationToken).ConfigureAwait(false))?.Info;
    }

    public async Task<long?> EstimateRowsAsync(SourceTable table, CancellationToken cancellationToken)
    {
        var connection = await OpenAsync(cancellationToken).ConfigureAwait(false);
        await using var scope = connection.ConfigureAwait(false);
        var command = new NpgsqlCommand("SELECT c.reltuples::bigint FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1 AND c.relname = $2", connection);
        await using var commandScope = command.ConfigureAwait(false);
        command.Parameters.Add(new NpgsqlParameter { Value = table.Schemas.Table.Schema });
        command.Parameters.Add(new NpgsqlParameter { Value = table.Schemas.Table.Name });
        return await command.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false) is long rows && rows >= 0 ? rows : null;
    }

    public async Task<string?> CheckKeyAsync(SourceTable table, IReadOnlyList<string> keyColumns, CancellationToken cancellationToken)
    {
        // Unique: a valid unique index, neither partial nor on expressions, whose key columns are all named (its INCLUDE
        // columns do not count). NOT NULL: every named column.
        const string Sql = """
            SELECT EXISTS (
                       SELECT 1 FROM pg_index i
                       WHERE i.indrelid = c.oid AND i.indisunique AND i.indisvalid AND i.indpred IS NULL AND i.indexprs IS NULL
                         AND (SELECT bool_and(a.attname = ANY ($3)) FROM pg_attribute a
                              WHERE a.attrelid = c.oid AND a.attnum = ANY ((i.indkey::int2[])[0:i.indnkeyatts - 1]))),
                   coalesce((SELECT string_agg(a.attname, ', ' ORDER BY a.attnum) FROM pg_attribute a
                             WHERE a.attrelid = c.oid AND a.attname = ANY ($3) AND NOT a.attnotnull), '')
            FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE n.nspname = $1 AND c.relname = $2
            """;
        var name = table.Schemas.Table;
        var connection = await OpenAsync(cancellationToken).ConfigureAwait(false);
        await using var scope = connection.ConfigureAwait(false);
        var command = new NpgsqlCommand(Sql, connection);
        await using var commandScope = command.ConfigureAwait(false);
        command.Parameters.Add(new NpgsqlParameter { Value = name.Schema });
        command.Parameters.Add(new NpgsqlParameter { Value = name.Name });
        command.Parameters.Add(new NpgsqlParameter { Value = keyColumns.ToArray() });
        var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        await using var readerScope = reader.ConfigureAwait(false);
        if (!await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
        {
            return null; // dropped since described: the next description says so
        }

        var unique = reader.GetBoolean(0);
        var nullable = reader.GetString(1);
        var named = string.Join(", ", keyColumns);
        return (unique, nullable.Length == 0) switch
        {
            (true, true) => null,
            (false, _) => $"Snapshot:KeyColumns names ({named}), which holds no unique index's columns (rows sharing a value would be skipped); name the columns of a unique index whose columns are NOT NULL",
            _ => $"Snapshot:KeyColumns names ({named}), of which {nullable} may be NULL (rows with a NULL key would be skipped); make them NOT NULL or name another unique key",
        };
    }

    public async Task<SnapshotChunkRead> ReadChunkAsync(SnapshotChunkRequest request, SnapshotRowWriter writer, CancellationToken cancellationToken)
    {
        var table = request.Table.Schemas.Table;
        var connection = await OpenForRowsAsync(cancellationToken).ConfigureAwait(false);
        await using var scope = connection.ConfigureAwait(false);
        // One short transaction: the ACCESS SHARE lock the read takes anyway, taken first, keeps the table's definition
        // from the description to the read (an ALTER waits for it; a change committed before it is seen and the chunk is read again).
        var transaction = await connection.BeginTransactionAsync(cancellationToken).ConfigureAwait(false);
        await using var transactionScope = transaction.ConfigureAwait(false);
        string? fingerprint;
        try
        {
            fingerprint = await FingerprintAsync(connection, transaction, table.Schema, table.Name, cancellationToken).ConfigureAwait(false);
        }
        catch (PostgresException ex) when (ex.SqlState == PostgresErrorCodes.UndefinedTable)
        {
            return SnapshotChunkRead.Changed; // dropped (or renamed) since its description: described again, and skipped if gone
        }

        // Under the lock: the definition the rows are read with. Described again only when its catalog rows changed.
        var described = fingerprint is null ? null : await DescribeAsync(connection, table.Schema, table.Name, fingerprint, cancellationToken).ConfigureAwait(false);
        if (described is null || !writer.Matches(described.Info))
        {
            return SnapshotChunkRead.Changed;
        }

        var keyTypes = request.KeyColumns.Select(k => described.Types[described.Info.Table.IndexOf(k)]).ToList();
        var sql = new StringBuilder("SELECT ");
        sql.AppendJoin(", ", table.Columns.Select(c => Quote(c.Name)));
        sql.Append($" FROM {Quote(table.Schema)}.{Quote(table.Name)}");
        var conditions = new List<string>();
        var after = request.After is null || request.Keys is not null ? null : JsonSerializer.Deserialize<string[]>(request.After);
        var parameters = new List<string?>();
        if (request.Keys is { } keys)
        {
            // Rows to read again, by key: (k1, k2) IN (($1::t1, $2::t2), ...).
            var tuples = new List<string>();
            foreach (var key in keys)
            {
                var keyValues = JsonSerializer.Deserialize<string[]>(key);
                if (keyValues is null || keyValues.Length != request.KeyColumns.Count)
                {
                    throw new PostgresSourceException($"PostgreSQL source '{_source}': a key to read again of {table.Schema}.{table.Name} has {keyValues?.Length ?? 0} values for {request.KeyColumns.Count} key columns; cancel and request the snapshot again.");
                }

                tuples.Add("(" + string.Join(", ", keyTypes.Select((t, i) => $"${parameters.Count + i + 1}::{t}")) + ")");
                parameters.AddRange(keyValues);
            }

            conditions.Add("(" + string.Join(", ", request.KeyColumns.Select(Quote)) + ") IN (" + string.Join(", ", tuples) + ")");
        }

        if (after is not null)
        {
            if (after.Length != request.KeyColumns.Count)
            {
                throw new PostgresSourceException($"PostgreSQL source '{_source}': the snapshot progress of {table.Schema}.{table.Name} has {after.Length} key values for {request.KeyColumns.Count} key columns; cancel and request the snapshot again.");
            }

            // A row value comparison, which PostgreSQL answers from the key's index.
            conditions.Add("(" + string.Join(", ", request.KeyColumns.Select(Quote)) + ") > (" + string.Join(", ", keyTypes.Select((t, i) => $"${i + 1}::{t}")) + ")");
            parameters.AddRange(after);
        }

        if (request.Condition is { } condition)
        {
            conditions.Add("(" + condition + ")");
        }

        if (conditions.Count > 0)
        {
            sql.Append(" WHERE ").AppendJoin(" AND ", conditions);
        }

        sql.Append(" ORDER BY ").AppendJoin(", ", request.KeyColumns.Select(Quote)).Append(" LIMIT ").Append(request.Limit);
        // Every value in the text format, which is its type's output function: what pgoutput sends. (A cast to text is not:
        // boolean::text is 'true' where the output is 't', bpchar::text drops the padding, inet::text adds the mask.)
        var command = new NpgsqlCommand(sql.ToString(), connection, transaction) { AllResultTypesAreUnknown = true };
        await using var commandScope = command.ConfigureAwait(false);
        foreach (var value in parameters)
        {
            command.Parameters.Add(new NpgsqlParameter { Value = value, NpgsqlDbType = NpgsqlTypes.NpgsqlDbType.Text });
        }

        var columnTypes = described.ColumnTypes;
        var keyIndexes = request.KeyColumns.Select(table.IndexOf).ToArray();
        var row = new PgTextRow(table.Columns.Count);
        var keyText = new ArrayBufferWriter<byte>(256);
        var json = new Utf8JsonWriter(keyText);
        var rows = 0;
        try
        {
            var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
            await using var readerScope = reader.ConfigureAwait(false);
            while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
            {
                row.Read(reader);
                // The row's key in text (JSON): a later chunk casts it back to the key's types.
                keyText.ResetWrittenCount();
                json.Reset(keyText);
                json.WriteStartArray();
                foreach (var index in keyIndexes)
                {
                    row.WriteJson(json, index);
                }

                json.WriteEndArray();
                json.Flush();
                writer.Row(new PgTextRowImage(row, columnTypes, request.Table.Schemas.Options.DecimalHandling), keyText.WrittenSpan);
                rows++;
                if (writer.IsFull)
                {
                    break; // the chunk's byte budget: the range goes on after this row in the next chunk
                }
            }

            await reader.DisposeAsync().ConfigureAwait(false);
            await transaction.CommitAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (PostgresException ex) when (request.Condition is not null && IsConditionError(ex.SqlState))
        {
            // What a condition can cause (a syntax error, an unknown name, a value of the wrong type, a subquery's table
            // missing or its many rows) ends this request, not the source: it would stop the source again at every restart,
            // since the request is stored with its position. Values the message quotes are left out.
            throw new SnapshotConditionException($"the condition '{request.Condition}' was refused on it: {ex.SqlState}: {DataErrorText.WithoutValues(ex.MessageText)}", ex);
        }
        finally
        {
            await json.DisposeAsync().ConfigureAwait(false);
            row.Dispose();
        }

        var lastKey = rows == 0 ? null : Encoding.UTF8.GetString(keyText.WrittenSpan);
        return new SnapshotChunkRead(rows, lastKey);
    }

    /// <summary>Whether an error of a chunk's query can be its condition's: syntax and names (class 42, not a missing
    /// privilege), data (22), a subquery's rows (21), a feature (0A). A timeout, a cancel or a server's fault is not.</summary>
    private static bool IsConditionError(string state) =>
        state.StartsWith("22", StringComparison.Ordinal) || state.StartsWith("21", StringComparison.Ordinal) || state.StartsWith("0A", StringComparison.Ordinal)
        || (state.StartsWith("42", StringComparison.Ordinal) && state != PostgresErrorCodes.InsufficientPrivilege);

    public void WritePositionFields(ref AvroWriter writer)
    {
        // No log position: lsn and commitLsn null.
        writer.WriteUnionIndex(0);
        writer.WriteUnionIndex(0);
    }

    public ValueTask DisposeAsync() => ValueTask.CompletedTask;

    private static string Quote(string identifier) => CapturedTable.Quote(identifier);

    private static (string Schema, string Name) Split(string table)
    {
        var dot = table.IndexOf('.', StringComparison.Ordinal);
        return dot < 0 ? ("public", table) : (table[..dot], table[(dot + 1)..]);
    }

    private Task<NpgsqlConnection> OpenAsync(CancellationToken cancellationToken) => DbConnections.OpenAsync(new NpgsqlConnection(_connectionString), cancellationToken);

    /// <summary>A session to describe tables and read rows in: money in the C locale's form, as the log has it, and the
    /// database's money fraction digits kept for <see cref="FingerprintAsync"/> and <see cref="DescribeAsync(NpgsqlConnection, string, string, CancellationToken)"/>
    /// (<see cref="PostgresCatalog.UseCMoneyAsync"/>).</summary>
    private async Task<NpgsqlConnection> OpenForRowsAsync(CancellationToken cancellationToken)
    {
        var connection = await OpenAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            await new PostgresCatalog(connection, _source).UseCMoneyAsync(cancellationToken).ConfigureAwait(false);
            return connection;
        }
        catch
        {
            await connection.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    private static async Task<bool> ExistsAsync(NpgsqlConnection connection, string qualified, CancellationToken cancellationToken)
    {
        var exists = new NpgsqlCommand("SELECT to_regclass($1) IS NOT NULL", connection);
        await using var scope = exists.ConfigureAwait(false);
        exists.Parameters.Add(new NpgsqlParameter { Value = qualified });
        return await exists.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false) is true;
    }

    private async Task ExecuteAsync(string sql, object[] parameters, CancellationToken cancellationToken)
    {
        var connection = await OpenAsync(cancellationToken).ConfigureAwait(false);
        await using var scope = connection.ConfigureAwait(false);
        var command = new NpgsqlCommand(sql, connection);
        await using var commandScope = command.ConfigureAwait(false);
        foreach (var parameter in parameters)
        {
            command.Parameters.Add(new NpgsqlParameter { Value = parameter });
        }

        await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// The versions of the catalog rows a description is made of, or null when the table does not exist: the table's
    /// <c>pg_class</c> row, its <c>pg_attribute</c> rows (dropped ones too), its <c>pg_index</c> rows, the <c>pg_type</c> rows of
    /// its columns' types and of every element and base type they reach, with their schemas' <c>pg_namespace</c> rows,
    /// each as its oid or number and its <c>xmin</c>, and the database's money fraction digits (the money type's scale, kept by
    /// <see cref="OpenForRowsAsync"/>). Any change to one of these rows writes a new version with a new <c>xmin</c>, so an equal fingerprint means the same description. One
    /// round trip, with the chunk's <c>LOCK TABLE</c> when <paramref name="transaction"/> is given.
    /// </summary>
    private static async Task<string?> FingerprintAsync(NpgsqlConnection connection, NpgsqlTransaction? transaction, string schema, string name, CancellationToken cancellationToken)
    {
        const string Sql = $"""
            WITH RECURSIVE rel AS (
                SELECT c.oid, c.xmin FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1 AND c.relname = $2),
            types (oid) AS (
                SELECT a.atttypid FROM pg_attribute a JOIN rel ON a.attrelid = rel.oid WHERE a.attnum > 0
                UNION
                SELECT u.oid FROM types JOIN pg_type t ON t.oid = types.oid CROSS JOIN LATERAL unnest(ARRAY[t.typelem, t.typbasetype]) AS u (oid) WHERE u.oid <> 0)
            SELECT concat_ws('/', rel.oid, rel.xmin,
                   (SELECT string_agg(a.attnum || ':' || a.xmin, ',' ORDER BY a.attnum) FROM pg_attribute a WHERE a.attrelid = rel.oid AND a.attnum > 0),
                   (SELECT string_agg(i.indexrelid || ':' || i.xmin, ',' ORDER BY i.indexrelid) FROM pg_index i WHERE i.indrelid = rel.oid),
                   (SELECT string_agg(t.oid || ':' || t.xmin || ':' || n.oid || ':' || n.xmin, ',' ORDER BY t.oid)
                    FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace WHERE t.oid IN (SELECT oid FROM types)),
                   current_setting('{PostgresCatalog.MoneyScaleSetting}'))
            FROM rel
            """;
        var batch = new NpgsqlBatch(connection, transaction);
        await using var batchScope = batch.ConfigureAwait(false);
        if (transaction is not null)
        {
            // The ACCESS SHARE lock the read takes anyway, taken first: it keeps the table's definition until the commit.
            batch.BatchCommands.Add(new NpgsqlBatchCommand($"LOCK TABLE {Quote(schema)}.{Quote(name)} IN ACCESS SHARE MODE"));
        }

        var fingerprint = new NpgsqlBatchCommand(Sql);
        fingerprint.Parameters.Add(new NpgsqlParameter { Value = schema });
        fingerprint.Parameters.Add(new NpgsqlParameter { Value = name });
        batch.BatchCommands.Add(fingerprint);
        return await PostgresCatalog.FirstValueAsync<string>(batch, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>The table's description, from the cache when its catalog rows are those of <paramref name="fingerprint"/>
    /// (taken before, so that a change between the two is seen at the next check), else from the catalog.</summary>
    private async Task<Described?> DescribeAsync(NpgsqlConnection connection, string schema, string name, string fingerprint, CancellationToken cancellationToken)
    {
        if (_described.TryGetValue((schema, name), out var cached) && cached.Fingerprint == fingerprint)
        {
            return cached.Described;
        }

        var described = await DescribeAsync(connection, schema, name, cancellationToken).ConfigureAwait(false);
        if (described is not null)
        {
            _described[(schema, name)] = (fingerprint, described);
        }

        return described;
    }

    /// <summary>A table described from the catalog exactly as the log's RELATION message would describe it now.</summary>
    private async Task<Described?> DescribeAsync(NpgsqlConnection connection, string schema, string name, CancellationToken cancellationToken)
    {
        const string Sql = """
            SELECT c.oid, c.relreplident, a.attname, a.atttypid, a.atttypmod, format_type(a.atttypid, a.atttypmod),
                   EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = c.oid AND (i.indisprimary OR i.indisreplident) AND a.attnum = ANY (i.indkey))
            FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace JOIN pg_attribute a ON a.attrelid = c.oid
            WHERE n.nspname = $1 AND c.relname = $2 AND c.relkind IN ('r', 'p') AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated = ''
            ORDER BY a.attnum
            """;
        uint oid = 0;
        var identity = 'd';
        var columns = new List<RelationColumn>();
        var formats = new List<string>();
        var command = new NpgsqlCommand(Sql, connection);
        await using (command.ConfigureAwait(false))
        {
            command.Parameters.Add(new NpgsqlParameter { Value = schema });
            command.Parameters.Add(new NpgsqlParameter { Value = name });
            var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
            await using var readerScope = reader.ConfigureAwait(false);
            while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
            {
                oid = reader.GetFieldValue<uint>(0);
                identity = reader.GetChar(1);
                columns.Add(new RelationColumn(reader.GetString(2), reader.GetFieldValue<uint>(3), reader.GetInt32(4), reader.GetBoolean(6) || identity == 'f'));
                formats.Add(reader.GetString(5));
            }
        }

        if (columns.Count == 0)
        {
            return null;
        }

        var catalog = new PostgresCatalog(connection, _source);
        var types = await catalog.GetTypesAsync(columns.Select(c => c.TypeOid), cancellationToken).ConfigureAwait(false);
        var moneyScale = await catalog.MoneyScaleAsync(cancellationToken).ConfigureAwait(false);
        var columnTypes = columns.Select(c => PgColumnType.Resolve(c.TypeOid, c.TypeModifier, types, moneyScale)).ToArray();
        var catalogColumns = await catalog.GetColumnsAsync(oid, cancellationToken).ConfigureAwait(false);
        var message = new RelationMessage(oid, schema, name, identity, columns);
        var description = PgRelation.Describe(message, catalogColumns, columnTypes, previous: null, relaxed: new HashSet<string>());
        return new Described(PostgresConnector.TableInfo(description, connection.Database, schema, name), columnTypes, formats);
    }

    private sealed record Described(SourceTableInfo Info, PgColumnType[] ColumnTypes, IReadOnlyList<string> Types);
}

/// <summary>
/// The values of one row read in the text format (each type's output function: the forms pgoutput sends), as UTF-8 in one
/// reused buffer: each value's bytes as the server sent them (Npgsql's client encoding is UTF-8), copied once, with no
/// string or character decoding per value. Valid until the next <see cref="Read"/>.
/// </summary>
internal sealed class PgTextRow(int columns) : IDisposable
{
    private readonly int[] _starts = new int[columns];
    private readonly int[] _lengths = new int[columns];
    private byte[] _bytes = ArrayPool<byte>.Shared.Rent(1024);

    /// <summary>Reads the reader's current row.</summary>
    public void Read(NpgsqlDataReader reader)
    {
        var used = 0;
        for (var i = 0; i < _starts.Length; i++)
        {
            if (reader.IsDBNull(i))
            {
                _lengths[i] = -1;
                continue;
            }

            // The raw bytes of the value (Npgsql gives any column's bytes as a stream), read until the stream ends.
            using var stream = reader.GetStream(i);
            var length = 0;
            while (true)
            {
                if (used + length == _bytes.Length)
                {
                    var larger = ArrayPool<byte>.Shared.Rent(_bytes.Length * 2);
                    _bytes.AsSpan(0, used + length).CopyTo(larger);
                    ArrayPool<byte>.Shared.Return(_bytes);
                    _bytes = larger;
                }

                var read = stream.Read(_bytes.AsSpan(used + length));
                if (read == 0)
                {
                    break;
                }

                length += read;
            }

            _starts[i] = used;
            _lengths[i] = length;
            used += length;
        }
    }

    /// <summary>Whether a column is NULL.</summary>
    public bool IsNull(int column) => _lengths[column] < 0;

    /// <summary>A column's text, as UTF-8.</summary>
    public ReadOnlySpan<byte> Value(int column) => _bytes.AsSpan(_starts[column], _lengths[column]);

    /// <summary>Writes a column's text as a JSON string (null when NULL).</summary>
    public void WriteJson(Utf8JsonWriter json, int column)
    {
        if (IsNull(column))
        {
            json.WriteNullValue();
        }
        else
        {
            json.WriteStringValue(Value(column));
        }
    }

    public void Dispose()
    {
        ArrayPool<byte>.Shared.Return(_bytes);
        _bytes = [];
    }
}

/// <summary>A row read in the text format as a row image: the same forms pgoutput sends, through the log's own
/// <see cref="PgValueWriter"/>.</summary>
internal readonly ref struct PgTextRowImage(PgTextRow row, PgColumnType[] types, DecimalHandling decimals) : IRowImage
{
    private readonly PgTextRow _row = row;
    private readonly PgColumnType[] _types = types;
    private readonly DecimalHandling _decimals = decimals;

    public ColumnValueState State(int column) => _row.IsNull(column) ? ColumnValueState.Null : ColumnValueState.Value;

    public void WriteValue(ref AvroWriter writer, int column) => PgValueWriter.Write(ref writer, _types[column], _row.Value(column), _decimals);
}
