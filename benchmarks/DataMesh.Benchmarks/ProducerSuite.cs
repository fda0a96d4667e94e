using System.Diagnostics;
using System.Globalization;
using System.Text;
using Avro;
using Avro.Specific;
using AvroSchema = Avro.Schema;
using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Running;
using Confluent.Kafka;
using Confluent.SchemaRegistry;
using Confluent.SchemaRegistry.Serdes;
using DataMesh.Hosting;
using DataMesh.Producer;
using DataMesh.Producer.Emitting;
using DataMesh.Schemas;
using Microsoft.Extensions.Options;

namespace DataMesh.Benchmarks;

/// <summary>
/// The producer SDK against the raw Confluent.Kafka producer with Confluent's AvroSerializer (the peer a .NET user would
/// take), both producing a 10-field event to the embedded cluster with the same producer settings (the SDK's, printed:
/// idempotent, acks=all, linger 5 ms, delivery reports with the outcome only), the same headers (CloudEvents id, type, source, time, specversion) and a string key (ours Avro-framed,
/// the peer's UTF-8). BenchmarkDotNet's memory diagnoser gives managed bytes per emit (every thread, so the Kafka
/// client's delivery reports count on both sides); a "floor" case produces prebuilt byte arrays with the raw client, to
/// show what the client itself allocates. Timed runs (<c>--events N</c>, default 200,000; <c>--runs N</c> alternated by
/// <see cref="BenchHarness"/>) then give events/s for ours and the peer, each checked against the topic's high watermarks.
/// </summary>
internal sealed class ProducerSuite : IBenchmarkSuite
{
    public string Name => "producer";

    public int Run(string[] args)
    {
        var events = BenchHarness.Option(args, "--events", 200_000);
        var runs = BenchHarness.Runs(args);
        var bdnArgs = args.Where((a, i) => a is not ("--events" or "--runs") && (i == 0 || args[i - 1] is not ("--events" or "--runs"))).ToArray();
        var summary = BenchmarkRunner.Run<ProducerBenchmarks>(BenchmarkConfig.Short(), bdnArgs);
        if (summary.Reports.Length != 3 || summary.Reports.Any(r => r.ResultStatistics is null))
        {
            Console.WriteLine("producer: benchmark failed; see the BenchmarkDotNet log above");
            return 1;
        }

        foreach (var report in summary.Reports)
        {
            var bytes = report.GcStats.GetBytesAllocatedPerOperation(report.BenchmarkCase);
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"# producer: {report.BenchmarkCase.Descriptor.WorkloadMethod.Name}: {report.ResultStatistics?.Median:F0} ns/emit (median), {bytes} B allocated/emit"));
        }

        var emit = BenchHarness.FromSummary(summary, "producer-emit", nameof(ProducerBenchmarks.Ours), nameof(ProducerBenchmarks.Peer));

        // Throughput: the same work as the benchmarks, longer, with a window of outstanding emits; alternated by the harness.
        var benchmarks = new ProducerBenchmarks();
        benchmarks.Setup();
        try
        {
            Console.WriteLine($"# producer ours (the SDK's producer): {BenchHarness.DeliveryReports(benchmarks.OursConfig)}");
            Console.WriteLine($"# producer peer (Confluent producer + AvroSerializer): {BenchHarness.DeliveryReports(benchmarks.PeerConfig)}");
            var pairs = BenchHarness.AlternateAsync("producer", runs,
                new BenchSide("ours", _ => benchmarks.TimedAsync(benchmarks.OursTopic, events, benchmarks.OursWindowAsync)),
                new BenchSide("producer", _ => benchmarks.TimedAsync(benchmarks.PeerTopic, events, benchmarks.PeerWindowAsync))).GetAwaiter().GetResult();
            BenchHarness.PrintResults(emit, pairs[0]);
            return 0;
        }
        finally
        {
            benchmarks.Cleanup();
        }
    }
}

public enum BenchOrderStatus
{
    Placed,
    Paid,
    Shipped,
}

/// <summary>The 10-field event, as an application would declare it for the SDK.</summary>
public sealed record BenchOrderPlaced(
    [property: EventKey] string OrderId,
    Guid CustomerId,
    [property: AvroDecimal(18, 2)] decimal Total,
    string Currency,
    int ItemCount,
    double WeightKg,
    bool Express,
    DateTime PlacedAt,
    BenchOrderStatus Status,
    long Sequence);

