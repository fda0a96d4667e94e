using System.Data.Common;
using System.Text;
using System.Text.RegularExpressions;

namespace DataMesh.Producer.Outbox;

/// <summary>The outbox's SQL for one dialect and table. The table name is validated (it is spliced into statements);
/// every value travels as a parameter.</summary>
internal sealed partial class OutboxSql
{
    /// <summary>The MySQL/MariaDB table's <c>aggregate_id</c> length in characters.</summary>
    public const int MySqlAggregateIdLength = 1024;

    /// <summary>The MySQL/MariaDB table's <c>event_key</c> length in bytes.</summary>
    public const int MySqlEventKeyLength = 8192;

    /// <summary>The MySQL/MariaDB table's <c>event_type</c> length in characters.</summary>
    public const int MySqlEventTypeLength = 512;

    public OutboxSql(OutboxDialect dialect, string table)
    {
        if (!IsValidTableName(table))
        {
            throw new ArgumentException($"Outbox table name '{table}' is not an identifier or schema.identifier of letters, digits and '_' (the table's own name at most 57 characters: its lease table adds '_lease').", nameof(table));
        }

        if (dialect is not (OutboxDialect.PostgreSql or OutboxDialect.MySql))
        {
            throw new ArgumentOutOfRangeException(nameof(dialect), dialect, "Resolve OutboxDialect.Auto from the connection first.");
        }

        Dialect = dialect;
        Table = table;
        LeaseTable = table + "_lease";
        string now, later;
        if (dialect == OutboxDialect.PostgreSql)
        {
            Create = $"""
                CREATE TABLE IF NOT EXISTS {table} (
                    sequence BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                    id UUID NOT NULL,
                    topic VARCHAR(249) NOT NULL,
                    aggregate_id TEXT NULL,
                    event_key BYTEA NULL,
                    event_type VARCHAR(512) NOT NULL,
                    payload BYTEA NOT NULL,
                    headers TEXT NOT NULL,
                    created_at TIMESTAMPTZ NOT NULL
                );
                CREATE TABLE IF NOT EXISTS {LeaseTable} (
                    name VARCHAR(64) NOT NULL PRIMARY KEY,
                    owner VARCHAR(64) NULL,
                    expires_at TIMESTAMPTZ NOT NULL
                );
                INSERT INTO {LeaseTable} (name, owner, expires_at) VALUES ('relay', NULL, '1970-01-02 00:00:00+00') ON CONFLICT (name) DO NOTHING
                """;
            now = "clock_timestamp()";
            later = "clock_timestamp() + @micros * INTERVAL '1 microsecond'";
        }
        else
        {
            Create = $"""
                CREATE TABLE IF NOT EXISTS {table} (
                    sequence BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
                    id CHAR(36) NOT NULL,
                    topic VARCHAR(249) NOT NULL,
                    aggregate_id VARCHAR({MySqlAggregateIdLength}) NULL,
                    event_key VARBINARY({MySqlEventKeyLength}) NULL,
                    event_type VARCHAR({MySqlEventTypeLength}) NOT NULL,
                    payload LONGBLOB NOT NULL,
                    headers TEXT NOT NULL,
                    created_at DATETIME(6) NOT NULL
                ) ENGINE=InnoDB;
                CREATE TABLE IF NOT EXISTS {LeaseTable} (
                    name VARCHAR(64) NOT NULL PRIMARY KEY,
                    owner VARCHAR(64) NULL,
                    expires_at DATETIME(6) NOT NULL
                ) ENGINE=InnoDB;
                INSERT IGNORE INTO {LeaseTable} (name, owner, expires_at) VALUES ('relay', NULL, '1970-01-02 00:00:00')
                """;
            now = "NOW(6)";
            later = "DATE_ADD(NOW(6), INTERVAL @micros MICROSECOND)";
        }

        Select = $"SELECT sequence, id, topic, event_key, payload, headers, created_at FROM {table} ORDER BY sequence LIMIT @limit";
        Insert = $"INSERT INTO {table} (id, topic, aggregate_id, event_key, event_type, payload, headers, created_at) " +
            "VALUES (@id, @topic, @aggregate_id, @event_key, @event_type, @payload, @headers, @created_at)";
        // One relay at a time keeps the order per key: the lease row names its holder by a token that is new at every
        // acquisition (see OutboxLease). Times are the database's, so that the relays' clocks need not agree.
        AcquireLease = $"UPDATE {LeaseTable} SET owner = @token, expires_at = {later} WHERE name = 'relay' AND (owner IS NULL OR expires_at < {now})";
        RenewLease = $"UPDATE {LeaseTable} SET expires_at = {later} WHERE name = 'relay' AND owner = @token";
        ReleaseLease = $"UPDATE {LeaseTable} SET owner = NULL WHERE name = 'relay' AND owner = @token";
    }

    public OutboxDialect Dialect { get; }

    public string Table { get; }

    public string LeaseTable { get; }

    public string Create { get; }

    public string Insert { get; }

    public string Select { get; }

    /// <summary>Takes the lease when it is free or expired, under a new token (<c>@token</c>) for <c>@micros</c> microseconds.</summary>
    public string AcquireLease { get; }

    /// <summary>Extends the lease by <c>@micros</c> microseconds if it is still held under <c>@token</c>: whether expired or
    /// not, nobody else can have held it since, as taking it writes a new token.</summary>
    public string RenewLease { get; }

    /// <summary>Frees the lease if it is still held under <c>@token</c>.</summary>
    public string ReleaseLease { get; }

    public string Delete(int count)
    {
        var sql = new StringBuilder($"DELETE FROM {Table} WHERE sequence IN (");
        for (var i = 0; i < count; i++)
        {
            sql.Append(i == 0 ? "@s0" : $", @s{i}");
        }

        return sql.Append(')').ToString();
    }

    public static bool IsValidTableName(string? table) => table is not null && TableName().IsMatch(table);

    /// <summary>The dialect of a connection or data source, from its type's name.</summary>
    public static OutboxDialect Detect(OutboxDialect configured, object connection)
    {
        if (configured != OutboxDialect.Auto)
        {
            return configured;
        }

        var name = connection.GetType().FullName ?? string.Empty;
        if (name.Contains("Npgsql", StringComparison.OrdinalIgnoreCase))
        {
            return OutboxDialect.PostgreSql;
        }

        if (name.Contains("MySql", StringComparison.OrdinalIgnoreCase) || name.Contains("MariaDb", StringComparison.OrdinalIgnoreCase))
        {
            return OutboxDialect.MySql;
        }

        throw new NotSupportedException(
            $"The outbox supports PostgreSQL and MySQL/MariaDB; the connection is a {name}. Set DataMesh:Producer:Outbox:Dialect if it speaks one of them.");
    }

    public static DbParameter Parameter(DbCommand command, string name, object? value, System.Data.DbType type)
    {
        var parameter = command.CreateParameter();
        parameter.ParameterName = name;
        parameter.DbType = type;
        parameter.Value = value ?? DBNull.Value;
        command.Parameters.Add(parameter);
        return parameter;
    }

    /// <summary>An identifier or schema.identifier; the table's own name at most 57 characters: its lease table adds
    /// <c>_lease</c>, and PostgreSQL cuts longer names at 63 (so two long names could share a lease table), MySQL refuses
    /// names over 64.</summary>
    [GeneratedRegex("^([A-Za-z_][A-Za-z0-9_]{0,62}\\.)?[A-Za-z_][A-Za-z0-9_]{0,56}$")]
    private static partial Regex TableName();
}
