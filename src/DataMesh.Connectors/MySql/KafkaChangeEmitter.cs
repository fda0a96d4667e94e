using System.Buffers;
using DataMesh.Avro;
using DataMesh.Connectors.MySql.Binlog;
using DataMesh.Connectors.MySql.Schema;
using DataMesh.Events;
using DataMesh.Hosting;
using DataMesh.Schemas;
using DataMesh.Sources;
using Microsoft.Extensions.Logging;

namespace DataMesh.Connectors.MySql;

/// <summary>
/// Turns what <see cref="BinlogProcessor"/> reads into Kafka records: keys and envelopes encoded straight from the
/// binlog bytes while the event is in hand, then (in <see cref="FlushAsync"/>, between events) schemas registered,
/// topics created, records produced through <see cref="ChangeEventSink{TPosition}"/> in binlog order, transaction
/// ends marked as checkpoints and DDL written to the schema history, in the order they happened.
/// </summary>
internal sealed class KafkaChangeEmitter : IBinlogHandler
{
    /// <summary>Records up to this length go to Kafka in arrays reused per length (at most 2 MB of arrays per cache); longer
    /// ones in a new array each, whose cost is small next to the record's.</summary>
    private const int MaxCachedLength = 2048;

    private readonly string _source;
    private readonly MySqlSourceOptions _options;
    private readonly ChangeEventOptions _events;
    private readonly ISchemaStore _schemas;
    private readonly KafkaConnection _kafka;
    private readonly ChangeEventSink<MySqlPosition> _sink;
    private readonly SchemaHistory _history;
    private readonly ILogger _logger;
    private readonly MySqlMetrics _metrics;
    private readonly RowEncoder _rows;
    private readonly Dictionary<MySqlTable, TableTopic> _topics = new(ReferenceEqualityComparer.Instance);
    private readonly List<Pending> _pending = [];
    private readonly ArrayBufferWriter<byte> _encoded = new(1 << 16);
    private readonly byte[]?[] _keys = new byte[]?[MaxCachedLength + 1];
    private readonly byte[]?[] _values = new byte[]?[MaxCachedLength + 1];
    private long _rowsSinceFlush;
    private long _timestampPosition = -1;
    private long _timestampMs;

    public KafkaChangeEmitter(MySqlSourceOptions options, ChangeEventOptions events, ISchemaStore schemas, KafkaConnection kafka, ChangeEventSink<MySqlPosition> sink, SchemaHistory history, ILogger logger, MySqlMetrics metrics)
    {
        _source = options.Name;
        _options = options;
        _events = events;
        _schemas = schemas;
        _kafka = kafka;
        _sink = sink;
        _history = history;
        _logger = logger;
        _metrics = metrics;
        _rows = new RowEncoder(events.DecimalHandling);
    }

    /// <summary>The processor whose state gives the positions of commits.</summary>
    public BinlogProcessor? Processor { get; set; }

    /// <summary>The position after the last transaction read (not yet necessarily acknowledged).</summary>
    public MySqlPosition? LastCommitted { get; private set; }

    public bool HasPending => _pending.Count > 0;

    public void OnRow(scoped in RowChange change, TransactionState transaction)
    {
        // Keys and envelopes are encoded back to back into one reused buffer while the event's bytes are in hand;
        // FlushAsync copies each into an exact-length array reused per length (the Kafka client copies it in Produce).
        var topic = Topic(change.Binding.Table);
        var keyStart = _encoded.WrittenCount;
        var keyLength = topic.Writer.WriteKey(_encoded, 0, change) ? _encoded.WrittenCount - keyStart : -1;
        var valueStart = _encoded.WrittenCount;
        if (change.Position != _timestampPosition)
        {
            // The envelope's ts_ms (when the connector processed the change), read once per rows event.
            _timestampPosition = change.Position;
            _timestampMs = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        }

        topic.Writer.WriteEnvelope(_encoded, 0, change, transaction, Processor?.Decoder.File ?? string.Empty, _timestampMs);
        _pending.Add(new Pending(topic, keyStart, keyLength, valueStart, _encoded.WrittenCount - valueStart, null, null, -1));
        if (change.Kind == RowsKind.Delete && keyLength >= 0 && _events.Tombstones)
        {
            _pending.Add(new Pending(topic, keyStart, keyLength, 0, -1, null, null, -1));
        }

        _rowsSinceFlush++;
    }

