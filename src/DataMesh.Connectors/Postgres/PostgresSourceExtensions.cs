using DataMesh.Connectors.Postgres;
using DataMesh.Hosting;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;

namespace DataMesh;

/// <summary>Adds PostgreSQL sources to DataMesh.</summary>
public static class PostgresSourceExtensions
{
    /// <summary>
    /// Adds a PostgreSQL source that streams the changes of the selected tables (logical replication with pgoutput) to
    /// their topics, as a hosted service. Its options are checked when the host starts.
    /// </summary>
    /// <param name="builder">The DataMesh builder from <c>services.AddDataMesh(...)</c>.</param>
    /// <param name="name">The source's logical name: the second part of its topics, and its position's key. Unique per source.</param>
    /// <param name="configure">Sets the options.</param>
    /// <returns>The builder.</returns>
    public static DataMeshBuilder AddPostgresSource(this DataMeshBuilder builder, string name, Action<PostgresSourceOptions> configure)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        ArgumentNullException.ThrowIfNull(configure);
        Register(builder, name).Configure(configure);
        return builder;
    }

    /// <summary>Adds a PostgreSQL source with options bound from a configuration section (e.g. <c>DataMesh:Sources:shop</c>).</summary>
    /// <param name="builder">The DataMesh builder.</param>
    /// <param name="name">The source's logical name.</param>
    /// <param name="configuration">The section holding <see cref="PostgresSourceOptions"/>.</param>
    /// <returns>The builder.</returns>
    public static DataMeshBuilder AddPostgresSource(this DataMeshBuilder builder, string name, IConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        ArgumentNullException.ThrowIfNull(configuration);
        Register(builder, name).Bind(configuration);
        return builder;
    }

    private static OptionsBuilder<PostgresSourceOptions> Register(DataMeshBuilder builder, string name)
    {
        if (builder.Services.Any(d => d.ServiceType == typeof(PostgresSourceName) && Equals(d.ImplementationInstance, new PostgresSourceName(name))))
        {
            throw new ArgumentException($"A PostgreSQL source named '{name}' is already added; each source needs a name of its own (its topics and position are keyed by it).", nameof(name));
        }

        builder.Services.AddSingleton(new PostgresSourceName(name));
        var options = builder.Services.AddOptions<PostgresSourceOptions>(name);
        options.ValidateOnStart();
        builder.Services.AddSingleton<IValidateOptions<PostgresSourceOptions>>(new PostgresSourceOptionsValidator(name));
        builder.Services.AddSingleton<IHostedService>(sp => ActivatorUtilities.CreateInstance<PostgresSourceService>(sp, name));
        return options;
    }

    private sealed class PostgresSourceOptionsValidator(string name) : IValidateOptions<PostgresSourceOptions>
    {
        public ValidateOptionsResult Validate(string? optionsName, PostgresSourceOptions options)
        {
            if (optionsName != name)
            {
                return ValidateOptionsResult.Skip;
            }

            var failures = options.Validate(name).ToList();
            return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
        }
    }
}

/// <summary>Marks a registered source name, so that a name cannot be added twice.</summary>
internal sealed record PostgresSourceName(string Name);
