using System.Diagnostics;
using System.Globalization;
using Confluent.Kafka;
using DataMesh.Connectors.Cassandra.CommitLog;
using DataMesh.Connectors.Cassandra.Mutations;
using DataMesh.Connectors.Cassandra.Schema;
using DataMesh.Hosting;
using DataMesh.IntegrationTests.Cassandra;
using DataMesh.Sources;
using DataMesh.Tests.Cassandra;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace DataMesh.Benchmarks;

/// <summary>
/// <c>./build.sh bench cassandra [repeats] [decode seconds]</c>, over the real 4.0.11 segment of shared/fixtures/cassandra
/// (no Cassandra server can run here):
/// <list type="bullet">
/// <item>decode: the segment read (CRCs checked) and every mutation decoded, again and again in one thread: mutations/s, MB/s
/// of written segment bytes, bytes allocated per mutation (after warm-up);</item>
/// <item>end to end: the segment's mutations repeated <c>repeats</c> times into a <c>cdc_raw</c> directory as a 4.0 node
/// writes it (<see cref="CdcRawLog"/>, 32 MiB segments) and moved into <c>cdc_raw</c> once the source runs, read by the
/// Cassandra source in-process into the embedded Kafka cluster until the position after the last mutation is stored
/// (every event acknowledged), against the Kafka ceiling:
/// a bare idempotent producer sending one message per event, each the bytes of the mutation it came from.</item>
/// </list>
/// The last line is <c>cassandra: ours=… peer=… ratio=… decode=… MB/s=… allocated=…</c>.
/// </summary>
internal sealed class CassandraSuite : IBenchmarkSuite
{
    private const string Version = "4.0.11-encrypted";
    private const string File40 = "CommitLog-7-1699285478684.log";

    public string Name => "cassandra";

    public int Run(string[] args) => RunAsync(
        args.Length > 0 ? int.Parse(args[0], CultureInfo.InvariantCulture) : 200,
        TimeSpan.FromSeconds(args.Length > 1 ? double.Parse(args[1], CultureInfo.InvariantCulture) : 3)).GetAwaiter().GetResult();

    private static async Task<int> RunAsync(int repeats, TimeSpan decodeFor)
    {
        var data = File.ReadAllBytes(CassandraFixtures.Segment(Version, File40));
        var tableId = CassandraFixtures.Expected(Version).TableId;
        var (decodeRate, megabytes, allocated) = Decode(data, tableId, decodeFor);
        Console.Error.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"cassandra: decoded {decodeRate:F0} mutations/s, {megabytes:F1} MB/s of segment, {allocated:F2} B allocated per mutation ({BenchStats.CpuModel()}, load {BenchStats.LoadAverage()})"));

        // The fixture's mutations, repeated; those of Keyspace1.Standard1 (one row each) become events, the system tables' are skipped.
        var mutations = SegmentWriter.Mutations(File40, data);
        var captured = mutations.Where(m => IsOf(m, tableId)).ToList();
        var events = captured.Count * repeats;
        var directory = Directory.CreateTempSubdirectory("datamesh-bench-cdc-raw-").FullName;
        var staging = Directory.CreateTempSubdirectory("datamesh-bench-commitlog-").FullName;
        try
        {
            // Written first into a directory of their own, moved into cdc_raw once the source runs (as a node links them).
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
            Console.Error.WriteLine($"cassandra: {mutations.Count * repeats:N0} mutations ({events:N0} of the captured table) in {log.Segments} segment(s)");

            var builder = Host.CreateApplicationBuilder();
            builder.Logging.ClearProviders();
            builder.Logging.AddProvider(new StderrLoggerProvider());
            builder.Services.AddDataMesh().AddCassandraSource("bench", o =>
            {
                o.CdcRawDirectory = directory;
                o.Node = "bench";
                o.Tables.Add($"CREATE TABLE \"Keyspace1\".\"Standard1\" (key ascii, col ascii, val blob, val0 blob, PRIMARY KEY (key, col)) WITH id = {tableId} AND cdc = true");
                o.PollInterval = TimeSpan.FromMilliseconds(10);
                o.PositionSaveInterval = TimeSpan.FromMilliseconds(100);
                o.TopicPartitions = Environment.GetEnvironmentVariable("DATAMESH_BENCH_PARTITIONS") is { } p ? int.Parse(p, CultureInfo.InvariantCulture) : 1;
            });
            using var host = builder.Build();
            var monitor = host.Services.GetRequiredService<SourceMonitor>();
            await host.StartAsync();
            while (monitor.Get("bench")?.State != SourceState.Running)
            {
                await Task.Delay(5);
            }

            // Ours: from the segments' arrival in cdc_raw until the position after the last mutation is stored.
            var watch = Stopwatch.StartNew();
            foreach (var file in Directory.GetFiles(staging).OrderBy(f => f.EndsWith(".log", StringComparison.Ordinal) ? 0 : 1))
            {
                File.Move(file, Path.Combine(directory, Path.GetFileName(file)));
            }

            while (monitor.Get("bench")?.StoredPosition is not { } stored || !Reached(stored, lastSegment, lastOffset))
            {
                if (watch.Elapsed > TimeSpan.FromMinutes(10))
                {
                    throw new TimeoutException($"The source did not store position {lastSegment}:{lastOffset} within 10 minutes: {monitor.Get("bench")}");
                }

                await Task.Delay(5);
            }

            var ours = watch.Elapsed.TotalSeconds;
            Console.Error.WriteLine($"cassandra: source stored the position after {events:N0} events in {ours:F2} s");

            var kafka = host.Services.GetRequiredService<KafkaConnection>();
            var peer = BareProducer.Send(kafka, "bench.peer", [.. Enumerable.Repeat(captured, repeats).SelectMany(m => m).Select(m => new Message<byte[], byte[]> { Key = m.AsSpan(1, 16).ToArray(), Value = m })]);
            await host.StopAsync();

            var oursRate = events / ours;
            var peerRate = events / peer;
            Console.WriteLine();
            Console.WriteLine("| path | events | seconds | events/s |");
            Console.WriteLine("|---|---:|---:|---:|");
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"| cdc_raw (4.0.11 fixture repeated) -> Cassandra source -> embedded Kafka (acknowledged, position stored) | {events} | {ours:F2} | {oursRate:F0} |"));
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"| bare idempotent producer, one message per event (its mutation's bytes) -> embedded Kafka (acknowledged) | {events} | {peer:F2} | {peerRate:F0} |"));
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"cassandra: ours={oursRate:F0} events/s peer={peerRate:F0} messages/s ratio={oursRate / peerRate:F2} decode={decodeRate:F0} mutations/s decode={megabytes:F1} MB/s allocated={allocated:F2} B/mutation"));
            return 0;
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
            Directory.Delete(staging, recursive: true);
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
