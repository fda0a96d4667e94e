namespace DataMesh.Producer;

/// <summary>
/// Settings of the producer SDK, bound from the <c>DataMesh:Producer</c> configuration section or set in code.
/// Kafka and the schema store are DataMesh's shared settings (<c>DataMesh:Kafka</c>, <c>DataMesh:SchemaStore</c>).
/// </summary>
public sealed class ProducerOptions
{
    /// <summary>The configuration section the producer binds by default.</summary>
    public const string SectionName = "DataMesh:Producer";

    private readonly List<Type> _eventTypes = [];

    /// <summary>
    /// The name of the emitting application: the <c>ce_source</c> header and the middle part of conventional topic
    /// names (<c>&lt;prefix&gt;.&lt;source&gt;.&lt;event-name&gt;</c>). Default: the host's application name, lower-cased,
    /// with characters other than letters, digits, '.', '_' and '-' replaced by '-'.
    /// </summary>
    public string? Source { get; set; }

    /// <summary>The first part of conventional topic names. Default: <c>DataMesh:Events:TopicPrefix</c> (<c>dm</c>).</summary>
    public string? TopicPrefix { get; set; }

    /// <summary>
    /// Topics by event type, keyed by the type's full name (<c>Shop.Orders.OrderPlaced</c>) or its name
    /// (<c>OrderPlaced</c>); wins over <see cref="EventTopicAttribute"/> and the convention.
    /// </summary>
    public IDictionary<string, string> Topics { get; } = new Dictionary<string, string>(StringComparer.Ordinal);

    /// <summary>Whether topics are created at start when missing. Default true.</summary>
    public bool CreateTopics { get; set; } = true;

    /// <summary>The partition count of topics the producer creates. Default 3.</summary>
    public int TopicPartitions { get; set; } = 3;

    /// <summary>
    /// The most events accepted and not yet acknowledged by Kafka (queued or in flight). When reached,
    /// <see cref="IEventEmitter.EmitAsync{TEvent}(TEvent, CancellationToken)"/> waits and
    /// <see cref="IEventEmitter.Emit{TEvent}(TEvent, Action{EventDelivery}?)"/> follows <see cref="QueueFullPolicy"/>. Default 10 000.
    /// </summary>
    public int QueueCapacity { get; set; } = 10_000;

    /// <summary>What <c>Emit</c> does when the queue is full. Default <see cref="Producer.QueueFullPolicy.Throw"/>.</summary>
    public QueueFullPolicy QueueFullPolicy { get; set; } = QueueFullPolicy.Throw;

    /// <summary>How long <see cref="Producer.QueueFullPolicy.Block"/> waits for room. Default 5 seconds.</summary>
    public TimeSpan QueueFullTimeout { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>
    /// How long the host's stop waits for queued events to be acknowledged; what is left is reported as not delivered
    /// (failed with <see cref="EventDeliveryFailure.Shutdown"/>, counted in a log message). Default 30 seconds.
    /// </summary>
    public TimeSpan ShutdownTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// How long the Kafka client tries to deliver an event before handing it back to the SDK, which then sends it again
    /// after a backoff (<see cref="RetryBackoff"/> doubling to <see cref="MaxRetryBackoff"/>), keeping its event id.
    /// Null (the default): the client retries until delivered, which keeps order and never duplicates. A finite
    /// timeout surfaces outages sooner in logs and metrics but may duplicate (same <c>ce_id</c>) and reorder the retried events.
    /// </summary>
    public TimeSpan? DeliveryTimeout { get; set; }

    /// <summary>The first backoff before the SDK sends an event again. Default 200 milliseconds.</summary>
    public TimeSpan RetryBackoff { get; set; } = TimeSpan.FromMilliseconds(200);

    /// <summary>The longest backoff between sends of one event. Default 30 seconds.</summary>
    public TimeSpan MaxRetryBackoff { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// librdkafka settings for the producer only, applied after DataMesh's (<c>linger.ms</c>, <c>compression.type</c>,
    /// <c>batch.size</c> ...). Idempotence and <c>acks</c> are managed and cannot be set here.
    /// </summary>
    public IDictionary<string, string> KafkaSettings { get; } = new Dictionary<string, string>(StringComparer.Ordinal);

    /// <summary>The transactional outbox.</summary>
    public OutboxOptions Outbox { get; set; } = new();

    /// <summary>The event types added with <see cref="AddEvent{TEvent}(string?)"/>.</summary>
    public IReadOnlyList<Type> EventTypes => _eventTypes;

    /// <summary>
    /// Adds an event type: its Avro schema is derived from its public properties and fields, registered in the schema
    /// store and checked for compatibility when the host starts.
    /// </summary>
    /// <typeparam name="TEvent">A record, class or struct.</typeparam>
    /// <param name="topic">Its topic, or null for <see cref="EventTopicAttribute"/> or the convention.</param>
    /// <returns>These options.</returns>
    public ProducerOptions AddEvent<TEvent>(string? topic = null) => AddEvent(typeof(TEvent), topic);

    /// <summary>Adds an event type; see <see cref="AddEvent{TEvent}(string?)"/>.</summary>
    /// <param name="eventType">A record, class or struct.</param>
    /// <param name="topic">Its topic, or null for <see cref="EventTopicAttribute"/> or the convention.</param>
    /// <returns>These options.</returns>
    public ProducerOptions AddEvent(Type eventType, string? topic = null)
    {
        ArgumentNullException.ThrowIfNull(eventType);
        if (!_eventTypes.Contains(eventType))
        {
            _eventTypes.Add(eventType);
        }

        if (topic is not null)
        {
            Topics[eventType.FullName ?? eventType.Name] = topic;
        }

        return this;
    }
}