/// <summary>The same event as avrogen would generate it for Confluent's AvroSerializer (an ISpecificRecord with the same schema).</summary>
public sealed class BenchOrderPlacedRecord : ISpecificRecord
{
    public static readonly AvroSchema SchemaInstance = AvroSchema.Parse("""
        {"type":"record","name":"BenchOrderPlaced","namespace":"DataMesh.Benchmarks","fields":[
          {"name":"orderId","type":"string"},
          {"name":"customerId","type":{"type":"string","logicalType":"uuid"}},
          {"name":"total","type":{"type":"bytes","logicalType":"decimal","precision":18,"scale":2}},
          {"name":"currency","type":"string"},
          {"name":"itemCount","type":"int"},
          {"name":"weightKg","type":"double"},
          {"name":"express","type":"boolean"},
          {"name":"placedAt","type":{"type":"long","logicalType":"timestamp-micros"}},
          {"name":"status","type":{"type":"enum","name":"BenchOrderStatus","namespace":"DataMesh.Benchmarks","symbols":["Placed","Paid","Shipped"]}},
          {"name":"sequence","type":"long"}]}
        """);

    public AvroSchema Schema => SchemaInstance;

    public string OrderId { get; set; } = "";

    public Guid CustomerId { get; set; }

    public AvroDecimal Total { get; set; }

    public string Currency { get; set; } = "";

    public int ItemCount { get; set; }

    public double WeightKg { get; set; }

    public bool Express { get; set; }

    public DateTime PlacedAt { get; set; }

    public BenchOrderStatus Status { get; set; }

    public long Sequence { get; set; }

    public object Get(int fieldPos) => fieldPos switch
    {
        0 => OrderId,
        1 => CustomerId,
        2 => Total,
        3 => Currency,
        4 => ItemCount,
        5 => WeightKg,
        6 => Express,
        7 => PlacedAt,
        8 => Status,
        9 => Sequence,
        _ => throw new AvroRuntimeException("Bad index " + fieldPos + " in Get()"),
    };

    public void Put(int fieldPos, object fieldValue)
    {
        switch (fieldPos)
        {
            case 0: OrderId = (string)fieldValue; break;
            case 1: CustomerId = (Guid)fieldValue; break;
            case 2: Total = (AvroDecimal)fieldValue; break;
            case 3: Currency = (string)fieldValue; break;
            case 4: ItemCount = (int)fieldValue; break;
            case 5: WeightKg = (double)fieldValue; break;
            case 6: Express = (bool)fieldValue; break;
            case 7: PlacedAt = (DateTime)fieldValue; break;
            case 8: Status = (BenchOrderStatus)fieldValue; break;
            case 9: Sequence = (long)fieldValue; break;
            default: throw new AvroRuntimeException("Bad index " + fieldPos + " in Put()");
        }
    }
}

[MemoryDiagnoser]
public class ProducerBenchmarks
{
    private const int Batch = 1000;
    private const int Window = 5000;
    private const string Source = "bench";
    private const int Partitions = 3;

    private KafkaConnection _kafka = null!;
    private KafkaSchemaStore _store = null!;
    private EventEmitter _emitter = null!;
    private IProducer<string, BenchOrderPlacedRecord> _peer = null!;
    private IProducer<byte[], byte[]> _raw = null!;
    private BenchOrderPlaced[] _ours = null!;
    private BenchOrderPlacedRecord[] _peerEvents = null!;
    private ValueTask[] _oursPending = null!;
    private Task[] _peerPending = null!;
    private byte[] _rawKey = null!;
    private byte[] _rawValue = null!;
    private Headers _rawHeaders = null!;
    private Action<DeliveryReport<byte[], byte[]>> _rawHandler = null!;
    private int _rawAcknowledged;
    private string _peerTopic = null!;
    private string _rawTopic = null!;

    [GlobalSetup]
    public void Setup() => SetupAsync().GetAwaiter().GetResult();

