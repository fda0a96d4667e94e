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

    private OutboxSql SqlFor(OutboxDialect dialect) => dialect == OutboxDialect.PostgreSql
        ? _postgres ??= new OutboxSql(dialect, options.Table)
        : _mySql ??= new OutboxSql(dialect, options.Table);
}
