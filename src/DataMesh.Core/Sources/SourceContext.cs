using DataMesh.Avro;
using DataMesh.Events;
using Microsoft.Extensions.Logging;

namespace DataMesh.Sources;

/// <summary>
/// What a connector hands its changes to during one run (<see cref="SourceConnector{TPosition}.RunAsync"/>): it describes
/// tables (<see cref="Table"/>), writes each change while the log's bytes are in hand (<see cref="Insert"/>,
/// <see cref="Update"/>, <see cref="Delete"/>, <see cref="Read"/>, <see cref="Truncate"/>), marks transaction ends
/// (<see cref="Checkpoint"/>) and then produces what it wrote (<see cref="FlushAsync"/>). The runtime owns everything
/// else: the envelope and the key, key changes, the partition, schemas and topics, positions stored only after Kafka
/// acknowledged everything before them, metrics and health.
/// </summary>
/// <remarks>
/// <para>Not thread-safe: one connector loop calls it. The write methods are synchronous and allocate nothing per row;
/// they encode into a buffer that <see cref="FlushAsync"/> empties, in the order written.</para>
/// <para>Keys: an update or a delete is keyed by its before image when that image holds the key columns (so a key
/// change is seen), else by its after image. An update whose key changed becomes a delete under the old key, a tombstone
/// (unless <see cref="ChangeEventOptions.Tombstones"/> is off) and a create under the new key. Events of a table without a
/// key, and truncates, go to partition 0 of the table's topic, so they keep their log order.</para>
/// <para>Images: the envelope's <c>before</c> is written only from a complete image (a key-only image keys the change
/// but gives <c>before = null</c>); a column missing from the after image is taken from the before image, then the
/// table's <see cref="MissingValuePolicy"/> applies.</para>
/// </remarks>
/// <typeparam name="TPosition">The connector's position type.</typeparam>
public sealed class SourceContext<TPosition>
    where TPosition : class
{
    /// <summary>Records up to this length go to Kafka in arrays reused per length; longer ones in a new array each.</summary>
    private const int MaxCachedLength = 2048;

    private readonly ISourceHost _runtime;
    private readonly ChangeProducer<SourceCheckpoint<TPosition>>? _producer;
    private readonly SnapshotEngine? _snapshots;
    private readonly RecordBuffer _buffer = new();
    private readonly RecordBuffer _scratch = new();
    private readonly List<Pending> _pending = [];
    private readonly List<SnapshotChunk> _chunks = [];
    private readonly Dictionary<(string Schema, string Name), SourceTable> _tables = [];
    private readonly Dictionary<string, string> _topicOwners = new(StringComparer.Ordinal);
    private readonly byte[]?[] _keys = new byte[]?[MaxCachedLength + 1];
    private readonly byte[]?[] _values = new byte[]?[MaxCachedLength + 1];
    private long _nowTick = -1;
    private long _nowMs;

    /// <summary>Creates a context.</summary>
    /// <param name="runtime">The runtime (or, for tests and benchmarks, a host without Kafka).</param>
    /// <param name="producer">The producer; null for a context that only encodes (<see cref="TakeEncoded"/>).</param>
    internal SourceContext(ISourceHost runtime, ChangeProducer<SourceCheckpoint<TPosition>>? producer)
    {
        _runtime = runtime;
        _producer = producer;
        _snapshots = runtime.Snapshots;
    }

    /// <summary>The watermark and signal tables of the source's snapshots, which the connector must capture (and hand to
    /// this context like any other table's changes), or null when the connector does not snapshot.</summary>
    public SnapshotTables? SnapshotTables => _snapshots?.Tables;

    /// <summary>The source's name.</summary>
    public string SourceName => _runtime.Name;

    /// <summary>The change-event contract's settings of this source.</summary>
    public ChangeEventOptions Events => _runtime.Events;

    /// <summary>The source's logger.</summary>
    public ILogger Logger => _runtime.Logger;

    /// <summary>Whether changes were written and not yet handed to Kafka by <see cref="FlushAsync"/>.</summary>
    public bool HasPending => _pending.Count > 0;

    /// <summary>Records handed to Kafka and not yet acknowledged.</summary>
    public long InFlight => _producer?.InFlight ?? 0;

    /// <summary>The last checkpoint handed over by <see cref="FlushAsync"/>, or null.</summary>
    public TPosition? LastCheckpoint { get; private set; }

    /// <summary>Describes a table: builds its schemas (registered and its topic created at the first
    /// <see cref="FlushAsync"/> that produces to it, or by <see cref="RegisterAsync"/>). The same description gives the same
    /// instance; a changed one a new instance (a new schema version).</summary>
    /// <param name="info">The table.</param>
    /// <returns>The table's handle.</returns>
    /// <exception cref="SourceException">Two tables map to one topic, or the table cannot be described as change events.</exception>
    public SourceTable Table(SourceTableInfo info)
    {
        ArgumentNullException.ThrowIfNull(info);
        var id = (info.Table.Schema, info.Table.Name);
        if (_tables.TryGetValue(id, out var known) && SourceTable.SameShape(known.Info, info))
        {
            return known;
        }

        ChangeEventSchemas schemas;
        try
        {
            schemas = ChangeEventSchemas.Build(info.Table, _runtime.Description, _runtime.Events);
        }
        catch (ArgumentException ex)
        {
            throw new SourceException($"Source '{SourceName}': table {info.Table.Schema}.{info.Table.Name} cannot be described as change events: {ex.Message}", isTransient: false, ex);
        }

        var qualified = $"{info.Table.Schema}.{info.Table.Name}";
        if (_topicOwners.TryGetValue(schemas.Topic, out var owner) && owner != qualified)
        {
            throw new SourceException(
                $"Source '{SourceName}': tables {owner} and {qualified} map to the same topic '{schemas.Topic}'; exclude one of them (ExcludeTables) or rename it.",
                isTransient: false);
        }

        _topicOwners[schemas.Topic] = qualified;
        var table = new SourceTable(info, schemas);
        if (_snapshots?.Tables is { } own && info.Table.Schema == own.Schema)
        {
            table.Role = info.Table.Name == own.Watermark ? TableRole.Watermark : info.Table.Name == own.Signal ? TableRole.Signal : TableRole.Data;
        }

        _tables[id] = table;
        _snapshots?.LogDescribed(table);
        return table;
    }

    /// <summary>Registers a table's schemas (following <see cref="SourceOptions.IncompatibleSchemaChange"/>) and creates its
    /// topic, if not done yet. The source's own tables (snapshot watermarks and signals) are never produced: they get
    /// neither.</summary>
    /// <param name="table">The table.</param>
    /// <param name="cancellationToken">Cancels the work.</param>
    public ValueTask RegisterAsync(SourceTable table, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(table);
        return table.IsRegistered || table.Role != TableRole.Data ? ValueTask.CompletedTask : new ValueTask(_runtime.RegisterAsync(table, cancellationToken));
    }

    /// <summary>Registers tables' schemas and creates their topics, several at a time (what a connector does with its
    /// captured tables at start, so that a source of many tables does not wait for each in turn); the source's own tables
    /// are skipped, as by <see cref="RegisterAsync"/>.</summary>
    /// <param name="tables">The tables; those registered already are skipped.</param>
    /// <param name="cancellationToken">Cancels the work.</param>
    public Task RegisterAllAsync(IEnumerable<SourceTable> tables, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(tables);
        return _runtime.RegisterAllAsync(tables.Where(t => t.Role == TableRole.Data), cancellationToken);
    }

    /// <summary>Writes an insert.</summary>
    /// <typeparam name="TImage">The connector's row image type.</typeparam>
    /// <typeparam name="TBlock">The connector's source block type.</typeparam>
    /// <param name="table">The table.</param>
    /// <param name="after">The new row.</param>
    /// <param name="block">The source block's per-event values.</param>
    public void Insert<TImage, TBlock>(SourceTable table, scoped in TImage after, scoped in TBlock block)
        where TImage : IRowImage, allows ref struct
        where TBlock : ISourceBlock, allows ref struct
    {
        if (table.Role != TableRole.Data)
        {
            OnControlRow(table, after);
            return;
        }

        var mark = Mark();
        try
        {
            Write(table, ChangeOperation.Create, after, beforePresent: false, after, afterPresent: true, after, hasFallback: false, block, SnapshotMarker.None, keyFromBefore: false);
        }
        catch
        {
            Rewind(mark);
            throw;
        }

        if (_snapshots is { HasOpenWindows: true } && _snapshots.WindowFor(table.Schemas.Table.Schema, table.Schemas.Table.Name) is { } chunk)
        {
            Seen(chunk, table, after, after, hasFallback: false);
        }
    }

    /// <summary>Writes a snapshot row (<c>op = r</c>).</summary>
    /// <typeparam name="TImage">The connector's row image type.</typeparam>
    /// <typeparam name="TBlock">The connector's source block type.</typeparam>
    /// <param name="table">The table.</param>
    /// <param name="row">The row.</param>
    /// <param name="block">The source block's per-event values.</param>
    /// <param name="snapshot">The <c>source.snapshot</c> marker.</param>
    public void Read<TImage, TBlock>(SourceTable table, scoped in TImage row, scoped in TBlock block, SnapshotMarker snapshot = SnapshotMarker.Snapshot)
        where TImage : IRowImage, allows ref struct
        where TBlock : ISourceBlock, allows ref struct
    {
        var mark = Mark();
        try
        {
            Write(table, ChangeOperation.Read, row, beforePresent: false, row, afterPresent: true, row, hasFallback: false, block, snapshot, keyFromBefore: false);
        }
        catch
        {
            Rewind(mark);
            throw;
        }
    }

    /// <summary>Writes an update; a changed key becomes delete, tombstone and create.</summary>
    /// <typeparam name="TImage">The connector's row image type.</typeparam>
    /// <typeparam name="TBlock">The connector's source block type.</typeparam>
    /// <param name="table">The table.</param>
    /// <param name="before">The old row, whole or only its key columns (the others <see cref="ColumnValueState.Missing"/>).</param>
    /// <param name="hasBefore">Whether the log carried an old row at all.</param>
    /// <param name="after">The new row.</param>
    /// <param name="block">The source block's per-event values.</param>
    public void Update<TImage, TBlock>(SourceTable table, scoped in TImage before, bool hasBefore, scoped in TImage after, scoped in TBlock block)
        where TImage : IRowImage, allows ref struct
        where TBlock : ISourceBlock, allows ref struct
    {
        if (table.Role != TableRole.Data)
        {
            OnControlRow(table, after);
            return;
        }

        var mark = Mark();
        try
        {
            var keyed = hasBefore && EnvelopeWriter.HasKey(table, before);
            if (keyed)
            {
                // The record's key from the before image, written once; the after image's key compared with it.
                var (keyStart, keyLength) = WriteKeyFrame(table, before, before, hasFallback: false);
                if (SameKey(table, keyStart, keyLength, after, before))
                {
                    var whole = EnvelopeWriter.IsComplete(table, before);
                    WriteEnvelope(table, ChangeOperation.Update, before, whole, after, afterPresent: true, before, hasFallback: true, block, SnapshotMarker.None, keyStart, keyLength);
                    return;
                }

                _buffer.Rewind(keyStart);
                var complete = EnvelopeWriter.IsComplete(table, before);
                Write(table, ChangeOperation.Delete, before, beforePresent: complete, after, afterPresent: false, before, hasFallback: false, block, SnapshotMarker.None, keyFromBefore: true);
                Tombstone(table);
                Write(table, ChangeOperation.Create, before, beforePresent: false, after, afterPresent: true, before, hasFallback: true, block, SnapshotMarker.None, keyFromBefore: false);
                return;
            }

            var full = hasBefore && EnvelopeWriter.IsComplete(table, before);
            Write(table, ChangeOperation.Update, before, beforePresent: full, after, afterPresent: true, before, hasFallback: hasBefore, block, SnapshotMarker.None, keyFromBefore: keyed);
        }
        catch
        {
            Rewind(mark);
            throw;
        }
        finally
        {
            // Inside a snapshot chunk's window: the rows of both keys are the log's now (a key change deletes the old one).
            if (_snapshots is { HasOpenWindows: true } && _snapshots.WindowFor(table.Schemas.Table.Schema, table.Schemas.Table.Name) is { } chunk)
            {
                if (hasBefore)
                {
                    Seen(chunk, table, before, before, hasFallback: false);
                }

                Seen(chunk, table, after, before, hasBefore);
            }
        }
    }

    /// <summary>Writes a delete (and its tombstone unless <see cref="ChangeEventOptions.Tombstones"/> is off).</summary>
    /// <typeparam name="TImage">The connector's row image type.</typeparam>
    /// <typeparam name="TBlock">The connector's source block type.</typeparam>
    /// <param name="table">The table.</param>
    /// <param name="before">The old row, whole or only its key columns.</param>
    /// <param name="block">The source block's per-event values.</param>
    /// <param name="tombstone">False for a delete whose key does not name one row alone (a tombstone under it would
    /// erase another event's latest value in a compacted topic): no tombstone even when they are on.</param>
    public void Delete<TImage, TBlock>(SourceTable table, scoped in TImage before, scoped in TBlock block, bool tombstone = true)
        where TImage : IRowImage, allows ref struct
        where TBlock : ISourceBlock, allows ref struct
    {
        if (table.Role != TableRole.Data)
        {
            return;
        }

        var mark = Mark();
        try
        {
            var complete = EnvelopeWriter.IsComplete(table, before);
            Write(table, ChangeOperation.Delete, before, beforePresent: complete, before, afterPresent: false, before, hasFallback: false, block, SnapshotMarker.None, keyFromBefore: true);
            if (tombstone)
            {
                Tombstone(table);
            }
        }
        catch
        {
            Rewind(mark);
            throw;
        }

        if (_snapshots is { HasOpenWindows: true } && _snapshots.WindowFor(table.Schemas.Table.Schema, table.Schemas.Table.Name) is { } chunk)
        {
            Seen(chunk, table, before, before, hasFallback: false);
        }
    }

    /// <summary>Writes a truncate (<c>op = t</c>, no key, partition 0), unless <see cref="ChangeEventOptions.EmitTruncates"/> is off.</summary>
    /// <typeparam name="TBlock">The connector's source block type.</typeparam>
    /// <param name="table">The table.</param>
    /// <param name="block">The source block's per-event values.</param>
    public void Truncate<TBlock>(SourceTable table, scoped in TBlock block)
        where TBlock : ISourceBlock, allows ref struct
    {
        ArgumentNullException.ThrowIfNull(table);
        if (table.Role != TableRole.Data)
        {
            return;
        }

        if (_snapshots is { HasOpenWindows: true } && _snapshots.WindowFor(table.Schemas.Table.Schema, table.Schemas.Table.Name) is { } chunk)
        {
            chunk.Truncated = true; // every row the chunk read is stale now
        }

        if (!_runtime.Events.EmitTruncates)
        {
            return;
        }

        var valueStart = _buffer.Written;
        ConfluentWireFormat.WriteHeader(_buffer, 0);
        var writer = new AvroWriter(_buffer);
        writer.WriteUnionIndex(0);
        writer.WriteUnionIndex(0);
        EnvelopeWriter.WriteSource(ref writer, table, block, SnapshotMarker.None);
        EnvelopeWriter.WriteTail(ref writer, ChangeOperation.Truncate, Now());
        writer.Flush();
        _pending.Add(new Pending(table, ChangeOperation.Truncate, 0, -1, valueStart, _buffer.Written - valueStart, 0, null, null));
    }

    /// <summary>Marks the position after everything written so far (a transaction's end): once Kafka acknowledged all of
    /// it, the position may be stored, and a restart resumes there.</summary>
    /// <param name="position">The position.</param>
    public void Checkpoint(TPosition position)
    {
        ArgumentNullException.ThrowIfNull(position);
        // The snapshot progress as of this position travels with it: stored together once Kafka acknowledged both.
        _pending.Add(new Pending(null, default, 0, -1, 0, -1, -1, new SourceCheckpoint<TPosition>(position, _snapshots?.Current), null));
    }

    /// <summary>The log has passed a snapshot watermark that the connector recognises in its own log rather than as a row
    /// of the watermark table (<see cref="SnapshotWatermarks.ReadOnly"/>, see <see cref="ISnapshotDialect"/>): a high
    /// watermark closes its chunk's window and writes the chunk's rows here, in the log's order, after everything written
    /// so far. A watermark the runtime no longer waits for (of an earlier attempt) is ignored.</summary>
    /// <param name="watermark">The watermark.</param>
    public void Watermark(string watermark)
    {
        ArgumentNullException.ThrowIfNull(watermark);
        if (_snapshots?.OnWatermark(watermark) is { } chunk)
        {
            Emit(chunk);
        }
    }

    /// <summary>Tells the runtime the connector now streams its log: snapshot watermarks written from now on will be read
    /// (the runtime starts the snapshot workers then). Call it once per run, when the log stream has started.</summary>
    public void StreamingStarted() => _snapshots?.StreamingStarted();

    /// <summary>Runs <paramref name="action"/> during the next <see cref="FlushAsync"/>, after the records written before
    /// this call were handed to Kafka and before the ones written after it (e.g. appending a DDL statement to a schema
    /// history in log order).</summary>
    /// <param name="action">The action.</param>
    public void InOrder(Func<CancellationToken, Task> action)
    {
        ArgumentNullException.ThrowIfNull(action);
        _pending.Add(new Pending(null, default, 0, -1, 0, -1, -1, null, action));
    }

    /// <summary>Hands everything written so far to Kafka, in order: registers new tables' schemas and creates their
    /// topics, produces the records (waiting for room while Kafka is slow or away: the backpressure that stops the
    /// connector reading its log), and passes checkpoints on.</summary>
    /// <param name="cancellationToken">Cancels the work.</param>
    public async ValueTask FlushAsync(CancellationToken cancellationToken)
    {
        var producer = _producer ?? throw new InvalidOperationException("This context only encodes; it has no producer.");
        _runtime.ReportAlive();
        if (_snapshots?.Fault is { } fault)
        {
            throw fault is SourceException ? fault : new SourceException(fault.Message, SourceErrors.IsTransient(fault), fault);
        }

        for (var i = 0; i < _pending.Count; i++)
        {
            var pending = _pending[i];
            if (pending.Action is { } action)
            {
                await action(cancellationToken).ConfigureAwait(false);
            }
            else if (pending.Checkpoint is { } position)
            {
                producer.Checkpoint(position);
                LastCheckpoint = position.Position;
                _runtime.Metrics?.Transaction();
            }
            else
            {
                var table = pending.Table!;
                if (!table.IsRegistered)
                {
                    await _runtime.RegisterAsync(table, cancellationToken).ConfigureAwait(false);
                }

                var source = (pending.Source ?? _buffer).WrittenSpan;
                var partition = pending.Partition >= 0 || pending.KeyLength < 0 ? Math.Max(0, pending.Partition) : table.PartitionOf(source.Slice(pending.KeyStart, pending.KeyLength));
                var key = Copy(_keys, source, pending.KeyStart, pending.KeyLength, table.KeySchemaId);
                var value = Copy(_values, source, pending.ValueStart, pending.ValueLength, table.ValueSchemaId);
                try
                {
                    await producer.ProduceAsync(table.Target(partition), key, value, cancellationToken).ConfigureAwait(false);
                }
                catch (Confluent.Kafka.ProduceException<byte[]?, byte[]?> ex) when (!producer.IsFaulted && !SourceErrors.IsTransient(ex) && key is null && pending.Operation == ChangeOperation.Truncate)
                {
                    throw new SourceException(
                        $"Source '{SourceName}': Kafka refused the truncate event of table {table.QualifiedName} for topic '{table.Topic}': {ex.Error.Reason}. " +
                        "A compacted topic refuses records without a key: set DataMesh:Events:EmitTruncates to false (or the source's Events.EmitTruncates), or make the topic not compacted.",
                        isTransient: false, ex);
                }
                catch (Confluent.Kafka.ProduceException<byte[]?, byte[]?> ex) when (!producer.IsFaulted && !SourceErrors.IsTransient(ex))
                {
                    // Refused at once, for this record (a failed delivery of an earlier one is reported by the runtime with its topic).
                    throw new SourceException(
                        $"Source '{SourceName}': Kafka refused a record of table {table.QualifiedName} for topic '{table.Topic}' ({(value?.Length ?? 0) + (key?.Length ?? 0)} bytes): {ex.Error.Reason}. " +
                        "For a record too large, raise the producer's message.max.bytes (DataMesh:Kafka:Settings) and the topic's max.message.bytes.",
                        isTransient: false, ex);
                }

                _runtime.Metrics?.Event(value is null ? -1 : (int)pending.Operation);
            }
        }

        _pending.Clear();
        _buffer.Clear();
        ReturnChunks();
        producer.CloseAbsorbed();
    }

    /// <summary>Asks the runtime to store the last checkpoint that Kafka acknowledged now, rather than at the next
    /// <see cref="SourceOptions.PositionSaveInterval"/>: for a connector that waits until a position is stored before it
    /// goes on (<see cref="SourceConnector{TPosition}.OnPositionStoredAsync"/> tells it), such as a first start that must
    /// find its starting point again after a crash. Call it after <see cref="FlushAsync"/> passed the checkpoint on; a
    /// checkpoint not yet acknowledged is stored at a later save, as always.</summary>
    public void RequestStore() => _runtime.RequestStore();

    /// <summary>Tells the runtime the connector is alive (it read from its log, a heartbeat included) for the stall
    /// watchdog. <see cref="FlushAsync"/> says it too.</summary>
    public void ReportAlive() => _runtime.ReportAlive();

    /// <summary>Tells the runtime how far the log has been read, for the lag metrics (and that the connector is alive).</summary>
    /// <param name="commitTimestampMs">The commit time of the last change read, in Unix milliseconds (0 if unknown).</param>
    /// <param name="bytesBehind">How many log bytes the server has written beyond the last acknowledged position, if known.</param>
    public void ReportProgress(long commitTimestampMs, long? bytesBehind = null)
    {
        _runtime.ReportAlive();
        _runtime.Metrics?.Progress(commitTimestampMs, bytesBehind);
    }

    /// <summary>The records written so far, framed with their tables' schema ids (registering tables through the host), and
    /// forgets them; checkpoints and actions are dropped. For tests and benchmarks of connectors.</summary>
    internal List<EncodedRecord> TakeEncoded()
    {
        var records = new List<EncodedRecord>();
        foreach (var pending in _pending)
        {
            if (pending.Table is not { } table)
            {
                continue;
            }

            if (!table.IsRegistered)
            {
                // Blocking is acceptable here: TakeEncoded serves tests and benchmarks (no synchronization context), never the runtime.
                _runtime.RegisterAsync(table, CancellationToken.None).GetAwaiter().GetResult();
            }

            var source = (pending.Source ?? _buffer).WrittenSpan;
            var key = pending.KeyLength < 0 ? null : source.Slice(pending.KeyStart, pending.KeyLength).ToArray();
            var value = pending.ValueLength < 0 ? null : source.Slice(pending.ValueStart, pending.ValueLength).ToArray();
            if (key is not null)
            {
                ConfluentWireFormat.WriteHeader(key, table.KeySchemaId);
            }

            if (value is not null)
            {
                ConfluentWireFormat.WriteHeader(value, table.ValueSchemaId);
            }

            records.Add(new EncodedRecord(table, pending.Operation, key, value, pending.Partition < 0 ? null : pending.Partition));
        }

        DiscardPending();
        return records;
    }

    /// <summary>Forgets what was written and not flushed (the runtime calls it before a retry).</summary>
    internal void DiscardPending()
    {
        _pending.Clear();
        _buffer.Clear();
        ReturnChunks();
    }

    /// <summary>The chunks whose rows were pending are produced (or dropped): their memory goes back to the engine.</summary>
    private void ReturnChunks()
    {
        foreach (var chunk in _chunks)
        {
            _snapshots!.Return(chunk);
        }

        _chunks.Clear();
    }

    /// <summary>A row of the watermark or signal table came through the log: it moves the snapshots on, and is not produced.</summary>
    private void OnControlRow<TImage>(SourceTable table, scoped in TImage row)
        where TImage : IRowImage, allows ref struct
    {
        if (_snapshots is not { } snapshots)
        {
            return;
        }

        if (table.Role == TableRole.Watermark)
        {
            if (ReadString(table, row, "source") != SourceName || ReadString(table, row, "watermark") is not { } watermark)
            {
                return; // another source's watermark
            }

            Watermark(watermark);
        }
        else if (ReadString(table, row, "id") is { } id && ReadString(table, row, "type") is { } type)
        {
            snapshots.OnSignal(id, type, ReadString(table, row, "data"));
        }
    }

    /// <summary>At a chunk's high watermark: its rows whose keys the log did not change in the window, now, in key order.</summary>
    private void Emit(SnapshotChunk chunk)
    {
        if (chunk.Stale)
        {
            chunk.Retry(); // the log changed the table's definition inside the window: read under the new one
            _snapshots!.Return(chunk);
            return;
        }

        var emitted = 0;
        List<string>? recheck = null;
        if (!chunk.Truncated)
        {
            var seen = chunk.Seen.GetAlternateLookup<ReadOnlySpan<byte>>();
            var incomplete = chunk.Incomplete.GetAlternateLookup<ReadOnlySpan<byte>>();
            var rows = chunk.Buffer.WrittenSpan;
            foreach (var row in chunk.Rows)
            {
                var match = rows.Slice(row.MatchStart, row.MatchLength);
                if (seen.Contains(match))
                {
                    if (chunk.Incomplete.Count > 0 && incomplete.Contains(match))
                    {
                        (recheck ??= []).Add(row.DialectKey(rows));
                    }

                    continue;
                }

                // Produced from the chunk's buffer, which goes back to the engine after the flush.
                _pending.Add(new Pending(chunk.Table, ChangeOperation.Read, row.KeyStart, row.KeyLength, row.ValueStart, row.ValueLength, chunk.Table.HasKey ? -1 : 0, null, null, chunk.Buffer));
                emitted++;
            }
        }

        // Rows referenced by pending records are read until the flush: the worker's next chunk gets other memory.
        var held = emitted > 0;
        _snapshots!.Emitted(chunk, emitted, recheck);
        if (held)
        {
            _chunks.Add(chunk);
        }
        else
        {
            _snapshots.Return(chunk);
        }
    }

    /// <summary>Records the snapshot key of a log event's row inside a chunk's window.</summary>
    private void Seen<TImage>(SnapshotChunk chunk, SourceTable table, scoped in TImage image, scoped in TImage fallback, bool hasFallback)
        where TImage : IRowImage, allows ref struct
    {
        if (!chunk.SameShapeAs(table))
        {
            chunk.Stale = true;
            return;
        }

        foreach (var index in chunk.MatchIndexes)
        {
            if (image.State(index) == ColumnValueState.Missing && (!hasFallback || fallback.State(index) == ColumnValueState.Missing))
            {
                return; // the image does not hold the whole key (a key-only before image of another key shape)
            }
        }

        _scratch.Clear();
        var writer = new AvroWriter(_scratch);
        foreach (var index in chunk.MatchIndexes)
        {
            EnvelopeWriter.WriteColumn(ref writer, table, index, image, fallback, hasFallback);
        }

        writer.Flush();
        var match = _scratch.WrittenSpan.ToArray();
        chunk.Seen.Add(match);
        for (var i = 0; i < table.Schemas.Table.Columns.Count; i++)
        {
            if (image.State(i) == ColumnValueState.Missing && (!hasFallback || fallback.State(i) == ColumnValueState.Missing))
            {
                // The event carries a placeholder for this column: the chunk's real value must still arrive, later.
                chunk.Incomplete.Add(match);
                break;
            }
        }
    }

    /// <summary>A text column's value of a row, or null.</summary>
    private string? ReadString<TImage>(SourceTable table, scoped in TImage row, string column)
        where TImage : IRowImage, allows ref struct
    {
        var index = table.Schemas.Table.IndexOf(column);
        if (index < 0 || row.State(index) != ColumnValueState.Value)
        {
            return null;
        }

        _scratch.Clear();
        var writer = new AvroWriter(_scratch);
        row.WriteValue(ref writer, index);
        writer.Flush();
        var reader = new AvroReader(_scratch.WrittenSpan);
        return reader.ReadString();
    }

    private (int Buffer, int Pending) Mark() => (_buffer.Written, _pending.Count);

    private void Rewind((int Buffer, int Pending) mark)
    {
        _buffer.Rewind(mark.Buffer);
        _pending.RemoveRange(mark.Pending, _pending.Count - mark.Pending);
    }

    /// <summary>Whether the key of <paramref name="after"/> (missing columns from <paramref name="fallback"/>) equals the key
    /// record written at <paramref name="keyStart"/>.</summary>
    private bool SameKey<TImage>(SourceTable table, int keyStart, int keyLength, scoped in TImage after, scoped in TImage fallback)
        where TImage : IRowImage, allows ref struct
    {
        _scratch.Clear();
        var writer = new AvroWriter(_scratch);
        EnvelopeWriter.WriteKey(ref writer, table, after, fallback, hasFallback: true);
        writer.Flush();
        return _buffer.WrittenSpan.Slice(keyStart + ConfluentWireFormat.HeaderLength, keyLength - ConfluentWireFormat.HeaderLength).SequenceEqual(_scratch.WrittenSpan);
    }

    /// <summary>Writes a key record (framed) from an image; (start, -1) for a table without a key.</summary>
    private (int Start, int Length) WriteKeyFrame<TImage>(SourceTable table, scoped in TImage image, scoped in TImage fallback, bool hasFallback)
        where TImage : IRowImage, allows ref struct
    {
        var keyStart = _buffer.Written;
        if (!table.HasKey)
        {
            return (keyStart, -1);
        }

        ConfluentWireFormat.WriteHeader(_buffer, 0);
        var keyWriter = new AvroWriter(_buffer);
        EnvelopeWriter.WriteKey(ref keyWriter, table, image, fallback, hasFallback);
        keyWriter.Flush();
        return (keyStart, _buffer.Written - keyStart);
    }

    private void Write<TImage, TBlock>(SourceTable table, ChangeOperation operation, scoped in TImage before, bool beforePresent, scoped in TImage after, bool afterPresent, scoped in TImage fallback, bool hasFallback, scoped in TBlock block, SnapshotMarker snapshot, bool keyFromBefore)
        where TImage : IRowImage, allows ref struct
        where TBlock : ISourceBlock, allows ref struct
    {
        ArgumentNullException.ThrowIfNull(table);
        var (keyStart, keyLength) = keyFromBefore
            ? WriteKeyFrame(table, before, before, hasFallback: false)
            : WriteKeyFrame(table, after, fallback, hasFallback);
        WriteEnvelope(table, operation, before, beforePresent, after, afterPresent, fallback, hasFallback, block, snapshot, keyStart, keyLength);
    }

    /// <summary>Writes an envelope (framed) after its key and adds the record.</summary>
    private void WriteEnvelope<TImage, TBlock>(SourceTable table, ChangeOperation operation, scoped in TImage before, bool beforePresent, scoped in TImage after, bool afterPresent, scoped in TImage fallback, bool hasFallback, scoped in TBlock block, SnapshotMarker snapshot, int keyStart, int keyLength)
        where TImage : IRowImage, allows ref struct
        where TBlock : ISourceBlock, allows ref struct
    {
        var valueStart = _buffer.Written;
        ConfluentWireFormat.WriteHeader(_buffer, 0);
        var writer = new AvroWriter(_buffer);
        EnvelopeWriter.WriteRow(ref writer, table, beforePresent, before, before, hasFallback: false);
        EnvelopeWriter.WriteRow(ref writer, table, afterPresent, after, fallback, hasFallback);
        EnvelopeWriter.WriteSource(ref writer, table, block, snapshot);
        EnvelopeWriter.WriteTail(ref writer, operation, Now());
        writer.Flush();
        _pending.Add(new Pending(table, operation, keyStart, keyLength, valueStart, _buffer.Written - valueStart, table.HasKey ? -1 : 0, null, null));
    }

    /// <summary>A tombstone under the key of the delete just written.</summary>
    private void Tombstone(SourceTable table)
    {
        if (!_runtime.Events.Tombstones || !table.HasKey)
        {
            return;
        }

        var delete = _pending[^1];
        _pending.Add(delete with { ValueStart = 0, ValueLength = -1 });
    }

    /// <summary>The envelope's <c>ts_ms</c>: the clock read at most once per tick of <see cref="Environment.TickCount64"/>.</summary>
    private long Now()
    {
        if (_runtime.FixedTimestampMs is { } fixedMs)
        {
            return fixedMs;
        }

        var tick = Environment.TickCount64;
        if (tick != _nowTick)
        {
            _nowTick = tick;
            _nowMs = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        }

        return _nowMs;
    }

    /// <summary>An exact-length array holding an encoded record with its schema id, reused for the next record of the same
    /// length once the Kafka client has copied it (it copies during Produce, and outcome-only delivery reports keep no
    /// reference to it).</summary>
    private static byte[]? Copy(byte[]?[] cache, ReadOnlySpan<byte> source, int start, int length, int schemaId)
    {
        if (length < 0)
        {
            return null;
        }

        var array = length > MaxCachedLength ? new byte[length] : cache[length] ??= new byte[length];
        source.Slice(start, length).CopyTo(array);
        ConfluentWireFormat.WriteHeader(array, schemaId);
        return array;
    }

    /// <summary>An encoded record (<see cref="TakeEncoded"/>).</summary>
    internal sealed record EncodedRecord(SourceTable Table, ChangeOperation Operation, byte[]? Key, byte[]? Value, int? Partition);

    /// <summary>A record (offsets into <see cref="Source"/>, or into the context's buffer when null; length -1 for no key or a
    /// tombstone; partition -1 to let the key choose), a checkpoint, or an action.</summary>
    private readonly record struct Pending(SourceTable? Table, ChangeOperation Operation, int KeyStart, int KeyLength, int ValueStart, int ValueLength, int Partition, SourceCheckpoint<TPosition>? Checkpoint, Func<CancellationToken, Task>? Action, RecordBuffer? Source = null);
}
