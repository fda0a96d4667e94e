using System.Diagnostics;
using DataMesh.Connectors.Cassandra;
using DataMesh.Connectors.Cassandra.Mutations;
using DataMesh.Connectors.Cassandra.Schema;
using Xunit;
using Xunit.Abstractions;

namespace DataMesh.Tests.Cassandra;

/// <summary>
/// Bit flips through the whole reader (header, markers, entries, decryption, decompression) and, re-framed with valid
/// CRCs, through the mutation decoder: the only exception allowed is <see cref="CommitLogFormatException"/>. Fixed
/// seeds, bounded by count and time (a few seconds); set DATAMESH_FUZZ_ITERATIONS for a longer run.
/// </summary>
public sealed class CommitLogFuzzTests(ITestOutputHelper output)
{
    private static readonly int Iterations = int.TryParse(Environment.GetEnvironmentVariable("DATAMESH_FUZZ_ITERATIONS"), out var n) ? n : 1000;
    private static readonly TimeSpan Budget = TimeSpan.FromSeconds(3);

    [Fact]
    public void Bit_flips_in_real_segments_give_only_the_documented_error()
    {
        var fixtures = new[]
        {
            ("4.0.11-encrypted", "CommitLog-7-1699285478684.log", 75_011),
            ("3.0.29-encrypted", "CommitLog-6-1699279786262.log", 66_724),
            ("3.4-encrypted", "CommitLog-6-1480001790339.log", 137),
            ("3.4-encrypted", "CommitLog-6-1480001790338.log", 1_452_357),
        };
        var random = new Random(20261203);
        var clock = Stopwatch.StartNew();
        int runs = 0, detected = 0;
        foreach (var (version, file, written) in fixtures)
        {
            var original = File.ReadAllBytes(CassandraFixtures.Segment(version, file));
            var schema = new CassandraSchema(CassandraFixtures.Standard1(CassandraFixtures.Expected(version).TableId));
            var iterations = file.EndsWith("338.log", StringComparison.Ordinal) ? 10 : Iterations;
            for (var i = 0; i < iterations && clock.Elapsed < Budget; i++, runs++)
            {
                var data = (byte[])original.Clone();
                var flips = random.Next(1, 4);
                for (var f = 0; f < flips; f++)
                {
                    data[random.Next(written)] ^= (byte)(1 << random.Next(8));
                }

                try
                {
                    SegmentsRead.Read([(file, data)], schema, CassandraFixtures.Options());
                }
                catch (CommitLogFormatException)
                {
                    detected++;
                }
                catch (Exception ex)
                {
                    Assert.Fail($"{file}, iteration {i}: {ex.GetType().Name}: {ex.Message}\n{ex.StackTrace}");
                }
            }
        }

        output.WriteLine($"{runs} mutated segments in {clock.ElapsedMilliseconds} ms, {detected} detected");
        Assert.True(detected > runs * 9 / 10, $"only {detected} of {runs} flips were detected");
    }

    [Fact]
    public void Bit_flips_in_mutations_under_valid_crcs_give_only_the_documented_error()
    {
        var version = "4.0.11-encrypted";
        var file = "CommitLog-7-1699285478684.log";
        var mutations = SegmentWriter.Mutations(file, File.ReadAllBytes(CassandraFixtures.Segment(version, file)));
        mutations.Add(MutationDecodingTests.EverythingMutation());
        var decoder = new MutationDecoder(new CassandraSchema(CassandraFixtures.Standard1(CassandraFixtures.Expected(version).TableId), MutationDecodingTests.Everything()));
        var random = new Random(7);
        var clock = Stopwatch.StartNew();
        int runs = 0, failed = 0;
        for (; runs < Iterations * 100 && clock.Elapsed < Budget; runs++)
        {
            var mutation = (byte[])mutations[random.Next(2) == 0 ? ^1 : random.Next(mutations.Count)].Clone();
            var flips = random.Next(1, 4);
            for (var f = 0; f < flips; f++)
            {
                mutation[random.Next(mutation.Length)] ^= (byte)(1 << random.Next(8));
            }

            var hash = new ValueTouchingHandler();
            try
            {
                decoder.Decode(mutation, file, 28, ref hash);
            }
            catch (CommitLogFormatException)
            {
                failed++;
            }
            catch (Exception ex)
            {
                Assert.Fail($"iteration {runs}: {ex.GetType().Name}: {ex.Message}\n{ex.StackTrace}");
            }
        }

        output.WriteLine($"{runs} mutated mutations in {clock.ElapsedMilliseconds} ms, {failed} rejected");
        Assert.True(runs > 100);
    }

    /// <summary>Reads every span handed over, so that a span pointing outside the mutation would fail.</summary>
    private struct ValueTouchingHandler : IMutationHandler
    {
        private int _sum;

        public void OnPartition(in PartitionUpdate partition)
        {
            _sum += partition.Key.Length;
            for (var i = 0; i < partition.Table.PartitionKey.Count; i++)
            {
                _sum += partition.TryGetKeyComponent(i, out var component) ? component.Length : 0;
            }
        }

        public void OnRow(in RowHeader row)
        {
            for (var i = 0; i < row.Clustering.Count; i++)
            {
                _sum += row.Clustering[i].Length;
            }
        }

        public void OnComplexDeletion(in RowHeader row, CassandraColumn column, DeletionTime deletion) => _sum++;

        public void OnCell(in RowHeader row, in Cell cell)
        {
            _sum += cell.Value.Length + cell.Path.Length;
            _ = cell.ValueType;
        }

        public void OnRangeTombstone(in RangeTombstoneMarker marker)
        {
            for (var i = 0; i < marker.Prefix.Count; i++)
            {
                _sum += marker.Prefix[i].Length;
            }
        }
    }
}
