using DataMesh.Connectors.MySql;
using DataMesh.Connectors.Postgres;

namespace DataMesh;

/// <summary>
/// The source types of this package for definition files (<c>docs/definitions.md</c>): <c>postgres</c>, <c>mysql</c>,
/// <c>mariadb</c>, <c>cockroachdb</c> and <c>cassandra</c>. Each binds a definition's source settings to its connector's
/// options, so that a definition is checked by the same <c>Validate</c> as a source added in code.
/// </summary>
public static class ConnectorSourceTypes
{
    /// <summary>Every source type of the package.</summary>
    public static IReadOnlyList<ISourceType> All { get; } =
    [
        new SourceType("postgres", () => new PostgresSourceOptions()),
        new SourceType("mysql", () => new MySqlSourceOptions()),
        new SourceType("mariadb", () => new MySqlSourceOptions()),
        new SourceType("cockroachdb", () => new CockroachDbSourceOptions()),
        new SourceType("cassandra", () => new CassandraSourceOptions()),
    ];

    private sealed class SourceType(string name, Func<SourceOptions> create) : ISourceType
    {
        public string Name => name;

        public SourceOptions CreateOptions() => create();
    }
}
