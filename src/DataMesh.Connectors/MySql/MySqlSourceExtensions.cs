using DataMesh.Connectors.MySql;
using DataMesh.Hosting;
using DataMesh.Schemas;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
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
    /// as a hosted service. Its options are checked when the host starts. <c>docs/mysql.md</c> lists the server
    /// settings and grants it needs.
    /// </summary>
    /// <param name="builder">The DataMesh builder from <c>services.AddDataMesh(...)</c>.</param>
    /// <param name="name">The source's logical name: the second part of its topics, and its position's key. Unique per source.</param>
    /// <param name="configure">Sets the options.</param>
    /// <returns>The builder.</returns>
    public static DataMeshBuilder AddMySqlSource(this DataMeshBuilder builder, string name, Action<MySqlSourceOptions> configure)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        ArgumentNullException.ThrowIfNull(configure);
        Register(builder, name).Configure(configure).PostConfigure(o => o.Name = name);
        return builder;
    }

    /// <summary>Adds a MySQL/MariaDB source with options given whole.</summary>
    /// <param name="builder">The DataMesh builder.</param>
    /// <param name="name">The source's logical name.</param>
    /// <param name="options">The options; their <see cref="MySqlSourceOptions.Name"/> becomes <paramref name="name"/>.</param>
    /// <returns>The builder.</returns>
    public static DataMeshBuilder AddMySqlSource(this DataMeshBuilder builder, string name, MySqlSourceOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        return builder.AddMySqlSource(name, o => Copy(options, o));
    }

    /// <summary>Adds a MySQL/MariaDB source with options bound from a configuration section (e.g. <c>DataMesh:Sources:inventory</c>).</summary>
    /// <param name="builder">The DataMesh builder.</param>
    /// <param name="name">The source's logical name.</param>
    /// <param name="configuration">The section holding <see cref="MySqlSourceOptions"/>.</param>
    /// <returns>The builder.</returns>
    public static DataMeshBuilder AddMySqlSource(this DataMeshBuilder builder, string name, IConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        ArgumentNullException.ThrowIfNull(configuration);
        Register(builder, name).Bind(configuration).PostConfigure(o => o.Name = name);
        return builder;
    }

    private static OptionsBuilder<MySqlSourceOptions> Register(DataMeshBuilder builder, string name)
    {
        var options = builder.Services.AddOptions<MySqlSourceOptions>(name);
        options.ValidateOnStart();
        builder.Services.AddSingleton<IValidateOptions<MySqlSourceOptions>>(new MySqlSourceOptionsValidator(name));
        builder.Services.AddSingleton<IHostedService>(sp => new MySqlSourceService(
            sp.GetRequiredService<IOptionsMonitor<MySqlSourceOptions>>().Get(name),
            sp.GetRequiredService<IOptions<DataMeshOptions>>(),
            sp.GetRequiredService<KafkaConnection>(),
            sp.GetRequiredService<ISchemaStore>(),
            sp.GetService<ILoggerFactory>() ?? NullLoggerFactory.Instance));
        return options;
    }

    private static void Copy(MySqlSourceOptions from, MySqlSourceOptions to)
    {
        to.ConnectionString = from.ConnectionString;
        to.ServerId = from.ServerId;
        to.UseGtid = from.UseGtid;
        to.HeartbeatInterval = from.HeartbeatInterval;
        to.ReconnectDelay = from.ReconnectDelay;
        to.MaxReconnectDelay = from.MaxReconnectDelay;
        to.PositionSaveInterval = from.PositionSaveInterval;
        to.SkipUnparseableDdl = from.SkipUnparseableDdl;
        to.IncludeQuery = from.IncludeQuery;
        to.HistoryTopic = from.HistoryTopic;
        to.TopicPartitions = from.TopicPartitions;
        to.Events = from.Events;
        foreach (var database in from.Databases)
        {
            to.Databases.Add(database);
        }

        foreach (var table in from.Tables)
        {
            to.Tables.Add(table);
        }
    }

    private sealed class MySqlSourceOptionsValidator(string name) : IValidateOptions<MySqlSourceOptions>
    {
        public ValidateOptionsResult Validate(string? optionsName, MySqlSourceOptions options)
        {
            if (optionsName != name)
            {
                return ValidateOptionsResult.Skip;
            }

            try
            {
                options.Name = name;
                options.Validate();
                return ValidateOptionsResult.Success;
            }
            catch (ArgumentException ex)
            {
                return ValidateOptionsResult.Fail(ex.Message);
            }
        }
    }
}
