using System.Security.Cryptography;
using DataMesh.Connectors.Cassandra;
using DataMesh.Connectors.Cassandra.CommitLog;
using DataMesh.Connectors.Cassandra.Schema;
using Xunit;

namespace DataMesh.Tests.Cassandra;

/// <summary>
/// The fixtures hold no compressed segment: the 4.0.11 segment's real mutations are written again as compressed segments
/// (laid out as Cassandra's CompressedSegment does, each compressor's output as its ICompressor makes it) and as an
/// encrypted one with several chunks per section, and must give the same cells and hash as the original.
/// </summary>
public sealed class CompressedSegmentTests
{
    private const string Version = "4.0.11-encrypted";
    private const string Name = "CommitLog-7-1699285478684.log";

    [Theory]
    [InlineData("LZ4Compressor")]
    [InlineData("SnappyCompressor")]
    [InlineData("DeflateCompressor")]
    [InlineData("ZstdCompressor")]
    [InlineData("org.apache.cassandra.io.compress.LZ4Compressor")]
    public void A_compressed_segment_decodes_to_the_same_cells_and_hash(string compressor)
    {
        var mutations = SegmentWriter.Mutations(Name, File.ReadAllBytes(CassandraFixtures.Segment(Version, Name)));
        var segment = SegmentWriter.Compressed(7, 1699285478684, compressor, [mutations.Take(3), mutations.Skip(3).Take(100), mutations.Skip(103)]);

        var read = Read(segment, new CommitLogReaderOptions());

        var expected = CassandraFixtures.Expected(Version);
        Assert.Equal((expected.Cells, expected.Hash), (read.Cells, read.Hash));
        Assert.Equal(358, read.Entries);
        var sections = read.Segments[Name].Sections;
        Assert.Equal([3, 100, 255, 0], sections.Select(s => s.Entries));
        // Logical layout: each section takes its marker's 8 bytes and its uncompressed length.
        Assert.Equal(sections[0].LogicalStart + 8 + sections[0].Length, sections[1].LogicalStart);
        Assert.Equal(CommitLogEnd.FileEnd, read.Segments[Name].End);
    }

    [Fact]
    public void Deflate_data_asking_for_a_preset_dictionary_are_refused_with_a_reason_not_thrown()
    {
        // A zlib header with FDICT set (78 20): inflate answers Z_NEED_DICT, which .NET throws as an IOException.
        byte[] input = [0x78, 0x20, 0x01, 0x02, 0x03, 0x04, 0x03, 0x00];
        var problem = SectionCodecs.Decompress(SectionCodecs.Codec.Deflate, input, new byte[16]);
        Assert.NotNull(problem);
        Assert.Contains("zlib", problem, StringComparison.Ordinal);
    }

    [Fact]
    public void An_encrypted_segment_with_small_chunks_joins_entries_across_chunks()
    {
        var mutations = SegmentWriter.Mutations(Name, File.ReadAllBytes(CassandraFixtures.Segment(Version, Name)));
        var key = RandomNumberGenerator.GetBytes(16);
        var iv = RandomNumberGenerator.GetBytes(16);
        var segment = SegmentWriter.Encrypted(7, 1699285478684, key, iv, "testing:2", [mutations.Take(200), mutations.Skip(200)], chunk: 1000);
        var options = new CommitLogReaderOptions();
        options.EncryptionKeys["Testing:2"] = key;

        var read = Read(segment, options);

        var expected = CassandraFixtures.Expected(Version);
        Assert.Equal((expected.Cells, expected.Hash), (read.Cells, read.Hash));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void A_durable_offset_in_logical_terms_stops_a_compressed_or_encrypted_segment_after_the_sections_before_it(bool encrypted)
    {
        var mutations = SegmentWriter.Mutations(Name, File.ReadAllBytes(CassandraFixtures.Segment(Version, Name)));
        var key = RandomNumberGenerator.GetBytes(16);
        List<IEnumerable<byte[]>> sections = [mutations.Take(3), mutations.Skip(3).Take(100), mutations.Skip(103)];
        var segment = encrypted
            ? SegmentWriter.Encrypted(7, 1699285478684, key, RandomNumberGenerator.GetBytes(16), "k", sections)
            : SegmentWriter.Compressed(7, 1699285478684, "ZstdCompressor", sections);
        var options = new CommitLogReaderOptions();
        options.EncryptionKeys["k"] = key;
        long secondEnd;
        using (var whole = new CommitLogSegmentReader(Name, segment, options))
        {
            while (whole.TryReadEntry(out _))
            {
            }

            secondEnd = whole.Sections[1].LogicalStart + 8 + whole.Sections[1].Length;
        }

        using var reader = new CommitLogSegmentReader(Name, segment, options, durableOffset: secondEnd);
        var entries = 0;
        long last = 0;
        while (reader.TryReadEntry(out var entry))
        {
            entries++;
            last = entry.End;
        }

        Assert.Equal(103, entries);
        Assert.Equal(secondEnd, last);
        Assert.Equal(CommitLogEnd.DurableOffset, reader.End);
    }

    [Fact]
    public void A_corrupt_compressed_section_names_the_file_offset_of_its_data()
    {
        var mutations = SegmentWriter.Mutations(Name, File.ReadAllBytes(CassandraFixtures.Segment(Version, Name)));
        var segment = SegmentWriter.Compressed(7, 1699285478684, "LZ4Compressor", [mutations]);
        var header = SegmentWriter.Header(7, 1699285478684, "{\"compressionClass\":\"LZ4Compressor\",\"compressionParameters\":{}}").Length;
        segment[header + 12 + 4] ^= 0xFF;

        var error = Assert.Throws<CommitLogFormatException>(() => Read(segment, new CommitLogReaderOptions()));

        Assert.Equal(CommitLogError.Corrupt, error.Error);
        Assert.Equal(header + 12, error.Offset);
    }

    private static SegmentsRead Read(byte[] segment, CommitLogReaderOptions options) =>
        SegmentsRead.Read([(Name, segment)], new CassandraSchema(CassandraFixtures.Standard1(CassandraFixtures.Expected(Version).TableId)), options);
}
