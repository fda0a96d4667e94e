using System.Diagnostics;
using System.Globalization;
using Confluent.Kafka;
using DataMesh.Avro;
using DataMesh.Events;
using DataMesh.Hosting;
using DataMesh.Sources;
using DataMesh.Sources.Leases;
using Microsoft.Extensions.Logging;
using static System.FormattableString;

namespace DataMesh.Benchmarks;

/// <summary>
/// <c>dotnet run -c Release --project benchmarks/DataMesh.Benchmarks -- sourcepath [--records N] [--runs N]</c>: the source
/// runtime's per-record path alone, without a connector or a host. Ours: a <see cref="SourceContext{TPosition}"/> on a
/// <see cref="ChangeProducer{TPosition}"/> on a fresh embedded cluster, one thread writing N inserts of a table shaped
/// like the cassandra suite's <c>Keyspace1.Standard1</c> (two ascii key columns, two blobs, a Cassandra-like source
/// block) in batches of 20,000 with a checkpoint after each, flushing each batch, until Kafka acknowledged every record.
/// The peer: a bare producer with the same settings sending the very records ours encoded (same keys, same envelope
/// sizes) through <see cref="KafkaCeiling"/>. Per run: records/s, the loop thread's CPU per record, the process's CPU per
/// record (librdkafka's threads included) and bytes allocated per record on the loop thread. With <c>--fence</c>, a third
/// side, <c>ours-fenced</c>, runs ours with a leased source's fence (the produce gate, always open, and the
/// <c>datamesh.epoch</c> header on every record): the cost of the fencing epoch per record.
/// </summary>
internal sealed class SourcePathSuite : IBenchmarkSuite
{
    private const int Batch = 20_000;

    public string Name => "sourcepath";

    public int Run(string[] args)
    {
        var records = BenchHarness.Option(args, "--records", 500_000);
        var runs = BenchHarness.Runs(args);
        var messages = Encode(records);
        Console.WriteLine(Invariant($"# sourcepath: {records:N0} records, key {messages[0].Key.Length} B, value {messages[0].Value.Length} B"));
        var peers = new List<BenchSide>();
        if (args.Contains("--fence"))
        {
            peers.Add(new BenchSide("ours-fenced", _ => Task.FromResult(Ours(records, fenced: true))));
        }

        peers.Add(new BenchSide("sourcepath", _ => Task.FromResult(Bare(messages))));
        var pairs = BenchHarness.AlternateAsync("sourcepath", runs, new BenchSide("ours", _ => Task.FromResult(Ours(records))), [.. peers]).GetAwaiter().GetResult();
        BenchHarness.PrintResults([.. pairs]);
        return 0;
    }

    private static SourceTableInfo Info() => new(
        new TableDescription("Keyspace1", "Standard1",
            [
                new ColumnDescription("key", DataType.Of(DataTypeKind.String, "ascii"), false),
                new ColumnDescription("col", DataType.Of(DataTypeKind.String, "ascii"), false),
                new ColumnDescription("val", DataType.Of(DataTypeKind.Bytes, "blob"), true),
                new ColumnDescription("val0", DataType.Of(DataTypeKind.Bytes, "blob"), true),
            ],
            ["key", "col"]),
        "Keyspace1",
        null);

    private static SourceDescription Description() => new("cassandra", "bench", [new("node", SourceFieldType.String), new("segment", SourceFieldType.Long), new("offset", SourceFieldType.Long)]);

    /// <summary>The records ours writes, encoded (as the peer's messages).</summary>
    private static List<Message<byte[], byte[]>> Encode(int records)
    {
        var host = new EncodingHost(Description(), new ChangeEventOptions()) { FixedIds = (1, 2) };
        var context = host.Context<string>();
        var table = context.Table(Info());
        var messages = new List<Message<byte[], byte[]>>(records);
        for (var i = 0; i < records; i += Batch)
        {
            for (var j = i; j < Math.Min(records, i + Batch); j++)
            {
                context.Insert(table, new Row(j), new Block(j));
            }

            messages.AddRange(context.TakeEncoded().Select(r => new Message<byte[], byte[]> { Key = r.Key!, Value = r.Value! }));
        }

        return messages;
    }

