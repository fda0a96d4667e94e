namespace DataMesh.Producer;

/// <summary>
/// Sends events of the marked type to <see cref="Topic"/> instead of the conventional
/// <c>&lt;prefix&gt;.&lt;source&gt;.&lt;event-name&gt;</c>. A topic set in <see cref="ProducerOptions.Topics"/> wins over this attribute.
/// </summary>
/// <remarks>Several event types may share a topic (for example every event of one aggregate, to keep their order per key);
/// their value schemas are then registered under <c>&lt;topic&gt;-&lt;record full name&gt;</c>.</remarks>
[AttributeUsage(AttributeTargets.Class | AttributeTargets.Struct, Inherited = false)]
public sealed class EventTopicAttribute : Attribute
{
    /// <summary>Marks an event type with its topic.</summary>
    /// <param name="topic">The Kafka topic.</param>
    public EventTopicAttribute(string topic) => Topic = topic;

    /// <summary>The Kafka topic.</summary>
    public string Topic { get; }
}
