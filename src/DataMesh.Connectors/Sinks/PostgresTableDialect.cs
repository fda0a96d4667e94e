using System.Data.Common;
using System.Globalization;
using System.Text;
using DataMesh.Connectors.Postgres;
using Npgsql;
using NpgsqlTypes;

namespace DataMesh.Connectors.Sinks;

/// <summary>
/// PostgreSQL statements of the table sink. Upserts go through a binary COPY into a temporary staging table and one
/// <c>INSERT ... SELECT ... ON CONFLICT (key) DO UPDATE</c>; deletes are <c>DELETE ... WHERE (k1, k2) IN (...)</c>.
/// Exact values travel as text (decimals, UUIDs, JSON) and are cast to the column's type by the server.
/// </summary>
internal sealed class PostgresTableDialect : ITableDialect
{
    private const string Stage = "pg_temp.dm_sink_stage";
    private const string Probe = "pg_temp.dm_sink_probe";

    private readonly NpgsqlDataSource _dataSource;
    private readonly bool _ownsDataSource;
    private readonly int _timeoutSeconds;
    private readonly int _maxRows;

    public PostgresTableDialect(TableSinkOptions options)
    {
        if (options.DataSource is { } dataSource)
        {
            _dataSource = dataSource as NpgsqlDataSource
                ?? throw new ArgumentException($"{nameof(PostgresTableSinkOptions)}.{nameof(TableSinkOptions.DataSource)}: a {dataSource.GetType().Name} is not an NpgsqlDataSource.");
        }
        else
        {
            try
            {
                // The same protection as the PostgreSQL source's: no password in clear to a server that is not verified.
                var builder = new NpgsqlConnectionStringBuilder(options.ConnectionString!);
                PostgresTls.Secure(builder);
                // Instants go into `timestamp` columns as UTC, as on MySQL/MariaDB: PostgreSQL casts a timestamptz to
                // timestamp in the session's time zone, which a database or role default would otherwise decide.
                builder.Timezone = "UTC";
                _dataSource = NpgsqlDataSource.Create(builder.ConnectionString);
            }
            catch (ArgumentException e)
            {
                // Not chained: the driver's message may name a part of an unquoted password.
                throw new ArgumentException($"{nameof(PostgresTableSinkOptions)}.{nameof(TableSinkOptions.ConnectionString)}: {ConnectionStringErrors.Redact(e.Message, options.ConnectionString)}");
            }

            _ownsDataSource = true;
        }

        _timeoutSeconds = (int)Math.Ceiling(options.CommandTimeout.TotalSeconds);
        _maxRows = options.MaxRowsPerStatement;
    }

    /// <summary>The data source's connection string (without the password), as the sink connects with it.</summary>
    internal string ConnectionString => _dataSource.ConnectionString;

    public string Product => "PostgreSQL";

    public StringComparer ColumnComparer => StringComparer.Ordinal;

    public int MaxIdentifierLength => 63;

    public string Describe()
    {
        var builder = new NpgsqlConnectionStringBuilder(_dataSource.ConnectionString);
        return string.Create(CultureInfo.InvariantCulture, $"PostgreSQL {builder.Host}:{builder.Port}/{builder.Database}");
    }

    public string Display(TableName name) => Sql(name);

