using DataMesh.Pipelines.Transforms;

namespace DataMesh.Pipelines;

/// <summary>What a pipeline does with a record that a transform or the target rejects.</summary>
public enum ErrorHandling
{
    /// <summary>The record goes to <see cref="PipelineOptions.DeadLetterTopic"/> with the reason in its headers, and the pipeline goes on.</summary>
    DeadLetter,

    /// <summary>The pipeline stops with a <see cref="PipelineException"/>; the record's offset is not committed, so a restart meets it again.</summary>
    Stop,
}

/// <summary>Settings of one Kafka-to-Kafka pipeline.</summary>
public sealed class PipelineOptions
{
    /// <summary>The pipeline's name, used in logs, metrics and dead-letter headers.</summary>
    public string Name { get; set; } = string.Empty;

    /// <summary>The topics read (change events or other Avro records in the Confluent wire format).</summary>
    public IList<string> SourceTopics { get; } = [];

    /// <summary>The consumer group; offsets are committed to it. Defaults to <c>datamesh-pipeline-&lt;Name&gt;</c>.</summary>
    public string? GroupId { get; set; }

    /// <summary>The topic records go to unless a route transform names another.</summary>
    public string TargetTopic { get; set; } = string.Empty;

    /// <summary>The transforms, in order.</summary>
    public IList<Transform> Transforms { get; } = [];

    /// <summary>What happens to a record that cannot be transformed or written; <see cref="ErrorHandling.DeadLetter"/> by default.</summary>
    public ErrorHandling OnError { get; set; }

    /// <summary>The dead-letter topic; defaults to <c>&lt;TargetTopic&gt;.dlq</c>.</summary>
    public string? DeadLetterTopic { get; set; }

    /// <summary>Partitions of the target and dead-letter topics when the pipeline creates them; 1 by default.</summary>
    public int TargetPartitions { get; set; } = 1;

    /// <summary>The most records read but not yet acknowledged by the target; reading waits beyond it. 10 000 by default.</summary>
    public int MaxInFlight { get; set; } = 10_000;

    /// <summary>How often processed offsets are committed; 1 second by default. Offsets are also committed on stop and on rebalance.</summary>
    public TimeSpan CommitInterval { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>librdkafka settings for the pipeline's consumer, applied over DataMesh's (for example <c>session.timeout.ms</c>).</summary>
    public IDictionary<string, string> ConsumerSettings { get; } = new Dictionary<string, string>(StringComparer.Ordinal);

    /// <summary>The consumer group, with its default.</summary>
    public string EffectiveGroupId => GroupId ?? "datamesh-pipeline-" + Name;

    /// <summary>The dead-letter topic, with its default.</summary>
    public string EffectiveDeadLetterTopic => DeadLetterTopic ?? TargetTopic + ".dlq";

    /// <summary>Checks the settings.</summary>
    /// <exception cref="ArgumentException">A setting is missing or out of range; the message names it.</exception>
    public void Validate()
    {
        if (string.IsNullOrWhiteSpace(Name))
        {
            throw new ArgumentException("PipelineOptions.Name is required.");
        }

        if (SourceTopics.Count == 0 || SourceTopics.Any(string.IsNullOrWhiteSpace))
        {
            throw new ArgumentException($"PipelineOptions.SourceTopics of pipeline '{Name}' must name at least one topic, and no empty one.");
        }

        if (string.IsNullOrWhiteSpace(TargetTopic))
        {
            throw new ArgumentException($"PipelineOptions.TargetTopic of pipeline '{Name}' is required.");
        }

        if (SourceTopics.Contains(TargetTopic) || SourceTopics.Contains(EffectiveDeadLetterTopic))
        {
            throw new ArgumentException($"PipelineOptions.TargetTopic and DeadLetterTopic of pipeline '{Name}' must differ from its source topics.");
        }

        if (MaxInFlight < 1 || TargetPartitions < 1)
        {
            throw new ArgumentException($"PipelineOptions.MaxInFlight and TargetPartitions of pipeline '{Name}' must be at least 1.");
        }

        if (CommitInterval <= TimeSpan.Zero)
        {
            throw new ArgumentException($"PipelineOptions.CommitInterval of pipeline '{Name}' must be positive.");
        }
    }
}
