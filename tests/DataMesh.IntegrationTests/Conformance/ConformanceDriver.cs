using System.Data.Common;
using System.Globalization;
using DataMesh.Schemas;
using DataMesh.Sources;
using Xunit;

namespace DataMesh.IntegrationTests.Conformance;

/// <summary>
/// What the conformance suite needs from one connector and its database: tables, row changes and schema changes in
/// the database's dialect, the connector's settings for a <see cref="SourceRequest"/>, its topic names, and how to
/// know it streams. Everything connector-specific (option names, SQL, topic naming) lives in a driver, so that a
/// renamed option is changed in one place. A driver owns its database objects (GUID-named) and drops them on dispose.
/// </summary>
internal abstract class ConformanceDriver : IAsyncDisposable
{
    /// <summary>The connector host's name for the source (<c>ConnectorHostSources.Kinds</c>).</summary>
    public abstract string Kind { get; }

    /// <summary>
    /// What the connector's database cannot do that some checks need, each with the reason: a check that needs one is
    /// reported as skipped with that reason (<see cref="Require"/>). Empty: every check applies.
    /// </summary>
    public virtual IReadOnlyDictionary<Capability, string> Lacks { get; } = new Dictionary<Capability, string>();

    /// <summary>Skips the running check, with the driver's reason, when the connector lacks <paramref name="capability"/>.</summary>
    /// <exception cref="ConformanceSkipException">It lacks it.</exception>
    public void Require(Capability capability)
    {
        if (Lacks.TryGetValue(capability, out var reason))
        {
            throw new ConformanceSkipException($"{Kind}: no {capability}: {reason}");
        }
    }

    /// <summary>Topics the source reads or writes besides its tables' (schemas, positions, history): another process cannot create them.</summary>
    public virtual IReadOnlyList<string> ServiceTopics => [KafkaSchemaStoreOptions.DefaultTopic, PositionStore.DefaultTopic];

    /// <summary>Creates this test's database objects.</summary>
    public abstract Task InitializeAsync();

    /// <summary>The topic of <paramref name="table"/> for source <paramref name="source"/>.</summary>
    public abstract string Topic(string source, string table);

    /// <summary>The source's options as configuration keys (bound strictly by <c>ConnectorHostSources</c>).</summary>
    public abstract IReadOnlyDictionary<string, string?> Settings(SourceRequest request);

    /// <summary>Waits until a source that starts for the first time captures every change committed from now on.</summary>
    public abstract Task WaitUntilStreamingAsync(string source, ConformanceHarness harness, TimeSpan timeout);

    /// <summary>What the database says about the source's reading of its log (for failure messages); empty when the driver
    /// has nothing to say.</summary>
    public virtual Task<string> DescribeLogReaderAsync() => Task.FromResult(string.Empty);

    /// <summary>Waits until the source stored a position: a connector that stores its first start's position before it
    /// streams captures, across restarts and kills, everything committed after that.</summary>
    /// <param name="source">The source.</param>
    /// <param name="harness">The harness (its Kafka, its source log for the failure message).</param>
    /// <param name="timeout">How long to wait.</param>
    protected static async Task WaitForStoredPositionAsync(string source, ConformanceHarness harness, TimeSpan timeout)
    {
        using var positions = new PositionStore(harness.Kafka);
        var deadline = DateTime.UtcNow + timeout;
        while (await positions.LoadAsync(source, CancellationToken.None) is null)
        {
            Assert.True(DateTime.UtcNow < deadline, $"Source '{source}' stored no position within {timeout}; its log:\n{harness.SourceLog}");
            await Task.Delay(100);
        }
    }

    /// <summary>Creates a table; one that is not <paramref name="captured"/> is one the source must not capture.</summary>
    public abstract Task CreateTableAsync(string table, IReadOnlyList<Column> columns, bool captured = true);

    /// <summary>Changes a table's schema.</summary>
    public abstract Task AlterTableAsync(string table, SchemaChange change);

    /// <summary>Empties a table with the database's truncate statement.</summary>
    public abstract Task TruncateAsync(string table);

    /// <summary>
    /// A connection that commits row changes to one table: several changes in one transaction, or, when the connector
    /// lacks <see cref="Capability.Transactions"/>, each change in a transaction of its own, in order.
    /// </summary>
    public async Task<IChangeWriter> OpenWriterAsync(string table)
    {
        var writer = await OpenTableWriterAsync(table);
        return Lacks.ContainsKey(Capability.Transactions) ? new OneByOneWriter(writer) : writer;
    }

