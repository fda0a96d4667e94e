using System.Collections.Concurrent;
using System.Data.Common;
using System.Diagnostics;
using System.Globalization;
using System.Text;
using DataMesh.Avro;
using DataMesh.Pipelines.Sinks;
using DataMesh.Pipelines.Transforms;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace DataMesh.Connectors.Sinks;

/// <summary>
/// The database-neutral part of the table sinks: decodes a batch (keys in the Confluent wire format, flat rows or
/// change-event envelopes, tombstones), reduces it to the last operation per (table, key), evolves tables, and applies
/// the operations in one transaction through an <see cref="ITableDialect"/>; on a data error it writes row by row and
/// rejects the rows at fault.
/// </summary>
internal sealed class TableSinkEngine : IAsyncDisposable
{
    private readonly TableSinkOptions _options;
    private readonly ITableDialect _dialect;
    private readonly SinkMetrics _metrics;
    private readonly ConcurrentDictionary<int, KeySchema> _keySchemas = new();
    private readonly ConcurrentDictionary<global::Avro.RecordSchema, ValuePlan> _valuePlans = new(ReferenceEqualityComparer.Instance);
    private readonly ConcurrentDictionary<string, TableName> _tableNames = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<TableName, TableInfo> _tables = new();
    private readonly SemaphoreSlim _ddl = new(1, 1);
    private SinkContext? _context;
    private ILogger _logger = NullLogger.Instance;

    public TableSinkEngine(string name, TableSinkOptions options, ITableDialect dialect)
    {
        Name = name;
        _options = options;
        _dialect = dialect;
        _metrics = new SinkMetrics(name);
    }

    public string Name { get; }

    public async ValueTask StartAsync(SinkContext context, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(context);
        _context = context;
        _logger = context.LoggerFactory.CreateLogger("DataMesh.Connectors.Sinks." + _dialect.Product + "TableSink");

        // Connect once, so that a wrong connection string fails the start rather than the first batch.
        var connection = await _dialect.OpenAsync(cancellationToken).ConfigureAwait(false);
        await connection.DisposeAsync().ConfigureAwait(false);
        SinkLog.Started(_logger, Name, context.PipelineName, _dialect.Describe(), _options.Table ?? "{table}", _options.SchemaEvolution);
    }

    public async ValueTask WriteAsync(SinkBatch batch, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(batch);
        var context = _context ?? throw new InvalidOperationException($"Table sink '{Name}': StartAsync must be called before WriteAsync.");
        if (batch.Count == 0)
        {
            return;
        }

        var started = Stopwatch.GetTimestamp();
        foreach (var id in MissingKeySchemas(batch))
        {
            await LoadKeySchemaAsync(context, id, cancellationToken).ConfigureAwait(false);
        }

        var work = Decode(batch);
        var upserted = 0;
        var deleted = 0;
        var rejectedBefore = batch.RejectedCount;
        if (work.Count > 0)
        {
            try
            {
                (upserted, deleted) = await ApplyAsync(batch, work, cancellationToken).ConfigureAwait(false);
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                // The tables may have changed under us: read the catalog again on the retry.
                foreach (var table in work.Keys)
                {
                    _tables.TryRemove(table, out _);
                }

                SinkLog.BatchFailed(_logger, e, Name, e.Message);
                throw;
            }
        }

        var rejected = batch.RejectedCount - rejectedBefore;
        _metrics.Written(upserted, deleted, rejected, Stopwatch.GetElapsedTime(started).TotalSeconds);
        SinkLog.BatchWritten(_logger, Name, batch.Count, upserted, deleted, rejected);
    }

    public async ValueTask DisposeAsync()
    {
        await _dialect.DisposeAsync().ConfigureAwait(false);
        _ddl.Dispose();
    }

    private List<int> MissingKeySchemas(SinkBatch batch)
    {
        var missing = new List<int>();
        for (var i = 0; i < batch.Count; i++)
        {
            var record = batch[i];
            if (record.HasKey && ConfluentWireFormat.TryReadHeader(record.Key, out var id, out _) && id > 0
                && !_keySchemas.ContainsKey(id) && !missing.Contains(id))
            {
                missing.Add(id);
            }
        }

        return missing;
    }

