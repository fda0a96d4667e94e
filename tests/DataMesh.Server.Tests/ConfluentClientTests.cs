using System.Buffers;
using System.Globalization;
using System.Text.Json;
using Avro;
using Avro.Generic;
using Confluent.Kafka;
using Confluent.Kafka.SyncOverAsync;
using Confluent.SchemaRegistry;
using Confluent.SchemaRegistry.Serdes;
using DataMesh.Avro;
using DataMesh.Events;
using DataMesh.Schemas;
using Xunit;
using AvroSchema = global::Avro.Schema;
using RegistrySchema = Confluent.SchemaRegistry.Schema;

namespace DataMesh.Server.Tests;

/// <summary>
/// The API checked with an independent client: Confluent.SchemaRegistry's <see cref="CachedSchemaRegistryClient"/>, and
/// its <see cref="AvroDeserializer{T}"/> decoding change events that DataMesh's encoder wrote into a topic.
/// </summary>
public sealed class ConfluentClientTests : IAsyncLifetime
{
    private const string V1 = """{"type":"record","name":"Order","namespace":"shop","fields":[{"name":"id","type":"long"}]}""";
    private const string V2 = """{"type":"record","name":"Order","namespace":"shop","fields":[{"name":"id","type":"long"},{"name":"note","type":["null","string"],"default":null}]}""";
    private const string Breaking = """{"type":"record","name":"Order","namespace":"shop","fields":[{"name":"id","type":"long"},{"name":"total","type":"double"}]}""";

    private RegistryHost _host = null!;
    private CachedSchemaRegistryClient _client = null!;

    public async Task InitializeAsync()
    {
        _host = await RegistryHost.StartAsync();
        _client = new CachedSchemaRegistryClient(new SchemaRegistryConfig { Url = _host.Url });
    }

    public async Task DisposeAsync()
    {
        _client.Dispose();
        await _host.DisposeAsync();
    }

    [Fact]
    public async Task CachedSchemaRegistryClient_registers_looks_up_lists_checks_and_configures()
    {
        var id1 = await _client.RegisterSchemaAsync("orders-value", new RegistrySchema(V1, SchemaType.Avro));
        var id2 = await _client.RegisterSchemaAsync("orders-value", new RegistrySchema(V2, SchemaType.Avro));
        Assert.NotEqual(id1, id2);
        // The ids are the store's own: what DataMesh writes into its events.
        Assert.Equal(id2, (await _host.Store.GetLatestAsync("orders-value"))!.Id);

        var byId = await _client.GetSchemaAsync(id1);
        Assert.Equal(SchemaType.Avro, byId.SchemaType);
        Assert.Equal(SchemaCanonicalForm.Of(AvroSchema.Parse(V1)), SchemaCanonicalForm.Of(AvroSchema.Parse(byId.SchemaString)));

        var found = await _client.LookupSchemaAsync("orders-value", new RegistrySchema(V1, SchemaType.Avro), ignoreDeletedSchemas: true, normalize: false);
        Assert.Equal((id1, 1, "orders-value"), (found.Id, found.Version, found.Subject));
        var latest = await _client.GetLatestSchemaAsync("orders-value");
        Assert.Equal((id2, 2), (latest.Id, latest.Version));
        var first = await _client.GetRegisteredSchemaAsync("orders-value", 1, ignoreDeletedSchemas: true);
        Assert.Equal(id1, first.Id);
        Assert.Equal(["orders-value"], await _client.GetAllSubjectsAsync());
        Assert.Equal([1, 2], await _client.GetSubjectVersionsAsync("orders-value"));

        Assert.True(await _client.IsCompatibleAsync("orders-value", new RegistrySchema(V2, SchemaType.Avro)));
        Assert.False(await _client.IsCompatibleAsync("orders-value", new RegistrySchema(Breaking, SchemaType.Avro)));
        // A subject without versions: compatible, as Confluent's registry answers (a build checks before the first registration).
        Assert.True(await _client.IsCompatibleAsync("new-value", new RegistrySchema(Breaking, SchemaType.Avro)));

        Assert.Equal(Compatibility.Backward, await _client.GetCompatibilityAsync(null));
        Assert.Equal(Compatibility.Full, await _client.UpdateCompatibilityAsync(Compatibility.Full, "orders-value"));
        Assert.Equal(Compatibility.Full, await _client.GetCompatibilityAsync("orders-value"));
        Assert.Equal(CompatibilityLevel.Full, await _host.Store.GetCompatibilityAsync("orders-value"));
        Assert.Equal(Compatibility.Backward, await _client.GetCompatibilityAsync(null));
    }

