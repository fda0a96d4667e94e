namespace DataMesh.Pipelines.Sinks;

/// <summary>One record of a <see cref="SinkBatch"/>, as views over the batch's buffer (valid while the batch is being written).</summary>
public readonly ref struct SinkRecord
{
    internal SinkRecord(in SinkBatch.Entry entry, ReadOnlySpan<byte> buffer)
    {
        Topic = entry.Topic;
        HasKey = entry.KeyLength >= 0;
        Key = HasKey ? buffer.Slice(entry.KeyStart, entry.KeyLength) : default;
        IsTombstone = entry.ValueLength < 0;
        Value = IsTombstone ? default : buffer.Slice(entry.ValueStart, entry.ValueLength);
        ValueSchema = entry.ValueSchema;
        ValueSchemaId = entry.ValueSchemaId;
        HeadersJson = entry.HeadersLength > 0 ? buffer.Slice(entry.HeadersStart, entry.HeadersLength) : default;
        SourceTopic = entry.Source.Topic;
        SourcePartition = entry.Source.Partition;
        SourceOffset = entry.SourceOffset;
    }

    /// <summary>
    /// The record's logical destination: the pipeline's target topic, or the one a route transform or the outbox router
    /// chose (or the source topic when the pipeline names none). A database sink maps it to a table.
    /// </summary>
    public string Topic { get; }

    /// <summary>Whether the record has a key.</summary>
    public bool HasKey { get; }

    /// <summary>The key exactly as it was read (for change events: the Confluent wire format, header and Avro datum).</summary>
    public ReadOnlySpan<byte> Key { get; }

    /// <summary>Whether the record is a tombstone (no value): a delete of <see cref="Key"/>.</summary>
    public bool IsTombstone { get; }

    /// <summary>The value's Avro datum, without the Confluent header; empty for a tombstone.</summary>
    public ReadOnlySpan<byte> Value { get; }

    /// <summary>The schema of <see cref="Value"/> (the transform chain's output schema); null for a tombstone.</summary>
    public global::Avro.RecordSchema? ValueSchema { get; }

    /// <summary>The registered id of <see cref="ValueSchema"/> when the value arrived framed with it (outbox router); 0 when the sink must register it.</summary>
    public int ValueSchemaId { get; }

    /// <summary>Kafka headers as a JSON object of name to string value (outbox router), or empty.</summary>
    public ReadOnlySpan<byte> HeadersJson { get; }

    /// <summary>The topic the record was read from.</summary>
    public string SourceTopic { get; }

    /// <summary>The partition the record was read from.</summary>
    public int SourcePartition { get; }

    /// <summary>The offset the record was read from.</summary>
    public long SourceOffset { get; }
}
