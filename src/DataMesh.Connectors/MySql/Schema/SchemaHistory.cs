using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using Confluent.Kafka;
using DataMesh.Hosting;
using DataMesh.Sources;

namespace DataMesh.Connectors.MySql.Schema;

/// <summary>One record of the schema history: the tables a DDL statement (or the initial load) left, at its position.</summary>
internal sealed record SchemaHistoryRecord
{
    [JsonPropertyName("source")]
    public required string Source { get; init; }

    [JsonPropertyName("file")]
    public required string File { get; init; }

    /// <summary>The DDL event's start position, or the start position for a snapshot.</summary>
    [JsonPropertyName("pos")]
    public required long Position { get; init; }

    /// <summary>Whether this record holds every table (the initial load) rather than the tables one statement changed.</summary>
    [JsonPropertyName("snapshot")]
    public bool Snapshot { get; init; }

    [JsonPropertyName("ddl")]
    public string? Ddl { get; init; }

    [JsonPropertyName("tables")]
    public IReadOnlyList<MySqlTable> Tables { get; init; } = [];

    /// <summary>Tables dropped or renamed away, as <c>database.table</c>.</summary>
    [JsonPropertyName("dropped")]
    public IReadOnlyList<string> Dropped { get; init; } = [];

    [JsonPropertyName("databases")]
    public IReadOnlyDictionary<string, string>? DatabaseCharsets { get; init; }

    [JsonPropertyName("serverCharset")]
    public string? ServerCharset { get; init; }

    /// <summary>The record's key: the source and the position, so that a statement replayed after a restart
    /// overwrites its own record when the topic is compacted.</summary>
    public string Key => $"{Source}|{(Snapshot ? "snapshot|" : string.Empty)}{File}|{Position}";
}

/// <summary>
/// The schema history in a compacted, single-partition Kafka topic: a snapshot of every table when the connector
/// first starts, then one record per DDL statement with the tables it left. A restart rebuilds each table as of
/// the stored position: the last snapshot at or before it, then the records after the snapshot and before it.
/// </summary>
internal sealed class SchemaHistory : IDisposable
{
    private static readonly JsonSerializerOptions Json = new() { DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull };
    private readonly KafkaConnection _kafka;
    private readonly string _topic;
    private IProducer<byte[], byte[]>? _producer;

    public SchemaHistory(KafkaConnection kafka, string topic)
    {
        _kafka = kafka;
        _topic = topic;
    }

    /// <summary>Appends a record and waits until Kafka acknowledged it.</summary>
    public async Task AppendAsync(SchemaHistoryRecord record, CancellationToken cancellationToken)
    {
        if (_producer is null)
        {
            await _kafka.EnsureTopicAsync(_topic, 1, TopicRetention.Compacted, cancellationToken).ConfigureAwait(false);
            _producer = new ProducerBuilder<byte[], byte[]>(_kafka.CreateProducerConfig()).Build();
        }

        var message = new Message<byte[], byte[]>
        {
            Key = Encoding.UTF8.GetBytes(record.Key),
            Value = JsonSerializer.SerializeToUtf8Bytes(record, Json),
        };
        await _producer.ProduceAsync(new TopicPartition(_topic, 0), message, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Reads every record of a source, in topic order.</summary>
    public async Task<List<SchemaHistoryRecord>> LoadAsync(string source, CancellationToken cancellationToken)
    {
        await _kafka.EnsureTopicAsync(_topic, 1, TopicRetention.Compacted, cancellationToken).ConfigureAwait(false);
        var records = new List<SchemaHistoryRecord>();
        await TopicReader.ReadToEndAsync(_kafka, _topic, "the schema history", message =>
        {
            if (message.Value is { } value && JsonSerializer.Deserialize<SchemaHistoryRecord>(value, Json) is { } record && record.Source == source)
            {
                records.Add(record);
            }
        }, cancellationToken).ConfigureAwait(false);
        return records;
    }

    /// <summary>Rebuilds the schema as of a position from a source's records.</summary>
    /// <returns>False when no snapshot lies at or before the position.</returns>
    public static bool TryRestore(IReadOnlyList<SchemaHistoryRecord> records, MySqlPosition position, SchemaTracker schema)
    {
        var ordered = records
            .Select((r, i) => (Record: r, Index: i))
            .OrderBy(x => MySqlPosition.FileIndex(x.Record.File)).ThenBy(x => x.Record.Position).ThenBy(x => x.Record.Snapshot ? 0 : 1).ThenBy(x => x.Index)
            .Select(x => x.Record)
            .ToList();
        var start = ordered.FindLastIndex(r => r.Snapshot && position.IsAtOrAfter(r.File, r.Position));
        if (start < 0)
        {
            return false;
        }

        var snapshot = ordered[start];
        schema.ServerCharset = snapshot.ServerCharset ?? schema.ServerCharset;
        schema.Reset(snapshot.Tables, snapshot.DatabaseCharsets ?? new Dictionary<string, string>());
        foreach (var record in ordered.Skip(start + 1))
        {
            // A DDL record applies when its statement started before the position (the position is after a commit).
            if (record.Snapshot || !(position.IsAtOrAfter(record.File, record.Position + 1)))
            {
                continue;
            }

            foreach (var dropped in record.Dropped)
            {
                var dot = dropped.IndexOf('.', StringComparison.Ordinal);
                schema.Remove(dropped[..dot], dropped[(dot + 1)..]);
            }

            foreach (var table in record.Tables)
            {
                schema.Put(table);
            }

            foreach (var (database, charset) in record.DatabaseCharsets ?? new Dictionary<string, string>())
            {
                schema.SetDatabaseCharset(database, charset);
            }
        }

        return true;
    }

    public void Dispose()
    {
        _producer?.Flush(_kafka.Options.RequestTimeout);
        _producer?.Dispose();
    }
}
