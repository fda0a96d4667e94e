namespace DataMesh;

/// <summary>
/// A kind of source that definition files can declare (<c>type: postgres</c>): it gives the options object a source's
/// settings are bound to, so that a definition is checked by the same rules as a source configured in code
/// (<see cref="SourceOptions.Validate(string)"/>), names what such a source keeps in its database, and runs one for the
/// definition runner (<c>datamesh run</c>). Each connector package implements one per source type; Core, which cannot
/// reference the connectors, validates, plans and runs through this interface. See <c>docs/definitions.md</c>.
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

    /// <summary>What a source of this type creates in its database (a PostgreSQL replication slot and publication), for
    /// <c>datamesh plan</c>; empty when it creates nothing there.</summary>
    /// <param name="sourceName">The source's name.</param>
    /// <param name="options">Its options, from <see cref="CreateOptions"/>.</param>
    /// <returns>The resources.</returns>
    IReadOnlyList<SourceResource> Resources(string sourceName, SourceOptions options);

    /// <summary>Runs a source of this type on the source runtime until cancelled or failed (see
    /// <see cref="Sources.SourceRegistration.RunAsync{TOptions, TPosition}"/>).</summary>
    /// <param name="services">A DataMesh host's services.</param>
    /// <param name="sourceName">The source's name.</param>
    /// <param name="options">Its validated options, from <see cref="CreateOptions"/>.</param>
    /// <param name="cancellationToken">Stops the source.</param>
    /// <returns>True when it stopped because it was asked to; false when it failed.</returns>
    Task<bool> RunAsync(IServiceProvider services, string sourceName, SourceOptions options, CancellationToken cancellationToken);

    /// <summary>Deletes what a source of this type made in its database (<see cref="Resources"/>), for
    /// <c>datamesh delete --with-resources</c>, once no process runs the source; what it did not make (a slot or publication
    /// created by someone else) is kept. The default deletes nothing.</summary>
    /// <param name="sourceName">The source's name.</param>
    /// <param name="options">Its options, from <see cref="CreateOptions"/>, with secret references resolved.</param>
    /// <param name="cancellationToken">Cancels the work.</param>
    /// <returns>Each resource, deleted or kept with the reason.</returns>
    Task<IReadOnlyList<SourceResourceDeletion>> DeleteResourcesAsync(string sourceName, SourceOptions options, CancellationToken cancellationToken) =>
        Task.FromResult<IReadOnlyList<SourceResourceDeletion>>([]);
}

/// <summary>Something a source creates in its database, listed by <c>datamesh plan</c>.</summary>
/// <param name="Kind">What it is (<c>replication slot</c>).</param>
/// <param name="Name">Its name.</param>
/// <param name="Note">When it is created and what deleting the source does to it.</param>
public sealed record SourceResource(string Kind, string Name, string Note);

/// <summary>What <see cref="ISourceType.DeleteResourcesAsync"/> did with one resource.</summary>
/// <param name="Kind">What it is (<c>replication slot</c>).</param>
/// <param name="Name">Its name.</param>
/// <param name="Deleted">Whether it was deleted (false: kept or not found).</param>
/// <param name="Note">What happened, or why it was kept and how to delete it.</param>
public sealed record SourceResourceDeletion(string Kind, string Name, bool Deleted, string Note);
