using System.Buffers;
using Confluent.Kafka;
using DataMesh.Events;
using DataMesh.Hosting;
using DataMesh.Pipelines.Transforms;
using DataMesh.Schemas;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Xunit;

namespace DataMesh.Tests.Pipelines;

public sealed class PipelineHostingTests
{
    [Fact]
    public async Task A_pipeline_runs_as_a_hosted_service_and_stops_with_the_host()
    {
        var suffix = Guid.NewGuid().ToString("N");
        var builder = Host.CreateApplicationBuilder();
        builder.Services.AddDataMesh(o => o.SchemaStore.Topic = "_schemas_" + suffix).AddPipeline(p =>
        {
            p.Name = "hosted";
            p.SourceTopics.Add("hosted-src-" + suffix);
            p.TargetTopic = "hosted-dst-" + suffix;
            p.Transforms.Add(Transform.Unwrap());
            p.Transforms.Add(Transform.Keep("id", "status"));
        });
        using var host = builder.Build();
        var kafka = host.Services.GetRequiredService<KafkaConnection>();
        kafka.EmbeddedCluster!.CreateTopic("hosted-src-" + suffix, 1);
        await host.StartAsync();

        var store = host.Services.GetRequiredService<ISchemaStore>();
        var schemas = PipelineTestData.SchemasOf();
        var encoder = new ChangeEventEncoder(schemas, await store.RegisterAsync(schemas.KeySubject, schemas.KeySchema!), await store.RegisterAsync(schemas.ValueSubject, schemas.EnvelopeSchema));
        using (var producer = new ProducerBuilder<byte[], byte[]>(kafka.CreateProducerConfig()).Build())
        {
            for (var id = 1; id <= 5; id++)
            {
                var key = new ArrayBufferWriter<byte>();
                var value = new ArrayBufferWriter<byte>();
                encoder.WriteKey(key, PipelineTestData.Row(id));
                encoder.WriteValue(value, ChangeOperation.Create, null, PipelineTestData.Row(id), new SourceValues { Database = "shop", Table = "orders", Position = [1L] }, 1);
                await producer.ProduceAsync("hosted-src-" + suffix, new Message<byte[], byte[]> { Key = key.WrittenSpan.ToArray(), Value = value.WrittenSpan.ToArray() });
            }
        }

        using var consumer = new ConsumerBuilder<byte[], byte[]?>(kafka.CreateConsumerConfig(null)).Build();
        consumer.Assign(new TopicPartitionOffset("hosted-dst-" + suffix, 0, Offset.Beginning));
        var ids = new List<long>();
        var deadline = DateTime.UtcNow.AddSeconds(90);
        while (ids.Count < 5 && DateTime.UtcNow < deadline)
        {
            if (consumer.Consume(TimeSpan.FromMilliseconds(200)) is { Message.Value: { } bytes })
            {
                DataMesh.Avro.ConfluentWireFormat.ReadHeader(bytes, out var id, out _);
                var schema = (global::Avro.RecordSchema)await store.GetByIdAsync(id);
                ids.Add((long)PipelineTestData.Decode(schema, bytes[DataMesh.Avro.ConfluentWireFormat.HeaderLength..])["id"]);
            }
        }

        await host.StopAsync();
        Assert.Equal([1L, 2L, 3L, 4L, 5L], ids);
    }

    [Fact]
    public void Invalid_settings_fail_when_the_pipeline_is_added()
    {
        var services = new ServiceCollection();

        var e = Assert.Throws<ArgumentException>(() => services.AddDataMesh().AddPipeline(p => p.Name = "x"));

        Assert.Contains("SourceTopics", e.Message, StringComparison.Ordinal);
    }
}
