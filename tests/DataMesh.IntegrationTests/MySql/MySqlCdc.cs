using Confluent.Kafka;
using DataMesh.Events;
using DataMesh.Hosting;
using DataMesh.IntegrationTests.Infrastructure;
using DataMesh.Connectors.MySql;
using DataMesh.Schemas;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using MySqlConnector;

namespace DataMesh.IntegrationTests.MySql;

/// <summary>
/// A MySQL source on its own throwaway MariaDB database, run by a host with the embedded Kafka cluster (kept across
/// host restarts), and a reader that decodes its topics independently of the connector.
/// </summary>
internal sealed class MySqlCdc : IAsyncDisposable
{
    private readonly MariaDbServer _server;
    private readonly TemporaryMariaDbDatabase _database;
    private IHost? _host;

    private MySqlCdc(MariaDbServer server, TemporaryMariaDbDatabase database)
    {
        _server = server;
        _database = database;
        SourceName = UniqueName.Create("my").Replace("_", "-", StringComparison.Ordinal);
        Kafka = new KafkaConnection(new KafkaOptions { RequestTimeout = TimeSpan.FromSeconds(20) });
    }

    public string SourceName { get; }

    public string Database => _database.Name;

    public KafkaConnection Kafka { get; }

    public ISchemaStore Store => _host!.Services.GetRequiredService<ISchemaStore>();

    public IHost Host => _host!;

    /// <summary>What the hosts this instance started logged (Information and above).</summary>
    public LogCollector Logs { get; } = new();

    /// <summary>The source's snapshots.</summary>
    public DataMesh.Sources.ISnapshotControl Snapshots => _host!.Services.GetRequiredService<DataMesh.Sources.SourceMonitor>().Snapshots(SourceName)!;

    public static async Task<MySqlCdc> CreateAsync(MariaDbServer server, string setupSql)
    {
        var database = await server.CreateDatabaseAsync("mycdc");
        var cdc = new MySqlCdc(server, database);
        if (setupSql.Length > 0)
        {
            await cdc.ExecuteAsync(setupSql);
        }

        return cdc;
    }

    public string Topic(string table) => TopicNames.ForTable("dm", SourceName, Database, table);

    /// <summary>Builds and starts the host running the source; <paramref name="configure"/> changes the source's options.</summary>
    /// <param name="configure">Changes the options.</param>
    /// <param name="waitForSnapshot">Whether to wait until the source stored its first position and its initial snapshot
    /// (of the tables as they were at start) is done, so that what the test writes next is the log's.</param>
    /// <param name="logs">Also receives every log line, at every level.</param>
    public async Task StartAsync(Action<MySqlSourceOptions>? configure = null, bool waitForSnapshot = true, ILoggerProvider? logs = null)
    {
        var builder = Microsoft.Extensions.Hosting.Host.CreateApplicationBuilder();
        builder.Logging.ClearProviders();
        builder.Logging.AddSimpleConsole(o => o.TimestampFormat = "HH:mm:ss.fff ").SetMinimumLevel(LogLevel.Information);
        builder.Logging.AddProvider(Logs);
        builder.Logging.AddFilter<LogCollector>(null, LogLevel.Debug); // the secret check reads every line
        if (logs is not null)
        {
            builder.Logging.AddProvider(logs);
            builder.Logging.SetMinimumLevel(LogLevel.Trace);
            builder.Logging.AddFilter<Microsoft.Extensions.Logging.Console.ConsoleLoggerProvider>(null, LogLevel.Information);
        }

        builder.Services.AddSingleton(Kafka);
        builder.Services.AddDataMesh(o => o.Kafka.RequestTimeout = TimeSpan.FromSeconds(20))
            .AddMySqlSource(SourceName, o =>
            {
                Configure(o);
                configure?.Invoke(o);
            });
        _host = builder.Build();
        await _host.StartAsync();
        if (waitForSnapshot)
        {
            await WaitForSnapshotAsync();
        }
    }

    /// <summary>Waits until the source stored a position (a first start stores its position before it streams; the
    /// initial snapshot is requested before that), then until no snapshot is left to read.</summary>
    public async Task WaitForSnapshotAsync(TimeSpan? timeout = null)
    {
        var deadline = DateTime.UtcNow + (timeout ?? TimeSpan.FromSeconds(60));
        await WaitForSavedPositionAsync(timeout: timeout);
        // Null until the source's run registers its snapshots, which on a restart can come after the stored position is read
        // (flaky in a clean run: a NullReferenceException here).
        var monitor = _host!.Services.GetRequiredService<DataMesh.Sources.SourceMonitor>();
        DataMesh.Sources.ISnapshotControl? snapshots;
        while ((snapshots = monitor.Snapshots(SourceName)) is not { IsIdle: true })
        {
            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"The snapshot of source '{SourceName}' did not end: {(snapshots is null ? "no snapshot control yet" : string.Join(", ", snapshots.Progress))}.");
            }