    public void OnCommit(TransactionState transaction)
    {
        // After the transaction, or held back at an unresolved XA PREPARE (BinlogProcessor.RestartPosition).
        var position = Processor!.RestartPosition;
        LastCommitted = position;
        _pending.Add(new Pending(null, 0, -1, 0, -1, position, null, -1));
        _metrics.Transaction();
    }

    public void OnSchemaChange(SchemaChange change)
    {
        if (change.Position < 0)
        {
            foreach (var table in change.Changes)
            {
                MySqlLog.TableFromMap(_logger, _source, table.Database, table.Name);
            }
        }
        else
        {
            MySqlLog.SchemaChanged(_logger, _source, change.File, change.Position, string.Join(", ", change.Changes.Select(c => $"`{c.Database}`.`{c.Name}`{(c.Table is null ? " (dropped)" : string.Empty)}")));
            _metrics.Ddl();
        }

        var record = new SchemaHistoryRecord
        {
            Source = _source,
            File = change.File ?? string.Empty,
            Position = change.Position < 0 ? Processor!.Decoder.NextPosition : change.Position,
            Ddl = change.Statement.Length == 0 ? null : change.Statement,
            Tables = change.Changes.Where(c => c.Table is not null).Select(c => c.Table!).ToList(),
            Dropped = change.Changes.Where(c => c.Table is null).Select(c => $"{c.Database}.{c.Name}").ToList(),
        };
        _pending.Add(new Pending(null, 0, -1, 0, -1, null, record, -1));
    }

    public void OnTruncate(MySqlTable table, long position, TransactionState transaction)
    {
        var file = Processor?.Decoder.File ?? string.Empty;
        if (_events.Tombstones)
        {
            // With tombstones the connector creates table topics compacted, and Kafka refuses records without a key there.
            MySqlLog.TruncateNotEmitted(_logger, _source, table.Database, table.Name, file, position);
            return;
        }

        // No key (a truncate concerns every row): to partition 0, like every other keyless event, so it keeps its order there.
        var topic = Topic(table);
        var valueStart = _encoded.WrittenCount;
        topic.Writer.WriteTruncate(_encoded, 0, transaction, file, position, DateTimeOffset.UtcNow.ToUnixTimeMilliseconds());
        _pending.Add(new Pending(topic, 0, -1, valueStart, _encoded.WrittenCount - valueStart, null, null, 0));
        MySqlLog.Truncated(_logger, _source, table.Database, table.Name, file, position);
    }

    public void OnDdlSkipped(string statement, string? file, long position, string reason) =>
        MySqlLog.DdlSkipped(_logger, _source, file, position, reason);

    public void OnXaCommitWithoutPrepare(string xid, string? file, long position) =>
        MySqlLog.XaCommitWithoutPrepare(_logger, _source, xid, file, position);

    public void OnHeartbeat()
    {
    }

    /// <summary>Produces what the last events gave, in order.</summary>
    public async ValueTask FlushAsync(CancellationToken cancellationToken)
    {
        foreach (var pending in _pending)
        {
            if (pending.History is { } record)
            {
                await _history.AppendAsync(record, cancellationToken).ConfigureAwait(false);
            }
            else if (pending.Position is { } position)
            {
                _sink.Checkpoint(position);
            }
            else
            {
                var topic = pending.Topic!;
                if (!topic.Registered)
                {
                    await RegisterAsync(topic, cancellationToken).ConfigureAwait(false);
                }

                var key = Copy(_keys, pending.KeyStart, pending.KeyLength, topic.KeyId);
                var value = Copy(_values, pending.ValueStart, pending.ValueLength, topic.ValueId);
                await _sink.ProduceAsync(topic.Schemas.Topic, key, value, cancellationToken, pending.Partition < 0 ? null : pending.Partition).ConfigureAwait(false);
            }
        }

        _pending.Clear();
        _encoded.ResetWrittenCount();
        if (_rowsSinceFlush > 0)
        {
            _metrics.Rows(_rowsSinceFlush);
            _rowsSinceFlush = 0;
        }
    }

