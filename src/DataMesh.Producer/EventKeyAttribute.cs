namespace DataMesh.Producer;

/// <summary>
/// Marks the property (or field) whose value is the Kafka message key: events with equal keys go to the same partition
/// and keep their order. The key travels as Avro in the Confluent wire format, its schema registered under
/// <c>&lt;topic&gt;-key</c>. An event type without a key property is produced without a key.
/// </summary>
[AttributeUsage(AttributeTargets.Property | AttributeTargets.Field, Inherited = true)]
public sealed class EventKeyAttribute : Attribute
{
}
