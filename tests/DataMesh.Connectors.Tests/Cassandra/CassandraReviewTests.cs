using System.Buffers.Binary;
using DataMesh.Connectors.Cassandra;
using DataMesh.Connectors.Cassandra.Cdc;
using DataMesh.Connectors.Cassandra.CommitLog;
using DataMesh.Connectors.Cassandra.Mutations;
using DataMesh.Connectors.Cassandra.Schema;
using DataMesh.Events;
using DataMesh.Sources;
using Xunit;

namespace DataMesh.Tests.Cassandra;

/// <summary>Found by a review against Cassandra's own serializers (2026-12-07): each test failed on the code before its
/// fix with a wrong value, a lost change or a stop on input that Cassandra writes.</summary>
public sealed class CassandraReviewTests : IDisposable
{
    private const long T0 = 1_700_000_000_000_000;
    private const int L0 = 1_700_000_000;
    private static readonly Guid TableId = Guid.Parse("0e4b2c3b-0000-4000-8000-0000000000f1");
    private static readonly Guid ListPath = Guid.Parse("10000000-0000-1000-8000-000000000001");
    private readonly string _directory = Directory.CreateTempSubdirectory("datamesh-review-").FullName;

    private static CassandraTable Table() => Assert.Single(CqlSchemaParser.Parse(
    [
        "CREATE TYPE ks.addr (street text, zip int);"
        + $"CREATE TABLE ks.t (id int, ck int, l list<int>, m map<text, bigint>, u addr, dm map<date, text>, bm map<boolean, text>, ds set<date>, fl frozen<list<timestamp>>, v int, PRIMARY KEY (id, ck)) WITH id = {TableId} AND cdc = true",
    ])).Table;

    // ---- 1. Non-frozen collection / UDT cell values are always vint-length-prefixed (Cell.Serializer writes them with
    //         header.getType(column) = the collection/UDT type, whose valueLengthIfFixed() is -1), even for int/bigint elements.

    [Fact]
    public void List_of_int_element_value_is_length_prefixed_as_cassandra_writes_it()
    {
        // UPDATE ks.t SET l = l + [10] WHERE id = 1 AND ck = 2  (no row liveness, one list cell)
        var mutation = new MutationWriter().UVInt(1).Partition(TableId, MutationWriter.Int(1), 0, T0, L0, 0).Columns("l")
            .Byte(0x20).ClusteringHeader().Raw(MutationWriter.Int(2))
            .UVInt(1).Byte(0x00).Timestamp(T0).VBytes(ListPath.ToByteArray(bigEndian: true)).VBytes(MutationWriter.Int(10))
            .Byte(0x01).ToArray();

        Assert.Equal(["u key={id=1, ck=2} after={id=1, ck=2, l=[10]}"], Events(mutation));
    }

    [Fact]
    public void Map_text_bigint_and_udt_int_field_values_are_length_prefixed_as_cassandra_writes_them()
    {
        // UPDATE ks.t SET m['k'] = 99, u.zip = 54321 WHERE id = 1 AND ck = 2
        var mutation = new MutationWriter().UVInt(1).Partition(TableId, MutationWriter.Int(1), 0, T0, L0, 0).Columns("m", "u")
            .Byte(0x20).ClusteringHeader().Raw(MutationWriter.Int(2))
            .UVInt(1).Byte(0x00).Timestamp(T0).VText("k").VBytes(MutationWriter.Long(99))
            .UVInt(1).Byte(0x00).Timestamp(T0).VBytes([0, 1]).VBytes(MutationWriter.Int(54321))
            .Byte(0x01).ToArray();

        Assert.Equal(["u key={id=1, ck=2} after={id=1, ck=2, m={\"k\":99}, u={\"zip\":54321}}"], Events(mutation));
    }

    // ---- 2. Empty values (cell flag 0x04 HAS_EMPTY_VALUE) of fixed-size types are valid CQL values (e.g. INSERT … VALUES
    //         (1, 2, blobAsInt(0x))); Int32Serializer.validate accepts 0 or 4 bytes. The connector stops the source.

    [Fact]
    public void An_empty_int_value_does_not_stop_the_source()
    {
        // INSERT INTO ks.t (id, ck, v) VALUES (1, 2, blobAsInt(0x))
        var mutation = new MutationWriter().UVInt(1).Partition(TableId, MutationWriter.Int(1), 0, T0, L0, 0).Columns("v")
            .Byte(0x24).ClusteringHeader().Raw(MutationWriter.Int(2)).Timestamp(T0)
            .Byte(0x08 | 0x04) // uses the row's timestamp, empty value
            .Byte(0x01).ToArray();

        var after = Assert.Single(Events(mutation)); // threw FormatException "a int has 4 bytes, not 0"
        Assert.Equal("c key={id=1, ck=2} after={id=1, ck=2}", after); // null, as CQL drivers read it
    }

