using Confluent.Kafka;
using DataMesh.Connectors.Postgres;
using DataMesh.Events;
using DataMesh.Hosting;
using DataMesh.IntegrationTests.Infrastructure;
using DataMesh.Schemas;
using DataMesh.Sources;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Npgsql;

namespace DataMesh.IntegrationTests.Postgres;

/// <summary>
/// A PostgreSQL source on its own throwaway database, running in a host with the embedded Kafka cluster, and a reader
/// that decodes its topics independently (Apache.Avro's generic reader with the schemas from the store).
/// </summary>
internal sealed class PgCdc : IAsyncDisposable
{
    private readonly TemporaryPostgresDatabase _database;
    private readonly PostgresServer _server;
    private IHost? _host;

    private PgCdc(PostgresServer server, TemporaryPostgresDatabase database, string sourceName, string slot)
    {
        _server = server;
        _database = database;
        SourceName = sourceName;
        Slot = slot;
        ConnectionString = server.ConnectionStringFor(database.Name);
    }

    public string SourceName { get; }

    public string Slot { get; }

    public string ConnectionString { get; }

    public KafkaConnection Kafka => _host!.Services.GetRequiredService<KafkaConnection>();

    public ISchemaStore Store => _host!.Services.GetRequiredService<ISchemaStore>();

    public IHost Host => _host!;

    /// <summary>What the hosts this instance started logged (Information and above).</summary>
    public LogCollector Logs { get; } = new();

    public static async Task<PgCdc> CreateAsync(PostgresServer server, string setupSql)
    {
        var database = await server.CreateDatabaseAsync("cdc");
        var cdc = new PgCdc(server, database, "src", UniqueName.Create("slot"));
        if (setupSql.Length > 0)
        {
            await cdc.ExecuteAsync(setupSql);
        }

        return cdc;
    }

    public string Topic(string table, string schema = "public") => TopicNames.ForTable("dm", SourceName, schema, table);

    /// <summary>Builds and starts the host running the source; <paramref name="configure"/> changes the source's options.</summary>
    public async Task StartAsync(Action<PostgresSourceOptions>? configure = null, Action<DataMeshOptions>? dataMesh = null, KafkaConnection? sharedKafka = null, bool waitForSnapshot = true, ILoggerProvider? logs = null)
    {
        var builder = Microsoft.Extensions.Hosting.Host.CreateApplicationBuilder();
        builder.Logging.ClearProviders();
        builder.Logging.AddSimpleConsole().SetMinimumLevel(LogLevel.Information);
        builder.Logging.AddFilter<Microsoft.Extensions.Logging.Console.ConsoleLoggerProvider>(null, LogLevel.Warning);
        builder.Logging.AddProvider(Logs);
        builder.Logging.AddFilter<LogCollector>(null, LogLevel.Debug); // the secret check reads every line
        if (logs is not null)
        {
            builder.Logging.AddProvider(logs);
            builder.Logging.SetMinimumLevel(LogLevel.Trace);
        }

        if (sharedKafka is not null)
        {
            builder.Services.AddSingleton(sharedKafka);
        }

        builder.Services.AddDataMesh(o => dataMesh?.Invoke(o))
            .AddPostgresSource(SourceName, o =>
            {
                o.ConnectionString = ConnectionString;
                o.SlotName = Slot;
                o.PositionSaveInterval = TimeSpan.FromMilliseconds(200);
                o.HeartbeatInterval = TimeSpan.FromMilliseconds(500);
                o.RetryDelay = TimeSpan.FromMilliseconds(200);
                o.MaxRetryDelay = TimeSpan.FromSeconds(2);
                configure?.Invoke(o);
            });
        _host = builder.Build();
        await _host.StartAsync();
        await WaitUntilStreamingAsync(waitForSnapshot);
    }

    /// <summary>Waits until the source streams from its slot (changes made before that are not captured by a new slot).</summary>
    /// <param name="waitForSnapshot">Whether to wait for the initial snapshot to end too.</param>
    public async Task WaitUntilStreamingAsync(bool waitForSnapshot = true)
    {
        var deadline = DateTime.UtcNow.AddSeconds(60);
        // Active with a confirmed position: while the slot is being created it is active with no consistent point yet.
        while (await ScalarAsync<bool?>($"SELECT active AND confirmed_flush_lsn IS NOT NULL FROM pg_replication_slots WHERE slot_name = '{Slot}'") != true)
        {
            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"The source did not start streaming from slot '{Slot}' within 60 s.");
            }

