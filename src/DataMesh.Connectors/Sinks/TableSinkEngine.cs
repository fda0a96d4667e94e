using System.Collections.Concurrent;
using System.Data.Common;
using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;
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
/// rejects the rows at fault. A value equal to <see cref="TableSinkOptions.UnavailableValuePlaceholder"/> is one the
/// source did not send: its column is left as it is in the target (filled from an earlier record of the key in the same
/// batch when there is one), and a row that is not in the target yet is refused.
/// </summary>
internal sealed partial class TableSinkEngine : IAsyncDisposable
{
    private readonly TableSinkOptions _options;
    private readonly ITableDialect _dialect;
    private readonly SinkMetrics _metrics;
    private readonly ConcurrentDictionary<int, KeySchema> _keySchemas = new();
    private readonly ConcurrentDictionary<global::Avro.RecordSchema, ValuePlan> _valuePlans = new(ReferenceEqualityComparer.Instance);
    private readonly ConcurrentDictionary<string, TableName> _tableNames = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<TableName, TableInfo> _tables = new();
    private readonly SemaphoreSlim _ddl = new(1, 1);
    private readonly string? _placeholder;
    private readonly byte[]? _placeholderBytes;
    private SinkContext? _context;
    private ILogger _logger = NullLogger.Instance;

    public TableSinkEngine(string name, TableSinkOptions options, ITableDialect dialect)
    {
        Name = name;
        _options = options;
        _dialect = dialect;
        _metrics = new SinkMetrics(name);
        _placeholder = options.UnavailableValuePlaceholder;
        _placeholderBytes = _placeholder is null ? null : Encoding.UTF8.GetBytes(_placeholder);
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

        AddKeySchema(id, schema);
    }

    /// <summary>Keeps the key schema with id <paramref name="id"/> (looked up in the schema store, or given by the decoding fuzz tests).</summary>
    internal void AddKeySchema(int id, global::Avro.Schema schema)
    {
        _keySchemas[id] = schema is global::Avro.RecordSchema record
            ? new KeySchema(new RowPlan(record), null)
            : new KeySchema(null, $"the key's schema (id {id.ToString(CultureInfo.InvariantCulture)}) is a {schema.Tag}, not a record of key columns");
    }

    /// <summary>
    /// Decodes every record and keeps the last operation per (table, key); rejects what cannot be decoded. Throws only for
    /// a fault of the sink itself: a record's bytes are refused with <see cref="SinkBatch.Reject"/>, whatever they hold.
    /// </summary>
    internal Dictionary<TableName, TableWork> Decode(SinkBatch batch)
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
                        if (operation.Unavailable is not null)
                        {
                            if (earlier.Row is null)
                            {
                                // Deleted earlier in the batch and not created again: the values this record lacks are unknown.
                                // The delete stays the key's last operation.
                                throw new RejectException($"table {_dialect.Display(operation.Table)}: {DescribeUnavailable(operation)} and an earlier record of its batch deleted the row");
                            }

                            FillFrom(operation, earlier);
                        }

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
            && _valuePlans.GetOrAdd(schema, static (s, comparer) => new ValuePlan(s, comparer), _dialect.ColumnComparer) is { Envelope: { } truncateEnvelope }
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
        var plan = _valuePlans.GetOrAdd(valueSchema, static (s, comparer) => new ValuePlan(s, comparer), _dialect.ColumnComparer);
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

        if (plan.SameColumn is var (first, second))
        {
            // MySQL compares column names without case: CREATE TABLE failed (duplicate column name), an INSERT named the
            // column twice, and the pipeline stopped after its retries. Each record is refused instead; the others go on.
            throw new RejectException(
                $"table {_dialect.Display(table)}: the fields \"{first}\" and \"{second}\" name the same column" +
                $"{(_dialect.ColumnComparer.Equals("a", "A") ? $" on {_dialect.Product}, which compares column names without case" : string.Empty)}; " +
                "rename one of them (Transform.Rename) so that each field has a column of its own");
        }

        var shape = plan.ShapeFor(keyPlan, _dialect.ColumnComparer);
        if (shape.MissingKey is { } missing)
        {
            // Transforms change the value only: a Rename or Drop of a key field leaves the Kafka key's field as it was.
            throw new RejectException($"table {_dialect.Display(table)}: the row has no field for key column \"{missing}\" of the record's key (transforms such as Rename and Drop change the value's fields, not the key's: keep the key's fields under their names in the value)");
        }

