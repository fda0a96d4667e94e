using System.Globalization;
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

    /// <summary>Whether this record holds every table (the initial load), or a part of them (<see cref="SnapshotId"/>), rather
    /// than the tables one statement changed.</summary>
    [JsonPropertyName("snapshot")]
    public bool Snapshot { get; init; }

    /// <summary>For a snapshot written in parts: the id its parts share; null for a DDL record, and for a snapshot written as
    /// one record (before snapshots were split).</summary>
    [JsonPropertyName("snapshotId")]
    public string? SnapshotId { get; init; }

    /// <summary>The part's number, 1 to <see cref="Parts"/>, for a snapshot written in parts.</summary>
    [JsonPropertyName("part")]
    public int? Part { get; init; }

    /// <summary>How many parts the snapshot has, for a snapshot written in parts.</summary>
    [JsonPropertyName("parts")]
    public int? Parts { get; init; }

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

    /// <summary>The record's key: the source and the position (and a snapshot part's id and number), so that no two records
    /// share a key, and compaction, which keeps the last record of each key, removes none of them, except a statement
    /// replayed after a restart, which overwrites its own record.</summary>
    public string Key => SnapshotId is null
        ? $"{Source}|{(Snapshot ? "snapshot|" : string.Empty)}{File}|{Position}"
        : $"{Source}|snapshot|{File}|{Position}|{SnapshotId}|{Part}";
}

/// <summary>
/// The schema history in a compacted, single-partition Kafka topic: a snapshot of every table when the connector
/// first starts, then one record per DDL statement with the tables it left. A restart rebuilds each table as of
/// the stored position: the last snapshot at or before it, then the records after the snapshot and before it.
/// </summary>
/// <remarks>
/// <para>A snapshot is written in parts of at most <see cref="MaxSnapshotPartBytes"/> (a table is never split), each
/// carrying the snapshot's id, its number and the number of parts; a restore uses a snapshot only when every part is
/// present. Snapshots written as one record (before parts) still restore.</para>
/// <para>Every record has a key of its own (<see cref="SchemaHistoryRecord.Key"/>), so compaction removes none. Records
/// deleted outright (retention on a real cluster, the embedded cluster's 5 MB per partition) move the topic's first offset
/// above 0: a restore that then finds no whole snapshot at or before its position says the history was trimmed. A
/// snapshot found whole proves the rest: deletion removes a partition's oldest records, and everything a restore applies
/// after a snapshot was written after it.</para>
/// </remarks>
internal sealed class SchemaHistory : IDisposable
{
    /// <summary>The most JSON a snapshot part holds, well under the 1 MB that Kafka takes in one record by default
    /// (<c>message.max.bytes</c> of brokers and of librdkafka's producer). A table larger than this is a part of its own.</summary>
    public const int MaxSnapshotPartBytes = 256 * 1024;

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

    /// <summary>Appends the snapshot of every table at a position (<see cref="SnapshotParts"/>) and waits until Kafka
    /// acknowledged every part.</summary>
    /// <returns>The number of parts.</returns>
    public async Task<int> AppendSnapshotAsync(string source, string file, long position, IReadOnlyList<MySqlTable> tables, IReadOnlyDictionary<string, string> databaseCharsets, string serverCharset, CancellationToken cancellationToken)
    {
        var parts = SnapshotParts(source, file, position, tables, databaseCharsets, serverCharset);
        foreach (var part in parts)
        {
            await AppendAsync(part, cancellationToken).ConfigureAwait(false);
        }

        return parts.Count;
    }