            await Task.Delay(50);
        }
    }

    /// <summary>For a failing assertion's message: the running source's status and the last lines its host logged.</summary>
    public string Diagnose(int lines = 30)
    {
        var status = _host?.Services.GetRequiredService<DataMesh.Sources.SourceMonitor>().Get(SourceName)?.ToString() ?? "host not running";
        return Logs.Diagnose(status, lines);
    }

    /// <summary>A connection to the test's database.</summary>
    public Task<MySqlConnection> OpenConnectionAsync() => _database.OpenConnectionAsync();

    /// <summary>Runs the source's connector without a host, so that the test sees the error that stops it and what it logs.</summary>
    /// <param name="logger">Receives what the connector logs.</param>
    /// <param name="cancellationToken">Stops the run.</param>
    /// <param name="configure">Changes the options.</param>
    public async Task RunConnectorAsync(ILogger logger, CancellationToken cancellationToken, Action<MySqlSourceOptions>? configure = null)
    {
        var services = new ServiceCollection();
        services.AddLogging();
        services.AddSingleton(Kafka);
        services.AddDataMesh(o => o.Kafka.RequestTimeout = TimeSpan.FromSeconds(20));
        await using var provider = services.BuildServiceProvider();
        var options = new MySqlSourceOptions();
        Configure(options);
        configure?.Invoke(options);
        await using var connector = new MySqlBinlogConnector(SourceName, options, Kafka, logger);
        var runtime = new DataMesh.Sources.SourceRuntime<MySqlPosition>(SourceName, connector, options, new ChangeEventOptions(), Kafka,
            provider.GetRequiredService<ISchemaStore>(), provider.GetRequiredService<DataMesh.Sources.PositionStore>(), null, logger);
        if (await runtime.RunAsync(cancellationToken) == DataMesh.Sources.SourceOutcome.Failed)
        {
            System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(runtime.FatalError!);
        }

        cancellationToken.ThrowIfCancellationRequested();
    }

    /// <summary>
    /// Runs a connector with <paramref name="options"/> (not the test's: another user, TLS...) on the real runtime until it
    /// fails or retries, without a host, logging to <paramref name="logger"/>; returns the status then.
    /// </summary>
    public async Task<DataMesh.Sources.SourceStatus> RunUntilStoppedAsync(MySqlSourceOptions options, ILogger logger)
    {
        var services = new ServiceCollection().AddLogging();
        services.AddSingleton(Kafka);
        services.AddDataMesh();
        await using var provider = services.BuildServiceProvider();
        await using var connector = new MySqlBinlogConnector(SourceName, options, Kafka, logger);
        return await SourceRunner.RunUntilStoppedOrRetryingAsync(SourceName, connector, options, provider, logger: logger);
    }

    public async Task StopAsync()
    {
        if (_host is { } host)
        {
            _host = null;
            await host.StopAsync();
            host.Dispose();
        }
    }

    /// <summary>Waits until the source saved a position (it is streaming and caught up with what it read).</summary>
    public async Task<string> WaitForSavedPositionAsync(Func<string, bool>? accept = null, TimeSpan? timeout = null)
    {
        using var positions = new DataMesh.Sources.PositionStore(Kafka);
        var deadline = DateTime.UtcNow + (timeout ?? TimeSpan.FromSeconds(60));
        while (true)
        {
            var stored = await positions.LoadAsync(SourceName, CancellationToken.None);
            if (stored is not null && (accept is null || accept(stored)))
            {
                return stored;
            }

            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"source {SourceName} saved no {(accept is null ? string.Empty : "matching ")}position; last: {stored ?? "none"}");
            }

            await Task.Delay(200);
        }
    }

    public async Task ExecuteAsync(string sql)
    {
        await using var connection = await _database.OpenConnectionAsync();
        await using var command = new MySqlCommand(sql, connection);
        await command.ExecuteNonQueryAsync();
    }

    /// <summary>Reads a topic from its start until <paramref name="count"/> records (tombstones included) arrived.</summary>
    public async Task<List<CdcRecord>> ReadAsync(string topic, int count, TimeSpan? timeout = null)
    {
        var store = Store;
        var deadline = DateTime.UtcNow + (timeout ?? TimeSpan.FromSeconds(60));
        var raw = await Task.Run(() =>
        {
            var messages = new List<ConsumeResult<byte[]?, byte[]?>>();
            using var consumer = new ConsumerBuilder<byte[]?, byte[]?>(Kafka.CreateConsumerConfig(groupId: null)).Build();
            consumer.Assign(new TopicPartitionOffset(topic, 0, Offset.Beginning));
            while (messages.Count < count && DateTime.UtcNow < deadline)
            {
                var result = consumer.Consume(TimeSpan.FromMilliseconds(200));
                if (result is not null && !result.IsPartitionEOF)
                {
                    messages.Add(result);
                }
            }

            return messages;
        });

        var records = new List<CdcRecord>();
        foreach (var message in raw)
        {
            records.Add(new CdcRecord(await CdcRecord.DecodeAsync(store, message.Message.Key), await CdcRecord.DecodeAsync(store, message.Message.Value), message.Offset.Value, message.Partition.Value));
        }

        return records;
    }

    public async ValueTask DisposeAsync()
    {
        await StopAsync();
        Kafka.Dispose();
        await _database.DisposeAsync();
        Logs.AssertNoSecret();
    }

    private void Configure(MySqlSourceOptions o)
    {
        o.ConnectionString = _server.ConnectionString;
        o.IncludeTables.Add(Database + ".*");
        o.HeartbeatInterval = TimeSpan.FromSeconds(1);
        o.PositionSaveInterval = TimeSpan.FromMilliseconds(100);
        o.RetryDelay = TimeSpan.FromMilliseconds(100);
        o.MaxRetryDelay = TimeSpan.FromSeconds(1);
    }
}
