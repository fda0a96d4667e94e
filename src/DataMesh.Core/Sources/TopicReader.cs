using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;
using Confluent.Kafka;
using DataMesh.Hosting;
using DataMesh.Kafka;

namespace DataMesh.Sources;

/// <summary>Reads partition 0 of a topic from its first to its last record, as stores kept in a topic do at start (positions,
/// schemas, a connector's schema history).</summary>
/// <remarks>
/// A store must know whether it read everything ever written to it. Compaction removes older records of a key but keeps
/// the partition's first offset at 0; records deleted outright (time or size retention on a real cluster, the embedded
/// cluster's 5 MB per partition) move the first offset above 0. <see cref="ReadToEndAsync(KafkaConnection, string, string, Action{Message{byte[], byte[]}}, string, CancellationToken)"/> therefore returns the first
/// offset, so that a store refuses what it cannot know rather than read a trimmed topic as if it were whole.
/// </remarks>
public static class TopicReader
{
    /// <summary>
    /// Calls <paramref name="onRecord"/> for every record of partition 0 of <paramref name="topic"/> present when the
    /// read starts, in offset order, on a thread of its own (the consumer blocks). Fails with a <see cref="TimeoutException"/>
    /// naming the topic when no record arrives for the connection's request timeout before the end is reached, and with an
    /// <see cref="InvalidDataException"/> naming the topic, offset and key of a record <paramref name="onRecord"/> cannot
    /// read as JSON (its <see cref="JsonException"/> inside).
    /// </summary>
    /// <param name="kafka">The cluster.</param>
    /// <param name="topic">The topic.</param>
    /// <param name="what">What the topic holds, for messages.</param>
    /// <param name="onRecord">Called for each record.</param>
    /// <param name="whatToDo">What the message of an unreadable record tells the user to do, or null for the general advice.</param>
    /// <param name="cancellationToken">Cancels the read.</param>
    /// <returns>
    /// The partition's first offset, as of the end of the read: 0 when no record was ever deleted from the partition (only
    /// compacted), so the read saw the latest record of every key ever written; above 0 when records before it were deleted
    /// (retention, the embedded cluster's limit), before or while the read ran (the read then goes on from the new first
    /// record rather than fail). A store that finds nothing of what it looks for must not take a first offset above 0 for
    /// "never written".
    /// </returns>
    public static Task<long> ReadToEndAsync(KafkaConnection kafka, string topic, string what, Action<Message<byte[], byte[]?>> onRecord, string? whatToDo, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(kafka);
        var timeout = kafka.Options.RequestTimeout;
        return Task.Factory.StartNew(
            () =>
            {
                var config = kafka.CreateConsumerConfig(groupId: null);
                // A read that falls behind the first offset (records deleted while it ran) must be told, not moved silently.
                config.AutoOffsetReset = AutoOffsetReset.Error;
                // The watermarks asked after the read go to the partition's leader on the connection that carries the
                // fetches; a fetch at the end of the partition waits there up to fetch.wait.max.ms (500 ms by default) and
                // the question waits behind it: half a second per read, three reads when a source starts.
                config.FetchWaitMaxMs = ReaderFetchWait.Short;
                using var consumer = new ConsumerBuilder<byte[], byte[]?>(config).Build();
                var partition = new TopicPartition(topic, 0);
                var watermarks = consumer.QueryWatermarkOffsets(partition, timeout);
                var first = watermarks.Low.Value;
                if (watermarks.High.Value > watermarks.Low.Value)
                {
                    first = Math.Max(first, Read(consumer, partition, watermarks, timeout, topic, what, onRecord, whatToDo, cancellationToken));
                }

                // Asked after the read: records deleted while it ran count too.
                return Math.Max(first, consumer.QueryWatermarkOffsets(partition, timeout).Low.Value);
            },
            cancellationToken,
            TaskCreationOptions.LongRunning,
            TaskScheduler.Default);
    }

    /// <summary>Reads as <see cref="ReadToEndAsync(KafkaConnection, string, string, Action{Message{byte[], byte[]}}, string, CancellationToken)"/>
    /// does, with the general advice for an unreadable record.</summary>
    /// <inheritdoc cref="ReadToEndAsync(KafkaConnection, string, string, Action{Message{byte[], byte[]}}, string, CancellationToken)"/>
    public static Task<long> ReadToEndAsync(KafkaConnection kafka, string topic, string what, Action<Message<byte[], byte[]?>> onRecord, CancellationToken cancellationToken) =>
        ReadToEndAsync(kafka, topic, what, onRecord, null, cancellationToken);

    /// <summary>A record the store cannot read (written by hand, by another tool or another version, or cut), named by
    /// its topic, offset and key, rather than the parser's bare message.</summary>
    private static InvalidDataException Unreadable(string what, string topic, ConsumeResult<byte[], byte[]?> result, JsonException ex, string? whatToDo)
    {
        var key = result.Message.Key is { } bytes ? Encoding.UTF8.GetString(bytes, 0, Math.Min(bytes.Length, 200)) : "(none)";
        var offset = result.Offset.Value.ToString(CultureInfo.InvariantCulture);
        return new InvalidDataException(
            $"{char.ToUpperInvariant(what[0])}{what[1..]} in topic '{topic}': the record at offset {offset} (key '{key}') cannot be read: {ex.Message} " +
            (whatToDo ?? "It was cut, or written by another program or another version of DataMesh. Write a correct record for that key (or a tombstone, a null value, to remove it) and start again."),
            ex);
    }

    /// <summary>Reads from the low to the high watermark; returns the first offset read from (higher than the low watermark
    /// when the records ahead of the read were deleted while it ran).</summary>
    private static long Read(IConsumer<byte[], byte[]?> consumer, TopicPartition partition, WatermarkOffsets watermarks, TimeSpan timeout, string topic, string what, Action<Message<byte[], byte[]?>> onRecord, string? whatToDo, CancellationToken cancellationToken)
    {
        var first = watermarks.Low.Value;
        consumer.Assign(new TopicPartitionOffset(partition, watermarks.Low));
        var lastRecord = Stopwatch.GetTimestamp();
        while (true)
        {
            cancellationToken.ThrowIfCancellationRequested();
            ConsumeResult<byte[], byte[]?>? result;
            try
            {
                result = consumer.Consume(TimeSpan.FromMilliseconds(200));
            }
            catch (ConsumeException ex) when (ex.Error.Code is ErrorCode.Local_AutoOffsetReset or ErrorCode.OffsetOutOfRange)
            {
                // The records ahead were deleted while the read ran: go on from the new first record, and say so.
                first = consumer.QueryWatermarkOffsets(partition, timeout).Low.Value;
                if (first >= watermarks.High.Value)
                {
                    return first;
                }

                consumer.Assign(new TopicPartitionOffset(partition, first));
                continue;
            }

            if (result is null)
            {
                if (Stopwatch.GetElapsedTime(lastRecord) > timeout)
                {
                    throw new TimeoutException($"Reading {what} from topic '{topic}' did not reach its end (offset {watermarks.High.Value}) within {timeout}.");
                }

                continue;
            }

            lastRecord = Stopwatch.GetTimestamp();
            try
            {
                onRecord(result.Message);
            }
            catch (JsonException ex)
            {
                throw Unreadable(what, topic, result, ex, whatToDo);
            }

            if (result.Offset.Value >= watermarks.High.Value - 1)
            {
                return first;
            }
        }
    }
}
