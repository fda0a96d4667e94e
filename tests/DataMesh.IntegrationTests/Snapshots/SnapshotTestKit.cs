using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using Avro.Generic;
using Confluent.Kafka;
using DataMesh.Hosting;
using DataMesh.IntegrationTests.Infrastructure;
using DataMesh.Schemas;
using Microsoft.Extensions.Logging;
using Xunit;

namespace DataMesh.IntegrationTests.Snapshots;

/// <summary>
/// What the snapshot tests share, on PostgreSQL and MariaDB alike: waiting for a snapshot, reading topics to their ends,
/// a table rebuilt from its topic (<see cref="TopicTable{TRow}"/>), and the comparison of a rebuilt table with the table
/// itself: row by row, or by a checksum computed the same way on both sides with the rows that differ named.
/// </summary>
internal static class SnapshotTestKit
{
    /// <summary>How a null value reads in canonical row text, on both sides.</summary>
    public const string NullText = "(null)";

    /// <summary>Waits until nothing is left to snapshot, or fails naming the tables still to read (at once when the source
    /// stopped with an error).</summary>
    public static async Task WaitIdleAsync(SnapshotDatabase db, TimeSpan timeout)
    {
        var snapshots = db.Snapshots;
        var deadline = DateTime.UtcNow + timeout;
        while (!snapshots.IsIdle)
        {
            Assert.True(
                DateTime.UtcNow < deadline && !db.Logs.Entries.Any(e => e.Level == LogLevel.Critical),
                $"the snapshot did not finish within {timeout}: {string.Join(", ", snapshots.Progress.Select(p => $"{p.Table} {p.Rows} rows{(p.Paused ? " (paused)" : string.Empty)}"))}\n{SnapshotLog(db)}");
            await Task.Delay(50);
        }
    }

    /// <summary>Asserts that the source's database has no watermark table (read-only watermarks create nothing).</summary>
    public static async Task AssertNoWatermarkTableAsync(SnapshotDatabase db) =>
        Assert.Equal(0L, await db.ScalarAsync<long>($"SELECT count(*) FROM information_schema.tables WHERE table_name = 'datamesh_watermarks' AND table_schema = '{db.Schema}'"));

