using System.Security.Cryptography;
using DataMesh.Connectors.Cassandra;
using DataMesh.Connectors.Cassandra.Cdc;
using DataMesh.Connectors.Cassandra.CommitLog;
using DataMesh.Connectors.Cassandra.Mutations;
using DataMesh.Connectors.Cassandra.Schema;
using DataMesh.Sources;
using Xunit;

namespace DataMesh.Tests.Cassandra;

/// <summary>
/// A <c>cdc_raw</c> directory filled the way a Cassandra 4.0 node fills it (the segment pre-sized and written section by
/// section, its <c>_cdc.idx</c> rewritten after each sync, emptied while rewritten, <c>COMPLETED</c> at the end), with the
/// real mutations of the 4.0.11 fixture segment: every entry is handed over once, in order, and a segment is deleted
/// only once acknowledged past its last entry.
/// </summary>
public sealed class CdcRawFollowerTests : IDisposable
{
    private const string Version = "4.0.11-encrypted";
    private readonly string _directory = Directory.CreateTempSubdirectory("datamesh-cdc-raw-").FullName;
    private readonly List<byte[]> _mutations = CassandraFixtures.Mutations40();

    [Fact]
    public void A_segment_is_read_as_its_cdc_index_grows_and_every_entry_is_handed_over_once()
    {
        var whole = SegmentWriter.Plain(7, 100, [_mutations.Take(3), _mutations.Skip(3).Take(150), _mutations.Skip(153)]);
        var ends = SectionEnds(whole);
        var path = Path.Combine(_directory, "CommitLog-7-100.log");
        var follower = new CdcRawFollower(_directory);
        var collected = new Collected(CassandraFixtures.Expected(Version).TableId);
        var position = new CommitLogPosition(0, 0);

        // Created and linked, not yet synced: no index.
        File.WriteAllBytes(path, Prefix(whole, 0));
        position = follower.Poll(position, collected.Add);
        Assert.Equal(0, collected.Entries);

        foreach (var (end, completed) in new[] { (ends[0], false), (ends[1], false), (ends[2], true) })
        {
            File.WriteAllBytes(path, Prefix(whole, end));
            File.WriteAllText(CdcIndex.PathOf(path), string.Empty);
            Assert.Equal(position, follower.Poll(position, collected.Add));
            File.WriteAllText(CdcIndex.PathOf(path), completed ? $"{end}\nCOMPLETED" : $"{end}");
            position = follower.Poll(position, collected.Add);
            Assert.Equal(end, position.Offset);
        }

        Assert.Equal(358, collected.Entries);
        var expected = CassandraFixtures.Expected(Version);
        Assert.Equal((expected.Cells, expected.Hash), (collected.Hash.Cells, collected.Hash.Hash));
        Assert.Equal(new CommitLogPosition(100, ends[2]), position);
        Assert.Equal(position, follower.Poll(position, collected.Add));
        Assert.Equal(358, collected.Entries);
    }

    [Fact]
    public void Polls_bounded_to_some_entries_hand_over_every_entry_once_and_complete_the_segment_only_at_its_end()
    {
        var path = Path.Combine(_directory, "CommitLog-7-100.log");
        File.WriteAllBytes(path, SegmentWriter.Plain(7, 100, [_mutations.Take(200), _mutations.Skip(200)]));
        var end = SectionEnds(File.ReadAllBytes(path))[^1];
        File.WriteAllText(CdcIndex.PathOf(path), $"{end}\nCOMPLETED");
        var follower = new CdcRawFollower(_directory);
        var collected = new Collected(CassandraFixtures.Expected(Version).TableId);
        var position = new CommitLogPosition(0, 0);
        var polls = 0;
        while (true)
        {
            var next = follower.Poll(position, collected.Add, maxEntries: 100);
            if (next == position)
            {
                break;
            }

            polls++;
            Assert.Empty(follower.DeleteAcknowledged(next == new CommitLogPosition(100, end) ? position : next));
            position = next;
        }

        Assert.Equal((4, 358), (polls, collected.Entries));
        var expected = CassandraFixtures.Expected(Version);
        Assert.Equal((expected.Cells, expected.Hash), (collected.Hash.Cells, collected.Hash.Hash));
        Assert.Equal(["CommitLog-7-100.log"], follower.DeleteAcknowledged(position));
    }

    [Fact]
    public void A_poll_stopped_after_some_entries_is_read_on_by_the_next_poll_from_its_position_without_reading_the_file_again()
    {
        var path = Path.Combine(_directory, "CommitLog-7-100.log");
        var whole = SegmentWriter.Plain(7, 100, [_mutations.Take(200), _mutations.Skip(200)]);
        var ends = SectionEnds(whole);
        File.WriteAllBytes(path, whole);
        File.WriteAllText(CdcIndex.PathOf(path), $"{ends[1]}\nCOMPLETED");
        var follower = new CdcRawFollower(_directory);
        var table = CassandraFixtures.Expected(Version).TableId;
        var collected = new Collected(table);
        var first = follower.Poll(new CommitLogPosition(0, 0), collected.Add, maxEntries: 100);
        Assert.Equal(100, collected.Entries);

        // Were the file read again, its zeroed header would fail: the poll from the position returned reads on.
        File.WriteAllBytes(path, new byte[whole.Length]);
        var second = follower.Poll(first, collected.Add, maxEntries: 100);
        Assert.Equal(200, collected.Entries);

        // From another position (a retry from an earlier one), the file is read again from its start.
        File.WriteAllBytes(path, whole);
        var again = new Collected(table);
        Assert.Equal(second, follower.Poll(first, again.Add, maxEntries: 100));
        Assert.Equal(collected.Positions.GetRange(100, 100), again.Positions);

        Assert.Equal(new CommitLogPosition(100, ends[1]), follower.Poll(second, collected.Add));
        Assert.Equal(358, collected.Entries);
        var expected = CassandraFixtures.Expected(Version);
        Assert.Equal((expected.Cells, expected.Hash), (collected.Hash.Cells, collected.Hash.Hash));
    }

