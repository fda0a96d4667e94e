using System.Globalization;
using System.Text;
using Confluent.Kafka;
using DataMesh.Hosting;

namespace DataMesh.Sources;

/// <summary>
/// Keeps each source's position in a compacted, single-partition Kafka topic (default <c>_datamesh_offsets</c>):
/// the record key is the source's name, the value its position as the connector serialises it (JSON text by
/// convention). The last record of a key is the position; a connector saves a position only after Kafka
/// acknowledged every event before it, so a restart never skips a change. A topic whose oldest records were deleted
/// (retention, or the embedded cluster's 5 MB per partition) cannot tell "never saved" from "deleted":
/// <see cref="LoadAsync"/> then fails for a source it holds no record of, rather than return no position.
/// </summary>
public sealed class PositionStore : IDisposable
{
    /// <summary>The default topic.</summary>
    public const string DefaultTopic = "_datamesh_offsets";

    private readonly KafkaConnection _kafka;
    private readonly SemaphoreSlim _init = new(1, 1);
    private IProducer<byte[], byte[]?>? _producer;

    /// <summary>Creates a store on <paramref name="kafka"/>.</summary>
    /// <param name="kafka">The cluster.</param>
    /// <param name="topic">The topic; created (compacted, one partition) when missing.</param>
    public PositionStore(KafkaConnection kafka, string topic = DefaultTopic)
    {
        ArgumentNullException.ThrowIfNull(kafka);
        ArgumentException.ThrowIfNullOrEmpty(topic);
        _kafka = kafka;
        Topic = topic;
    }

    /// <summary>The topic.</summary>
    public string Topic { get; }

    /// <summary>Reads the last saved position of a source.</summary>
    /// <param name="sourceName">The source's name.</param>
    /// <param name="cancellationToken">Cancels the read.</param>
    /// <returns>The position, or null when none was saved (or it was reset).</returns>
    /// <exception cref="TimeoutException">The topic could not be read within the connection's request timeout; when no broker
    /// answered, the message names the bootstrap servers and the settings to check.</exception>
    /// <exception cref="InvalidOperationException">
    /// The topic does not exist (with <see cref="KafkaOptions.CreateTopics"/> off); or it holds no record of the source and
    /// no longer starts at offset 0: its oldest records were deleted (on the
    /// embedded cluster, which keeps at most 5 MB per partition and compacts nothing, by positions saved after them), so
    /// the source's position may have been among them. A source is never started from "no position" on a guess: reset
    /// its position with <see cref="SaveAsync"/> and null to start it afresh on purpose.
    /// </exception>
    public async Task<string?> LoadAsync(string sourceName, CancellationToken cancellationToken)
    {
        ArgumentException.ThrowIfNullOrEmpty(sourceName);
        await EnsureTopicAsync(cancellationToken).ConfigureAwait(false);
        var key = Encoding.UTF8.GetBytes(sourceName);
        string? position = null;
        var found = false;
        long first;
        try
        {
            first = await TopicReader.ReadToEndAsync(_kafka, Topic, "positions", message =>
            {
                if (message.Key.AsSpan().SequenceEqual(key))
                {
                    found = true;
                    position = message.Value is null ? null : Encoding.UTF8.GetString(message.Value);
                }
            }, cancellationToken).ConfigureAwait(false);
        }
        catch (KafkaException ex) when (KafkaAdmin.IsNoAnswer(ex) && !cancellationToken.IsCancellationRequested)
        {
            throw KafkaAdmin.NoAnswer(_kafka.BootstrapServers, $"reading source positions from topic '{Topic}'", _kafka.Options.RequestTimeout, null, _kafka.Options.Settings, ex);
        }
        catch (KafkaException ex) when (ex.Error.Code is ErrorCode.Local_UnknownPartition or ErrorCode.Local_UnknownTopic or ErrorCode.UnknownTopicOrPart)
        {
            throw new InvalidOperationException(
                $"Topic '{Topic}' of the source positions does not exist on Kafka at {_kafka.BootstrapServers} ({ex.Error.Reason}). " +
                "Create it with 1 partition and cleanup.policy=compact (no time or size retention)" +
                (_kafka.Options.CreateTopics ? "; it may have been deleted since DataMesh created it." : ", or turn DataMesh:Kafka:CreateTopics on."),
                ex);
        }

        // Compaction keeps the first offset at 0, so a first offset above it means records were deleted outright (retention,
        // or the embedded cluster's limit), before or while the read ran.
        if (!found && first > 0)
        {
            throw new InvalidOperationException(
                $"The position of source '{sourceName}' cannot be known: topic '{Topic}' holds no record of it, and no longer starts at offset 0 " +
                $"(its first record is at offset {first.ToString(CultureInfo.InvariantCulture)}), so its last position may have been among the deleted records. " +
                "On the embedded Kafka cluster, which keeps at most 5 MB per partition and compacts nothing, positions saved later pushed them out; " +
                "on a real cluster, the topic lost records to retention (it must be compacted, without time or size retention). " +
                "Starting the source without its position could skip or repeat changes, so it does not start. " +
                $"To start it afresh on purpose (from its database's current state, with a new snapshot), reset its position: PositionStore.SaveAsync(\"{sourceName}\", null). " +
                "To keep positions, use a real Kafka cluster (DataMesh:Kafka:BootstrapServers).");
        }

        return position;
    }

