using DataMesh.Pipelines.Filtering;
using DataMesh.Pipelines.Transforms;
using DataMesh.Schemas;
using AvroSchema = Avro.Schema;

namespace DataMesh.ControlPlane.Controller;

/// <summary>
/// The schema store a runner's sources register through: before a new value schema of a table topic is registered, every
/// pipeline of the applied definition that reads the topic plans its transforms against it, and a schema the pipeline
/// cannot run on (a field its filter, keep, rename, mask or cast names is gone or has another type) is refused with a
/// <see cref="SchemaIncompatibleException"/> that names the pipeline, the transform and the field. The source stops on it
/// as on any incompatible schema, before a record of the new shape reaches Kafka; the pipeline keeps running on what came
/// before. Every other call goes to the store unchanged.
/// </summary>
internal sealed class PipelineSchemaGuard(ISchemaStore store, Func<AppliedDefinition?> definition) : ISchemaStore
{
    public async ValueTask<int> RegisterAsync(string subject, AvroSchema schema, CancellationToken cancellationToken = default)
    {
        if (Refusal(subject, schema) is { } refusal)
        {
            // Registered already (a restart after the refusal was lifted by a new definition): not a change any more.
            if (await store.FindAsync(subject, schema, cancellationToken).ConfigureAwait(false) is null)
            {
                throw new SchemaIncompatibleException(refusal);
            }
        }

        return await store.RegisterAsync(subject, schema, cancellationToken).ConfigureAwait(false);
    }

    public ValueTask<AvroSchema> GetByIdAsync(int id, CancellationToken cancellationToken = default) => store.GetByIdAsync(id, cancellationToken);

    public ValueTask<RegisteredSchema?> GetLatestAsync(string subject, CancellationToken cancellationToken = default) => store.GetLatestAsync(subject, cancellationToken);

    public ValueTask<IReadOnlyList<RegisteredSchema>> GetVersionsAsync(string subject, CancellationToken cancellationToken = default) => store.GetVersionsAsync(subject, cancellationToken);

    public ValueTask<IReadOnlyList<RegisteredSchema>> GetDeletedVersionsAsync(string subject, CancellationToken cancellationToken = default) => store.GetDeletedVersionsAsync(subject, cancellationToken);

    public ValueTask<IReadOnlyList<string>> GetSubjectsAsync(CancellationToken cancellationToken = default) => store.GetSubjectsAsync(cancellationToken);

    public ValueTask<RegisteredSchema?> FindAsync(string subject, AvroSchema schema, CancellationToken cancellationToken = default) => store.FindAsync(subject, schema, cancellationToken);

    public ValueTask<bool> DeleteVersionAsync(string subject, int version, CancellationToken cancellationToken = default) => store.DeleteVersionAsync(subject, version, cancellationToken);

    public ValueTask<CompatibilityLevel> GetCompatibilityAsync(string? subject, CancellationToken cancellationToken = default) => store.GetCompatibilityAsync(subject, cancellationToken);

    public ValueTask SetCompatibilityAsync(string? subject, CompatibilityLevel level, CancellationToken cancellationToken = default) =>
        store.SetCompatibilityAsync(subject, level, cancellationToken);

    /// <summary>Why <paramref name="schema"/> may not become the value schema of <paramref name="subject"/>, or null.</summary>
    internal string? Refusal(string subject, AvroSchema schema)
    {
        if (definition() is not { } applied || schema is not global::Avro.RecordSchema record || !subject.EndsWith("-value", StringComparison.Ordinal))
        {
            return null;
        }

        var topic = subject[..^"-value".Length];
        var reasons = new List<string>();
        foreach (var pipeline in applied.Definition.Pipelines.Where(p => p.SourceTopics.Contains(topic)))
        {
            var current = record;
            var transforms = applied.Parts.Transforms[pipeline.Name];
            for (var i = 0; i < transforms.Count; i++)
            {
                try
                {
                    current = transforms[i].Plan(current).OutputSchema;
                }
                catch (Exception ex) when (ex is TransformPlanException or FilterExpressionException)
                {
                    reasons.Add($"pipeline '{pipeline.Name}' cannot run on it: transforms[{i}] {transforms[i].Name}: {ex.Message.TrimEnd('.')}");
                    break;
                }
            }
        }

        return reasons.Count == 0 ? null
            : $"The new schema of topic '{topic}' (subject {subject}) is refused: {string.Join("; ", reasons)}. " +
              "Change the pipeline first (datamesh apply), then the source starts again with 'datamesh resume'.";
    }
}

/// <summary>The runner's services with <see cref="PipelineSchemaGuard"/> as the schema store, for the sources it runs.</summary>
internal sealed class GuardedServices(IServiceProvider services, ISchemaStore guard) : IServiceProvider
{
    public object? GetService(Type serviceType) => serviceType == typeof(ISchemaStore) ? guard : services.GetService(serviceType);
}