        var unavailable = UnavailableColumns(rowPlan, row);
        if (unavailable is not null)
        {
            foreach (var u in unavailable)
            {
                if (keyPlan.IndexOf(rowPlan.Columns[u].Name, _dialect.ColumnComparer) >= 0)
                {
                    throw new RejectException($"table {_dialect.Display(table)}, key column \"{rowPlan.Columns[u].Name}\": the value is the unavailable-value placeholder, so the row cannot be found by its key");
                }
            }
        }

        var keyValues = ConvertAll(table, keyPlan.Columns, key);
        var values = ConvertAll(table, rowPlan.Columns, row);
        KeyColumnsFromKey(table, keyPlan, keyValues, rowPlan, values, shape.KeyIndexes);
        return new Operation(index, table, keyPlan, keyValues, rowPlan, values) { Unavailable = unavailable };
    }

    /// <summary>
    /// Writes the record key's values into the row's key columns: a row is upserted and deleted by the same key. They
    /// differ when a transform changed the value's copy of a key column and not the key's (a mask that redacts the value's
    /// and hashes the key's: every row would have been "***", one row for all keys, none of them found by a delete).
    /// A key column whose value a transform gave another type (a Cast before a Hash) cannot be told apart, and is refused.
    /// </summary>
    private void KeyColumnsFromKey(TableName table, RowPlan keyPlan, object?[] keyValues, RowPlan rowPlan, object?[] values, int[] keyIndexes)
    {
        for (var k = 0; k < keyPlan.Columns.Length; k++)
        {
            var i = keyIndexes[k];
            if (i < 0 || SameValue(values[i], keyValues[k]))
            {
                continue;
            }

            if (rowPlan.Columns[i].Kind != keyPlan.Columns[k].Kind)
            {
                // Another type in the value (a Cast: int to long or to text) holding the same value is the same key.
                if (SameText(values[i], keyValues[k]))
                {
                    continue;
                }

                throw new RejectException($"table {_dialect.Display(table)}, key column \"{rowPlan.Columns[i].Name}\": the value's field differs from the record key's and has another type ({rowPlan.Columns[i].Kind} against {keyPlan.Columns[k].Kind}; a transform such as Cast then Hash changed the value's and not the key's), so the row cannot be written under its key");
            }

            values[i] = keyValues[k];
        }

        static bool SameValue(object? a, object? b) => a is byte[] x && b is byte[] y ? x.AsSpan().SequenceEqual(y) : Equals(a, b);

        // Numbers compare as numbers (7, 7L, "7", "7.0"); anything else by its invariant text.
        static bool SameText(object? a, object? b) =>
            Number(a) is { } x && Number(b) is { } y ? x == y : string.Equals(Convert.ToString(a, CultureInfo.InvariantCulture), Convert.ToString(b, CultureInfo.InvariantCulture), StringComparison.Ordinal);

        static decimal? Number(object? value) => value switch
        {
            int or long or short or sbyte or byte or decimal => Convert.ToDecimal(value, CultureInfo.InvariantCulture),
            string text when decimal.TryParse(text, NumberStyles.AllowLeadingSign | NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out var parsed) => parsed,
            _ => null,
        };
    }

    /// <summary>The columns whose value is the placeholder of a value the source did not send, or null when there is none.</summary>
    private int[]? UnavailableColumns(RowPlan plan, object?[] row)
    {
        if (_placeholder is null)
        {
            return null;
        }

        List<int>? unavailable = null;
        for (var i = 0; i < row.Length; i++)
        {
            var matches = row[i] switch
            {
                string text => plan.Columns[i].Kind is SinkKind.String or SinkKind.Json && string.Equals(text, _placeholder, StringComparison.Ordinal),
                byte[] bytes => plan.Columns[i].Kind == SinkKind.Bytes && bytes.AsSpan().SequenceEqual(_placeholderBytes),
                _ => false,
            };
            if (matches)
            {
                (unavailable ??= []).Add(i);
            }
        }

        return unavailable?.ToArray();
    }

    /// <summary>Takes the values <paramref name="operation"/> lacks from the earlier upsert of the same key that it supersedes.</summary>
    private void FillFrom(Operation operation, Operation earlier)
    {
        var row = operation.Row!;
        var values = operation.Values!;
        var remaining = new List<int>();
        foreach (var u in operation.Unavailable!)
        {
            var column = row.Columns[u];
            var e = earlier.Row!.IndexOf(column.Name, _dialect.ColumnComparer);
            if (e >= 0 && earlier.Row.Columns[e].Kind == column.Kind && (earlier.Unavailable is null || !earlier.Unavailable.Contains(e)))
            {
                values[u] = earlier.Values![e];
            }
            else
            {
                remaining.Add(u);
            }
        }

        operation.Unavailable = remaining.Count == 0 ? null : [.. remaining];
    }

    private string DescribeUnavailable(Operation operation) =>
        $"the record does not carry the value of {string.Join(", ", operation.Unavailable!.Select(u => "\"" + operation.Row!.Columns[u].Name + "\""))} " +
        $"(it has the placeholder '{_placeholder}' of a value the source did not send: PostgreSQL sends an unchanged TOASTed value only under REPLICA IDENTITY FULL)";

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

        tables = await WithoutRoundedAsync(batch, connection, tables, cancellationToken).ConfigureAwait(false);
        try
        {
            var transaction = await connection.BeginTransactionAsync(cancellationToken).ConfigureAwait(false);
            await using var transactionScope = transaction.ConfigureAwait(false);
            var absent = new List<(Operation, TableInfo)>();
            var counts = await ApplyOperationsAsync(connection, transaction, tables, absent, cancellationToken).ConfigureAwait(false);
            await transaction.CommitAsync(cancellationToken).ConfigureAwait(false);
            RejectAbsent(batch, absent);
            return counts;
        }
        catch (Exception e) when (_dialect.IsDataError(e))
        {
            var count = tables.Sum(t => t.Work.Count);
            var sent = tables.SelectMany(t => t.Work.All()).SelectMany(o => (o.Values ?? []).Concat(o.Key));
            SinkLog.RetryingRowByRow(_logger, Name, count, DataErrorText.WithoutValues(e.Message, sent));
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
                    var absent = new List<(Operation, TableInfo)>();
                    var (u, d) = await ApplyOperationsAsync(connection, transaction, [(single, info)], absent, cancellationToken).ConfigureAwait(false);
                    await transaction.CommitAsync(cancellationToken).ConfigureAwait(false);
                    RejectAbsent(batch, absent);
                    upserted += u;
                    deleted += d;
                }
                catch (Exception e) when (_dialect.IsDataError(e))
                {
                    var (columns, values) = operation.Row is null ? (operation.KeyPlan.Columns, operation.Key) : (operation.Columns, operation.WrittenValues());
                    var reason = await _dialect.DescribeDataErrorAsync(info, columns, values, e, cancellationToken).ConfigureAwait(false);
                    RejectWithSuperseded(batch, operation, reason);
                }
            }
        }

        return (upserted, deleted);
    }

    /// <summary>
    /// Rejects the upserts that hold a decimal or float with more digits after the point than the target column's scale, and
    /// returns the work without them: both databases round such a value without an error (MySQL only notes it, even in
    /// strict mode), and in a key column the rounded row would overwrite another key's row. Trailing zeros do not count.
    /// A table with such a value is read from the catalog again first: its column may have been widened since it was read
    /// (what the rejection asks for).
    /// </summary>
    private async ValueTask<List<(TableWork Work, TableInfo Info)>> WithoutRoundedAsync(
        SinkBatch batch, DbConnection connection, List<(TableWork Work, TableInfo Info)> tables, CancellationToken cancellationToken)
    {
        List<(TableWork, TableInfo)>? kept = null;
        for (var t = 0; t < tables.Count; t++)
        {
            var (work, info) = tables[t];
            var refused = Rounded(work, info);
            if (refused.Count > 0 && await _dialect.LoadTableAsync(connection, work.Name, cancellationToken).ConfigureAwait(false) is { } fresh)
            {
                _tables[work.Name] = info = fresh;
                refused = Rounded(work, info);
            }

            if (refused.Count > 0)
            {
                foreach (var (operation, reason) in refused)
                {
                    RejectWithSuperseded(batch, operation, reason);
                }

                kept ??= tables.Take(t).ToList();
                var remaining = new TableWork(work.Name);
                foreach (var operation in work.All().Where(o => !refused.Any(r => ReferenceEquals(r.Operation, o))))
                {
                    remaining.Add(operation);
                }

                if (remaining.Count > 0)
                {
                    kept.Add((remaining, info));
                }
            }
            else
            {
                kept?.Add((work, info));
            }
        }

        return kept ?? tables;
    }

    /// <summary>The upserts of <paramref name="work"/> that hold a decimal (or a string that is a plain decimal: Debezium's
    /// and our string decimal handling) or a float with more digits after the point than <paramref name="info"/>'s integer
    /// or decimal column, or a double too close to zero for a single-precision column, each once, with the reason.</summary>
    private static List<(Operation Operation, string Reason)> Rounded(TableWork work, TableInfo info)
    {
        var refused = new List<(Operation, string)>();
        foreach (var group in work.Upserts)
        {
            for (var c = 0; c < group.Columns.Length; c++)
            {
                var column = group.Columns[c];
                if (!info.Columns.TryGetValue(column.Name, out var target))
                {
                    continue;
                }

                if (column.Kind == SinkKind.Float64 && target.IsSingleFloat)
                {
                    foreach (var operation in group.Operations)
                    {
                        // MariaDB stores a double too small for a FLOAT as 0 without an error (PostgreSQL refuses it).
                        if (operation.WrittenValues()[c] is double d && d != 0 && (float)d == 0 && !refused.Exists(r => ReferenceEquals(r.Item1, operation)))
                        {
                            refused.Add((operation,
                                $"table {info.Display}, column \"{target.Name}\" ({target.Type}): the value is too close to zero for the column's single precision, " +
                                "and the database would store 0 without an error. Make the column DOUBLE, or round the value in a transform."));
                        }
                    }

                    continue;
                }

                if (column is { Kind: SinkKind.Array, Element: { } element } && target.ElementDecimalScale is { } elementScale)
                {
                    // The items of an array into a numeric(p,s)[] or integer array column (decimals, decimal strings of a
                    // PostgreSQL source's numeric[] under DecimalHandling.String, floats): the cast rounds each element
                    // without an error, as it does a scalar's.
                    foreach (var operation in group.Operations)
                    {
                        if (operation.WrittenValues()[c] is SinkArray array
                            && array.Items.Cast<object?>().Any(i => NeededScale(element, i) > elementScale)
                            && !refused.Exists(r => ReferenceEquals(r.Item1, operation)))
                        {
                            refused.Add((operation,
                                $"table {info.Display}, column \"{target.Name}\" ({target.Type}): an element has more digits after the decimal point than the column's scale of {elementScale.ToString(CultureInfo.InvariantCulture)}, " +
                                "and the database would round it without an error. Widen the column's scale (ALTER TABLE), or round the value in a transform."));
                        }
                    }

                    continue;
                }

                if (column.Kind is not (SinkKind.Decimal or SinkKind.VariableDecimal or SinkKind.String or SinkKind.Float32 or SinkKind.Float64)
                    || target.DecimalScale is not { } scale)
                {
                    continue;
                }

                foreach (var operation in group.Operations)
                {
                    var needed = NeededScale(column, operation.WrittenValues()[c]);
                    if (needed > scale && !refused.Exists(r => ReferenceEquals(r.Item1, operation)))
                    {
                        refused.Add((operation,
                            $"table {info.Display}, column \"{target.Name}\" ({target.Type}): the value has more digits after the decimal point than the column's scale of {scale.ToString(CultureInfo.InvariantCulture)}, " +
                            "and the database would round it without an error. Widen the column's scale (ALTER TABLE), or round the value in a transform."));
                    }
                }
            }
        }

        return refused;
    }

    /// <summary>The scale a value of <paramref name="column"/> needs (<see cref="DecimalScale"/>, <see cref="FloatScale"/>), as
    /// the dialect binds it, or <see cref="int.MinValue"/> for a value without digits after the point to lose.</summary>
    private static int NeededScale(SinkColumn column, object? value) => value switch
    {
        string text when column.Kind is SinkKind.Decimal or SinkKind.VariableDecimal || column.Kind == SinkKind.String && PlainDecimal().IsMatch(text) => DecimalScale(text),
        float f when float.IsFinite(f) => FloatScale(f.ToString("R", CultureInfo.InvariantCulture)),
        double d when column.Kind == SinkKind.Float32 && double.IsFinite(d) => FloatScale(((float)d).ToString("R", CultureInfo.InvariantCulture)), // MySQL's parameter
        double d when double.IsFinite(d) => FloatScale(d.ToString("R", CultureInfo.InvariantCulture)),
        _ => int.MinValue, // null, another string, or NaN and infinities, which the databases refuse themselves
    };

    [GeneratedRegex(@"^-?[0-9]+(\.[0-9]+)?$", RegexOptions.CultureInvariant)]
    private static partial Regex PlainDecimal();

    /// <summary>The scale a decimal's exact text needs: its digits after the point without trailing zeros, or minus the
    /// trailing zeros of a whole number (<c>1.250</c>: 2; <c>1200</c>: -2); zero fits every scale (<see cref="int.MinValue"/>).</summary>
    internal static int DecimalScale(string text)
    {
        var point = text.IndexOf('.', StringComparison.Ordinal);
        if (point >= 0)
        {
            var end = text.Length;
            while (end > point + 1 && text[end - 1] == '0')
            {
                end--;
            }

            if (end > point + 1)
            {
                return end - point - 1;
            }

            text = text[..point];
        }

        var zeros = 0;
        for (var i = text.Length - 1; i >= 0 && text[i] == '0'; i--)
        {
            zeros++;
        }

        return zeros == text.Length || text[text.Length - zeros - 1] == '-' ? int.MinValue : -zeros;
    }

    /// <summary>The scale a float's shortest round-trip text needs (<c>12.5</c>: 1; <c>2.5E-07</c>: 8; <c>1E+20</c>: -20): both
    /// databases round a float into an integer or decimal column without an error, so one that needs more digits after
    /// the point than the column has is refused like a decimal.</summary>
    internal static int FloatScale(string roundTrip)
    {
        var e = roundTrip.IndexOf('E', StringComparison.Ordinal);
        if (e < 0)
        {
            return DecimalScale(roundTrip);
        }

        var mantissa = DecimalScale(roundTrip[..e]);
        var exponent = int.Parse(roundTrip.AsSpan(e + 1), NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture);
        return mantissa == int.MinValue ? int.MinValue : mantissa - exponent;
    }

    /// <summary>Rejects a record with <paramref name="reason"/>, and the earlier records of its key in the batch that it stood for.</summary>
    private void RejectWithSuperseded(SinkBatch batch, Operation operation, string reason)
    {
        Reject(batch, operation.Index, reason);
        var refused = batch[operation.Index];
        foreach (var index in operation.Superseded ?? [])
        {
            // Never applied: a later record of the same key stood for it and was refused. Dead-lettered, not lost.
            Reject(batch, index, $"not applied: the later record of the same key in its batch ({refused.SourceTopic}[{refused.SourcePartition.ToString(CultureInfo.InvariantCulture)}]@{refused.SourceOffset.ToString(CultureInfo.InvariantCulture)}) was refused: {reason}");
        }
    }

    /// <summary>Rejects the records that lacked values of a row the target does not have (after their transaction committed).</summary>
    private void RejectAbsent(SinkBatch batch, List<(Operation Operation, TableInfo Table)> absent)
    {
        foreach (var (operation, table) in absent)
        {
            RejectWithSuperseded(batch, operation,
                $"table {table.Display}: the row is not in the target and {DescribeUnavailable(operation)}; the sink writes neither the placeholder nor NULL in its place. " +
                "Run ALTER TABLE ... REPLICA IDENTITY FULL; on the source table so that such values are sent, and copy the row (a snapshot) before replaying this record.");
        }
    }

    /// <summary>
    /// Applies the deletes and upserts of <paramref name="tables"/> in <paramref name="transaction"/>. Upserts that lack values
    /// (<see cref="Operation.Unavailable"/>) of rows the target does not have are not written but added to <paramref name="absent"/>.
    /// </summary>
    private async ValueTask<(int Upserted, int Deleted)> ApplyOperationsAsync(
        DbConnection connection, DbTransaction transaction, List<(TableWork Work, TableInfo Info)> tables, List<(Operation, TableInfo)> absent, CancellationToken cancellationToken)
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

            foreach (var group in table.Upserts)
            {
                var rows = group.Operations;
                if (group.Unavailable.Length > 0)
                {
                    // Only rows the target has are updated, without the columns whose values the records lack.
                    var keyIndexes = info.PrimaryKey.Select(k => group.Row.IndexOf(k, _dialect.ColumnComparer)).ToArray();
                    var keyColumns = keyIndexes.Select(k => group.Row.Columns[k]).ToArray();
                    var exists = await _dialect.ExistsAsync(connection, transaction, info, keyColumns, rows.Select(o => keyIndexes.Select(k => o.Values![k]).ToArray()).ToList(), cancellationToken).ConfigureAwait(false);
                    absent.AddRange(rows.Where((_, i) => !exists[i]).Select(o => (o, info)));
                    rows = rows.Where((_, i) => exists[i]).ToList();
                    if (rows.Count == 0)
                    {
                        continue;
                    }
                }

                await _dialect.UpsertAsync(connection, transaction, info, group.Columns, rows.Select(o => o.WrittenValues()).ToList(), cancellationToken).ConfigureAwait(false);
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

            var rowPlan = work.Upserts[0].Row;
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
    internal sealed record Operation(int Index, TableName Table, RowPlan KeyPlan, object?[] Key, RowPlan? Row, object?[]? Values)
    {
        /// <summary>Earlier records of the same key in the batch that this one replaces.</summary>
        public List<int>? Superseded { get; set; }

        /// <summary>Indexes of <see cref="Row"/>'s columns whose values the source did not send (sorted), or null.</summary>
        public int[]? Unavailable { get; set; }

        /// <summary>The columns an upsert writes: the row's, without <see cref="Unavailable"/>.</summary>
        public SinkColumn[] Columns => Unavailable is null ? Row!.Columns : Row!.Columns.Where((_, i) => !Unavailable.Contains(i)).ToArray();

        /// <summary>The values of <see cref="Columns"/>.</summary>
        public object?[] WrittenValues() => Unavailable is null ? Values! : Values!.Where((_, i) => !Unavailable.Contains(i)).ToArray();
    }

    /// <summary>Upserts of one row schema that lack the same columns (none, usually).</summary>
    internal sealed class UpsertGroup(RowPlan row, int[] unavailable, SinkColumn[] columns)
    {
        public RowPlan Row { get; } = row;

        public int[] Unavailable { get; } = unavailable;

        /// <summary>The columns written.</summary>
        public SinkColumn[] Columns { get; } = columns;

        public List<Operation> Operations { get; } = [];
    }

    /// <summary>The final operations on one table, grouped by key schema (deletes) and row schema (upserts).</summary>
    internal sealed class TableWork(TableName name)
    {
        private readonly List<Operation> _all = [];

        public TableName Name { get; } = name;

        public RowPlan KeyPlan => _all[0].KeyPlan;

        public List<(RowPlan Key, List<Operation> Operations)> Deletes { get; } = [];

        public List<UpsertGroup> Upserts { get; } = [];

        public int Count => _all.Count;

        public IEnumerable<Operation> All() => _all;

        public void Add(Operation operation)
        {
            _all.Add(operation);
            if (operation.Row is null)
            {
                GroupOf(Deletes, operation.KeyPlan).Add(operation);
                return;
            }

            var unavailable = operation.Unavailable ?? [];
            foreach (var group in Upserts)
            {
                if (ReferenceEquals(group.Row, operation.Row) && group.Unavailable.AsSpan().SequenceEqual(unavailable))
                {
                    group.Operations.Add(operation);
                    return;
                }
            }

            var added = new UpsertGroup(operation.Row, unavailable, operation.Columns);
            added.Operations.Add(operation);
            Upserts.Add(added);
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

        public ValuePlan(global::Avro.RecordSchema schema, StringComparer comparer)
        {
            Envelope = EnvelopeShape.Detect(schema);
            Row = new RowPlan(Envelope?.Row ?? schema);
            for (var i = 0; i < Row.Columns.Length && SameColumn is null; i++)
            {
                if (Row.IndexOf(Row.Columns[i].Name, comparer) is var first && first < i)
                {
                    SameColumn = (Row.Columns[first].Name, Row.Columns[i].Name);
                }
            }
        }

        /// <summary>Two fields of the row whose column names the database takes for one column (<c>MixedCase</c> and
        /// <c>mixedcase</c> on MySQL), or null.</summary>
        public (string First, string Second)? SameColumn { get; }

        public EnvelopeShape? Envelope { get; }

        public RowPlan Row { get; }

        public Shape ShapeFor(RowPlan key, StringComparer comparer) => _shapes.GetOrAdd(key, k =>
        {
            var indexes = k.Columns.Select(c => Row.IndexOf(c.Name, comparer)).ToArray();
            return new Shape(Array.IndexOf(indexes, -1) is var missing and >= 0 ? k.Columns[missing].Name : null, indexes);
        });

        /// <param name="MissingKey">A key column the row lacks, or null.</param>
        /// <param name="KeyIndexes">Per key column, its index in the row (-1 when missing).</param>
        public sealed record Shape(string? MissingKey, int[] KeyIndexes);
    }

    /// <summary>A record refused on its own merits; the message is the reason.</summary>
    private sealed class RejectException(string reason) : Exception(reason);
}
