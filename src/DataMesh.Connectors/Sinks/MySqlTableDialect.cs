using System.Data.Common;
using System.Globalization;
using System.Text;
using DataMesh.Connectors.MySql;
using MySqlConnector;

namespace DataMesh.Connectors.Sinks;

/// <summary>
/// MySQL 8 and MariaDB 10.11 statements of the table sink: multi-row <c>INSERT ... ON DUPLICATE KEY UPDATE</c> and
/// <c>DELETE ... WHERE (k1, k2) IN (...)</c>. Every connection runs with <c>STRICT_ALL_TABLES</c> added to its
/// <c>sql_mode</c>, so a value that does not fit is an error, never a silent truncation.
/// </summary>
internal sealed class MySqlTableDialect : ITableDialect
{
    /// <summary>Server errors about a row's values or constraints (the rest are connection, permission or schema errors).</summary>
    private static readonly HashSet<int> DataErrors =
    [
        1048, // column cannot be null
        1062, // duplicate entry (a unique key other than the primary key)
        1216, 1217, 1451, 1452, // foreign keys
        1264, 1690, // out of range
        1265, 1292, 1366, 1367, 1411, // truncated or incorrect value
        1406, // data too long
        3140, // invalid JSON (MySQL)
        3819, 4025, // check constraint (MySQL, MariaDB; MariaDB's JSON is a json_valid check)
    ];

    private readonly MySqlDataSource _dataSource;
    private readonly bool _ownsDataSource;
    private readonly int _timeoutSeconds;
    private readonly int _maxRows;

    public MySqlTableDialect(TableSinkOptions options)
    {
        if (options.DataSource is { } dataSource)
        {
            _dataSource = dataSource as MySqlDataSource
                ?? throw new ArgumentException($"{nameof(MySqlTableSinkOptions)}.{nameof(TableSinkOptions.DataSource)}: a {dataSource.GetType().Name} is not a MySqlDataSource.");
        }
        else
        {
            MySqlConnectionStringBuilder builder;
            try
            {
                builder = new MySqlConnectionStringBuilder(options.ConnectionString!);
            }
            catch (ArgumentException e)
            {
                // Not chained: the driver's message may name a part of an unquoted password.
                throw new ArgumentException($"{nameof(MySqlTableSinkOptions)}.{nameof(TableSinkOptions.ConnectionString)}: {ConnectionStringErrors.Redact(e.Message, options.ConnectionString)}");
            }

            // The same refusal as the MySQL source's: no password to a server whose certificate is not checked.
            if (MySqlTls.UnverifiedServerProblems(builder).FirstOrDefault() is { } problem)
            {
                throw new ArgumentException($"{nameof(MySqlTableSinkOptions)}.{problem}");
            }

            _dataSource = new MySqlDataSource(builder.ConnectionString);

            _ownsDataSource = true;
        }

        _timeoutSeconds = (int)Math.Ceiling(options.CommandTimeout.TotalSeconds);
        _maxRows = options.MaxRowsPerStatement;
    }

    public string Product => "MySQL";

    public StringComparer ColumnComparer => StringComparer.OrdinalIgnoreCase;

    public int MaxIdentifierLength => 64;

    public string Describe()
    {
        var builder = new MySqlConnectionStringBuilder(_dataSource.ConnectionString);
        return string.Create(CultureInfo.InvariantCulture, $"MySQL {builder.Server}:{builder.Port}/{builder.Database}");
    }

    public string Display(TableName name) => Sql(name);

