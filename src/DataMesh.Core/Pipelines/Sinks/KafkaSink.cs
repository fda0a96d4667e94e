using System.Text.Json;
using Confluent.Kafka;
using DataMesh.Avro;
using DataMesh.Hosting;
using DataMesh.Schemas;

namespace DataMesh.Pipelines.Sinks;

/// <summary>
/// Writes records to Kafka topics (each record's <see cref="SinkRecord.Topic"/>) in the Confluent wire format, with an
/// idempotent producer (<c>acks=all</c>): the key as it was read, the value framed with its output schema's id (the schema
/// is registered under <c>&lt;topic&gt;-value</c> the first time), tombstones as null values. A topic is created with
/// <see cref="KafkaSinkOptions.Partitions"/> partitions when first used (unless the connection's
/// <see cref="KafkaOptions.CreateTopics"/> is off). A batch returns when Kafka acknowledged every record of it.
/// </summary>
/// <remarks>
/// A value whose schema cannot be registered for its topic (it breaks the subject's compatibility level), or that the
/// client refuses before sending (too large), is rejected with the reason, so it goes to the dead-letter topic. A full
/// client queue waits. A failed delivery (after the client's own retries) fails the batch, and, because later batches may
/// already be written, stops the pipeline: a restart replays from the committed offsets, in order (at least once).
/// </remarks>
public sealed class KafkaSink : PipelineSink
{
    private readonly KafkaSinkOptions _options;
    private readonly Dictionary<(global::Avro.RecordSchema Schema, string Topic), int> _ids = new(SchemaTopicComparer.Instance);
    private readonly HashSet<string> _topics = new(StringComparer.Ordinal);
    private readonly SemaphoreSlim _setup = new(1, 1);
    private readonly SemaphoreSlim _order = new(1, 1);
    private SinkContext? _context;
    private KafkaConnection? _kafka;
    private IProducer<byte[]?, byte[]?>? _producer;

    /// <summary>Creates a Kafka sink; it connects when the pipeline starts it.</summary>
    /// <param name="options">The settings, or null for the defaults.</param>
    /// <exception cref="ArgumentException">A setting is out of range.</exception>
    public KafkaSink(KafkaSinkOptions? options = null)
    {
        _options = options ?? new KafkaSinkOptions();
        _options.Validate();
    }

    /// <inheritdoc />
    public override string Name => "kafka";

    /// <summary>
    /// 32: batches are produced in the order they are handed over (one at a time), then acknowledged in the background.
    /// So a failed delivery (after the client's own retries) stops the pipeline instead of retrying one batch out of order.
    /// </summary>
    public override int MaxBatchesInFlight => 32;

    /// <inheritdoc />
    public override ValueTask StartAsync(SinkContext context, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(context);
        _context = context;
        _kafka = _options.Connection ?? context.Kafka;
        _producer ??= new ProducerBuilder<byte[]?, byte[]?>(_kafka.CreateProducerConfig()).Build();
        return ValueTask.CompletedTask;
    }

    /// <inheritdoc />
    public override async ValueTask WriteAsync(SinkBatch batch, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(batch);
        var producer = _producer ?? throw new InvalidOperationException("The Kafka sink was not started.");
        var delivery = new DeliveryCounter();

        // Batches are produced one at a time, in the order of the calls (the semaphore queues waiters in order), so that
        // a batch still preparing (a new topic or schema) is not overtaken by the next.
        await _order.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            await PrepareAsync(batch, cancellationToken).ConfigureAwait(false);
            var last = new LastId();
            for (var i = 0; i < batch.Count; i++)
            {
                if (batch.GetRejection(i) is not null)
                {
                    continue;
                }

                var record = batch[i];
                var message = ToMessage(record, ref last);
                while (true)
                {
                    try
                    {
                        producer.Produce(record.Topic, message, delivery.Handler);
                        delivery.Add(); // after Produce: a report that comes first only takes the count below zero for a moment
                        break;
                    }
                    catch (ProduceException<byte[]?, byte[]?> e) when (e.Error.Code == ErrorCode.Local_QueueFull)
                    {
                        // The client's queue is full: its background thread makes room as deliveries arrive (backpressure).
                        Thread.Sleep(5);
                    }
                    catch (ProduceException<byte[]?, byte[]?> e) when (!e.Error.IsFatal)
                    {
                        // Refused before it was sent (too large, invalid): this record only.
                        batch.Reject(i, $"Kafka refused the record for '{record.Topic}': {e.Error.Reason}");
                        break;
                    }
                }
            }
        }
        finally
        {
            _order.Release();
        }

        await delivery.WaitAsync().WaitAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc />
    public override ValueTask DisposeAsync()
    {
        _producer?.Flush(TimeSpan.FromSeconds(10));
        _producer?.Dispose();
        _producer = null;
        _setup.Dispose();
        _order.Dispose();
        return base.DisposeAsync();
    }

