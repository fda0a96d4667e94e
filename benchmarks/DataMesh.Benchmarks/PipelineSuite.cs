using System.Diagnostics;
using System.Diagnostics.Metrics;
using System.Globalization;
using BenchmarkDotNet.Running;
using Confluent.Kafka;
using DataMesh.Events;
using DataMesh.Hosting;
using DataMesh.Pipelines;
using DataMesh.Schemas;

namespace DataMesh.Benchmarks;

/// <summary>
/// The pipeline suite: (1) a filter + project + mask + rename chain over a 20-column change event, DataMesh's planned
/// chain over spans against the same chain on Apache.Avro's GenericRecord, with the memory diagnoser; (2) the same chain
/// in a <see cref="KafkaPipeline"/> from one embedded-Kafka topic to another, for 1,000,000 records (<c>--records N</c>
/// changes the count, <c>--no-kafka</c> skips it, <c>--kafka-only</c> skips (1)), checked: the pipeline counted every
/// record and the target topic's high watermarks sum to them. The last line is the result of (1): 3 launches, per launch
/// the median of its iterations, paired by launch (<see cref="BenchHarness.FromSummary"/>).
/// </summary>
internal sealed class PipelineSuite : IBenchmarkSuite
{
    private const int Partitions = 128;

    public string Name => "pipeline";

    public int Run(string[] args)
    {
        var records = 1_000_000;
        var kafka = true;
        var chain = true;
        var rest = new List<string>();
        for (var i = 0; i < args.Length; i++)
        {
            if (args[i] == "--no-kafka")
            {
                kafka = false;
            }
            else if (args[i] == "--kafka-only")
            {
                chain = false;
            }
            else if (args[i] == "--records" && i + 1 < args.Length)
            {
                records = int.Parse(args[++i], CultureInfo.InvariantCulture);
            }
            else
            {
                rest.Add(args[i]);
            }
        }

        if (!chain)
        {
            RunKafka(records).GetAwaiter().GetResult();
            return 0;
        }

        BenchHarness.PrintMachine("pipeline", "start");
        var summary = BenchmarkRunner.Run<PipelineBenchmarks>(BenchmarkConfig.Short(), [.. rest]);
        if (kafka)
        {
            RunKafka(records).GetAwaiter().GetResult();
        }

        BenchHarness.PrintMachine("pipeline", "end");
        BenchHarness.PrintResults(BenchHarness.FromSummary(summary, "pipeline", nameof(PipelineBenchmarks.DataMeshChain), nameof(PipelineBenchmarks.ApacheAvroChain)));
        return 0;
    }

