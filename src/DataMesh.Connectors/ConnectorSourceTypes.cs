using DataMesh.Connectors.Cassandra;
using DataMesh.Connectors.CockroachDb;
using DataMesh.Connectors.MySql;
using DataMesh.Connectors.Postgres;
using DataMesh.Sources;

namespace DataMesh;

/// <summary>
/// The source types of this package for definition files (<c>docs/definitions.md</c>): <c>postgres</c>, <c>mysql</c>,
/// <c>mariadb</c>, <c>cockroachdb</c> and <c>cassandra</c>. Each binds a definition's source settings to its connector's
/// options, so that a definition is checked by the same <c>Validate</c> as a source added in code, and runs such a
/// source for the definition runner (<c>datamesh run</c>).
/// </summary>
public static class ConnectorSourceTypes
{
    /// <summary>Every source type of the package.</summary>
    public static IReadOnlyList<ISourceType> All { get; } =
    [
        new SourceType<PostgresSourceOptions, PostgresPosition>("postgres", PostgresSourceExtensions.Create, PostgresResources, PostgresResourceDeletion.DeleteAsync),
        new SourceType<MySqlSourceOptions, MySqlPosition>("mysql", MySqlSourceExtensions.Create, null),
        new SourceType<MySqlSourceOptions, MySqlPosition>("mariadb", MySqlSourceExtensions.Create, null),
        new SourceType<CockroachDbSourceOptions, CockroachDbPosition>("cockroachdb", CockroachDbSourceExtensions.Create, null),
        new SourceType<CassandraSourceOptions, CassandraPosition>("cassandra", CassandraSourceExtensions.Create, null),
    ];

    // What the plan says of each must match what delete --with-resources does (PostgresResourceDeletion): it drops only
    // a slot and a publication the source made under its default names; one named in the options, or that the source
    // does not make (create_slot, manage_publication off), may be someone else's and is kept.
    private static IEnumerable<SourceResource> PostgresResources(string name, PostgresSourceOptions options) =>
    [
        new("replication slot", options.Slot(name), !options.CreateSlot
            ? "must exist (create_slot off); kept by delete --with-resources"
            : options.SlotName is null
                ? "created by the source at its first start; dropped by delete --with-resources"
                : "created by the source at its first start; kept by delete --with-resources (slot_name set: it may not be DataMesh's)"),
        new("publication", options.Publication(name), !options.ManagePublication
            ? "must exist (manage_publication off); kept by delete --with-resources"
            : options.PublicationName is null
                ? "created or extended by the source at start; dropped by delete --with-resources"
                : "created or extended by the source at start; kept by delete --with-resources (publication_name set: it may not be DataMesh's)"),
    ];

    private sealed class SourceType<TOptions, TPosition>(
        string name,
        Func<IServiceProvider, string, TOptions, SourceConnector<TPosition>> create,
        Func<string, TOptions, IEnumerable<SourceResource>>? resources,
        Func<string, TOptions, CancellationToken, Task<IReadOnlyList<SourceResourceDeletion>>>? delete = null) : ISourceType
        where TOptions : SourceOptions, new()
        where TPosition : class
    {
        public string Name => name;

        public SourceOptions CreateOptions() => new TOptions();

        public IReadOnlyList<SourceResource> Resources(string sourceName, SourceOptions options) =>
            resources is null ? [] : [.. resources(sourceName, (TOptions)options)];

        public Task<bool> RunAsync(IServiceProvider services, string sourceName, SourceOptions options, CancellationToken cancellationToken) =>
            SourceRegistration.RunAsync(services, sourceName, (TOptions)options, create, cancellationToken);

        public Task<IReadOnlyList<SourceResourceDeletion>> DeleteResourcesAsync(string sourceName, SourceOptions options, CancellationToken cancellationToken) =>
            delete is null ? Task.FromResult<IReadOnlyList<SourceResourceDeletion>>([]) : delete(sourceName, (TOptions)options, cancellationToken);
    }
}