    private async Task SetupAsync()
    {
        _kafka = new KafkaConnection(new KafkaOptions());
        _store = await KafkaSchemaStore.CreateAsync(new KafkaSchemaStoreOptions { EmbeddedCluster = _kafka.EmbeddedCluster, Topic = "_bench_schemas" });
        var options = new ProducerOptions { Source = Source, QueueCapacity = 10_000, TopicPartitions = Partitions };
        options.AddEvent<BenchOrderPlaced>("bench.ours");
        _emitter = new EventEmitter(Options.Create(options), Options.Create(new DataMeshOptions()), _kafka, _store);
        await _emitter.StartAsync(CancellationToken.None);

        _peerTopic = "bench.peer";
        _rawTopic = "bench.floor";
        await _kafka.EnsureTopicAsync(_peerTopic, Partitions, TopicRetention.Default, CancellationToken.None);
        await _kafka.EnsureTopicAsync(_rawTopic, Partitions, TopicRetention.Default, CancellationToken.None);
        var registry = new InProcessSchemaRegistry();
        // The peer gets the SDK's producer settings (delivery reports with the outcome only among them).
        OursConfig = _emitter.CreateProducerConfig();
        PeerConfig = _emitter.CreateProducerConfig();
        _peer = new ProducerBuilder<string, BenchOrderPlacedRecord>(PeerConfig)
            .SetValueSerializer(new AvroSerializer<BenchOrderPlacedRecord>(registry, new AvroSerializerConfig { AutoRegisterSchemas = true }))
            .Build();
        // The client as the SDK configures it, so that the floor is what it allocates by itself.
        _raw = new ProducerBuilder<byte[], byte[]>(_emitter.CreateProducerConfig()).Build();

        var customer = Guid.NewGuid();
        var placedAt = new DateTime(2025, 1, 2, 3, 4, 5, DateTimeKind.Utc);
        _ours = new BenchOrderPlaced[Batch];
        _peerEvents = new BenchOrderPlacedRecord[Batch];
        for (var i = 0; i < Batch; i++)
        {
            _ours[i] = new BenchOrderPlaced("order-" + (i % 100), customer, 1234.5m + i, "EUR", i % 10, 1.25 * i, i % 2 == 0, placedAt.AddSeconds(i), BenchOrderStatus.Paid, i);
            _peerEvents[i] = new BenchOrderPlacedRecord
            {
                OrderId = _ours[i].OrderId,
                CustomerId = customer,
                Total = new AvroDecimal(new System.Numerics.BigInteger(_ours[i].Total * 100), 2),
                Currency = "EUR",
                ItemCount = i % 10,
                WeightKg = 1.25 * i,
                Express = i % 2 == 0,
                PlacedAt = _ours[i].PlacedAt,
                Status = BenchOrderStatus.Paid,
                Sequence = i,
            };
        }

        _oursPending = new ValueTask[Window];
        _peerPending = new Task[Window];
        _rawKey = Encoding.UTF8.GetBytes("order-1");
        _rawValue = new byte[64];
        _rawHeaders = Headers(Guid.NewGuid());
        _rawHandler = _ => Interlocked.Increment(ref _rawAcknowledged);
        await OursAsync();
        await PeerAsync();
    }

    /// <summary>The SDK's producer settings.</summary>
    internal ProducerConfig OursConfig { get; private set; } = null!;

    /// <summary>The peer's producer settings (the SDK's).</summary>
    internal ProducerConfig PeerConfig { get; private set; } = null!;

    /// <summary>The SDK's topic.</summary>
    internal string OursTopic => "bench.ours";

    /// <summary>The peer's topic.</summary>
    internal string PeerTopic => _peerTopic;

    /// <summary>Emits <paramref name="events"/> with <paramref name="run"/>, timed from the first emit until the last was
    /// acknowledged; the topic's high watermarks must have grown by <paramref name="events"/>.</summary>
    internal async Task<BenchSample> TimedAsync(string topic, int events, Func<int, Task> run)
    {
        using var watermarks = new Watermarks(_kafka.BootstrapServers, topic, Partitions);
        var before = watermarks.Sum();
        var watch = Stopwatch.StartNew();
        double steady;
        await using (var sampler = new ProgressSampler(() => watermarks.Sum() - before))
        {
            await run(events);
            watch.Stop();
            steady = sampler.SteadyRate(events);
        }

        BenchHarness.Expect($"{topic}: the growth of the topic's high watermarks summed", watermarks.Sum() - before, events);
        return new BenchSample(events / watch.Elapsed.TotalSeconds, steady);
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _emitter.DisposeAsync().AsTask().GetAwaiter().GetResult();
        _peer.Dispose();
        _raw.Dispose();
        _store.Dispose();
        _kafka.Dispose();
    }

    /// <summary>The raw client with Confluent's AvroSerializer: ProduceAsync per event, then await them all.</summary>
    [Benchmark(Baseline = true, OperationsPerInvoke = Batch)]
    public Task Peer() => PeerAsync();

    /// <summary>The SDK: EmitAsync per event (completes on Kafka's acknowledgement), then await them all.</summary>
    [Benchmark(OperationsPerInvoke = Batch)]
    public Task Ours() => OursAsync();