            await Task.Delay(100);
        }

        // And until the initial snapshot (of the tables as they were at start) is done: what the test writes next is the log's.
        // (A source this instance did not start, e.g. in a connector process on its slot, is not watched.)
        var snapshots = _host?.Services.GetRequiredService<SourceMonitor>().Snapshots(SourceName);
        while (waitForSnapshot && snapshots is { IsIdle: false })
        {
            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"The initial snapshot of source '{SourceName}' did not end within 60 s: {string.Join(", ", snapshots.Progress)}.");
            }

            await Task.Delay(50);
        }
    }

    public async Task StopAsync()
    {
        if (_host is not null)
        {
            await _host.StopAsync();
        }
    }

    public async Task ExecuteAsync(string sql)
    {
        await using var connection = new NpgsqlConnection(ConnectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(sql, connection) { CommandTimeout = 600 };
        await command.ExecuteNonQueryAsync();
    }

    public async Task<T?> ScalarAsync<T>(string sql)
    {
        await using var connection = new NpgsqlConnection(new NpgsqlConnectionStringBuilder(ConnectionString) { Options = PostgresConnector.SessionOptions }.ConnectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(sql, connection);
        var value = await command.ExecuteScalarAsync();
        return value is DBNull ? default : (T?)value;
    }

    /// <summary>Reads records of a topic from the beginning until <paramref name="count"/> arrived (or fails after the timeout).</summary>
    public Task<List<CdcRecord>> ReadAsync(string topic, int count, TimeSpan? timeout = null, KafkaConnection? kafka = null) =>
        ReadAsync(kafka ?? Kafka, Store, topic, count, timeout ?? TimeSpan.FromSeconds(60));

    public static async Task<List<CdcRecord>> ReadAsync(KafkaConnection kafka, ISchemaStore store, string topic, int count, TimeSpan timeout)
    {
        var raw = await Task.Run(() =>
        {
            using var consumer = new ConsumerBuilder<byte[]?, byte[]?>(kafka.CreateConsumerConfig(null)).Build();
            consumer.Assign(new TopicPartitionOffset(topic, 0, Offset.Beginning));
            var records = new List<ConsumeResult<byte[]?, byte[]?>>();
            var deadline = DateTime.UtcNow + timeout;
            while (records.Count < count)
            {
                if (DateTime.UtcNow > deadline)
                {
                    throw new TimeoutException($"Topic '{topic}' gave {records.Count} of the {count} records expected within {timeout}.");
                }

                if (consumer.Consume(TimeSpan.FromMilliseconds(200)) is { } result)
                {
                    records.Add(result);
                }
            }

            return records;
        });

        var decoded = new List<CdcRecord>(raw.Count);
        foreach (var record in raw)
        {
            decoded.Add(new CdcRecord(
                await CdcRecord.DecodeAsync(store, record.Message.Key),
                await CdcRecord.DecodeAsync(store, record.Message.Value),
                record.Offset.Value,
                record.Partition.Value));
        }

        return decoded;
    }

    /// <summary>The number of records in the topic after a short wait.</summary>
    public async Task<int> CountAsync(string topic, TimeSpan settle)
    {
        await Task.Delay(settle);
        return await Task.Run(() =>
        {
            using var consumer = new ConsumerBuilder<byte[]?, byte[]?>(Kafka.CreateConsumerConfig(null)).Build();
            try
            {
                var watermarks = consumer.QueryWatermarkOffsets(new TopicPartition(topic, 0), TimeSpan.FromSeconds(10));
                return (int)(watermarks.High.Value - watermarks.Low.Value);
            }
            catch (KafkaException ex) when (ex.Error.Code is ErrorCode.Local_UnknownPartition or ErrorCode.Local_UnknownTopic or ErrorCode.UnknownTopicOrPart)
            {
                return 0; // the source never created the topic: nothing was produced to it
            }
        });
    }

    public async ValueTask DisposeAsync()
    {
        if (_host is not null)
        {
            try
            {
                await _host.StopAsync(TimeSpan.FromSeconds(30));
            }
            catch (Exception)
            {
                // A test that expects the source to fail leaves a stopped host behind.
            }

            _host.Dispose();
        }

        await _server.DropReplicationSlotIfExistsAsync(Slot);
        await _database.DisposeAsync();
        Logs.AssertNoSecret();
    }
}
