using DataMesh.Hosting;

namespace DataMesh.Pipelines.Sinks;

/// <summary>Settings of a <see cref="KafkaSink"/>.</summary>
public sealed class KafkaSinkOptions
{
    /// <summary>Partitions of a topic the sink creates; 1 by default.</summary>
    public int Partitions { get; set; } = 1;

    /// <summary>The cluster to write to; null (the default) for the pipeline's own connection.</summary>
    public KafkaConnection? Connection { get; set; }

    /// <summary>Checks the settings.</summary>
    /// <exception cref="ArgumentException">A setting is out of range; the message names it.</exception>
    public void Validate()
    {
        if (Partitions < 1)
        {
            throw new ArgumentException($"KafkaSinkOptions.Partitions must be at least 1, not {Partitions}.");
        }
    }
}