    [Fact]
    public async Task CachedSchemaRegistryClient_sees_Confluent_errors_with_their_codes()
    {
        await _client.RegisterSchemaAsync("orders-value", new RegistrySchema(V1, SchemaType.Avro));

        var incompatible = await Assert.ThrowsAsync<SchemaRegistryException>(() => _client.RegisterSchemaAsync("orders-value", new RegistrySchema(Breaking, SchemaType.Avro)));
        Assert.Equal((System.Net.HttpStatusCode.Conflict, 409), (incompatible.Status, incompatible.ErrorCode));
        Assert.Contains("field 'total' was added without a default", incompatible.Message, StringComparison.Ordinal);

        var invalid = await Assert.ThrowsAsync<SchemaRegistryException>(() => _client.RegisterSchemaAsync("orders-value", new RegistrySchema("""{"type":"nonsense"}""", SchemaType.Avro)));
        Assert.Equal(42201, invalid.ErrorCode);
        var notAvro = await Assert.ThrowsAsync<SchemaRegistryException>(() => _client.RegisterSchemaAsync("orders-value", new RegistrySchema("""{"type":"object"}""", SchemaType.Json)));
        Assert.Equal(42201, notAvro.ErrorCode);

        Assert.Equal(40403, (await Assert.ThrowsAsync<SchemaRegistryException>(() => _client.GetSchemaAsync(12345))).ErrorCode);
        Assert.Equal(40401, (await Assert.ThrowsAsync<SchemaRegistryException>(() => _client.GetSubjectVersionsAsync("missing-value"))).ErrorCode);
        Assert.Equal(40401, (await Assert.ThrowsAsync<SchemaRegistryException>(() => _client.GetLatestSchemaAsync("missing-value"))).ErrorCode);
        Assert.Equal(40402, (await Assert.ThrowsAsync<SchemaRegistryException>(() => _client.GetRegisteredSchemaAsync("orders-value", 9, ignoreDeletedSchemas: true))).ErrorCode);
        Assert.Equal(40403, (await Assert.ThrowsAsync<SchemaRegistryException>(() =>
            _client.LookupSchemaAsync("orders-value", new RegistrySchema(V2, SchemaType.Avro), ignoreDeletedSchemas: true, normalize: false))).ErrorCode);
    }

