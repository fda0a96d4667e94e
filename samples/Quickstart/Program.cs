// DataMesh quickstart: change events written through the event contract to the embedded Kafka cluster,
// then read back and decoded by an independent decoder (Apache.Avro's generic reader) with the schemas
// fetched from the schema store by the id in each message. Everything printed below happened.
using System.Buffers;
using Avro.Generic;
using Avro.IO;
using Confluent.Kafka;
using DataMesh.Avro;
using DataMesh.Events;
using DataMesh.Hosting;
using DataMesh.Schemas;
using DataMesh;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

var builder = Host.CreateApplicationBuilder(args);
builder.Logging.SetMinimumLevel(LogLevel.Warning);
builder.Services.AddDataMesh(builder.Configuration.GetSection(DataMeshOptions.SectionName), o => o.Events.TopicPrefix = "demo");
using var host = builder.Build();
await host.StartAsync();

var kafka = host.Services.GetRequiredService<KafkaConnection>();
var store = host.Services.GetRequiredService<ISchemaStore>();
Console.WriteLine($"Kafka: {(kafka.IsEmbedded ? "embedded cluster" : "cluster")} at {kafka.BootstrapServers}");

// A table as a connector would describe it: names that are not valid Avro names still give a valid schema.
var table = new TableDescription("public", "orders",
[
    new("id", DataType.Of(DataTypeKind.Int64, "bigint"), IsNullable: false),
    new("customer-name", DataType.Of(DataTypeKind.String, "text"), IsNullable: false),
    new("total", DataType.DecimalOf(12, 2, "numeric(12,2)"), IsNullable: true),
    new("placed_at", DataType.Of(DataTypeKind.Timestamp, "timestamptz"), IsNullable: false),
], keyColumns: ["id"]);
var schemas = ChangeEventSchemas.Build(table, new SourceDescription("postgresql", "shop", [new SourceField("lsn", SourceFieldType.NullableLong)]), new ChangeEventOptions { TopicPrefix = "demo" });
var keyId = await store.RegisterAsync(schemas.KeySubject, schemas.KeySchema!);
var valueId = await store.RegisterAsync(schemas.ValueSubject, schemas.EnvelopeSchema);
Console.WriteLine($"Topic {schemas.Topic}: key schema id {keyId}, envelope schema id {valueId}");
await kafka.EnsureTopicAsync(schemas.Topic, partitions: 3, TopicRetention.Compacted, CancellationToken.None);

var encoder = new ChangeEventEncoder(schemas, keyId, valueId);
var placed = new DateTimeOffset(2026, 11, 26, 9, 30, 0, TimeSpan.Zero);
object?[] v1 = [1001L, "Ada Lovelace", 12.50m, placed];
object?[] v2 = [1001L, "Ada Lovelace", 99.95m, placed];
var events = new (ChangeOperation Op, object?[]? Before, object?[]? After, long Lsn)[]
{
    (ChangeOperation.Create, null, v1, 0x1_6B3740),
    (ChangeOperation.Update, v1, v2, 0x1_6B3920),
    (ChangeOperation.Delete, v2, null, 0x1_6B3A08),
};

using (var producer = new ProducerBuilder<byte[]?, byte[]?>(kafka.CreateProducerConfig()).Build())
{
    foreach (var (op, before, after, lsn) in events)
    {
        var key = new ArrayBufferWriter<byte>();
        encoder.WriteKey(key, (after ?? before)!);
        var value = new ArrayBufferWriter<byte>();
        var source = new SourceValues { TimestampMs = placed.ToUnixTimeMilliseconds(), Database = "shop", Schema = "public", Table = "orders", TransactionId = 750, Position = [lsn] };
        encoder.WriteValue(value, op, before, after, source, DateTimeOffset.UtcNow.ToUnixTimeMilliseconds());
        await producer.ProduceAsync(schemas.Topic, new Message<byte[]?, byte[]?> { Key = key.WrittenSpan.ToArray(), Value = value.WrittenSpan.ToArray() });
        if (op == ChangeOperation.Delete && schemas.Options.Tombstones)
        {
            await producer.ProduceAsync(schemas.Topic, new Message<byte[]?, byte[]?> { Key = key.WrittenSpan.ToArray(), Value = null });
        }
    }
}

Console.WriteLine($"Produced {events.Length} change events and 1 tombstone; reading them back:");
using var consumer = new ConsumerBuilder<byte[]?, byte[]?>(kafka.CreateConsumerConfig(groupId: "quickstart")).Build();
consumer.Subscribe(schemas.Topic);
var received = 0;
var deadline = DateTime.UtcNow.AddSeconds(30);
while (received < events.Length + 1 && DateTime.UtcNow < deadline)
{
    var result = consumer.Consume(TimeSpan.FromMilliseconds(250));
    if (result is null)
    {
        continue;
    }

    received++;
    var keyText = await DecodeAsync(result.Message.Key);
    if (result.Message.Value is null)
    {
        Console.WriteLine($"  p{result.Partition.Value}@{result.Offset.Value} key={keyText} value=null (tombstone)");
        continue;
    }

    var envelope = (GenericRecord)(await DecodeRecordAsync(result.Message.Value));
    var source = (GenericRecord)envelope["source"];
    Console.WriteLine($"  p{result.Partition.Value}@{result.Offset.Value} key={keyText} op={envelope["op"]} lsn={source["lsn"]}");
    Console.WriteLine($"      before={Show(envelope["before"])}");
    Console.WriteLine($"      after ={Show(envelope["after"])}");
}

consumer.Close();
await host.StopAsync();
Console.WriteLine(received == events.Length + 1 ? "Quickstart done: every event came back decoded." : $"Only {received} of {events.Length + 1} records came back.");
return received == events.Length + 1 ? 0 : 1;

async Task<object> DecodeRecordAsync(byte[] message)
{
    ConfluentWireFormat.ReadHeader(message, out var schemaId, out _);
    var schema = await store.GetByIdAsync(schemaId);
    var reader = new GenericDatumReader<object>(schema, schema);
    return reader.Read(null!, new BinaryDecoder(new MemoryStream(message, ConfluentWireFormat.HeaderLength, message.Length - ConfluentWireFormat.HeaderLength)));
}

async Task<string> DecodeAsync(byte[]? message) => message is null ? "null" : Show(await DecodeRecordAsync(message));

static string Show(object? value) => value switch
{
    null => "null",
    GenericRecord record => "{" + string.Join(", ", record.Schema.Fields.Select(f => $"{AvroNames.OriginalName(f)}: {Show(record[f.Name])}")) + "}",
    Avro.AvroDecimal d => d.ToString(),
    DateTime dt => dt.ToString("O"),
    string s => $"\"{s}\"",
    _ => Convert.ToString(value, System.Globalization.CultureInfo.InvariantCulture) ?? "",
};