    /// <summary>
    /// Rebuilds the schema as of a position from a source's records in the topic (<see cref="TryRestore"/>).
    /// </summary>
    /// <exception cref="MySqlSchemaException">No whole snapshot lies at or before the position; the message says whether
    /// the topic lost records (its first offset) and what to do.</exception>
    public async Task RestoreAsync(string source, MySqlPosition position, SchemaTracker schema, CancellationToken cancellationToken)
    {
        await _kafka.EnsureTopicAsync(_topic, 1, TopicRetention.Compacted, cancellationToken).ConfigureAwait(false);
        var records = new List<SchemaHistoryRecord>();
        var first = await TopicReader.ReadToEndAsync(_kafka, _topic, "the schema history", message =>
        {
            if (message.Value is { } value && JsonSerializer.Deserialize<SchemaHistoryRecord>(value, Json) is { } record && record.Source == source)
            {
                records.Add(record);
            }
        },
        // Removing a record would drop a schema change from the restore: later rows would be read with the columns before it.
        "It was cut, or written by another program or a newer version of DataMesh. Do not remove schema history records: the schemas are restored from all of them. " +
        $"Run the version that wrote it, or reset the source's position (PositionStore.SaveAsync(\"{source}\", null)) to start it afresh with a new schema snapshot (changes made until it starts again are not captured).",
        cancellationToken).ConfigureAwait(false);
        if (TryRestore(records, position, schema, out var problem))
        {
            return;
        }

        var reset = $"Reset the source's position (PositionStore.SaveAsync(\"{source}\", null)) to start it afresh with a new schema snapshot; changes made until it starts again are not captured.";
        if (first > 0)
        {
            var deleted = _kafka.IsEmbedded
                ? "The embedded Kafka cluster keeps at most 5 MB per partition and compacts nothing, so later records pushed them out. "
                : "The topic lost them to retention: it must be compacted (cleanup.policy=compact) without time or size retention (retention.ms=-1, retention.bytes=-1). ";
            throw new MySqlSchemaException(
                $"MySQL source '{source}' resumes from {position} but cannot restore its table schemas: {problem}, and the schema history topic '{_topic}' " +
                $"no longer starts at offset 0 (its first record is at offset {first.ToString(CultureInfo.InvariantCulture)}): its oldest records were deleted. " + deleted +
                "Restoring from what is left could map columns wrongly, so the source does not start. " + reset +
                " To keep the history, use a real Kafka cluster (DataMesh:Kafka:BootstrapServers) with a compacted history topic (HistoryTopic).");
        }

        throw new MySqlSchemaException(
            $"MySQL source '{source}' resumes from {position} but cannot restore its table schemas: {problem} in the schema history topic '{_topic}', " +
            "so the table schemas as of that position cannot be known. " + reset);
    }

    /// <summary>
    /// Splits the snapshot of every table at a position into records of at most <paramref name="maxPartBytes"/> of JSON, in
    /// the tables' order; a table is never split (one larger than the bound is a part of its own). The parts share a new
    /// snapshot id; the first carries the databases' charsets.
    /// </summary>
    public static List<SchemaHistoryRecord> SnapshotParts(string source, string file, long position, IReadOnlyList<MySqlTable> tables, IReadOnlyDictionary<string, string> databaseCharsets, string serverCharset, int maxPartBytes = MaxSnapshotPartBytes)
    {
        // What a part holds besides its tables: the source, position, id, numbers and server charset (and, in the first,
        // the databases' charsets).
        var overhead = 256 + Encoding.UTF8.GetByteCount(source) + Encoding.UTF8.GetByteCount(file) + Encoding.UTF8.GetByteCount(serverCharset);
        var groups = new List<List<MySqlTable>> { new() };
        var size = overhead + JsonSerializer.SerializeToUtf8Bytes(databaseCharsets, Json).Length;
        foreach (var table in tables)
        {
            var bytes = JsonSerializer.SerializeToUtf8Bytes(table, Json).Length + 1;
            if (groups[^1].Count > 0 && size + bytes > maxPartBytes)
            {
                groups.Add([]);
                size = overhead;
            }

            groups[^1].Add(table);
            size += bytes;
        }

        var id = Guid.NewGuid().ToString("N");
        return groups.Select((group, i) => new SchemaHistoryRecord
        {
            Source = source,
            File = file,
            Position = position,
            Snapshot = true,
            SnapshotId = id,
            Part = i + 1,
            Parts = groups.Count,
            Tables = group,
            DatabaseCharsets = i == 0 ? databaseCharsets : null,
            ServerCharset = serverCharset,
        }).ToList();
    }

