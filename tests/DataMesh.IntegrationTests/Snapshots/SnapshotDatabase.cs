using System.Data.Common;
using System.Globalization;
using DataMesh.Events;
using DataMesh.Hosting;
using DataMesh.IntegrationTests.Infrastructure;
using DataMesh.Schemas;
using DataMesh.Sources;
using Microsoft.Extensions.Hosting;

namespace DataMesh.IntegrationTests.Snapshots;

/// <summary>
/// A test's own database with its source, as the snapshot tests see it on PostgreSQL and MariaDB alike: the source run
/// in-process by a host on the embedded Kafka cluster (or its settings, for a connector process), its snapshot control
/// and log, and the few pieces of SQL that differ between the two servers. The scenarios of <see cref="SnapshotScenarios"/>
/// and the helpers of <see cref="SnapshotTestKit"/> are written once against it.
/// </summary>
internal abstract class SnapshotDatabase : IAsyncDisposable
{
    /// <summary>The server, for messages: <c>PostgreSQL</c> or <c>MariaDB</c>.</summary>
    public abstract string Server { get; }

    /// <summary>The source's kind for the connector host (<c>ConnectorHostSources</c>): <c>postgres</c> or <c>mysql</c>.</summary>
    public abstract string Kind { get; }

    public abstract string SourceName { get; }

    /// <summary>The tables' schema (PostgreSQL) or database (MariaDB).</summary>
    public abstract string Schema { get; }

    /// <summary>The Kafka cluster of the in-process source (after <see cref="StartAsync"/>).</summary>
    public abstract KafkaConnection Kafka { get; }

    /// <summary>The schema store of the in-process source (after <see cref="StartAsync"/>).</summary>
    public abstract ISchemaStore Store { get; }

    /// <summary>The host of the in-process source (after <see cref="StartAsync"/>).</summary>
    public abstract IHost Host { get; }

    /// <summary>What the in-process source logged (Information and above).</summary>
    public abstract LogCollector Logs { get; }

    /// <summary>The topics besides the table topics that a source in a connector process needs created for it (the schema
    /// and position topics; MySQL's schema history).</summary>
    public virtual IReadOnlyList<string> ServiceTopics => [KafkaSchemaStoreOptions.DefaultTopic, PositionStore.DefaultTopic];

    /// <summary>SQL for the session of a writer: any lock wait longer than 1 s fails the statement.</summary>
    public abstract string LockTimeoutSql { get; }

    /// <summary>SQL: the session's id on the server, as the server's activity and lock views name it.</summary>
    public abstract string SessionIdSql { get; }

    /// <summary>The in-process source's snapshot control (after <see cref="StartAsync"/>).</summary>
    public abstract ISnapshotControl Snapshots { get; }

    /// <summary><c>schema.table</c> (MariaDB: <c>database.table</c>), as snapshot requests and signals name a table.</summary>
    public string Qualified(string table) => $"{Schema}.{table}";

    /// <summary>The topic of a table of this database's source (named <see cref="SourceName"/>, prefix <c>dm</c>).</summary>
    public string Topic(string table) => TopicNames.ForTable("dm", SourceName, Schema, table);

    /// <summary>Starts the source in a host, with its options changed by <paramref name="configure"/>; returns once it
    /// streams, and with <paramref name="waitForSnapshot"/> once its initial snapshot is done.</summary>
    public abstract Task StartAsync(Action<SourceOptions>? configure = null, bool waitForSnapshot = true);

    /// <summary>The source's options for a connector process (configuration keys), before the test's own.</summary>
    public abstract Dictionary<string, string?> ProcessSettings();

    /// <summary>Configures the signal table <paramref name="table"/>, in this test's database.</summary>
    public abstract void UseSignalTable(SourceOptions options, string table);

    /// <summary>Waits until a signal row inserted into <paramref name="table"/> reaches the source.</summary>
    public abstract Task WaitForSignalTableAsync(string table);

    /// <summary>A connection to the test's database.</summary>
    public abstract Task<DbConnection> OpenConnectionAsync();

    /// <summary>SQL: the integers 1 to <paramref name="count"/> as column <c>n</c> of a table expression, for
    /// <c>INSERT ... SELECT ... FROM</c> it (<c>generate_series</c>; MariaDB's sequence engine).</summary>
    public abstract string Series(int count);

    /// <summary>SQL: a 60-bit non-negative integer of the text <paramref name="text"/> (an SQL expression): the first 15 hex
    /// digits of the SHA-256 of its UTF-8 bytes, as <see cref="SnapshotTestKit.Hash60"/> computes it.</summary>
    public abstract string Hash60(string text);

    public abstract ValueTask DisposeAsync();

    /// <summary>Runs SQL (several statements allowed) in the test's database, with 10 minutes to finish.</summary>
    public async Task ExecuteAsync(string sql)
    {
        await using var connection = await OpenConnectionAsync();
        await using var command = connection.CreateCommand();
        command.CommandText = sql;
        command.CommandTimeout = 600;
        await command.ExecuteNonQueryAsync();
    }

    /// <summary>The first column of the first row of a query, converted to <typeparamref name="T"/>.</summary>
    public async Task<T> ScalarAsync<T>(string sql)
    {
        await using var connection = await OpenConnectionAsync();
        await using var command = connection.CreateCommand();
        command.CommandText = sql;
        command.CommandTimeout = 600;
        return (T)Convert.ChangeType((await command.ExecuteScalarAsync())!, typeof(T), CultureInfo.InvariantCulture);
    }
}