    [Fact]
    public void A_segment_whose_cdc_index_has_not_moved_is_not_read_again()
    {
        var path = Path.Combine(_directory, "CommitLog-7-100.log");
        var whole = SegmentWriter.Plain(7, 100, [_mutations.Take(100), _mutations.Skip(100)]);
        var ends = SectionEnds(whole);
        File.WriteAllBytes(path, whole);
        File.WriteAllText(CdcIndex.PathOf(path), $"{ends[0]}");
        var follower = new CdcRawFollower(_directory);
        var collected = new Collected(CassandraFixtures.Expected(Version).TableId);
        var position = follower.Poll(new CommitLogPosition(0, 0), collected.Add);
        Assert.Equal(100, collected.Entries);

        // Were the file read again, its zeroed header would fail: an idle follower does not re-read up to 32 MiB per poll.
        File.WriteAllBytes(path, new byte[whole.Length]);
        Assert.Equal(position, follower.Poll(position, collected.Add));

        File.WriteAllBytes(path, whole);
        File.WriteAllText(CdcIndex.PathOf(path), $"{ends[1]}\nCOMPLETED");
        Assert.Equal(new CommitLogPosition(100, ends[1]), follower.Poll(position, collected.Add));
        Assert.Equal(358, collected.Entries);
    }

    [Fact]
    public void A_restart_from_a_stored_position_repeats_nothing_before_it()
    {
        var path = Path.Combine(_directory, "CommitLog-7-100.log");
        File.WriteAllBytes(path, SegmentWriter.Plain(7, 100, [_mutations]));
        File.WriteAllText(CdcIndex.PathOf(path), $"{SectionEnds(File.ReadAllBytes(path))[0]}\nCOMPLETED");
        var first = new Collected(Guid.Empty);
        // The first run handed over everything, but Kafka acknowledged only the first 100 entries' events.
        new CdcRawFollower(_directory).Poll(new CommitLogPosition(0, 0), (segment, in entry) =>
        {
            if (first.Entries < 100)
            {
                first.Add(segment, entry);
            }
        });
        Assert.Equal(100, first.Entries);

        var resumed = new Collected(Guid.Empty);
        var afterHundred = first.LastPosition;
        new CdcRawFollower(_directory).Poll(afterHundred, resumed.Add);

        Assert.Equal(258, resumed.Entries);
        Assert.Equal(afterHundred.Offset, resumed.FirstOffset);
    }

    [Fact]
    public void Segments_are_deleted_only_when_acknowledged_past_their_last_entry_unless_kept()
    {
        var first = Path.Combine(_directory, "CommitLog-7-100.log");
        var second = Path.Combine(_directory, "CommitLog-7-101.log");
        File.WriteAllBytes(first, SegmentWriter.Plain(7, 100, [_mutations.Take(10)], size: 1 << 16));
        File.WriteAllBytes(second, SegmentWriter.Plain(7, 101, [_mutations.Skip(10).Take(10)], size: 1 << 16));
        File.WriteAllText(CdcIndex.PathOf(first), "65536\nCOMPLETED");
        File.WriteAllText(CdcIndex.PathOf(second), "65536\nCOMPLETED");
        var follower = new CdcRawFollower(_directory);
        var collected = new Collected(Guid.Empty);
        var last = follower.Poll(new CommitLogPosition(0, 0), collected.Add);
        Assert.Equal(20, collected.Entries);

        Assert.Empty(follower.DeleteAcknowledged(collected.Positions[8]));
        Assert.Equal(["CommitLog-7-100.log"], follower.DeleteAcknowledged(collected.Positions[12]));
        Assert.False(File.Exists(first));
        Assert.False(File.Exists(CdcIndex.PathOf(first)));
        Assert.True(File.Exists(second));
        Assert.Equal(["CommitLog-7-101.log"], follower.DeleteAcknowledged(last));
        Assert.Empty(Directory.GetFiles(_directory));

        File.WriteAllBytes(first, SegmentWriter.Plain(7, 100, [_mutations.Take(10)], size: 1 << 16));
        File.WriteAllText(CdcIndex.PathOf(first), "65536\nCOMPLETED");
        var keeping = new CdcRawFollower(_directory) { KeepSegments = true };
        var end = keeping.Poll(new CommitLogPosition(0, 0), new Collected(Guid.Empty).Add);
        Assert.Empty(keeping.DeleteAcknowledged(end));
        Assert.True(File.Exists(first));
    }

