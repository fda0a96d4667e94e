namespace DataMesh.Producer;

/// <summary>Why an event was not delivered.</summary>
public enum EventDeliveryFailure
{
    /// <summary>Kafka refused the event with an error that retrying cannot fix (authorisation, a record too large ...).</summary>
    Kafka,

    /// <summary>The queue was full and <see cref="ProducerOptions.QueueFullPolicy"/> said not to wait.</summary>
    QueueFull,

    /// <summary>The host stopped before Kafka acknowledged the event within <see cref="ProducerOptions.ShutdownTimeout"/>.</summary>
    Shutdown,
}

/// <summary>An event was not delivered to Kafka. It carries the event's id, so that a retry can be recognised downstream.</summary>
public sealed class EventDeliveryException : Exception
{
    /// <summary>Creates the exception.</summary>
    /// <param name="eventId">The event's id.</param>
    /// <param name="topic">The topic.</param>
    /// <param name="failure">Why it was not delivered.</param>
    /// <param name="message">The message.</param>
    /// <param name="innerException">The cause, or null.</param>
    public EventDeliveryException(Guid eventId, string topic, EventDeliveryFailure failure, string message, Exception? innerException = null)
        : base(message, innerException)
    {
        EventId = eventId;
        Topic = topic;
        Failure = failure;
    }

    /// <summary>Creates the exception with a message only.</summary>
    public EventDeliveryException()
        : this("The event was not delivered.")
    {
    }

    /// <summary>Creates the exception with a message only.</summary>
    /// <param name="message">The message.</param>
    public EventDeliveryException(string message)
        : base(message)
    {
        Topic = string.Empty;
    }

    /// <summary>Creates the exception with a message and its cause.</summary>
    /// <param name="message">The message.</param>
    /// <param name="innerException">The cause.</param>
    public EventDeliveryException(string message, Exception innerException)
        : base(message, innerException)
    {
        Topic = string.Empty;
    }

    /// <summary>The event's id (the <c>ce_id</c> header).</summary>
    public Guid EventId { get; }

    /// <summary>The topic the event was for.</summary>
    public string Topic { get; }

    /// <summary>Why it was not delivered.</summary>
    public EventDeliveryFailure Failure { get; }
}
