using System.Globalization;
using System.Net.Sockets;
using DataMesh.Connectors.Leases;
using DataMesh.Connectors.MySql.Binlog;
using DataMesh.Connectors.MySql.Protocol;
using DataMesh.Connectors.MySql.Schema;
using DataMesh.Events;
using DataMesh.Hosting;
using DataMesh.Sources;
using DataMesh.Sources.Leases;
using Microsoft.Extensions.Logging;
using MySqlConnector;

namespace DataMesh.Connectors.MySql;

/// <summary>
/// The MySQL/MariaDB connector on the source runtime: finds where to start (the runtime's position and the schema
/// history as of it, or on a first start the server's current position and <c>information_schema</c>), streams the
/// binlog with <see cref="ReplicationConnection"/> and hands every row change, truncate, transaction end and DDL to the
/// runtime. A broken connection is a transient error: the runtime restarts it from the last acknowledged position,
/// and the schema is restored from the history as of that position.
/// </summary>
internal sealed class MySqlBinlogConnector : SourceConnector<MySqlPosition>
{
    private readonly string _name;
    private readonly MySqlSourceOptions _options;
    private readonly ILogger _logger;
    private readonly SchemaHistory _history;
    private readonly ReplicationConnectionSettings _settings;
    private readonly string _connectionString;
    private MySqlSnapshotDialect? _snapshots;
    private bool _checked;
    private bool _mariaDb;
    private string _serverVersion = string.Empty;
    private string _grantee = "the user";

    public MySqlBinlogConnector(string name, MySqlSourceOptions options, KafkaConnection kafka, ILogger logger)
    {
        _name = name;
        _options = options;
        _logger = logger;
        _history = new SchemaHistory(kafka, options.HistoryTopic);
        var builder = new MySqlConnectionStringBuilder(options.ConnectionString);
        _connectionString = builder.ConnectionString;
        _settings = MySqlTls.ReplicationSettings(builder);
    }

    public override string Kind => "mysql";

    public override IReadOnlyList<SourceField> PositionFields => MySqlSourceFields.Fields;

    /// <summary>The position after the last transaction read by the current run (not yet necessarily acknowledged).</summary>
    public MySqlPosition? Position { get; private set; }

    /// <summary>How a table is described to the runtime (the log and the snapshots alike).</summary>
    internal static SourceTableInfo TableInfo(MySqlTable table) => new(table.ToDescription(), table.Database, null)
    {
        MissingValues = MissingValuePolicy.Fail,
        MissingValueHint = "the binlog left it out (binlog_row_image is MINIMAL or NOBLOB for the session that wrote it); " +
            "run SET GLOBAL binlog_row_image = FULL; and make sure no session sets it otherwise (see docs/mysql.md)",
    };

    public override ISnapshotDialect? CreateSnapshotDialect()
    {
        _snapshots = new MySqlSnapshotDialect(_name, _options);
        // The watermark and signal tables reach the runtime through the binlog like any captured table.
        _options.CaptureAlways(_snapshots.OwnTables);
        return _snapshots;
    }

    /// <summary>A <c>GET_LOCK</c> lock (server-wide, named after the source) on a connection of its own
    /// (<c>datamesh-&lt;source&gt;-lease</c>), opened after the replication client checked the server.</summary>
    public override ISourceLease? CreateLease(string sourceName)
    {
        var builder = new MySqlConnectionStringBuilder(_connectionString) { ApplicationName = "datamesh-" + sourceName + "-lease", Pooling = false };
        var connectionString = builder.ConnectionString;
        var name = SessionLockLease.NameFor(sourceName, hashed: true);
        var idle = (long)Math.Ceiling(SessionLockLease.IdleTimeout(_options.LeaseCheckInterval).TotalSeconds);
        return new SessionLockLease(
            $"MySQL lock '{name}' (GET_LOCK; the name's SHA-256) on {builder.Server}",
            name,
            async cancellationToken =>
            {
                // The replication client checks the server's certificate before any credential is sent (see RunAsync):
                // MySqlConnector would send its password scramble first.
                var check = await ReplicationConnection.OpenAsync(_settings, cancellationToken).ConfigureAwait(false);
                await check.DisposeAsync().ConfigureAwait(false);
                return await DbConnections.OpenAsync(new MySqlConnection(connectionString), cancellationToken).ConfigureAwait(false);
            },
            "SELECT GET_LOCK(@name, 0)",
            "SELECT IS_USED_LOCK(@name) = CONNECTION_ID()",
            "SELECT RELEASE_LOCK(@name)",
            // A dead holder's session (no clean close) ends after this long idle, freeing the lock.
            $"SET SESSION wait_timeout = {idle}",
            _ => null);
    }

