using Microsoft.Extensions.Logging;

namespace DataMesh.Producer.Emitting;

/// <summary>Log messages of the producer SDK (event ids 3000-3099). Never an event's content.</summary>
internal static partial class ProducerLog
{
    [LoggerMessage(EventId = 3000, Level = LogLevel.Information, Message = "DataMesh producer started: {Count} event types on topics {Topics}, Kafka at {BootstrapServers}")]
    public static partial void Started(ILogger logger, int count, string topics, string bootstrapServers);

    [LoggerMessage(EventId = 3001, Level = LogLevel.Debug, Message = "Event type {EventType}: subject '{Subject}' has schema id {Id}")]
    public static partial void SchemaRegistered(ILogger logger, string eventType, string subject, int id);

    [LoggerMessage(EventId = 3002, Level = LogLevel.Error, Message = "Event type {EventType} cannot be registered under subject '{Subject}': {Reason}")]
    public static partial void SchemaIncompatible(ILogger logger, string eventType, string subject, string reason);

    [LoggerMessage(EventId = 3003, Level = LogLevel.Information, Message = "DataMesh producer stopped: every queued event was delivered ({Delivered} in total)")]
    public static partial void StoppedClean(ILogger logger, long delivered);

    [LoggerMessage(EventId = 3004, Level = LogLevel.Error, Message = "DataMesh producer stopped with {Count} events not delivered within {Timeout}; their emitters were told (EventDeliveryException, Failure = Shutdown)")]
    public static partial void NotDelivered(ILogger logger, int count, TimeSpan timeout);

    [LoggerMessage(EventId = 3005, Level = LogLevel.Warning, Message = "Kafka client error {Code}: {Reason}")]
    public static partial void KafkaError(ILogger logger, Confluent.Kafka.ErrorCode code, string reason);

    [LoggerMessage(EventId = 3006, Level = LogLevel.Error, Message = "Event {EventId} for topic '{Topic}' was not delivered: {Reason}")]
    public static partial void DeliveryFailed(ILogger logger, Guid eventId, string topic, string reason);

    [LoggerMessage(EventId = 3007, Level = LogLevel.Warning, Message = "Event {EventId} for topic '{Topic}' will be sent again in {Delay} (attempt {Attempt}): {Reason}")]
    public static partial void Retrying(ILogger logger, Guid eventId, string topic, TimeSpan delay, int attempt, string reason);

    [LoggerMessage(EventId = 3008, Level = LogLevel.Warning, Message = "Event {EventId} for topic '{Topic}' rejected: the queue holds {Capacity} events (QueueFullPolicy {Policy})")]
    public static partial void Rejected(ILogger logger, Guid eventId, string topic, int capacity, QueueFullPolicy policy);

    [LoggerMessage(EventId = 3009, Level = LogLevel.Error, Message = "The delivery callback of event {EventId} threw")]
    public static partial void CallbackFailed(ILogger logger, Guid eventId, Exception exception);

    [LoggerMessage(EventId = 3010, Level = LogLevel.Information, Message = "DataMesh producer stopping: waiting up to {Timeout} for {Count} queued events")]
    public static partial void Stopping(ILogger logger, TimeSpan timeout, int count);

    [LoggerMessage(EventId = 3011, Level = LogLevel.Critical, Message = "Kafka client fatal error {Code}; events fail until the application restarts: {Reason}")]
    public static partial void KafkaFatal(ILogger logger, Confluent.Kafka.ErrorCode code, string reason);

    [LoggerMessage(EventId = 3012, Level = LogLevel.Debug, Message = "Kafka client ({Facility}): {Message}")]
    public static partial void Client(ILogger logger, string facility, string message);

    [LoggerMessage(EventId = 3013, Level = LogLevel.Information, Message = "Topic '{Topic}' created with {Partitions} partitions")]
    public static partial void TopicCreated(ILogger logger, string topic, int partitions);

    [LoggerMessage(EventId = 3020, Level = LogLevel.Information, Message = "Outbox relay started on table {Table} ({Dialect}) as {Owner}")]
    public static partial void RelayStarted(ILogger logger, string table, OutboxDialect dialect, string owner);

    [LoggerMessage(EventId = 3021, Level = LogLevel.Debug, Message = "Outbox relay published and deleted {Count} rows of {Table}, sequences {First}-{Last}")]
    public static partial void Relayed(ILogger logger, int count, string table, long first, long last);

    [LoggerMessage(EventId = 3022, Level = LogLevel.Error, Message = "Outbox relay on {Table} failed and retries in {Delay}: {Reason}")]
    public static partial void RelayFailed(ILogger logger, string table, string reason, TimeSpan delay, Exception exception);

    [LoggerMessage(EventId = 3023, Level = LogLevel.Information, Message = "Outbox table {Table} ({Dialect}) is in place")]
    public static partial void OutboxTableReady(ILogger logger, string table, OutboxDialect dialect);

    [LoggerMessage(EventId = 3024, Level = LogLevel.Warning, Message = "Outbox relay {Owner} lost its lease on {Table} while publishing; the rows it sent may be sent again by the new holder (same ce_id)")]
    public static partial void LeaseLost(ILogger logger, string owner, string table);

    [LoggerMessage(EventId = 3025, Level = LogLevel.Information, Message = "Outbox relay {Owner} holds the lease on {Table}")]
    public static partial void LeaseAcquired(ILogger logger, string owner, string table);
}
