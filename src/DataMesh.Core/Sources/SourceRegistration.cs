using DataMesh.Hosting;
using DataMesh.Schemas;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

namespace DataMesh.Sources;

/// <summary>
/// How a connector package adds a source to a host (its <c>Add*Source</c> extensions call this): named, validated options
/// and a hosted service that runs the connector on the source runtime. Source names are unique across connectors: a
/// name keys the source's position and topics.
/// </summary>
public static class SourceRegistration
{
    /// <summary>Adds a source.</summary>
    /// <typeparam name="TOptions">The connector's options.</typeparam>
    /// <typeparam name="TPosition">The connector's position.</typeparam>
    /// <param name="builder">The DataMesh builder.</param>
    /// <param name="name">The source's name: the second part of its topics and its position's key; a topic name part
    /// (letters, digits, '_' and '-').</param>
    /// <param name="configure">Sets the options (binding, code), or null.</param>
    /// <param name="create">Creates the connector from the services, the name and the validated options.</param>
    /// <returns>The options builder, for further configuration.</returns>
    /// <exception cref="ArgumentException">The name is not valid, or a source of that name was already added.</exception>
    public static OptionsBuilder<TOptions> AddSource<TOptions, TPosition>(this DataMeshBuilder builder, string name, Action<OptionsBuilder<TOptions>>? configure, Func<IServiceProvider, string, TOptions, SourceConnector<TPosition>> create)
        where TOptions : SourceOptions
        where TPosition : class
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentNullException.ThrowIfNull(create);
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        if (!Events.TopicNames.IsValid(name, out var reason) || name.Contains('.', StringComparison.Ordinal))
        {
            throw new ArgumentException($"Source name '{name}' must be a topic name part (letters, digits, '_' and '-'): {reason ?? "it contains '.'"}.", nameof(name));
        }

        if (builder.Services.Any(d => d.ServiceType == typeof(SourceName) && d.ImplementationInstance is SourceName n && n.Name == name))
        {
            throw new ArgumentException($"A source named '{name}' is already added; each source needs a name of its own (its topics and position are keyed by it).", nameof(name));
        }

        builder.Services.AddSingleton(new SourceName(name));
        var options = builder.Services.AddOptions<TOptions>(name);
        configure?.Invoke(options);
        options.ValidateOnStart();
        builder.Services.AddSingleton<IValidateOptions<TOptions>>(new Validator<TOptions>(name));
        builder.Services.AddSingleton<IHostedService>(sp => new SourceService<TOptions, TPosition>(sp, name, create));
        return options;
    }

    /// <summary>Binds options from a configuration section. A key the options do not have (a misspelt
    /// <c>IncludeTable</c>) fails the host's start with an error naming it, rather than being ignored.</summary>
    /// <typeparam name="TOptions">The options.</typeparam>
    /// <param name="configuration">The section.</param>
    /// <returns>A configure action for <see cref="AddSource{TOptions, TPosition}"/>.</returns>
    public static Action<OptionsBuilder<TOptions>> Bind<TOptions>(IConfiguration configuration)
        where TOptions : class
    {
        ArgumentNullException.ThrowIfNull(configuration);
        return o => o.Bind(configuration, binder => binder.ErrorOnUnknownConfiguration = true);
    }

    private sealed record SourceName(string Name);

    private sealed class Validator<TOptions>(string name) : IValidateOptions<TOptions>
        where TOptions : SourceOptions
    {
        public ValidateOptionsResult Validate(string? optionsName, TOptions options)
        {
            if (optionsName != name)
            {
                return ValidateOptionsResult.Skip;
            }

            var failures = options.Validate(name).ToList();
            return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
        }
    }

    /// <summary>
    /// Runs a source on the source runtime until <paramref name="cancellationToken"/> is cancelled or the source fails:
    /// what the hosted service of <see cref="AddSource{TOptions, TPosition}"/> does, for a host that starts and stops sources
    /// itself (the definition runner). Never lets an exception escape; the connector is disposed at the end.
    /// </summary>
    /// <typeparam name="TOptions">The connector's options.</typeparam>
    /// <typeparam name="TPosition">The connector's position.</typeparam>
    /// <param name="services">The host's services (a DataMesh host: Kafka connection, schema store, position store).</param>
    /// <param name="name">The source's name.</param>
    /// <param name="options">Its validated options.</param>
    /// <param name="create">Creates the connector.</param>
    /// <param name="cancellationToken">Stops the source.</param>
    /// <returns>True when the source stopped because it was asked to; false when it failed (the error is logged and in
    /// <see cref="SourceMonitor"/>'s status).</returns>
    public static async Task<bool> RunAsync<TOptions, TPosition>(IServiceProvider services, string name, TOptions options, Func<IServiceProvider, string, TOptions, SourceConnector<TPosition>> create, CancellationToken cancellationToken)
        where TOptions : SourceOptions
        where TPosition : class
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(create);
        var loggers = services.GetService<ILoggerFactory>() ?? NullLoggerFactory.Instance;
        var dataMesh = services.GetRequiredService<IOptions<DataMeshOptions>>().Value;
        SourceOutcome outcome;
        SourceConnector<TPosition>? connector = null;
        var logger = loggers.CreateLogger("DataMesh.Sources." + name);
        try
        {
            connector = create(services, name, options);
            var runtime = new SourceRuntime<TPosition>(name, connector, options, dataMesh.Events, services.GetRequiredService<KafkaConnection>(),
                services.GetRequiredService<ISchemaStore>(), services.GetRequiredService<PositionStore>(), services.GetService<SourceMonitor>(), logger);
            outcome = await runtime.RunAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (!cancellationToken.IsCancellationRequested)
        {
            SourceLog.Fatal(logger, ex, name, ex.Message, "could not be started");
            outcome = SourceOutcome.Failed;
        }
        catch (Exception)
        {
            outcome = SourceOutcome.Stopped;
        }
        finally
        {
            if (connector is not null)
            {
                try
                {
                    await connector.DisposeAsync().ConfigureAwait(false);
                }
                catch (Exception ex)
                {
                    // Closing connections after the run: nothing to save any more; never a reason to end the host.
                    SourceLog.DisposeFailed(logger, ex, name);
                }
            }
        }

        return outcome != SourceOutcome.Failed;
    }

    /// <summary>Runs one source; never lets an exception escape. A fatal error under <see cref="FatalErrorPolicy.StopHost"/>
    /// sets exit code 1 and stops the host gracefully.</summary>
    private sealed class SourceService<TOptions, TPosition>(IServiceProvider services, string name, Func<IServiceProvider, string, TOptions, SourceConnector<TPosition>> create) : BackgroundService
        where TOptions : SourceOptions
        where TPosition : class
    {
        protected override async Task ExecuteAsync(CancellationToken stoppingToken)
        {
            // Let the host finish starting before the source's first (possibly blocking) Kafka and database calls.
            await Task.Yield();
            var options = services.GetRequiredService<IOptionsMonitor<TOptions>>().Get(name);
            var stopped = await RunAsync(services, name, options, create, stoppingToken).ConfigureAwait(false);
            if (!stopped && options.OnFatalError == FatalErrorPolicy.StopHost)
            {
                Hosting.HostStop.AfterFatalError(services.GetService<IHostApplicationLifetime>());
            }
        }
    }
}