    /// <summary>What the raw client allocates by itself: Produce of prebuilt byte arrays and headers with one shared handler,
    /// configured as the SDK configures it.</summary>
    [Benchmark(OperationsPerInvoke = Batch)]
    public async Task ClientFloor()
    {
        var target = Volatile.Read(ref _rawAcknowledged) + Batch;
        var message = new Message<byte[], byte[]> { Key = _rawKey, Value = _rawValue, Headers = _rawHeaders };
        var partition = new TopicPartition(_rawTopic, Partition.Any);
        for (var i = 0; i < Batch; i++)
        {
            _raw.Produce(partition, message, _rawHandler);
        }

        while (Volatile.Read(ref _rawAcknowledged) < target)
        {
            await Task.Delay(1);
        }
    }

    private async Task OursAsync()
    {
        var pending = _oursPending;
        for (var i = 0; i < Batch; i++)
        {
            pending[i] = _emitter.EmitAsync(_ours[i]);
        }

        for (var i = 0; i < Batch; i++)
        {
            await pending[i];
        }
    }

    private async Task PeerAsync()
    {
        var pending = _peerPending;
        for (var i = 0; i < Batch; i++)
        {
            var record = _peerEvents[i];
            pending[i] = _peer.ProduceAsync(_peerTopic, new Message<string, BenchOrderPlacedRecord> { Key = record.OrderId, Value = record, Headers = Headers(Guid.NewGuid()) });
        }

        for (var i = 0; i < Batch; i++)
        {
            await pending[i];
        }
    }

    /// <summary>Emits <paramref name="events"/> events with at most <see cref="Window"/> outstanding.</summary>
    internal async Task OursWindowAsync(int events)
    {
        var pending = _oursPending;
        for (var i = 0; i < events; i++)
        {
            var slot = i % Window;
            if (i >= Window)
            {
                await pending[slot];
            }

            pending[slot] = _emitter.EmitAsync(_ours[i % Batch]);
        }

        for (var i = Math.Max(0, events - Window); i < events; i++)
        {
            await pending[i % Window];
        }
    }

    internal async Task PeerWindowAsync(int events)
    {
        var pending = _peerPending;
        for (var i = 0; i < events; i++)
        {
            var slot = i % Window;
            if (i >= Window)
            {
                await pending[slot];
            }

            var record = _peerEvents[i % Batch];
            pending[slot] = _peer.ProduceAsync(_peerTopic, new Message<string, BenchOrderPlacedRecord> { Key = record.OrderId, Value = record, Headers = Headers(Guid.NewGuid()) });
        }

        for (var i = Math.Max(0, events - Window); i < events; i++)
        {
            await pending[i % Window];
        }
    }

    /// <summary>The headers a user of the raw client adds to carry what the SDK sends: CloudEvents id, type, source, time.</summary>
    private static Headers Headers(Guid id) => new()
    {
        { "ce_specversion", "1.0"u8.ToArray() },
        { "ce_id", Encoding.UTF8.GetBytes(id.ToString()) },
        { "ce_source", Encoding.UTF8.GetBytes(Source) },
        { "ce_type", Encoding.UTF8.GetBytes("DataMesh.Benchmarks.BenchOrderPlaced") },
        { "ce_time", Encoding.UTF8.GetBytes(DateTime.UtcNow.ToString("O", CultureInfo.InvariantCulture)) },
    };
}

/// <summary>
/// An in-process <see cref="ISchemaRegistryClient"/> holding the peer's schema (no registry server runs here): registering
/// gives an id, looking up by id returns the schema. The serializer registers once and then caches, so the per-event cost
/// of the peer is the serializer's own.
/// </summary>
internal sealed class InProcessSchemaRegistry : ISchemaRegistryClient
{
    private readonly Dictionary<string, int> _ids = new(StringComparer.Ordinal);
    private readonly Dictionary<int, Confluent.SchemaRegistry.Schema> _schemas = [];
    private readonly Lock _gate = new();

    public IEnumerable<KeyValuePair<string, string>> Config => [];

    public IAuthenticationHeaderValueProvider? AuthHeaderProvider => null;

    public System.Net.IWebProxy? Proxy => null;

    public int MaxCachedSchemas => 1000;

    public Task<int> RegisterSchemaAsync(string subject, string avroSchema, bool normalize = false) =>
        RegisterSchemaAsync(subject, new Confluent.SchemaRegistry.Schema(avroSchema, SchemaType.Avro), normalize);

    public Task<int> RegisterSchemaAsync(string subject, Confluent.SchemaRegistry.Schema schema, bool normalize = false) =>
        Task.FromResult(Register(schema));

