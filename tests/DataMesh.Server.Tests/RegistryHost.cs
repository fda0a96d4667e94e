using DataMesh.Kafka;
using DataMesh.Schemas;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace DataMesh.Server.Tests;

/// <summary>
/// The Schema Registry API on Kestrel at 127.0.0.1 (a free port), over a <see cref="KafkaSchemaStore"/> on its own
/// embedded Kafka cluster and schema topic: what a user's host gets from <c>AddDataMeshServer()</c> and <c>MapDataMesh()</c>.
/// </summary>
internal sealed class RegistryHost : IAsyncDisposable
{
    private readonly WebApplication _app;

    private RegistryHost(WebApplication app, EmbeddedKafkaCluster cluster, KafkaSchemaStore store, string url, LogRecorder logs)
    {
        _app = app;
        Cluster = cluster;
        Store = store;
        Url = url;
        Logs = logs;
    }

    public EmbeddedKafkaCluster Cluster { get; }

    public KafkaSchemaStore Store { get; }

    /// <summary>The API's base URL, e.g. <c>http://127.0.0.1:41234</c> (with the path prefix, if any).</summary>
    public string Url { get; }

    public LogRecorder Logs { get; }

    public static async Task<RegistryHost> StartAsync(Action<DataMeshServerOptions>? configure = null)
    {
        var cluster = EmbeddedKafkaCluster.Start();
        KafkaSchemaStore? store = null;
        try
        {
            store = await KafkaSchemaStore.CreateAsync(new KafkaSchemaStoreOptions { EmbeddedCluster = cluster, Topic = "_schemas-" + Guid.NewGuid().ToString("N") });
            var logs = new LogRecorder();
            var app = Build(store, configure, logs);
            await app.StartAsync();
            var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.Single();
            var options = app.Services.GetRequiredService<Microsoft.Extensions.Options.IOptions<DataMeshServerOptions>>().Value;
            return new RegistryHost(app, cluster, store, address + options.SchemaRegistry.PathPrefix, logs);
        }
        catch
        {
            if (store is not null)
            {
                await store.DisposeAsync();
            }

            cluster.Dispose();
            throw;
        }
    }

    /// <summary>A host over <paramref name="store"/>, not started.</summary>
    public static WebApplication Build(ISchemaStore store, Action<DataMeshServerOptions>? configure, LogRecorder? logs = null)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseKestrel().UseUrls("http://127.0.0.1:0");
        builder.Logging.ClearProviders();
        if (logs is not null)
        {
            builder.Logging.AddProvider(logs);
        }

        builder.Services.AddSingleton(store);
        builder.Services.AddDataMeshServer(configure);
        var app = builder.Build();
        app.MapDataMesh();
        return app;
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
        await Store.DisposeAsync();
        Cluster.Dispose();
    }
}

/// <summary>Keeps every log line, to check what the server says and that it never logs a schema.</summary>
internal sealed class LogRecorder : ILoggerProvider
{
    private readonly System.Collections.Concurrent.ConcurrentQueue<(string Category, LogLevel Level, EventId Id, string Message)> _lines = new();

    public IReadOnlyCollection<(string Category, LogLevel Level, EventId Id, string Message)> Lines => _lines;

    public ILogger CreateLogger(string categoryName) => new Logger(this, categoryName);

    public void Dispose()
    {
    }

    private sealed class Logger(LogRecorder owner, string category) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => logLevel >= LogLevel.Debug;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
            owner._lines.Enqueue((category, logLevel, eventId, formatter(state, exception)));
    }
}
