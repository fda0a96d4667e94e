using System.Diagnostics;
using System.Globalization;
using Confluent.Kafka;
using DataMesh.Connectors.Cassandra.CommitLog;
using DataMesh.Connectors.Cassandra.Mutations;
using DataMesh.Connectors.Cassandra.Schema;
using DataMesh.Events;
using DataMesh.Hosting;
using DataMesh.IntegrationTests.Cassandra;
using DataMesh.Sources;
using DataMesh.Tests.Cassandra;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace DataMesh.Benchmarks;

/// <summary>
/// <c>./build.sh bench cassandra [--repeats N] [--runs N]</c>, over the real 4.0.11 segment of shared/fixtures/cassandra
/// (no Cassandra server can run here):
/// <list type="bullet">
/// <item>decode: the segment read (CRCs checked) and every mutation decoded, again and again in one thread for 3 s after a
/// 1 s warm-up: mutations/s, MB/s of written segment bytes, bytes allocated per mutation;</item>
/// <item>end to end, on <see cref="BenchHarness"/> (runs alternated, medians): the segment's mutations repeated
/// <c>repeats</c> times (default 200) into segments as a 4.0 node writes them (<see cref="CdcRawLog"/>, 32 MiB), moved
/// into a fresh <c>cdc_raw</c> once a fresh host's source runs (its defaults, one partition), until the topic's high
/// watermarks hold every event (acknowledged), the window including the table's registration at its first event (as a
/// source's first start does); the steady-state rate (watermarks sampled, 20 % to 80 % of the events) is printed apart.
/// Then it must store the position after the last mutation (not timed).
/// Against the Kafka ceiling (<see cref="BareProducer"/>): one message per event, each the bytes of the mutation it came
/// from, keyed by its table id.</item>
/// </list>
/// The last line is <c>cassandra: ours=… peer=… ratio=… (n=…, …)</c>, after the decode line.
/// </summary>
internal sealed class CassandraSuite : IBenchmarkSuite
{
    private const string Version = "4.0.11-encrypted";
    private const string File40 = "CommitLog-7-1699285478684.log";
    private static readonly string Topic = TopicNames.ForTable("dm", "bench", "Keyspace1", "Standard1");

    public string Name => "cassandra";

    public int Run(string[] args) => RunAsync(BenchHarness.Option(args, "--repeats", 200), BenchHarness.Runs(args)).GetAwaiter().GetResult();

    private static async Task<int> RunAsync(int repeats, int runs)
    {
        var data = File.ReadAllBytes(CassandraFixtures.Segment(Version, File40));
        var tableId = CassandraFixtures.Expected(Version).TableId;
        var (decodeRate, megabytes, allocated) = Decode(data, tableId, TimeSpan.FromSeconds(3));
        var decodeLine = string.Create(CultureInfo.InvariantCulture,
            $"cassandra-decode: {decodeRate:F0} mutations/s, {megabytes:F1} MB/s of segment, {allocated:F2} B allocated per mutation ({BenchStats.CpuModel()}, load {BenchStats.LoadAverage()})");
        Console.WriteLine("# " + decodeLine);

        // The fixture's mutations, repeated; those of Keyspace1.Standard1 (one row each) become events, the system tables' are skipped.
        var mutations = SegmentWriter.Mutations(File40, data);
        var captured = mutations.Where(m => IsOf(m, tableId)).ToList();
        var events = captured.Count * repeats;
        var staging = Directory.CreateTempSubdirectory("datamesh-bench-commitlog-").FullName;
        try
        {
            var log = new CdcRawLog(staging, 32 << 20);
            for (var r = 0; r < repeats; r++)
            {
                foreach (var section in mutations.Chunk(100))
                {
                    log.Sync(section, cdc: true);
                }
            }

            var (lastSegment, lastOffset) = log.Durable;
            log.Close();
            Console.WriteLine($"# cassandra: {mutations.Count * repeats:N0} mutations ({events:N0} of the captured table) in {log.Segments} segment(s)");
            var messages = Enumerable.Repeat(captured, repeats).SelectMany(m => m).Select(m => new Message<byte[], byte[]> { Key = m.AsSpan(1, 16).ToArray(), Value = m }).ToList();
            var pairs = await BenchHarness.AlternateAsync("cassandra", runs,
                new BenchSide("ours", _ => OursAsync(staging, tableId, events, lastSegment, lastOffset)),
                new BenchSide("cassandra", _ => BareProducer.RunAsync("cassandra", messages, 1)));
            Console.WriteLine();
            Console.WriteLine(decodeLine);
            BenchHarness.PrintResults([.. pairs]);
            return 0;
        }
        finally
        {
            Directory.Delete(staging, recursive: true);
        }
    }