    public async Task<Confluent.SchemaRegistry.RegisteredSchema> RegisterSchemaWithResponseAsync(string subject, Confluent.SchemaRegistry.Schema schema, bool normalize = false)
    {
        var id = await RegisterSchemaAsync(subject, schema, normalize);
        return new Confluent.SchemaRegistry.RegisteredSchema(subject, 1, id, schema.SchemaString, schema.SchemaType, schema.References);
    }

    public Task<int> GetSchemaIdAsync(string subject, string avroSchema, bool normalize = false) => RegisterSchemaAsync(subject, avroSchema, normalize);

    public Task<int> GetSchemaIdAsync(string subject, Confluent.SchemaRegistry.Schema schema, bool normalize = false) => RegisterSchemaAsync(subject, schema, normalize);

    public Task<Confluent.SchemaRegistry.Schema> GetSchemaAsync(int id, string? format = null)
    {
        lock (_gate)
        {
            return Task.FromResult(_schemas[id]);
        }
    }

    public Task<Confluent.SchemaRegistry.Schema> GetSchemaByGuidAsync(string guid, string? format = null) =>
        throw new NotSupportedException("The benchmark registry serves registration and lookup by id only.");

    public Task<List<Association>> GetAssociationsByResourceNameAsync(string resourceName, string resourceNamespace, string resourceType, List<string> associationTypes, string lifecycle, int offset, int limit) =>
        Task.FromResult(new List<Association>());

    public Task<AssociationResponse> CreateAssociationAsync(AssociationCreateOrUpdateRequest request) =>
        throw new NotSupportedException("The benchmark registry serves registration and lookup by id only.");

    public Task DeleteAssociationsAsync(string resourceId, string resourceType, List<string> associationTypes, bool cascadeLifecycle) => Task.CompletedTask;

    public Task<Confluent.SchemaRegistry.Schema> GetSchemaBySubjectAndIdAsync(string subject, int id, string? format = null) => GetSchemaAsync(id, format);

    public Task<Confluent.SchemaRegistry.RegisteredSchema> LookupSchemaAsync(string subject, Confluent.SchemaRegistry.Schema schema, bool ignoreDeletedSchemas, bool normalize = false) =>
        RegisterSchemaWithResponseAsync(subject, schema, normalize);

    public Task<Confluent.SchemaRegistry.RegisteredSchema> GetRegisteredSchemaAsync(string subject, int version, bool ignoreDeletedSchemas = true) =>
        throw new NotSupportedException("The benchmark registry serves registration and lookup by id only.");

    public Task<string> GetSchemaAsync(string subject, int version) =>
        throw new NotSupportedException("The benchmark registry serves registration and lookup by id only.");

    public Task<Confluent.SchemaRegistry.RegisteredSchema> GetLatestSchemaAsync(string subject) =>
        throw new NotSupportedException("The benchmark registry serves registration and lookup by id only.");

    public Task<Confluent.SchemaRegistry.RegisteredSchema> GetLatestWithMetadataAsync(string subject, IDictionary<string, string> metadata, bool ignoreDeletedSchemas) =>
        throw new NotSupportedException("The benchmark registry serves registration and lookup by id only.");

    public Task<List<string>> GetAllSubjectsAsync() => Task.FromResult(new List<string>());

    public Task<List<int>> GetSubjectVersionsAsync(string subject) => Task.FromResult(new List<int> { 1 });

    public Task<bool> IsCompatibleAsync(string subject, string avroSchema) => Task.FromResult(true);

    public Task<bool> IsCompatibleAsync(string subject, Confluent.SchemaRegistry.Schema schema) => Task.FromResult(true);

    public string ConstructKeySubjectName(string topic, string? recordType = null) => topic + "-key";

    public string ConstructValueSubjectName(string topic, string? recordType = null) => topic + "-value";

    public Task<Compatibility> GetCompatibilityAsync(string? subject = null) => Task.FromResult(Compatibility.Backward);

    public Task<Compatibility> UpdateCompatibilityAsync(Compatibility compatibility, string? subject = null) => Task.FromResult(compatibility);

    public void ClearLatestCaches()
    {
    }

    public void ClearCaches()
    {
    }

    public void Dispose()
    {
    }

    private int Register(Confluent.SchemaRegistry.Schema schema)
    {
        lock (_gate)
        {
            if (!_ids.TryGetValue(schema.SchemaString, out var id))
            {
                id = _ids.Count + 1;
                _ids.Add(schema.SchemaString, id);
                _schemas.Add(id, schema);
            }

            return id;
        }
    }
}
