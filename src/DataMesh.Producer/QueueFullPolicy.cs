namespace DataMesh.Producer;

/// <summary>What <see cref="IEventEmitter.Emit{TEvent}(TEvent, Action{EventDelivery}?)"/> does when the queue is full
/// (<see cref="IEventEmitter.EmitAsync{TEvent}(TEvent, CancellationToken)"/> always waits, cancellably).</summary>
public enum QueueFullPolicy
{
    /// <summary>Throw <see cref="EventDeliveryException"/> (<see cref="EventDeliveryFailure.QueueFull"/>) at once. The default.</summary>
    Throw,

    /// <summary>Block the calling thread until there is room, at most <see cref="ProducerOptions.QueueFullTimeout"/>, then throw.</summary>
    Block,

    /// <summary>Do not queue the event: call its delivery callback with <see cref="EventDeliveryFailure.QueueFull"/>,
    /// count it in <c>datamesh.producer.events.rejected</c> and log a warning. Nothing is dropped silently.</summary>
    Reject,
}
