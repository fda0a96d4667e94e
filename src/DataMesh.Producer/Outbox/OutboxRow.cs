using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using DataMesh.Avro;
using DataMesh.Producer.Emitting;

namespace DataMesh.Producer.Outbox;

/// <summary>One row of the outbox table, ready to insert: key and payload in the Confluent wire format, headers as a JSON object.</summary>
internal sealed record OutboxRow(Guid Id, string Topic, string? AggregateId, byte[]? Key, string EventType, byte[] Payload, string Headers, DateTime CreatedAt)
{
    public static OutboxRow Create(RegisteredEvent type, ReadOnlySpan<byte> body, int keyLength, string? keyText, Guid id, DateTime time, string source, Activity? activity)
    {
        byte[]? key = null;
        if (keyLength >= 0)
        {
            key = new byte[ConfluentWireFormat.HeaderLength + keyLength];
            ConfluentWireFormat.WriteHeader(key, type.KeySchemaId);
            body[..keyLength].CopyTo(key.AsSpan(ConfluentWireFormat.HeaderLength));
            body = body[keyLength..];
        }

        var payload = new byte[ConfluentWireFormat.HeaderLength + body.Length];
        ConfluentWireFormat.WriteHeader(payload, type.ValueSchemaId);
        body.CopyTo(payload.AsSpan(ConfluentWireFormat.HeaderLength));

        using var json = new MemoryStream();
        using (var writer = new Utf8JsonWriter(json))
        {
            writer.WriteStartObject();
            writer.WriteString(EventHeaders.SpecVersion, "1.0");
            writer.WriteString(EventHeaders.Id, id.ToString("D"));
            writer.WriteString(EventHeaders.Source, source);
            writer.WriteString(EventHeaders.Type, type.Serializer.FullName);
            writer.WriteString(EventHeaders.Time, time.ToString("O", CultureInfo.InvariantCulture));
            if (activity is { IdFormat: ActivityIdFormat.W3C, Id: { } traceParent })
            {
                writer.WriteString(EventHeaders.TraceParent, traceParent);
            }

            writer.WriteEndObject();
        }

        return new OutboxRow(id, type.Topic, keyText, key, type.Serializer.FullName, payload, System.Text.Encoding.UTF8.GetString(json.ToArray()), time);
    }
}
