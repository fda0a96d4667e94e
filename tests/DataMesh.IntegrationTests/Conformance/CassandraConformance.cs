using System.Globalization;
using DataMesh.Events;
using DataMesh.IntegrationTests.Cassandra;
using DataMesh.Tests.Cassandra;
using Xunit.Abstractions;

namespace DataMesh.IntegrationTests.Conformance;

/// <summary>The conformance suite against the Cassandra source over a <c>cdc_raw</c> directory that <see cref="CdcRawLog"/> fills.</summary>
public sealed class CassandraConformanceTests(ITestOutputHelper output)
    : ConnectorConformanceTests(new CassandraConformance(), output);

/// <summary>
/// The Cassandra source's driver (no Cassandra server can run here): a <c>cdc_raw</c> directory of its own per test,
/// written as a 4.0 node writes it (<see cref="CdcRawLog"/>), with the mutations each CQL statement makes, in the
/// serialization of messaging version 12 (<see cref="MutationWriter"/>): <c>INSERT</c> a row with its primary-key
/// liveness, <c>UPDATE … IF EXISTS</c> cells without it, <c>DELETE … IF EXISTS</c> a partition deletion. The driver keeps
/// each table's rows to answer <c>IF EXISTS</c> as Cassandra's lightweight transactions do. Tables are
/// <c>keyspace conf</c>, partition key <c>id int</c>, no clustering columns; captured ones have <c>cdc = true</c> and are
/// given to the source as <c>CREATE TABLE</c> statements, others' mutations land in the same segments.
/// </summary>
internal sealed class CassandraConformance : ConformanceDriver
{
    private const string Keyspace = "conf";

    /// <summary>64 KiB segments (a node's are 32 MiB): the kill check crosses several, each deleted once acknowledged.</summary>
    private const int SegmentSize = 64 * 1024;
    private readonly Dictionary<string, CqlTable> _tables = new(StringComparer.Ordinal);
    private string? _directory;
    private CdcRawLog? _log;
    private long _timestamp = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() * 1000;

    public override string Kind => "cassandra";

    public override IReadOnlyDictionary<Capability, string> Lacks { get; } = new Dictionary<Capability, string>
    {
        [Capability.Transactions] = "a batch's statements on one partition become one mutation at one timestamp (a delete in it shadows its update): the commit log does not show each statement; each change is a statement of its own",
        [Capability.KeyUpdate] = "CQL cannot update a primary-key column",
        [Capability.KeylessTables] = "every Cassandra table has a partition key",
        [Capability.AddDropColumn] = "this driver gives the source its tables as CREATE TABLE statements (Tables), read at start; a column added or dropped while it runs is taken at the next start with the new statements. With SchemaConnection the source reads system_schema again when a mutation names an unknown column (CassandraSchemaChangeTests, against a fake node), which this driver does not run yet",
        [Capability.ChangeColumnType] = "CQL has no ALTER TABLE … ALTER … TYPE since Cassandra 3.0.11",
        [Capability.Truncate] = "TRUNCATE does not pass through the commit log (the node snapshots and discards the table's SSTables): there is nothing in cdc_raw to read",
        [Capability.TablesCreatedWhileRunning] = "this driver gives the source its tables as CREATE TABLE statements (Tables), read at start; a table created later is taken at the next start. With SchemaConnection the source reads system_schema again when a mutation names an unknown table id (CassandraSchemaChangeTests, against a fake node), which this driver does not run yet",
    };

    private CdcRawLog Log => _log ?? throw new InvalidOperationException("InitializeAsync first.");

    public override Task InitializeAsync()
    {
        _directory = Directory.CreateTempSubdirectory("datamesh-conf-cdc-raw-").FullName;
        _log = new CdcRawLog(_directory, SegmentSize);
        return Task.CompletedTask;
    }

    public override string Topic(string source, string table) => TopicNames.ForTable("dm", source, Keyspace, table);

