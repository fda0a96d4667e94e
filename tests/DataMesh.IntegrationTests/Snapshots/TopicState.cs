using Avro.Generic;
using Confluent.Kafka;
using DataMesh.Hosting;
using DataMesh.IntegrationTests.Infrastructure;
using DataMesh.Schemas;
using Xunit;

namespace DataMesh.IntegrationTests.Snapshots;

/// <summary>A table of rows <c>(key, v, note)</c> rebuilt from its topic: the last value per key, deletes and tombstones
/// removing.</summary>
internal static class TopicState
{
    /// <summary>Asserts that <paramref name="records"/> (every record of the table's topic, per partition in order) rebuild
    /// <paramref name="table"/> exactly; a failure names the rows that differ, with their records.</summary>
    /// <returns>How many snapshot rows (<c>op = r</c>) the topic has.</returns>
    public static int AssertRebuilds<TKey>(IReadOnlyList<CdcRecord> records, IReadOnlyDictionary<TKey, (long V, string? Note)> table, Func<GenericRecord, TKey> key)
        where TKey : notnull
    {
        var rebuilt = new Dictionary<TKey, (long, string?)>();
        var reads = 0;
        foreach (var record in records)
        {
            var id = key(record.Key!);
            if (record.Value is null || record.Op == "d")
            {
                rebuilt.Remove(id);
                continue;
            }

            reads += record.Op == "r" ? 1 : 0;
            rebuilt[id] = ((long)record.After!["v"], (string?)record.After!["note"]);
        }

        var wrong = table.Where(e => !rebuilt.TryGetValue(e.Key, out var v) || v != e.Value).Select(e => e.Key)
            .Concat(rebuilt.Keys.Where(k => !table.ContainsKey(k))).Take(20).ToList();
        Assert.True(wrong.Count == 0, $"{wrong.Count}+ rows differ, e.g. {string.Join(", ", wrong)}:\n" + string.Join("\n", wrong.Take(5).Select(id =>
            $"{id}: table {(table.TryGetValue(id, out var e) ? e.ToString() : "none")}, topic {(rebuilt.TryGetValue(id, out var r) ? r.ToString() : "none")}; history: " +
            string.Join(" | ", records.Where(x => Equals(key(x.Key!), id))
                .Select(x => $"{x.Op ?? "tombstone"}@{x.Partition}:{x.Offset} {(x.After is { } a ? $"v={a["v"]} note={a["note"]}" : "")} schema={x.After?.Schema.Fields.Count}")))));
        Assert.Equal(table.Count, rebuilt.Count);
        return reads;
    }

    /// <summary>Every record of a topic, per partition in order, once it has been quiet for <paramref name="quiet"/> (3 s;
    /// <paramref name="first"/>, 10 s, for the first record), decoded with the writer schemas (changed by
    /// <paramref name="adjust"/>), with the raw messages.</summary>
    public static async Task<List<(CdcRecord Record, Message<byte[]?, byte[]?> Message)>> ReadAsync(KafkaConnection kafka, ISchemaStore store, string topic, int partitions, TimeSpan? quiet = null, Func<global::Avro.Schema, global::Avro.Schema>? adjust = null, TimeSpan? first = null)
    {
        var raw = await Task.Run(() =>
        {
            using var consumer = new ConsumerBuilder<byte[]?, byte[]?>(kafka.CreateConsumerConfig(null)).Build();
            consumer.Assign(Enumerable.Range(0, partitions).Select(p => new TopicPartitionOffset(topic, p, Offset.Beginning)));
            var records = new List<ConsumeResult<byte[]?, byte[]?>>();
            var until = DateTime.UtcNow + (first ?? TimeSpan.FromSeconds(10));
            while (DateTime.UtcNow < until)
            {
                if (consumer.Consume(TimeSpan.FromMilliseconds(200)) is { IsPartitionEOF: false } result)
                {
                    records.Add(result);
                    until = DateTime.UtcNow + (quiet ?? TimeSpan.FromSeconds(3));
                }
            }

            return records;
        });

        var decoded = new List<(CdcRecord, Message<byte[]?, byte[]?>)>(raw.Count);
        foreach (var record in raw)
        {
            decoded.Add((new CdcRecord(await CdcRecord.DecodeAsync(store, record.Message.Key, adjust), await CdcRecord.DecodeAsync(store, record.Message.Value, adjust), record.Offset.Value, record.Partition.Value), record.Message));
        }

        return decoded;
    }
}