    /// <summary>Creates the batch's new topics and registers its new output schemas (rare: once per topic and schema).</summary>
    private async ValueTask PrepareAsync(SinkBatch batch, CancellationToken cancellationToken)
    {
        List<int>? pending = null;
        lock (_ids)
        {
            global::Avro.RecordSchema? lastSchema = null;
            string? lastTopic = null;
            for (var i = 0; i < batch.Count; i++)
            {
                var record = batch[i];
                if (ReferenceEquals(record.ValueSchema, lastSchema) && ReferenceEquals(record.Topic, lastTopic))
                {
                    continue;
                }

                if (!_topics.Contains(record.Topic) || (record.ValueSchema is { } schema && record.ValueSchemaId == 0 && !_ids.ContainsKey((schema, record.Topic))))
                {
                    (pending ??= []).Add(i);
                }
                else
                {
                    lastSchema = record.ValueSchema;
                    lastTopic = record.Topic;
                }
            }
        }

        if (pending is null)
        {
            return;
        }

        await _setup.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            foreach (var i in pending)
            {
                var (topic, schema, framed) = Describe(batch, i);
                if (!Contains(topic))
                {
                    await _kafka!.EnsureTopicAsync(topic, _options.Partitions, TopicRetention.Default, cancellationToken).ConfigureAwait(false);
                    lock (_ids)
                    {
                        _topics.Add(topic);
                    }
                }

                if (schema is null || framed || TryGetId(schema, topic, out _))
                {
                    continue;
                }

                try
                {
                    var id = await _context!.Schemas.RegisterAsync(topic + "-value", schema, cancellationToken).ConfigureAwait(false);
                    lock (_ids)
                    {
                        _ids[(schema, topic)] = id;
                    }
                }
                catch (SchemaIncompatibleException e)
                {
                    batch.Reject(i, $"the output schema {schema.Fullname} cannot be registered for '{topic}': {e.Message}");
                }
            }
        }
        finally
        {
            _setup.Release();
        }
    }

    private static (string Topic, global::Avro.RecordSchema? Schema, bool Framed) Describe(SinkBatch batch, int index)
    {
        var record = batch[index];
        return (record.Topic, record.ValueSchema, record.ValueSchemaId != 0);
    }

    private bool Contains(string topic)
    {
        lock (_ids)
        {
            return _topics.Contains(topic);
        }
    }

    private bool TryGetId(global::Avro.RecordSchema schema, string topic, out int id)
    {
        lock (_ids)
        {
            return _ids.TryGetValue((schema, topic), out id);
        }
    }

    private Message<byte[]?, byte[]?> ToMessage(SinkRecord record, ref LastId last)
    {
        byte[]? value = null;
        if (!record.IsTombstone)
        {
            var id = record.ValueSchemaId;
            if (id == 0)
            {
                // Records of a batch mostly share their schema and topic: look the id up when they change.
                if (!ReferenceEquals(last.Schema, record.ValueSchema) || !ReferenceEquals(last.Topic, record.Topic))
                {
                    if (!TryGetId(record.ValueSchema!, record.Topic, out last.Id))
                    {
                        throw new InvalidOperationException($"No schema id for {record.ValueSchema!.Fullname} on '{record.Topic}'.");
                    }

                    last.Schema = record.ValueSchema;
                    last.Topic = record.Topic;
                }

                id = last.Id;
            }

            value = new byte[ConfluentWireFormat.HeaderLength + record.Value.Length];
            ConfluentWireFormat.WriteHeader(value, id);
            record.Value.CopyTo(value.AsSpan(ConfluentWireFormat.HeaderLength));
        }

        return new Message<byte[]?, byte[]?>
        {
            Key = record.HasKey ? record.Key.ToArray() : null,
            Value = value,
            Headers = record.HeadersJson.IsEmpty ? null : ToHeaders(record.HeadersJson),
        };
    }

    private static Headers ToHeaders(ReadOnlySpan<byte> json)
    {
        var headers = new Headers();
        var reader = new Utf8JsonReader(json);
        reader.Read();
        while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
        {
            var name = reader.GetString()!;
            reader.Read();
            headers.Add(name, reader.TokenType == JsonTokenType.Null ? null : System.Text.Encoding.UTF8.GetBytes(reader.TokenType == JsonTokenType.String ? reader.GetString()! : System.Text.Encoding.UTF8.GetString(reader.ValueSpan)));
        }

        return headers;
    }

    /// <summary>The schema id of the previous record of a batch.</summary>
    private struct LastId
    {
        public global::Avro.RecordSchema? Schema;
        public string? Topic;
        public int Id;
    }

    /// <summary>Schemas by reference (Avro's own equality compares them field by field), topics by value.</summary>
    private sealed class SchemaTopicComparer : IEqualityComparer<(global::Avro.RecordSchema Schema, string Topic)>
    {
        public static readonly SchemaTopicComparer Instance = new();

        public bool Equals((global::Avro.RecordSchema Schema, string Topic) x, (global::Avro.RecordSchema Schema, string Topic) y) =>
            ReferenceEquals(x.Schema, y.Schema) && string.Equals(x.Topic, y.Topic, StringComparison.Ordinal);

        public int GetHashCode((global::Avro.RecordSchema Schema, string Topic) obj) =>
            HashCode.Combine(System.Runtime.CompilerServices.RuntimeHelpers.GetHashCode(obj.Schema), StringComparer.Ordinal.GetHashCode(obj.Topic));
    }
}