    public override IReadOnlyDictionary<string, string?> Settings(SourceRequest request)
    {
        var settings = new Dictionary<string, string?>(StringComparer.Ordinal)
        {
            ["CdcRawDirectory"] = _directory,
            ["Node"] = "node1",
            ["PollInterval"] = "00:00:00.020",
            ["PositionSaveInterval"] = "00:00:00.100",
            ["RetryDelay"] = "00:00:00.200",
            ["MaxRetryDelay"] = "00:00:02",
            ["TopicPartitions"] = request.TopicPartitions.ToString(CultureInfo.InvariantCulture),
        };
        var i = 0;
        foreach (var table in _tables.Values.Where(t => t.Captured))
        {
            settings[$"Tables:{i++}"] = table.CreateStatement;
        }

        if (request.AcceptIncompatibleSchemaChanges)
        {
            settings["IncompatibleSchemaChange"] = "NewVersionWithNone";
        }

        return settings;
    }

    /// <summary>Nothing to wait for: a source without a stored position reads <c>cdc_raw</c> from its oldest segment.</summary>
    public override Task WaitUntilStreamingAsync(string source, ConformanceHarness harness, TimeSpan timeout) => Task.CompletedTask;

    public override Task CreateTableAsync(string table, IReadOnlyList<Column> columns, bool captured = true)
    {
        if (columns.Count(c => c.Key) != 1 || columns[0] is not { Key: true, Type: ColumnType.Int32 })
        {
            throw new NotSupportedException($"The Cassandra driver writes tables whose first column is their int partition key, and no other key column; {table} has [{string.Join(", ", columns)}].");
        }

        _tables[table] = new CqlTable(table, Guid.NewGuid(), columns, captured);
        return Task.CompletedTask;
    }

    public override Task AlterTableAsync(string table, SchemaChange change) => throw new NotSupportedException($"{change} (the driver lacks {Capability.AddDropColumn} and {Capability.ChangeColumnType})");

    public override Task TruncateAsync(string table) => throw new NotSupportedException($"TRUNCATE (the driver lacks {Capability.Truncate})");

    protected override Task<IChangeWriter> OpenTableWriterAsync(string table) => Task.FromResult<IChangeWriter>(new Writer(this, _tables[table]));

    public override ValueTask DisposeAsync()
    {
        if (_directory is not null)
        {
            try
            {
                Directory.Delete(_directory, recursive: true);
            }
            catch (IOException)
            {
                // a connector process killed while reading it; the temporary directory is left
            }
        }

        return ValueTask.CompletedTask;
    }

    private long NextTimestamp() => Interlocked.Increment(ref _timestamp);

    /// <summary>A CQL table of the driver: its id, columns and rows (by partition key).</summary>
    private sealed record CqlTable(string Name, Guid Id, IReadOnlyList<Column> Columns, bool Captured)
    {
        public Dictionary<int, Dictionary<string, object?>> Rows { get; } = [];

        public string CreateStatement =>
            $"CREATE TABLE {Keyspace}.{Name} ({string.Join(", ", Columns.Select(c => $"{c.Name} {TypeName(c.Type)}"))}, PRIMARY KEY ({Columns[0].Name})) " +
            $"WITH id = {Id} AND cdc = true";

        private static string TypeName(ColumnType type) => type switch
        {
            ColumnType.Int32 => "int",
            ColumnType.Int64 => "bigint",
            _ => "text",
        };
    }

    /// <summary>Commits each change as one CQL statement: its mutation in a section of its own (a sync), and its rows
    /// affected as Cassandra answers (<c>[applied]</c> of <c>IF EXISTS</c>).</summary>
    private sealed class Writer(CassandraConformance driver, CqlTable table) : IChangeWriter
    {
        private string Key => table.Columns[0].Name;

        public Task<int[]> CommitAsync(IReadOnlyList<RowChange> changes)
        {
            if (changes.Count != 1)
            {
                throw new InvalidOperationException("The Cassandra driver commits one change per statement (it lacks Capability.Transactions).");
            }

            var (mutation, affected) = Statement(changes[0]);
            if (mutation is not null)
            {
                driver.Log.Sync([mutation], table.Captured);
            }

            return Task.FromResult<int[]>([affected]);
        }

        public ValueTask DisposeAsync() => ValueTask.CompletedTask;