    private async ValueTask LoadKeySchemaAsync(SinkContext context, int id, CancellationToken cancellationToken)
    {
        global::Avro.Schema schema;
        try
        {
            schema = await context.Schemas.GetByIdAsync(id, cancellationToken).ConfigureAwait(false);
        }
        catch (KeyNotFoundException e)
        {
            _keySchemas[id] = new KeySchema(null, $"the key's schema id {id.ToString(CultureInfo.InvariantCulture)} is unknown to the schema store ({e.Message})");
            return;
        }

        _keySchemas[id] = schema is global::Avro.RecordSchema record
            ? new KeySchema(new RowPlan(record), null)
            : new KeySchema(null, $"the key's schema (id {id.ToString(CultureInfo.InvariantCulture)}) is a {schema.Tag}, not a record of key columns");
    }

    /// <summary>Decodes every record and keeps the last operation per (table, key); rejects what cannot be decoded.</summary>
    private Dictionary<TableName, TableWork> Decode(SinkBatch batch)
    {
        var last = new Dictionary<string, Operation>(StringComparer.Ordinal);
        for (var i = 0; i < batch.Count; i++)
        {
            var record = batch[i];
            try
            {
                if (DecodeOne(record, i) is { } operation)
                {
                    var identity = AvroValues.Identity(operation.Table.Schema + "\u001D" + operation.Table.Name, operation.Key);
                    if (last.TryGetValue(identity, out var earlier))
                    {
                        // Superseded in this batch: if the table refuses the last record, these are dead-lettered with it.
                        operation.Superseded = earlier.Superseded ?? [];
                        operation.Superseded.Add(earlier.Index);
                    }

                    last[identity] = operation;
                }
            }
            catch (Exception e) when (e is SinkValueException or AvroFormatException or RejectException or OverflowException or NotSupportedException)
            {
                // A record that cannot be decoded or represented is refused on its own merits; retrying it would not help.
                var reason = e switch
                {
                    AvroFormatException => "the record is malformed Avro: " + e.Message,
                    OverflowException or NotSupportedException => $"table {_dialect.Display(TableOf(record.Topic))}: a value cannot be represented: {e.Message}",
                    _ => e.Message,
                };
                Reject(batch, i, reason);
            }
        }

        var work = new Dictionary<TableName, TableWork>();
        foreach (var operation in last.Values)
        {
            if (!work.TryGetValue(operation.Table, out var table))
            {
                work[operation.Table] = table = new TableWork(operation.Table);
            }

            table.Add(operation);
        }

        return work;
    }

