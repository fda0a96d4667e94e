using DataMesh.Connectors.MySql;
using DataMesh.Hosting;
using DataMesh.Sources;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

namespace DataMesh;

/// <summary>Adds MySQL/MariaDB binlog sources to DataMesh.</summary>
public static class MySqlSourceExtensions
{
    /// <summary>
    /// Adds a MySQL/MariaDB source that streams the binlog of the server in <see cref="MySqlSourceOptions.ConnectionString"/>
    /// and produces each row change of the captured tables to <c>&lt;prefix&gt;.&lt;name&gt;.&lt;database&gt;.&lt;table&gt;</c>,
    /// on the source runtime, as a hosted service. Its options are checked when the host starts. <c>docs/mysql.md</c>
    /// lists the server settings and grants it needs.
    /// </summary>
    /// <param name="builder">The DataMesh builder from <c>services.AddDataMesh(...)</c>.</param>
    /// <param name="name">The source's logical name: the second part of its topics, and its position's key. Unique among
    /// all sources of the host.</param>
    /// <param name="configure">Sets the options.</param>
    /// <returns>The builder.</returns>
    public static DataMeshBuilder AddMySqlSource(this DataMeshBuilder builder, string name, Action<MySqlSourceOptions> configure)
    {
        ArgumentNullException.ThrowIfNull(configure);
        return builder.AddMySqlSource(name, o => o.Configure(configure));
    }

    /// <summary>Adds a MySQL/MariaDB source with options bound from a configuration section (e.g. <c>DataMesh:Sources:inventory</c>).</summary>
    /// <param name="builder">The DataMesh builder.</param>
    /// <param name="name">The source's logical name.</param>
    /// <param name="configuration">The section holding <see cref="MySqlSourceOptions"/>.</param>
    /// <returns>The builder.</returns>
    public static DataMeshBuilder AddMySqlSource(this DataMeshBuilder builder, string name, IConfiguration configuration) =>
        builder.AddMySqlSource(name, SourceRegistration.Bind<MySqlSourceOptions>(configuration));

    private static DataMeshBuilder AddMySqlSource(this DataMeshBuilder builder, string name, Action<OptionsBuilder<MySqlSourceOptions>> configure)
    {
        builder.AddSource<MySqlSourceOptions, MySqlPosition>(name, configure, Create);
        return builder;
    }

    /// <summary>Creates the connector of a source (shared by <c>Add*Source</c> and the definition runner's source type).</summary>
    internal static SourceConnector<MySqlPosition> Create(IServiceProvider services, string sourceName, MySqlSourceOptions options) =>
        new MySqlBinlogConnector(sourceName, options, services.GetRequiredService<KafkaConnection>(),
            (services.GetService<ILoggerFactory>() ?? NullLoggerFactory.Instance).CreateLogger("DataMesh.Connectors.MySql." + sourceName));
}
