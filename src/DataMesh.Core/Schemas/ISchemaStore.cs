using Avro;

namespace DataMesh.Schemas;

/// <summary>
/// Holds Avro schemas by subject and version, gives each schema a positive int32 id for the Confluent wire
/// format, and refuses new versions that break the subject's <see cref="CompatibilityLevel"/>.
/// </summary>
/// <remarks>
/// Implementations: <see cref="KafkaSchemaStore"/> (the embedded default, a Kafka topic) and
/// <see cref="ConfluentSchemaRegistryStore"/> (a Confluent Schema Registry).
/// </remarks>
public interface ISchemaStore
{
    /// <summary>
    /// Registers <paramref name="schema"/> under <paramref name="subject"/> and returns its id. A schema the subject
    /// already has returns its existing id and adds no version; otherwise the schema is checked against the subject's
    /// versions at the subject's compatibility level first.
    /// </summary>
    /// <param name="subject">The subject, e.g. <c>pg.shop.public.orders-value</c>.</param>
    /// <param name="schema">The schema.</param>
    /// <param name="cancellationToken">Cancels the wait.</param>
    /// <returns>The schema's id, a positive int32.</returns>
    /// <exception cref="SchemaIncompatibleException">The schema breaks the subject's compatibility level.</exception>
    ValueTask<int> RegisterAsync(string subject, Schema schema, CancellationToken cancellationToken = default);

    /// <summary>Gets the schema with id <paramref name="id"/>.</summary>
    /// <param name="id">The id, as read from the Confluent wire format.</param>
    /// <param name="cancellationToken">Cancels the wait.</param>
    /// <returns>The schema.</returns>
    /// <exception cref="KeyNotFoundException">No schema has that id.</exception>
    ValueTask<Schema> GetByIdAsync(int id, CancellationToken cancellationToken = default);

    /// <summary>Gets the latest version of <paramref name="subject"/>, or <see langword="null"/> if it has none.</summary>
    /// <param name="subject">The subject.</param>
    /// <param name="cancellationToken">Cancels the wait.</param>
    /// <returns>The latest version, or <see langword="null"/>.</returns>
    ValueTask<RegisteredSchema?> GetLatestAsync(string subject, CancellationToken cancellationToken = default);

    /// <summary>Gets every version of <paramref name="subject"/>, oldest first (empty if it has none).</summary>
    /// <param name="subject">The subject.</param>
    /// <param name="cancellationToken">Cancels the wait.</param>
    /// <returns>The versions.</returns>
    ValueTask<IReadOnlyList<RegisteredSchema>> GetVersionsAsync(string subject, CancellationToken cancellationToken = default);

    /// <summary>
    /// Gets the versions of <paramref name="subject"/> deleted by <see cref="DeleteVersionAsync"/>, by version (empty if
    /// none). Their ids still resolve; the Schema Registry API answers reads with Confluent's <c>deleted=true</c> from them.
    /// </summary>
    /// <param name="subject">The subject.</param>
    /// <param name="cancellationToken">Cancels the wait.</param>
    /// <returns>The deleted versions; the default implementation, for a store that keeps none, returns none.</returns>
    ValueTask<IReadOnlyList<RegisteredSchema>> GetDeletedVersionsAsync(string subject, CancellationToken cancellationToken = default) =>
        ValueTask.FromResult<IReadOnlyList<RegisteredSchema>>([]);

    /// <summary>Gets every subject that has at least one version, in ordinal order.</summary>
    /// <param name="cancellationToken">Cancels the wait.</param>
    /// <returns>The subjects.</returns>
    ValueTask<IReadOnlyList<string>> GetSubjectsAsync(CancellationToken cancellationToken = default);

    /// <summary>
    /// Finds the version of <paramref name="subject"/> that holds <paramref name="schema"/> (the same schema, compared
    /// by canonical form), without registering anything.
    /// </summary>
    /// <param name="subject">The subject.</param>
    /// <param name="schema">The schema to look for.</param>
    /// <param name="cancellationToken">Cancels the wait.</param>
    /// <returns>The version, or <see langword="null"/> when the subject does not hold the schema.</returns>
    ValueTask<RegisteredSchema?> FindAsync(string subject, Schema schema, CancellationToken cancellationToken = default);

    /// <summary>
    /// Deletes version <paramref name="version"/> of <paramref name="subject"/> (a soft delete, as Confluent Schema
    /// Registry's): the version is no longer listed, looked up or checked against, its number is never given again, and
    /// its schema id still resolves, since data encoded with it may remain.
    /// </summary>
    /// <param name="subject">The subject.</param>
    /// <param name="version">The version number.</param>
    /// <param name="cancellationToken">Cancels the wait.</param>
    /// <returns><see langword="true"/> if the version was deleted; <see langword="false"/> if the subject has no such version.</returns>
    /// <exception cref="NotSupportedException">The store cannot delete versions; the message says where to do it instead.</exception>
    ValueTask<bool> DeleteVersionAsync(string subject, int version, CancellationToken cancellationToken = default);

    /// <summary>
    /// Gets the compatibility level in force for <paramref name="subject"/> (its own, else the default), or the
    /// default level when <paramref name="subject"/> is <see langword="null"/>.
    /// </summary>
    /// <param name="subject">The subject, or <see langword="null"/> for the default.</param>
    /// <param name="cancellationToken">Cancels the wait.</param>
    /// <returns>The level; <see cref="CompatibilityLevel.Backward"/> unless set otherwise.</returns>
    ValueTask<CompatibilityLevel> GetCompatibilityAsync(string? subject, CancellationToken cancellationToken = default);

    /// <summary>
    /// Sets the compatibility level of <paramref name="subject"/>, or the default level when it is <see langword="null"/>.
    /// It applies to registrations from then on.
    /// </summary>
    /// <param name="subject">The subject, or <see langword="null"/> for the default.</param>
    /// <param name="level">The level.</param>
    /// <param name="cancellationToken">Cancels the wait.</param>
    /// <returns>A task that completes when the level is in force.</returns>
    ValueTask SetCompatibilityAsync(string? subject, CompatibilityLevel level, CancellationToken cancellationToken = default);
}