    private Operation? DecodeOne(SinkRecord record, int index)
    {
        var table = TableOf(record.Topic);
        if (!record.IsTombstone && record.ValueSchema is { } schema
            && _valuePlans.GetOrAdd(schema, static s => new ValuePlan(s)) is { Envelope: { } truncateEnvelope }
            && ReadOp(record.Value, schema, truncateEnvelope.Op) == "t")
        {
            // A truncate has no key (MySQL's) or an empty one: it is skipped before the key is required.
            SinkLog.TruncateSkipped(_logger, Name, _dialect.Display(table), record.SourceTopic, record.SourcePartition, record.SourceOffset);
            return null;
        }

        if (!record.HasKey)
        {
            throw new RejectException($"table {_dialect.Display(table)}: the record has no key; a table sink needs the primary key to upsert or delete");
        }

        if (!ConfluentWireFormat.TryReadHeader(record.Key, out var keyId, out var keyDatum) || keyId <= 0)
        {
            throw new RejectException($"table {_dialect.Display(table)}: the key ({record.Key.Length.ToString(CultureInfo.InvariantCulture)} bytes) is not in the Confluent wire format (magic byte 0, a schema id, an Avro datum)");
        }

        var keySchema = _keySchemas.TryGetValue(keyId, out var known) ? known : throw new RejectException($"the key's schema id {keyId.ToString(CultureInfo.InvariantCulture)} was not loaded");
        var keyPlan = keySchema.Plan ?? throw new RejectException($"table {_dialect.Display(table)}: {keySchema.Error}");
        if (keyPlan.Columns.Length == 0)
        {
            throw new RejectException($"table {_dialect.Display(table)}: the key record has no fields");
        }

        var keyReader = new AvroReader(keyDatum);
        object?[] key;
        try
        {
            key = keyPlan.Read(ref keyReader);
        }
        catch (SinkValueException e)
        {
            throw new RejectException($"table {_dialect.Display(table)}, key {e.Message}");
        }

        CheckEnd(ref keyReader, table, "key");
        for (var k = 0; k < key.Length; k++)
        {
            if (key[k] is null)
            {
                throw new RejectException($"table {_dialect.Display(table)}, key column \"{keyPlan.Columns[k].Name}\": null cannot be part of a primary key");
            }
        }

        if (record.IsTombstone)
        {
            return new Operation(index, table, keyPlan, ConvertAll(table, keyPlan.Columns, key), null, null);
        }

        var valueSchema = record.ValueSchema ?? throw new RejectException($"table {_dialect.Display(table)}: the record has a value but no value schema");
        var plan = _valuePlans.GetOrAdd(valueSchema, static s => new ValuePlan(s));
        var reader = new AvroReader(record.Value);
        RowPlan rowPlan;
        object?[] row;
        try
        {
            if (plan.Envelope is { } envelope)
            {
                string? op = null;
                object?[]? after = null;
                var fields = valueSchema.Fields;
                for (var f = 0; f < fields.Count; f++)
                {
                    if (f == envelope.After)
                    {
                        if (reader.ReadUnionIndex(2) == envelope.AfterRowBranch)
                        {
                            after = plan.Row.Read(ref reader);
                        }
                    }
                    else if (f == envelope.Op)
                    {
                        op = reader.ReadString();
                    }
                    else
                    {
                        AvroValues.Skip(ref reader, fields[f].Schema);
                    }
                }

                CheckEnd(ref reader, table, "value");
                switch (op)
                {
                    case "d":
                        return new Operation(index, table, keyPlan, ConvertAll(table, keyPlan.Columns, key), null, null);
                    case "t":
                        SinkLog.TruncateSkipped(_logger, Name, _dialect.Display(table), record.SourceTopic, record.SourcePartition, record.SourceOffset);
                        return null;
                    case "c" or "r" or "u" when after is not null:
                        rowPlan = plan.Row;
                        row = after;
                        break;
                    case "c" or "r" or "u":
                        throw new RejectException($"table {_dialect.Display(table)}: a change event with op '{op}' has no 'after' image");
                    default:
                        throw new RejectException($"table {_dialect.Display(table)}: the change event's op '{op}' is not one of c, r, u, d, t");
                }
            }
            else
            {
                rowPlan = plan.Row;
                row = rowPlan.Read(ref reader);
                CheckEnd(ref reader, table, "value");
            }
        }
        catch (SinkValueException e)
        {
            throw new RejectException($"table {_dialect.Display(table)}, {e.Message}");
        }

        var shape = plan.ShapeFor(keyPlan, _dialect.ColumnComparer);
        if (shape.MissingKey is { } missing)
        {
            throw new RejectException($"table {_dialect.Display(table)}: the row has no field for key column \"{missing}\"");
        }

        return new Operation(index, table, keyPlan, ConvertAll(table, keyPlan.Columns, key), rowPlan, ConvertAll(table, rowPlan.Columns, row));
    }

    private void CheckEnd(ref AvroReader reader, TableName table, string what)
    {
        if (!reader.End)
        {
            throw new RejectException($"table {_dialect.Display(table)}: the {what} has {reader.Remaining.ToString(CultureInfo.InvariantCulture)} bytes after its Avro datum; it does not match its schema");
        }
    }

    private object?[] ConvertAll(TableName table, SinkColumn[] columns, object?[] values)
    {
        for (var i = 0; i < values.Length; i++)
        {
            try
            {
                values[i] = _dialect.ToParameter(columns[i], values[i]);
            }
            catch (SinkValueException e)
            {
                throw new RejectException($"table {_dialect.Display(table)}, {e.Message}");
            }
        }