        private (byte[]? Mutation, int Affected) Statement(RowChange change)
        {
            lock (table.Rows)
            {
                switch (change)
                {
                    case RowChange.Insert insert:
                        return (Insert(insert.Values), 1);
                    case RowChange.Upsert upsert:
                        return (Insert(upsert.Values), 1); // INSERT is an upsert in CQL
                    case RowChange.Update update:
                        var id = KeyValue(update.WhereColumn, update.WhereValue);
                        if (update.Set.Any(s => s.Column == Key))
                        {
                            throw new NotSupportedException("CQL cannot update a primary-key column.");
                        }

                        if (!table.Rows.TryGetValue(id, out var row))
                        {
                            return (null, 0); // UPDATE … IF EXISTS: [applied] = false, nothing written
                        }

                        foreach (var (column, value) in update.Set)
                        {
                            row[column] = value;
                        }

                        return (Update(id, update.Set), 1);
                    case RowChange.Delete delete:
                        var key = KeyValue(delete.WhereColumn, delete.WhereValue);
                        return table.Rows.Remove(key) ? (DeletePartition(key), 1) : (null, 0);
                    default:
                        throw new ArgumentOutOfRangeException(nameof(change), change, null);
                }
            }
        }

        private int KeyValue(string column, object value) => column == Key && value is int id
            ? id
            : throw new NotSupportedException($"CQL's UPDATE and DELETE name the whole primary key ({Key}); the change names {column} = {value}.");

        /// <summary>INSERT INTO t (id, …) VALUES (…): the row's primary-key liveness at the write's timestamp, one cell per
        /// column given, each using the row's timestamp.</summary>
        private byte[] Insert((string Column, object? Value)[] values)
        {
            var id = (int)values.Single(v => v.Column == Key).Value!;
            var row = table.Rows.TryGetValue(id, out var existing) ? existing : table.Rows[id] = [];
            foreach (var (column, value) in values)
            {
                row[column] = value;
            }

            var timestamp = driver.NextTimestamp();
            var cells = Cells(values);
            var writer = new MutationWriter().UVInt(1).Partition(table.Id, MutationWriter.Int(id), 0, timestamp, MutationWriter.DeletionTimeEpoch, 0)
                .Columns([.. cells.Select(c => c.Name)])
                .Byte(0x24).Timestamp(timestamp); // primary-key liveness, every column of the list present
            foreach (var (_, value) in cells)
            {
                writer.Byte(0x08).Raw(value); // uses the row's timestamp
            }

            return writer.Byte(0x01).ToArray();
        }

        /// <summary>UPDATE t SET … WHERE id = … IF EXISTS: cells with their own timestamp, no liveness.</summary>
        private byte[] Update(int id, (string Column, object? Value)[] set)
        {
            var timestamp = driver.NextTimestamp();
            var cells = Cells(set);
            var writer = new MutationWriter().UVInt(1).Partition(table.Id, MutationWriter.Int(id), 0, timestamp, MutationWriter.DeletionTimeEpoch, 0)
                .Columns([.. cells.Select(c => c.Name)])
                .Byte(0x20);
            foreach (var (_, value) in cells)
            {
                writer.Byte(0x00).Timestamp(timestamp).Raw(value);
            }

            return writer.Byte(0x01).ToArray();
        }

        /// <summary>DELETE FROM t WHERE id = … IF EXISTS: a partition deletion.</summary>
        private byte[] DeletePartition(int id)
        {
            var timestamp = driver.NextTimestamp();
            var now = (int)DateTimeOffset.UtcNow.ToUnixTimeSeconds();
            return new MutationWriter().UVInt(1).Partition(table.Id, MutationWriter.Int(id), 0x04, timestamp, now, 0)
                .Columns().Deletion(timestamp, now).Byte(0x01).ToArray();
        }

        /// <summary>The regular columns given, in the table's column order, each value serialized (fixed-length int and
        /// bigint raw, text with its uvint length).</summary>
        private List<(string Name, byte[] Value)> Cells((string Column, object? Value)[] values)
        {
            var cells = new List<(string, byte[])>();
            foreach (var column in table.Columns.Skip(1))
            {
                foreach (var (name, value) in values)
                {
                    if (name != column.Name)
                    {
                        continue;
                    }

                    cells.Add((name, (column.Type, value) switch
                    {
                        (ColumnType.Int32, int i) => MutationWriter.Int(i),
                        (ColumnType.Int64, long l) => MutationWriter.Long(l),
                        (ColumnType.Text, string text) => new MutationWriter().VText(text).ToArray(),
                        _ => throw new NotSupportedException($"Column {name} ({column.Type}) = {value ?? "null"}: the driver writes int, bigint and text values, not null."),
                    }));
                }
            }

            return cells;
        }
    }
}
