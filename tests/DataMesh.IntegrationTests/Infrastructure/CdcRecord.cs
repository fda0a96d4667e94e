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

    /// <summary>
    /// Decodes a Confluent-framed Avro record with the writer schema its id names in <paramref name="store"/>
    /// (independently of the connector's own code), or null for null (a tombstone's value, a keyless record's key).
    /// </summary>
    public static async Task<GenericRecord?> DecodeAsync(ISchemaStore store, byte[]? message, Func<global::Avro.Schema, global::Avro.Schema>? adjust = null)
    {
        if (message is null)
        {
            return null;
        }

        ConfluentWireFormat.ReadHeader(message, out var id, out _);
        var schema = await store.GetByIdAsync(id);
        if (adjust is not null)
        {
            schema = adjust(schema);
        }

        var reader = new GenericDatumReader<GenericRecord>(schema, schema);
        using var stream = new MemoryStream(message, ConfluentWireFormat.HeaderLength, message.Length - ConfluentWireFormat.HeaderLength);
        var value = reader.Read(null!, new BinaryDecoder(stream));
        if (stream.Position != stream.Length)
        {
            throw new InvalidDataException($"{stream.Length - stream.Position} bytes left after decoding a record of schema {id}.");
        }

        return value;
    }
}