    public override string FormatPosition(MySqlPosition position) => position.ToJson();

    public override MySqlPosition ParsePosition(string text)
    {
        try
        {
            return MySqlPosition.FromJson(text);
        }
        catch (Exception ex) when (ex is System.Text.Json.JsonException or ArgumentException or InvalidOperationException or NotSupportedException)
        {
            throw new SourceException($"The stored position '{text}' of MySQL source '{_name}' is not a MySQL position: {ex.Message}. Reset the stored position to start afresh.", isTransient: false, ex);
        }
    }

    public override string Describe(MySqlPosition position) => position.ToString();

    public override bool? IsTransient(Exception exception) => exception switch
    {
        MySqlReplicationException replication => !replication.IsPositionPurged && replication.ErrorCode is 1040 or 1053 or 1159 or 1161 or 2002 or 2003 or 2006 or 2013 or 1927 or 4031,
        MySqlSchemaException or BinlogFormatException => false,
        MySqlException mysql => mysql.IsTransient || mysql.ErrorCode is MySqlErrorCode.UnableToConnectToHost,
        EndOfStreamException or SocketException => true,
        _ => null,
    };

    public override async Task RunAsync(SourceContext<MySqlPosition> context, MySqlPosition? start, CancellationToken cancellationToken)
    {
        // The replication client connects first: it checks the server's certificate before it sends any credential and never
        // sends the password itself over an unverified channel, so a server it refuses never sees MySqlConnector's login
        // either (with VerifyCA/VerifyFull MySqlConnector sends its password scramble before it checks the certificate).
        var connection = await ReplicationConnection.OpenAsync(_settings, cancellationToken).ConfigureAwait(false);
        await using var disposeConnection = connection.ConfigureAwait(false);
        if (!_checked)
        {
            (_serverVersion, _mariaDb) = await CheckServerAsync(cancellationToken).ConfigureAwait(false);
            _checked = true;
        }

        if (_snapshots is { } snapshots)
        {
            // After the checks of the server's setup: the snapshots' own tables, created when missing before the schema is
            // read (a first start's schema has them; otherwise the binlog brings their CREATE TABLE).
            await snapshots.PrepareAsync(cancellationToken).ConfigureAwait(false);
        }

        var schema = new SchemaTracker();
        var emitter = new BinlogEmitter(_name, _options, context, _history, _logger);
        MySqlPosition from;
        if (start is null)
        {
            from = await FirstStartAsync(schema, cancellationToken).ConfigureAwait(false);
            // Nothing comes before the first start's position: it can be stored at once, so that a restart before the
            // first transaction resumes here with the schema snapshot taken for it.
            context.Checkpoint(from);
        }
        else
        {
            from = start;
            await _history.RestoreAsync(_name, from, schema, cancellationToken).ConfigureAwait(false);
            MySqlLog.SchemaRestored(_logger, _name, schema.Tables.Count(), from.ToString());
        }

        Position = from;
        MySqlLog.Starting(_logger, _name, from.ToString(), _serverVersion);
        await emitter.RegisterAllAsync(schema, cancellationToken).ConfigureAwait(false);
        await context.FlushAsync(cancellationToken).ConfigureAwait(false);
        await StreamAsync(connection, from, schema, emitter, context, cancellationToken).ConfigureAwait(false);
    }

    public override async ValueTask DisposeAsync()
    {
        _history.Dispose();
        await base.DisposeAsync().ConfigureAwait(false);
    }