    [Fact]
    public void An_empty_int_clustering_value_is_refused_naming_it()
    {
        // INSERT INTO ks.t (id, ck, v) VALUES (1, blobAsInt(0x), 5): clustering header bit 0 = empty
        var mutation = new MutationWriter().UVInt(1).Partition(TableId, MutationWriter.Int(1), 0, T0, L0, 0).Columns("v")
            .Byte(0x24).ClusteringHeader(0b01).Timestamp(T0)
            .Byte(0x08).Raw(MutationWriter.Int(5))
            .Byte(0x01).ToArray();

        // A key has no null of its own (a static row's clustering columns are null): a clear error, not a wrong key.
        var error = Assert.ThrowsAny<Exception>(() => Events(mutation));
        Assert.Contains("empty int value", error.ToString(), StringComparison.Ordinal);
    }

    // ---- 3. Map keys of date/boolean types are rendered with .NET defaults ("01/01/2024", "True"), not the JSON forms
    //         used for the same type everywhere else (set<date> element "2024-01-01", boolean true).

    [Fact]
    public void A_map_date_key_has_the_same_text_as_a_date_element()
    {
        var date = new byte[4];
        BinaryPrimitives.WriteUInt32BigEndian(date, (1u << 31) + 19723); // 2024-01-01
        // UPDATE ks.t SET dm = dm + {'2024-01-01': 'a'}, ds = ds + {'2024-01-01'}, bm = bm + {true: 'b'} WHERE id = 1 AND ck = 2
        var mutation = new MutationWriter().UVInt(1).Partition(TableId, MutationWriter.Int(1), 0, T0, L0, 0).Columns("dm", "bm", "ds")
            .Byte(0x20).ClusteringHeader().Raw(MutationWriter.Int(2))
            .UVInt(1).Byte(0x00).Timestamp(T0).VBytes(date).VText("a")
            .UVInt(1).Byte(0x00).Timestamp(T0).VBytes([1]).VText("b")
            .UVInt(1).Byte(0x04).Timestamp(T0).VBytes(date)
            .Byte(0x01).ToArray();

        var line = Assert.Single(Events(mutation));
        Assert.Contains("ds=[\"2024-01-01\"]", line, StringComparison.Ordinal); // the set element: ISO date (passes)
        Assert.Contains("dm={\"2024-01-01\":\"a\"}", line, StringComparison.Ordinal); // was: dm={"01/01/2024":"a"}
        Assert.Contains("bm={\"true\":\"b\"}", line, StringComparison.Ordinal); // was: bm={"True":"b"}
    }

    [Fact]
    public void A_map_boolean_key_is_json_true_not_dotnet_True()
    {
        // UPDATE ks.t SET bm = bm + {true: 'b'} WHERE id = 1 AND ck = 2
        var mutation = new MutationWriter().UVInt(1).Partition(TableId, MutationWriter.Int(1), 0, T0, L0, 0).Columns("bm")
            .Byte(0x20).ClusteringHeader().Raw(MutationWriter.Int(2))
            .UVInt(1).Byte(0x00).Timestamp(T0).VBytes([1]).VText("b")
            .Byte(0x01).ToArray();

        Assert.Equal("u key={id=1, ck=2} after={id=1, ck=2, bm={\"true\":\"b\"}}", Assert.Single(Events(mutation)));
    }

    // ---- 3b. Inside collections, tuples and UDTs (JSON path) a timestamp after 9999-12-31 (or a date outside years
    //          1-9999) stops the source; Cassandra accepts any 64-bit millisecond value (TimestampSerializer), and the
    //          same value in a plain timestamp column is written fine.

    [Fact]
    public void A_timestamp_after_year_9999_in_a_frozen_list_does_not_stop_the_source()
    {
        // INSERT INTO ks.t (id, ck, fl) VALUES (1, 2, [253402300800000])  -- 10000-01-01T00:00:00Z
        var mutation = new MutationWriter().UVInt(1).Partition(TableId, MutationWriter.Int(1), 0, T0, L0, 0).Columns("fl")
            .Byte(0x24).ClusteringHeader().Raw(MutationWriter.Int(2)).Timestamp(T0)
            .Byte(0x08).VBytes(MutationWriter.Elements(1, MutationWriter.Long(253_402_300_800_000)))
            .Byte(0x01).ToArray();

        Assert.Single(Events(mutation));
    }

