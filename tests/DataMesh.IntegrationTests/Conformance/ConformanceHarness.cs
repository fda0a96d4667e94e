using System.Collections.Concurrent;
using Confluent.Kafka;
using DataMesh.Hosting;
using DataMesh.IntegrationTests.Infrastructure;
using DataMesh.Kafka;
using DataMesh.Schemas;
using DataMesh.Sources;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace DataMesh.IntegrationTests.Conformance;

/// <summary>
/// One conformance test's world: an embedded Kafka cluster of its own (kept across source restarts), one source name,
/// the source run in-process (a host on that cluster) or out of process (<see cref="ConnectorProcess"/>), and readers that
/// decode the topics independently of the connector. Table topics are created here, before the source writes to
/// them, with the partitions asked for: another process cannot create topics on the embedded cluster, and a reader
/// that asked first would have the cluster create one with its default partition count.
/// </summary>
internal sealed class ConformanceHarness : IAsyncDisposable
{
    private readonly ConformanceDriver _driver;
    private readonly Dictionary<string, int> _partitions = new(StringComparer.Ordinal);
    private readonly List<IHost> _hosts = [];
    private readonly ConcurrentQueue<string> _log = new();
    private readonly List<ConnectorProcess> _processes = [];
    private KafkaSchemaStore? _store;

    public ConformanceHarness(ConformanceDriver driver)
    {
        _driver = driver;
        Kafka = new KafkaConnection(new KafkaOptions { RequestTimeout = TimeSpan.FromSeconds(20) });
        foreach (var topic in driver.ServiceTopics)
        {
            Cluster.EnsureTopic(topic, 1);
        }
    }

    /// <summary>The source's name, the same across restarts; GUID-suffixed.</summary>
    public string Source { get; } = UniqueName.Create("src");

    /// <summary>The embedded cluster, as a connection the in-process hosts share.</summary>
    public KafkaConnection Kafka { get; }

    public EmbeddedKafkaCluster Cluster => Kafka.EmbeddedCluster!;

    /// <summary>The last log lines of the in-process hosts (DataMesh's from information up, others' warnings and errors) and
    /// of the connector processes, for failure messages.</summary>
    public string SourceLog
    {
        get
        {
            lock (_processes)
            {
                return string.Join('\n', [.. _log.TakeLast(80), .. _processes.TakeLast(3).Select(p => p.RecentLines)]);
            }
        }
    }

    public string Topic(string table) => _driver.Topic(Source, table);

    /// <summary>Creates a table in the database and, when captured, its topic with <paramref name="partitions"/> partitions.</summary>
    public async Task CreateTableAsync(string table, IReadOnlyList<Column> columns, bool captured = true, int partitions = 1)
    {
        await _driver.CreateTableAsync(table, columns, captured);
        if (captured)
        {
            Cluster.EnsureTopic(Topic(table), partitions);
            _partitions[table] = partitions;
        }
    }

    /// <summary>Starts the source in this process, on this test's cluster.</summary>
    public async Task<InProcessSource> StartInProcessAsync(SourceRequest request)
    {
        var builder = Host.CreateApplicationBuilder();
        builder.Logging.ClearProviders();
        builder.Logging.AddProvider(new QueueLoggerProvider(_log)).SetMinimumLevel(LogLevel.Information);
        builder.Services.AddSingleton(Kafka);
        ConnectorHostSources.Add(builder.Services.AddDataMesh(), _driver.Kind, request.Name, _driver.Settings(request));
        var host = builder.Build();
        _hosts.Add(host);
        Mark($"starting in-process host {_hosts.Count} of source {request.Name}");
        await host.StartAsync();
        return new InProcessSource(host, Mark);
    }

    /// <summary>Notes a step of the test in the source log (a failure then shows when each host started and stopped).</summary>
    private void Mark(string step)
    {
        var line = string.Create(System.Globalization.CultureInfo.InvariantCulture, $"{DateTime.UtcNow:HH:mm:ss.fff} harness: {step}");
        _log.Enqueue(line);
        SuiteLog.Write(line);
    }

    /// <summary>Starts the source in a process of its own (tests/tools/DataMesh.ConnectorHost), on this test's cluster.</summary>
    public ConnectorProcess StartProcess(SourceRequest request, TimeSpan? reportMemoryEvery = null)
    {
        var process = ConnectorProcess.StartSource(_driver.Kind, Kafka.BootstrapServers, request.Name, _driver.Settings(request), reportMemoryEvery);
        lock (_processes)
        {
            _processes.Add(process);
        }

        return process;
    }

    /// <summary>A reader of every partition of a table's topic, from the start.</summary>
    public async Task<TopicTail> TailAsync(string table)
    {
        _store ??= await KafkaSchemaStore.CreateAsync(new KafkaSchemaStoreOptions { EmbeddedCluster = Cluster, CreateTopic = false });
        return new TopicTail(Kafka, _store, Topic(table), _partitions.GetValueOrDefault(table, 1));
    }