    [Fact]
    public void A_cassandra_3_segment_has_no_index_and_is_read_whole_but_a_4_0_one_waits_for_its_index()
    {
        File.WriteAllBytes(Path.Combine(_directory, "CommitLog-6-100.log"), SegmentWriter.Plain(6, 100, [_mutations.Take(5)], size: 1 << 16));
        File.WriteAllBytes(Path.Combine(_directory, "CommitLog-7-101.log"), SegmentWriter.Plain(7, 101, [_mutations.Take(5)], size: 1 << 16));
        var collected = new Collected(Guid.Empty);

        var position = new CdcRawFollower(_directory).Poll(new CommitLogPosition(0, 0), collected.Add);

        Assert.Equal(5, collected.Entries);
        Assert.Equal(100, position.SegmentId);
    }

    [Fact]
    public void A_cassandra_3_segment_moved_into_cdc_raw_after_a_newer_one_is_read_and_deleted_only_once_a_stored_position_lists_it()
    {
        // Cassandra 3.x moves a segment into cdc_raw when it discards it: 101 first, 100 later (its tables flushed later).
        File.WriteAllBytes(Path.Combine(_directory, "CommitLog-6-101.log"), SegmentWriter.Plain(6, 101, [_mutations.Take(5)], size: 1 << 16));
        var follower = new CdcRawFollower(_directory);
        follower.Resume(new CommitLogPosition(0, 0), read: []);
        var offsets = new List<(string Segment, long Offset)>();
        void Add(string segment, in CommitLogEntry entry) => offsets.Add((segment, entry.Offset));
        var position = follower.Poll(new CommitLogPosition(0, 0), Add);
        Assert.Equal((101, 5), (position.SegmentId, offsets.Count));
        Assert.Equal<long>([], follower.Read(position.SegmentId)!);

        File.WriteAllBytes(Path.Combine(_directory, "CommitLog-6-100.log"), SegmentWriter.Plain(6, 100, [_mutations.Skip(5).Take(7)], size: 1 << 16));
        Assert.Equal(position, follower.Poll(position, Add));
        Assert.Equal(12, offsets.Count);
        Assert.All(offsets.Skip(5), o => Assert.Equal("CommitLog-6-100.log", o.Segment));
        Assert.Equal<long>([100], follower.Read(position.SegmentId)!);
        Assert.Equal(position, follower.Poll(position, Add));
        Assert.Equal(12, offsets.Count);

        // The position passed 100 before its events were produced: it goes only once a stored position lists it as read.
        Assert.Equal(["CommitLog-6-101.log"], follower.DeleteAcknowledged(position));
        Assert.Empty(follower.DeleteAcknowledged(position, new HashSet<long> { 99 }));
        Assert.Equal(["CommitLog-6-100.log"], follower.DeleteAcknowledged(position, new HashSet<long> { 100 }));
        Assert.Empty(Directory.GetFiles(_directory));
        follower.Poll(position, Add);
        Assert.Equal<long>([], follower.Read(position.SegmentId)!);
    }

    [Fact]
    public void A_restart_reads_the_cassandra_3_segments_below_its_position_that_it_does_not_list_as_read()
    {
        File.WriteAllBytes(Path.Combine(_directory, "CommitLog-6-100.log"), SegmentWriter.Plain(6, 100, [_mutations.Take(5)], size: 1 << 16));
        File.WriteAllBytes(Path.Combine(_directory, "CommitLog-6-102.log"), SegmentWriter.Plain(6, 102, [_mutations.Skip(5).Take(5)], size: 1 << 16));
        var first = new CdcRawFollower(_directory) { KeepSegments = true };
        first.Resume(new CommitLogPosition(0, 0), read: null);
        var handed = new List<long>();
        void Add(string segment, in CommitLogEntry entry) => handed.Add(entry.SegmentId);
        var stored = first.Poll(new CommitLogPosition(0, 0), Add);
        var storedRead = first.Read(stored.SegmentId);
        Assert.Equal((102, 10), (stored.SegmentId, handed.Count));
        Assert.Equal<long>([100], storedRead!);

        // While the source is stopped the node discards 101, and 99 of an older run.
        File.WriteAllBytes(Path.Combine(_directory, "CommitLog-6-101.log"), SegmentWriter.Plain(6, 101, [_mutations.Skip(10).Take(3)], size: 1 << 16));
        handed.Clear();
        var resumed = new CdcRawFollower(_directory) { KeepSegments = true };
        resumed.Resume(stored, storedRead);
        Assert.Equal(stored, resumed.Poll(stored, Add));
        Assert.Equal<long>([101, 101, 101], handed);
        Assert.Equal<long>([100, 101], resumed.Read(stored.SegmentId)!);

        // A position stored before the list existed: what cdc_raw holds below it counts as read, as it did; what arrives
        // below it later is read.
        handed.Clear();
        var legacy = new CdcRawFollower(_directory) { KeepSegments = true };
        legacy.Resume(stored, read: null);
        Assert.Equal(stored, legacy.Poll(stored, Add));
        Assert.Empty(handed);
        File.WriteAllBytes(Path.Combine(_directory, "CommitLog-6-99.log"), SegmentWriter.Plain(6, 99, [_mutations.Skip(13).Take(2)], size: 1 << 16));
        legacy.Poll(stored, Add);
        Assert.Equal<long>([99, 99], handed);
        Assert.Equal<long>([99, 100, 101], legacy.Read(stored.SegmentId)!);
    }

