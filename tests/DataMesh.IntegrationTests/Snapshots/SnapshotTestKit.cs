using System.Globalization;
using Avro.Generic;
using Confluent.Kafka;
using DataMesh.IntegrationTests.Infrastructure;
using DataMesh.IntegrationTests.Postgres;
using DataMesh.Hosting;
using DataMesh.Schemas;
using DataMesh.Sources;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Npgsql;
using Xunit;

namespace DataMesh.IntegrationTests.Snapshots;

/// <summary>
/// What the snapshot tests share: waiting for a snapshot, reading a topic to its end, a writer that changes random rows of
/// <c>t (id, v, note)</c>, and the table rebuilt from its topic (last value per key, deletes removing) compared with the
/// table itself, with the rows that differ named.
/// </summary>
internal static class SnapshotTestKit
{
    /// <summary>The columns of the writer's table.</summary>
    public const string TableColumns = "id int PRIMARY KEY, v bigint NOT NULL, note text";

    /// <summary>The snapshot control of the source of <paramref name="cdc"/>.</summary>
    public static ISnapshotControl Snapshots(PgCdc cdc) =>
        cdc.Host.Services.GetRequiredService<SourceMonitor>().Snapshots(cdc.SourceName) ?? throw new InvalidOperationException($"Source '{cdc.SourceName}' has no snapshots.");

    /// <summary>Waits until nothing is left to snapshot, or fails naming the tables still to read (at once when the source
    /// stopped with an error).</summary>
    public static async Task WaitIdleAsync(PgCdc cdc, TimeSpan timeout)
    {
        var snapshots = Snapshots(cdc);
        var deadline = DateTime.UtcNow + timeout;
        while (!snapshots.IsIdle)
        {
            Assert.True(
                DateTime.UtcNow < deadline && !cdc.Logs.Entries.Any(e => e.Level == LogLevel.Critical),
                $"the snapshot did not finish within {timeout}: {string.Join(", ", snapshots.Progress.Select(p => $"{p.Table} {p.Rows} rows{(p.Paused ? " (paused)" : string.Empty)}"))}\n{SnapshotLog(cdc)}");
            await Task.Delay(50);
        }
    }

    /// <summary>Asserts that the source's database has no watermark table (read-only watermarks create nothing).</summary>
    public static async Task AssertNoWatermarkTableAsync(PgCdc cdc) =>
        Assert.Equal(0L, await cdc.ScalarAsync<long>("SELECT count(*) FROM pg_class WHERE relname = 'datamesh_watermarks'"));

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

    /// <summary>The information-level log lines of the snapshots and the source (event ids from 7000), for failure messages.</summary>
    public static string SnapshotLog(PgCdc cdc) =>
        string.Join("\n", cdc.Logs.Entries.Where(e => e.Id.Id >= 7000).TakeLast(60).Select(e => $"{e.Level} {e.Id.Id} {e.Message}"));

    /// <summary>Every record of a topic (all its partitions, each in order): see the overload for several topics.</summary>
    public static async Task<List<CdcRecord>> ReadAllAsync(KafkaConnection kafka, ISchemaStore store, string topic, int partitions, TimeSpan? settle = null, bool withoutLogicalTypes = false, Func<IReadOnlyList<CdcRecord>, bool>? until = null) =>
        (await ReadAllAsync(kafka, store, [topic], partitions, settle, withoutLogicalTypes, until is null ? null : r => until(r.Values.Single())))[topic];

