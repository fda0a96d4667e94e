using DataMesh.Events;
using DataMesh.Hosting;
using DataMesh.Schemas;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Xunit;

namespace DataMesh.Tests.Hosting;

public sealed class HostingTests
{
    [Fact]
    public async Task AddDataMesh_runs_on_the_embedded_cluster_with_a_working_schema_store()
    {
        var builder = Host.CreateApplicationBuilder();
        builder.Services.AddDataMesh(o => o.SchemaStore.Topic = "_schemas_" + Guid.NewGuid().ToString("N"));
        using var host = builder.Build();
        await host.StartAsync();

        var kafka = host.Services.GetRequiredService<KafkaConnection>();
        Assert.True(kafka.IsEmbedded);
        Assert.StartsWith("127.0.0.1:", kafka.BootstrapServers, StringComparison.Ordinal);

        var store = host.Services.GetRequiredService<ISchemaStore>();
        var table = new TableDescription("public", "t", [new("id", DataType.Of(DataTypeKind.Int32, "int"), false)], ["id"]);
        var schemas = ChangeEventSchemas.Build(table, new SourceDescription("postgresql", "pg", []));
        var id = await store.RegisterAsync(schemas.ValueSubject, schemas.EnvelopeSchema);
        Assert.Equal(id, await store.RegisterAsync(schemas.ValueSubject, schemas.EnvelopeSchema));
        Assert.Equal(schemas.EnvelopeSchema.Fullname, ((global::Avro.RecordSchema)await store.GetByIdAsync(id)).Fullname);
        await host.StopAsync();
    }

