using System.Buffers;
using DataMesh.Avro;
using AvroSchema = global::Avro.Schema;

namespace DataMesh.Producer.Serialization;

/// <summary>An event type's schemas and its compiled serializer.</summary>
internal abstract class EventSerializer(Type eventType, AvroSchema valueSchema, AvroSchema? keySchema, string fullName)
{
    public Type EventType { get; } = eventType;

    /// <summary>The value's record schema.</summary>
    public AvroSchema ValueSchema { get; } = valueSchema;

    /// <summary>The key's schema, or null when the type has no <see cref="EventKeyAttribute"/> member.</summary>
    public AvroSchema? KeySchema { get; } = keySchema;

    /// <summary>The record's Avro full name; also the <c>ce_type</c> header.</summary>
    public string FullName { get; } = fullName;

    /// <summary>Writes the key's Avro body (when there is a key), then the value's, to <paramref name="output"/>.</summary>
    /// <param name="event">An instance of <see cref="EventType"/>.</param>
    /// <param name="output">The destination.</param>
    /// <param name="keyLength">The key's length, or -1 when there is no key.</param>
    public abstract void WriteBoxed(object @event, IBufferWriter<byte> output, out int keyLength);

    /// <summary>The key's text (the outbox's <c>aggregate_id</c>), or null.</summary>
    public abstract string? KeyTextBoxed(object @event);
}

internal sealed class EventSerializer<T>(RecordWriter<T> value, KeyWriter<T>? key, AvroSchema valueSchema, AvroSchema? keySchema, string fullName)
    : EventSerializer(typeof(T), valueSchema, keySchema, fullName)
{
    /// <summary>Writes the key's Avro body (when there is a key), then the value's, to <paramref name="output"/>; allocates nothing.</summary>
    public void Write(ref T @event, IBufferWriter<byte> output, out int keyLength)
    {
        var writer = new AvroWriter(output);
        keyLength = -1;
        if (key is not null)
        {
            key.Write(ref writer, ref @event);
            keyLength = checked((int)writer.BytesWritten);
        }

        value.WriteFields(ref writer, ref @event);
        writer.Flush();
    }

    public string? KeyText(ref T @event) => key?.Text(ref @event);

    public override void WriteBoxed(object @event, IBufferWriter<byte> output, out int keyLength)
    {
        var typed = (T)@event;
        Write(ref typed, output, out keyLength);
    }

    public override string? KeyTextBoxed(object @event)
    {
        var typed = (T)@event;
        return KeyText(ref typed);
    }
}