    public async ValueTask<DbConnection> OpenAsync(CancellationToken cancellationToken)
    {
        var connection = await _dataSource.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            await ExecuteAsync(connection, null,
                "SET SESSION sql_mode = IF(@@SESSION.sql_mode = '', 'STRICT_ALL_TABLES', CONCAT(@@SESSION.sql_mode, ',STRICT_ALL_TABLES'))",
                [], cancellationToken).ConfigureAwait(false);
            return connection;
        }
        catch
        {
            await connection.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    public async ValueTask<TableInfo?> LoadTableAsync(DbConnection connection, TableName name, CancellationToken cancellationToken)
    {
        var command = new MySqlCommand(
            """
            SELECT COLUMN_NAME, COLUMN_TYPE, DATA_TYPE, COLUMN_KEY
            FROM information_schema.COLUMNS
            WHERE TABLE_SCHEMA = COALESCE(@schema, DATABASE()) AND TABLE_NAME = @table
            ORDER BY ORDINAL_POSITION
            """,
            (MySqlConnection)connection)
        { CommandTimeout = _timeoutSeconds };
        await using var commandScope = command.ConfigureAwait(false);
        command.Parameters.AddWithValue("@table", name.Name);
        command.Parameters.AddWithValue("@schema", (object?)name.Schema ?? DBNull.Value);
        var columns = new Dictionary<string, TableColumn>(StringComparer.OrdinalIgnoreCase);
        var key = new List<string>();
        var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        await using (reader.ConfigureAwait(false))
        {
            while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
            {
                var dataType = reader.GetString(2);
                var column = new TableColumn(reader.GetString(0), reader.GetString(1), dataType, dataType.Contains("char", StringComparison.OrdinalIgnoreCase) || dataType.Contains("text", StringComparison.OrdinalIgnoreCase));
                columns[column.Name] = column;
                if (string.Equals(reader.GetString(3), "PRI", StringComparison.Ordinal))
                {
                    key.Add(column.Name);
                }
            }
        }

        return columns.Count == 0 ? null : new TableInfo(name, Sql(name), Display(name), columns, [.. key]);
    }

    public async ValueTask CreateTableAsync(DbConnection connection, TableName name, IReadOnlyList<SinkColumn> columns, IReadOnlyList<string> key, CancellationToken cancellationToken)
    {
        var sql = new StringBuilder("CREATE TABLE IF NOT EXISTS ").Append(Sql(name)).Append(" (");
        foreach (var column in columns)
        {
            var isKey = key.Contains(column.Name, StringComparer.OrdinalIgnoreCase);
            sql.Append(Quote(column.Name)).Append(' ').Append(ColumnType(column, isKey)).Append(isKey ? " NOT NULL, " : " NULL, ");
        }

        sql.Append("PRIMARY KEY (").AppendJoin(", ", key.Select(Quote)).Append(")) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=").Append(BinaryCollation((MySqlConnection)connection));
        await ExecuteAsync((MySqlConnection)connection, null, sql.ToString(), [], cancellationToken).ConfigureAwait(false);
    }

    /// <summary>A binary collation that does not pad with spaces, so that keys compare as the source's do ('a' and 'a ' are
    /// two keys): MariaDB's <c>utf8mb4_nopad_bin</c> (10.2+), MySQL's <c>utf8mb4_0900_bin</c> (8.0.17+); older servers have
    /// only <c>utf8mb4_bin</c>, which pads (docs/pipelines.md).</summary>
    internal static string BinaryCollation(MySqlConnection connection)
    {
        var (mariaDb, version) = Server(connection);
        return mariaDb ? "utf8mb4_nopad_bin" : version >= new Version(8, 0, 17) ? "utf8mb4_0900_bin" : "utf8mb4_bin";
    }

    /// <summary>Whether the server is MariaDB, and its version (0.0 when it cannot be read).</summary>
    private static (bool MariaDb, Version Version) Server(MySqlConnection connection)
    {
        var text = connection.ServerVersion;
        return (text.Contains("MariaDB", StringComparison.OrdinalIgnoreCase), Version.TryParse(text.Split('-', 2)[0], out var version) ? version : new Version(0, 0));
    }

    public async ValueTask AddColumnsAsync(DbConnection connection, TableInfo table, IReadOnlyList<SinkColumn> columns, CancellationToken cancellationToken)
    {
        // One statement a column: MySQL 8 has no ADD COLUMN IF NOT EXISTS, and another writer may have added one meanwhile.
        foreach (var column in columns)
        {
            try
            {
                await ExecuteAsync((MySqlConnection)connection, null,
                    "ALTER TABLE " + table.Sql + " ADD COLUMN " + Quote(column.Name) + " " + ColumnType(column, isKey: false) + " NULL" + DefaultClause(column, (MySqlConnection)connection),
                    [], cancellationToken).ConfigureAwait(false);
            }
            catch (MySqlException e) when (e.Number == 1060)
            {
                // Duplicate column name: already added.
            }
        }
    }

    /// <summary><c> DEFAULT literal</c> for a column added to an existing table, so the rows already written get the field's
    /// default, or nothing. A string is an expression default (MySQL 8 takes no literal default on TEXT and JSON columns)
    /// of its UTF-8 bytes in hex, which no sql_mode (NO_BACKSLASH_ESCAPES, ANSI_QUOTES) reads otherwise; MySQL before
    /// 8.0.13 has no expression defaults, so there a string's rows are left NULL.</summary>
    private static string DefaultClause(SinkColumn column, MySqlConnection connection) => column.Default switch
    {
        null => string.Empty,
        { } when column.DefaultIsText && !ExpressionDefaults(connection) => string.Empty,
        { } text when column.DefaultIsText => " DEFAULT (CONVERT(X'" + Convert.ToHexString(Encoding.UTF8.GetBytes(text)) + "' USING utf8mb4))",
        { } literal => " DEFAULT " + literal,
    };

    /// <summary>Whether the server takes expression defaults: MariaDB (10.2.1+), MySQL 8.0.13+.</summary>
    private static bool ExpressionDefaults(MySqlConnection connection) => Server(connection) is var (mariaDb, version) && (mariaDb || version >= new Version(8, 0, 13));

    public object? ToParameter(SinkColumn column, object? value)
    {
        switch (value)
        {
            case null:
                return null;
            case float f when !float.IsFinite(f):
            case double d when !double.IsFinite(d):
                throw new SinkValueException(column.Name, "MySQL cannot store NaN or infinity");
        }

        switch (column.Kind)
        {
            case SinkKind.Float32:
                // As the double it is exactly: MySqlConnector sends a float as its shortest text, which a DOUBLE column
                // reads as another number (3.4028235E+38 is not float.MaxValue).
                return (double)(float)value;
            case SinkKind.Date:
                var days = (int)value;
                if (days is int.MaxValue or int.MinValue)
                {
                    throw new SinkValueException(column.Name, "the date is an infinity or zero-date sentinel (see docs/type-mapping.md), which a MySQL DATE cannot hold");
                }

                var dayNumber = (long)days + 719_162;
                return dayNumber is >= 0 and <= 3_652_058
                    ? DateOnly.FromDayNumber((int)dayNumber)
                    : throw new SinkValueException(column.Name, string.Create(CultureInfo.InvariantCulture, $"date {days} days from 1970-01-01 is outside years 1 to 9999"));
            case SinkKind.Time or SinkKind.Duration:
                return TimeSpan.FromTicks(checked((long)value * TimeSpan.TicksPerMicrosecond));
            case SinkKind.Timestamp or SinkKind.LocalTimestamp:
                var micros = (long)value;
                if (micros is long.MaxValue or long.MinValue)
                {
                    throw new SinkValueException(column.Name, "the timestamp is an infinity or zero-date sentinel (see docs/type-mapping.md), which a MySQL DATETIME cannot hold");
                }

                const long MinMicros = -62_135_596_800_000_000L;
                const long MaxMicros = 253_402_300_799_999_999L;
                return micros is >= MinMicros and <= MaxMicros
                    ? new DateTime(DateTime.UnixEpoch.Ticks + (micros * TimeSpan.TicksPerMicrosecond), DateTimeKind.Unspecified)
                    : throw new SinkValueException(column.Name, string.Create(CultureInfo.InvariantCulture, $"timestamp {micros} µs from 1970 is outside years 1 to 9999"));
            case SinkKind.Array:
                return ((SinkArray)value).Json;
            default:
                return value;
        }
    }

    public async ValueTask DeleteAsync(DbConnection connection, DbTransaction transaction, TableInfo table, SinkColumn[] key, IReadOnlyList<object?[]> keys, CancellationToken cancellationToken)
    {
        var perStatement = Math.Max(1, Math.Min(_maxRows, 60_000 / key.Length));
        for (var start = 0; start < keys.Count; start += perStatement)
        {
            var count = Math.Min(perStatement, keys.Count - start);
            var parameters = new List<MySqlParameter>(count * key.Length);
            var sql = new StringBuilder("DELETE FROM ").Append(table.Sql).Append(" WHERE (")
                .AppendJoin(", ", key.Select(k => Quote(k.Name))).Append(") IN (");
            for (var r = 0; r < count; r++)
            {
                sql.Append(r == 0 ? "(" : ", (");
                for (var k = 0; k < key.Length; k++)
                {
                    var name = "@p" + parameters.Count.ToString(CultureInfo.InvariantCulture);
                    parameters.Add(new MySqlParameter(name, keys[start + r][k] ?? DBNull.Value));
                    sql.Append(k == 0 ? string.Empty : ", ").Append(name);
                }

                sql.Append(')');
            }

            await ExecuteAsync((MySqlConnection)connection, (MySqlTransaction)transaction, sql.Append(')').ToString(), parameters, cancellationToken).ConfigureAwait(false);
        }
    }

    public async ValueTask<bool[]> ExistsAsync(DbConnection connection, DbTransaction transaction, TableInfo table, SinkColumn[] key, IReadOnlyList<object?[]> keys, CancellationToken cancellationToken)
    {
        // One SELECT a key, joined by UNION ALL: each compares a parameter with the column as DeleteAsync's IN list does
        // (a derived table of parameters would compare under the connection's collation instead of the column's).
        var exists = new bool[keys.Count];
        var perStatement = Math.Max(1, Math.Min(_maxRows, 60_000 / key.Length));
        for (var start = 0; start < keys.Count; start += perStatement)
        {
            var count = Math.Min(perStatement, keys.Count - start);
            var command = new MySqlCommand { Connection = (MySqlConnection)connection, Transaction = (MySqlTransaction)transaction, CommandTimeout = _timeoutSeconds };
            await using var commandScope = command.ConfigureAwait(false);
            var sql = new StringBuilder();
            for (var r = 0; r < count; r++)
            {
                sql.Append(r == 0 ? "SELECT " : " UNION ALL SELECT ").Append((start + r).ToString(CultureInfo.InvariantCulture)).Append(" FROM ").Append(table.Sql).Append(" WHERE ");
                for (var k = 0; k < key.Length; k++)
                {
                    var name = "@p" + command.Parameters.Count.ToString(CultureInfo.InvariantCulture);
                    command.Parameters.AddWithValue(name, keys[start + r][k] ?? DBNull.Value);
                    sql.Append(k == 0 ? string.Empty : " AND ").Append(Quote(key[k].Name)).Append(" = ").Append(name);
                }
            }

            command.CommandText = sql.ToString();
            var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
            await using var readerScope = reader.ConfigureAwait(false);
            while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
            {
                exists[Convert.ToInt32(reader.GetValue(0), CultureInfo.InvariantCulture)] = true;
            }
        }

        return exists;
    }

    public async ValueTask UpsertAsync(DbConnection connection, DbTransaction transaction, TableInfo table, SinkColumn[] columns, IReadOnlyList<object?[]> rows, CancellationToken cancellationToken)
    {
        var head = new StringBuilder("INSERT INTO ").Append(table.Sql).Append(" (").AppendJoin(", ", columns.Select(c => Quote(c.Name))).Append(") VALUES ").ToString();
        var updates = columns.Where(c => !table.PrimaryKey.Contains(c.Name, StringComparer.OrdinalIgnoreCase))
            .Select(c => Quote(c.Name) + " = VALUES(" + Quote(c.Name) + ")").ToList();
        // ON DUPLICATE KEY UPDATE updates the row that any unique index finds: one of another key (an equal value in a
        // secondary unique index) would be written over. The first assignment keeps the key when the row found is the
        // record's own, and otherwise sets a key column NULL, which the strict session refuses (error 1048): the record is
        // then rejected (DescribeDataErrorAsync) as PostgreSQL rejects it (23505).
        var same = string.Join(" AND ", table.PrimaryKey.Select(k => Quote(k) + " <=> VALUES(" + Quote(k) + ")"));
        var first = Quote(table.PrimaryKey[0]);
        updates.Insert(0, $"{first} = IF({same}, {first}, NULL)");
        var tail = " ON DUPLICATE KEY UPDATE " + string.Join(", ", updates);
        var perStatement = Math.Max(1, Math.Min(_maxRows, 60_000 / columns.Length));
        for (var start = 0; start < rows.Count; start += perStatement)
        {
            var count = Math.Min(perStatement, rows.Count - start);
            var parameters = new List<MySqlParameter>(count * columns.Length);
            var sql = new StringBuilder(head);
            for (var r = 0; r < count; r++)
            {
                sql.Append(r == 0 ? "(" : ", (");
                var row = rows[start + r];
                for (var c = 0; c < columns.Length; c++)
                {
                    var name = "@p" + parameters.Count.ToString(CultureInfo.InvariantCulture);
                    parameters.Add(new MySqlParameter(name, row[c] ?? DBNull.Value));
                    sql.Append(c == 0 ? string.Empty : ", ").Append(name);
                }

                sql.Append(')');
            }

            await ExecuteAsync((MySqlConnection)connection, (MySqlTransaction)transaction, sql.Append(tail).ToString(), parameters, cancellationToken).ConfigureAwait(false);
        }
    }

    public bool IsDataError(Exception exception) => exception is MySqlException e && DataErrors.Contains(e.Number);

    public ValueTask<string> DescribeDataErrorAsync(TableInfo table, SinkColumn[] columns, object?[] row, Exception exception, CancellationToken cancellationToken)
    {
        // The server's messages name the column ("Data too long for column 'v' at row 1").
        var error = (MySqlException)exception;
        if (error.ErrorCode == MySqlErrorCode.ColumnCannotBeNull && table.PrimaryKey.Any(k => error.Message.Contains($"'{k}'", StringComparison.OrdinalIgnoreCase))
            && table.PrimaryKey.All(k => Array.FindIndex(columns, c => string.Equals(c.Name, k, StringComparison.OrdinalIgnoreCase)) is var i && i >= 0 && row[i] is not null))
        {
            // The guard of UpsertAsync: the row a unique index found is another key's.
            return ValueTask.FromResult($"table {table.Display}: the record's values equal another key's row in a unique index of the table, which an upsert would write over; " +
                "it is refused as a duplicate (drop or widen the unique index, or correct the source)");
        }

        return ValueTask.FromResult(string.Create(CultureInfo.InvariantCulture, $"table {table.Display}: {DataErrorText.WithoutValues(error.Message, row)} [error {error.Number}]"));
    }

    public async ValueTask DisposeAsync()
    {
        if (_ownsDataSource)
        {
            await _dataSource.DisposeAsync().ConfigureAwait(false);
        }
    }

    private static string Quote(string identifier) => "`" + identifier.Replace("`", "``", StringComparison.Ordinal) + "`";

    private static string Sql(TableName name) => name.Schema is null ? Quote(name.Name) : Quote(name.Schema) + "." + Quote(name.Name);

    /// <summary>The column type a created table gets for a field (docs/pipelines.md, "Database sinks").</summary>
    private static string ColumnType(SinkColumn column, bool isKey) => column.Kind switch
    {
        SinkKind.Boolean => "BOOLEAN",
        SinkKind.Int32 => "INT",
        SinkKind.Int64 => "BIGINT",
        // MySQL's FLOAT refuses the largest floats (its bound is 3.402823466E+38): a DOUBLE holds every float exactly.
        SinkKind.Float32 or SinkKind.Float64 => "DOUBLE",
        SinkKind.Decimal when column.Precision is >= 1 and <= 65 && column.Scale is >= 0 and <= 30 && column.Scale <= column.Precision =>
            string.Create(CultureInfo.InvariantCulture, $"DECIMAL({column.Precision},{column.Scale})"),
        SinkKind.Decimal or SinkKind.VariableDecimal => isKey ? "VARCHAR(255)" : "LONGTEXT",
        SinkKind.String or SinkKind.Enum => isKey ? "VARCHAR(255)" : "LONGTEXT",
        SinkKind.Uuid => "CHAR(36)",
        SinkKind.Json or SinkKind.Document or SinkKind.Array => "JSON",
        SinkKind.Bytes => isKey ? "VARBINARY(255)" : "LONGBLOB",
        SinkKind.Fixed => column.FixedSize is >= 1 and <= 255 ? string.Create(CultureInfo.InvariantCulture, $"BINARY({column.FixedSize})") : "LONGBLOB",
        SinkKind.Date => "DATE",
        SinkKind.Time or SinkKind.Duration => "TIME(6)",
        SinkKind.Timestamp or SinkKind.LocalTimestamp => "DATETIME(6)",
        _ => throw new NotSupportedException($"column \"{column.Name}\": no MySQL type for {column.Kind}"),
    };

    private async ValueTask ExecuteAsync(MySqlConnection connection, MySqlTransaction? transaction, string sql, List<MySqlParameter> parameters, CancellationToken cancellationToken)
    {
        var command = new MySqlCommand(sql, connection, transaction) { CommandTimeout = _timeoutSeconds };
        await using var commandScope = command.ConfigureAwait(false);
        command.Parameters.AddRange(parameters.ToArray());
        await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
    }
}