    // ---- 4. cdc_raw: Cassandra hard-links every new (PERMITTED) segment into cdc_raw at creation
    //         (CommitLogSegmentManagerCDC.createSegment) but writes its _cdc.idx only once it CONTAINS CDC data
    //         (CommitLogSegment.sync); a segment filled with non-CDC writes stays in cdc_raw without an index until it is
    //         discarded (memtables flushed). The follower stops at it and reads none of the later segments meanwhile.

    [Fact]
    public void A_linked_segment_without_cdc_data_does_not_block_later_segments()
    {
        var mutations = CassandraFixtures.Mutations40();
        // Segment 100: written with non-CDC mutations only, no index (PERMITTED, never CONTAINS).
        File.WriteAllBytes(Path.Combine(_directory, "CommitLog-7-100.log"), SegmentWriter.Plain(7, 100, [mutations.Take(2)], size: 1 << 16));
        // Segment 101: CDC data, index COMPLETED.
        var second = Path.Combine(_directory, "CommitLog-7-101.log");
        File.WriteAllBytes(second, SegmentWriter.Plain(7, 101, [mutations.Skip(3).Take(5)], size: 1 << 16));
        File.WriteAllText(CdcIndex.PathOf(second), "65536\nCOMPLETED");
        var count = 0;

        var follower = new CdcRawFollower(_directory);

        // Not at the first poll that sees it: a sync may have written both indexes between two reads of that poll.
        var position = follower.Poll(new CommitLogPosition(0, 0), (string _, in CommitLogEntry _) => count++);
        Assert.Equal(0, count);
        follower.Poll(position, (string _, in CommitLogEntry _) => count++);

        Assert.Equal(5, count);
    }

    // ---- 5. After a restart, Cassandra replays the segments and writes each replayed CDC segment's index itself
    //         (CommitLogReplayer.handleCDCReplayCompletion: writeCDCIndexFile(desc, (int)f.length(), true)): the offset is
    //         the FILE length. For a compressed (or encrypted) segment that is less than the logical (uncompressed) end the
    //         reader compares it with, so the follower stops early, marks the segment completed, and deletes it once that
    //         early position is acknowledged: the entries of the later sections are lost.

    [Fact]
    public void A_compressed_segment_indexed_by_cassandras_replay_is_read_to_its_end()
    {
        var mutations = ReplayIndexedCompressedSegment();
        var count = 0;
        var follower = new CdcRawFollower(_directory);

        var position = follower.Poll(new CommitLogPosition(0, 0), (string _, in CommitLogEntry _) => count++);

        Assert.Equal(mutations.Count, count); // was: 103 of them, and the segment completed there
        Assert.Equal(["CommitLog-7-100.log"], follower.DeleteAcknowledged(position));
    }

    [Fact]
    public void A_compressed_segment_indexed_by_cassandras_replay_is_not_deleted_with_entries_unread()
    {
        var mutations = ReplayIndexedCompressedSegment();
        var path = Path.Combine(_directory, "CommitLog-7-100.log");
        var handed = new List<CommitLogPosition>();
        var follower = new CdcRawFollower(_directory);

        follower.Poll(new CommitLogPosition(0, 0), (string _, in CommitLogEntry e) => handed.Add(e.Position));
        Assert.Equal(mutations.Count, handed.Count);
        Assert.Empty(follower.DeleteAcknowledged(handed[102])); // what the old code stored as the segment's end

        Assert.True(File.Exists(path), $"segment deleted after 103 of {mutations.Count} entries were acknowledged");
    }

    // ---- 7. A batch writing the same partition key in two tables of one keyspace is ONE mutation with two partition
    //         updates (Mutation.serializer, order of the modifications map: by table id hash, i.e. arbitrary). When the
    //         other table is not captured (cdc = false, or filtered out) and comes first, the decoder returns UnknownTable and
    //         the connector skips the whole entry: the captured table's change is lost. When it comes second, the decoder
    //         throws (Corrupt) and the source stops for good.

    private static readonly Guid OtherId = Guid.Parse("0e4b2c3b-0000-4000-8000-0000000000f2");

    private static byte[] OtherUpdate() =>
        new MutationWriter().Partition(OtherId, MutationWriter.Int(1), 0, T0, L0, 0).Columns("x")
            .Byte(0x24).Timestamp(T0).Byte(0x08).VText("not captured").Byte(0x01).ToArray();