    private static BenchSample Ours(int records, bool fenced = false)
    {
        using var kafka = new KafkaConnection(new KafkaOptions());
        var host = new KafkaHost(Description());
        LeaseFence? fence = null;
        if (fenced)
        {
            // Confirmed for the whole run, as a lease checked every second keeps it: the gate's check per record and the header.
            fence = new LeaseFence(DateTimeOffset.UtcNow.ToUnixTimeMilliseconds(), TimeSpan.FromHours(1), _ => Task.FromResult(true));
            fence.Confirmed(LeaseFence.Timestamp());
        }

        using var producer = new ChangeProducer<SourceCheckpoint<string>>(kafka, fence: fence);
        var context = new SourceContext<string>(host, producer);
        var table = context.Table(Info());
        kafka.EnsureTopicAsync(table.Topic, 1, TopicRetention.Default, CancellationToken.None).GetAwaiter().GetResult();
        context.RegisterAsync(table, CancellationToken.None).AsTask().GetAwaiter().GetResult();
        var process = Process.GetCurrentProcess();
        var cpu0 = process.TotalProcessorTime;
        var thread0 = ThreadCpu();
        var allocated0 = GC.GetAllocatedBytesForCurrentThread();
        var watch = Stopwatch.StartNew();
        for (var i = 0; i < records; i += Batch)
        {
            for (var j = i; j < Math.Min(records, i + Batch); j++)
            {
                context.Insert(table, new Row(j), new Block(j));
            }

            context.Checkpoint(i.ToString(CultureInfo.InvariantCulture));
            var flush = context.FlushAsync(CancellationToken.None);
            if (!flush.IsCompletedSuccessfully)
            {
                flush.AsTask().GetAwaiter().GetResult();
            }
        }

        // Both sides: the window, the loop thread's CPU and its allocations end when Kafka acknowledged every record.
        producer.FlushAsync(CancellationToken.None).GetAwaiter().GetResult();
        watch.Stop();
        var allocated = GC.GetAllocatedBytesForCurrentThread() - allocated0;
        var thread = ThreadCpu() - thread0;
        process.Refresh();
        var cpu = (process.TotalProcessorTime - cpu0).TotalSeconds;
        BenchHarness.Expect("sourcepath ours: records acknowledged", producer.Acknowledged, records);
        return new BenchSample(records / watch.Elapsed.TotalSeconds, Detail: Invariant($"loop thread {thread / records * 1e6:F2} µs CPU/record, process {cpu / records * 1e6:F2} µs CPU/record, {(double)allocated / records:F1} B allocated/record on the loop thread"));
    }

    private static BenchSample Bare(List<Message<byte[], byte[]>> messages)
    {
        using var kafka = new KafkaConnection(new KafkaOptions());
        const string Topic = "bench.sourcepath.bare";
        kafka.EnsureTopicAsync(Topic, 1, TopicRetention.Default, CancellationToken.None).GetAwaiter().GetResult();
        // Built before the window, as ours' producer is.
        using var producer = new ProducerBuilder<byte[], byte[]>(ChangeProducerConfig.Create(kafka)).Build();
        var target = new TopicPartition(Topic, 0);
        var process = Process.GetCurrentProcess();
        var cpu0 = process.TotalProcessorTime;
        var thread0 = ThreadCpu();
        var allocated0 = GC.GetAllocatedBytesForCurrentThread();
        var watch = Stopwatch.StartNew();
        var failed = KafkaCeiling.ProduceAll(producer, messages.Count, _ => target, i => messages[i]);
        watch.Stop();
        var allocated = GC.GetAllocatedBytesForCurrentThread() - allocated0;
        var thread = ThreadCpu() - thread0;
        process.Refresh();
        var cpu = (process.TotalProcessorTime - cpu0).TotalSeconds;
        BenchHarness.Expect("sourcepath bare: messages that failed", failed, 0);
        return new BenchSample(messages.Count / watch.Elapsed.TotalSeconds, Detail: Invariant($"loop thread {thread / messages.Count * 1e6:F2} µs CPU/record, process {cpu / messages.Count * 1e6:F2} µs CPU/record, {(double)allocated / messages.Count:F1} B allocated/record on the loop thread"));
    }

    /// <summary>The calling thread's CPU seconds (user + system), from /proc/thread-self/stat.</summary>
    private static double ThreadCpu()
    {
        var stat = File.ReadAllText("/proc/thread-self/stat");
        var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
        return (long.Parse(fields[11], CultureInfo.InvariantCulture) + long.Parse(fields[12], CultureInfo.InvariantCulture)) / 100.0;
    }

    /// <summary>A host that registers tables with fixed schema ids (no registry round trip: not what is measured).</summary>
    private sealed class KafkaHost(SourceDescription description) : ISourceHost
    {
        public string Name => Description.Name;

        public ChangeEventOptions Events { get; } = new();

        public ILogger Logger => Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance;

        public SourceDescription Description { get; } = description;

        public SourceMetrics? Metrics => null;

        public SnapshotEngine? Snapshots => null;

        public long? FixedTimestampMs => null;

        public void ReportAlive()
        {
        }

        public void RequestStore()
        {
        }

        public Task RegisterAsync(SourceTable table, CancellationToken cancellationToken)
        {
            table.KeySchemaId = 1;
            table.ValueSchemaId = 2;
            table.Partitions = 1;
            table.IsRegistered = true;
            return Task.CompletedTask;
        }
    }

    /// <summary>A row of Standard1: key and col ascii (from the row number), val and val0 34-byte blobs.</summary>
    private readonly ref struct Row(int n) : IRowImage
    {
        private static readonly byte[] Blob = [.. Enumerable.Range(0, 34).Select(i => (byte)i)];

        public ColumnValueState State(int column) => ColumnValueState.Value;

        public void WriteValue(ref AvroWriter writer, int column)
        {
            Span<byte> text = stackalloc byte[10];
            switch (column)
            {
                case 0:
                    n.TryFormat(text, out var written, "D10", CultureInfo.InvariantCulture);
                    writer.WriteStringUtf8(text[..written]);
                    break;
                case 1:
                    writer.WriteStringUtf8("C0"u8);
                    break;
                default:
                    writer.WriteBytes(Blob);
                    break;
            }
        }
    }

    /// <summary>A Cassandra-like source block: node, segment, offset.</summary>
    private readonly ref struct Block(long offset) : ISourceBlock
    {
        public long CommitTimestampMs => 1_699_285_478_684;

        public long? TransactionId => null;

        public void WritePositionFields(ref AvroWriter writer)
        {
            writer.WriteStringUtf8("bench"u8);
            writer.WriteLong(1_699_285_478_684);
            writer.WriteLong(offset);
        }
    }
}