    /// <summary>Ours: a fresh host and <c>cdc_raw</c>; from the segments' arrival until every event is acknowledged.</summary>
    private static async Task<BenchSample> OursAsync(string staging, Guid tableId, int events, long lastSegment, int lastOffset)
    {
        var directory = Directory.CreateTempSubdirectory("datamesh-bench-cdc-raw-").FullName;
        var arriving = Directory.CreateTempSubdirectory("datamesh-bench-arriving-").FullName;
        try
        {
            // Copied beside cdc_raw first (not timed), moved in once the source runs, as a node links finished segments.
            foreach (var file in Directory.GetFiles(staging))
            {
                File.Copy(file, Path.Combine(arriving, Path.GetFileName(file)));
            }

            var builder = Host.CreateApplicationBuilder();
            builder.Logging.ClearProviders();
            builder.Logging.AddProvider(new StderrLoggerProvider());
            builder.Services.AddDataMesh().AddCassandraSource("bench", o =>
            {
                o.CdcRawDirectory = directory;
                o.Node = "bench";
                o.Tables.Add($"CREATE TABLE \"Keyspace1\".\"Standard1\" (key ascii, col ascii, val blob, val0 blob, PRIMARY KEY (key, col)) WITH id = {tableId} AND cdc = true");
            });
            using var host = builder.Build();
            var monitor = host.Services.GetRequiredService<SourceMonitor>();
            var kafka = host.Services.GetRequiredService<KafkaConnection>();
            await host.StartAsync();
            while (monitor.Get("bench")?.State != SourceState.Running)
            {
                await Task.Delay(5);
            }

            using var watermarks = new Watermarks(kafka.BootstrapServers, Topic, 1);
            var watch = Stopwatch.StartNew();
            double steady;
            await using (var sampler = new ProgressSampler(watermarks.Sum))
            {
                foreach (var file in Directory.GetFiles(arriving).OrderBy(f => f.EndsWith(".log", StringComparison.Ordinal) ? 0 : 1))
                {
                    File.Move(file, Path.Combine(directory, Path.GetFileName(file)));
                }

                while (watermarks.SumOrZero() < events)
                {
                    if (watch.Elapsed > TimeSpan.FromMinutes(10))
                    {
                        throw new TimeoutException($"count check failed: the topic holds {watermarks.SumOrZero()} of {events} events after 10 minutes: {monitor.Get("bench")}");
                    }

                    await Task.Delay(5);
                }

                watch.Stop();
                steady = sampler.SteadyRate(events);
            }

            BenchHarness.Expect("cassandra ours: the topic's high watermarks summed", watermarks.Sum(), events);
            var saving = Stopwatch.StartNew();
            while (monitor.Get("bench")?.StoredPosition is not { } stored || !Reached(stored, lastSegment, lastOffset))
            {
                // Not timed: the position after the last mutation is stored at the next save (PositionSaveInterval).
                if (saving.Elapsed > TimeSpan.FromMinutes(1))
                {
                    throw new TimeoutException($"The source did not store position {lastSegment}:{lastOffset} within a minute of the last acknowledgement: {monitor.Get("bench")}");
                }

                await Task.Delay(5);
            }

            await host.StopAsync();
            return new BenchSample(events / watch.Elapsed.TotalSeconds, steady);
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
            Directory.Delete(arriving, recursive: true);
        }
    }

    /// <summary>Reads and decodes the segment again and again for <paramref name="duration"/> after a warm-up.</summary>
    private static (double MutationsPerSecond, double MegabytesPerSecond, double AllocatedPerMutation) Decode(byte[] data, Guid tableId, TimeSpan duration)
    {
        var decoder = new MutationDecoder(new CassandraSchema([CassandraFixtures.Standard1(tableId)]));
        var handler = new CountingHandler();
        var warmUp = Stopwatch.StartNew();
        while (warmUp.ElapsedMilliseconds < 1000)
        {
            Round(data, decoder, ref handler, out _);
        }

        var before = GC.GetAllocatedBytesForCurrentThread();
        var mutations = Round(data, decoder, ref handler, out var written);
        var allocated = (double)(GC.GetAllocatedBytesForCurrentThread() - before) / mutations;
        long total = 0;
        var rounds = 0;
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed < duration)
        {
            total += Round(data, decoder, ref handler, out _);
            rounds++;
        }

        var seconds = clock.Elapsed.TotalSeconds;
        return (total / seconds, rounds * (double)written / seconds / 1e6, allocated);
    }

    /// <summary>One pass over the segment; <paramref name="written"/> is where its last section ends. Allocates the reader
    /// (counted in the bytes per mutation).</summary>
    private static int Round(byte[] data, MutationDecoder decoder, ref CountingHandler handler, out long written)
    {
        using var reader = new CommitLogSegmentReader(File40, data);
        var count = 0;
        while (reader.TryReadEntry(out var entry))
        {
            decoder.Decode(entry.Mutation, File40, entry.Offset + 8, ref handler);
            count++;
        }

        written = reader.Sections.Count == 0 ? 0 : reader.Sections[^1].Next;
        return count;
    }

    /// <summary>Whether a mutation's (first) partition update is of table <paramref name="id"/>: its count is one byte (1),
    /// then the table id, most significant half first.</summary>
    private static bool IsOf(byte[] mutation, Guid id) => mutation.Length > 17 && mutation.AsSpan(1, 16).SequenceEqual(id.ToByteArray(bigEndian: true));

    /// <summary>Whether a stored position as the source's status shows it (<c>node@segment:offset</c>) is at or after the
    /// given one.</summary>
    private static bool Reached(string stored, long segment, int offset)
    {
        var log = CommitLogPosition.Parse(stored[(stored.LastIndexOf('@') + 1)..]);
        return log >= new CommitLogPosition(segment, offset);
    }

    /// <summary>Counts rows and cells, so that the decoding is not optimised away.</summary>
    private struct CountingHandler : IMutationHandler
    {
        public long Rows;
        public long Cells;

        public void OnPartition(in PartitionUpdate partition)
        {
        }

        public void OnRow(in RowHeader row) => Rows++;

        public void OnComplexDeletion(in RowHeader row, CassandraColumn column, DeletionTime deletion)
        {
        }

        public void OnCell(in RowHeader row, in Cell cell) => Cells++;

        public void OnRangeTombstone(in RangeTombstoneMarker marker)
        {
        }
    }

    private sealed class StderrLoggerProvider : ILoggerProvider
    {
        public ILogger CreateLogger(string categoryName) => new StderrLogger();

        public void Dispose()
        {
        }
    }
}
