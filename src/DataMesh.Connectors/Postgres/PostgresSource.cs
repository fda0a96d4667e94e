using System.Buffers;
using System.Text;
using System.Text.Json;
using DataMesh.Avro;
using DataMesh.Events;
using DataMesh.Hosting;
using DataMesh.Schemas;
using DataMesh.Sources;
using Microsoft.Extensions.Logging;
using Npgsql;
using Npgsql.Replication;
using Npgsql.Replication.Internal;
using NpgsqlTypes;

namespace DataMesh.Connectors.Postgres;

/// <summary>
/// One run of a PostgreSQL source: checks the database, resumes from the stored position and streams pgoutput
/// changes as change events to Kafka until cancelled or until the connection fails (the hosted service retries).
/// A position is stored and confirmed to the slot only after Kafka acknowledged every event before it.
/// </summary>
internal sealed class PostgresSource : IAsyncDisposable
{
    private const long PostgresEpochMicros = 946_684_800_000_000L;

    private readonly string _name;
    private readonly PostgresSourceOptions _options;
    private readonly ChangeEventOptions _events;
    private readonly KafkaConnection _kafka;
    private readonly ISchemaStore _schemas;
    private readonly PositionStore _positions;
    private readonly ILogger _logger;
    private readonly PostgresMetrics _metrics;
    private readonly Dictionary<uint, PgRelation> _relations = [];
    private readonly RowMessage _row = new();
    private readonly ArrayBufferWriter<byte> _key = new(256);
    private readonly ArrayBufferWriter<byte> _value = new(1024);
    private readonly byte[] _placeholderBytes;
    private readonly HashSet<string> _ensuredTopics = new(StringComparer.Ordinal);
    private byte[] _message = ArrayPool<byte>.Shared.Rent(64 * 1024);
    private ChangeEventSink<ulong>? _sink;
    private NpgsqlConnection? _meta;
    private PostgresCatalog? _catalog;
    private LogicalReplicationConnection? _replication;
    private readonly HashSet<uint> _ignored = [];
    private readonly Dictionary<uint, HashSet<string>> _relaxed = [];
    private readonly Dictionary<string, string> _topicOwners = new(StringComparer.Ordinal);
    private TableFilter? _filter;
    private PublicationManager? _tables;
    private string _database = string.Empty;
    private int _moneyScale = 2;
    private BeginMessage _transaction;
    private bool _inTransaction;
    private ulong _lastCheckpoint;
    private ulong _stored;
    private byte[]? _lastKey;

    public PostgresSource(string name, PostgresSourceOptions options, ChangeEventOptions events, KafkaConnection kafka, ISchemaStore schemas, PositionStore positions, ILogger logger, PostgresMetrics metrics)
    {
        _name = name;
        _options = options;
        _events = events;
        _kafka = kafka;
        _schemas = schemas;
        _positions = positions;
        _logger = logger;
        _metrics = metrics;
        _placeholderBytes = Encoding.UTF8.GetBytes(options.UnavailableValuePlaceholder);
    }

    internal static SourceDescription Description(string name) =>
        new("postgresql", name, [new SourceField("lsn", SourceFieldType.NullableLong), new SourceField("commitLsn", SourceFieldType.NullableLong)]);

    /// <summary>The session settings under which pgoutput's text values have the forms <see cref="PgValueWriter"/> reads.</summary>
    internal static string SessionOptions => "-c DateStyle=ISO,YMD -c IntervalStyle=iso_8601 -c TimeZone=UTC -c extra_float_digits=3 -c bytea_output=hex";

