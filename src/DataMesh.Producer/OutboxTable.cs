using System.Data.Common;
using DataMesh.Producer.Outbox;

namespace DataMesh.Producer;

/// <summary>
/// The outbox table that <see cref="IEventEmitter.EmitAsync{TEvent}(TEvent, DbTransaction, CancellationToken)"/> writes
/// to. Its layout, the contract for the relay and for a CDC connector with an outbox router:
/// <list type="table">
/// <item><term><c>sequence</c></term><description>bigint, identity / auto-increment primary key: the order in which rows are published.</description></item>
/// <item><term><c>id</c></term><description>the event id (uuid on PostgreSQL, char(36) on MySQL); also the <c>ce_id</c> header, for deduplication.</description></item>
/// <item><term><c>topic</c></term><description>the Kafka topic (the aggregate type's stream).</description></item>
/// <item><term><c>aggregate_id</c></term><description>the key as text (from the <see cref="EventKeyAttribute"/> member), or null.</description></item>
/// <item><term><c>event_key</c></term><description>the Kafka key, Avro in the Confluent wire format, or null.</description></item>
/// <item><term><c>event_type</c></term><description>the event's Avro record full name (the <c>ce_type</c> header).</description></item>
/// <item><term><c>payload</c></term><description>the Kafka value, Avro in the Confluent wire format (schema id in its header).</description></item>
/// <item><term><c>headers</c></term><description>a JSON object of the Kafka headers, name to string value.</description></item>
/// <item><term><c>created_at</c></term><description>when the event was emitted, UTC; the Kafka timestamp.</description></item>
/// </list>
/// A second table, <c>&lt;table&gt;_lease</c>, holds the relay's lease (one row: <c>name</c>, <c>owner</c>, <c>expires_at</c>).
/// </summary>
public static class OutboxTable
{
    /// <summary>The default table name.</summary>
    public const string DefaultName = "datamesh_outbox";

    /// <summary>The statements that create the table and its lease table when missing.</summary>
    /// <param name="dialect">PostgreSQL or MySQL.</param>
    /// <param name="table">The table name, optionally schema-qualified.</param>
    /// <returns>The SQL, statements separated by semicolons.</returns>
    public static string CreateSql(OutboxDialect dialect, string table = DefaultName) => new OutboxSql(dialect, table).Create;

    /// <summary>Creates the table and its lease table when missing.</summary>
    /// <param name="connection">An open connection.</param>
    /// <param name="dialect">The dialect, or <see cref="OutboxDialect.Auto"/> to choose it from the connection's type.</param>
    /// <param name="table">The table name, optionally schema-qualified.</param>
    /// <param name="cancellationToken">Cancels the statements.</param>
    /// <returns>A task that completes when the table exists.</returns>
    public static async Task EnsureCreatedAsync(DbConnection connection, OutboxDialect dialect = OutboxDialect.Auto, string table = DefaultName, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(connection);
        var sql = new OutboxSql(OutboxSql.Detect(dialect, connection), table);
        var command = connection.CreateCommand();
        await using (command.ConfigureAwait(false))
        {
            command.CommandText = sql.Create;
            await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
        }
    }
}