    /// <summary>Waits until <paramref name="done"/> holds, or fails with <paramref name="what"/>.</summary>
    public static async Task WaitUntilAsync(Func<bool> done, TimeSpan timeout, Func<string> what)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (!done())
        {
            Assert.True(DateTime.UtcNow < deadline, $"not within {timeout}: {what()}");
            await Task.Delay(20);
        }
    }

    /// <summary>Waits until the snapshot of <paramref name="table"/> (<c>schema.table</c>) was done <paramref name="times"/>
    /// times (log event 7102).</summary>
    public static Task WaitDoneAsync(SnapshotDatabase db, string table, int times) =>
        WaitUntilAsync(
            () => db.Logs.Entries.Count(e => e.Id.Id == 7102 && e.Message.Contains($" {table} ", StringComparison.Ordinal)) >= times,
            TimeSpan.FromSeconds(30),
            () => $"the snapshot of {table} did not end; log:\n{SnapshotLog(db)}");

    /// <summary>The information-level log lines of the snapshots and the source (event ids from 7000), for failure messages.</summary>
    public static string SnapshotLog(SnapshotDatabase db) =>
        string.Join("\n", db.Logs.Entries.Where(e => e.Id.Id >= 7000).TakeLast(60).Select(e => $"{e.Level} {e.Id.Id} {e.Message}"));

    /// <summary>
    /// Reads some topics (all their partitions, each in order) to their ends and hands each record to
    /// <paramref name="each"/> with its topic, decoded as it comes (nothing is kept here): up to the partitions' high
    /// watermarks, again while they still grow within <paramref name="settle"/> (default 1 s), and until
    /// <paramref name="until"/> holds, within <paramref name="timeout"/> (default 60 s). Fails when a partition lost its first
    /// records (the embedded cluster keeps 5 MB per partition). With <paramref name="withoutLogicalTypes"/> decoded without
    /// Avro's logical types (Apache.Avro's .NET conversions hold no date before year 1 nor infinity: those read as raw numbers);
    /// with <paramref name="withoutSource"/> without the envelopes' <c>source</c> blocks (skipped, not built: most of an
    /// envelope's strings).
    /// </summary>
    public static async Task ReadAsync(
        KafkaConnection kafka, ISchemaStore store, IReadOnlyList<string> topics, int partitions, Action<string, CdcRecord> each,
        TimeSpan? settle = null, bool withoutLogicalTypes = false, Func<bool>? until = null, TimeSpan? timeout = null, bool withoutSource = false)
    {
        var decoder = new CdcDecoder(store, withoutLogicalTypes ? WithoutLogicalTypes : null, withoutSource ? WithoutSource : null);
        var targets = topics.SelectMany(t => Enumerable.Range(0, partitions).Select(p => new TopicPartition(t, p))).ToList();
        var limit = timeout ?? TimeSpan.FromSeconds(60);
        var deadline = DateTime.UtcNow + limit;
        var read = 0L;
        await Task.Run(async () =>
        {
            using var consumer = new ConsumerBuilder<byte[]?, byte[]?>(kafka.CreateConsumerConfig(null)).Build();
            consumer.Assign(targets.Select(t => new TopicPartitionOffset(t, Offset.Beginning)));
            var next = targets.ToDictionary(t => t, _ => 0L);
            long[]? reached = null;
            while (true)
            {
                // Asked all at once: one round trip rather than one per partition.
                var high = await Task.WhenAll(targets.Select(t => Task.Run(() => HighWatermark(consumer, t))));
                if (reached is not null && high.SequenceEqual(reached) && (until is null || until()))
                {
                    return;
                }

                Assert.True(DateTime.UtcNow < deadline, $"the topics did not settle within {limit}: {read} records read from {string.Join(", ", topics)}");
                var behind = targets.Where((t, i) => next[t] < high[i]).ToHashSet();
                var ends = targets.Select((t, i) => (t, i)).ToDictionary(x => x.t, x => high[x.i]);
                while (behind.Count > 0)
                {
                    Assert.True(DateTime.UtcNow < deadline, $"the topics could not be read to their ends within {limit}: {read} records read");
                    if (consumer.Consume(TimeSpan.FromMilliseconds(200)) is not { } result)
                    {
                        continue;
                    }

                    next[result.TopicPartition] = result.Offset.Value + 1;
                    if (next[result.TopicPartition] >= ends[result.TopicPartition])
                    {
                        behind.Remove(result.TopicPartition);
                    }

                    read++;
                    each(result.Topic, new CdcRecord(
                        await decoder.DecodeAsync(result.Message.Key),
                        await decoder.DecodeAsync(result.Message.Value),
                        result.Offset.Value,
                        result.Partition.Value) { KeyBytes = result.Message.Key, ValueBytes = result.Message.Value });
                }

                reached = high;
                await Task.Delay(settle ?? TimeSpan.FromSeconds(1));
            }
        });
    }

    /// <summary>Every record of some topics (all their partitions, each in order), by topic: see <see cref="ReadAsync"/>.</summary>
    public static async Task<Dictionary<string, List<CdcRecord>>> ReadAllAsync(KafkaConnection kafka, ISchemaStore store, IReadOnlyList<string> topics, int partitions, TimeSpan? settle = null, bool withoutLogicalTypes = false, Func<IReadOnlyDictionary<string, List<CdcRecord>>, bool>? until = null)
    {
        var records = topics.ToDictionary(t => t, _ => new List<CdcRecord>(), StringComparer.Ordinal);
        await ReadAsync(kafka, store, topics, partitions, (topic, record) => records[topic].Add(record), settle, withoutLogicalTypes, until is null ? null : () => until(records));
        return records;
    }

    /// <summary>Every record of a table's topic of <paramref name="db"/>'s source, all partitions, each in order.</summary>
    public static async Task<List<CdcRecord>> ReadAllAsync(SnapshotDatabase db, string table, int partitions, TimeSpan? settle = null, bool withoutLogicalTypes = false, Func<IReadOnlyList<CdcRecord>, bool>? until = null) =>
        (await ReadAllAsync(db.Kafka, db.Store, [db.Topic(table)], partitions, settle, withoutLogicalTypes, until is null ? null : r => until(r.Values.Single())))[db.Topic(table)];

    /// <summary>A partition's high watermark; 0 for a topic the source has not created (nothing was produced to it). Fails
    /// when the partition no longer starts at offset 0.</summary>
    private static long HighWatermark(IConsumer<byte[]?, byte[]?> consumer, TopicPartition partition)
    {
        WatermarkOffsets offsets;
        try
        {
            offsets = consumer.QueryWatermarkOffsets(partition, TimeSpan.FromSeconds(10));
        }
        catch (KafkaException ex) when (ex.Error.Code is ErrorCode.Local_UnknownPartition or ErrorCode.Local_UnknownTopic or ErrorCode.UnknownTopicOrPart)
        {
            return 0;
        }

        Assert.True(offsets.Low.Value <= 0, $"{partition} starts at offset {offsets.Low.Value}: its first records were dropped (the embedded cluster keeps 5 MB per partition); spread the test's records over more partitions");
        return offsets.High.Value;
    }

    /// <summary>A schema with its logical types left out (their underlying types stay).</summary>
    public static global::Avro.Schema WithoutLogicalTypes(global::Avro.Schema schema)
    {
        static void Strip(System.Text.Json.Nodes.JsonNode? node)
        {
            switch (node)
            {
                case System.Text.Json.Nodes.JsonObject o:
                    o.Remove("logicalType");
                    foreach (var (_, child) in o.ToList())
                    {
                        Strip(child);
                    }

                    break;
                case System.Text.Json.Nodes.JsonArray a:
                    foreach (var child in a)
                    {
                        Strip(child);
                    }

                    break;
            }
        }

        var json = System.Text.Json.Nodes.JsonNode.Parse(schema.ToString());
        Strip(json);
        return global::Avro.Schema.Parse(json!.ToJsonString());
    }

    /// <summary>An envelope schema without its <c>source</c> field (other schemas as they are).</summary>
    private static global::Avro.Schema WithoutSource(global::Avro.Schema schema)
    {
        if (schema is not global::Avro.RecordSchema record || !record.Fields.Any(f => f.Name == "source") || !record.Fields.Any(f => f.Name == "after"))
        {
            return schema;
        }

        var json = System.Text.Json.Nodes.JsonNode.Parse(schema.ToString())!;
        var fields = json["fields"]!.AsArray();
        fields.Remove(fields.First(f => (string?)f!["name"] == "source"));
        return global::Avro.Schema.Parse(json.ToJsonString());
    }

    /// <summary>The table rebuilt from its topic, each row its last after image (see <see cref="TopicTable{TRow}"/>), by
    /// <paramref name="key"/>.</summary>
    public static Dictionary<string, GenericRecord> Rebuild(IEnumerable<CdcRecord> records, Func<GenericRecord, string> key)
    {
        var table = new TopicTable<GenericRecord>(key, (after, _) => after);
        foreach (var record in records)
        {
            table.Apply(record);
        }

        return table.Rows;
    }

    /// <summary>A row's key as text: the canonical values of <paramref name="columns"/> (of a key record or a row image),
    /// separated by <c>|</c>.</summary>
    public static Func<GenericRecord, string> Columns(params string[] columns) => record =>
    {
        var values = new string[columns.Length];
        for (var i = 0; i < columns.Length; i++)
        {
            values[i] = Canonical(record[columns[i]]);
        }

        return string.Join('|', values);
    };

    /// <summary>A decoded Avro value as text: records field by field, bytes in hex, numbers and dates invariant, null as
    /// <see cref="NullText"/>.</summary>
    public static string Canonical(object? value) => value switch
    {
        null => NullText,
        GenericRecord record => "{" + string.Join(",", record.Schema.Fields.Select(f => f.Name + "=" + Canonical(record[f.Name]))) + "}",
        byte[] bytes => "0x" + Convert.ToHexString(bytes),
        System.Collections.IEnumerable items and not string => "[" + string.Join(",", items.Cast<object?>().Select(Canonical)) + "]",
        DateTime time => time.ToString("O", CultureInfo.InvariantCulture),
        IFormattable formattable => formattable.ToString(null, CultureInfo.InvariantCulture),
        _ => value.ToString() ?? NullText,
    };

    /// <summary>A 60-bit non-negative integer of a text: the first 15 hex digits of the SHA-256 of its UTF-8 bytes (what
    /// <see cref="SnapshotDatabase.Hash60"/> computes in SQL).</summary>
    public static long Hash60(string text) =>
        (long)(System.Buffers.Binary.BinaryPrimitives.ReadUInt64BigEndian(SHA256.HashData(Encoding.UTF8.GetBytes(text))) >> 4);

    /// <summary>The checksum of rows given as canonical text: their number and the sum of their <see cref="Hash60"/>s, the
    /// same whatever their order.</summary>
    public static TableChecksum Checksum(IEnumerable<string> rows)
    {
        var checksum = new TableChecksum(0, 0);
        foreach (var row in rows)
        {
            checksum = new TableChecksum(checksum.Rows + 1, checksum.Sum + Hash60(row));
        }

        return checksum;
    }

    /// <summary>Asserts that the table <paramref name="rebuilt"/> from the topic equals <paramref name="expected"/>, naming
    /// up to 20 rows that differ with their history in the topic.</summary>
    public static void AssertSame<TValue>(IReadOnlyDictionary<string, TValue> expected, IReadOnlyDictionary<string, TValue> rebuilt, Func<string, string> history)
    {
        var wrong = Differences(expected, rebuilt);
        Assert.True(wrong.Count == 0, $"{wrong.Count}{(wrong.Count == 20 ? "+" : string.Empty)} of {expected.Count} rows differ, e.g. {string.Join(", ", wrong)}:\n" + string.Join("\n", wrong.Take(5).Select(k =>
            $"{k}: table {(expected.TryGetValue(k, out var e) ? e!.ToString() : "none")}, topic {(rebuilt.TryGetValue(k, out var r) ? r!.ToString() : "none")}; history: {history(k)}")));
        Assert.Equal(expected.Count, rebuilt.Count);
    }

    /// <summary>Up to 20 keys whose rows differ between two tables (missing on one side, or with other values).</summary>
    private static List<string> Differences<TValue>(IReadOnlyDictionary<string, TValue> expected, IReadOnlyDictionary<string, TValue> rebuilt) =>
        expected.Where(e => !rebuilt.TryGetValue(e.Key, out var v) || !EqualityComparer<TValue>.Default.Equals(v, e.Value)).Select(e => e.Key)
            .Concat(rebuilt.Keys.Where(k => !expected.ContainsKey(k))).Take(20).ToList();

    /// <summary>
    /// Reads the topic of <paramref name="table"/> until the source caught up (a marker row is inserted last, in the table
    /// too, and read), rebuilds the table from it (last value per key, deletes removing) and asserts that it equals the
    /// table: the checksums of both sides (<see cref="Checksum"/>; the table's computed by the database in SQL over the same
    /// canonical row text) must be equal; when they are not, the rows that differ are listed with their history in the
    /// topic. Each record also goes to <paramref name="each"/>.
    /// </summary>
    public static async Task<TopicComparison> AssertTopicEqualsTableAsync(SnapshotDatabase db, WrittenTable table, TableTopic topic, Action<CdcRecord>? each = null, TimeSpan? timeout = null)
    {
        await db.ExecuteAsync(table.MarkerSql);
        var rebuilt = new TopicTable<string>(table.KeyOf, (after, _) => table.RowOf(after));
        var marker = false;
        var clock = System.Diagnostics.Stopwatch.StartNew();
        await ReadAsync(topic.Kafka, topic.Store, [topic.Name], topic.Partitions, (_, record) =>
        {
            rebuilt.Apply(record);
            marker |= record.Op == "c" && table.KeyOf(record.Key!) == table.MarkerKey;
            each?.Invoke(record);
        }, until: () => marker, timeout: timeout, withoutSource: each is null);
        var read = clock.Elapsed;

        var fromTopic = Checksum(rebuilt.Rows.Values);
        TableChecksum fromTable;
        await using (var connection = await db.OpenConnectionAsync())
        await using (var command = connection.CreateCommand())
        {
            command.CommandText = $"SELECT COUNT(*), SUM({db.Hash60(table.RowSql)}) FROM t";
            command.CommandTimeout = 600;
            await using var reader = await command.ExecuteReaderAsync();
            await reader.ReadAsync();
            fromTable = new TableChecksum(Convert.ToInt64(reader.GetValue(0), CultureInfo.InvariantCulture), reader.IsDBNull(1) ? 0 : Convert.ToDecimal(reader.GetValue(1), CultureInfo.InvariantCulture));
        }

        if (fromTopic != fromTable)
        {
            var rows = await TableRowsAsync(db, table);
            var wrong = Differences(rows, rebuilt.Rows).ToHashSet(StringComparer.Ordinal);
            var history = wrong.ToDictionary(k => k, _ => new List<string>(), StringComparer.Ordinal);
            await ReadAsync(topic.Kafka, topic.Store, [topic.Name], topic.Partitions, (_, r) =>
            {
                if (history.TryGetValue(table.KeyOf(r.Key ?? r.After ?? r.Before!), out var list))
                {
                    list.Add($"{r.Op ?? "tombstone"}@{r.Partition}:{r.Offset} {(r.After is { } a ? table.RowOf(a) : string.Empty)}");
                }
            }, timeout: timeout, withoutSource: true);
            Assert.Fail($"{db.Server}: the table rebuilt from topic {topic.Name} ({fromTopic}) is not the table ({fromTable}); {wrong.Count}{(wrong.Count == 20 ? "+" : string.Empty)} rows differ:\n" +
                string.Join("\n", wrong.Take(10).Select(k => $"{k}: table {rows.GetValueOrDefault(k) ?? "none"}, topic {rebuilt.Rows.GetValueOrDefault(k) ?? "none"}; history: {string.Join(" | ", history[k])}")));
        }

        return new TopicComparison(rebuilt.Records, rebuilt.Reads, fromTable, read, clock.Elapsed - read);
    }

    /// <summary>The rows of <paramref name="table"/>: key text → canonical row text.</summary>
    private static async Task<Dictionary<string, string>> TableRowsAsync(SnapshotDatabase db, WrittenTable table)
    {
        var rows = new Dictionary<string, string>(StringComparer.Ordinal);
        await using var connection = await db.OpenConnectionAsync();
        await using var command = connection.CreateCommand();
        command.CommandText = $"SELECT {table.KeySql}, {table.RowSql} FROM t";
        command.CommandTimeout = 600;
        await using var reader = await command.ExecuteReaderAsync();
        while (await reader.ReadAsync())
        {
            rows[reader.GetString(0)] = reader.GetString(1);
        }

        return rows;
    }
}