    public async Task RunAsync(CancellationToken cancellationToken)
    {
        var builder = new NpgsqlConnectionStringBuilder(_options.ConnectionString);
        builder.Options = string.IsNullOrWhiteSpace(builder.Options) ? SessionOptions : builder.Options + " " + SessionOptions;
        builder.ApplicationName ??= "datamesh-" + _name;
        var slot = _options.Slot(_name);
        var publication = _options.Publication(_name);
        PostgresLog.Connecting(_logger, _name, builder.Host, builder.Port, builder.Database, builder.Username, slot, publication);

        _meta = new NpgsqlConnection(builder.ConnectionString);
        await _meta.OpenAsync(cancellationToken).ConfigureAwait(false);
        _database = _meta.Database;
        _catalog = new PostgresCatalog(_meta, _name);
        await _catalog.CheckServerAsync(cancellationToken).ConfigureAwait(false);
        _filter = new TableFilter(_options);
        _moneyScale = await _catalog.MoneyScaleAsync(cancellationToken).ConfigureAwait(false);
        _tables = new PublicationManager(_name, _options, _catalog, _logger);
        await _tables.StartAsync(publication, cancellationToken).ConfigureAwait(false);

        var stored = ParsePosition(await _positions.LoadAsync(_name, cancellationToken).ConfigureAwait(false));
        var existing = await WaitForSlotAsync(slot, cancellationToken).ConfigureAwait(false);

        _replication = new LogicalReplicationConnection(builder.ConnectionString);
        await _replication.Open(cancellationToken).ConfigureAwait(false);
        ulong start;
        string from;
        if (existing is null)
        {
            if (stored is not null)
            {
                throw new PostgresSourceException(
                    $"PostgreSQL source '{_name}': replication slot '{slot}' does not exist, but position {Lsn(stored.Value)} is stored for this source. " +
                    "The changes since then are no longer in a slot and cannot be streamed; reset the stored position to start afresh (and take a snapshot).");
            }

            if (!_options.CreateSlot)
            {
                throw new PostgresSourceException($"PostgreSQL source '{_name}': replication slot '{slot}' does not exist and CreateSlot is off.");
            }

            var created = await _replication.CreateLogicalReplicationSlot(slot, "pgoutput", isTemporary: false, LogicalSlotSnapshotInitMode.NoExport, twoPhase: false, cancellationToken).ConfigureAwait(false);
            start = (ulong)created.ConsistentPoint;
            from = "new slot";
            PostgresLog.SlotCreated(_logger, _name, slot, Lsn(start));
        }
        else if (stored is { } position && existing.Value.ConfirmedFlush > position)
        {
            // DataMesh stores a position before it confirms it to the slot, so the slot can only be behind the stored
            // position. Ahead of it, something else moved the slot (or the positions topic is an older copy): the
            // changes in between can no longer be streamed.
            throw new PostgresSourceException(
                $"PostgreSQL source '{_name}': replication slot '{slot}' is confirmed up to {Lsn(existing.Value.ConfirmedFlush)}, beyond the stored position {Lsn(position)}; " +
                "the changes in between were consumed by something else and cannot be streamed again. Reset the stored position to continue from the slot (and take a snapshot).");
        }
        else
        {
            start = Math.Max(stored ?? 0, existing.Value.ConfirmedFlush);
            from = stored is null ? "slot's confirmed position" : "stored position";
        }

        _lastCheckpoint = _stored = start;
        _metrics.AcknowledgedLsn = start;
        _sink = new ChangeEventSink<ulong>(_kafka);
        PostgresLog.Streaming(_logger, _name, Lsn(start), from);
        await StreamAsync(slot, publication, start, cancellationToken).ConfigureAwait(false);
    }

