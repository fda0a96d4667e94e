namespace DataMesh.Producer;

/// <summary>The outcome of one event handed to <see cref="IEventEmitter.Emit{TEvent}(TEvent, Action{EventDelivery}?)"/>.</summary>
/// <param name="EventId">The event's id, also sent in the <c>ce_id</c> header.</param>
/// <param name="Topic">The topic.</param>
/// <param name="Partition">The partition Kafka stored the event in, or -1 when it was not delivered.</param>
/// <param name="Offset">The offset Kafka stored the event at, or -1 when it was not delivered.</param>
/// <param name="Error">Why the event was not delivered, or null when Kafka acknowledged it.</param>
public readonly record struct EventDelivery(Guid EventId, string Topic, int Partition, long Offset, EventDeliveryException? Error)
{
    /// <summary>Whether Kafka acknowledged the event.</summary>
    public bool Delivered => Error is null;
}