    [Fact]
    public void A_position_lists_the_cassandra_3_segments_read_below_it_and_one_without_the_list_reads_as_before()
    {
        var one = new CassandraPosition("node1", new CommitLogPosition(102, 28), [99, 100]);
        Assert.Equal("""{"node":"node1","segment":102,"offset":28,"read":[99,100]}""", one.ToJson());
        Assert.Equal(one, CassandraPosition.Parse(one.ToJson()));
        Assert.NotEqual(one, new CassandraPosition("node1", new CommitLogPosition(102, 28), [99]));
        Assert.NotEqual(new CassandraPosition("node1", new CommitLogPosition(102, 28), []), new CassandraPosition("node1", new CommitLogPosition(102, 28)));
        Assert.Null(CassandraPosition.Parse("""{"node":"node1","segment":102,"offset":28}""").ReadOf("node1"));

        var several = new CassandraPosition([("a", new CommitLogPosition(5, 1)), ("b", new CommitLogPosition(7, 2))], replicas: true, [null, [3]]);
        Assert.Equal("""{"nodes":{"a":{"segment":5,"offset":1},"b":{"segment":7,"offset":2,"read":[3]}}}""", several.ToJson());
        Assert.Equal(several, CassandraPosition.Parse(several.ToJson()));
        Assert.Contains("read holds a negative segment id", Assert.Throws<SourceException>(() => CassandraPosition.Parse("""{"node":"n","segment":1,"offset":0,"read":[-1]}""")).Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Entries_of_a_late_cassandra_3_segment_handed_over_before_a_failed_entry_are_not_handed_over_again()
    {
        // The connector reads system_schema again when an entry names an unknown table or column, and polls again from
        // the same position: in a late 3.x segment (below the position) the entries before that one were handed over.
        MoveIn("CommitLog-6-101.log", SegmentWriter.Plain(6, 101, [_mutations.Take(5)], size: 1 << 16));
        var follower = new CdcRawFollower(_directory);
        follower.Resume(new CommitLogPosition(0, 0), read: []);
        var handed = new List<(long Segment, long Offset)>();
        var position = follower.Poll(new CommitLogPosition(0, 0), (string _, in CommitLogEntry entry) => handed.Add((entry.SegmentId, entry.Offset)));
        Assert.Equal(5, handed.Count);

        MoveIn("CommitLog-6-100.log", SegmentWriter.Plain(6, 100, [_mutations.Skip(5).Take(7)], size: 1 << 16));
        var fail = true;
        void FailAtThird(string segment, in CommitLogEntry entry)
        {
            if (fail && handed.Count == 7)
            {
                fail = false;
                throw new InvalidOperationException("the schema changed");
            }

            handed.Add((entry.SegmentId, entry.Offset));
        }

        Assert.Throws<InvalidOperationException>(() => follower.Poll(position, FailAtThird));
        Assert.Equal(position, follower.Poll(position, FailAtThird));
        Assert.Equal(7, handed.Count(h => h.Segment == 100));
        Assert.Equal(7, handed.Where(h => h.Segment == 100).Distinct().Count());
    }

    [Fact]
    public void A_late_cassandra_3_segment_left_after_some_entries_is_not_read_again_from_its_start_when_an_older_one_arrives_meanwhile()
    {
        MoveIn("CommitLog-6-102.log", SegmentWriter.Plain(6, 102, [_mutations.Take(2)], size: 1 << 16));
        var follower = new CdcRawFollower(_directory);
        follower.Resume(new CommitLogPosition(0, 0), read: []);
        var handed = new List<(long Segment, long Offset)>();
        void Add(string segment, in CommitLogEntry entry) => handed.Add((entry.SegmentId, entry.Offset));
        var position = follower.Poll(new CommitLogPosition(0, 0), Add, maxEntries: 4);
        Assert.Equal(102, position.SegmentId);

        // 101 arrives late and is larger than a poll; 100 arrives late while 101 is half read, also larger than a poll.
        MoveIn("CommitLog-6-101.log", SegmentWriter.Plain(6, 101, [_mutations.Skip(2).Take(6)], size: 1 << 16));
        Assert.Equal(position, follower.Poll(position, Add, maxEntries: 4));
        MoveIn("CommitLog-6-100.log", SegmentWriter.Plain(6, 100, [_mutations.Skip(8).Take(6)], size: 1 << 16));
        for (var i = 0; i < 5; i++)
        {
            Assert.Equal(position, follower.Poll(position, Add, maxEntries: 4));
        }

        Assert.Equal((6, 6), (handed.Count(h => h.Segment == 100), handed.Count(h => h.Segment == 101)));
        Assert.Equal(handed.Count, handed.Distinct().Count());
    }

    [Fact]
    public void A_cassandra_3_segment_copied_into_cdc_raw_is_not_taken_as_whole_before_the_copy_ends()
    {
        // Cassandra 3.x moves a discarded segment with Files.move: atomic on one file system, a copy (the target growing)
        // when cdc_raw is on another one. A reader can see the copy stopped right after a section.
        var whole = SegmentWriter.Plain(6, 100, [_mutations.Take(3), _mutations.Skip(3).Take(4)], size: 1 << 16);
        var path = Path.Combine(_directory, "CommitLog-6-100.log");
        File.WriteAllBytes(path, whole.AsSpan(0, SectionEnds(whole)[0]).ToArray());
        var follower = new CdcRawFollower(_directory) { SettleTime = TimeSpan.Zero };
        follower.Resume(new CommitLogPosition(0, 0), read: []);
        var handed = new List<(long Segment, long Offset)>();
        void Add(string segment, in CommitLogEntry entry) => handed.Add((entry.SegmentId, entry.Offset));
        var position = follower.Poll(new CommitLogPosition(0, 0), Add);
        Assert.Empty(handed);

        File.WriteAllBytes(path, whole);
        for (var i = 0; i < 3; i++)
        {
            position = follower.Poll(position, Add);
        }

        Assert.Equal(7, handed.Count);
        Assert.Equal(7, handed.Distinct().Count());
    }

    [Fact]
    public void A_position_stored_before_the_list_gets_one_at_the_first_poll_so_a_segment_arriving_between_two_later_runs_is_read()
    {
        // A position stored by a version without the list; cdc_raw empty (its segments deleted once acknowledged).
        var stored = new CommitLogPosition(102, 28);
        var first = new CdcRawFollower(_directory);
        first.Resume(stored, read: null);
        Assert.Equal(stored, first.Poll(stored, (string _, in CommitLogEntry _) => { }));

        // The run stops without having read anything: what it stores is the position and its list.
        var list = first.Read(stored.SegmentId);

        // The node discards an older segment while the source is stopped.
        MoveIn("CommitLog-6-101.log", SegmentWriter.Plain(6, 101, [_mutations.Take(3)], size: 1 << 16));
        var handed = new List<long>();
        var second = new CdcRawFollower(_directory);
        second.Resume(stored, list);
        second.Poll(stored, (string _, in CommitLogEntry entry) => handed.Add(entry.SegmentId));
        Assert.Equal<long>([101, 101, 101], handed);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void A_torn_last_section_of_a_compressed_or_encrypted_segment_is_waited_for_until_the_segment_is_completed_then_ends_it(bool encrypted)
    {
        // A node that crashed while writing a section: its marker is in the file, not all of its bytes. Until the index
        // says COMPLETED the segment may still be written; the replay at the node's restart writes COMPLETED (with the
        // file's length), and the segment never grows again: its torn section ends it, as it ends Cassandra's replay.
        var key = RandomNumberGenerator.GetBytes(16);
        var options = new CommitLogReaderOptions();
        options.EncryptionKeys["k"] = key;
        List<IEnumerable<byte[]>> sections = [_mutations.Take(3), _mutations.Skip(3).Take(100), _mutations.Skip(103)];
        var whole = encrypted
            ? SegmentWriter.Encrypted(7, 100, key, RandomNumberGenerator.GetBytes(16), "k", sections)
            : SegmentWriter.Compressed(7, 100, "LZ4Compressor", sections);
        CommitLogSection torn;
        long secondEnd;
        using (var reader = new CommitLogSegmentReader("x.log", whole, options))
        {
            while (reader.TryReadEntry(out _))
            {
            }

            (torn, secondEnd) = (reader.Sections[2], reader.Sections[1].LogicalStart + 8 + reader.Sections[1].Length);
        }

        var path = Path.Combine(_directory, "CommitLog-7-100.log");
        File.WriteAllBytes(path, whole.AsSpan(0, torn.Next - 100).ToArray());
        File.WriteAllText(CdcIndex.PathOf(path), $"{secondEnd}");
        var logger = new ListLogger();
        var follower = new CdcRawFollower(_directory, options) { Logger = logger, Source = "shop" };
        var collected = new Collected(CassandraFixtures.Expected(Version).TableId);
        var position = follower.Poll(new CommitLogPosition(0, 0), collected.Add);
        Assert.Equal((new CommitLogPosition(100, secondEnd), 103), (position, collected.Entries));
        Assert.Equal(position, follower.Poll(position, collected.Add));

        // The node restarted: the replay completed the segment and the node writes the next one.
        File.WriteAllText(CdcIndex.PathOf(path), $"{torn.Next - 100}\nCOMPLETED");
        var next = Path.Combine(_directory, "CommitLog-7-101.log");
        File.WriteAllBytes(next, SegmentWriter.Plain(7, 101, [_mutations.Take(5)], size: 1 << 16));
        File.WriteAllText(CdcIndex.PathOf(next), "65536\nCOMPLETED");
        position = follower.Poll(position, collected.Add);

        Assert.Equal(108, collected.Entries);
        Assert.Equal(101, position.SegmentId);
        var warning = Assert.Single(logger.Lines);
        Assert.StartsWith("Warning 2410 Cassandra source 'shop': completed segment CommitLog-7-100.log in " + _directory, warning, StringComparison.Ordinal);
        Assert.Contains($"marker at file offset {torn.MarkerOffset} (commit-log offset {torn.LogicalStart}) declares its end at {torn.Next}, the file ends at {torn.Next - 100}, 100 bytes short", warning, StringComparison.Ordinal);
        Assert.Equal(["CommitLog-7-100.log", "CommitLog-7-101.log"], follower.DeleteAcknowledged(position));
    }

    [Fact]
    public void A_cassandra_3_segment_that_ends_in_a_torn_encrypted_section_is_taken_as_torn_only_once_its_length_has_stayed_the_same_for_the_torn_settle_time()
    {
        // 3.x moves a replayed segment into cdc_raw whole (it has no index): a torn last section is known torn only by the
        // file's length staying the same, for longer than a copy into cdc_raw may be held up inside a section.
        var key = RandomNumberGenerator.GetBytes(16);
        var options = new CommitLogReaderOptions();
        options.EncryptionKeys["k"] = key;
        var whole = SegmentWriter.Encrypted(6, 100, key, RandomNumberGenerator.GetBytes(16), "k", [_mutations.Take(10), _mutations.Skip(10).Take(10)]);
        var path = Path.Combine(_directory, "CommitLog-6-100.log");
        var clock = new ManualClock();
        var logger = new ListLogger();
        var follower = new CdcRawFollower(_directory, options) { SettleTime = TimeSpan.FromSeconds(1), TornSettleTime = TimeSpan.FromSeconds(30), Time = clock, Logger = logger };
        follower.Resume(new CommitLogPosition(0, 0), read: []);
        var handed = new List<CommitLogPosition>();
        void Add(string segment, in CommitLogEntry entry) => handed.Add(entry.Position);

        // A copy held up inside the second section: its first section is read once settled, the rest waited for.
        File.WriteAllBytes(path, whole.AsSpan(0, whole.Length - 40).ToArray());
        var position = new CommitLogPosition(0, 0);
        position = PollEvery2s(follower, position, Add, clock, 3);

        Assert.Equal(10, handed.Count);
        Assert.Empty(logger.Lines);
        Assert.Equal<long>([], follower.Read(101)!);

        // The copy goes on: the whole segment is read, nothing twice.
        File.WriteAllBytes(path, whole);
        position = PollEvery2s(follower, position, Add, clock, 3);

        Assert.Equal(20, handed.Count);
        Assert.Equal(20, handed.Distinct().Count());
        Assert.Equal<long>([100], follower.Read(101)!);
        Assert.Empty(logger.Lines);

        // A torn segment (no closing section, the last one cut) that keeps its length for 30 s ends in its torn section.
        var tornPath = Path.Combine(_directory, "CommitLog-6-101.log");
        var torn = SegmentWriter.Encrypted(6, 101, key, RandomNumberGenerator.GetBytes(16), "k", [_mutations.Take(4), _mutations.Skip(4).Take(4)]);
        File.WriteAllBytes(tornPath, torn.AsSpan(0, torn.Length - 12 - 40).ToArray());
        position = PollEvery2s(follower, position, Add, clock, 10);

        Assert.Equal(24, handed.Count);
        Assert.Empty(logger.Lines);
        Assert.DoesNotContain(101, follower.Read(102)!);
        position = PollEvery2s(follower, position, Add, clock, 10);

        Assert.Equal(24, handed.Count);
        Assert.Contains("40 bytes short", Assert.Single(logger.Lines), StringComparison.Ordinal);
        Assert.Equal<long>([100, 101], follower.Read(102)!);
        Assert.Equal(["CommitLog-6-100.log", "CommitLog-6-101.log"], follower.DeleteAcknowledged(position));
    }

    [Fact]
    public void Through_an_agent_that_gives_no_lengths_a_cassandra_3_segment_copied_in_part_inside_an_encrypted_section_is_waited_for()
    {
        // Found by review: an agent of an older version lists no lengths, so a 3.x segment is read at once; a copy into
        // cdc_raw held up inside a compressed or encrypted section was Truncated and read again, and with torn sections
        // taken at once it ended the segment there, the rest of it lost (then deleted once acknowledged). The bytes the
        // store serves are watched instead of the length it does not give.
        var key = RandomNumberGenerator.GetBytes(16);
        var options = new CommitLogReaderOptions();
        options.EncryptionKeys["k"] = key;
        var whole = SegmentWriter.Encrypted(6, 100, key, RandomNumberGenerator.GetBytes(16), "k", [_mutations.Take(10), _mutations.Skip(10).Take(10)]);
        var path = Path.Combine(_directory, "CommitLog-6-100.log");
        var clock = new ManualClock();
        var logger = new ListLogger();
        using var store = new WithoutLengths(new CdcRawDirectory(_directory));
        var follower = new CdcRawFollower(store, options) { SettleTime = TimeSpan.FromSeconds(1), TornSettleTime = TimeSpan.FromSeconds(30), Time = clock, Logger = logger };
        follower.Resume(new CommitLogPosition(0, 0), read: []);
        var handed = new List<CommitLogPosition>();
        void Add(string segment, in CommitLogEntry entry) => handed.Add(entry.Position);

        File.WriteAllBytes(path, whole.AsSpan(0, whole.Length - 40).ToArray());
        var position = new CommitLogPosition(0, 0);
        position = PollEvery2s(follower, position, Add, clock, 3);

        Assert.Equal(10, handed.Count);
        Assert.Empty(logger.Lines);
        Assert.Equal<long>([], follower.Read(101)!);

        // The copy goes on: the whole segment is read, nothing twice.
        File.WriteAllBytes(path, whole);
        position = follower.Poll(position, Add);
        Assert.Equal(20, handed.Count);
        Assert.Equal(20, handed.Distinct().Count());
        Assert.Equal<long>([100], follower.Read(101)!);

        // A torn segment whose bytes stay the same for 30 s ends in its torn section.
        var tornPath = Path.Combine(_directory, "CommitLog-6-101.log");
        var torn = SegmentWriter.Encrypted(6, 101, key, RandomNumberGenerator.GetBytes(16), "k", [_mutations.Take(4), _mutations.Skip(4).Take(4)]);
        File.WriteAllBytes(tornPath, torn.AsSpan(0, torn.Length - 12 - 40).ToArray());
        position = PollEvery2s(follower, position, Add, clock, 20);

        Assert.Equal(24, handed.Count);
        Assert.Contains("40 bytes short", Assert.Single(logger.Lines), StringComparison.Ordinal);
        Assert.Equal<long>([100, 101], follower.Read(102)!);
    }

    /// <summary>Polls <paramref name="times"/> times, 2 s apart on <paramref name="clock"/>; returns the last position.</summary>
    private static CommitLogPosition PollEvery2s(CdcRawFollower follower, CommitLogPosition position, CdcEntryHandler add, ManualClock clock, int times)
    {
        for (var i = 0; i < times; i++)
        {
            position = follower.Poll(position, add);
            clock.Advance(TimeSpan.FromSeconds(2));
        }

        return position;
    }

    /// <summary>A store that gives no segment lengths, as an agent of an older version.</summary>
    private sealed class WithoutLengths(ICdcRawStore store) : ICdcRawStore
    {
        public string Location => store.Location;

        public IReadOnlyList<CdcSegmentFile> List(CancellationToken cancellationToken) => store.List(cancellationToken);

        public string? ReadIndex(CdcSegmentFile segment, CancellationToken cancellationToken) => store.ReadIndex(segment, cancellationToken);

        public long? Length(CdcSegmentFile segment, CancellationToken cancellationToken) => null;

        public byte[] Read(CdcSegmentFile segment, long durable, CancellationToken cancellationToken) => store.Read(segment, durable, cancellationToken);

        public void Delete(CdcSegmentFile segment, CancellationToken cancellationToken) => store.Delete(segment, cancellationToken);

        public void Dispose() => store.Dispose();
    }

    [Fact]
    public void With_kept_segments_the_list_of_cassandra_3_segments_read_names_only_those_still_in_cdc_raw_and_restarts_read_each_segment_once()
    {
        // KeepSegments: an operator (or another consumer) deletes the segments, here all but the newest ones, at its own
        // pace; the node moves segments in, now and then one below the position (late). Restarts resume from the position
        // and list of the last poll (as if stored at once).
        var handed = new List<(long Segment, long Offset)>();
        void Add(string segment, in CommitLogEntry entry) => handed.Add((entry.SegmentId, entry.Offset));
        var position = new CommitLogPosition(0, 0);
        IReadOnlyList<long>? list = [];
        CdcRawFollower? follower = null;
        var movedIn = 0;
        for (var step = 0; step < 40; step++)
        {
            if (step % 3 == 0)
            {
                follower = new CdcRawFollower(_directory) { KeepSegments = true };
                follower.Resume(position, list);
            }

            MoveIn($"CommitLog-6-{1000 + (2 * step)}.log", SegmentWriter.Plain(6, 1000 + (2 * step), [_mutations.Skip(step).Take(2)], size: 1 << 12));
            movedIn++;
            if (step % 5 == 4)
            {
                MoveIn($"CommitLog-6-{1000 + (2 * step) - 5}.log", SegmentWriter.Plain(6, 1000 + (2 * step) - 5, [_mutations.Skip(step).Take(2)], size: 1 << 12));
                movedIn++;
            }

            position = follower!.Poll(position, Add);
            list = follower.Read(position.SegmentId);
            follower.DeleteAcknowledged(position, list?.ToHashSet());

            // The operator keeps the four newest segments.
            foreach (var old in Directory.GetFiles(_directory, "CommitLog-*.log").Order(StringComparer.Ordinal).SkipLast(4))
            {
                File.Delete(old);
            }

            // The next listing forgets what the operator deleted.
            position = follower.Poll(position, Add);
            list = follower.Read(position.SegmentId);
            var present = Directory.GetFiles(_directory, "CommitLog-*.log").Select(f => long.Parse(Path.GetFileNameWithoutExtension(f).Split('-')[2], System.Globalization.CultureInfo.InvariantCulture)).ToHashSet();
            Assert.True(list!.Count <= 4, $"step {step}: the list names {list.Count} segments: {string.Join(", ", list)}");
            Assert.All(list, id => Assert.Contains(id, present));
        }

        Assert.Equal(2 * movedIn, handed.Count);
        Assert.Equal(handed.Count, handed.Distinct().Count());
    }

    [Fact]
    public void A_first_start_on_an_empty_cdc_raw_or_on_cassandra_4_segments_stores_no_list_of_cassandra_3_segments_read()
    {
        // No stored position: nothing lies below it, so no list is needed until a 3.x segment is met.
        var follower = new CdcRawFollower(_directory);
        follower.Resume(new CommitLogPosition(0, 0), read: null);
        var position = follower.Poll(new CommitLogPosition(0, 0), (string _, in CommitLogEntry _) => { });
        Assert.Null(follower.Read(position.SegmentId));

        var path = Path.Combine(_directory, "CommitLog-7-100.log");
        File.WriteAllBytes(path, SegmentWriter.Plain(7, 100, [_mutations.Take(3)], size: 1 << 16));
        File.WriteAllText(CdcIndex.PathOf(path), "65536\nCOMPLETED");
        position = follower.Poll(position, (string _, in CommitLogEntry _) => { });
        Assert.Equal(100, position.SegmentId);
        Assert.Null(follower.Read(position.SegmentId));
    }

    [Fact]
    public void A_cassandra_3_segment_met_among_cassandra_4_ones_gives_the_position_a_list_before_it_is_read_to_its_end()
    {
        // A position stored without a list (before the list existed, or of a 4.0 node), over a 4.0 segment.
        var path = Path.Combine(_directory, "CommitLog-7-100.log");
        File.WriteAllBytes(path, SegmentWriter.Plain(7, 100, [_mutations.Take(3)], size: 1 << 16));
        File.WriteAllText(CdcIndex.PathOf(path), "65536\nCOMPLETED");
        var position = new CommitLogPosition(100, SectionEnds(File.ReadAllBytes(path))[0]);
        var follower = new CdcRawFollower(_directory);
        follower.Resume(position, read: null);
        Assert.Equal(position, follower.Poll(position, (string _, in CommitLogEntry _) => { }));
        Assert.Null(follower.Read(position.SegmentId));

        // A node being upgraded from 3.x links the 3.x segments it replays into cdc_raw after its first 4.0 one: below the
        // position, read late. The position lists what was read below it from that poll on, before 99 is read to its end.
        MoveIn("CommitLog-6-99.log", SegmentWriter.Plain(6, 99, [_mutations.Skip(3).Take(4)], size: 1 << 16));
        var handed = new List<long>();
        Assert.Equal(position, follower.Poll(position, (string _, in CommitLogEntry entry) => handed.Add(entry.Offset), maxEntries: 2));
        Assert.Equal(2, handed.Count);
        var list = follower.Read(position.SegmentId);
        Assert.Equal<long>([], list!);

        // Stopped there: the restart reads 99 again (repeats, no gap); without a list it would count as read.
        var resumed = new CdcRawFollower(_directory);
        resumed.Resume(position, list);
        resumed.Poll(position, (string _, in CommitLogEntry entry) => handed.Add(entry.Offset));
        Assert.Equal(6, handed.Count);
        Assert.Equal(4, handed.Distinct().Count());
    }

    [Fact]
    public void A_poll_left_in_a_compressed_segment_is_not_read_on_when_its_index_is_completed_at_the_same_offset()
    {
        // The index a node's replay completes holds the file's length, which for a compressed segment may equal a logical
        // durable offset written before: the reader left by the earlier poll stops there, the completed segment must not.
        List<IEnumerable<byte[]>> sections = [_mutations.Take(50), _mutations.Skip(50).Take(50), _mutations.Skip(100).Take(20)];
        var whole = SegmentWriter.Compressed(7, 100, "LZ4Compressor", sections);
        long secondEnd;
        using (var reader = new CommitLogSegmentReader("x.log", whole))
        {
            while (reader.TryReadEntry(out _))
            {
            }

            secondEnd = reader.Sections[1].LogicalStart + 8 + reader.Sections[1].Length;
        }

        var path = Path.Combine(_directory, "CommitLog-7-100.log");
        File.WriteAllBytes(path, whole);
        File.WriteAllText(CdcIndex.PathOf(path), $"{secondEnd}");
        var follower = new CdcRawFollower(_directory);
        var collected = new Collected(CassandraFixtures.Expected(Version).TableId);
        var position = follower.Poll(new CommitLogPosition(0, 0), collected.Add, maxEntries: 70);
        Assert.Equal(70, collected.Entries);

        File.WriteAllText(CdcIndex.PathOf(path), $"{secondEnd}\nCOMPLETED");
        position = follower.Poll(position, collected.Add);

        Assert.Equal(120, collected.Entries);
        Assert.Equal(["CommitLog-7-100.log"], follower.DeleteAcknowledged(position));
    }

    private void MoveIn(string name, byte[] segment)
    {
        var written = Path.Combine(Path.GetDirectoryName(_directory)!, Guid.NewGuid().ToString("N") + ".tmp");
        File.WriteAllBytes(written, segment);
        File.Move(written, Path.Combine(_directory, name));
    }

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    private static byte[] Prefix(byte[] whole, int end)
    {
        var file = new byte[whole.Length];
        whole.AsSpan(0, end).CopyTo(file);
        return file;
    }

    private static int[] SectionEnds(byte[] segment)
    {
        using var reader = new CommitLogSegmentReader("x.log", segment);
        while (reader.TryReadEntry(out _))
        {
        }

        return [.. reader.Sections.Where(s => s.Entries > 0).Select(s => s.Next)];
    }

    private sealed class Collected(Guid table)
    {
        private readonly MutationDecoder _decoder = new(new CassandraSchema(CassandraFixtures.Standard1(table)));
        public CellHash Hash;

        public int Entries { get; private set; }

        public long FirstOffset { get; private set; } = -1;

        public List<CommitLogPosition> Positions { get; } = [];

        public CommitLogPosition LastPosition => Positions[^1];

        public void Add(string segment, in CommitLogEntry entry)
        {
            if (Positions.Count > 0)
            {
                Assert.True(entry.Position > Positions[^1]);
            }

            Entries++;
            if (FirstOffset < 0)
            {
                FirstOffset = entry.Offset;
            }

            Positions.Add(entry.Position);
            _decoder.Decode(entry.Mutation, segment, entry.Offset + 8, ref Hash);
        }
    }
}