    private async Task StreamAsync(string slot, string publication, ulong start, CancellationToken cancellationToken)
    {
        var replicationSlot = new Npgsql.Replication.PgOutput.PgOutputReplicationSlot(new ReplicationSlotOptions(slot, new NpgsqlLogSequenceNumber(start)));
        var pluginOptions = new Dictionary<string, string?> { ["proto_version"] = "1", ["publication_names"] = CapturedTable.Quote(publication) };
        // The stream has a token of its own, cancelled whenever this method ends: a read left in flight by a failure
        // elsewhere (a heartbeat, a position save, a faulted sink) must not wait for the next message of an idle server.
        using var streaming = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var stream = _replication!.StartLogicalReplication(replicationSlot, streaming.Token, new NpgsqlLogSequenceNumber(start), pluginOptions);
        var enumerator = stream.GetAsyncEnumerator(streaming.Token);
        Task<bool>? pending = null;
        try
        {
            pending = enumerator.MoveNextAsync().AsTask();
            await PumpAsync(enumerator, () => pending, next => pending = next, slot, cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            await StopGracefullyAsync().ConfigureAwait(false);
            throw;
        }
        finally
        {
            // The enumerator cannot be disposed while a MoveNextAsync is in flight: cancel it and let it end first.
            await streaming.CancelAsync().ConfigureAwait(false);
            if (pending is not null)
            {
                try
                {
                    await pending.ConfigureAwait(false);
                }
                catch (Exception ex) when (ex is OperationCanceledException or NpgsqlException or IOException or PostgresException or ObjectDisposedException)
                {
                    // Already reported through the main path.
                }
            }

            try
            {
                await enumerator.DisposeAsync().ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is NotSupportedException or NpgsqlException or IOException or ObjectDisposedException)
            {
                // The connection is closed right after; nothing of the stream's state is needed any more.
            }
        }
    }

    private async Task PumpAsync(IAsyncEnumerator<XLogDataMessage> enumerator, Func<Task<bool>> getPending, Action<Task<bool>> setPending, string slot, CancellationToken cancellationToken)
    {
        var nextCommit = DateTime.UtcNow + _options.CommitInterval;
        var nextHeartbeat = DateTime.UtcNow + _options.HeartbeatInterval;
        while (true)
        {
            var pending = getPending();
            if (!pending.IsCompleted)
            {
                var wait = Math.Max(1, (int)(Min(nextCommit, nextHeartbeat) - DateTime.UtcNow).TotalMilliseconds);
                using var delayCancel = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
                var delay = Task.Delay(wait, delayCancel.Token);
                var first = await Task.WhenAny(pending, delay).ConfigureAwait(false);
                await delayCancel.CancelAsync().ConfigureAwait(false);
                if (first != pending)
                {
                    cancellationToken.ThrowIfCancellationRequested();
                    if (DateTime.UtcNow >= nextHeartbeat)
                    {
                        await HeartbeatAsync(pending, cancellationToken).ConfigureAwait(false);
                        nextHeartbeat = DateTime.UtcNow + _options.HeartbeatInterval;
                    }

                    if (DateTime.UtcNow >= nextCommit)
                    {
                        await CommitAcknowledgedAsync(cancellationToken).ConfigureAwait(false);
                        await _tables!.RefreshIfDueAsync(cancellationToken).ConfigureAwait(false);
                        nextCommit = DateTime.UtcNow + _options.CommitInterval;
                    }

                    continue;
                }
            }

            if (!await pending.ConfigureAwait(false))
            {
                throw new IOException($"PostgreSQL ended the replication stream of slot '{slot}'.");
            }

            var message = enumerator.Current;
            var length = await ReadMessageAsync(message.Data, cancellationToken).ConfigureAwait(false);
            _metrics.ServerWalEnd = Math.Max(_metrics.ServerWalEnd, (ulong)message.WalEnd);
            var lsn = (ulong)message.WalStart;
            await HandleAsync(_message.AsMemory(0, length), lsn, cancellationToken).ConfigureAwait(false);
            if (_message.Length > 4 * 1024 * 1024)
            {
                // One huge value (a large TOASTed row) does not pin a huge buffer for the rest of the run.
                ArrayPool<byte>.Shared.Return(_message);
                _message = ArrayPool<byte>.Shared.Rent(64 * 1024);
            }

            setPending(enumerator.MoveNextAsync().AsTask());
            if (DateTime.UtcNow >= nextCommit)
            {
                await CommitAcknowledgedAsync(cancellationToken).ConfigureAwait(false);
                await _tables!.RefreshIfDueAsync(cancellationToken).ConfigureAwait(false);
                nextCommit = DateTime.UtcNow + _options.CommitInterval;
            }
        }
    }

    private async ValueTask<int> ReadMessageAsync(Stream data, CancellationToken cancellationToken)
    {
        var length = 0;
        while (true)
        {
            if (length == _message.Length)
            {
                if (_message.Length >= Array.MaxLength / 2)
                {
                    throw new PostgresSourceException($"PostgreSQL source '{_name}': a pgoutput message is larger than {_message.Length} bytes, more than the connector can hold.");
                }

                var larger = ArrayPool<byte>.Shared.Rent(_message.Length * 2);
                _message.AsSpan().CopyTo(larger);
                ArrayPool<byte>.Shared.Return(_message);
                _message = larger;
            }

            var read = await data.ReadAsync(_message.AsMemory(length), cancellationToken).ConfigureAwait(false);
            if (read == 0)
            {
                return length;
            }

            length += read;
        }
    }

    private async Task HandleAsync(ReadOnlyMemory<byte> message, ulong lsn, CancellationToken cancellationToken)
    {
        if (message.IsEmpty)
        {
            throw new FormatException("an empty pgoutput message");
        }

        try
        {
            switch ((PgOutputKind)message.Span[0])
            {
                case PgOutputKind.Begin:
                    _transaction = BeginMessage.Parse(message.Span);
                    _inTransaction = true;
                    break;
                case PgOutputKind.Commit:
                    var commit = CommitMessage.Parse(message.Span);
                    _inTransaction = false;
                    if (commit.EndLsn > _lastCheckpoint)
                    {
                        _sink!.Checkpoint(commit.EndLsn);
                        _lastCheckpoint = commit.EndLsn;
                    }

                    break;
                case PgOutputKind.Relation:
                    await OnRelationAsync(RelationMessage.Parse(message.Span), cancellationToken).ConfigureAwait(false);
                    break;
                case PgOutputKind.Insert:
                case PgOutputKind.Update:
                case PgOutputKind.Delete:
                    await OnRowAsync(message, lsn, cancellationToken).ConfigureAwait(false);
                    break;
                case PgOutputKind.Truncate:
                    await OnTruncateAsync(TruncateMessage.Parse(message.Span), lsn, cancellationToken).ConfigureAwait(false);
                    break;
                case PgOutputKind.Type:
                case PgOutputKind.Origin:
                case PgOutputKind.Message:
                    break;
                default:
                    throw new FormatException($"Unknown pgoutput message type 0x{message.Span[0]:x2}.");
            }
        }
        catch (FormatException ex)
        {
            throw new PostgresSourceException($"PostgreSQL source '{_name}': cannot decode the change at LSN {Lsn(lsn)}: {ex.Message}", ex);
        }
    }

    private async Task OnRelationAsync(RelationMessage relation, CancellationToken cancellationToken)
    {
        if (!_filter!.Captures(relation.Namespace, relation.Name))
        {
            // A publication for all tables (or one managed elsewhere) also sends tables this source does not capture.
            _ignored.Add(relation.RelationId);
            _relations.Remove(relation.RelationId);
            return;
        }

        _ignored.Remove(relation.RelationId);
        try
        {
            await DescribeAsync(relation, cancellationToken).ConfigureAwait(false);
        }
        catch (ArgumentException ex)
        {
            throw new PostgresSourceException($"PostgreSQL source '{_name}': table {relation.Namespace}.{relation.Name} cannot be described as change events: {ex.Message}", ex);
        }
    }

    private async Task DescribeAsync(RelationMessage relation, CancellationToken cancellationToken)
    {
        var types = await _catalog!.GetTypesAsync(relation.Columns.Select(c => c.TypeOid), cancellationToken).ConfigureAwait(false);
        var columnTypes = relation.Columns.Select(c => PgColumnType.Resolve(c.TypeOid, c.TypeModifier, types, _moneyScale)).ToArray();
        var catalog = await _catalog.GetColumnsAsync(relation.RelationId, cancellationToken).ConfigureAwait(false);
        _relations.TryGetValue(relation.RelationId, out var known);
        var relaxed = _relaxed.TryGetValue(relation.RelationId, out var set) ? set : [];
        var table = PgRelation.Describe(relation, catalog, columnTypes, known?.Schemas.Table, relaxed);
        if (known is not null && PgRelation.SameShape(known.Schemas.Table, table))
        {
            _relations[relation.RelationId] = new PgRelation(relation, known.Schemas, columnTypes, known.KeySchemaId, known.ValueSchemaId, captured: true);
            return;
        }

        var schemas = ChangeEventSchemas.Build(table, Description(_name), _events);
        var qualified = $"{relation.Namespace}.{relation.Name}";
        if (_topicOwners.TryGetValue(schemas.Topic, out var owner) && owner != qualified)
        {
            throw new PostgresSourceException(
                $"PostgreSQL source '{_name}': tables {owner} and {qualified} map to the same topic '{schemas.Topic}'; exclude one of them or rename it.");
        }

        _topicOwners[schemas.Topic] = qualified;
        var keyId = schemas.KeySchema is null ? 0 : await RegisterAsync(schemas.KeySubject, schemas.KeySchema, table, cancellationToken).ConfigureAwait(false);
        var valueId = await RegisterAsync(schemas.ValueSubject, schemas.EnvelopeSchema, table, cancellationToken).ConfigureAwait(false);
        if (_ensuredTopics.Add(schemas.Topic))
        {
            await _kafka.EnsureTopicAsync(schemas.Topic, _options.TopicPartitions, TopicRetention.Default, cancellationToken).ConfigureAwait(false);
        }

        _relations[relation.RelationId] = new PgRelation(relation, schemas, columnTypes, keyId, valueId, captured: true);
        PostgresLog.SchemaRegistered(_logger, _name, qualified, keyId, valueId, schemas.Topic);
    }

    private async Task<int> RegisterAsync(string subject, global::Avro.Schema schema, TableDescription table, CancellationToken cancellationToken)
    {
        try
        {
            return await _schemas.RegisterAsync(subject, schema, cancellationToken).ConfigureAwait(false);
        }
        catch (SchemaIncompatibleException ex) when (_options.IncompatibleSchemaChange == IncompatibleSchemaChangePolicy.NewVersionWithNone)
        {
            PostgresLog.IncompatibleSchemaAccepted(_logger, _name, $"{table.Schema}.{table.Name}", subject, ex.Message);
            await _schemas.SetCompatibilityAsync(subject, CompatibilityLevel.None, cancellationToken).ConfigureAwait(false);
            return await _schemas.RegisterAsync(subject, schema, cancellationToken).ConfigureAwait(false);
        }
        catch (SchemaIncompatibleException ex)
        {
            throw new PostgresSourceException(
                $"PostgreSQL source '{_name}': the new schema of table {table.Schema}.{table.Name} is incompatible: {ex.Message} " +
                "Set IncompatibleSchemaChange to NewVersionWithNone to register it anyway.", ex);
        }
    }

    private async Task OnRowAsync(ReadOnlyMemory<byte> message, ulong lsn, CancellationToken cancellationToken)
    {
        var row = _row;
        row.Parse(message.Span);
        if (_ignored.Contains(row.RelationId))
        {
            return;
        }

        if (!_relations.TryGetValue(row.RelationId, out var relation))
        {
            throw new FormatException($"a {row.Kind} for relation {row.RelationId}, which no RELATION message described.");
        }

        while (true)
        {
            try
            {
                await EmitRowAsync(relation, row, message, lsn, cancellationToken).ConfigureAwait(false);
                return;
            }
            catch (NullInNotNullColumnException ex)
            {
                // The catalog said NOT NULL, but this change (older than a migration, say) has a NULL: the column becomes
                // nullable in a new schema version (a compatible change) and the row is written again. A part of the
                // row's events already produced may repeat, which at-least-once allows.
                if (!_relaxed.TryGetValue(row.RelationId, out var relaxed))
                {
                    _relaxed[row.RelationId] = relaxed = new HashSet<string>(StringComparer.Ordinal);
                }

                if (!relaxed.Add(ex.Column))
                {
                    throw;
                }

                await DescribeAsync(relation.Message, cancellationToken).ConfigureAwait(false);
                relation = _relations[row.RelationId];
            }
        }
    }

    private async Task EmitRowAsync(PgRelation relation, RowMessage row, ReadOnlyMemory<byte> message, ulong lsn, CancellationToken cancellationToken)
    {

        var columns = relation.ColumnTypes.Length;
        if ((row.HasNew && row.New.Count != columns) || (row.OldKind != '\0' && row.Old.Count != columns))
        {
            throw new FormatException($"a {row.Kind} on {relation.QualifiedName} has {(row.HasNew ? row.New.Count : row.Old.Count)} columns; its RELATION message has {columns}.");
        }

        var source = new SourceState(relation, _transaction, lsn);
        switch (row.Kind)
        {
            case PgOutputKind.Insert:
                await EmitAsync(relation, ChangeOperation.Create, message, keyFrom: row.New, before: null, after: row.New, fallback: null, source, cancellationToken).ConfigureAwait(false);
                break;
            case PgOutputKind.Update when row.OldKind == 'K' || (row.OldKind == 'O' && KeyChanged(relation, message.Span, row)):
                // The key changed: the old key is deleted (and tombstoned) and the new key created, so that keyed and
                // compacted consumers drop the old row. With REPLICA IDENTITY FULL the delete carries the whole old row.
                await EmitAsync(relation, ChangeOperation.Delete, message, keyFrom: row.Old, before: row.OldKind == 'O' ? row.Old : null, after: null, fallback: null, source, cancellationToken).ConfigureAwait(false);
                await TombstoneAsync(relation, cancellationToken).ConfigureAwait(false);
                await EmitAsync(relation, ChangeOperation.Create, message, keyFrom: row.New, before: null, after: row.New, fallback: row.OldKind == 'O' ? row.Old : null, source, cancellationToken).ConfigureAwait(false);
                break;
            case PgOutputKind.Update:
                await EmitAsync(relation, ChangeOperation.Update, message, keyFrom: row.New, before: row.OldKind == 'O' ? row.Old : null, after: row.New, fallback: row.OldKind == 'O' ? row.Old : null, source, cancellationToken).ConfigureAwait(false);
                break;
            case PgOutputKind.Delete:
                await EmitAsync(relation, ChangeOperation.Delete, message, keyFrom: row.Old, before: row.OldKind == 'O' ? row.Old : null, after: null, fallback: null, source, cancellationToken).ConfigureAwait(false);
                await TombstoneAsync(relation, cancellationToken).ConfigureAwait(false);
                break;
        }
    }

    private static bool KeyChanged(PgRelation relation, ReadOnlySpan<byte> message, RowMessage row)
    {
        foreach (var index in relation.KeyIndexes)
        {
            if (row.New.Kind(index) != TupleValueKind.UnchangedToast && !row.New.Value(message, index).SequenceEqual(row.Old.Value(message, index)))
            {
                return true;
            }
        }

        return false;
    }

    private async Task OnTruncateAsync(TruncateMessage truncate, ulong lsn, CancellationToken cancellationToken)
    {
        foreach (var id in truncate.RelationIds)
        {
            if (_ignored.Contains(id) || !_relations.TryGetValue(id, out var relation))
            {
                continue;
            }

            _value.ResetWrittenCount();
            ConfluentWireFormat.WriteHeader(_value, relation.ValueSchemaId);
            var writer = new AvroWriter(_value);
            writer.WriteUnionIndex(0);
            writer.WriteUnionIndex(0);
            WriteSource(ref writer, new SourceState(relation, _transaction, lsn));
            writer.WriteStringUtf8(ChangeOperation.Truncate.ToUtf8Code());
            writer.WriteUnionIndex(1);
            writer.WriteLong(DateTimeOffset.UtcNow.ToUnixTimeMilliseconds());
            writer.Flush();
            await _sink!.ProduceAsync(relation.Schemas.Topic, null, _value.WrittenSpan.ToArray(), cancellationToken, partition: 0).ConfigureAwait(false);
            _metrics.Produced(3);
            PostgresLog.Truncated(_logger, _name, relation.QualifiedName);
        }
    }

    private async ValueTask EmitAsync(PgRelation relation, ChangeOperation operation, ReadOnlyMemory<byte> message, PgTuple keyFrom, PgTuple? before, PgTuple? after, PgTuple? fallback, SourceState source, CancellationToken cancellationToken)
    {
        byte[]? key = null;
        if (relation.KeySchemaId != 0)
        {
            _key.ResetWrittenCount();
            ConfluentWireFormat.WriteHeader(_key, relation.KeySchemaId);
            var keyWriter = new AvroWriter(_key);
            foreach (var index in relation.KeyIndexes)
            {
                WriteColumn(ref keyWriter, relation, index, message.Span, keyFrom, fallback, source.Lsn);
            }

            keyWriter.Flush();
            key = _key.WrittenSpan.ToArray();
        }

        _value.ResetWrittenCount();
        ConfluentWireFormat.WriteHeader(_value, relation.ValueSchemaId);
        var writer = new AvroWriter(_value);
        WriteRow(ref writer, relation, message.Span, before, null, source.Lsn);
        WriteRow(ref writer, relation, message.Span, after, fallback, source.Lsn);
        WriteSource(ref writer, source);
        writer.WriteStringUtf8(operation.ToUtf8Code());
        writer.WriteUnionIndex(1);
        writer.WriteLong(DateTimeOffset.UtcNow.ToUnixTimeMilliseconds());
        writer.Flush();
        if (_sink!.InFlight == 0)
        {
            _metrics.OldestPendingCommitMs = source.CommitMs;
        }

        try
        {
            // Events without a key all go to partition 0, so that they keep their order.
            await _sink.ProduceAsync(relation.Schemas.Topic, key, _value.WrittenSpan.ToArray(), cancellationToken, key is null ? 0 : null).ConfigureAwait(false);
        }
        catch (Confluent.Kafka.ProduceException<byte[]?, byte[]?> ex) when (!PostgresSourceService.IsTransient(ex))
        {
            throw new PostgresSourceException(
                $"PostgreSQL source '{_name}': Kafka refused the {operation} event of table {relation.QualifiedName} at LSN {Lsn(source.Lsn)} ({_value.WrittenCount} bytes) for topic '{relation.Schemas.Topic}': {ex.Error.Reason}. " +
                "For a record too large, raise the producer's message.max.bytes (DataMesh:Kafka:Settings) and the topic's max.message.bytes.", ex);
        }
        _metrics.Produced((int)operation switch { 0 => 0, 1 => 1, 2 => 2, _ => 4 });
        _lastKey = key;
    }

    /// <summary>A tombstone for the key of the delete just produced (its Kafka key), unless tombstones are off.</summary>
    private ValueTask TombstoneAsync(PgRelation relation, CancellationToken cancellationToken)
    {
        return _events.Tombstones && _lastKey is not null
            ? _sink!.ProduceAsync(relation.Schemas.Topic, _lastKey, null, cancellationToken)
            : ValueTask.CompletedTask;
    }

    private void WriteRow(ref AvroWriter writer, PgRelation relation, ReadOnlySpan<byte> message, PgTuple? tuple, PgTuple? fallback, ulong lsn)
    {
        if (tuple is null)
        {
            writer.WriteUnionIndex(0);
            return;
        }

        writer.WriteUnionIndex(1);
        for (var i = 0; i < relation.ColumnTypes.Length; i++)
        {
            WriteColumn(ref writer, relation, i, message, tuple, fallback, lsn);
        }
    }

    private void WriteColumn(ref AvroWriter writer, PgRelation relation, int column, ReadOnlySpan<byte> message, PgTuple tuple, PgTuple? fallback, ulong lsn)
    {
        var kind = tuple.Kind(column);
        if (kind == TupleValueKind.UnchangedToast && fallback is not null && fallback.Kind(column) is TupleValueKind.Text or TupleValueKind.Null)
        {
            tuple = fallback;
            kind = fallback.Kind(column);
        }

        var nullable = relation.Nullable[column];
        switch (kind)
        {
            case TupleValueKind.Null:
                if (!nullable)
                {
                    if (relation.KeyIndexes.Contains(column))
                    {
                        throw ColumnError(relation, column, lsn, "PostgreSQL sent NULL for a key column", null);
                    }

                    throw new NullInNotNullColumnException(relation.Message.Columns[column].Name);
                }

                writer.WriteUnionIndex(0);
                return;
            case TupleValueKind.UnchangedToast:
                if (nullable)
                {
                    writer.WriteUnionIndex(1);
                }

                WritePlaceholder(ref writer, relation, column, lsn);
                return;
            case TupleValueKind.Text:
                if (nullable)
                {
                    writer.WriteUnionIndex(1);
                }

                try
                {
                    PgValueWriter.Write(ref writer, relation.ColumnTypes[column], tuple.Value(message, column), _events.DecimalHandling);
                }
                catch (Exception ex) when (ex is FormatException or ArgumentException or OverflowException)
                {
                    throw ColumnError(relation, column, lsn, ex.Message, ex);
                }

                return;
            default:
                throw ColumnError(relation, column, lsn, $"unexpected tuple value kind '{(char)kind}'", null);
        }
    }

    private void WritePlaceholder(ref AvroWriter writer, PgRelation relation, int column, ulong lsn)
    {
        var type = relation.ColumnTypes[column].DataType;
        switch (type.Kind)
        {
            case DataTypeKind.String or DataTypeKind.Json or DataTypeKind.Text or DataTypeKind.Interval or DataTypeKind.Bits or DataTypeKind.TimeWithOffset:
            case DataTypeKind.Decimal or DataTypeKind.VariableDecimal when _events.DecimalHandling == DecimalHandling.String:
                writer.WriteStringUtf8(_placeholderBytes);
                break;
            case DataTypeKind.Bytes:
                writer.WriteBytes(_placeholderBytes);
                break;
            default:
                throw ColumnError(relation, column, lsn,
                    $"PostgreSQL did not send this unchanged TOASTed {type.DatabaseType} value and it has no placeholder form; run ALTER TABLE {CapturedTable.Quote(relation.Message.Namespace)}.{CapturedTable.Quote(relation.Message.Name)} REPLICA IDENTITY FULL; so that the real value is sent",
                    null);
        }
    }

    private PostgresSourceException ColumnError(PgRelation relation, int column, ulong lsn, string reason, Exception? inner)
    {
        var message = $"PostgreSQL source '{_name}': table {relation.QualifiedName}, column '{relation.Message.Columns[column].Name}' ({relation.ColumnTypes[column].DataType.DatabaseType}), change at LSN {Lsn(lsn)}: {reason}";
        return inner is null ? new PostgresSourceException(message) : new PostgresSourceException(message, inner);
    }

    /// <summary>Writes the source block in the layout of <see cref="ChangeEventSchemas"/> (common fields, then lsn and commitLsn).</summary>
    private void WriteSource(ref AvroWriter writer, SourceState source)
    {
        writer.WriteString(ChangeEventSchemas.LibraryVersion);
        writer.WriteStringUtf8("postgresql"u8);
        writer.WriteString(_name);
        writer.WriteLong(source.CommitMs);
        writer.WriteStringUtf8("false"u8);
        writer.WriteString(_database);
        writer.WriteUnionIndex(1);
        writer.WriteString(source.Relation.Message.Namespace);
        writer.WriteUnionIndex(1);
        writer.WriteString(source.Relation.Message.Name);
        writer.WriteUnionIndex(1);
        writer.WriteLong(source.Xid);
        writer.WriteUnionIndex(1);
        writer.WriteLong((long)source.Lsn);
        writer.WriteUnionIndex(1);
        writer.WriteLong((long)source.CommitLsn);
    }

    private async Task HeartbeatAsync(Task<bool> pending, CancellationToken cancellationToken)
    {
        if (!string.IsNullOrWhiteSpace(_options.HeartbeatActionQuery))
        {
            try
            {
                await _catalog!.ExecuteAsync(_options.HeartbeatActionQuery, cancellationToken).ConfigureAwait(false);
            }
            catch (PostgresException ex) when (!PostgresSourceService.IsTransient(ex))
            {
                throw new PostgresSourceException($"PostgreSQL source '{_name}': HeartbeatActionQuery failed: {ex.MessageText} ({ex.SqlState}).", ex);
            }
        }

        // Idle (no transaction open, nothing in flight, no message waiting): everything the server has sent is
        // processed and acknowledged, so the slot may move to the last position the server reported.
        var received = (ulong)_replication!.LastReceivedLsn;
        if (!pending.IsCompleted && !_inTransaction && _sink!.InFlight == 0 && received > _lastCheckpoint)
        {
            _sink.Checkpoint(received);
            _lastCheckpoint = received;
            PostgresLog.Heartbeat(_logger, _name, Lsn(received));
        }

        await CommitAcknowledgedAsync(cancellationToken).ConfigureAwait(false);
    }

    private async Task CommitAcknowledgedAsync(CancellationToken cancellationToken)
    {
        _sink!.ThrowIfFaulted();
        if (_sink.InFlight == 0)
        {
            _metrics.OldestPendingCommitMs = 0;
        }

        if (!_sink.TryTakeAcknowledged(out var lsn) || lsn <= _stored)
        {
            return;
        }

        await _positions.SaveAsync(_name, FormatPosition(lsn), cancellationToken).ConfigureAwait(false);
        _stored = lsn;
        _metrics.AcknowledgedLsn = lsn;
        _replication!.SetReplicationStatus(new NpgsqlLogSequenceNumber(lsn));
        PostgresLog.PositionStored(_logger, _name, Lsn(lsn));
    }

    private async Task StopGracefullyAsync()
    {
        if (_sink is null)
        {
            return;
        }

        using var timeout = new CancellationTokenSource(_options.ShutdownTimeout);
        try
        {
            await _sink.FlushAsync(timeout.Token).ConfigureAwait(false);
            await CommitAcknowledgedAsync(timeout.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            // Whatever was not acknowledged in time is streamed again on the next start.
        }

        PostgresLog.Stopped(_logger, _name, Lsn(_stored));
    }

    private async Task<(int? ActivePid, ulong ConfirmedFlush)?> WaitForSlotAsync(string slot, CancellationToken cancellationToken)
    {
        var deadline = DateTime.UtcNow + _options.SlotBusyTimeout;
        var logged = false;
        while (true)
        {
            var state = await _catalog!.GetSlotAsync(slot, cancellationToken).ConfigureAwait(false);
            if (state?.ActivePid is not { } pid)
            {
                return state;
            }

            if (DateTime.UtcNow >= deadline)
            {
                // Transient: a connector that just died holds its slot until PostgreSQL notices (wal_sender_timeout), so the
                // hosted service retries with backoff and logs this message each time.
                throw new PostgresSourceException(
                    $"PostgreSQL source '{_name}': replication slot '{slot}' is active for PID {pid}: another connector (or replica) is streaming from it. " +
                    "Stop it, or give this source another SlotName.",
                    isTransient: true);
            }

            if (!logged)
            {
                PostgresLog.SlotBusy(_logger, _name, slot, pid);
                logged = true;
            }

            await Task.Delay(500, cancellationToken).ConfigureAwait(false);
        }
    }

    internal static string FormatPosition(ulong lsn) => JsonSerializer.Serialize(new Dictionary<string, string> { ["lsn"] = Lsn(lsn) });

    internal static ulong? ParsePosition(string? json)
    {
        if (json is null)
        {
            return null;
        }

        try
        {
            using var document = JsonDocument.Parse(json);
            return (ulong)NpgsqlLogSequenceNumber.Parse(document.RootElement.GetProperty("lsn").GetString()!);
        }
        catch (Exception ex) when (ex is JsonException or KeyNotFoundException or FormatException or OverflowException or InvalidOperationException)
        {
            throw new PostgresSourceException($"The stored position '{json}' of this PostgreSQL source is not a PostgreSQL position ({{\"lsn\":\"X/Y\"}}): {ex.Message}", ex);
        }
    }

    internal static string Lsn(ulong lsn) => new NpgsqlLogSequenceNumber(lsn).ToString();

    private static DateTime Min(DateTime a, DateTime b) => a < b ? a : b;

    public async ValueTask DisposeAsync()
    {
        _sink?.Dispose();
        if (_replication is not null)
        {
            await _replication.DisposeAsync().ConfigureAwait(false);
        }

        if (_meta is not null)
        {
            await _meta.DisposeAsync().ConfigureAwait(false);
        }

        ArrayPool<byte>.Shared.Return(_message);
        _message = [];
    }

    private readonly struct SourceState(PgRelation relation, BeginMessage transaction, ulong lsn)
    {
        public PgRelation Relation { get; } = relation;

        public ulong Lsn { get; } = lsn;

        public ulong CommitLsn { get; } = transaction.FinalLsn;

        public long Xid { get; } = transaction.Xid;

        public long CommitMs { get; } = (transaction.CommitTimeMicros + PostgresEpochMicros) / 1000;
    }
}

/// <summary>A NULL met in a column described as NOT NULL; the source relaxes the column and writes the row again.</summary>
internal sealed class NullInNotNullColumnException(string column) : Exception($"NULL in column '{column}', described as NOT NULL")
{
    public string Column { get; } = column;
}