    public async ValueTask<DbConnection> OpenAsync(CancellationToken cancellationToken)
    {
        var connection = await _dataSource.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        if (_ownsDataSource)
        {
            return connection;
        }

        try
        {
            // A data source of the application's: its session time zone is set here (its own connections are opened with
            // Timezone=UTC), so that instants go into `timestamp` columns as UTC.
            var command = new NpgsqlCommand("SET TIME ZONE 'UTC'", connection);
            await using (command.ConfigureAwait(false))
            {
                await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
            }

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
        var command = new NpgsqlCommand(
            """
            SELECT a.attname, format_type(a.atttypid, a.atttypmod), format_type(a.atttypid, NULL), t.typcategory = 'S',
                   coalesce(a.attnum = ANY (i.indkey), false), e.typcategory = 'S'
            FROM pg_class c
            JOIN pg_namespace n ON n.oid = c.relnamespace
            JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
            JOIN pg_type t ON t.oid = a.atttypid
            LEFT JOIN pg_type e ON e.oid = t.typelem AND t.typcategory = 'A'
            LEFT JOIN pg_index i ON i.indrelid = c.oid AND i.indisprimary
            WHERE c.relname = @table AND n.nspname = coalesce(@schema, current_schema()) AND c.relkind IN ('r', 'p')
            ORDER BY a.attnum
            """,
            (NpgsqlConnection)connection);
        await using var commandScope = command.ConfigureAwait(false);
        command.CommandTimeout = _timeoutSeconds;
        command.Parameters.Add(new NpgsqlParameter("table", NpgsqlDbType.Text) { Value = name.Name });
        command.Parameters.Add(new NpgsqlParameter("schema", NpgsqlDbType.Text) { Value = (object?)name.Schema ?? DBNull.Value });
        var columns = new Dictionary<string, TableColumn>(StringComparer.Ordinal);
        var key = new List<string>();
        var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        await using (reader.ConfigureAwait(false))
        {
            while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
            {
                var (columnName, type, baseType) = (reader.GetString(0), reader.GetString(1), reader.GetString(2));
                var column = new TableColumn(columnName, type, baseType, reader.GetBoolean(3))
                {
                    // format_type writes an array type as its element type's name and `[]`, modifier included.
                    Element = reader.IsDBNull(5) || !type.EndsWith("[]", StringComparison.Ordinal) || !baseType.EndsWith("[]", StringComparison.Ordinal)
                        ? null
                        : new TableColumn(columnName, type[..^2], baseType[..^2], reader.GetBoolean(5)),
                };
                columns[column.Name] = column;
                if (reader.GetBoolean(4))
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
            sql.Append(Quote(column.Name)).Append(' ').Append(ColumnType(column));
            if (key.Contains(column.Name, StringComparer.Ordinal))
            {
                sql.Append(" NOT NULL");
            }

            sql.Append(", ");
        }

        sql.Append("PRIMARY KEY (").AppendJoin(", ", key.Select(Quote)).Append("))");
        await ExecuteAsync((NpgsqlConnection)connection, null, sql.ToString(), cancellationToken).ConfigureAwait(false);
    }

    public async ValueTask AddColumnsAsync(DbConnection connection, TableInfo table, IReadOnlyList<SinkColumn> columns, CancellationToken cancellationToken)
    {
        var sql = new StringBuilder("ALTER TABLE ").Append(table.Sql).Append(' ')
            .AppendJoin(", ", columns.Select(c => "ADD COLUMN IF NOT EXISTS " + Quote(c.Name) + " " + ColumnType(c) + DefaultClause(c)));
        await ExecuteAsync((NpgsqlConnection)connection, null, sql.ToString(), cancellationToken).ConfigureAwait(false);
    }

    /// <summary><c> DEFAULT literal</c> for a column added to an existing table, so the rows already written get the field's
    /// default (a string as an escape string, <c>E'…'</c>, which reads the same whatever standard_conforming_strings), or
    /// nothing.</summary>
    private static string DefaultClause(SinkColumn column) => column.Default switch
    {
        null => string.Empty,
        { } text when column.DefaultIsText => " DEFAULT E'" + text.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("'", "''", StringComparison.Ordinal) + "'",
        { } literal => " DEFAULT " + literal,
    };

    public object? ToParameter(SinkColumn column, object? value)
    {
        if (value is null)
        {
            return null;
        }

        switch (column.Kind)
        {
            case SinkKind.Time:
                var micros = (long)value;
                if (micros is < 0 or > 86_400_000_000L)
                {
                    throw new SinkValueException(column.Name, string.Create(CultureInfo.InvariantCulture, $"time of day {micros} µs is outside 00:00 to 24:00"));
                }

                return TimeSpan.FromTicks(micros * TimeSpan.TicksPerMicrosecond);
            case SinkKind.Timestamp or SinkKind.LocalTimestamp:
                return ToPostgresTimestamp(column, (long)value);
            case SinkKind.Duration:
                return TimeSpan.FromTicks(checked((long)value * TimeSpan.TicksPerMicrosecond));
            case SinkKind.Array:
                // Each item converted as a column of the items' kind is (the same checks), into the typed array that
                // stages it (StageType); the JSON form is kept for a JSON column.
                var array = (SinkArray)value;
                var element = column.Element!;
                var items = ((object?[])array.Items).Select(i => ToParameter(element, i));
                return new SinkArray(element.Kind switch
                {
                    SinkKind.Boolean => items.Select(i => (bool?)i).ToArray(),
                    SinkKind.Int32 or SinkKind.Date => items.Select(i => (int?)i).ToArray(),
                    SinkKind.Int64 or SinkKind.Timestamp or SinkKind.LocalTimestamp => items.Select(i => (long?)i).ToArray(),
                    SinkKind.Float32 => items.Select(i => (float?)i).ToArray(),
                    SinkKind.Float64 => items.Select(i => (double?)i).ToArray(),
                    SinkKind.Time or SinkKind.Duration => items.Select(i => (TimeSpan?)i).ToArray(),
                    SinkKind.Bytes or SinkKind.Fixed => items.Select(i => (byte[]?)i).ToArray(),
                    _ => items.Select(i => (string?)i).ToArray(),
                }, array.Json);
            default:
                return value;
        }
    }

    public async ValueTask DeleteAsync(DbConnection connection, DbTransaction transaction, TableInfo table, SinkColumn[] key, IReadOnlyList<object?[]> keys, CancellationToken cancellationToken)
    {
        // PostgreSQL takes at most 65,535 parameters per statement.
        var perStatement = Math.Max(1, Math.Min(_maxRows, 65_000 / key.Length));
        for (var start = 0; start < keys.Count; start += perStatement)
        {
            var count = Math.Min(perStatement, keys.Count - start);
            var command = new NpgsqlCommand { Connection = (NpgsqlConnection)connection, Transaction = (NpgsqlTransaction)transaction, CommandTimeout = _timeoutSeconds };
            await using var commandScope = command.ConfigureAwait(false);
            var sql = new StringBuilder("DELETE FROM ").Append(table.Sql).Append(" WHERE (")
                .AppendJoin(", ", key.Select(k => Quote(k.Name))).Append(") IN (");
            for (var r = 0; r < count; r++)
            {
                sql.Append(r == 0 ? "(" : ", (");
                for (var k = 0; k < key.Length; k++)
                {
                    var name = "p" + command.Parameters.Count.ToString(CultureInfo.InvariantCulture);
                    var target = table.Columns[key[k].Name];
                    command.Parameters.Add(new NpgsqlParameter(name, StageType(key[k], target).DbType) { Value = Bound(key[k], target, keys[start + r][k]) ?? DBNull.Value });
                    sql.Append(k == 0 ? string.Empty : ", ").Append(Expression(key[k], target, "@" + name));
                }

                sql.Append(')');
            }

            command.CommandText = sql.Append(')').ToString();
            await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    public async ValueTask<bool[]> ExistsAsync(DbConnection connection, DbTransaction transaction, TableInfo table, SinkColumn[] key, IReadOnlyList<object?[]> keys, CancellationToken cancellationToken)
    {
        var exists = new bool[keys.Count];
        var perStatement = Math.Max(1, Math.Min(_maxRows, 65_000 / key.Length));
        for (var start = 0; start < keys.Count; start += perStatement)
        {
            var count = Math.Min(perStatement, keys.Count - start);
            var command = new NpgsqlCommand { Connection = (NpgsqlConnection)connection, Transaction = (NpgsqlTransaction)transaction, CommandTimeout = _timeoutSeconds };
            await using var commandScope = command.ConfigureAwait(false);
            var sql = new StringBuilder("SELECT s.o FROM (VALUES ");
            for (var r = 0; r < count; r++)
            {
                sql.Append(r == 0 ? "(" : ", (").Append((start + r).ToString(CultureInfo.InvariantCulture));
                for (var k = 0; k < key.Length; k++)
                {
                    var name = "p" + command.Parameters.Count.ToString(CultureInfo.InvariantCulture);
                    var target = table.Columns[key[k].Name];
                    command.Parameters.Add(new NpgsqlParameter(name, StageType(key[k], target).DbType) { Value = Bound(key[k], target, keys[start + r][k]) ?? DBNull.Value });
                    sql.Append(", ").Append(Expression(key[k], target, "@" + name));
                }

                sql.Append(')');
            }

            sql.Append(") AS s (o").AppendJoin(string.Empty, key.Select((_, k) => ", c" + k.ToString(CultureInfo.InvariantCulture)))
                .Append(") JOIN ").Append(table.Sql).Append(" AS t ON ")
                .AppendJoin(" AND ", key.Select((c, k) => "t." + Quote(c.Name) + " = s.c" + k.ToString(CultureInfo.InvariantCulture)))
                .Append(" FOR UPDATE OF t");
            command.CommandText = sql.ToString();
            var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
            await using var readerScope = reader.ConfigureAwait(false);
            while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
            {
                exists[reader.GetInt32(0)] = true;
            }
        }

        return exists;
    }

    public async ValueTask UpsertAsync(DbConnection connection, DbTransaction transaction, TableInfo table, SinkColumn[] columns, IReadOnlyList<object?[]> rows, CancellationToken cancellationToken)
    {
        var npgsql = (NpgsqlConnection)connection;
        var tx = (NpgsqlTransaction)transaction;
        await StageAsync(npgsql, tx, table, columns, rows, cancellationToken).ConfigureAwait(false);
        var sql = new StringBuilder("INSERT INTO ").Append(table.Sql).Append(" (")
            .AppendJoin(", ", columns.Select(c => Quote(c.Name))).Append(") SELECT ")
            .AppendJoin(", ", columns.Select((c, i) => Expression(c, table.Columns[c.Name], "s.c" + i.ToString(CultureInfo.InvariantCulture))))
            .Append(" FROM ").Append(Stage).Append(" s ON CONFLICT (").AppendJoin(", ", table.PrimaryKey.Select(Quote)).Append(')');
        var updates = columns.Where(c => !table.PrimaryKey.Contains(c.Name, StringComparer.Ordinal)).Select(c => Quote(c.Name) + " = EXCLUDED." + Quote(c.Name)).ToList();
        sql.Append(updates.Count == 0 ? " DO NOTHING" : " DO UPDATE SET ").AppendJoin(", ", updates);
        sql.Append("; DROP TABLE ").Append(Stage);
        await ExecuteAsync(npgsql, tx, sql.ToString(), cancellationToken).ConfigureAwait(false);
    }

    public bool IsDataError(Exception exception) =>
        exception is PostgresException { SqlState: var state } && (state.StartsWith("22", StringComparison.Ordinal) || state.StartsWith("23", StringComparison.Ordinal));

    public async ValueTask<string> DescribeDataErrorAsync(TableInfo table, SinkColumn[] columns, object?[] row, Exception exception, CancellationToken cancellationToken)
    {
        var error = (PostgresException)exception;
        // 22021 (character_not_in_repertoire) is what a U+0000 in a string meets: PostgreSQL's text cannot hold it, and the
        // staging COPY refuses the row before any column is assigned, in the probe's staging too.
        var nul = error.ColumnName is null && error.SqlState == PostgresErrorCodes.CharacterNotInRepertoire ? NulColumn(columns, row) : null;
        var column = error.ColumnName ?? nul;
        if (column is null && error.SqlState.StartsWith("22", StringComparison.Ordinal))
        {
            column = await ProbeAsync(table, columns, row, cancellationToken).ConfigureAwait(false);
        }

        var builder = new StringBuilder("table ").Append(table.Display);
        if (column is not null)
        {
            builder.Append(", column \"").Append(column).Append('"');
            if (table.Columns.TryGetValue(column, out var info))
            {
                builder.Append(" (").Append(info.Type).Append(')');
            }
        }

        builder.Append(": ").Append(DataErrorText.WithoutValues(error.MessageText, row));
        if (nul is not null)
        {
            builder.Append(" (the value holds the NUL character U+0000, which PostgreSQL's text types cannot store)");
        }

        if (error.ConstraintName is { } constraint)
        {
            builder.Append(" (constraint ").Append(constraint).Append(')');
        }

        return builder.Append(" [SQLSTATE ").Append(error.SqlState).Append(']').ToString();
    }

    public async ValueTask DisposeAsync()
    {
        if (_ownsDataSource)
        {
            await _dataSource.DisposeAsync().ConfigureAwait(false);
        }
    }

    private static string Quote(string identifier) => "\"" + identifier.Replace("\"", "\"\"", StringComparison.Ordinal) + "\"";

    private static string Sql(TableName name) => name.Schema is null ? Quote(name.Name) : Quote(name.Schema) + "." + Quote(name.Name);

    /// <summary>The column type a created table gets for a field (docs/pipelines.md, "Database sinks").</summary>
    private static string ColumnType(SinkColumn column) => column.Kind switch
    {
        SinkKind.Boolean => "boolean",
        SinkKind.Int32 => "integer",
        SinkKind.Int64 => "bigint",
        SinkKind.Float32 => "real",
        SinkKind.Float64 => "double precision",
        SinkKind.Decimal when column.Precision is >= 1 and <= 1000 && column.Scale >= 0 && column.Scale <= column.Precision =>
            string.Create(CultureInfo.InvariantCulture, $"numeric({column.Precision},{column.Scale})"),
        SinkKind.Decimal or SinkKind.VariableDecimal => "numeric",
        SinkKind.String or SinkKind.Enum => "text",
        SinkKind.Uuid => "uuid",
        SinkKind.Json or SinkKind.Document => "jsonb",
        SinkKind.Bytes or SinkKind.Fixed => "bytea",
        SinkKind.Date => "date",
        SinkKind.Time => "time",
        SinkKind.Timestamp => "timestamptz",
        SinkKind.LocalTimestamp => "timestamp",
        SinkKind.Duration => "interval",
        SinkKind.Array => column.CreatedAsJson ? "jsonb" : StageType(column).Sql,
        _ => throw new NotSupportedException($"column \"{column.Name}\": no PostgreSQL type for {column.Kind}"),
    };

    /// <summary>The staging column's type (and the parameters' type): what the value travels as; an array as an array of
    /// what its items travel as, or as its JSON text (<see cref="AsJson"/>).</summary>
    private static (string Sql, NpgsqlDbType DbType) StageType(SinkColumn column, TableColumn? target = null) => column.Kind switch
    {
        SinkKind.Boolean => ("boolean", NpgsqlDbType.Boolean),
        SinkKind.Int32 or SinkKind.Date => ("integer", NpgsqlDbType.Integer),
        SinkKind.Int64 => ("bigint", NpgsqlDbType.Bigint),
        SinkKind.Float32 => ("real", NpgsqlDbType.Real),
        SinkKind.Float64 => ("double precision", NpgsqlDbType.Double),
        SinkKind.Bytes or SinkKind.Fixed => ("bytea", NpgsqlDbType.Bytea),
        SinkKind.Time => ("time", NpgsqlDbType.Time),
        SinkKind.Timestamp => ("timestamptz", NpgsqlDbType.TimestampTz),
        SinkKind.LocalTimestamp => ("timestamp", NpgsqlDbType.Timestamp),
        SinkKind.Duration => ("interval", NpgsqlDbType.Interval),
        SinkKind.Array when target is not null && AsJson(column, target) => ("text", NpgsqlDbType.Text),
        SinkKind.Array => ArrayOf(StageType(column.Element!)),
        _ => ("text", NpgsqlDbType.Text),
    };

    private static (string Sql, NpgsqlDbType DbType) ArrayOf((string Sql, NpgsqlDbType DbType) element) => (element.Sql + "[]", NpgsqlDbType.Array | element.DbType);

    /// <summary>Whether an array goes into <paramref name="target"/> as its JSON document (<see cref="SinkArray.Json"/>): into
    /// a column that is not an array, an array of a kind the sink creates as JSON (<see cref="SinkColumn.CreatedAsJson"/>:
    /// what such columns held before the sink wrote arrays of those kinds as arrays), and any array into a json or jsonb
    /// column (an array of integers or strings failed the whole batch there, 42804).</summary>
    private static bool AsJson(SinkColumn column, TableColumn target) =>
        target.Element is null && (column.CreatedAsJson || target.BaseType is "jsonb" or "json");

    /// <summary>The value a staged column or parameter is given: an array's typed items or its JSON text, as <see cref="StageType"/> says.</summary>
    private static object? Bound(SinkColumn column, TableColumn target, object? value) =>
        value is SinkArray array ? (AsJson(column, target) ? array.Json : array.Items) : value;

    /// <summary>The SQL that turns a staged value or parameter into the target column's value.</summary>
    private static string Expression(SinkColumn column, TableColumn target, string source)
    {
        if (column.Kind == SinkKind.Array)
        {
            if (AsJson(column, target))
            {
                return target.IsString ? source : $"CAST({source} AS {target.BaseType})";
            }

            if (target.Element is not { } element)
            {
                return source; // an array into a column of another kind (text: PostgreSQL's array text), as the assignment makes it
            }

            // Into an array column, each item as a column of the items' kind goes into a column of the element type: the
            // scalars' conversions (a date's infinities, a decimal into integers, a string's cast through the type's input,
            // a time's offset) apply to every item, and the assignment to the column checks the modifier (varchar(3)[],
            // char(4)[], bit(8)[] refuse an element that does not fit, which an explicit cast to them would cut). Where an
            // item needs no conversion, the staged array is assigned whole.
            var each = Expression(column.Element!, element, "u.e");
            return each == "u.e"
                ? source
                : $"CASE WHEN {source} IS NULL THEN NULL ELSE ARRAY(SELECT {each} FROM unnest({source}) WITH ORDINALITY AS u (e, o) ORDER BY u.o) END";
        }

        if (column.Kind == SinkKind.Date)
        {
            return $"CASE {source} WHEN 2147483647 THEN 'infinity'::date WHEN -2147483648 THEN '-infinity'::date ELSE DATE '1970-01-01' + {source} END";
        }

        if (column.Kind == SinkKind.Boolean && target.BaseType is "bit" or "bit varying")
        {
            // A bit(1) column travels as a boolean; PostgreSQL has no cast from boolean to bit, but one through integer.
            return $"CAST(CAST({source} AS integer) AS bit(1))";
        }

        if (StageType(column).DbType != NpgsqlDbType.Text || target.IsString)
        {
            return source;
        }

        if (target.BaseType == "bit")
        {
            // format_type(…, NULL) says `bit`, which a cast reads as bit(1) (cutting '10100101' to '1' into a varbit column
            // altered since, or refusing it for bit(8)): cast to bit varying, and the assignment checks the length.
            return $"CAST({source} AS bit varying)";
        }

        if (target.BaseType == "time without time zone")
        {
            // A time with an offset (a PostgreSQL source's timetz, 12:34:56+05:30) is its UTC time of day, as an instant is
            // a UTC wall time in a timestamp column: the cast to time dropped the offset (12:34:56). Without an offset, or
            // with +00, the cast as it is: AT TIME ZONE would make 24:00:00 00:00:00.
            var withOffset = $"CAST({source} AS time with time zone)";
            return $"CASE WHEN extract(timezone FROM {withOffset}) = 0 THEN CAST({source} AS time) ELSE CAST({withOffset} AT TIME ZONE 'UTC' AS time) END";
        }

        // A decimal's text goes into an integer column through numeric: it takes 12.00 (trailing zeros, which the sink's
        // scale check lets through, TableColumn.DecimalScale) only from a numeric, not from its text. Only there: other
        // types (a domain, boolean, jsonb ...) have no cast from numeric, or one that would round unchecked.
        return column.Kind is SinkKind.Decimal or SinkKind.VariableDecimal && target.BaseType is "smallint" or "integer" or "bigint"
            ? $"CAST(CAST({source} AS numeric) AS {target.BaseType})"
            : $"CAST({source} AS {target.BaseType})";
    }

    /// <summary>A timestamp as PostgreSQL holds it, which Npgsql writes as it is: microseconds since 2000-01-01, with
    /// <see cref="long.MaxValue"/> and <see cref="long.MinValue"/> being infinity and -infinity, as in the events. Not a
    /// <see cref="DateTime"/>: Npgsql writes <see cref="DateTime.MinValue"/> (0001-01-01 00:00:00, a real timestamp) as
    /// -infinity, and PostgreSQL's range (4713 BC to 294276 AD) reaches beyond DateTime's years 1 to 9999.</summary>
    private static long ToPostgresTimestamp(SinkColumn column, long micros)
    {
        const long PostgresEpochMicros = 946_684_800_000_000L; // 2000-01-01 after 1970-01-01
        const long Earliest = -211_813_488_000_000_000L; // 4714-11-24 00:00:00 BC, PostgreSQL's MIN_TIMESTAMP
        if (micros is long.MaxValue or long.MinValue)
        {
            return micros;
        }

        // Every later value fits: PostgreSQL's end (294277 AD) lies past long.MaxValue microseconds from 1970.
        if (micros < Earliest + PostgresEpochMicros)
        {
            throw new SinkValueException(column.Name, string.Create(CultureInfo.InvariantCulture, $"timestamp {micros} µs from 1970 is outside PostgreSQL's range (4713 BC to 294276 AD)"));
        }

        return micros - PostgresEpochMicros;
    }

    private async ValueTask StageAsync(NpgsqlConnection connection, NpgsqlTransaction? transaction, TableInfo table, SinkColumn[] columns, IReadOnlyList<object?[]> rows, CancellationToken cancellationToken)
    {
        var targets = columns.Select(c => table.Columns[c.Name]).ToArray();
        var create = new StringBuilder("CREATE TEMP TABLE ").Append(Stage["pg_temp.".Length..]).Append(" (")
            .AppendJoin(", ", columns.Select((c, i) => "c" + i.ToString(CultureInfo.InvariantCulture) + " " + StageType(c, targets[i]).Sql))
            .Append(") ON COMMIT DROP");
        await ExecuteAsync(connection, transaction, create.ToString(), cancellationToken).ConfigureAwait(false);
        var copy = "COPY " + Stage + " (" + string.Join(", ", columns.Select((_, i) => "c" + i.ToString(CultureInfo.InvariantCulture))) + ") FROM STDIN (FORMAT BINARY)";
        var types = columns.Select((c, i) => StageType(c, targets[i]).DbType).ToArray();
        var importer = await connection.BeginBinaryImportAsync(copy, cancellationToken).ConfigureAwait(false);
        await using var importerScope = importer.ConfigureAwait(false);
        importer.Timeout = TimeSpan.FromSeconds(_timeoutSeconds);
        foreach (var row in rows)
        {
            await importer.StartRowAsync(cancellationToken).ConfigureAwait(false);
            for (var i = 0; i < row.Length; i++)
            {
                if (row[i] is null)
                {
                    await importer.WriteNullAsync(cancellationToken).ConfigureAwait(false);
                }
                else
                {
                    await importer.WriteAsync(Bound(columns[i], targets[i], row[i]), types[i], cancellationToken).ConfigureAwait(false);
                }
            }
        }

        await importer.CompleteAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>The first column whose string value (or an item of whose array) holds U+0000, or null.</summary>
    private static string? NulColumn(SinkColumn[] columns, object?[] row)
    {
        for (var i = 0; i < columns.Length; i++)
        {
            if (row[i] switch { string s => s.Contains('\0', StringComparison.Ordinal), SinkArray array => array.Items.OfType<string>().Any(s => s.Contains('\0', StringComparison.Ordinal)), _ => false })
            {
                return columns[i].Name;
            }
        }

        return null;
    }

    /// <summary>Finds the column whose value the table's column type refuses: each value is assigned alone to an unconstrained copy of the table.</summary>
    private async ValueTask<string?> ProbeAsync(TableInfo table, SinkColumn[] columns, object?[] row, CancellationToken cancellationToken)
    {
        try
        {
            var connection = await _dataSource.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
            await using var connectionScope = connection.ConfigureAwait(false);
            var transaction = await connection.BeginTransactionAsync(cancellationToken).ConfigureAwait(false);
            await using var transactionScope = transaction.ConfigureAwait(false);
            await ExecuteAsync(connection, transaction,
                "CREATE TEMP TABLE " + Probe["pg_temp.".Length..] + " ON COMMIT DROP AS SELECT " + string.Join(", ", columns.Select(c => Quote(c.Name))) + " FROM " + table.Sql + " WITH NO DATA",
                cancellationToken).ConfigureAwait(false);
            await StageAsync(connection, transaction, table, columns, [row], cancellationToken).ConfigureAwait(false);
            for (var i = 0; i < columns.Length; i++)
            {
                if (row[i] is null)
                {
                    continue;
                }

                await transaction.SaveAsync("dm_probe", cancellationToken).ConfigureAwait(false);
                try
                {
                    await ExecuteAsync(connection, transaction,
                        "INSERT INTO " + Probe + " (" + Quote(columns[i].Name) + ") SELECT " + Expression(columns[i], table.Columns[columns[i].Name], "s.c" + i.ToString(CultureInfo.InvariantCulture)) + " FROM " + Stage + " s",
                        cancellationToken).ConfigureAwait(false);
                    await transaction.ReleaseAsync("dm_probe", cancellationToken).ConfigureAwait(false);
                }
                catch (PostgresException e) when (IsDataError(e))
                {
                    return columns[i].Name;
                }
            }

            return null;
        }
        catch (PostgresException)
        {
            return null; // The probe is a help for the message; the rejection stands without it.
        }
    }

    private async ValueTask ExecuteAsync(NpgsqlConnection connection, NpgsqlTransaction? transaction, string sql, CancellationToken cancellationToken)
    {
        var command = new NpgsqlCommand(sql, connection, transaction) { CommandTimeout = _timeoutSeconds };
        await using var commandScope = command.ConfigureAwait(false);
        await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
    }
}
