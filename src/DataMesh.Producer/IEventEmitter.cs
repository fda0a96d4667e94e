using System.Data.Common;

namespace DataMesh.Producer;

/// <summary>
/// Emits domain events to Kafka as Avro in the Confluent wire format, with CloudEvents headers
/// (<c>ce_id</c>, <c>ce_type</c>, <c>ce_source</c>, <c>ce_time</c>, <c>ce_specversion</c>) and the current
/// <see cref="System.Diagnostics.Activity"/> as a W3C <c>traceparent</c> header. Registered by
/// <c>services.AddDataMeshProducer(...)</c>; thread-safe.
/// </summary>
/// <remarks>
/// Every event type must be added with <see cref="ProducerOptions.AddEvent{TEvent}(string?)"/>, so that its schema
/// is registered, and checked for compatibility, when the host starts. Events may be emitted before the host has
/// started: they wait in the queue and leave once it has.
/// </remarks>
public interface IEventEmitter
{
    /// <summary>
    /// Emits an event and completes when Kafka acknowledged it. When the queue is full, waits for room.
    /// </summary>
    /// <typeparam name="TEvent">The event type (or a base type of the event's registered runtime type).</typeparam>
    /// <param name="event">The event.</param>
    /// <param name="cancellationToken">Cancels the wait for room in the queue. Once the event is queued it is
    /// delivered, or reported as failed, whatever the token says: cancelling cannot take it back.</param>
    /// <returns>A task that completes when Kafka acknowledged the event.</returns>
    /// <exception cref="ArgumentException">A value cannot be represented by the event's schema (a null in a
    /// non-nullable member, a decimal beyond its declared scale ...); the message names the member.</exception>
    /// <exception cref="InvalidOperationException">The event type was not added to the options, or the producer has stopped.</exception>
    /// <exception cref="EventDeliveryException">Kafka refused the event, or the host stopped before it was acknowledged.</exception>
    ValueTask EmitAsync<TEvent>(TEvent @event, CancellationToken cancellationToken = default);

    /// <summary>
    /// Queues an event and returns at once; <paramref name="onDelivered"/> is called, on a Kafka client thread, when
    /// Kafka acknowledged it or it failed. When the queue is full, follows <see cref="ProducerOptions.QueueFullPolicy"/>.
    /// </summary>
    /// <typeparam name="TEvent">The event type.</typeparam>
    /// <param name="event">The event.</param>
    /// <param name="onDelivered">Called once with the outcome, or null. Keep it short; it must not block.</param>
    /// <returns>The event's id (the <c>ce_id</c> header).</returns>
    /// <exception cref="ArgumentException">A value cannot be represented by the event's schema.</exception>
    /// <exception cref="InvalidOperationException">The event type was not added to the options, or the producer has stopped.</exception>
    /// <exception cref="EventDeliveryException">The queue is full and the policy is <see cref="QueueFullPolicy.Throw"/>
    /// or <see cref="QueueFullPolicy.Block"/> (after the timeout).</exception>
    Guid Emit<TEvent>(TEvent @event, Action<EventDelivery>? onDelivered = null);

    /// <summary>
    /// Writes an event into the outbox table in <paramref name="transaction"/>, so that it is published if and only if
    /// the transaction commits. It leaves through the outbox relay (<see cref="OutboxOptions.UseRelay"/>) or a CDC
    /// connector with the outbox router; see <c>docs/producer.md</c>.
    /// </summary>
    /// <typeparam name="TEvent">The event type.</typeparam>
    /// <param name="event">The event.</param>
    /// <param name="transaction">An open PostgreSQL or MySQL/MariaDB transaction (Npgsql, MySqlConnector).</param>
    /// <param name="cancellationToken">Cancels the insert.</param>
    /// <returns>The event's id.</returns>
    /// <exception cref="NotSupportedException">The connection is neither PostgreSQL nor MySQL and <see cref="OutboxOptions.Dialect"/> is not set.</exception>
    /// <exception cref="ArgumentException">A value cannot be represented by the event's schema, or (MySQL/MariaDB) the key's
    /// text, the encoded key or the type's name is longer than the outbox table's column holds (docs/producer.md).</exception>
    ValueTask<Guid> EmitAsync<TEvent>(TEvent @event, DbTransaction transaction, CancellationToken cancellationToken = default);
}
