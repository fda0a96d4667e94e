using System.Buffers;
using System.Buffers.Text;
using System.Collections.Concurrent;
using System.Collections.Frozen;
using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using DataMesh.Avro;
using DataMesh.Connectors.MySql.Binlog;
using DataMesh.Connectors.MySql.Schema;
using DataMesh.Sources;
using MySqlConnector;

namespace DataMesh.Connectors.MySql;

/// <summary>
/// DBLog snapshots on MySQL and MariaDB. The watermark (and signal) table is an InnoDB table of the source database,
/// captured through the binlog whatever the table patterns say. A chunk is one <c>SELECT ... WHERE key &gt; last key
/// ORDER BY key LIMIT n</c> in its own short read-only transaction (an InnoDB consistent read: no row lock), which first
/// takes the table's metadata lock that any read takes and checks, under it, that the table still has the shape the chunk
/// was described with. A composite key is compared column by column, <c>(a &gt; ?) OR (a = ? AND b &gt; ?) ...</c>,
/// which the servers answer from the key's index (they scan the whole index for a row-value comparison); the last key
/// goes back to the server in the form it was read (text in its own character set, with the column's collation), so that
/// <c>&gt;</c> and <c>ORDER BY</c> agree. Values are read in forms that map exactly to the binlog's bytes
/// (<see cref="SelectedRowImage"/>) and encoded by the log's own <see cref="RowEncoder"/>.
/// </summary>
internal sealed partial class MySqlSnapshotDialect : ISnapshotDialect
{
    /// <summary>The database of the snapshots' tables when neither the setting nor the connection string names one.</summary>
    internal const string DefaultDatabase = "datamesh";

    private const string WatermarkColumns = "(`source` VARCHAR(255) NOT NULL, `watermark` VARCHAR(64) NOT NULL, PRIMARY KEY (`source`)) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4";
    private const string SignalColumns = "(`id` VARCHAR(255) NOT NULL, `type` VARCHAR(64) NOT NULL, `data` TEXT, PRIMARY KEY (`id`)) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4";

    private readonly string _source;
    private readonly TableFilter _filter;
    private readonly string _connectionString;
    private readonly ConcurrentDictionary<(string Database, string Name), DescribedTable> _described = new();
    private readonly string _watermark;
    private volatile bool _fullRowImage = true;

    public MySqlSnapshotDialect(string source, MySqlSourceOptions options)
    {
        _source = source;
        var builder = new MySqlConnectionStringBuilder(options.ConnectionString)
        {
            // Values are read as the server sends them: TINYINT(1) is a number like the binlog's.
            TreatTinyAsBoolean = false,
            // The chunk's commands run in its transaction, the information_schema reader's too.
            IgnoreCommandTransaction = true,
            ApplicationName = "datamesh-" + source + "-snapshot",
        };
        _connectionString = builder.ConnectionString;
        var defaultDatabase = string.IsNullOrEmpty(builder.Database) ? DefaultDatabase : builder.Database;
        var (database, watermark) = Split(options.Snapshot.WatermarkTable, defaultDatabase);
        _watermark = watermark;
        Tables = new SnapshotTables(database, watermark, options.Snapshot.SignalTable is { } signal ? Split(signal, database).Name : null);
        // Its own filter (the options' one caches per table for the log thread); the snapshots' tables are not snapshotted.
        _filter = new TableFilter(options, MySqlSourceOptions.SystemDatabases);
    }

    public SnapshotTables Tables { get; }

    /// <summary>The server's errors a snapshot condition can cause: syntax (1064), unknown names (1054, 1146, 1109, 1305,
    /// 1630), ambiguous or misused names and groups (1052, 1066, 1111, 1140, 1247, 1248), operands and subqueries (1241,
    /// 1242, 1222), wrong values and arguments (1292, 1366, 1365, 1690, 1139, 1582, 1583, 1584, 4078), collations (1267,
    /// 1270, 1271), what the server does not support (1235). A timeout, a kill, a privilege or a lost connection is not.</summary>
    private static readonly FrozenSet<int> ConditionErrors = FrozenSet.ToFrozenSet(
    [
        1064, 1054, 1146, 1109, 1305, 1630, 1052, 1066, 1111, 1140, 1247, 1248, 1241, 1242, 1222,
        1292, 1366, 1365, 1690, 1139, 1582, 1583, 1584, 4078, 1267, 1270, 1271, 1235,
    ]);