        return values;
    }

    private TableName TableOf(string topic) => _tableNames.GetOrAdd(topic, t =>
    {
        var last = t[(t.LastIndexOf('.') + 1)..];
        var name = _options.Table is null
            ? last
            : _options.Table.Replace("{table}", last, StringComparison.Ordinal).Replace("{topic}", t.Replace('.', '_'), StringComparison.Ordinal);
        return new TableName(_options.Schema, name);
    });

    /// <summary>The envelope's op, read by skipping the fields before it.</summary>
    private static string ReadOp(ReadOnlySpan<byte> value, global::Avro.RecordSchema schema, int opField)
    {
        var reader = new AvroReader(value);
        for (var f = 0; f < opField; f++)
        {
            AvroValues.Skip(ref reader, schema.Fields[f].Schema);
        }

        return reader.ReadString();
    }

    private void Reject(SinkBatch batch, int index, string reason)
    {
        batch.Reject(index, reason);
        var record = batch[index];
        SinkLog.Rejected(_logger, Name, record.SourceTopic, record.SourcePartition, record.SourceOffset, reason);
    }

    private async ValueTask<(int Upserted, int Deleted)> ApplyAsync(SinkBatch batch, Dictionary<TableName, TableWork> work, CancellationToken cancellationToken)
    {
        var connection = await _dialect.OpenAsync(cancellationToken).ConfigureAwait(false);
        await using var connectionScope = connection.ConfigureAwait(false);
        var tables = new List<(TableWork Work, TableInfo Info)>(work.Count);
        foreach (var table in work.Values)
        {
            if (await EnsureTableAsync(connection, table, cancellationToken).ConfigureAwait(false) is { } info)
            {
                tables.Add((table, info));
            }
        }

        try
        {
            var transaction = await connection.BeginTransactionAsync(cancellationToken).ConfigureAwait(false);
            await using var transactionScope = transaction.ConfigureAwait(false);
            var counts = await ApplyOperationsAsync(connection, transaction, tables, cancellationToken).ConfigureAwait(false);
            await transaction.CommitAsync(cancellationToken).ConfigureAwait(false);
            return counts;
        }
        catch (Exception e) when (_dialect.IsDataError(e))
        {
            var count = tables.Sum(t => t.Work.Count);
            SinkLog.RetryingRowByRow(_logger, Name, count, e.Message);
        }

        // Row by row, each in its own transaction: the rows at fault are rejected, the others written.
        var upserted = 0;
        var deleted = 0;
        foreach (var (table, info) in tables)
        {
            foreach (var operation in table.All())
            {
                try
                {
                    var transaction = await connection.BeginTransactionAsync(cancellationToken).ConfigureAwait(false);
                    await using var transactionScope = transaction.ConfigureAwait(false);
                    var single = new TableWork(table.Name);
                    single.Add(operation);
                    var (u, d) = await ApplyOperationsAsync(connection, transaction, [(single, info)], cancellationToken).ConfigureAwait(false);
                    await transaction.CommitAsync(cancellationToken).ConfigureAwait(false);
                    upserted += u;
                    deleted += d;
                }
                catch (Exception e) when (_dialect.IsDataError(e))
                {
                    var columns = operation.Row?.Columns ?? operation.KeyPlan.Columns;
                    var values = operation.Values ?? operation.Key;
                    var reason = await _dialect.DescribeDataErrorAsync(info, columns, values, e, cancellationToken).ConfigureAwait(false);
                    Reject(batch, operation.Index, reason);
                    var refused = batch[operation.Index];
                    foreach (var index in operation.Superseded ?? [])
                    {
                        // Never applied: a later record of the same key stood for it and was refused. Dead-lettered, not lost.
                        Reject(batch, index, $"not applied: the later record of the same key in its batch ({refused.SourceTopic}[{refused.SourcePartition.ToString(CultureInfo.InvariantCulture)}]@{refused.SourceOffset.ToString(CultureInfo.InvariantCulture)}) was refused: {reason}");
                    }
                }
            }
        }

        return (upserted, deleted);
    }

