using Avro.Generic;
using Avro.IO;
using DataMesh.Avro;
using DataMesh.Schemas;

namespace DataMesh.IntegrationTests.Infrastructure;

/// <summary>One decoded record of a table topic: key and value decoded by Apache.Avro's generic reader.</summary>
internal sealed record CdcRecord(GenericRecord? Key, GenericRecord? Value, long Offset, int Partition)
{
    public string? Op => Value?["op"] as string;

    public GenericRecord? After => Value?["after"] as GenericRecord;

    public GenericRecord? Before => Value?["before"] as GenericRecord;

    public GenericRecord Source => (GenericRecord)Value!["source"];

    /// <summary>The writer's fencing epoch (header <c>datamesh.epoch</c>), when the record has one and the reader kept it.</summary>
    public long? Epoch { get; init; }

    /// <summary>The message's key as it was in the topic (Confluent framing included), when the reader kept it.</summary>
    public byte[]? KeyBytes { get; init; }

    /// <summary>The message's value as it was in the topic (Confluent framing included), when the reader kept it.</summary>
    public byte[]? ValueBytes { get; init; }

    /// <summary>A record written with <paramref name="writer"/>, read with <paramref name="reader"/>, as a consumer on a newer
    /// schema reads it (Avro schema resolution: a field the writer lacks takes the reader's default).</summary>
    public static GenericRecord Resolve(GenericRecord record, global::Avro.Schema writer, global::Avro.Schema reader)
    {
        using var stream = new MemoryStream();
        new GenericDatumWriter<GenericRecord>(writer).Write(record, new BinaryEncoder(stream));
        stream.Position = 0;
        return new GenericDatumReader<GenericRecord>(writer, reader).Read(null!, new BinaryDecoder(stream));
    }

    /// <summary>A decoded field's value as comparable text: bytes in hex, decimals as unscaled and scale (Apache.Avro's
    /// AvroDecimal recurses without end in Convert.ToString).</summary>
    public static string Canonical(object? value) => value switch
    {
        null => "null",
        byte[] bytes => Convert.ToHexString(bytes),
        global::Avro.AvroDecimal number => $"{number.UnscaledValue}e-{number.Scale}",
        _ => Convert.ToString(value, System.Globalization.CultureInfo.InvariantCulture)!,
    };

    /// <summary>
    /// Decodes a Confluent-framed Avro record with the writer schema its id names in <paramref name="store"/>
    /// (independently of the connector's own code), or null for null (a tombstone's value, a keyless record's key).
    /// </summary>
    public static Task<GenericRecord?> DecodeAsync(ISchemaStore store, byte[]? message, Func<global::Avro.Schema, global::Avro.Schema>? adjust = null) =>
        new CdcDecoder(store, adjust).DecodeAsync(message).AsTask();
}

/// <summary>Decodes Confluent-framed Avro records like <see cref="CdcRecord.DecodeAsync"/>, with one reader per schema id
/// kept for the records that follow (a reader per record costs more than the record when a topic has a million).</summary>
/// <param name="store">The schemas, by id.</param>
/// <param name="adjust">Changes each writer schema before it is used, or null.</param>
/// <param name="project">The schema to read each (adjusted) writer schema's records into, leaving fields out (Avro's
/// schema resolution skips them), or null to read them whole.</param>
internal sealed class CdcDecoder(ISchemaStore store, Func<global::Avro.Schema, global::Avro.Schema>? adjust = null, Func<global::Avro.Schema, global::Avro.Schema>? project = null)
{
    private readonly Dictionary<int, GenericDatumReader<GenericRecord>> _readers = [];

    /// <summary>The record, or null for null. Not thread-safe.</summary>
    public async ValueTask<GenericRecord?> DecodeAsync(byte[]? message)
    {
        if (message is null)
        {
            return null;
        }

        ConfluentWireFormat.ReadHeader(message, out var id, out _);
        if (!_readers.TryGetValue(id, out var reader))
        {
            var schema = await store.GetByIdAsync(id);
            if (adjust is not null)
            {
                schema = adjust(schema);
            }

            _readers[id] = reader = new GenericDatumReader<GenericRecord>(schema, project?.Invoke(schema) ?? schema);
        }

        using var stream = new MemoryStream(message, ConfluentWireFormat.HeaderLength, message.Length - ConfluentWireFormat.HeaderLength);
        var value = reader.Read(null!, new BinaryDecoder(stream));
        if (stream.Position != stream.Length)
        {
            throw new InvalidDataException($"{stream.Length - stream.Position} bytes left after decoding a record of schema {id}.");
        }

        return value;
    }
}
