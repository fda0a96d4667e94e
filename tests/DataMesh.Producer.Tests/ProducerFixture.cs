using System.Collections.Concurrent;
using Avro.Generic;
using Avro.IO;
using Confluent.Kafka;
using DataMesh.Hosting;
using DataMesh.Producer;
using DataMesh.Schemas;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Xunit;

namespace DataMesh.Tests.Producer;

/// <summary>Builds producer hosts on the embedded cluster (their own, or a shared one) and reads topics back.</summary>
internal static class ProducerFixture
{
    /// <param name="configure">The producer's settings.</param>
    /// <param name="kafka">A connection to share between hosts (its embedded cluster outlives them), or null for a cluster of the host's own.</param>
    /// <param name="schemaTopic">The schema store's topic, to share a store between hosts, or null for a fresh one.</param>
    /// <param name="logs">Collects the host's log messages, or null.</param>
    public static IHost Build(Action<ProducerOptions> configure, KafkaConnection? kafka = null, string? schemaTopic = null, LogCollector? logs = null)
    {
        var builder = Host.CreateApplicationBuilder();
        builder.Logging.ClearProviders();
        if (logs is not null)
        {
            builder.Logging.AddProvider(logs);
        }

        if (kafka is not null)
        {
            // Registered as an instance, so that the host does not dispose it.
            builder.Services.AddSingleton(kafka);
        }

        builder.Services.AddDataMesh(o =>
        {
            o.SchemaStore.Topic = schemaTopic ?? "_schemas_" + Guid.NewGuid().ToString("N");
            o.Events.TopicPrefix = "t" + Guid.NewGuid().ToString("N")[..8];
        });
        builder.Services.AddDataMeshProducer(o =>
        {
            o.Source = "tests";
            o.ShutdownTimeout = TimeSpan.FromSeconds(20);
            configure(o);
        });
        return builder.Build();
    }

    public static string TopicOf<TEvent>(IHost host) =>
        ((DataMesh.Producer.Emitting.EventEmitter)host.Services.GetRequiredService<IEventEmitter>()).Registry[typeof(TEvent)].Topic;

    /// <summary>Reads <paramref name="count"/> messages from every partition of <paramref name="topic"/> (waiting up to a minute for them).</summary>
    public static List<ConsumeResult<byte[]?, byte[]?>> Read(KafkaConnection kafka, string topic, int count, int partitions)
    {
        using var consumer = new ConsumerBuilder<byte[]?, byte[]?>(kafka.CreateConsumerConfig(null)).Build();
        consumer.Assign(Enumerable.Range(0, partitions).Select(p => new TopicPartitionOffset(topic, p, Offset.Beginning)));
        var results = new List<ConsumeResult<byte[]?, byte[]?>>();
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (results.Count < count && DateTime.UtcNow < deadline)
        {
            if (consumer.Consume(TimeSpan.FromMilliseconds(200)) is { IsPartitionEOF: false } result)
            {
                results.Add(result);
            }
        }

        return results;
    }

    /// <summary>Counts every message of the topic from its watermarks.</summary>
    public static long Count(KafkaConnection kafka, string topic, int partitions)
    {
        using var consumer = new ConsumerBuilder<byte[]?, byte[]?>(kafka.CreateConsumerConfig(null)).Build();
        return Enumerable.Range(0, partitions)
            .Select(p => consumer.QueryWatermarkOffsets(new TopicPartition(topic, p), TimeSpan.FromSeconds(10)))
            .Sum(w => w.High.Value - w.Low.Value);
    }

    public static string Header(ConsumeResult<byte[]?, byte[]?> result, string name) =>
        System.Text.Encoding.UTF8.GetString(result.Message.Headers.GetLastBytes(name));

    /// <summary>Decodes a Confluent-framed Avro datum with Apache.Avro's generic reader and the writer schema from the store.</summary>
    public static async Task<object?> DecodeAsync(ISchemaStore store, byte[] framed)
    {
        Assert.Equal(0, framed[0]);
        var id = System.Buffers.Binary.BinaryPrimitives.ReadInt32BigEndian(framed.AsSpan(1));
        var schema = await store.GetByIdAsync(id);
        var reader = new GenericDatumReader<object>(schema, schema);
        using var stream = new MemoryStream(framed, 5, framed.Length - 5);
        var decoder = new BinaryDecoder(stream);
        var value = reader.Read(null!, decoder);
        Assert.Equal(stream.Length, stream.Position);
        return value;
    }
}

/// <summary>Collects log messages, for assertions on what the SDK reports.</summary>
internal sealed class LogCollector : ILoggerProvider
{
    public ConcurrentQueue<(LogLevel Level, EventId Id, string Message)> Entries { get; } = new();

    public ILogger CreateLogger(string categoryName) => new Collector(this);

    public void Dispose()
    {
    }

    private sealed class Collector(LogCollector owner) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => logLevel >= LogLevel.Information;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            if (IsEnabled(logLevel))
            {
                owner.Entries.Enqueue((logLevel, eventId, formatter(state, exception)));
            }
        }
    }
}
