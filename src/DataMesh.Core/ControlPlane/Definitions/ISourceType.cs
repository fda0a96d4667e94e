namespace DataMesh;

/// <summary>
/// A kind of source that definition files can declare (<c>type: postgres</c>): it gives the options object a source's
/// settings are bound to, so that a definition is checked by the same rules as a source configured in code
/// (<see cref="SourceOptions.Validate(string)"/>). Each connector package implements one per source type; Core, which
/// cannot reference the connectors, validates through this interface. See <c>docs/definitions.md</c>.
/// </summary>
public interface ISourceType
{
    /// <summary>The name written in a definition's <c>type</c>: <c>postgres</c>, <c>mysql</c>, <c>mariadb</c>,
    /// <c>cockroachdb</c> or <c>cassandra</c>.</summary>
    string Name { get; }

    /// <summary>A new options object with its defaults; a definition's settings are bound to its public properties by
    /// their snake_case names (<c>ConnectionString</c> is <c>connection_string</c>).</summary>
    /// <returns>The options.</returns>
    SourceOptions CreateOptions();
}
