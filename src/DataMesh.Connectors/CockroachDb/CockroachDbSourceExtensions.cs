using DataMesh.Connectors.CockroachDb;
using DataMesh.Hosting;
using DataMesh.Sources;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace DataMesh;

/// <summary>Adds CockroachDB sources to DataMesh.</summary>
public static class CockroachDbSourceExtensions
{
    /// <summary>
    /// Adds a CockroachDB source that streams the changes of the selected tables (a sinkless changefeed over pgwire) to
    /// their topics, on the source runtime, as a hosted service. Its options are checked when the host starts. See
    /// <c>docs/cockroachdb.md</c>.
    /// </summary>
    /// <param name="builder">The DataMesh builder from <c>services.AddDataMesh(...)</c>.</param>
    /// <param name="name">The source's logical name: the second part of its topics, and its position's key. Unique among
    /// all sources of the host.</param>
    /// <param name="configure">Sets the options.</param>
    /// <returns>The builder.</returns>
    public static DataMeshBuilder AddCockroachDbSource(this DataMeshBuilder builder, string name, Action<CockroachDbSourceOptions> configure)
    {
        ArgumentNullException.ThrowIfNull(configure);
        return builder.AddCockroachDbSource(name, o => o.Configure(configure));
    }

    /// <summary>Adds a CockroachDB source with options bound from a configuration section (e.g. <c>DataMesh:Sources:ledger</c>).</summary>
    /// <param name="builder">The DataMesh builder.</param>
    /// <param name="name">The source's logical name.</param>
    /// <param name="configuration">The section holding <see cref="CockroachDbSourceOptions"/>.</param>
    /// <returns>The builder.</returns>
    public static DataMeshBuilder AddCockroachDbSource(this DataMeshBuilder builder, string name, IConfiguration configuration) =>
        builder.AddCockroachDbSource(name, SourceRegistration.Bind<CockroachDbSourceOptions>(configuration));

    private static DataMeshBuilder AddCockroachDbSource(this DataMeshBuilder builder, string name, Action<Microsoft.Extensions.Options.OptionsBuilder<CockroachDbSourceOptions>> configure)
    {
        builder.AddSource<CockroachDbSourceOptions, CockroachDbPosition>(name, configure, Create);
        return builder;
    }

    /// <summary>Creates the connector of a source (shared by <c>Add*Source</c> and the definition runner's source type).</summary>
    internal static SourceConnector<CockroachDbPosition> Create(IServiceProvider services, string sourceName, CockroachDbSourceOptions options) =>
        new CockroachDbConnector(sourceName, options, (services.GetService<ILoggerFactory>() ?? NullLoggerFactory.Instance).CreateLogger("DataMesh.Connectors.CockroachDb." + sourceName));
}