    [Fact]
    public async Task ConfluentSchemaRegistryStore_runs_over_the_API_as_over_Confluents_registry()
    {
        // DataMesh's remote store, pointed at DataMesh's API over the embedded store: every ISchemaStore operation through HTTP.
        using var remote = new ConfluentSchemaRegistryStore(new SchemaRegistryConfig { Url = _host.Url });
        var id1 = await remote.RegisterAsync("orders-value", AvroSchema.Parse(V1));
        var id2 = await remote.RegisterAsync("orders-value", AvroSchema.Parse(V2));
        Assert.Equal(id1, await remote.RegisterAsync("orders-value", AvroSchema.Parse(V1)));
        Assert.Equal([(1, id1), (2, id2)], (await remote.GetVersionsAsync("orders-value")).Select(v => (v.Version, v.Id)));
        Assert.Equal(id2, (await remote.GetLatestAsync("orders-value"))!.Id);
        Assert.Equal(["orders-value"], await remote.GetSubjectsAsync());
        Assert.Equal(1, (await remote.FindAsync("orders-value", AvroSchema.Parse(V1)))!.Version);
        Assert.Null(await remote.FindAsync("orders-value", AvroSchema.Parse(Breaking)));
        Assert.Null(await remote.FindAsync("missing-value", AvroSchema.Parse(V1)));
        await Assert.ThrowsAsync<SchemaIncompatibleException>(async () => await remote.RegisterAsync("orders-value", AvroSchema.Parse(Breaking)));
        await remote.SetCompatibilityAsync("orders-value", CompatibilityLevel.None);
        Assert.Equal(CompatibilityLevel.None, await remote.GetCompatibilityAsync("orders-value"));
        Assert.Equal(CompatibilityLevel.Backward, await remote.GetCompatibilityAsync(null));
        var error = await Assert.ThrowsAsync<NotSupportedException>(async () => await remote.DeleteVersionAsync("orders-value", 1));
        Assert.Contains("Delete it at the registry itself", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Over_the_Confluent_store_the_API_serves_the_remote_registry_and_refuses_deletes_saying_where_to_delete()
    {
        // A second API whose store is ConfluentSchemaRegistryStore, pointed at the first API (over the embedded store).
        using var remote = new ConfluentSchemaRegistryStore(new SchemaRegistryConfig { Url = _host.Url });
        await using var app = RegistryHost.Build(remote, null);
        await app.StartAsync();
        var url = app.Urls.Single();
        using var client = new CachedSchemaRegistryClient(new SchemaRegistryConfig { Url = url });

        var id = await client.RegisterSchemaAsync("orders-value", new RegistrySchema(V1, SchemaType.Avro));
        Assert.Equal(id, (await _host.Store.GetLatestAsync("orders-value"))!.Id);
        Assert.Equal("Order", AvroSchema.Parse((await client.GetSchemaAsync(id)).SchemaString).Name);
        Assert.Equal(["orders-value"], await client.GetAllSubjectsAsync());
        Assert.Equal(409, (await Assert.ThrowsAsync<SchemaRegistryException>(() => client.RegisterSchemaAsync("orders-value", new RegistrySchema(Breaking, SchemaType.Avro)))).ErrorCode);

        using var http = new HttpClient();
        using var delete = await http.DeleteAsync(url + "/subjects/orders-value/versions/1");
        Assert.Equal(System.Net.HttpStatusCode.UnprocessableEntity, delete.StatusCode);
        using var error = JsonDocument.Parse(await delete.Content.ReadAsStringAsync());
        Assert.Equal(42205, error.RootElement.GetProperty("error_code").GetInt32());
        Assert.Contains("Delete it at the registry itself", error.RootElement.GetProperty("message").GetString(), StringComparison.Ordinal);
        Assert.Equal([1], await client.GetSubjectVersionsAsync("orders-value"));
        await app.StopAsync();
    }

    [Fact]
    public async Task AvroDeserializer_decodes_the_change_events_DataMesh_wrote_as_DataMesh_reads_them()
    {
        var source = new SourceDescription("postgresql", "shop", [new SourceField("lsn", SourceFieldType.NullableLong)]);
        var table = new TableDescription("public", "orders",
        [
            new("id", DataType.Of(DataTypeKind.Int64, "bigint"), false),
            new("order-no", DataType.Of(DataTypeKind.Int32, "integer"), false),
            new("flag", DataType.Of(DataTypeKind.Boolean, "boolean"), true),
            new("score", DataType.Of(DataTypeKind.Float64, "double precision"), true),
            new("price", DataType.DecimalOf(12, 2, "numeric(12,2)"), true),
            new("note", DataType.Of(DataTypeKind.String, "text"), true),
            new("blob", DataType.Of(DataTypeKind.Bytes, "bytea"), true),
            new("uid", DataType.Of(DataTypeKind.Uuid, "uuid"), true),
            new("day", DataType.Of(DataTypeKind.Date, "date"), true),
            new("instant", DataType.Of(DataTypeKind.Timestamp, "timestamptz"), true),
            new("tags", DataType.ArrayOf(DataType.Of(DataTypeKind.String, "text"), "text[]"), true),
        ], ["id"]);
        var schemas = ChangeEventSchemas.Build(table, source);
        var keyId = await _host.Store.RegisterAsync(schemas.KeySubject, schemas.KeySchema!);
        var valueId = await _host.Store.RegisterAsync(schemas.ValueSubject, schemas.EnvelopeSchema);
        var encoder = new ChangeEventEncoder(schemas, keyId, valueId);

        var topic = schemas.Topic + "-" + Guid.NewGuid().ToString("N");
        _host.Cluster.CreateTopic(topic, 1);
        var rows = new List<(ChangeOperation Op, object?[]? Before, object?[]? After)>();
        for (var i = 0; i < 20; i++)
        {
            object?[] row =
            [
                1000L + i, i, i % 2 == 0, i * 1.25, 12.34m + i, i % 3 == 0 ? null : $"grüße {i} 😀", new byte[] { (byte)i, 255, 0 },
                Guid.NewGuid(), new DateOnly(1969, 12, 31).AddDays(i), new DateTimeOffset(2026, 12, 3, 10, 0, 0, TimeSpan.Zero).AddTicks(i * 12_340),
                new List<string?> { "a", null, i.ToString(CultureInfo.InvariantCulture) },
            ];
            rows.Add(i % 5 == 4 ? (ChangeOperation.Delete, row, null) : (i % 2 == 1 ? ChangeOperation.Update : ChangeOperation.Create, i % 2 == 1 ? row : null, row));
        }

        var written = new List<(byte[] Key, byte[] Value)>();
        using (var producer = new ProducerBuilder<byte[], byte[]>(new ProducerConfig { BootstrapServers = _host.Cluster.BootstrapServers }).Build())
        {
            foreach (var (op, before, after) in rows)
            {
                var key = new ArrayBufferWriter<byte>();
                Assert.True(encoder.WriteKey(key, (after ?? before)!));
                var value = new ArrayBufferWriter<byte>();
                encoder.WriteValue(value, op, before, after, new SourceValues { TimestampMs = 1764150615000, Database = "shop", Schema = "public", Table = "orders", TransactionId = 7, Position = [123L] }, 1764150616000);
                written.Add((key.WrittenSpan.ToArray(), value.WrittenSpan.ToArray()));
                await producer.ProduceAsync(topic, new Message<byte[], byte[]> { Key = written[^1].Key, Value = written[^1].Value });
            }
        }

        var consumerConfig = new ConsumerConfig { BootstrapServers = _host.Cluster.BootstrapServers, GroupId = "g-" + Guid.NewGuid().ToString("N"), AutoOffsetReset = AutoOffsetReset.Earliest };
        using var consumer = new ConsumerBuilder<GenericRecord, GenericRecord>(consumerConfig)
            .SetKeyDeserializer(new AvroDeserializer<GenericRecord>(_client).AsSyncOverAsync())
            .SetValueDeserializer(new AvroDeserializer<GenericRecord>(_client).AsSyncOverAsync())
            .Build();
        consumer.Subscribe(topic);
        var decoded = new List<ConsumeResult<GenericRecord, GenericRecord>>();
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (decoded.Count < rows.Count && DateTime.UtcNow < deadline)
        {
            if (consumer.Consume(TimeSpan.FromMilliseconds(200)) is { } result)
            {
                decoded.Add(result);
            }
        }

        Assert.Equal(rows.Count, decoded.Count);
        var keySchema = await _host.Store.GetByIdAsync(keyId);
        var valueSchema = await _host.Store.GetByIdAsync(valueId);
        for (var i = 0; i < rows.Count; i++)
        {
            // DataMesh's own decoder (the JSON Lines sink's) reads the bytes; Confluent's deserializer must agree on every field.
            AssertSame(Ours(keySchema, written[i].Key), decoded[i].Message.Key, "key");
            var ours = Ours(valueSchema, written[i].Value);
            AssertSame(ours, decoded[i].Message.Value, "value");

            // And both read what was written.
            var (op, before, after) = rows[i];
            Assert.Equal(op.ToCode(), decoded[i].Message.Value["op"]);
            var image = (GenericRecord?)decoded[i].Message.Value[after is null ? "before" : "after"];
            Assert.NotNull(image);
            var values = (after ?? before)!;
            Assert.Equal(values[0], image["id"]);
            Assert.Equal(values[5], image["note"]);
            Assert.Equal((decimal)values[4]!, (decimal)(AvroDecimal)image["price"]);
            Assert.Equal(values[7], image["uid"]);
            Assert.Equal(((DateTimeOffset)values[9]!).UtcDateTime, ((DateTime)image["instant"]).ToUniversalTime());
            Assert.Equal(123L, ((GenericRecord)decoded[i].Message.Value["source"])["lsn"]);
        }
    }

    private static JsonElement Ours(AvroSchema schema, byte[] message)
    {
        ConfluentWireFormat.ReadHeader(message, out _, out var payload);
        var buffer = new ArrayBufferWriter<byte>();
        using (var json = new Utf8JsonWriter(buffer))
        {
            AvroJsonWriter.For(schema).Write(json, payload);
        }

        return JsonDocument.Parse(buffer.WrittenMemory).RootElement.Clone();
    }

    /// <summary>Compares a value Apache.Avro decoded (through Confluent's deserializer) with DataMesh's JSON rendering of the same bytes.</summary>
    private static void AssertSame(JsonElement ours, object? theirs, string path)
    {
        switch (theirs)
        {
            case null:
                Assert.True(ours.ValueKind == JsonValueKind.Null, $"{path}: ours is {ours}, theirs null");
                return;
            case GenericRecord record:
                Assert.Equal(JsonValueKind.Object, ours.ValueKind);
                Assert.Equal(record.Schema.Fields.Count, ours.EnumerateObject().Count());
                foreach (var field in record.Schema.Fields)
                {
                    Assert.True(ours.TryGetProperty(field.Name, out var child), $"{path}.{field.Name} missing from ours");
                    AssertSame(child, record[field.Name], path + "." + field.Name);
                }

                return;
            case object?[] array:
                Assert.Equal(array.Length, ours.GetArrayLength());
                for (var i = 0; i < array.Length; i++)
                {
                    AssertSame(ours[i], array[i], $"{path}[{i}]");
                }

                return;
            case string text:
                Assert.Equal(text, ours.GetString());
                return;
            case long or int:
                Assert.Equal(Convert.ToInt64(theirs, CultureInfo.InvariantCulture), ours.GetInt64());
                return;
            case bool flag:
                Assert.Equal(flag, ours.GetBoolean());
                return;
            case double number:
                Assert.Equal(number, ours.GetDouble());
                return;
            case byte[] bytes:
                Assert.Equal(bytes, ours.GetBytesFromBase64());
                return;
            case AvroDecimal number:
                Assert.Equal((decimal)number, decimal.Parse(ours.GetString()!, CultureInfo.InvariantCulture));
                Assert.Equal(number.Scale, ours.GetString()!.Length - ours.GetString()!.IndexOf('.', StringComparison.Ordinal) - 1);
                return;
            case Guid uuid:
                Assert.Equal(uuid, Guid.Parse(ours.GetString()!));
                return;
            case DateTime time when ours.GetString()!.Length == 10:
                Assert.Equal(DateOnly.FromDateTime(time), DateOnly.ParseExact(ours.GetString()!, "yyyy-MM-dd", CultureInfo.InvariantCulture));
                return;
            case DateTime time:
                Assert.Equal(time.ToUniversalTime(), DateTime.Parse(ours.GetString()!, CultureInfo.InvariantCulture, DateTimeStyles.RoundtripKind).ToUniversalTime());
                return;
            default:
                Assert.Fail($"{path}: no comparison for {theirs.GetType()}");
                return;
        }
    }
}