    /// <summary>A connection that commits row changes to one table, several in one transaction.</summary>
    protected abstract Task<IChangeWriter> OpenTableWriterAsync(string table);

    public abstract ValueTask DisposeAsync();
}

/// <summary>What a test asks of the source it starts, in words every connector understands.</summary>
/// <param name="Name">The source's name (topics and stored position are keyed by it).</param>
internal sealed record SourceRequest(string Name)
{
    /// <summary>Partitions of the table topics.</summary>
    public int TopicPartitions { get; init; } = 1;

    /// <summary>Register a table schema that is incompatible with its subject's (as a new version) instead of stopping.</summary>
    public bool AcceptIncompatibleSchemaChanges { get; init; }
}

internal enum ColumnType
{
    Int32,
    Int64,
    Text,
}

/// <summary>A column; key columns make the table's primary key.</summary>
internal sealed record Column(string Name, ColumnType Type, bool Key = false);

/// <summary>A change to a table's schema.</summary>
internal abstract record SchemaChange
{
    public sealed record AddColumn(Column Column) : SchemaChange;

    public sealed record DropColumn(string Name) : SchemaChange;

    /// <summary>Widening (INT to BIGINT) or narrowing (BIGINT to INT).</summary>
    public sealed record ChangeType(string Name, ColumnType To) : SchemaChange;
}

/// <summary>A row change; a transaction is a list of them.</summary>
internal abstract record RowChange
{
    public sealed record Insert(params (string Column, object? Value)[] Values) : RowChange;

    /// <summary>Inserts, or updates the row with the same <paramref name="KeyColumn"/> (the first of <paramref name="Values"/>).</summary>
    public sealed record Upsert(string KeyColumn, params (string Column, object? Value)[] Values) : RowChange;

    public sealed record Update(string WhereColumn, object WhereValue, params (string Column, object? Value)[] Set) : RowChange;

    public sealed record Delete(string WhereColumn, object WhereValue) : RowChange;
}

/// <summary>Commits row changes to one table.</summary>
internal interface IChangeWriter : IAsyncDisposable
{
    /// <summary>Commits <paramref name="changes"/> in one transaction; returns the rows each affected (0: it produced no event).</summary>
    Task<int[]> CommitAsync(IReadOnlyList<RowChange> changes);
}

/// <summary>Commits each change of a transaction as a transaction of its own, in order: for a database whose log shows only a
/// key's last state per transaction, or has no multi-change transactions.</summary>
internal sealed class OneByOneWriter(IChangeWriter inner) : IChangeWriter
{
    public async Task<int[]> CommitAsync(IReadOnlyList<RowChange> changes)
    {
        var affected = new int[changes.Count];
        for (var i = 0; i < changes.Count; i++)
        {
            affected[i] = (await inner.CommitAsync([changes[i]]))[0];
        }

        return affected;
    }

    public ValueTask DisposeAsync() => inner.DisposeAsync();
}

/// <summary>A driver for a SQL database reached through ADO.NET: it renders the statements, the base runs them.</summary>
internal abstract class SqlConformanceDriver : ConformanceDriver
{
    public override async Task CreateTableAsync(string table, IReadOnlyList<Column> columns, bool captured = true)
    {
        var keys = columns.Where(c => c.Key).Select(c => Quote(c.Name)).ToList();
        var definition = string.Join(", ", columns.Select(c => $"{Quote(c.Name)} {TypeName(c.Type)}{(c.Key ? " NOT NULL" : string.Empty)}"));
        if (keys.Count > 0)
        {
            definition += $", PRIMARY KEY ({string.Join(", ", keys)})";
        }

        await ExecuteAsync(CreateTableSql(table, definition, keys.Count > 0, captured), captured);
    }

    public override Task AlterTableAsync(string table, SchemaChange change) => ExecuteAsync(change switch
    {
        SchemaChange.AddColumn add => $"ALTER TABLE {Quote(table)} ADD COLUMN {Quote(add.Column.Name)} {TypeName(add.Column.Type)}",
        SchemaChange.DropColumn drop => $"ALTER TABLE {Quote(table)} DROP COLUMN {Quote(drop.Name)}",
        SchemaChange.ChangeType type => ChangeTypeSql(table, type.Name, TypeName(type.To)),
        _ => throw new ArgumentOutOfRangeException(nameof(change), change, null),
    }, captured: true);

