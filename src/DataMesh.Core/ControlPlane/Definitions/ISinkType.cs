using DataMesh.Pipelines.Sinks;

namespace DataMesh;

/// <summary>
/// A kind of pipeline sink that definition files can declare beyond Kafka and JSON Lines (<c>sink: {postgres_table: {...}}</c>):
/// it gives the options object the sink's settings are bound to, checks them by the same rules as a sink built in code,
/// and creates the sink for the definition runner. The connectors package implements one per table sink
/// (<c>ConnectorSinkTypes.All</c>); Core validates and runs through this interface. See <c>docs/definitions.md</c>.
/// </summary>
public interface ISinkType
{
    /// <summary>The name written under <c>sink</c>: <c>postgres_table</c> or <c>mysql_table</c>.</summary>
    string Name { get; }

    /// <summary>What the sink writes to, for messages and plans (<c>a PostgreSQL table</c>).</summary>
    string Description { get; }

    /// <summary>A new options object with its defaults; the settings are bound to its public properties by their snake_case names.</summary>
    /// <returns>The options.</returns>
    object CreateOptions();

    /// <summary>Checks bound options.</summary>
    /// <param name="options">Options from <see cref="CreateOptions"/>.</param>
    /// <returns>Each problem as <c>Setting: reason</c> (the options' property name first); empty when valid.</returns>
    IReadOnlyList<string> Validate(object options);

    /// <summary>Creates the sink; the caller owns and disposes it.</summary>
    /// <param name="options">Validated options from <see cref="CreateOptions"/>.</param>
    /// <returns>The sink.</returns>
    PipelineSink Create(object options);
}
