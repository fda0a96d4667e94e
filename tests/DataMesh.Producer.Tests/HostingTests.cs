using DataMesh.Producer;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Xunit;

namespace DataMesh.Tests.Producer;

public sealed class HostingTests
{
    public sealed record Unsupported(decimal Price);

    [Theory]
    [InlineData("DataMesh:Producer:QueueCapacity", "0", "DataMesh:Producer:QueueCapacity must be between 1 and 10000000")]
    [InlineData("DataMesh:Producer:Outbox:Table", "x; drop table y", "DataMesh:Producer:Outbox:Table 'x; drop table y' must be an identifier")]
    [InlineData("DataMesh:Producer:Outbox:Table", "app.outbox_of_the_order_service_in_the_eu_region_for_the_year_2026", "the table's own name at most 57 characters")]
    [InlineData("DataMesh:Producer:KafkaSettings:enable.idempotence", "false", "DataMesh:Producer:KafkaSettings:enable.idempotence is managed by DataMesh")]
    [InlineData("DataMesh:Producer:KafkaSettings:dotnet.producer.enable.delivery.reports", "false", "DataMesh:Producer:KafkaSettings:dotnet.producer.enable.delivery.reports is managed by DataMesh")]
    [InlineData("DataMesh:Producer:Topics:OrderPlaced", "bad topic", "topic 'bad topic' is not valid")]
    [InlineData("DataMesh:Producer:ShutdownTimeout", "-00:00:01", "DataMesh:Producer:ShutdownTimeout must be positive")]
    public async Task Bad_settings_from_configuration_stop_the_host_at_start_naming_the_setting(string key, string value, string expected)
    {
        var builder = Host.CreateApplicationBuilder();
        builder.Logging.ClearProviders();
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?> { [key] = value });
        builder.Services.AddDataMeshProducer(builder.Configuration.GetSection("DataMesh"), o => o.AddEvent<OrderPlaced>());
        using var host = builder.Build();

        var ex = await Assert.ThrowsAsync<OptionsValidationException>(() => host.StartAsync());
        Assert.Contains(expected, ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task An_unmappable_event_type_stops_the_host_at_start_naming_the_member()
    {
        var builder = Host.CreateApplicationBuilder();
        builder.Logging.ClearProviders();
        builder.Services.AddDataMeshProducer(o => o.AddEvent<Unsupported>());
        using var host = builder.Build();

        var ex = await Assert.ThrowsAsync<OptionsValidationException>(() => host.StartAsync());
        Assert.Contains("'Unsupported.Price' is a decimal without [AvroDecimal(precision, scale)]", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Options_bind_from_configuration_and_the_source_defaults_to_the_application_name()
    {
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { ApplicationName = "Order Service" });
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["DataMesh:Events:TopicPrefix"] = "shop",
            ["DataMesh:Producer:QueueCapacity"] = "123",
            ["DataMesh:Producer:QueueFullPolicy"] = "Block",
            ["DataMesh:Producer:Topics:OrderPlaced"] = "orders",
            ["DataMesh:Producer:KafkaSettings:linger.ms"] = "20",
            ["DataMesh:Producer:Outbox:Table"] = "app.outbox",
        });
        builder.Services.AddDataMeshProducer(builder.Configuration.GetSection("DataMesh"), o => o.AddEvent<OrderPlaced>().AddEvent<TreeEvent>());
        using var host = builder.Build();
        var options = host.Services.GetRequiredService<IOptions<ProducerOptions>>().Value;

        Assert.Equal("order-service", options.Source);
        Assert.Equal(123, options.QueueCapacity);
        Assert.Equal(QueueFullPolicy.Block, options.QueueFullPolicy);
        Assert.Equal("20", options.KafkaSettings["linger.ms"]);
        Assert.Equal("app.outbox", options.Outbox.Table);
        var emitter = host.Services.GetRequiredService<DataMesh.Producer.Emitting.EventEmitter>();
        Assert.Equal("orders", emitter.Registry[typeof(OrderPlaced)].Topic);
        Assert.Equal("shop.order-service.tree-event", emitter.Registry[typeof(TreeEvent)].Topic);
    }
}