    private async ValueTask<(int Upserted, int Deleted)> ApplyOperationsAsync(
        DbConnection connection, DbTransaction transaction, List<(TableWork Work, TableInfo Info)> tables, CancellationToken cancellationToken)
    {
        var upserted = 0;
        var deleted = 0;
        foreach (var (table, info) in tables)
        {
            foreach (var (keyPlan, keys) in table.Deletes)
            {
                await _dialect.DeleteAsync(connection, transaction, info, keyPlan.Columns, keys.Select(o => o.Key).ToList(), cancellationToken).ConfigureAwait(false);
                deleted += keys.Count;
            }

            foreach (var (rowPlan, rows) in table.Upserts)
            {
                await _dialect.UpsertAsync(connection, transaction, info, rowPlan.Columns, rows.Select(o => o.Values!).ToList(), cancellationToken).ConfigureAwait(false);
                upserted += rows.Count;
            }
        }

        return (upserted, deleted);
    }

    /// <summary>Loads the table, creating it or adding columns as <see cref="TableSinkOptions.SchemaEvolution"/> allows; null when it does not exist and only deletes target it.</summary>
    private async ValueTask<TableInfo?> EnsureTableAsync(DbConnection connection, TableWork work, CancellationToken cancellationToken)
    {
        var display = _dialect.Display(work.Name);
        if (Encoding.UTF8.GetByteCount(work.Name.Name) > _dialect.MaxIdentifierLength)
        {
            throw new InvalidOperationException($"Table sink '{Name}': the table name {display} is longer than {_dialect.Product}'s limit of {_dialect.MaxIdentifierLength.ToString(CultureInfo.InvariantCulture)} bytes; set {nameof(TableSinkOptions.Table)} to a shorter name or template.");
        }

        if (!_tables.TryGetValue(work.Name, out var info))
        {
            info = await _dialect.LoadTableAsync(connection, work.Name, cancellationToken).ConfigureAwait(false);
        }

        if (info is null)
        {
            if (_options.SchemaEvolution == SchemaEvolution.None)
            {
                throw new InvalidOperationException($"Table sink '{Name}': the target table {display} does not exist; create it, or set {nameof(TableSinkOptions.SchemaEvolution)} to {nameof(SchemaEvolution.CreateTable)} so the sink creates it.");
            }

            if (work.Upserts.Count == 0)
            {
                return null; // Only deletes, and no table: nothing to delete.
            }

            var (rowPlan, _) = work.Upserts[0];
            var keyPlan = work.KeyPlan;
            await _ddl.WaitAsync(cancellationToken).ConfigureAwait(false);
            try
            {
                var keyNames = keyPlan.Columns.Select(c => rowPlan.Columns[rowPlan.IndexOf(c.Name, _dialect.ColumnComparer)].Name).ToArray();
                await _dialect.CreateTableAsync(connection, work.Name, rowPlan.Columns, keyNames, cancellationToken).ConfigureAwait(false);
                SinkLog.TableCreated(_logger, Name, display, rowPlan.Columns.Length, string.Join(", ", keyNames));
            }
            finally
            {
                _ddl.Release();
            }

            info = await _dialect.LoadTableAsync(connection, work.Name, cancellationToken).ConfigureAwait(false)
                ?? throw new InvalidOperationException($"Table sink '{Name}': created table {display} but cannot find it in the catalog.");
        }

        CheckPrimaryKey(info, work);
        var missing = work.Upserts.SelectMany(u => u.Row.Columns).Where(c => !info.Columns.ContainsKey(c.Name))
            .DistinctBy(c => c.Name, _dialect.ColumnComparer).ToList();
        if (missing.Count > 0)
        {
            var names = string.Join(", ", missing.Select(c => "\"" + c.Name + "\" (" + c.Describe() + ")"));
            if (_options.SchemaEvolution != SchemaEvolution.CreateAndAddColumns)
            {
                throw new InvalidOperationException($"Table sink '{Name}': table {display} has no column for {names}; add the columns, or set {nameof(TableSinkOptions.SchemaEvolution)} to {nameof(SchemaEvolution.CreateAndAddColumns)} so the sink adds them.");
            }

            await _ddl.WaitAsync(cancellationToken).ConfigureAwait(false);
            try
            {
                await _dialect.AddColumnsAsync(connection, info, missing, cancellationToken).ConfigureAwait(false);
                SinkLog.ColumnsAdded(_logger, Name, display, names);
            }
            finally
            {
                _ddl.Release();
            }

            info = await _dialect.LoadTableAsync(connection, work.Name, cancellationToken).ConfigureAwait(false)
                ?? throw new InvalidOperationException($"Table sink '{Name}': table {display} disappeared while columns were added.");
        }

        _tables[work.Name] = info;
        return info;
    }

