namespace DataMesh;

/// <summary>Registers this package's source and sink types (<see cref="ConnectorSourceTypes.All"/>,
/// <see cref="ConnectorSinkTypes.All"/>) with what validates, plans or runs definitions.</summary>
public static class ConnectorTypes
{
    /// <summary>Adds every source and table sink type of the package to validation options.</summary>
    /// <param name="options">The options.</param>
    /// <returns>The options.</returns>
    public static DefinitionValidationOptions AddConnectorTypes(this DefinitionValidationOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        Add(options.SourceTypes, options.SinkTypes);
        return options;
    }

    /// <summary>Adds every source and table sink type of the package to controller or runner options.</summary>
    /// <param name="options">The options.</param>
    /// <returns>The options.</returns>
    public static DataMeshControllerOptions AddConnectorTypes(this DataMeshControllerOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        Add(options.SourceTypes, options.SinkTypes);
        return options;
    }

    private static void Add(IList<ISourceType> sources, IList<ISinkType> sinks)
    {
        foreach (var type in ConnectorSourceTypes.All)
        {
            sources.Add(type);
        }

        foreach (var type in ConnectorSinkTypes.All)
        {
            sinks.Add(type);
        }
    }
}