    /// <summary>
    /// Every record of some topics (all their partitions, each in order), by topic: read up to the partitions' high
    /// watermarks, again while they still grow within <paramref name="settle"/> (default 1 s), and until
    /// <paramref name="until"/> holds (at most 60 s). With <paramref name="withoutLogicalTypes"/> decoded without Avro's
    /// logical types (Apache.Avro's .NET conversions hold no date before year 1 nor infinity: those read as raw numbers).
    /// </summary>
    public static async Task<Dictionary<string, List<CdcRecord>>> ReadAllAsync(KafkaConnection kafka, ISchemaStore store, IReadOnlyList<string> topics, int partitions, TimeSpan? settle = null, bool withoutLogicalTypes = false, Func<IReadOnlyDictionary<string, List<CdcRecord>>, bool>? until = null)
    {
        Func<global::Avro.Schema, global::Avro.Schema>? adjust = withoutLogicalTypes ? WithoutLogicalTypes : null;
        var records = topics.ToDictionary(t => t, _ => new List<CdcRecord>(), StringComparer.Ordinal);
        var targets = topics.SelectMany(t => Enumerable.Range(0, partitions).Select(p => new TopicPartition(t, p))).ToList();
        using var consumer = new ConsumerBuilder<byte[]?, byte[]?>(kafka.CreateConsumerConfig(null)).Build();
        consumer.Assign(targets.Select(t => new TopicPartitionOffset(t, Offset.Beginning)));
        var next = targets.ToDictionary(t => t, _ => 0L);
        var deadline = DateTime.UtcNow.AddSeconds(60);
        long[]? reached = null;
        while (true)
        {
            var high = await Task.Run(() => targets.Select(t => HighWatermark(consumer, t)).ToArray());
            if (reached is not null && high.SequenceEqual(reached) && (until is null || until(records)))
            {
                return records;
            }

            Assert.True(DateTime.UtcNow < deadline, $"the topics did not settle within 60 s: {string.Join(", ", topics.Select(t => $"{t} {records[t].Count} records"))}");
            var raw = await Task.Run(() =>
            {
                var messages = new List<ConsumeResult<byte[]?, byte[]?>>();
                while (targets.Select((t, i) => next[t] < high[i]).Any(behind => behind))
                {
                    Assert.True(DateTime.UtcNow < deadline, $"the topics could not be read to their ends within 60 s: {messages.Count} records read");
                    if (consumer.Consume(TimeSpan.FromMilliseconds(200)) is { } result)
                    {
                        messages.Add(result);
                        next[result.TopicPartition] = result.Offset.Value + 1;
                    }
                }

                return messages;
            });
            foreach (var message in raw)
            {
                records[message.Topic].Add(new CdcRecord(
                    await CdcRecord.DecodeAsync(store, message.Message.Key, adjust),
                    await CdcRecord.DecodeAsync(store, message.Message.Value, adjust),
                    message.Offset.Value,
                    message.Partition.Value));
            }

            reached = high;
            await Task.Delay(settle ?? TimeSpan.FromSeconds(1));
        }
    }

    /// <summary>A partition's high watermark; 0 for a topic the source has not created (nothing was produced to it).</summary>
    private static long HighWatermark(IConsumer<byte[]?, byte[]?> consumer, TopicPartition partition)
    {
        try
        {
            return consumer.QueryWatermarkOffsets(partition, TimeSpan.FromSeconds(10)).High.Value;
        }
        catch (KafkaException ex) when (ex.Error.Code is ErrorCode.Local_UnknownPartition or ErrorCode.Local_UnknownTopic or ErrorCode.UnknownTopicOrPart)
        {
            return 0;
        }
    }

    /// <summary>Every record of <c>t</c>'s topic (<see cref="TableColumns"/>) once the source caught up: a marker row (id -1)
    /// is inserted last (it is in the table too) and read until it arrived and the partitions settled.</summary>
    public static async Task<List<CdcRecord>> ReadToMarkerAsync(KafkaConnection kafka, ISchemaStore store, string topic, int partitions, string connectionString)
    {
        await using (var connection = await PostgresServer.OpenConnectionAsync(connectionString))
        await using (var marker = new NpgsqlCommand("INSERT INTO t (id, v, note) VALUES (-1, 0, 'marker')", connection))
        {
            await marker.ExecuteNonQueryAsync();
        }

        return await ReadAllAsync(kafka, store, topic, partitions, until: r => r.Any(x => x.Op == "c" && Convert.ToInt64(x.Key!["id"], CultureInfo.InvariantCulture) == -1));
    }

