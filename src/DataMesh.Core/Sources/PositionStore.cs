using System.Text;
using Confluent.Kafka;
using DataMesh.Hosting;

namespace DataMesh.Sources;

/// <summary>
/// Keeps each source's position in a compacted, single-partition Kafka topic (default <c>_datamesh_offsets</c>):
/// the record key is the source's name, the value its position as the connector serialises it (JSON text by
/// convention). The last record of a key is the position; a connector saves a position only after Kafka
/// acknowledged every event before it, so a restart never skips a change.
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
    /// <exception cref="TimeoutException">The topic could not be read within the connection's request timeout.</exception>
    public async Task<string?> LoadAsync(string sourceName, CancellationToken cancellationToken)
    {
        ArgumentException.ThrowIfNullOrEmpty(sourceName);
        await EnsureTopicAsync(cancellationToken).ConfigureAwait(false);
        var key = Encoding.UTF8.GetBytes(sourceName);
        string? position = null;
        await TopicReader.ReadToEndAsync(_kafka, Topic, "positions", message =>
        {
            if (message.Key.AsSpan().SequenceEqual(key))
            {
                position = message.Value is null ? null : Encoding.UTF8.GetString(message.Value);
            }
        }, cancellationToken).ConfigureAwait(false);
        return position;
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