/// <summary>A topic to read: its cluster, its schemas, its name and partition count.</summary>
internal sealed record TableTopic(KafkaConnection Kafka, ISchemaStore Store, string Name, int Partitions)
{
    /// <summary>The topic of <paramref name="table"/> of the in-process source of <paramref name="db"/>.</summary>
    public static TableTopic Of(SnapshotDatabase db, string table, int partitions) => new(db.Kafka, db.Store, db.Topic(table), partitions);
}

/// <summary>A table's checksum: its number of rows and the sum of their rows' <see cref="SnapshotTestKit.Hash60"/>.</summary>
internal readonly record struct TableChecksum(long Rows, decimal Sum)
{
    public override string ToString() => string.Create(CultureInfo.InvariantCulture, $"{Rows} rows, checksum {Sum}");
}

/// <summary>What a comparison of a topic with its table saw: the records read, the snapshot rows (<c>op = r</c>) among
/// them, the checksum both sides had, and how long the topic's read and the comparison took.</summary>
internal sealed record TopicComparison(int Records, int Reads, TableChecksum Checksum, TimeSpan Read, TimeSpan Compared);

/// <summary>
/// A table rebuilt from its topic, record by record (per partition in order): a row per key, made by
/// <paramref name="rowOf"/> from the last after image (and the row before it, for sinks that merge); a delete or a
/// tombstone removes the row, a truncate every row. A keyed record's key is its Kafka key's; a keyless record's (no
/// Kafka key) its images': an update removes the row of its before image, if it has one, and sets its after image's.
/// </summary>
/// <param name="keyOf">A row's key as text, from a key record or a row image (<see cref="SnapshotTestKit.Columns"/>).</param>
/// <param name="rowOf">The row of an after image, given the row it replaces (or default).</param>
internal sealed class TopicTable<TRow>(Func<GenericRecord, string> keyOf, Func<GenericRecord, TRow?, TRow> rowOf)
{
    public Dictionary<string, TRow> Rows { get; } = new(StringComparer.Ordinal);

    /// <summary>The records applied.</summary>
    public int Records { get; private set; }

    /// <summary>The snapshot rows (<c>op = r</c>) applied.</summary>
    public int Reads { get; private set; }

    public void Apply(CdcRecord record)
    {
        Records++;
        if (record.Value is null)
        {
            if (record.Key is { } key)
            {
                Rows.Remove(keyOf(key));
            }

            return;
        }

        switch (record.Op)
        {
            case "t":
                Rows.Clear();
                return;
            case "d":
                Rows.Remove(keyOf(record.Key ?? record.Before!));
                return;
        }

        if (record.Key is null && record.Before is { } before)
        {
            Rows.Remove(keyOf(before));
        }

        var id = keyOf(record.Key ?? record.After!);
        Rows[id] = rowOf(record.After!, Rows.GetValueOrDefault(id));
        Reads += record.Op == "r" ? 1 : 0;
    }
}