    /// <summary>
    /// Reads a table's topic until <paramref name="done"/> holds for what arrived, or <paramref name="timeout"/> passed;
    /// returns what arrived either way (the caller's assertions say what is missing).
    /// </summary>
    public async Task<List<CdcRecord>> ReadAsync(string table, Func<IReadOnlyList<CdcRecord>, bool> done, TimeSpan timeout)
    {
        using var tail = await TailAsync(table);
        var records = new List<CdcRecord>();
        var deadline = DateTime.UtcNow + timeout;
        while (!done(records) && DateTime.UtcNow < deadline)
        {
            records.AddRange(await tail.PollAsync(TimeSpan.FromMilliseconds(200)));
        }

        return records;
    }

    /// <summary>Records in a table's topic now (the sum of its partitions' high watermarks).</summary>
    public long Count(string table)
    {
        using var consumer = new ConsumerBuilder<byte[]?, byte[]?>(Kafka.CreateConsumerConfig(null)).Build();
        return Enumerable.Range(0, _partitions.GetValueOrDefault(table, 1))
            .Sum(p => consumer.QueryWatermarkOffsets(new TopicPartition(Topic(table), p), TimeSpan.FromSeconds(10)).High.Value);
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var host in _hosts)
        {
            try
            {
                await host.StopAsync(TimeSpan.FromSeconds(30));
            }
            catch (Exception)
            {
                // A source that failed left a stopped host.
            }

            host.Dispose();
        }

        if (_store is not null)
        {
            await _store.DisposeAsync();
        }

        Kafka.Dispose();
    }

    private sealed class QueueLoggerProvider(ConcurrentQueue<string> log) : ILoggerProvider
    {
        public ILogger CreateLogger(string categoryName) => new QueueLogger(log, categoryName);

        public void Dispose()
        {
        }
    }

    private sealed class QueueLogger(ConcurrentQueue<string> log, string category) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        // DataMesh's own information lines too (starts, resumes, registrations): a failure message then shows how far
        // each run got, not only that it went quiet.
        public bool IsEnabled(LogLevel logLevel) => logLevel >= (category.StartsWith("DataMesh", StringComparison.Ordinal) ? LogLevel.Information : LogLevel.Warning);

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            var time = DateTime.UtcNow.ToString("HH:mm:ss.fff", System.Globalization.CultureInfo.InvariantCulture);
            log.Enqueue($"{time} {logLevel} {category}: {formatter(state, exception)}{(exception is null ? string.Empty : " " + exception.GetType().Name + ": " + exception.Message)}");
            SuiteLog.Write($"{time} {logLevel} {category}: {formatter(state, exception)}{(exception is null ? string.Empty : " " + exception)}");
            while (log.Count > 400)
            {
                log.TryDequeue(out _);
            }
        }
    }
}

/// <summary>A source running in a host of the test's process.</summary>
internal sealed class InProcessSource(IHost host, Action<string> mark)
{
    /// <summary>Whether the host is stopping although the test did not stop it: the source failed.</summary>
    public bool Failed => !Stopped && host.Services.GetRequiredService<IHostApplicationLifetime>().ApplicationStopping.IsCancellationRequested;

    public bool Stopped { get; private set; }

    /// <summary>The source's status as its host reports it (state, produced, in flight, stored position).</summary>
    public SourceStatus? Status(string name) => host.Services.GetService<SourceMonitor>()?.Get(name);

    /// <summary>Stops the source gracefully, as a host's shutdown does.</summary>
    public async Task StopAsync()
    {
        Stopped = true;
        mark("stopping an in-process host");
        await host.StopAsync(TimeSpan.FromSeconds(30));
        mark("in-process host stopped");
    }
}

/// <summary>Reads every partition of a topic from its start and decodes what arrives.</summary>
internal sealed class TopicTail : IDisposable
{
    private readonly IConsumer<byte[]?, byte[]?> _consumer;
    private readonly ISchemaStore _store;

    public TopicTail(KafkaConnection kafka, ISchemaStore store, string topic, int partitions)
    {
        _store = store;
        var config = kafka.CreateConsumerConfig(null);
        config.AutoOffsetReset = AutoOffsetReset.Error; // a record the embedded cluster dropped fails the read instead of hiding
        _consumer = new ConsumerBuilder<byte[]?, byte[]?>(config).Build();
        _consumer.Assign(Enumerable.Range(0, partitions).Select(p => new TopicPartitionOffset(topic, p, Offset.Beginning)));
    }

    /// <summary>The records that arrive until none came for <paramref name="idle"/>, decoded, in arrival order.</summary>
    public async Task<List<CdcRecord>> PollAsync(TimeSpan idle)
    {
        var raw = await Task.Run(() =>
        {
            var messages = new List<ConsumeResult<byte[]?, byte[]?>>();
            while (_consumer.Consume(idle) is { } result)
            {
                messages.Add(result);
                if (messages.Count >= 10_000)
                {
                    break;
                }
            }

            return messages;
        });
        var records = new List<CdcRecord>(raw.Count);
        foreach (var message in raw)
        {
            records.Add(new CdcRecord(
                await CdcRecord.DecodeAsync(_store, message.Message.Key),
                await CdcRecord.DecodeAsync(_store, message.Message.Value),
                message.Offset.Value,
                message.Partition.Value)
            {
                Epoch = message.Message.Headers?.TryGetLastBytes("datamesh.epoch", out var epoch) == true && epoch.Length == 8
                    ? System.Buffers.Binary.BinaryPrimitives.ReadInt64BigEndian(epoch)
                    : null,
            });
        }

        return records;
    }

    public void Dispose() => _consumer.Dispose();
}