    /// <summary>Forgets what was read but not flushed (a reconnect replays it).</summary>
    public void DiscardPending()
    {
        _pending.Clear();
        _encoded.ResetWrittenCount();
    }

    /// <summary>Registers the schemas of every captured table up front (the first start and restarts).</summary>
    public async Task RegisterAllAsync(SchemaTracker schema, CancellationToken cancellationToken)
    {
        foreach (var table in schema.Tables.Where(t => _options.Captures(t.Database, t.Name)).ToList())
        {
            var topic = Topic(table);
            if (!topic.Registered)
            {
                await RegisterAsync(topic, cancellationToken).ConfigureAwait(false);
            }
        }
    }

    /// <summary>An exact-length array holding an encoded record with its schema id, reused for the next record of the same
    /// length once the Kafka client has copied it (it copies during Produce, and the sink's delivery reports keep no
    /// reference to it).</summary>
    private byte[]? Copy(byte[]?[] cache, int start, int length, int schemaId)
    {
        if (length < 0)
        {
            return null;
        }

        byte[] array;
        if (length > MaxCachedLength)
        {
            array = new byte[length];
        }
        else
        {
            array = cache[length] ??= new byte[length];
        }

        _encoded.WrittenSpan.Slice(start, length).CopyTo(array);
        ConfluentWireFormat.WriteHeader(array, schemaId);
        return array;
    }

    private TableTopic Topic(MySqlTable table)
    {
        if (!_topics.TryGetValue(table, out var topic))
        {
            if (_topics.Count > 4096)
            {
                _topics.Clear();
            }

            var schemas = ChangeEventSchemas.Build(table.ToDescription(), MySqlSourceFields.Describe(_source), _events);
            topic = new TableTopic(schemas, new EnvelopeWriter(schemas, _rows));
            _topics[table] = topic;
        }

        return topic;
    }

    private async Task RegisterAsync(TableTopic topic, CancellationToken cancellationToken)
    {
        var schemas = topic.Schemas;
        if (schemas.KeySchema is { } keySchema)
        {
            topic.KeyId = await _schemas.RegisterAsync(schemas.KeySubject, keySchema, cancellationToken).ConfigureAwait(false);
        }

        topic.ValueId = await _schemas.RegisterAsync(schemas.ValueSubject, schemas.EnvelopeSchema, cancellationToken).ConfigureAwait(false);
        await _kafka.EnsureTopicAsync(schemas.Topic, _options.TopicPartitions, _events.Tombstones ? TopicRetention.Compacted : TopicRetention.Default, cancellationToken).ConfigureAwait(false);
        topic.Registered = true;
        MySqlLog.TableRegistered(_logger, _source, $"`{schemas.Table.Schema}`.`{schemas.Table.Name}`", schemas.Topic, topic.KeyId, topic.ValueId);
    }

    /// <summary>A record to produce (offsets into the encoded buffer; length -1 for no key or a tombstone; partition -1 to let
    /// the key choose), a checkpoint, or a history record.</summary>
    private readonly record struct Pending(TableTopic? Topic, int KeyStart, int KeyLength, int ValueStart, int ValueLength, MySqlPosition? Position, SchemaHistoryRecord? History, int Partition);

    private sealed class TableTopic(ChangeEventSchemas schemas, EnvelopeWriter writer)
    {
        public ChangeEventSchemas Schemas { get; } = schemas;

        public EnvelopeWriter Writer { get; } = writer;

        public bool Registered { get; set; }

        public int KeyId { get; set; }

        public int ValueId { get; set; }
    }
}