    /// <summary>Every record of a table's topic of <paramref name="cdc"/>.</summary>
    public static Task<List<CdcRecord>> ReadAllAsync(PgCdc cdc, string table, int partitions, TimeSpan? settle = null, bool withoutLogicalTypes = false, Func<IReadOnlyList<CdcRecord>, bool>? until = null) =>
        ReadAllAsync(cdc.Kafka, cdc.Store, cdc.Topic(table), partitions, settle, withoutLogicalTypes, until);

    /// <summary>
    /// Changes random rows of <c>t</c> (<see cref="TableColumns"/>, ids 1 to <paramref name="rows"/> at first) until
    /// cancelled, one statement per transaction under <c>lock_timeout = 1s</c> (a lock the snapshot held would make one
    /// throw): updates, deletes, inserts and key changes; with <paramref name="schemaChanges"/> also a column added, the
    /// key widened and the column dropped; with <paramref name="pause"/> between statements. Returns how many statements ran.
    /// </summary>
    public static async Task<int> WriteAsync(string connectionString, int rows, bool schemaChanges, CancellationToken cancellationToken, TimeSpan? pause = null)
    {
        var random = new Random(11);
        await using var connection = new NpgsqlConnection(connectionString);
        await connection.OpenAsync(CancellationToken.None);
        await using (var timeout = new NpgsqlCommand("SET lock_timeout = '1s'", connection))
        {
            await timeout.ExecuteNonQueryAsync(CancellationToken.None);
        }

        var count = 0;
        var next = Math.Max(100_000, rows * 2);
        while (!cancellationToken.IsCancellationRequested)
        {
            var id = random.Next(1, rows + 1);
            var sql = (schemaChanges, count) switch
            {
                // Between the chunks' descriptions, reads and windows: a column comes, the key widens, the column goes.
                (true, 100) => "ALTER TABLE t ADD COLUMN extra int DEFAULT 7",
                (true, 200) => "ALTER TABLE t ALTER COLUMN id TYPE bigint",
                (true, 300) => "ALTER TABLE t DROP COLUMN extra",
                _ => random.Next(10) switch
                {
                    < 5 => $"UPDATE t SET v = v + 1, note = 'u{count}' WHERE id = {id}",
                    < 7 => $"DELETE FROM t WHERE id = {id}",
                    < 9 => $"INSERT INTO t (id, v, note) VALUES ({next++}, {count}, 'i{count}')",
                    _ => $"UPDATE t SET id = {next++} WHERE id = {id}",
                },
            };
            await using var command = new NpgsqlCommand(sql, connection);
            await command.ExecuteNonQueryAsync(CancellationToken.None); // a lock timeout would throw: the snapshot takes no lock
            count++;
            if (pause is { } wait)
            {
                await Task.Delay(wait, CancellationToken.None);
            }
        }

        return count;
    }

    private static global::Avro.Schema WithoutLogicalTypes(global::Avro.Schema schema) =>
        global::Avro.Schema.Parse(System.Text.RegularExpressions.Regex.Replace(schema.ToString(), "\"logicalType\":\"[a-z-]+\",?", string.Empty));

