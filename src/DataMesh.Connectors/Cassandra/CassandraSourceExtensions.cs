using DataMesh.Connectors.Cassandra;
using DataMesh.Hosting;
using DataMesh.Sources;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace DataMesh;

/// <summary>Adds Cassandra sources to DataMesh.</summary>
public static class CassandraSourceExtensions
{
    /// <summary>
    /// Adds a Cassandra source that follows one node's <c>cdc_raw</c> directory and produces the changes of the tables
    /// declared in <see cref="CassandraSourceOptions.Tables"/> to their topics, on the source runtime, as a hosted service.
    /// Run one beside each node (each with its own name). Its options are checked when the host starts. See
    /// <c>docs/cassandra.md</c> for what the events hold: a commit log has no old row, so <c>before</c> is always null.
    /// </summary>
    /// <param name="builder">The DataMesh builder from <c>services.AddDataMesh(...)</c>.</param>
    /// <param name="name">The source's logical name: the second part of its topics, and its position's key. Unique among
    /// all sources of the host.</param>
    /// <param name="configure">Sets the options.</param>
    /// <returns>The builder.</returns>
    public static DataMeshBuilder AddCassandraSource(this DataMeshBuilder builder, string name, Action<CassandraSourceOptions> configure)
    {
        ArgumentNullException.ThrowIfNull(configure);
        return builder.AddCassandraSource(name, o => o.Configure(configure));
    }

    /// <summary>Adds a Cassandra source with options bound from a configuration section (e.g. <c>DataMesh:Sources:node1</c>).</summary>
    /// <param name="builder">The DataMesh builder.</param>
    /// <param name="name">The source's logical name.</param>
    /// <param name="configuration">The section holding <see cref="CassandraSourceOptions"/>.</param>
    /// <returns>The builder.</returns>
    public static DataMeshBuilder AddCassandraSource(this DataMeshBuilder builder, string name, IConfiguration configuration) =>
        builder.AddCassandraSource(name, SourceRegistration.Bind<CassandraSourceOptions>(configuration));

    private static DataMeshBuilder AddCassandraSource(this DataMeshBuilder builder, string name, Action<Microsoft.Extensions.Options.OptionsBuilder<CassandraSourceOptions>> configure)
    {
        builder.AddSource<CassandraSourceOptions, CassandraPosition>(name, configure, Create);
        return builder;
    }

    /// <summary>Creates the connector of a source (shared by <c>Add*Source</c> and the definition runner's source type).</summary>
    internal static SourceConnector<CassandraPosition> Create(IServiceProvider services, string sourceName, CassandraSourceOptions options) =>
        new CassandraConnector(sourceName, options, (services.GetService<ILoggerFactory>() ?? NullLoggerFactory.Instance).CreateLogger("DataMesh.Connectors.Cassandra." + sourceName));
}
