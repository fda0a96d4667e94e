using System.Data.Common;

namespace DataMesh.Producer;

/// <summary>The SQL dialect of the outbox table.</summary>
public enum OutboxDialect
{
    /// <summary>Chosen from the connection's type: Npgsql is PostgreSQL, MySqlConnector (or MySql.Data) is MySQL.</summary>
    Auto,

    /// <summary>PostgreSQL 12 or later.</summary>
    PostgreSql,

    /// <summary>MySQL 8 or MariaDB 10.6 or later.</summary>
    MySql,
}

/// <summary>
/// Settings of the transactional outbox: the table that
/// <see cref="IEventEmitter.EmitAsync{TEvent}(TEvent, DbTransaction, CancellationToken)"/> writes to and the relay
/// that publishes its rows. See <see cref="OutboxTable"/> for the table's layout.
/// </summary>
public sealed class OutboxOptions
{
    /// <summary>The outbox table, optionally schema-qualified (<c>app.datamesh_outbox</c>). Default <c>datamesh_outbox</c>.</summary>
    public string Table { get; set; } = "datamesh_outbox";

    /// <summary>The SQL dialect. Default <see cref="OutboxDialect.Auto"/>.</summary>
    public OutboxDialect Dialect { get; set; } = OutboxDialect.Auto;

    /// <summary>
    /// Opens connections for the relay and for creating the table at start (an <c>NpgsqlDataSource</c> or a
    /// <c>MySqlDataSource</c>); null when the application only writes to the outbox and a CDC connector publishes it.
    /// </summary>
    public Func<IServiceProvider, DbDataSource>? DataSource { get; set; }

    /// <summary>Whether the relay runs (a hosted service that publishes the table's rows). Set by <see cref="UseRelay"/>.</summary>
    public bool RelayEnabled { get; set; }

    /// <summary>Whether the table and its lease table are created at start when missing; needs <see cref="DataSource"/>. Default true.</summary>
    public bool CreateTable { get; set; } = true;

    /// <summary>The most rows the relay reads, publishes and deletes at a time. Default 200.</summary>
    public int BatchSize { get; set; } = 200;

    /// <summary>How long the relay waits after finding the table empty. Default 200 milliseconds.</summary>
    public TimeSpan PollInterval { get; set; } = TimeSpan.FromMilliseconds(200);

    /// <summary>
    /// How long a relay's lease on the table (a row of <c>&lt;table&gt;_lease</c>) lasts unless renewed; the relay renews it
    /// before each batch and while it waits for Kafka, and another relay takes the table over once it has expired.
    /// Default 30 seconds.
    /// </summary>
    public TimeSpan LeaseDuration { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// How long the relay's Kafka producer tries to deliver a row (its <c>message.timeout.ms</c>) before giving it back as
    /// failed; the row stays in the table and is published again. At most half of <see cref="LeaseDuration"/> (checked at
    /// start): the relay hands a row to Kafka only while its lease has this long left and a quarter of the lease more, so that
    /// a stalled row has failed before another relay can take the lease and publish newer rows of its key. Default 10 seconds.
    /// </summary>
    public TimeSpan DeliveryTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>Runs the relay: publish the outbox table's rows in sequence order, and delete each only after Kafka acknowledged it.</summary>
    /// <param name="dataSource">Gives the relay its connections: return a shared data source (e.g. one registered in the
    /// container, <c>sp =&gt; sp.GetRequiredService&lt;NpgsqlDataSource&gt;()</c>); the producer calls it at start and
    /// for the relay, and never disposes what it returns.</param>
    /// <returns>These options.</returns>
    public OutboxOptions UseRelay(Func<IServiceProvider, DbDataSource> dataSource)
    {
        ArgumentNullException.ThrowIfNull(dataSource);
        DataSource = dataSource;
        RelayEnabled = true;
        return this;
    }
}
