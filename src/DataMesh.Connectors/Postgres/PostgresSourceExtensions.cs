using DataMesh.Connectors.Postgres;
using DataMesh.Hosting;
using DataMesh.Sources;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace DataMesh;

/// <summary>Adds PostgreSQL sources to DataMesh.</summary>
public static class PostgresSourceExtensions
{
    /// <summary>
    /// Adds a PostgreSQL source that streams the changes of the selected tables (logical replication with pgoutput) to
    /// their topics, on the source runtime, as a hosted service. Its options are checked when the host starts.
    /// </summary>
    /// <param name="builder">The DataMesh builder from <c>services.AddDataMesh(...)</c>.</param>
    /// <param name="name">The source's logical name: the second part of its topics, and its position's key. Unique among
    /// all sources of the host.</param>
    /// <param name="configure">Sets the options.</param>
    /// <returns>The builder.</returns>
    public static DataMeshBuilder AddPostgresSource(this DataMeshBuilder builder, string name, Action<PostgresSourceOptions> configure)
    {
        ArgumentNullException.ThrowIfNull(configure);
        return builder.AddPostgresSource(name, o => o.Configure(configure));
    }

    /// <summary>Adds a PostgreSQL source with options bound from a configuration section (e.g. <c>DataMesh:Sources:shop</c>).</summary>
    /// <param name="builder">The DataMesh builder.</param>
    /// <param name="name">The source's logical name.</param>
    /// <param name="configuration">The section holding <see cref="PostgresSourceOptions"/>.</param>
    /// <returns>The builder.</returns>
    public static DataMeshBuilder AddPostgresSource(this DataMeshBuilder builder, string name, IConfiguration configuration) =>
        builder.AddPostgresSource(name, SourceRegistration.Bind<PostgresSourceOptions>(configuration));

    private static DataMeshBuilder AddPostgresSource(this DataMeshBuilder builder, string name, Action<Microsoft.Extensions.Options.OptionsBuilder<PostgresSourceOptions>> configure)
    {
        builder.AddSource<PostgresSourceOptions, PostgresPosition>(name, configure, Create);
        return builder;
    }

    /// <summary>Creates the connector of a source (shared by <c>Add*Source</c> and the definition runner's source type).</summary>
    internal static SourceConnector<PostgresPosition> Create(IServiceProvider services, string sourceName, PostgresSourceOptions options) =>
        new PostgresConnector(sourceName, options, (services.GetService<ILoggerFactory>() ?? NullLoggerFactory.Instance).CreateLogger("DataMesh.Connectors.Postgres." + sourceName));
}