    private static byte[] CapturedUpdate() =>
        new MutationWriter().Partition(TableId, MutationWriter.Int(1), 0, T0, L0, 0).Columns("v")
            .Byte(0x24).ClusteringHeader().Raw(MutationWriter.Int(2)).Timestamp(T0).Byte(0x08).Raw(MutationWriter.Int(7)).Byte(0x01).ToArray();

    [Fact]
    public void A_batch_with_an_uncaptured_table_first_still_publishes_the_captured_tables_row()
    {
        // BEGIN BATCH INSERT INTO ks.other (id, x) VALUES (1, 'not captured'); INSERT INTO ks.t (id, ck, v) VALUES (1, 2, 7); APPLY BATCH
        var mutation = new MutationWriter().UVInt(2).Raw(OtherUpdate()).Raw(CapturedUpdate()).ToArray();

        Assert.Equal(["c key={id=1, ck=2} after={id=1, ck=2, v=7}"], Events(mutation, Other())); // was: outcome UnknownTable, nothing

    }

    private static CassandraTable Other() => Assert.Single(CqlSchemaParser.Parse([$"CREATE TABLE ks.other (id int PRIMARY KEY, x text) WITH id = {OtherId}"])).Table;

    [Fact]
    public void A_batch_with_an_uncaptured_table_second_does_not_stop_the_source()
    {
        var mutation = new MutationWriter().UVInt(2).Raw(CapturedUpdate()).Raw(OtherUpdate()).ToArray();

        Assert.Equal(["c key={id=1, ck=2} after={id=1, ck=2, v=7}"], Events(mutation, Other())); // was: CommitLogFormatException

        // Without the other table's schema its update cannot be read past: a clear stop naming it.
        var error = Assert.Throws<CommitLogFormatException>(() => Events(mutation));
        Assert.Contains(OtherId.ToString(), error.Message, StringComparison.Ordinal);
        Assert.Contains("give the source that table's schema", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void An_uncaptured_tables_update_that_its_out_of_date_statement_cannot_read_skips_the_mutation_as_before()
    {
        // Found by review: ks.other given by a statement older than its ALTER TABLE ... ADD y: a mutation of it alone
        // stopped the source, over a table nobody captures.
        var mutation = new MutationWriter().UVInt(1).Raw(new MutationWriter().Partition(OtherId, MutationWriter.Int(1), 0, T0, L0, 0).Columns("x", "y")
            .Byte(0x24).Timestamp(T0).Byte(0x08).VText("not captured").Raw(MutationWriter.Int(5)).Byte(0x01).ToArray()).ToArray();
        var none = default(NoHandler);

        Assert.Equal(MutationOutcome.UnknownTable, new MutationDecoder(new CassandraSchema([Table()], [Other()])).Decode(mutation, "CommitLog-7-1.log", 36, ref none));
    }

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    /// <summary>CommitLog-7-100.log: the fixture's mutations in three LZ4 sections, with the index Cassandra's replay writes
    /// (CommitLogReplayer.handleCDCReplayCompletion: the file's length, COMPLETED).</summary>
    private List<byte[]> ReplayIndexedCompressedSegment()
    {
        var mutations = CassandraFixtures.Mutations40();
        var path = Path.Combine(_directory, "CommitLog-7-100.log");
        var bytes = SegmentWriter.Compressed(7, 100, "LZ4Compressor", [mutations.Take(3), mutations.Skip(3).Take(100), mutations.Skip(103)]);
        File.WriteAllBytes(path, bytes);
        File.WriteAllText(CdcIndex.PathOf(path), $"{bytes.Length}\nCOMPLETED");
        return mutations;
    }

    private static List<string> Events(byte[] mutation, params CassandraTable[] uncaptured)
    {
        var table = Table();
        var host = new EncodingHost(new SourceDescription("cassandra", "cass", CassandraSourceBlock.Fields), new ChangeEventOptions());
        var context = host.Context<CassandraPosition>();
        var writer = new CassandraEventWriter(context, "node1", t => context.Table(CassandraConnector.TableInfo(t)));
        writer.Begin("CommitLog-7-1.log", 1, 500);
        Assert.Equal(MutationOutcome.Decoded, new MutationDecoder(new CassandraSchema([table], uncaptured)).Decode(mutation, "CommitLog-7-1.log", 36, ref writer));
        writer.End();
        return context.TakeEncoded().Select(CassandraEventTests.Describe).ToList();
    }
}