    private void CheckPrimaryKey(TableInfo info, TableWork work)
    {
        var key = work.KeyPlan.Columns.Select(c => c.Name).ToArray();
        var matches = info.PrimaryKey.Length == key.Length && key.All(k => info.PrimaryKey.Contains(k, _dialect.ColumnComparer));
        if (!matches)
        {
            var actual = info.PrimaryKey.Length == 0 ? "no primary key" : "primary key (" + string.Join(", ", info.PrimaryKey) + ")";
            throw new InvalidOperationException($"Table sink '{Name}': table {info.Display} has {actual}, but the records' key is ({string.Join(", ", key)}); upserts and deletes by key need the table's primary key on exactly the key's columns.");
        }
    }

    private sealed record KeySchema(RowPlan? Plan, string? Error);

    /// <summary>One record reduced to what it does: an upsert of <see cref="Values"/>, or a delete of <see cref="Key"/> when <see cref="Row"/> is null.</summary>
    private sealed record Operation(int Index, TableName Table, RowPlan KeyPlan, object?[] Key, RowPlan? Row, object?[]? Values)
    {
        /// <summary>Earlier records of the same key in the batch that this one replaces.</summary>
        public List<int>? Superseded { get; set; }
    }

    /// <summary>The final operations on one table, grouped by key schema (deletes) and row schema (upserts).</summary>
    private sealed class TableWork(TableName name)
    {
        private readonly List<Operation> _all = [];

        public TableName Name { get; } = name;

        public RowPlan KeyPlan => _all[0].KeyPlan;

        public List<(RowPlan Key, List<Operation> Operations)> Deletes { get; } = [];

        public List<(RowPlan Row, List<Operation> Operations)> Upserts { get; } = [];

        public int Count => _all.Count;

        public IEnumerable<Operation> All() => _all;

        public void Add(Operation operation)
        {
            _all.Add(operation);
            if (operation.Row is null)
            {
                GroupOf(Deletes, operation.KeyPlan).Add(operation);
            }
            else
            {
                GroupOf(Upserts, operation.Row).Add(operation);
            }
        }

        private static List<Operation> GroupOf(List<(RowPlan, List<Operation>)> groups, RowPlan plan)
        {
            foreach (var (p, operations) in groups)
            {
                if (ReferenceEquals(p, plan))
                {
                    return operations;
                }
            }

            var list = new List<Operation>();
            groups.Add((plan, list));
            return list;
        }
    }

    /// <summary>How the sink reads values of one schema: a flat row, or a change-event envelope around one.</summary>
    private sealed class ValuePlan
    {
        private readonly ConcurrentDictionary<RowPlan, Shape> _shapes = new(ReferenceEqualityComparer.Instance);

        public ValuePlan(global::Avro.RecordSchema schema)
        {
            Envelope = EnvelopeShape.Detect(schema);
            Row = new RowPlan(Envelope?.Row ?? schema);
        }

        public EnvelopeShape? Envelope { get; }

        public RowPlan Row { get; }

        public Shape ShapeFor(RowPlan key, StringComparer comparer) => _shapes.GetOrAdd(key, k =>
            new Shape(k.Columns.Select(c => c.Name).FirstOrDefault(name => Row.IndexOf(name, comparer) < 0)));

        public sealed record Shape(string? MissingKey);
    }

    /// <summary>A record refused on its own merits; the message is the reason.</summary>
    private sealed class RejectException(string reason) : Exception(reason);
}