    /// <summary>Backslash escapes in quoted text (the default sql_mode, without NO_BACKSLASH_ESCAPES), # comments.</summary>
    public SqlQuoting ConditionQuoting => new(BackslashEscapes: true, PostgresStrings: false, HashComments: true);

    /// <summary>The snapshots' own tables as <c>database.table</c>, captured whatever the table patterns say.</summary>
    public IReadOnlyList<string> OwnTables => [Tables.Schema + "." + _watermark, .. Tables.Signal is { } signal ? [Tables.Schema + "." + signal] : Array.Empty<string>()];

    public async Task PrepareAsync(CancellationToken cancellationToken)
    {
        await CreateIfMissingAsync(_watermark, WatermarkColumns, "SELECT, INSERT, UPDATE", nameof(SnapshotOptions.WatermarkTable), cancellationToken).ConfigureAwait(false);
        if (Tables.Signal is { } signal)
        {
            await CreateIfMissingAsync(signal, SignalColumns, "INSERT", nameof(SnapshotOptions.SignalTable), cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>Writes the watermark row (MySQL and MariaDB have table watermarks only: their options refuse
    /// <see cref="SnapshotWatermarks.ReadOnly"/>).</summary>
    public async Task TakeWatermarkAsync(string source, string watermark, WatermarkKind kind, CancellationToken cancellationToken)
    {
        var connection = await OpenAsync(cancellationToken).ConfigureAwait(false);
        await using var scope = connection.ConfigureAwait(false);
        if (_fullRowImage)
        {
            // The log reads the watermark row's source and watermark from the update's after image, whole only with FULL.
            try
            {
                await ExecuteAsync(connection, "SET SESSION binlog_row_image = 'FULL'", cancellationToken).ConfigureAwait(false);
            }
            catch (MySqlException ex) when (ex.ErrorCode is MySqlErrorCode.SpecifiedAccessDeniedError or MySqlErrorCode.UnknownSystemVariable)
            {
                _fullRowImage = false; // not allowed: the server's own binlog_row_image (FULL, as the connector requires)
            }
        }

        var command = new MySqlCommand($"INSERT INTO {Quote(Tables.Schema)}.{Quote(_watermark)} (`source`, `watermark`) VALUES (@source, @watermark) ON DUPLICATE KEY UPDATE `watermark` = VALUES(`watermark`)", connection);
        await using var commandScope = command.ConfigureAwait(false);
        command.Parameters.AddWithValue("@source", source);
        command.Parameters.AddWithValue("@watermark", watermark);
        await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
    }

    public async Task<IReadOnlyList<SourceTableInfo>> ListTablesAsync(CancellationToken cancellationToken)
    {
        var connection = await OpenAsync(cancellationToken).ConfigureAwait(false);
        await using var scope = connection.ConfigureAwait(false);
        var (tables, _, _) = await InformationSchemaLoader.LoadAsync(connection, cancellationToken, captured: Captures).ConfigureAwait(false);
        return tables
            .Where(t => Captures(t.Database, t.Name))
            .Select(MySqlBinlogConnector.TableInfo)
            .ToList();
    }

    public async Task<SourceTableInfo?> DescribeTableAsync(string schema, string name, CancellationToken cancellationToken)
    {
        if (!Captures(schema, name))
        {
            return null;
        }

        var connection = await OpenAsync(cancellationToken).ConfigureAwait(false);
        await using var scope = connection.ConfigureAwait(false);
        string fingerprint;
        try
        {
            fingerprint = await FingerprintAsync(connection, schema, name, lockTable: false, cancellationToken).ConfigureAwait(false);
        }
        catch (MySqlException ex) when (ex.ErrorCode == MySqlErrorCode.NoSuchTable)
        {
            return null;
        }

        return (await DescribeAsync(connection, schema, name, fingerprint, cancellationToken).ConfigureAwait(false))?.Info;
    }

    public async Task<long?> EstimateRowsAsync(SourceTable table, CancellationToken cancellationToken)
    {
        var connection = await OpenAsync(cancellationToken).ConfigureAwait(false);
        await using var scope = connection.ConfigureAwait(false);
        var command = new MySqlCommand("SELECT TABLE_ROWS FROM information_schema.TABLES WHERE TABLE_SCHEMA = @database AND TABLE_NAME = @table", connection);
        await using var commandScope = command.ConfigureAwait(false);
        command.Parameters.AddWithValue("@database", table.Schemas.Table.Schema);
        command.Parameters.AddWithValue("@table", table.Schemas.Table.Name);
        return await command.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false) is { } rows and not DBNull ? Convert.ToInt64(rows, CultureInfo.InvariantCulture) : null;
    }

    public async Task<SnapshotChunkRead> ReadChunkAsync(SnapshotChunkRequest request, SnapshotRowWriter writer, CancellationToken cancellationToken)
    {
        var table = request.Table.Schemas.Table;
        var qualified = $"{Quote(table.Schema)}.{Quote(table.Name)}";
        var connection = await OpenAsync(cancellationToken).ConfigureAwait(false);
        await using var scope = connection.ConfigureAwait(false);

        // One short transaction, a consistent read (no row lock). Its first read opens the table, which takes the shared
        // metadata lock every read takes, held to the commit: the definition read next is the one the rows are read under
        // (an ALTER waits for the commit; one committed before is seen, and the chunk is described and read again).
        // A transaction object, so that an error or a cancellation rolls it back before the connection goes back to the pool.
        var transaction = await connection.BeginTransactionAsync(System.Data.IsolationLevel.RepeatableRead, isReadOnly: true, cancellationToken).ConfigureAwait(false);
        await using var transactionScope = transaction.ConfigureAwait(false);
        string fingerprint;
        try
        {
            fingerprint = await FingerprintAsync(connection, table.Schema, table.Name, lockTable: true, cancellationToken).ConfigureAwait(false);
        }
        catch (MySqlException ex) when (ex.ErrorCode == MySqlErrorCode.NoSuchTable)
        {
            return SnapshotChunkRead.Changed; // dropped (or renamed) since its description: described again, and skipped if gone
        }

        // Under the lock: the definition the rows are read with. Described again (information_schema) only when it changed.
        var cached = Captures(table.Schema, table.Name) ? await DescribeAsync(connection, table.Schema, table.Name, fingerprint, cancellationToken).ConfigureAwait(false) : null;
        if (cached is null || !writer.Matches(cached.Info))
        {
            return SnapshotChunkRead.Changed;
        }

        var described = cached.Table;
        var plans = TableBinding.PlanSelected(described);
        var keys = request.KeyColumns.Select(described.IndexOf).ToArray();
        var keyColumns = keys.Select(k => new KeyColumn(
            described.Columns[k], plans[k], $"{qualified}.{Quote(described.Columns[k].Name)}",
            cached.Collations.GetValueOrDefault((described.Database, described.Name, described.Columns[k].Name)))).ToArray();
        if (keyColumns.FirstOrDefault(k => k.Column.Nullable) is { } nullable)
        {
            throw new MySqlSchemaException(
                $"MySQL source '{_source}': the snapshot key of `{table.Schema}`.`{table.Name}` has column `{nullable.Column.Name}`, which admits NULL: rows with NULL keys cannot be read in key order. " +
                $"Name NOT NULL columns of a unique key in Snapshot:KeyColumns (\"{table.Schema}.{table.Name}\").");
        }

        var keyNames = string.Join(",", keys.Select(k => described.Columns[k].Name));
        if (!keys.Select(k => described.Columns[k].Name).SequenceEqual(described.PrimaryKey, StringComparer.OrdinalIgnoreCase) && cached.UniqueKey != keyNames)
        {
            // Checked once per description: its fingerprint holds the table's indexes.
            await CheckUniqueAsync(connection, described, keyColumns, cancellationToken).ConfigureAwait(false);
            cached.UniqueKey = keyNames;
        }

        var sql = new StringBuilder("SELECT ");
        sql.AppendJoin(", ", plans.Select((p, i) => SelectedRowImage.SelectExpression(p, $"{qualified}.{Quote(described.Columns[i].Name)}")));
        sql.Append(" FROM ").Append(qualified);
        var command = new MySqlCommand { Connection = connection };
        await using var commandScope = command.ConfigureAwait(false);
        var conditions = new List<string>();
        if (request.Keys is { } again)
        {
            // Rows to read again, by key: (a = ? AND b = ?) OR ...
            conditions.Add("(" + string.Join(" OR ", again.Select((key, n) =>
            {
                var values = ParseKey(key, keyColumns.Length, table.Schema, table.Name);
                return "(" + string.Join(" AND ", keyColumns.Select((k, i) => $"{k.Sql} = {k.Parameter(command, $"@r{n}_{i}", values[i])}")) + ")";
            })) + ")");
        }
        else if (request.After is { } after)
        {
            conditions.Add(After(keyColumns, ParseKey(after, keyColumns.Length, table.Schema, table.Name), command));
        }

        if (request.Condition is { } condition)
        {
            conditions.Add("(" + condition + ")");
        }

        if (conditions.Count > 0)
        {
            sql.Append(" WHERE ").AppendJoin(" AND ", conditions);
        }

        // Columns named with their table: an ORDER BY name would otherwise find the select list's expressions first.
        sql.Append(" ORDER BY ").AppendJoin(", ", keyColumns.Select(k => k.Sql)).Append(" LIMIT ").Append(request.Limit.ToString(CultureInfo.InvariantCulture));
        command.CommandText = sql.ToString();
        var rows = new SelectedRowImage(plans, keys);
        var encoder = new RowEncoder(request.Table.Schemas.Options.DecimalHandling);
        var count = 0;
        var key = new ArrayBufferWriter<byte>(256);
        var json = new Utf8JsonWriter(key);
        await using var jsonScope = json.ConfigureAwait(false);
        try
        {
            var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
            await using (reader.ConfigureAwait(false))
            {
                while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
                {
                    rows.Read(reader);
                    FormatKey(rows, keyColumns, key, json);
                    writer.Row(new BinlogRowImage(rows.Rows, rows.Image, plans, encoder), key.WrittenSpan);
                    count++;
                    if (writer.IsFull)
                    {
                        break; // the chunk's byte budget: the range goes on after this row in the next chunk
                    }
                }
            }

            await transaction.CommitAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (MySqlException ex) when (request.Condition is not null && ConditionErrors.Contains((int)ex.ErrorCode))
        {
            // What a condition can cause ends this request, not the source: it would stop the source again at every restart,
            // since the request is stored with its position. Values the message quotes are left out.
            throw new SnapshotConditionException($"the condition '{request.Condition}' was refused on it: error {(int)ex.ErrorCode}: {DataErrorText.WithoutValues(ex.Message)}", ex);
        }
        catch (FormatException ex)
        {
            throw new MySqlSchemaException($"MySQL source '{_source}': a row of `{table.Schema}`.`{table.Name}` read by the snapshot cannot be encoded: {ex.Message}", ex);
        }

        return new SnapshotChunkRead(count, count == 0 ? null : Encoding.UTF8.GetString(key.WrittenSpan));
    }

    public void WritePositionFields(ref AvroWriter writer)
    {
        // No binlog position: file empty, pos, row and server_id 0, gtid, thread, query and the missing columns null.
        writer.WriteStringUtf8([]);
        writer.WriteLong(0);
        writer.WriteLong(0);
        writer.WriteLong(0);
        for (var i = 0; i < 5; i++)
        {
            writer.WriteUnionIndex(0);
        }
    }

    public ValueTask DisposeAsync() => ValueTask.CompletedTask;

    private bool Captures(string database, string name) =>
        _filter.Captures(database, name) && !(database == Tables.Schema && (name == Tables.Watermark || name == Tables.Signal));

    private static string Quote(string identifier) => "`" + identifier.Replace("`", "``", StringComparison.Ordinal) + "`";

    private static (string Database, string Name) Split(string table, string defaultDatabase)
    {
        var dot = table.IndexOf('.', StringComparison.Ordinal);
        return dot < 0 ? (defaultDatabase, table) : (table[..dot], table[(dot + 1)..]);
    }

    /// <summary>The rows after <paramref name="values"/> in key order: the key compared column by column.</summary>
    private static string After(KeyColumn[] keys, string[] values, MySqlCommand command)
    {
        var parameters = new string[keys.Length];
        for (var i = 0; i < keys.Length; i++)
        {
            parameters[i] = keys[i].Parameter(command, "@k" + i.ToString(CultureInfo.InvariantCulture), values[i]);
        }

        var or = new List<string>(keys.Length);
        for (var i = 0; i < keys.Length; i++)
        {
            var and = new List<string>(i + 1);
            for (var j = 0; j < i; j++)
            {
                and.Add($"{keys[j].Sql} = {parameters[j]}");
            }

            and.Add($"{keys[i].Sql} > {parameters[i]}");
            or.Add("(" + string.Join(" AND ", and) + ")");
        }

        return "(" + string.Join(" OR ", or) + ")";
    }

    private string[] ParseKey(string after, int count, string database, string table)
    {
        var values = JsonSerializer.Deserialize<string[]>(after);
        return values?.Length == count
            ? values
            : throw new MySqlSchemaException($"MySQL source '{_source}': the snapshot progress of `{database}`.`{table}` has {values?.Length ?? 0} key values for {count} key columns; cancel and request the snapshot again.");
    }

    /// <summary>Writes a row's key into <paramref name="key"/> (UTF-8): the JSON array of its values' texts (Base64 for text and binary strings).</summary>
    private static void FormatKey(SelectedRowImage rows, KeyColumn[] keys, ArrayBufferWriter<byte> key, Utf8JsonWriter json)
    {
        key.ResetWrittenCount();
        json.Reset(key);
        json.WriteStartArray();
        Span<byte> base64 = stackalloc byte[256];
        for (var i = 0; i < keys.Length; i++)
        {
            var value = rows.KeyValue(i);
            if (!keys[i].IsString)
            {
                json.WriteStringValue(value); // ASCII: the number's or the temporal value's text
            }
            else if (Base64.GetMaxEncodedToUtf8Length(value.Length) <= base64.Length)
            {
                Base64.EncodeToUtf8(value, base64, out _, out var written);
                json.WriteStringValue(base64[..written]);
            }
            else
            {
                json.WriteStringValue(Convert.ToBase64String(value));
            }
        }

        json.WriteEndArray();
        json.Flush();
    }

    private Task<MySqlConnection> OpenAsync(CancellationToken cancellationToken) => DbConnections.OpenAsync(new MySqlConnection(_connectionString), cancellationToken);

    private static async Task ExecuteAsync(MySqlConnection connection, string sql, CancellationToken cancellationToken)
    {
        var command = new MySqlCommand(sql, connection);
        await using var scope = command.ConfigureAwait(false);
        await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// The table's definition as the server gives it (<c>SHOW CREATE TABLE</c> without its <c>AUTO_INCREMENT</c> counter, with
    /// <c>SHOW CREATE DATABASE</c> and the server's character set): everything a description is made of, in one round trip.
    /// With <paramref name="lockTable"/>, the session's settings for a chunk's read come first, and then a <c>SELECT</c> of
    /// the table: the chunk's transaction takes the table's shared metadata lock, held to its commit, before the definition
    /// is read.
    /// </summary>
    /// <exception cref="MySqlException">The table does not exist (<see cref="MySqlErrorCode.NoSuchTable"/>).</exception>
    private static async Task<string> FingerprintAsync(MySqlConnection connection, string database, string name, bool lockTable, CancellationToken cancellationToken)
    {
        var qualified = $"{Quote(database)}.{Quote(name)}";
        // UTC: TIMESTAMP values are read and compared as UTC text; no PAD_CHAR_TO_FULL_LENGTH: CHAR values as the binlog has
        // them; no NO_BACKSLASH_ESCAPES or ANSI_QUOTES: a snapshot's condition is checked as the default sql_mode reads it
        // (ConditionQuoting).
        var sql = (lockTable
            ? "SET SESSION time_zone = '+00:00', SESSION sql_mode = REPLACE(REPLACE(REPLACE(@@SESSION.sql_mode, 'PAD_CHAR_TO_FULL_LENGTH', ''), 'NO_BACKSLASH_ESCAPES', ''), 'ANSI_QUOTES', ''); " +
              $"SELECT 1 FROM {qualified} LIMIT 0; "
            : string.Empty)
            + $"SHOW CREATE TABLE {qualified}; SHOW CREATE DATABASE {Quote(database)}; SELECT @@character_set_server";
        var command = new MySqlCommand(sql, connection);
        await using var commandScope = command.ConfigureAwait(false);
        var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        await using var readerScope = reader.ConfigureAwait(false);
        var text = new StringBuilder();
        do
        {
            while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
            {
                for (var i = 0; i < reader.FieldCount; i++)
                {
                    text.Append(reader.GetValue(i)).Append('\n');
                }
            }
        }
        while (await reader.NextResultAsync(cancellationToken).ConfigureAwait(false));

        return AutoIncrement().Replace(text.ToString(), string.Empty);
    }

    /// <summary>The table's description, from the cache when its definition is <paramref name="fingerprint"/> (read before, so
    /// that a change between the two is seen at the next check), else from <c>information_schema</c> as the binlog connector's
    /// schema would describe it (like its first start); null when the table does not exist.</summary>
    private async Task<DescribedTable?> DescribeAsync(MySqlConnection connection, string database, string name, string fingerprint, CancellationToken cancellationToken)
    {
        if (_described.TryGetValue((database, name), out var cached) && cached.Fingerprint == fingerprint)
        {
            return cached;
        }

        var collations = new Dictionary<(string, string, string), string>();
        var (tables, _, _) = await InformationSchemaLoader.LoadAsync(connection, cancellationToken, (database, name), collations).ConfigureAwait(false);
        if (tables.FirstOrDefault(t => t.Database == database && t.Name == name) is not { } table)
        {
            return null;
        }

        var described = new DescribedTable(fingerprint, table, MySqlBinlogConnector.TableInfo(table), collations);
        _described[(database, name)] = described;
        return described;
    }

    /// <summary>The <c>AUTO_INCREMENT=n</c> table option of <c>SHOW CREATE TABLE</c>: the next value, which every insert moves.</summary>
    [GeneratedRegex(@" AUTO_INCREMENT=\d+")]
    private static partial Regex AutoIncrement();

    /// <summary>A table as described for a definition (<see cref="Fingerprint"/>).</summary>
    private sealed record DescribedTable(string Fingerprint, MySqlTable Table, SourceTableInfo Info, Dictionary<(string, string, string), string> Collations)
    {
        /// <summary>The key columns (comma-separated) found to hold a unique index under this definition, or null.</summary>
        public string? UniqueKey { get; set; }
    }

    /// <summary>Checks that key columns named in Snapshot:KeyColumns hold a unique index's columns: otherwise rows that share
    /// a key value would be skipped at a chunk's end.</summary>
    private async Task CheckUniqueAsync(MySqlConnection connection, MySqlTable table, KeyColumn[] keys, CancellationToken cancellationToken)
    {
        var indexes = new Dictionary<string, List<string>>(StringComparer.Ordinal);
        var command = new MySqlCommand("SELECT INDEX_NAME, COLUMN_NAME FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = @database AND TABLE_NAME = @table AND NON_UNIQUE = 0", connection);
        await using (command.ConfigureAwait(false))
        {
            command.Parameters.AddWithValue("@database", table.Database);
            command.Parameters.AddWithValue("@table", table.Name);
            var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
            await using var readerScope = reader.ConfigureAwait(false);
            while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
            {
                if (!indexes.TryGetValue(reader.GetString(0), out var columns))
                {
                    indexes[reader.GetString(0)] = columns = [];
                }

                columns.Add(reader.GetString(1));
            }
        }

        var named = keys.Select(k => k.Column.Name).ToHashSet(StringComparer.OrdinalIgnoreCase);
        if (!indexes.Values.Any(columns => columns.All(named.Contains)))
        {
            throw new MySqlSchemaException(
                $"MySQL source '{_source}': Snapshot:KeyColumns names ({string.Join(", ", named)}) for `{table.Database}`.`{table.Name}`, which hold no unique index's columns: rows sharing a value would be skipped. " +
                $"Name the NOT NULL columns of a UNIQUE index of the table in Snapshot:KeyColumns (\"{table.Database}.{table.Name}\").");
        }
    }

    /// <summary>Creates one of the snapshots' tables when it does not exist (an existing one needs no CREATE privilege).</summary>
    private async Task CreateIfMissingAsync(string name, string columns, string privileges, string setting, CancellationToken cancellationToken)
    {
        var qualified = $"{Quote(Tables.Schema)}.{Quote(name)}";
        var connection = await OpenAsync(cancellationToken).ConfigureAwait(false);
        await using var scope = connection.ConfigureAwait(false);
        var exists = new MySqlCommand("SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = @database AND TABLE_NAME = @table", connection);
        await using (exists.ConfigureAwait(false))
        {
            exists.Parameters.AddWithValue("@database", Tables.Schema);
            exists.Parameters.AddWithValue("@table", name);
            if (Convert.ToInt64(await exists.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false), CultureInfo.InvariantCulture) > 0)
            {
                return;
            }
        }

        var user = new MySqlConnectionStringBuilder(_connectionString).UserID;
        try
        {
            await ExecuteAsync(connection, $"CREATE DATABASE IF NOT EXISTS {Quote(Tables.Schema)}", cancellationToken).ConfigureAwait(false);
            await ExecuteAsync(connection, $"CREATE TABLE IF NOT EXISTS {qualified} {columns}", cancellationToken).ConfigureAwait(false);
        }
        catch (MySqlException ex) when (ex.ErrorCode is MySqlErrorCode.DatabaseAccessDenied or MySqlErrorCode.TableAccessDenied or MySqlErrorCode.SpecifiedAccessDeniedError or MySqlErrorCode.AccessDenied)
        {
            throw new MySqlSchemaException(
                $"MySQL source '{_source}': the snapshots' table `{Tables.Schema}`.`{name}` does not exist and user '{user}' may not create it ({ex.Message}). " +
                $"Create it: CREATE TABLE {qualified} {columns}; GRANT {privileges} ON {qualified} TO '{user}'; " +
                $"or set Snapshot:{setting} to a table ('database.table') in a database the user may create tables in.", ex);
        }
    }

    /// <summary>A column of the snapshot key: how it is compared with a key value passed back to the server.</summary>
    private sealed record KeyColumn(MySqlColumn Column, ColumnPlan Plan, string Sql, string? Collation)
    {
        /// <summary>Whether its values are strings (text in its character set, or bytes), kept as Base64.</summary>
        public bool IsString => Plan.Decoder is ValueDecoder.Text or ValueDecoder.JsonText or ValueDecoder.Bytes or ValueDecoder.Geometry;

        /// <summary>Adds a key value's parameter; returns the SQL that compares the column with it.</summary>
        public string Parameter(MySqlCommand command, string name, string value)
        {
            switch (Plan.Decoder)
            {
                case ValueDecoder.SignedInt:
                    command.Parameters.AddWithValue(name, long.Parse(value, CultureInfo.InvariantCulture));
                    return name;
                case ValueDecoder.UnsignedInt or ValueDecoder.UnsignedInt64 or ValueDecoder.Boolean or ValueDecoder.Bits or ValueDecoder.Enum or ValueDecoder.Set:
                    // ENUM and SET by their numbers, as ORDER BY sorts them (a string would compare the labels).
                    command.Parameters.AddWithValue(name, ulong.Parse(value, CultureInfo.InvariantCulture));
                    return name;
                case ValueDecoder.Float or ValueDecoder.Double:
                    command.Parameters.AddWithValue(name, double.Parse(value, CultureInfo.InvariantCulture));
                    return name;
                case ValueDecoder.Decimal:
                    command.Parameters.AddWithValue(name, value);
                    return $"CAST({name} AS DECIMAL({Column.Precision},{Column.Scale}))";
                case ValueDecoder.Text or ValueDecoder.JsonText:
                    // The bytes in the column's own character set, compared under its collation: as ORDER BY sorts.
                    command.Parameters.AddWithValue(name, Convert.FromBase64String(value));
                    return Collation is null
                        ? $"CONVERT({name} USING {Column.Charset ?? "utf8mb4"})"
                        : $"CONVERT({name} USING {Column.Charset ?? "utf8mb4"}) COLLATE {Collation}";
                case ValueDecoder.Bytes or ValueDecoder.Geometry:
                    command.Parameters.AddWithValue(name, Convert.FromBase64String(value));
                    return name;
                default:
                    // YEAR (four digits), DATE, TIME, DATETIME and TIMESTAMP (UTC): the server's own text.
                    command.Parameters.AddWithValue(name, value);
                    return name;
            }
        }
    }
}
