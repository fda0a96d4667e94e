using Microsoft.Extensions.Configuration;

namespace DataMesh;

/// <summary>Settings of the controller (<see cref="DataMeshController"/>) and of the definition runner (<c>datamesh run</c>).</summary>
public sealed class DataMeshControllerOptions
{
    /// <summary>The compacted topic that holds the controller's state; <c>datamesh.controller</c> by default. The runners'
    /// reports go to the topic of the same name with <c>.status</c> appended.</summary>
    public string StateTopic { get; set; } = "datamesh.controller";

    /// <summary>The source types definitions may use (the connectors' <c>ConnectorSourceTypes.All</c>).</summary>
    public IList<ISourceType> SourceTypes { get; } = [];

    /// <summary>The table sink types definitions may use (the connectors' <c>ConnectorSinkTypes.All</c>).</summary>
    public IList<ISinkType> SinkTypes { get; } = [];

    /// <summary>What <c>${config:Key}</c> references resolve against; null to resolve only <c>${env:NAME}</c>.</summary>
    public IConfiguration? Configuration { get; set; }

    /// <summary>How often a runner reads the controller's state for changes; 1 s by default.</summary>
    public TimeSpan PollInterval { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>How often a runner reports the state of what it runs even when nothing changed; 10 s by default.</summary>
    public TimeSpan StatusInterval { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>This runner's name in status reports; <c>HOST-PID</c> by default.</summary>
    public string RunnerId { get; set; } = $"{Environment.MachineName}-{Environment.ProcessId}";

    /// <summary>Checks the settings.</summary>
    /// <exception cref="ArgumentException">A setting is invalid; the message names it.</exception>
    public void Validate()
    {
        if (!Events.TopicNames.IsValid(StateTopic, out var reason))
        {
            throw new ArgumentException($"{nameof(StateTopic)} '{StateTopic}' is not a valid topic name: {reason}");
        }

        if (PollInterval <= TimeSpan.Zero || StatusInterval <= TimeSpan.Zero)
        {
            throw new ArgumentException($"{nameof(PollInterval)} and {nameof(StatusInterval)} must be positive; they are {PollInterval} and {StatusInterval}.");
        }

        if (string.IsNullOrWhiteSpace(RunnerId))
        {
            throw new ArgumentException($"{nameof(RunnerId)} must not be empty.");
        }
    }
}
