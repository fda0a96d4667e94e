using DataMesh.Hosting;
using DataMesh.Producer;
using DataMesh.Schemas;
using Microsoft.Extensions.DependencyInjection;
using Xunit;

namespace DataMesh.Tests.Producer;

public sealed class CompatibilityTests
{
    public static class V1
    {
        public sealed record OrderShipped([property: EventKey] string OrderId, string Carrier);
    }

    public static class V2
    {
        /// <summary>Adds a field without a default: readers of the new schema cannot read V1's data (BACKWARD).</summary>
        public sealed record OrderShipped([property: EventKey] string OrderId, string Carrier, string TrackingCode);
    }

    public static class V3
    {
        /// <summary>Adds a nullable field (default null): compatible.</summary>
        public sealed record OrderShipped([property: EventKey] string OrderId, string Carrier, string? TrackingCode);
    }

    [Fact]
    public async Task An_incompatible_schema_change_fails_the_host_at_start_naming_the_field_and_the_rule()
    {
        using var kafka = new KafkaConnection(new KafkaOptions());
        var schemas = "_schemas_" + Guid.NewGuid().ToString("N");
        const string Topic = "orders.shipped";

        using (var v1 = ProducerFixture.Build(o => o.AddEvent<V1.OrderShipped>(Topic), kafka, schemas))
        {
            await v1.StartAsync();
            await v1.Services.GetRequiredService<IEventEmitter>().EmitAsync(new V1.OrderShipped("o-1", "DHL"));
            await v1.StopAsync();
        }

        var logs = new LogCollector();
        using (var v2 = ProducerFixture.Build(o => o.AddEvent<V2.OrderShipped>(Topic), kafka, schemas, logs))
        {
            var ex = await Assert.ThrowsAsync<SchemaIncompatibleException>(() => v2.StartAsync());
            Assert.Equal(Topic + "-value", ex.Subject);
            Assert.Contains("trackingCode", ex.Message, StringComparison.Ordinal);
            Assert.Contains("without a default", ex.Message, StringComparison.Ordinal);
            Assert.Contains(logs.Entries, e => e.Id.Id == 3002 && e.Message.Contains("V2+OrderShipped", StringComparison.Ordinal));
            // The host did not start: nothing can be emitted through it.
            Assert.False(v2.Services.GetRequiredService<DataMesh.Producer.Emitting.EventEmitter>().Started);
        }

        using (var v3 = ProducerFixture.Build(o => o.AddEvent<V3.OrderShipped>(Topic), kafka, schemas))
        {
            await v3.StartAsync();
            await v3.Services.GetRequiredService<IEventEmitter>().EmitAsync(new V3.OrderShipped("o-1", "DHL", "JD0001"));
            await v3.StopAsync();
            var versions = await v3.Services.GetRequiredService<ISchemaStore>().GetVersionsAsync(Topic + "-value");
            Assert.Equal(2, versions.Count);
        }
    }
}