    private async Task StreamAsync(ReplicationConnection connection, MySqlPosition from, SchemaTracker schema, BinlogEmitter emitter, SourceContext<MySqlPosition> context, CancellationToken cancellationToken)
    {
        var serverId = _options.EffectiveServerId(_name);
        var checksum = (await connection.QueryAsync("SELECT @@global.binlog_checksum", cancellationToken).ConfigureAwait(false))[0][0];
        await connection.QueryAsync("SET @master_binlog_checksum = @@global.binlog_checksum", cancellationToken).ConfigureAwait(false);
        var heartbeatNanos = (long)_options.HeartbeatInterval.TotalMilliseconds * 1_000_000;
        await connection.QueryAsync(string.Create(CultureInfo.InvariantCulture, $"SET @master_heartbeat_period = {heartbeatNanos}"), cancellationToken).ConfigureAwait(false);
        var useGtid = _options.UseGtid && !string.IsNullOrEmpty(from.Gtid);
        if (connection.IsMariaDb)
        {
            await connection.QueryAsync("SET @mariadb_slave_capability = 4", cancellationToken).ConfigureAwait(false);
            if (useGtid)
            {
                var state = MariaDbGtidPosition.Parse(from.Gtid).ToString();
                await connection.QueryAsync($"SET @slave_connect_state = '{state}'", cancellationToken).ConfigureAwait(false);
                await connection.QueryAsync("SET @slave_gtid_strict_mode = 0", cancellationToken).ConfigureAwait(false);
                await connection.QueryAsync("SET @slave_gtid_ignore_duplicates = 0", cancellationToken).ConfigureAwait(false);
            }
        }

        try
        {
            await connection.RegisterReplicaAsync(serverId, Environment.MachineName, cancellationToken).ConfigureAwait(false);
        }
        catch (MySqlReplicationException ex) when (ex.ErrorCode is (int)MySqlErrorCode.SpecifiedAccessDeniedError or (int)MySqlErrorCode.AccessDenied)
        {
            throw new MySqlReplicationException(
                $"MySQL source '{_name}': user {_grantee} lacks REPLICATION SLAVE, which reading the binlog needs ({ex.Message}). Run GRANT REPLICATION SLAVE ON *.* TO {_grantee};", ex);
        }

        if (useGtid && connection.IsMariaDb)
        {
            await connection.StartBinlogDumpAsync(string.Empty, 4, serverId, nonBlocking: false, cancellationToken).ConfigureAwait(false);
        }
        else if (useGtid)
        {
            await connection.StartBinlogDumpGtidAsync(serverId, string.Empty, 4, MySqlGtidSet.Parse(from.Gtid).Encode(), nonBlocking: false, cancellationToken).ConfigureAwait(false);
        }
        else
        {
            await connection.StartBinlogDumpAsync(from.File, from.Position, serverId, nonBlocking: false, cancellationToken).ConfigureAwait(false);
        }

        MySqlLog.Connected(_logger, _name, _settings.Host, _settings.Port, serverId, connection.AuthPlugin, connection.TlsDescription, from.ToString());
        // The dump runs from the position: whatever is committed from now on reaches this stream, snapshot watermarks included.
        context.StreamingStarted();
        var decoder = new BinlogDecoder(from.File, checksum is "CRC32" ? 4 : 0);
        decoder.Reset(from.File, from.Position, checksum is "CRC32" ? 4 : 0);
        var processor = new BinlogProcessor(decoder, schema, emitter, _options.Captures)
        {
            SkipUnparseableDdl = _options.SkipUnparseableDdl,
            KeepQueries = _options.IncludeQuery,
            PreparedXa = new PreparedXaTransactions { MaxBytes = _options.MaxPreparedXaBytes },
            MariaDbPosition = from.MariaDb ? MariaDbGtidPosition.Parse(from.Gtid) : new MariaDbGtidPosition(),
            MySqlGtids = !from.MariaDb && from.Gtid is not null ? MySqlGtidSet.Parse(from.Gtid) : new MySqlGtidSet(),
        };
        emitter.Processor = processor;
        var silence = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        try
        {
            await ReadLoopAsync(connection, processor, decoder, emitter, context, () =>
            {
                // Only the wait for the server counts, never the time spent producing (Kafka may be slow): a timer that fired
                // during a flush is replaced, and every read starts a new one.
                if (!silence.TryReset())
                {
                    silence.Dispose();
                    silence = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
                }

                silence.CancelAfter(_options.HeartbeatInterval * 3);
                return silence.Token;
            }, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            silence.Dispose();
        }
    }

    private async Task ReadLoopAsync(ReplicationConnection connection, BinlogProcessor processor, BinlogDecoder decoder, BinlogEmitter emitter, SourceContext<MySqlPosition> context, Func<CancellationToken> silenceToken, CancellationToken cancellationToken)
    {
        while (true)
        {
            var silence = silenceToken();
            ReadOnlyMemory<byte> data;
            try
            {
                var read = connection.ReadEventAsync(silence);
                // A completed read (a buffered event) is taken without an await; otherwise the read is awaited.
                data = read.IsCompletedSuccessfully ? read.Result : await read.ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
            {
                throw new TimeoutException($"MySQL source '{_name}': the server sent nothing, not even a heartbeat, for {_options.HeartbeatInterval * 3}.");
            }

            if (data.IsEmpty)
            {
                throw new EndOfStreamException($"MySQL source '{_name}': the server ended the binlog stream.");
            }

            try
            {
                processor.Process(data.Span);
            }
            catch (SourceValueException ex)
            {
                throw new MySqlSchemaException($"MySQL source '{_name}': {ex.Message} (rows event before {decoder.File}:{decoder.NextPosition})", ex);
            }

            context.ReportProgress(processor.Transaction.TimestampMs);
            if (context.HasPending)
            {
                await context.FlushAsync(cancellationToken).ConfigureAwait(false);
            }

            if (emitter.LastCommitted is { } committed)
            {
                Position = committed;
            }
        }
    }

    private async Task<(string Version, bool MariaDb)> CheckServerAsync(CancellationToken cancellationToken)
    {
        var connection = new MySqlConnection(_connectionString);
        await using var disposeConnection = connection.ConfigureAwait(false);
        await connection.OpenAsync(cancellationToken).ConfigureAwait(false);
        using var command = new MySqlCommand("SELECT VERSION(), @@log_bin, @@binlog_format, @@global.binlog_row_image", connection);
        using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        await reader.ReadAsync(cancellationToken).ConfigureAwait(false);
        var version = reader.GetString(0);
        if (Convert.ToInt64(reader.GetValue(1), CultureInfo.InvariantCulture) != 1)
        {
            throw new MySqlReplicationException($"The server of MySQL source '{_name}' has no binlog: start it with log_bin (see docs/mysql.md).");
        }

        if (!string.Equals(reader.GetString(2), "ROW", StringComparison.OrdinalIgnoreCase))
        {
            throw new MySqlReplicationException($"The server of MySQL source '{_name}' has binlog_format={reader.GetString(2)}; the connector needs ROW (see docs/mysql.md).");
        }

        if (!string.Equals(reader.GetString(3), "FULL", StringComparison.OrdinalIgnoreCase))
        {
            MySqlLog.RowImageNotFull(_logger, _name, reader.GetString(3));
        }

        await reader.DisposeAsync().ConfigureAwait(false);
        await CheckPrivilegesAsync(connection, cancellationToken).ConfigureAwait(false);
        return (version, version.Contains("MariaDB", StringComparison.OrdinalIgnoreCase));
    }

    /// <summary>
    /// Refuses, with the GRANT to run, a user without REPLICATION CLIENT (BINLOG MONITOR on MariaDB 10.5+: the binlog
    /// position) or without SELECT on a captured table it can name: each table an include pattern names, and the tables of
    /// a pattern's database the user sees (a table the user has no privilege on at all is invisible to it). REPLICATION
    /// SLAVE shows in no statement: its absence is reported when the binlog client registers (<see cref="StreamAsync"/>).
    /// </summary>
    private async Task CheckPrivilegesAsync(MySqlConnection connection, CancellationToken cancellationToken)
    {
        using (var command = new MySqlCommand("SELECT CURRENT_USER()", connection))
        {
            var user = Convert.ToString(await command.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false), CultureInfo.InvariantCulture) ?? string.Empty;
            var at = user.LastIndexOf('@');
            _grantee = at < 0 ? QuoteAccount(user) : QuoteAccount(user[..at]) + "@" + QuoteAccount(user[(at + 1)..]);
        }

        try
        {
            using var command = new MySqlCommand("SHOW MASTER STATUS", connection);
            using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
            while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
            {
            }
        }
        catch (MySqlException ex) when (ex.ErrorCode == MySqlErrorCode.SpecifiedAccessDeniedError)
        {
            throw new MySqlReplicationException(
                $"MySQL source '{_name}': user {_grantee} lacks REPLICATION CLIENT (named BINLOG MONITOR on MariaDB 10.5 and later), which reading the binlog position needs. " +
                $"Run GRANT REPLICATION CLIENT ON *.* TO {_grantee};", ex);
        }

        var denied = new List<string>();
        foreach (var table in await NamedTablesAsync(connection, cancellationToken).ConfigureAwait(false))
        {
            try
            {
                using var probe = new MySqlCommand($"SELECT 1 FROM {table} LIMIT 0", connection);
                await probe.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
            }
            catch (MySqlException ex) when (ex.ErrorCode is MySqlErrorCode.TableAccessDenied or MySqlErrorCode.ColumnAccessDenied or MySqlErrorCode.DatabaseAccessDenied)
            {
                denied.Add(table);
            }
            catch (MySqlException ex) when (ex.ErrorCode is MySqlErrorCode.NoSuchTable or MySqlErrorCode.UnknownDatabase)
            {
                // Created later: the binlog brings its CREATE TABLE.
            }
        }

        if (denied.Count > 0)
        {
            throw new MySqlReplicationException(
                $"MySQL source '{_name}': user {_grantee} lacks SELECT on {string.Join(", ", denied)}, which the source reads (schemas, snapshots). " +
                $"Run {string.Join(" ", denied.Select(t => $"GRANT SELECT ON {t} TO {_grantee};"))}");
        }
    }

    /// <summary>The captured tables the include patterns name or the user sees in a database a pattern names, quoted.</summary>
    private async Task<List<string>> NamedTablesAsync(MySqlConnection connection, CancellationToken cancellationToken)
    {
        var filter = new TableFilter(_options, MySqlSourceOptions.SystemDatabases);
        var tables = new SortedSet<(string Database, string Table)>();
        foreach (var pattern in _options.IncludeTables)
        {
            var dot = pattern.IndexOf('.', StringComparison.Ordinal);
            var (database, table) = dot < 0 ? (pattern, "*") : (pattern[..dot], pattern[(dot + 1)..]);
            if (database.AsSpan().IndexOfAny('*', '?') >= 0)
            {
                continue;
            }

            if (table.AsSpan().IndexOfAny('*', '?') < 0)
            {
                tables.Add((database, table));
            }

            using var command = new MySqlCommand("SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = @database AND TABLE_NAME LIKE @table AND TABLE_TYPE = 'BASE TABLE'", connection);
            command.Parameters.AddWithValue("@database", database);
            command.Parameters.AddWithValue("@table", TableFilter.ToLike(table));
            using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
            while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
            {
                tables.Add((database, reader.GetString(0)));
            }
        }

        return [.. tables.Where(t => filter.Captures(t.Database, t.Table)).Select(t => $"{QuoteName(t.Database)}.{QuoteName(t.Table)}")];
    }

    private static string QuoteName(string name) => "`" + name.Replace("`", "``", StringComparison.Ordinal) + "`";

    private static string QuoteAccount(string name) => "'" + name.Replace("'", "''", StringComparison.Ordinal) + "'";

    /// <summary>A first start: the server's current position, and the schema of every table from information_schema as
    /// the history's snapshot at it (in parts: <see cref="SchemaHistory.AppendSnapshotAsync"/>).</summary>
    private async Task<MySqlPosition> FirstStartAsync(SchemaTracker schema, CancellationToken cancellationToken)
    {
        var connection = new MySqlConnection(_connectionString);
        await using var disposeConnection = connection.ConfigureAwait(false);
        await connection.OpenAsync(cancellationToken).ConfigureAwait(false);
        // No lock is taken: the schema is read before and after the position, and the position is used only when both reads
        // agree (no DDL ran around it). A DDL in between makes it try again (DDL is rare; a few tries are enough).
        for (var attempt = 1; ; attempt++)
        {
            var (tables, databases, serverCharset) = await InformationSchemaLoader.LoadAsync(connection, cancellationToken, captured: _options.Captures).ConfigureAwait(false);
            var start = await CurrentPositionAsync(connection, cancellationToken).ConfigureAwait(false);
            var (after, afterDatabases, _) = await InformationSchemaLoader.LoadAsync(connection, cancellationToken, captured: _options.Captures).ConfigureAwait(false);
            if (System.Text.Json.JsonSerializer.Serialize(tables) != System.Text.Json.JsonSerializer.Serialize(after) ||
                !databases.OrderBy(d => d.Key).SequenceEqual(afterDatabases.OrderBy(d => d.Key)))
            {
                if (attempt >= 5)
                {
                    throw new SourceException($"MySQL source '{_name}': the table schemas kept changing while the first start read them and the server's position ({attempt} tries); it tries again shortly.", isTransient: true);
                }

                continue;
            }

            schema.ServerCharset = serverCharset;
            schema.Reset(tables, databases);
            // Every table, captured or not: a table renamed into the captured set (RENAME TABLE) needs its columns. In parts of
            // bounded size, so that a server with many tables does not make a record larger than Kafka takes.
            await _history.AppendSnapshotAsync(_name, start.File, start.Position, tables, databases, serverCharset, cancellationToken).ConfigureAwait(false);
            MySqlLog.FirstStart(_logger, _name, start.ToString(), tables.Count);
            return start;
        }
    }

    /// <summary>The server's binlog file, position and the GTID state there, read consistently: MySQL's SHOW MASTER STATUS
    /// gives its executed GTID set in the same row; MariaDB's BINLOG_GTID_POS gives the GTID position of that file and
    /// position (a separate read of @@gtid_binlog_pos could include a transaction committed after them).</summary>
    /// <remarks>BINLOG_GTID_POS answers NULL when it cannot read the file up to the position: MariaDB reads it with the
    /// session's max_allowed_packet, so one event larger than that earlier in the file (a row of several large blobs, an
    /// UPDATE of a large row) makes it fail for every later position of the file. Starting without the GTID state would
    /// store positions with only the domains seen since, and a restart from one of them would ask the server for every
    /// other domain from its beginning (replaying it, or failing as purged). The state is then @@gtid_binlog_pos read
    /// before and after SHOW MASTER STATUS, taken when both reads agree: SHOW MASTER STATUS waits for an event group being
    /// written (the binlog's lock), so a GTID in the first read is wholly before the position, and a transaction written
    /// between the reads would change the second.</remarks>
    private async Task<MySqlPosition> CurrentPositionAsync(MySqlConnection connection, CancellationToken cancellationToken)
    {
        var (file, offset, gtid) = await MasterStatusAsync(connection, cancellationToken).ConfigureAwait(false);
        if (_mariaDb)
        {
            using var command = new MySqlCommand("SELECT BINLOG_GTID_POS(@file, @position)", connection);
            command.Parameters.AddWithValue("@file", file);
            command.Parameters.AddWithValue("@position", offset);
            gtid = await command.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false) as string;
            for (var attempt = 1; gtid is null; attempt++)
            {
                if (attempt > 10)
                {
                    throw new SourceException(
                        $"MySQL source '{_name}': BINLOG_GTID_POS('{file}', {offset}) gave no GTID state (an event larger than max_allowed_packet earlier in the binlog file makes it fail), " +
                        $"and transactions kept committing between the reads of @@gtid_binlog_pos around SHOW MASTER STATUS ({attempt - 1} tries); it tries again shortly.",
                        isTransient: true);
                }

                var before = await GtidBinlogPosAsync(connection, cancellationToken).ConfigureAwait(false);
                (file, offset, _) = await MasterStatusAsync(connection, cancellationToken).ConfigureAwait(false);
                if (await GtidBinlogPosAsync(connection, cancellationToken).ConfigureAwait(false) == before)
                {
                    gtid = before;
                }
            }
        }

        return new MySqlPosition { File = file, Position = offset, Gtid = string.IsNullOrWhiteSpace(gtid) ? null : gtid.Replace("\n", string.Empty, StringComparison.Ordinal), MariaDb = _mariaDb };
    }

    /// <summary>SHOW MASTER STATUS: the binlog file, the position, and MySQL's executed GTID set (null on MariaDB).</summary>
    private async Task<(string File, long Position, string? Gtid)> MasterStatusAsync(MySqlConnection connection, CancellationToken cancellationToken)
    {
        using var command = new MySqlCommand("SHOW MASTER STATUS", connection);
        using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        if (!await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
        {
            throw new MySqlReplicationException($"SHOW MASTER STATUS returned nothing for MySQL source '{_name}': is the binlog on?");
        }

        var gtid = !_mariaDb && reader.FieldCount > 4 && !reader.IsDBNull(4) ? reader.GetString(4) : null;
        return (reader.GetString(0), Convert.ToInt64(reader.GetValue(1), CultureInfo.InvariantCulture), gtid);
    }

    /// <summary>MariaDB's @@gtid_binlog_pos: the last GTID of each domain written to the binlog.</summary>
    private static async Task<string> GtidBinlogPosAsync(MySqlConnection connection, CancellationToken cancellationToken)
    {
        using var command = new MySqlCommand("SELECT @@global.gtid_binlog_pos", connection);
        return Convert.ToString(await command.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false), CultureInfo.InvariantCulture) ?? string.Empty;
    }
}
