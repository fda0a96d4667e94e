using DataMesh.Events;
using DataMesh.Schemas;

namespace DataMesh.Hosting;

/// <summary>Where DataMesh keeps schemas.</summary>
public enum SchemaStoreKind
{
    /// <summary>In a single-partition Kafka topic of the configured cluster (the default; needs nothing else).</summary>
    Kafka,

    /// <summary>In a Confluent Schema Registry at <see cref="SchemaStoreOptions.RegistryUrl"/>.</summary>
    ConfluentSchemaRegistry,
}

/// <summary>Settings of the schema store.</summary>
public sealed class SchemaStoreOptions
{
    /// <summary>Which store. Default <see cref="SchemaStoreKind.Kafka"/>.</summary>
    public SchemaStoreKind Kind { get; set; } = SchemaStoreKind.Kafka;

    /// <summary>The topic of the Kafka store. Default <c>_datamesh_schemas</c>.</summary>
    public string Topic { get; set; } = "_datamesh_schemas";

    /// <summary>The Confluent Schema Registry's URL(s), comma-separated, for <see cref="SchemaStoreKind.ConfluentSchemaRegistry"/>.</summary>
    public string? RegistryUrl { get; set; }

    /// <summary>Further Confluent Schema Registry client settings (<c>schema.registry.basic.auth.user.info</c>, TLS ...).</summary>
    public IDictionary<string, string> RegistrySettings { get; } = new Dictionary<string, string>(StringComparer.Ordinal);

    /// <summary>The compatibility level of subjects that have none of their own. Default <see cref="CompatibilityLevel.Backward"/>.</summary>
    public CompatibilityLevel DefaultCompatibility { get; set; } = CompatibilityLevel.Backward;
}

/// <summary>DataMesh's settings, bound from the <c>DataMesh</c> configuration section or set in code.</summary>
public sealed class DataMeshOptions
{
    /// <summary>The configuration section DataMesh binds by default.</summary>
    public const string SectionName = "DataMesh";

    /// <summary>The Kafka cluster.</summary>
    public KafkaOptions Kafka { get; set; } = new();

    /// <summary>The schema store.</summary>
    public SchemaStoreOptions SchemaStore { get; set; } = new();

    /// <summary>The change-event contract's settings (topic prefix, decimal handling, tombstones).</summary>
    public ChangeEventOptions Events { get; set; } = new();
}
