namespace DataMesh.Producer;

/// <summary>Leaves the marked property (or field) out of the event's Avro schema and payload.</summary>
[AttributeUsage(AttributeTargets.Property | AttributeTargets.Field, Inherited = true)]
public sealed class EventIgnoreAttribute : Attribute
{
}
