using DataMesh.Connectors.Cassandra;
using DataMesh.Connectors.Cassandra.CommitLog;
using DataMesh.Connectors.Cassandra.Schema;
using Xunit;
using Xunit.Abstractions;

namespace DataMesh.Tests.Cassandra;

/// <summary>
/// The real segments of shared/fixtures/cassandra, read whole: every header, sync-marker and entry CRC checked, the 3.4
/// segments decrypted with the keystore's key, the Standard1 mutations decoded, and the cells and hash recomputed as
/// Cassandra's CommitLogUpgradeTest does, against each directory's hash.txt.
/// </summary>
public sealed class CommitLogFixtureTests(ITestOutputHelper output)
{
    public static TheoryData<string> Versions => ["3.0.13-encrypted", "3.0.29-encrypted", "3.4-encrypted", "4.0.11-encrypted"];

    [Theory]
    [MemberData(nameof(Versions))]
    public void Every_fixture_segment_decodes_to_the_cells_and_hash_of_its_hash_txt(string version)
    {
        var expected = CassandraFixtures.Expected(version);

        var read = SegmentsRead.ReadDirectory(version);

        Assert.Equal(expected.Cells, read.Cells);
        Assert.Equal(expected.Hash, read.Hash);
        Assert.Equal(read.ByTable.GetValueOrDefault(expected.TableId), read.Decoded);
        output.WriteLine($"{version}: {read.Entries} entries, {read.Decoded} Standard1 mutations, cells={read.Cells} hash={read.Hash}");
    }

    [Fact]
    public void The_4_0_11_segment_has_the_sections_and_entries_the_readme_lists()
    {
        var read = SegmentsRead.ReadDirectory("4.0.11-encrypted");

        var segment = read.Segments["CommitLog-7-1699285478684.log"];
        Assert.Equal(
            [(20, 467, 439, 2), (467, 1576, 1101, 1), (1576, 75003, 73419, 355), (75003, 75011, 0, 0)],
            segment.Sections.Select(s => (s.MarkerOffset, s.Next, s.Length, s.Entries)));
        Assert.Equal(CommitLogEnd.ZeroedMarker, segment.End);
        Assert.Equal(75011, segment.EndOffset);
        Assert.Equal(358, read.Entries);
        Assert.Equal(2, read.ByTable[Guid.Parse("7ad54392-bcdd-35a6-8417-4e047860b377")]);
        Assert.Equal(1, read.ByTable[Guid.Parse("24101c25-a2ae-3af7-87c1-b40ee1aca33f")]);
        Assert.Equal(355, read.ByTable[CassandraFixtures.Expected("4.0.11-encrypted").TableId]);
    }

    [Fact]
    public void The_3_0_segments_have_the_sections_and_entries_the_readme_lists()
    {
        var read29 = SegmentsRead.ReadDirectory("3.0.29-encrypted");
        var read13 = SegmentsRead.ReadDirectory("3.0.13-encrypted");

        var sections29 = read29.Segments["CommitLog-6-1699279786262.log"];
        Assert.Equal([1, 1, 2, 1, 4, 6, 2, 17, 2, 8, 13, 6, 2, 109, 2], sections29.Sections.Select(s => s.Entries));
        Assert.Equal(66716, sections29.EndOffset);
        Assert.Equal(176, read29.Entries);
        Assert.Equal(
            new Dictionary<Guid, int>
            {
                [Guid.Parse("7ad54392-bcdd-35a6-8417-4e047860b377")] = 10,
                [Guid.Parse("24101c25-a2ae-3af7-87c1-b40ee1aca33f")] = 10,
                [Guid.Parse("9f5c6374-d485-3229-9a0a-5094af9ad1e3")] = 6,
                [Guid.Parse("5a1ff267-ace0-3f12-8563-cfae6103c65e")] = 41,
                [Guid.Parse("b4dbb7b4-dc49-3fb5-b3bf-ce6e434832ca")] = 11,
                [CassandraFixtures.Expected("3.0.29-encrypted").TableId] = 98,
            },
            read29.ByTable);
        Assert.Equal([(20, 335871, 335843, 1480), (335871, 335879, 0, 0)], read13.Segments["CommitLog-6-1699284515156.log"].Sections.Select(s => (s.MarkerOffset, s.Next, s.Length, s.Entries)));
        Assert.Equal([(20, 28, 0, 0)], read13.Segments["CommitLog-6-1699284515157.log"].Sections.Select(s => (s.MarkerOffset, s.Next, s.Length, s.Entries)));
        Assert.Equal(1480, read13.Entries);
    }

    [Fact]
    public void The_encrypted_3_4_segments_decrypt_into_the_sections_the_readme_lists()
    {
        var read = SegmentsRead.ReadDirectory("3.4-encrypted");

        var first = read.Segments["CommitLog-6-1480001790338.log"];
        Assert.Equal([(125, 1452345, 125L, 2949446, 14562), (1452345, 1452357, 125L + 8 + 2949446, 0, 0)], first.Sections.Select(s => (s.MarkerOffset, s.Next, s.LogicalStart, s.Length, s.Entries)));
        Assert.Equal(CommitLogEnd.FileEnd, first.End);
        var second = read.Segments["CommitLog-6-1480001790339.log"];
        Assert.Equal([(125, 137, 125L, 0, 0)], second.Sections.Select(s => (s.MarkerOffset, s.Next, s.LogicalStart, s.Length, s.Entries)));
        Assert.Equal(14562, read.Entries);
    }

