using DataMesh.Connectors.Cassandra;
using DataMesh.Connectors.Cassandra.CommitLog;
using DataMesh.Connectors.Cassandra.Mutations;
using DataMesh.Connectors.Cassandra.Schema;
using Xunit;
using Xunit.Abstractions;

namespace DataMesh.Tests.Cassandra;

/// <summary>
/// Damaged segments made from the real 4.0.11 and 3.4 ones: each gives a <see cref="CommitLogFormatException"/> of the
/// right kind that names the segment and the byte offset, after the entries before the damage were returned.
/// The 4.0.11 segment: header 0–19, marker at 20, first entry at 28 (352 bytes: size CRC at 32, mutation CRC at 388),
/// last section 1576–75003 whose last entry ends at 75003.
/// </summary>
public sealed class CommitLogErrorTests(ITestOutputHelper output)
{
    private const string Name = "CommitLog-7-1699285478684.log";

    private static byte[] Segment40() => File.ReadAllBytes(CassandraFixtures.Segment("4.0.11-encrypted", Name));

    [Fact]
    public void A_torn_last_entry_is_reported_as_truncated_at_the_entrys_offset_after_the_entries_before_it()
    {
        var whole = Segment40();
        var lastEntry = LastEntryOffset(whole);
        var torn = whole.AsSpan(0, 74_990).ToArray();
        using var reader = new CommitLogSegmentReader(Name, torn);
        var entries = 0;

        var error = Assert.Throws<CommitLogFormatException>(() =>
        {
            while (reader.TryReadEntry(out _))
            {
                entries++;
            }
        });

        output.WriteLine(error.Message);
        Assert.Equal(CommitLogError.Truncated, error.Error);
        Assert.Equal(357, entries);
        Assert.Equal(lastEntry, error.Offset);
        Assert.Contains(Name, error.Message, StringComparison.Ordinal);
        Assert.Contains($"byte {lastEntry}", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_segment_cut_between_entries_of_a_section_is_truncated_at_the_files_end()
    {
        var whole = Segment40();
        var cut = whole.AsSpan(0, (int)LastEntryOffset(whole)).ToArray();
        using var reader = new CommitLogSegmentReader(Name, cut);

        var error = Assert.Throws<CommitLogFormatException>(() => Drain(reader));

        Assert.Equal(CommitLogError.Truncated, error.Error);
        Assert.Equal(cut.Length, error.Offset);
    }

    [Fact]
    public void A_torn_encrypted_segment_is_truncated_at_the_files_end()
    {
        var path = CassandraFixtures.Segment("3.4-encrypted", "CommitLog-6-1480001790338.log");
        var torn = File.ReadAllBytes(path).AsSpan(0, 1_000_000).ToArray();
        using var reader = new CommitLogSegmentReader("CommitLog-6-1480001790338.log", torn, CassandraFixtures.Options());

        var error = Assert.Throws<CommitLogFormatException>(() => Drain(reader));

        Assert.Equal(CommitLogError.Truncated, error.Error);
        Assert.Equal(1_000_000, error.Offset);
        Assert.Contains("marker is at 125", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_torn_encrypted_section_ends_a_complete_segment_but_a_plain_file_cut_inside_a_section_stays_truncated()
    {
        var path = CassandraFixtures.Segment("3.4-encrypted", "CommitLog-6-1480001790338.log");
        var torn = File.ReadAllBytes(path).AsSpan(0, 1_000_000).ToArray();
        using var encrypted = new CommitLogSegmentReader("CommitLog-6-1480001790338.log", torn, CassandraFixtures.Options(), complete: true);
        Drain(encrypted);
        Assert.Equal((CommitLogEnd.TornSection, 125, 1_452_345 - 1_000_000), (encrypted.End, encrypted.EndOffset, encrypted.MissingBytes));

        // A plain segment is pre-sized: a crash leaves zeros, not a short file.
        var whole = Segment40();
        using var plain = new CommitLogSegmentReader(Name, whole.AsSpan(0, 74_990).ToArray(), complete: true);
        Assert.Equal(CommitLogError.Truncated, Assert.Throws<CommitLogFormatException>(() => Drain(plain)).Error);
    }

    [Theory]
    [InlineData(32, 28, "entry size CRC mismatch")]
    [InlineData(389, 28, "mutation CRC mismatch")]
    [InlineData(100, 28, "mutation CRC mismatch")]
    [InlineData(25, 20, "sync marker CRC mismatch")]
    [InlineData(21, 467, "entry size CRC mismatch")] // the marker's next offset is not under its CRC: the reader meets the next marker as an entry
    [InlineData(16, 16, "header CRC mismatch")]
    [InlineData(5, 16, "header CRC mismatch")]
    public void A_corrupted_crc_or_the_bytes_it_covers_fail_with_the_offset_of_what_they_cover(int flipped, long reported, string what)
    {
        var data = Segment40();
        data[flipped] ^= 0x01;

        var error = Assert.Throws<CommitLogFormatException>(() =>
        {
            using var reader = new CommitLogSegmentReader(Name, data);
            Drain(reader);
        });

        output.WriteLine(error.Message);
        Assert.Equal(CommitLogError.Corrupt, error.Error);
        Assert.Equal(reported, error.Offset);
        Assert.Contains(what, error.Message, StringComparison.Ordinal);
        Assert.StartsWith($"commit-log segment {Name}, byte {reported}: ", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(5)]
    [InlineData(8)]
    [InlineData(9)]
    public void An_unknown_commit_log_version_is_unsupported_and_says_which_versions_are_known(int version)
    {
        var data = SegmentWriter.Plain(version, 1699285478684, [SegmentWriter.Mutations(Name, Segment40()).Take(3)]);

        var error = Assert.Throws<CommitLogFormatException>(() => new CommitLogSegmentReader($"CommitLog-{version}-1699285478684.log", data));

        output.WriteLine(error.Message);
        Assert.Equal(CommitLogError.Unsupported, error.Error);
        Assert.Equal(0, error.Offset);
        Assert.Contains($"commit-log version {version} is not supported", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void An_unknown_compressor_is_unsupported()
    {
        var data = SegmentWriter.Header(7, 1, "{\"compressionClass\":\"org.example.BrotliCompressor\",\"compressionParameters\":{}}");

        var error = Assert.Throws<CommitLogFormatException>(() => new CommitLogSegmentReader("CommitLog-7-1.log", data));

        Assert.Equal(CommitLogError.Unsupported, error.Error);
        Assert.Contains("BrotliCompressor", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_mutation_that_does_not_fit_its_table_names_the_segment_offset_and_column()
    {
        // Valid framing and CRCs around a mutation cut inside its cell value (the longest one's, of 255 bytes).
        var table = CassandraFixtures.Expected("4.0.11-encrypted").TableId;
        var mutation = SegmentWriter.Mutations(Name, Segment40())
            .Where(m => MutationDecoder.TryReadFirstTableId(m, out var id) && id == table)
            .MaxBy(m => m.Length)![..^3];
        var data = SegmentWriter.Plain(7, 1699285478684, [[mutation]]);
        var schema = new CassandraSchema(CassandraFixtures.Standard1(table));

        var error = Assert.Throws<CommitLogFormatException>(() => SegmentsRead.Read([(Name, data)], schema, new CommitLogReaderOptions()));

        output.WriteLine(error.Message);
        Assert.Equal(CommitLogError.Corrupt, error.Error);
        Assert.InRange(error.Offset, 28 + 8, 28 + 8 + mutation.Length);
        Assert.Contains("column 'val'", error.Message, StringComparison.Ordinal);
    }

    private static long LastEntryOffset(byte[] data)
    {
        using var reader = new CommitLogSegmentReader(Name, data);
        long last = -1;
        while (reader.TryReadEntry(out var entry))
        {
            last = entry.Offset;
        }

        return last;
    }

    private static void Drain(CommitLogSegmentReader reader)
    {
        while (reader.TryReadEntry(out _))
        {
        }
    }
}