    /// <summary>
    /// Takes the next fencing epoch of a source (called by the holder of its lease, once per term, before it produces): one
    /// more than the last one taken, and at least the current Unix time in milliseconds (so that epochs still grow if the
    /// record of the last one was deleted: the embedded cluster keeps 5 MB per partition), stored under key
    /// <c>NAME.epoch</c> (source names have no '.') and acknowledged by Kafka before it is returned.
    /// </summary>
    /// <param name="sourceName">The source's name.</param>
    /// <param name="cancellationToken">Cancels the read or the wait.</param>
    /// <returns>The new epoch.</returns>
    /// <exception cref="TimeoutException">The topic could not be read in time.</exception>
    public async Task<long> NextEpochAsync(string sourceName, CancellationToken cancellationToken)
    {
        ArgumentException.ThrowIfNullOrEmpty(sourceName);
        await EnsureTopicAsync(cancellationToken).ConfigureAwait(false);
        var key = Encoding.UTF8.GetBytes(sourceName + ".epoch");
        var last = 0L;
        try
        {
            await TopicReader.ReadToEndAsync(_kafka, Topic, "positions", message =>
            {
                if (message.Key.AsSpan().SequenceEqual(key) && message.Value is { } value
                    && long.TryParse(Encoding.UTF8.GetString(value), NumberStyles.None, CultureInfo.InvariantCulture, out var stored))
                {
                    last = Math.Max(last, stored);
                }
            }, cancellationToken).ConfigureAwait(false);
        }
        catch (KafkaException ex) when (KafkaAdmin.IsNoAnswer(ex) && !cancellationToken.IsCancellationRequested)
        {
            throw KafkaAdmin.NoAnswer(_kafka.BootstrapServers, $"reading source epochs from topic '{Topic}'", _kafka.Options.RequestTimeout, null, _kafka.Options.Settings, ex);
        }

        var epoch = Math.Max(last + 1, DateTimeOffset.UtcNow.ToUnixTimeMilliseconds());
        var message = new Message<byte[], byte[]?> { Key = key, Value = Encoding.UTF8.GetBytes(epoch.ToString(CultureInfo.InvariantCulture)) };
        await _producer!.ProduceAsync(new TopicPartition(Topic, 0), message, cancellationToken).ConfigureAwait(false);
        return epoch;
    }

    /// <summary>Saves a source's position and waits until Kafka acknowledged it.</summary>
    /// <param name="sourceName">The source's name.</param>
    /// <param name="position">The position, or null to reset it (the next start begins afresh).</param>
    /// <param name="cancellationToken">Cancels the wait (the record may still be written).</param>
    public async Task SaveAsync(string sourceName, string? position, CancellationToken cancellationToken)
    {
        ArgumentException.ThrowIfNullOrEmpty(sourceName);
        await EnsureTopicAsync(cancellationToken).ConfigureAwait(false);
        var message = new Message<byte[], byte[]?>
        {
            Key = Encoding.UTF8.GetBytes(sourceName),
            Value = position is null ? null : Encoding.UTF8.GetBytes(position),
        };
        await _producer!.ProduceAsync(new TopicPartition(Topic, 0), message, cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc />
    public void Dispose()
    {
        _producer?.Flush(_kafka.Options.RequestTimeout);
        _producer?.Dispose();
        _init.Dispose();
    }

    private async Task EnsureTopicAsync(CancellationToken cancellationToken)
    {
        if (_producer is not null)
        {
            return;
        }

        await _init.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (_producer is null)
            {
                await _kafka.EnsureTopicAsync(Topic, 1, TopicRetention.Compacted, cancellationToken).ConfigureAwait(false);
                _producer = new ProducerBuilder<byte[], byte[]?>(_kafka.CreateProducerConfig()).Build();
            }
        }
        finally
        {
            _init.Release();
        }
    }
}
