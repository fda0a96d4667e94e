using System.Buffers;
using DataMesh.Avro;
using DataMesh.Hosting;
using DataMesh.Pipelines;
using DataMesh.Pipelines.Sinks;
using DataMesh.Schemas;
using Microsoft.Extensions.Logging.Abstractions;

namespace DataMesh.IntegrationTests.Sinks;

/// <summary>Writes Avro datums with <see cref="AvroWriter"/>.</summary>
public delegate void AvroWrite(ref AvroWriter writer);

/// <summary>
/// What a table sink test needs: a real schema store (a Kafka topic on the embedded cluster), a <see cref="SinkContext"/>,
/// and builders of Confluent-framed keys, Avro values and <see cref="SinkBatch"/>es.
/// </summary>
public sealed class SinkTestKit : IAsyncDisposable
{
    private readonly KafkaConnection _kafka;
    private long _offset;

    private SinkTestKit(KafkaConnection kafka, KafkaSchemaStore store)
    {
        _kafka = kafka;
        Store = store;
        Context = new SinkContext("sink-tests", store, kafka, NullLoggerFactory.Instance);
    }

    public KafkaSchemaStore Store { get; }

    public SinkContext Context { get; }

    public static async Task<SinkTestKit> CreateAsync()
    {
        var kafka = new KafkaConnection(new KafkaOptions());
        var store = await KafkaSchemaStore.CreateAsync(new KafkaSchemaStoreOptions { EmbeddedCluster = kafka.EmbeddedCluster, Topic = "_schemas-" + Guid.NewGuid().ToString("N") });
        return new SinkTestKit(kafka, store);
    }

    public static global::Avro.RecordSchema Schema(string json) => (global::Avro.RecordSchema)global::Avro.Schema.Parse(json);

    public async Task<int> RegisterAsync(string subject, global::Avro.RecordSchema schema) => await Store.RegisterAsync(subject, schema);

    /// <summary>A key in the Confluent wire format.</summary>
    public static byte[] Key(int schemaId, AvroWrite write)
    {
        var buffer = new ArrayBufferWriter<byte>();
        var header = buffer.GetSpan(ConfluentWireFormat.HeaderLength);
        ConfluentWireFormat.WriteHeader(header, schemaId);
        buffer.Advance(ConfluentWireFormat.HeaderLength);
        var writer = new AvroWriter(buffer);
        write(ref writer);
        writer.Flush();
        return buffer.WrittenSpan.ToArray();
    }

    /// <summary>A key of one long field, in the Confluent wire format.</summary>
    public static byte[] LongKey(int schemaId, long id) => Key(schemaId, (ref AvroWriter w) => w.WriteLong(id));

    /// <summary>An Avro datum (no header).</summary>
    public static byte[] Datum(AvroWrite write)
    {
        var buffer = new ArrayBufferWriter<byte>();
        var writer = new AvroWriter(buffer);
        write(ref writer);
        writer.Flush();
        return buffer.WrittenSpan.ToArray();
    }

    public BatchBuilder Batch(string topic) => new(this, topic);

    public async ValueTask DisposeAsync()
    {
        await Store.DisposeAsync();
        _kafka.Dispose();
    }

    public sealed class BatchBuilder(SinkTestKit kit, string topic)
    {
        private readonly SourcePartition _source = new(topic, 0);

        public SinkBatch Batch { get; } = new();

        public BatchBuilder Upsert(byte[]? key, global::Avro.RecordSchema schema, byte[] value, string? topicOverride = null)
        {
            Batch.Add(topicOverride ?? topic, key, key is not null, value, schema, _source, kit._offset++);
            return this;
        }

        public BatchBuilder Tombstone(byte[] key)
        {
            Batch.Add(topic, key, true, default, null, _source, kit._offset++);
            return this;
        }
    }
}
