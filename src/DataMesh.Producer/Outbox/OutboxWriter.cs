using System.Data;
using System.Data.Common;

namespace DataMesh.Producer.Outbox;

/// <summary>Inserts events into the outbox table inside the caller's transaction.</summary>
internal sealed class OutboxWriter(OutboxOptions options)
{
    private OutboxSql? _postgres;
    private OutboxSql? _mySql;

    public async Task InsertAsync(DbTransaction transaction, OutboxRow row, CancellationToken cancellationToken)
    {
        var connection = transaction.Connection
            ?? throw new ArgumentException("The transaction has no connection: it was committed or rolled back already.", nameof(transaction));
        var sql = SqlFor(OutboxSql.Detect(options.Dialect, connection));
        if (sql.Dialect == OutboxDialect.MySql)
        {
            CheckMySqlLengths(row, sql.Table);
        }

        var command = connection.CreateCommand();
        await using (command.ConfigureAwait(false))
        {
            command.Transaction = transaction;
            command.CommandText = sql.Insert;
            if (sql.Dialect == OutboxDialect.PostgreSql)
            {
                OutboxSql.Parameter(command, "@id", row.Id, DbType.Guid);
            }
            else
            {
                OutboxSql.Parameter(command, "@id", row.Id.ToString("D"), DbType.AnsiStringFixedLength);
            }

            OutboxSql.Parameter(command, "@topic", row.Topic, DbType.String);
            OutboxSql.Parameter(command, "@aggregate_id", row.AggregateId, DbType.String);
            OutboxSql.Parameter(command, "@event_key", row.Key, DbType.Binary);
            OutboxSql.Parameter(command, "@event_type", row.EventType, DbType.String);
            OutboxSql.Parameter(command, "@payload", row.Payload, DbType.Binary);
            OutboxSql.Parameter(command, "@headers", row.Headers, DbType.String);
            OutboxSql.Parameter(command, "@created_at", row.CreatedAt, DbType.DateTime);
            await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>The MySQL/MariaDB outbox table's columns have limits (<see cref="OutboxSql"/>); a server whose
    /// <c>sql_mode</c> is not strict would cut a longer value silently (a key cut short is another key), so the row is
    /// refused before the insert, naming the column.</summary>
    private static void CheckMySqlLengths(OutboxRow row, string table)
    {
        static void Check(string table, string column, string what, long length, int limit)
        {
            if (length > limit)
            {
                throw new ArgumentException($"The event cannot go into the outbox table {table}: {what} is {length} long, and the column {column} holds at most {limit} on MySQL/MariaDB (a server whose sql_mode is not strict would cut it silently). Use a shorter key.", "event");
            }
        }

        // VARCHAR(n) holds n characters (code points), not n UTF-16 units: a character outside the BMP is one of them. A
        // text has never more characters than units, so they are counted only past the limit.
        static void CheckText(string table, string column, string what, string? text, int limit)
        {
            if (text is not null && text.Length > limit)
            {
                Check(table, column, what, text.EnumerateRunes().Count(), limit);
            }
        }

        CheckText(table, "aggregate_id", "the key's text", row.AggregateId, OutboxSql.MySqlAggregateIdLength);
        Check(table, "event_key", "the encoded key (bytes)", row.Key?.Length ?? 0, OutboxSql.MySqlEventKeyLength);
        CheckText(table, "event_type", "the event type's name", row.EventType, OutboxSql.MySqlEventTypeLength);
    }

    private OutboxSql SqlFor(OutboxDialect dialect) => dialect == OutboxDialect.PostgreSql
        ? _postgres ??= new OutboxSql(dialect, options.Table)
        : _mySql ??= new OutboxSql(dialect, options.Table);
}