    [Fact]
    public async Task The_embedded_cluster_warns_once_at_start_that_it_keeps_nothing_beyond_the_process_and_5_MB_per_partition()
    {
        var logs = new LogRecorder();
        var builder = Host.CreateApplicationBuilder();
        builder.Logging.ClearProviders();
        builder.Logging.AddProvider(logs);
        builder.Services.AddDataMesh(o => o.SchemaStore.Topic = "_schemas_" + Guid.NewGuid().ToString("N"));
        using var host = builder.Build();
        await host.StartAsync();

        var kafka = host.Services.GetRequiredService<KafkaConnection>();
        Assert.NotNull(kafka.EmbeddedCluster);
        _ = kafka.BootstrapServers;
        await host.Services.GetRequiredService<ISchemaStore>().GetCompatibilityAsync(null);
        await host.StopAsync();

        var warning = Assert.Single(logs.WithId(4000));
        Assert.Equal(LogLevel.Warning, warning.Level);
        Assert.Equal(typeof(KafkaConnection).FullName, warning.Category);
        foreach (var expected in new[] { kafka.BootstrapServers, "in memory", "lost when the process ends", "topics, schemas, source positions and consumer offsets", "at most 5 MB", "DataMesh:Kafka:BootstrapServers" })
        {
            Assert.Contains(expected, warning.Message, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void A_real_cluster_gets_no_embedded_cluster_warning()
    {
        var logs = new LogRecorder();
        using var kafka = new KafkaConnection(new KafkaOptions { BootstrapServers = "kafka1:9092" }, logs.CreateLogger<KafkaConnection>());
        Assert.Null(kafka.EmbeddedCluster);
        Assert.Equal("kafka1:9092", kafka.BootstrapServers);
        Assert.Empty(logs.Entries);
    }

    [Fact]
    public void A_source_section_with_a_key_its_options_do_not_have_is_an_error_naming_the_key()
    {
        // Found by a new user: IncludeTable (singular) was ignored, and the source captured every table of the server.
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["DataMesh:Sources:shop:HeartbeatInterval"] = "00:00:05",
            ["DataMesh:Sources:shop:IncludeTable:0"] = "shop.orders",
        }).Build();
        var services = new ServiceCollection();
        var options = services.AddOptions<ShopOptions>("shop");
        DataMesh.Sources.SourceRegistration.Bind<ShopOptions>(configuration.GetSection("DataMesh:Sources:shop"))(options);
        using var provider = services.BuildServiceProvider();

        var error = Assert.Throws<InvalidOperationException>(() => provider.GetRequiredService<IOptionsMonitor<ShopOptions>>().Get("shop"));
        Assert.Contains("'IncludeTable'", error.Message, StringComparison.Ordinal);
    }

    private sealed class ShopOptions : SourceOptions;

    [Fact]
    public void Options_bind_from_configuration()
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["DataMesh:Kafka:BootstrapServers"] = "kafka1:9092,kafka2:9092",
            ["DataMesh:Kafka:Settings:security.protocol"] = "SASL_SSL",
            ["DataMesh:SchemaStore:Kind"] = "ConfluentSchemaRegistry",
            ["DataMesh:SchemaStore:RegistryUrl"] = "https://registry:8081",
            ["DataMesh:SchemaStore:DefaultCompatibility"] = "Full",
            ["DataMesh:Events:TopicPrefix"] = "prod",
            ["DataMesh:Events:DecimalHandling"] = "String",
        }).Build();
        var services = new ServiceCollection();
        services.AddDataMesh(configuration.GetSection(DataMeshOptions.SectionName));
        using var provider = services.BuildServiceProvider();
        var options = provider.GetRequiredService<IOptions<DataMeshOptions>>().Value;

        Assert.Equal("kafka1:9092,kafka2:9092", options.Kafka.BootstrapServers);
        Assert.Equal("SASL_SSL", options.Kafka.Settings["security.protocol"]);
        Assert.Equal(SchemaStoreKind.ConfluentSchemaRegistry, options.SchemaStore.Kind);
        Assert.Equal(CompatibilityLevel.Full, options.SchemaStore.DefaultCompatibility);
        Assert.Equal("prod", options.Events.TopicPrefix);
        Assert.Equal(DecimalHandling.String, options.Events.DecimalHandling);
        var kafka = provider.GetRequiredService<KafkaConnection>();
        Assert.False(kafka.IsEmbedded);
        Assert.Equal("SASL_SSL", kafka.CreateProducerConfig().Get("security.protocol"));
        Assert.True(kafka.CreateProducerConfig().EnableIdempotence);
    }

    [Theory]
    [InlineData("DataMesh:Kafka:BootstrapServers", "kafka1", "DataMesh:Kafka:BootstrapServers: 'kafka1' is not host:port")]
    [InlineData("DataMesh:Kafka:EmbeddedBrokers", "0", "DataMesh:Kafka:EmbeddedBrokers must be between 1 and 32")]
    [InlineData("DataMesh:Kafka:RequestTimeout", "00:00:00", "DataMesh:Kafka:RequestTimeout must be more than 0 and at most 1 hour")]
    [InlineData("DataMesh:Kafka:RequestTimeout", "30.00:00:00", "DataMesh:Kafka:RequestTimeout must be more than 0 and at most 1 hour")]
    [InlineData("DataMesh:Kafka:Settings:enable.idempotence", "false", "DataMesh:Kafka:Settings:enable.idempotence is managed by DataMesh")]
    [InlineData("DataMesh:Kafka:Settings:delivery.timeout.ms", "120000", "DataMesh:Kafka:Settings:delivery.timeout.ms is managed by DataMesh")]
    [InlineData("DataMesh:Kafka:Settings:message.timeout.ms", "120000", "DataMesh:Kafka:Settings:message.timeout.ms is managed by DataMesh")]
    [InlineData("DataMesh:Kafka:Settings:dotnet.producer.enable.background.poll", "false", "DataMesh:Kafka:Settings:dotnet.producer.enable.background.poll is managed by DataMesh")]
    [InlineData("DataMesh:SchemaStore:Kind", "ConfluentSchemaRegistry", "DataMesh:SchemaStore:RegistryUrl is required")]
    [InlineData("DataMesh:SchemaStore:Topic", "bad topic", "DataMesh:SchemaStore:Topic is not a valid topic name")]
    [InlineData("DataMesh:Events:TopicPrefix", "a/b", "TopicPrefix 'a/b' is not valid")]
    public async Task Bad_settings_stop_the_host_at_start_naming_the_setting(string key, string value, string expected)
    {
        var builder = Host.CreateApplicationBuilder();
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?> { [key] = value });
        builder.Services.AddDataMesh(builder.Configuration.GetSection(DataMeshOptions.SectionName));
        using var host = builder.Build();

        var ex = await Assert.ThrowsAsync<OptionsValidationException>(() => host.StartAsync());
        Assert.Contains(expected, ex.Message, StringComparison.Ordinal);
    }
}
