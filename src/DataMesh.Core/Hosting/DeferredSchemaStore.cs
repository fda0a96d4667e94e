using SchemaRegistryConfig = Confluent.SchemaRegistry.SchemaRegistryConfig;
using DataMesh.Schemas;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using AvroSchema = Avro.Schema;

namespace DataMesh.Hosting;

/// <summary>
/// The <see cref="ISchemaStore"/> that DataMesh registers: the configured store, opened on first use (opening
/// the Kafka store reads its topic, which is asynchronous work no constructor should do).
/// </summary>
internal sealed class DeferredSchemaStore : ISchemaStore, IAsyncDisposable, IDisposable
{
    private readonly IOptions<DataMeshOptions> _options;
    private readonly KafkaConnection _kafka;
    private readonly ILoggerFactory _loggers;
    private readonly SemaphoreSlim _gate = new(1, 1);
    private ISchemaStore? _store;

    public DeferredSchemaStore(IOptions<DataMeshOptions> options, KafkaConnection kafka, ILoggerFactory? loggers = null)
    {
        _options = options;
        _kafka = kafka;
        _loggers = loggers ?? NullLoggerFactory.Instance;
    }

    public async ValueTask<int> RegisterAsync(string subject, AvroSchema schema, CancellationToken cancellationToken = default) =>
        await (await OpenAsync(cancellationToken).ConfigureAwait(false)).RegisterAsync(subject, schema, cancellationToken).ConfigureAwait(false);

    public async ValueTask<AvroSchema> GetByIdAsync(int id, CancellationToken cancellationToken = default) =>
        await (await OpenAsync(cancellationToken).ConfigureAwait(false)).GetByIdAsync(id, cancellationToken).ConfigureAwait(false);

    public async ValueTask<RegisteredSchema?> GetLatestAsync(string subject, CancellationToken cancellationToken = default) =>
        await (await OpenAsync(cancellationToken).ConfigureAwait(false)).GetLatestAsync(subject, cancellationToken).ConfigureAwait(false);

    public async ValueTask<IReadOnlyList<RegisteredSchema>> GetVersionsAsync(string subject, CancellationToken cancellationToken = default) =>
        await (await OpenAsync(cancellationToken).ConfigureAwait(false)).GetVersionsAsync(subject, cancellationToken).ConfigureAwait(false);

    public async ValueTask<IReadOnlyList<RegisteredSchema>> GetDeletedVersionsAsync(string subject, CancellationToken cancellationToken = default) =>
        await (await OpenAsync(cancellationToken).ConfigureAwait(false)).GetDeletedVersionsAsync(subject, cancellationToken).ConfigureAwait(false);

    public async ValueTask<IReadOnlyList<string>> GetSubjectsAsync(CancellationToken cancellationToken = default) =>
        await (await OpenAsync(cancellationToken).ConfigureAwait(false)).GetSubjectsAsync(cancellationToken).ConfigureAwait(false);

    public async ValueTask<RegisteredSchema?> FindAsync(string subject, AvroSchema schema, CancellationToken cancellationToken = default) =>
        await (await OpenAsync(cancellationToken).ConfigureAwait(false)).FindAsync(subject, schema, cancellationToken).ConfigureAwait(false);

    public async ValueTask<bool> DeleteVersionAsync(string subject, int version, CancellationToken cancellationToken = default) =>
        await (await OpenAsync(cancellationToken).ConfigureAwait(false)).DeleteVersionAsync(subject, version, cancellationToken).ConfigureAwait(false);

    public async ValueTask<CompatibilityLevel> GetCompatibilityAsync(string? subject, CancellationToken cancellationToken = default) =>
        await (await OpenAsync(cancellationToken).ConfigureAwait(false)).GetCompatibilityAsync(subject, cancellationToken).ConfigureAwait(false);

    public async ValueTask SetCompatibilityAsync(string? subject, CompatibilityLevel level, CancellationToken cancellationToken = default) =>
        await (await OpenAsync(cancellationToken).ConfigureAwait(false)).SetCompatibilityAsync(subject, level, cancellationToken).ConfigureAwait(false);

    public async ValueTask DisposeAsync()
    {
        switch (_store)
        {
            case IAsyncDisposable asyncDisposable:
                await asyncDisposable.DisposeAsync().ConfigureAwait(false);
                break;
            case IDisposable disposable:
                disposable.Dispose();
                break;
        }

        _gate.Dispose();
    }

    public void Dispose()
    {
        (_store as IDisposable)?.Dispose();
        _gate.Dispose();
    }

    private async ValueTask<ISchemaStore> OpenAsync(CancellationToken cancellationToken)
    {
        if (Volatile.Read(ref _store) is { } open)
        {
            return open;
        }

        await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (_store is null)
            {
                var settings = _options.Value.SchemaStore;
                ISchemaStore store;
                if (settings.Kind == SchemaStoreKind.ConfluentSchemaRegistry)
                {
                    var config = new SchemaRegistryConfig { Url = settings.RegistryUrl };
                    foreach (var (key, value) in settings.RegistrySettings)
                    {
                        config.Set(key, value);
                    }

                    store = new ConfluentSchemaRegistryStore(config);
                }
                else
                {
                    var kafkaOptions = new KafkaSchemaStoreOptions
                    {
                        Topic = settings.Topic,
                        EmbeddedCluster = _kafka.EmbeddedCluster,
                        BootstrapServers = _kafka.IsEmbedded ? null : _kafka.BootstrapServers,
                        Timeout = _kafka.Options.RequestTimeout,
                        CreateTopic = _kafka.Options.CreateTopics,
                    };
                    foreach (var (key, value) in _kafka.Options.Settings)
                    {
                        kafkaOptions.ClientSettings[key] = value;
                    }

                    store = await KafkaSchemaStore.CreateAsync(kafkaOptions, _loggers.CreateLogger<KafkaSchemaStore>(), cancellationToken).ConfigureAwait(false);
                }

                if (await store.GetCompatibilityAsync(null, cancellationToken).ConfigureAwait(false) != settings.DefaultCompatibility)
                {
                    await store.SetCompatibilityAsync(null, settings.DefaultCompatibility, cancellationToken).ConfigureAwait(false);
                }

                Volatile.Write(ref _store, store);
            }

            return _store;
        }
        finally
        {
            _gate.Release();
        }
    }
}