    /// <summary>Rebuilds the schema as of a position from a source's records (in topic order).</summary>
    /// <param name="records">The source's records, in topic order.</param>
    /// <param name="position">The position.</param>
    /// <param name="schema">Reset to the restored schema when this returns true.</param>
    /// <param name="problem">When this returns false, why (for messages).</param>
    /// <returns>False when no whole snapshot lies at or before the position, or when a snapshot after the last whole one
    /// (and at or before the position) lacks parts: restoring from the earlier one would miss the statements between.</returns>
    public static bool TryRestore(IReadOnlyList<SchemaHistoryRecord> records, MySqlPosition position, SchemaTracker schema, out string problem)
    {
        var snapshots = Snapshots(records)
            .Where(s => position.IsAtOrAfter(s.Record.File, s.Record.Position))
            .OrderBy(s => MySqlPosition.FileIndex(s.Record.File)).ThenBy(s => s.Record.Position).ThenBy(s => s.Index)
            .ToList();
        var last = snapshots.FindLastIndex(s => s.Missing == 0);
        var incomplete = snapshots.Skip(last + 1).FirstOrDefault(s => last < 0 || Compare(s.Record, snapshots[last].Record) > 0);
        if (incomplete.Record is { } partial)
        {
            problem = $"the snapshot at {partial.File}:{partial.Position} (id {partial.SnapshotId}) lacks {incomplete.Missing} of its {partial.Parts} parts";
            return false;
        }

        if (last < 0)
        {
            problem = $"there is no snapshot at or before {position}";
            return false;
        }

        problem = string.Empty;
        var snapshot = snapshots[last].Record;
        schema.ServerCharset = snapshot.ServerCharset ?? schema.ServerCharset;
        schema.Reset(snapshot.Tables, snapshot.DatabaseCharsets ?? new Dictionary<string, string>());
        var statements = records
            .Select((r, i) => (Record: r, Index: i))
            // A DDL record applies when it is not before the snapshot and its statement started before the position (the
            // position is after a commit).
            .Where(x => !x.Record.Snapshot && Compare(x.Record, snapshot) >= 0 && position.IsAtOrAfter(x.Record.File, x.Record.Position + 1))
            .OrderBy(x => MySqlPosition.FileIndex(x.Record.File)).ThenBy(x => x.Record.Position).ThenBy(x => x.Index)
            .Select(x => x.Record);
        foreach (var record in statements)
        {
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

    /// <summary>The snapshots among the records: one record each when written whole, the parts of one id joined otherwise
    /// (Missing: how many of its parts are not there). Index: the topic order of the last record.</summary>
    private static IEnumerable<(SchemaHistoryRecord Record, int Index, int Missing)> Snapshots(IReadOnlyList<SchemaHistoryRecord> records)
    {
        var parts = new Dictionary<string, List<(SchemaHistoryRecord Record, int Index)>>(StringComparer.Ordinal);
        for (var i = 0; i < records.Count; i++)
        {
            var record = records[i];
            if (!record.Snapshot)
            {
                continue;
            }

            if (record.SnapshotId is null)
            {
                yield return (record, i, 0);
            }
            else if (parts.TryGetValue(record.SnapshotId, out var list))
            {
                list.Add((record, i));
            }
            else
            {
                parts[record.SnapshotId] = [(record, i)];
            }
        }

        foreach (var list in parts.Values)
        {
            var head = list[0].Record;
            var count = head.Parts ?? 0;
            // A part counts when it agrees with the first on the snapshot's position and size; a part written twice counts once.
            var present = list
                .Where(p => p.Record.Parts == count && p.Record.File == head.File && p.Record.Position == head.Position && p.Record.Part >= 1 && p.Record.Part <= count)
                .GroupBy(p => p.Record.Part!.Value)
                .Select(g => g.First())
                .OrderBy(p => p.Record.Part)
                .ToList();
            var whole = head with
            {
                Part = null,
                Tables = present.SelectMany(p => p.Record.Tables).ToList(),
                DatabaseCharsets = present.SelectMany(p => p.Record.DatabaseCharsets ?? new Dictionary<string, string>()).DistinctBy(c => c.Key).ToDictionary(StringComparer.Ordinal),
                ServerCharset = present.Select(p => p.Record.ServerCharset).FirstOrDefault(c => c is not null),
            };
            yield return (whole, list[^1].Index, Math.Max(1, count) - present.Count);
        }
    }

    /// <summary>Orders two records' positions (binlog file number, then position).</summary>
    private static int Compare(SchemaHistoryRecord a, SchemaHistoryRecord b)
    {
        var files = MySqlPosition.FileIndex(a.File).CompareTo(MySqlPosition.FileIndex(b.File));
        return files != 0 ? files : a.Position.CompareTo(b.Position);
    }
}