    public override Task TruncateAsync(string table) => ExecuteAsync($"TRUNCATE TABLE {Quote(table)}", captured: true);

    protected override async Task<IChangeWriter> OpenTableWriterAsync(string table) => new Writer(this, table, await OpenAsync(captured: !IsUncaptured(table)));

    /// <summary>
    /// Whether the provider's <see cref="DbBatchCommand.RecordsAffected"/> counts each statement's rows; when not, the
    /// statements of a transaction run one by one (MySqlConnector 2.6 leaves it 0 on MariaDB).
    /// </summary>
    protected abstract bool BatchReportsRecordsAffected { get; }

    protected abstract string Quote(string identifier);

    protected abstract string TypeName(ColumnType type);

    protected abstract string CreateTableSql(string table, string definition, bool keyed, bool captured);

    protected abstract string ChangeTypeSql(string table, string column, string type);

    protected abstract string UpsertSql(string table, string keyColumn, string columns, string values, IEnumerable<string> updates);

    protected abstract bool IsUncaptured(string table);

    /// <summary>A connection to the database of captured tables, or of tables the source does not capture.</summary>
    protected abstract Task<DbConnection> OpenAsync(bool captured);

    private async Task ExecuteAsync(string sql, bool captured)
    {
        await using var connection = await OpenAsync(captured);
        await using var command = connection.CreateCommand();
        command.CommandText = sql;
        await command.ExecuteNonQueryAsync();
    }

    private string Render(string table, RowChange change)
    {
        var t = Quote(table);
        return change switch
        {
            RowChange.Insert insert => $"INSERT INTO {t} ({string.Join(", ", insert.Values.Select(v => Quote(v.Column)))}) VALUES ({string.Join(", ", insert.Values.Select(v => Literal(v.Value)))})",
            RowChange.Upsert upsert => UpsertSql(
                t,
                Quote(upsert.KeyColumn),
                string.Join(", ", upsert.Values.Select(v => Quote(v.Column))),
                string.Join(", ", upsert.Values.Select(v => Literal(v.Value))),
                upsert.Values.Where(v => v.Column != upsert.KeyColumn).Select(v => Quote(v.Column))),
            RowChange.Update update => $"UPDATE {t} SET {string.Join(", ", update.Set.Select(v => $"{Quote(v.Column)} = {Literal(v.Value)}"))} WHERE {Quote(update.WhereColumn)} = {Literal(update.WhereValue)}",
            RowChange.Delete delete => $"DELETE FROM {t} WHERE {Quote(delete.WhereColumn)} = {Literal(delete.WhereValue)}",
            _ => throw new ArgumentOutOfRangeException(nameof(change), change, null),
        };
    }

    private static string Literal(object? value) => value switch
    {
        null => "NULL",
        int or long => Convert.ToString(value, CultureInfo.InvariantCulture)!,
        string text when !text.Contains('\\', StringComparison.Ordinal) => "'" + text.Replace("'", "''", StringComparison.Ordinal) + "'",
        _ => throw new ArgumentOutOfRangeException(nameof(value), value, "int, long, or text without backslashes"),
    };

    private sealed class Writer(SqlConformanceDriver driver, string table, DbConnection connection) : IChangeWriter
    {
        public async Task<int[]> CommitAsync(IReadOnlyList<RowChange> changes)
        {
            await using var transaction = await connection.BeginTransactionAsync();
            int[] affected;
            if (driver.BatchReportsRecordsAffected)
            {
                await using var batch = connection.CreateBatch();
                batch.Transaction = transaction;
                foreach (var change in changes)
                {
                    var command = batch.CreateBatchCommand();
                    command.CommandText = driver.Render(table, change);
                    batch.BatchCommands.Add(command);
                }

                await batch.ExecuteNonQueryAsync();
                affected = batch.BatchCommands.Select(c => c.RecordsAffected).ToArray();
            }
            else
            {
                affected = new int[changes.Count];
                for (var i = 0; i < changes.Count; i++)
                {
                    await using var command = connection.CreateCommand();
                    command.Transaction = transaction;
                    command.CommandText = driver.Render(table, changes[i]);
                    affected[i] = await command.ExecuteNonQueryAsync();
                }
            }

            await transaction.CommitAsync();
            return affected;
        }

        public ValueTask DisposeAsync() => connection.DisposeAsync();
    }
}