    [Fact]
    public void Entries_of_an_encrypted_segment_carry_cassandras_logical_positions()
    {
        var path = CassandraFixtures.Segment("3.4-encrypted", "CommitLog-6-1480001790338.log");
        using var reader = new CommitLogSegmentReader(Path.GetFileName(path), File.ReadAllBytes(path), CassandraFixtures.Options());

        Assert.True(reader.TryReadEntry(out var first));
        Assert.Equal(133, first.Offset);
        Assert.Equal(1044, first.Mutation.Length);
        Assert.Equal(new CommitLogPosition(1480001790338, 133 + 1044 + 12), first.Position);
        var last = first.End;
        while (reader.TryReadEntry(out var entry))
        {
            Assert.Equal(last, entry.Offset);
            last = entry.End;
        }

        Assert.Equal(2949579, last);
    }

    [Fact]
    public void Every_segment_header_names_its_version_and_id_and_the_3_4_ones_their_cipher()
    {
        foreach (var version in Versions)
        {
            foreach (var path in CassandraFixtures.Segments(version))
            {
                using var reader = new CommitLogSegmentReader(Path.GetFileName(path), File.ReadAllBytes(path), CassandraFixtures.Options());
                var parts = Path.GetFileNameWithoutExtension(path).Split('-');
                Assert.Equal(int.Parse(parts[1], System.Globalization.CultureInfo.InvariantCulture), reader.Descriptor.Version);
                Assert.Equal(long.Parse(parts[2], System.Globalization.CultureInfo.InvariantCulture), reader.Descriptor.Id);
                Assert.Equal(version == "3.4-encrypted", reader.Descriptor.IsEncrypted);
                Assert.False(reader.Descriptor.IsCompressed);
                if (reader.Descriptor.IsEncrypted)
                {
                    Assert.Equal("AES/CBC/PKCS5Padding", reader.Descriptor.Cipher);
                    Assert.Equal("testing:1", reader.Descriptor.KeyAlias);
                    Assert.Equal(125, reader.Descriptor.HeaderLength);
                }
                else
                {
                    Assert.Equal("{}", reader.Descriptor.Parameters);
                }
            }
        }
    }

    [Theory]
    [InlineData("4.0.11-encrypted", "CommitLog-7-1699285478684.log", 40_000)]
    [InlineData("3.0.13-encrypted", "CommitLog-6-1699284515156.log", 200_000)]
    [InlineData("3.4-encrypted", "CommitLog-6-1480001790338.log", 700_000)]
    public void A_flipped_byte_fails_the_read_with_an_error_naming_the_segment_and_offset(string version, string file, int at)
    {
        var data = File.ReadAllBytes(CassandraFixtures.Segment(version, file));
        data[at] ^= 0x20;

        var error = Assert.Throws<CommitLogFormatException>(() => SegmentsRead.Read([(file, data)], new CassandraSchema(CassandraFixtures.Standard1(CassandraFixtures.Expected(version).TableId)), CassandraFixtures.Options()));

        output.WriteLine(error.Message);
        Assert.Equal(CommitLogError.Corrupt, error.Error);
        Assert.Equal(file, error.Segment);
        Assert.Contains(file, error.Message, StringComparison.Ordinal);
        Assert.Contains($"byte {error.Offset}", error.Message, StringComparison.Ordinal);
        Assert.InRange(error.Offset, 0, version == "3.4-encrypted" ? 2_949_579 : at);
    }

    [Fact]
    public void A_value_changed_under_valid_crcs_changes_the_hash_so_the_hash_check_can_fail()
    {
        const string version = "4.0.11-encrypted";
        const string file = "CommitLog-7-1699285478684.log";
        var expected = CassandraFixtures.Expected(version);
        var mutations = SegmentWriter.Mutations(file, File.ReadAllBytes(CassandraFixtures.Segment(version, file)));
        // The last byte of a Standard1 mutation ends its partition; the one before is its cell value's last byte.
        var changed = mutations.FindLastIndex(m => Connectors.Cassandra.Mutations.MutationDecoder.TryReadFirstTableId(m, out var id) && id == expected.TableId && m[^2] != 0);
        mutations[changed][^2] ^= 0x01;
        var segment = SegmentWriter.Plain(7, 1699285478684, [mutations]);

        var read = SegmentsRead.Read([(file, segment)], new CassandraSchema(CassandraFixtures.Standard1(expected.TableId)), new CommitLogReaderOptions());

        Assert.Equal(expected.Cells, read.Cells);
        Assert.NotEqual(expected.Hash, read.Hash);
    }

    [Fact]
    public void A_segment_read_without_the_key_of_its_alias_says_which_alias_to_configure()
    {
        var path = CassandraFixtures.Segment("3.4-encrypted", "CommitLog-6-1480001790338.log");

        var error = Assert.Throws<CommitLogFormatException>(() => new CommitLogSegmentReader("CommitLog-6-1480001790338.log", File.ReadAllBytes(path)));

        Assert.Equal(CommitLogError.Unsupported, error.Error);
        Assert.Contains("'testing:1'", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_segment_read_with_the_wrong_key_fails_on_its_first_chunk()
    {
        var path = CassandraFixtures.Segment("3.4-encrypted", "CommitLog-6-1480001790338.log");
        var options = new CommitLogReaderOptions();
        options.EncryptionKeys["testing:1"] = Convert.FromHexString("5b580ef7c05053e49aa4244736ae5744");
        using var reader = new CommitLogSegmentReader("CommitLog-6-1480001790338.log", File.ReadAllBytes(path), options);

        var error = Assert.Throws<CommitLogFormatException>(() => reader.TryReadEntry(out _));

        output.WriteLine(error.Message);
        Assert.Equal(137, error.Offset);
    }
}