    /// <summary>
    /// Produces <paramref name="records"/> create events (distinct keys) to a source topic of the embedded cluster, then
    /// times a <see cref="KafkaPipeline"/> with the benchmark's chain from its start until the target acknowledged every
    /// record. CPU is the whole process's (the embedded broker runs in it too).
    /// </summary>
    private static async Task RunKafka(int records)
    {
        var suffix = Guid.NewGuid().ToString("N")[..8];
        using var connection = new KafkaConnection(new KafkaOptions());
        var cluster = connection.EmbeddedCluster!;
        cluster.CreateTopic("bench-src-" + suffix, Partitions);
        await using var store = await KafkaSchemaStore.CreateAsync(new KafkaSchemaStoreOptions { EmbeddedCluster = cluster, Topic = "_schemas-" + suffix });
        await FillAsync(connection, store, "bench-src-" + suffix, records);

        var options = new PipelineOptions { Name = "bench", TargetTopic = "bench-dst-" + suffix, TargetPartitions = Partitions };
        options.SourceTopics.Add("bench-src-" + suffix);
        foreach (var transform in PipelineBenchmarks.Chain.Transforms)
        {
            options.Transforms.Add(transform);
        }

        long done = 0;
        using var listener = new MeterListener();
        listener.InstrumentPublished = (instrument, l) =>
        {
            if (instrument.Meter.Name == "DataMesh.Pipelines" && instrument.Name == "datamesh.pipeline.records")
            {
                l.EnableMeasurementEvents(instrument);
            }
        };
        listener.SetMeasurementEventCallback<long>((_, measurement, _, _) => Interlocked.Add(ref done, measurement));
        listener.Start();

        using var cts = new CancellationTokenSource();
        var pipeline = new KafkaPipeline(options, connection, store);
        var cpu = Process.GetCurrentProcess().TotalProcessorTime;
        var clock = Stopwatch.StartNew();
        var run = pipeline.RunAsync(cts.Token);
        var first = TimeSpan.Zero;
        while (Interlocked.Read(ref done) < records && !run.IsCompleted && clock.Elapsed < TimeSpan.FromMinutes(10))
        {
            if (first == TimeSpan.Zero && Interlocked.Read(ref done) > 0)
            {
                first = clock.Elapsed;
            }

            await Task.Delay(5);
        }

        // The clock runs from the first acknowledged record: joining the consumer group (seconds on the embedded cluster) is left out.
        var seconds = (clock.Elapsed - first).TotalSeconds;
        var cpuMs = (Process.GetCurrentProcess().TotalProcessorTime - cpu).TotalMilliseconds;
        await cts.CancelAsync();
        await run;
        var processed = Interlocked.Read(ref done);
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"# pipeline kafka: {processed} of {records} records in {seconds:F2} s = {processed / seconds:F0} records/s, CPU {cpuMs * 1000 / Math.Max(1, processed):F1} us per record ({Partitions} partitions, embedded cluster in process; group join {first.TotalSeconds:F1} s not counted)"));
        BenchHarness.Expect("pipeline kafka: records the pipeline counted", processed, records);
        using var watermarks = new Watermarks(connection.BootstrapServers, options.TargetTopic, Partitions);
        BenchHarness.Expect("pipeline kafka: the target topic's high watermarks summed", watermarks.Sum(), records);
    }

    /// <summary>Produces <paramref name="records"/> create events of the benchmark's 20-column table (distinct keys, their
    /// schemas registered in <paramref name="store"/>) to <paramref name="topic"/>, and waits until all are acknowledged.</summary>
    internal static async Task FillAsync(KafkaConnection connection, ISchemaStore store, string topic, int records)
    {
        var schemas = ChangeEventSchemas.Build(PipelineBenchmarks.Table, new SourceDescription("postgresql", "shop", []));
        var encoder = new ChangeEventEncoder(schemas, await store.RegisterAsync(schemas.KeySubject, schemas.KeySchema!), await store.RegisterAsync(schemas.ValueSubject, schemas.EnvelopeSchema));

        using (var producer = new ProducerBuilder<byte[], byte[]>(connection.CreateProducerConfig()).Build())
        {
            var key = new System.Buffers.ArrayBufferWriter<byte>();
            var value = new System.Buffers.ArrayBufferWriter<byte>();
            var source = new SourceValues { TimestampMs = 1, Database = "shop", Schema = "public", Table = "orders", Position = [] };
            for (var i = 0; i < records; i++)
            {
                var row = PipelineBenchmarks.Row(i, "NEW");
                key.ResetWrittenCount();
                value.ResetWrittenCount();
                encoder.WriteKey(key, row);
                encoder.WriteValue(value, ChangeOperation.Create, null, row, source, 2);
                while (true)
                {
                    try
                    {
                        producer.Produce(topic, new Message<byte[], byte[]> { Key = key.WrittenSpan.ToArray(), Value = value.WrittenSpan.ToArray() });
                        break;
                    }
                    catch (ProduceException<byte[], byte[]> e) when (e.Error.Code == ErrorCode.Local_QueueFull)
                    {
                        producer.Poll(TimeSpan.FromMilliseconds(50));
                    }
                }
            }

            producer.Flush(TimeSpan.FromMinutes(5));
        }
    }
}
