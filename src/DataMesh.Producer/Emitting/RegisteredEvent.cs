using System.Text;
using Confluent.Kafka;
using DataMesh.Producer.Serialization;

namespace DataMesh.Producer.Emitting;

/// <summary>One event type as the emitter knows it: its serializer, topic, subjects and, once started, schema ids and header templates.</summary>
internal sealed class RegisteredEvent
{
    public RegisteredEvent(EventSerializer serializer, string topic, string valueSubject, string keySubject)
    {
        Serializer = serializer;
        Topic = topic;
        ValueSubject = valueSubject;
        KeySubject = keySubject;
        TopicPartition = new TopicPartition(topic, Partition.Any);
        TypeHeader = new Header(EventHeaders.Type, Encoding.UTF8.GetBytes(serializer.FullName));
        ActivityName = "send " + topic;
    }

    public EventSerializer Serializer { get; }

    public Type EventType => Serializer.EventType;

    public string Topic { get; }

    public string ValueSubject { get; }

    public string KeySubject { get; }

    /// <summary>Cached, so that producing does not allocate one per event.</summary>
    public TopicPartition TopicPartition { get; }

    public Header TypeHeader { get; }

    public string ActivityName { get; }

    public int ValueSchemaId { get; set; }

    public int KeySchemaId { get; set; }

    /// <summary>The header list sent with events of this type without a trace; its id and time headers are rewritten in place
    /// for each event by the sender (the Kafka client copies header bytes when it produces).</summary>
    public Headers? Headers { get; set; }

    /// <summary>As <see cref="Headers"/>, with the <c>traceparent</c> header.</summary>
    public Headers? HeadersWithTrace { get; set; }
}

/// <summary>The Kafka headers of every event, as in the CloudEvents Kafka protocol binding (binary mode) and W3C trace context.</summary>
internal static class EventHeaders
{
    public const string Id = "ce_id";
    public const string Type = "ce_type";
    public const string Source = "ce_source";
    public const string Time = "ce_time";
    public const string SpecVersion = "ce_specversion";
    public const string TraceParent = "traceparent";
}
