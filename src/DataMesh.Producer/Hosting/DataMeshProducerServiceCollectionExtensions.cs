using System.Diagnostics.Metrics;
using DataMesh.Hosting;
using DataMesh.Producer;
using DataMesh.Producer.Emitting;
using DataMesh.Producer.Hosting;
using DataMesh.Producer.Outbox;
using DataMesh.Schemas;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace DataMesh;

/// <summary>Registers the DataMesh producer SDK.</summary>
public static class DataMeshProducerServiceCollectionExtensions
{
    /// <summary>
    /// Adds the producer: <see cref="IEventEmitter"/>, a hosted service that registers the event types' schemas and connects
    /// to Kafka when the host starts (an incompatible schema or invalid option stops the host, naming the field or
    /// setting) and flushes queued events when it stops, the outbox relay when enabled, and
    /// <see cref="ProducerHealthCheck"/>. Adds DataMesh's shared services (<c>AddDataMesh</c>) if they are not there yet.
    /// </summary>
    /// <param name="services">The services.</param>
    /// <param name="configure">Sets the options: at least <c>o.AddEvent&lt;TEvent&gt;()</c> for each event type.</param>
    /// <returns>DataMesh's builder, for <c>UseKafka</c>, <c>UseConfluentSchemaRegistry</c> ...</returns>
    public static DataMeshBuilder AddDataMeshProducer(this IServiceCollection services, Action<ProducerOptions> configure)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(configure);
        var builder = services.AddDataMesh();
        services.AddOptions<ProducerOptions>().Configure(configure);
        return builder.AddProducer();
    }

    /// <summary>
    /// Adds the producer with DataMesh's options bound from <paramref name="configuration"/> (the <c>DataMesh</c> section)
    /// and the producer's from its <c>Producer</c> subsection, then <paramref name="configure"/>.
    /// </summary>
    /// <param name="services">The services.</param>
    /// <param name="configuration">The <c>DataMesh</c> section, e.g. <c>builder.Configuration.GetSection("DataMesh")</c>.</param>
    /// <param name="configure">Further settings in code (event types at least), or null.</param>
    /// <returns>DataMesh's builder.</returns>
    public static DataMeshBuilder AddDataMeshProducer(this IServiceCollection services, IConfiguration configuration, Action<ProducerOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(configuration);
        var builder = services.AddDataMesh(configuration);
        var options = services.AddOptions<ProducerOptions>().Bind(configuration.GetSection("Producer"));
        if (configure is not null)
        {
            options.Configure(configure);
        }

        return builder.AddProducer();
    }

    /// <summary>Adds the producer to DataMesh; see <see cref="AddDataMeshProducer(IServiceCollection, Action{ProducerOptions})"/>.</summary>
    /// <param name="builder">DataMesh's builder.</param>
    /// <param name="configure">Sets the options, or null when they are set elsewhere.</param>
    /// <returns>The builder.</returns>
    public static DataMeshBuilder AddProducer(this DataMeshBuilder builder, Action<ProducerOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(builder);
        var services = builder.Services;
        var options = services.AddOptions<ProducerOptions>();
        if (configure is not null)
        {
            options.Configure(configure);
        }

        options.ValidateOnStart();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<ProducerOptions>, ProducerOptionsValidator>());
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IPostConfigureOptions<ProducerOptions>, ProducerOptionsDefaults>());
        services.TryAddSingleton(sp => new EventEmitter(
            sp.GetRequiredService<IOptions<ProducerOptions>>(),
            sp.GetRequiredService<IOptions<DataMeshOptions>>(),
            sp.GetRequiredService<KafkaConnection>(),
            sp.GetRequiredService<ISchemaStore>(),
            sp.GetService<ILogger<EventEmitter>>(),
            sp.GetService<IMeterFactory>()));
        services.TryAddSingleton<IEventEmitter>(sp => sp.GetRequiredService<EventEmitter>());
        services.TryAddSingleton<ProducerHealthCheck>();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IHostedService, ProducerHostedService>());
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IHostedService, OutboxRelay>());
        return builder;
    }
}