    /// <summary>The rows of <c>t</c> (<see cref="TableColumns"/>): id → (v, note).</summary>
    public static async Task<Dictionary<long, (long V, string? Note)>> TableAsync(string connectionString)
    {
        var rows = new Dictionary<long, (long, string?)>();
        await using var connection = new NpgsqlConnection(connectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand("SELECT id, v, note FROM t", connection);
        await using var reader = await command.ExecuteReaderAsync();
        while (await reader.ReadAsync())
        {
            rows[Convert.ToInt64(reader.GetValue(0), CultureInfo.InvariantCulture)] = (reader.GetInt64(1), reader.IsDBNull(2) ? null : reader.GetString(2));
        }

        return rows;
    }

    /// <summary>The table rebuilt from its topic: per key (its canonical form), the last after image; a delete or tombstone removes it.</summary>
    public static Dictionary<string, GenericRecord> Rebuild(IEnumerable<CdcRecord> records, Func<CdcRecord, string> key)
    {
        var rows = new Dictionary<string, GenericRecord>(StringComparer.Ordinal);
        foreach (var record in records)
        {
            if (record.Value is null || record.Op == "d")
            {
                rows.Remove(key(record));
            }
            else if (record.Op != "t")
            {
                rows[key(record)] = record.After!;
            }
        }

        return rows;
    }

    /// <summary>A record's Kafka key in a canonical text form (every field, by value): equal keys, equal text.</summary>
    public static string KeyOf(CdcRecord record) => Canonical(record.Key ?? throw new InvalidOperationException("a record without a key"));

    /// <summary>A decoded Avro value as text: records field by field, bytes in hex, numbers and dates invariant.</summary>
    public static string Canonical(object? value) => value switch
    {
        null => "null",
        GenericRecord record => "{" + string.Join(",", record.Schema.Fields.Select(f => f.Name + "=" + Canonical(record[f.Name]))) + "}",
        byte[] bytes => "0x" + Convert.ToHexString(bytes),
        System.Collections.IEnumerable items and not string => "[" + string.Join(",", items.Cast<object?>().Select(Canonical)) + "]",
        DateTime time => time.ToString("O", CultureInfo.InvariantCulture),
        IFormattable formattable => formattable.ToString(null, CultureInfo.InvariantCulture),
        _ => value.ToString() ?? "null",
    };

    /// <summary>Asserts that the table <paramref name="rebuilt"/> from the topic equals <paramref name="expected"/>, naming
    /// up to 20 rows that differ with their history in the topic.</summary>
    public static void AssertSame<TKey, TValue>(IReadOnlyDictionary<TKey, TValue> expected, IReadOnlyDictionary<TKey, TValue> rebuilt, Func<TKey, string> history)
        where TKey : notnull
    {
        var wrong = expected.Where(e => !rebuilt.TryGetValue(e.Key, out var v) || !EqualityComparer<TValue>.Default.Equals(v, e.Value)).Select(e => e.Key)
            .Concat(rebuilt.Keys.Where(k => !expected.ContainsKey(k))).Take(20).ToList();
        Assert.True(wrong.Count == 0, $"{wrong.Count}{(wrong.Count == 20 ? "+" : string.Empty)} of {expected.Count} rows differ, e.g. {string.Join(", ", wrong)}:\n" + string.Join("\n", wrong.Take(5).Select(k =>
            $"{k}: table {(expected.TryGetValue(k, out var e) ? e!.ToString() : "none")}, topic {(rebuilt.TryGetValue(k, out var r) ? r!.ToString() : "none")}; history: {history(k)}")));
        Assert.Equal(expected.Count, rebuilt.Count);
    }

    /// <summary>Rebuilds <c>t</c> (<see cref="TableColumns"/>) from its topic and asserts it equals the table; returns the
    /// number of snapshot rows (<c>op = r</c>) in the topic.</summary>
    public static async Task<int> AssertTopicEqualsTableAsync(string connectionString, IReadOnlyList<CdcRecord> records)
    {
        var expected = await TableAsync(connectionString);
        static long Id(CdcRecord record) => Convert.ToInt64(record.Key!["id"], CultureInfo.InvariantCulture);
        var rebuilt = Rebuild(records, r => Id(r).ToString(CultureInfo.InvariantCulture))
            .ToDictionary(r => long.Parse(r.Key, CultureInfo.InvariantCulture), r => ((long)r.Value["v"], (string?)r.Value["note"]));
        AssertSame(expected, rebuilt, id => string.Join(" | ", records.Where(x => Id(x) == id)
            .Select(x => $"{x.Op ?? "tombstone"}@{x.Partition}:{x.Offset} {(x.After is { } a ? $"v={a["v"]} note={a["note"]}" : string.Empty)}")));
        return records.Count(r => r.Op == "r");
    }
}
