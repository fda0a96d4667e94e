using Microsoft.Extensions.DependencyInjection;

namespace DataMesh.Hosting;

/// <summary>
/// Returned by <c>services.AddDataMesh(...)</c>;
/// connectors, pipelines and the producer add themselves through extension methods on it
/// (<c>AddPostgresSource</c>, ...).
/// </summary>
public sealed class DataMeshBuilder
{
    internal DataMeshBuilder(IServiceCollection services) => Services = services;

    /// <summary>The service collection DataMesh registers into.</summary>
    public IServiceCollection Services { get; }

    /// <summary>Uses a Kafka cluster by its bootstrap servers.</summary>
    /// <param name="bootstrapServers"><c>host:port</c> pairs separated by commas.</param>
    /// <param name="settings">Further librdkafka settings (TLS, SASL, tuning), or null.</param>
    public DataMeshBuilder UseKafka(string bootstrapServers, IReadOnlyDictionary<string, string>? settings = null)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(bootstrapServers);
        Services.Configure<DataMeshOptions>(o =>
        {
            o.Kafka.BootstrapServers = bootstrapServers;
            foreach (var (key, value) in settings ?? new Dictionary<string, string>())
            {
                o.Kafka.Settings[key] = value;
            }
        });
        return this;
    }

    /// <summary>Uses the embedded in-process Kafka cluster (the default when no bootstrap servers are set).</summary>
    /// <param name="brokers">The number of brokers, 1 to 32.</param>
    public DataMeshBuilder UseEmbeddedKafka(int brokers = 1)
    {
        Services.Configure<DataMeshOptions>(o =>
        {
            o.Kafka.BootstrapServers = null;
            o.Kafka.EmbeddedBrokers = brokers;
        });
        return this;
    }

    /// <summary>Keeps schemas in a Confluent Schema Registry.</summary>
    /// <param name="url">The registry's URL(s), comma-separated.</param>
    /// <param name="settings">Further registry client settings, or null.</param>
    public DataMeshBuilder UseConfluentSchemaRegistry(string url, IReadOnlyDictionary<string, string>? settings = null)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(url);
        Services.Configure<DataMeshOptions>(o =>
        {
            o.SchemaStore.Kind = SchemaStoreKind.ConfluentSchemaRegistry;
            o.SchemaStore.RegistryUrl = url;
            foreach (var (key, value) in settings ?? new Dictionary<string, string>())
            {
                o.SchemaStore.RegistrySettings[key] = value;
            }
        });
        return this;
    }
}
