using System.Buffers.Binary;
using DataMesh.Connectors.Cassandra;
using DataMesh.Connectors.Cassandra.Mutations;
using DataMesh.Connectors.Cassandra.Schema;
using Xunit;

namespace DataMesh.Tests.Cassandra;

/// <summary>
/// Mutations the fixtures lack, written field by field with <see cref="MutationWriter"/> from the format description
/// (the fixture README and Cassandra's serializers; no Cassandra here to write them): every CQL type, frozen and
/// non-frozen collections and UDTs, a static row, partition, row, cell, complex and range deletions, row and cell TTLs,
/// column subsets of more than 64 columns, composite partition keys. Values are the native protocol's encodings.
/// </summary>
public sealed class MutationDecodingTests
{
    private const long T0 = 1_700_000_000_000_000;
    private const int L0 = 1_700_000_000;

    private static readonly Guid EverythingId = Guid.Parse("5a4d2c3b-0000-4000-8000-000000000001");
    private static readonly Guid WideId = Guid.Parse("5a4d2c3b-0000-4000-8000-000000000002");
    private static readonly Guid CompositeId = Guid.Parse("5a4d2c3b-0000-4000-8000-000000000003");

    private static readonly string[] Regulars =
    [
        "c_ascii", "c_bigint", "c_blob", "c_boolean", "c_date", "c_decimal", "c_double", "c_duration", "c_float", "c_inet",
        "c_int", "c_smallint", "c_text", "c_time", "c_timestamp", "c_timeuuid", "c_tinyint", "c_uuid", "c_varchar", "c_varint",
        "c_frozen_list", "c_tuple", "c_frozen_udt", "c_frozen_map", "c_list", "c_set", "c_map", "c_udt",
    ];

    private static readonly Guid ListPath1 = Guid.Parse("10000000-0000-1000-8000-000000000001");
    private static readonly Guid ListPath2 = Guid.Parse("10000000-0000-1000-8000-000000000002");
    private static readonly Guid TimeUuid = Guid.Parse("e9b6a7c0-7cbb-11ee-9858-c9aa1eb53e69");
    private static readonly Guid Uuid = Guid.Parse("0f8fad5b-d9cb-469f-a165-70867728950e");

    [Fact]
    public void A_mutation_with_every_type_collections_static_row_ttls_and_deletions_decodes_to_its_values()
    {
        var handler = new RecordingHandler(T0, L0);
        var decoder = new MutationDecoder(new CassandraSchema(Everything()));

        var outcome = decoder.Decode(EverythingMutation(), "CommitLog-7-1.log", 36, ref handler);

        Assert.Equal(MutationOutcome.Decoded, outcome);
        Assert.Equal(
            [
                "partition everything key=(42) deleted ts=0 at=0",
                "static row ts=1",
                "  s ts=1 = 'static value'",
                "row ('a', 2023-11-14T22:13:20.000Z) ts=10 ttl=3600 expires=3600",
                "  c_ascii ts=10 ttl=3600 expires=3600 = 'abc'",
                "  c_bigint ts=10 ttl=3600 expires=3600 = -5",
                "  c_blob ts=10 ttl=3600 expires=3600 = 0x010203",
                "  c_boolean ts=10 ttl=3600 expires=3600 = True",
                "  c_date ts=10 ttl=3600 expires=3600 = 01/01/2024",
                "  c_decimal ts=10 ttl=3600 expires=3600 = 123.45",
                "  c_double ts=10 ttl=3600 expires=3600 = 1.5",
                "  c_duration ts=10 ttl=3600 expires=3600 = CqlDuration { Months = 1, Days = -2, Nanoseconds = 3000000000 }",
                "  c_float ts=10 ttl=3600 expires=3600 = 2.25",
                "  c_inet ts=10 ttl=3600 expires=3600 = 127.0.0.1",
                "  c_int ts=10 ttl=3600 expires=3600 = 7",
                "  c_smallint ts=10 ttl=3600 expires=3600 = -2",
                "  c_text ts=10 ttl=3600 expires=3600 = 'héllo'",
                "  c_time ts=10 ttl=3600 expires=3600 = 13:14:15.5000000",
                "  c_timestamp ts=10 ttl=3600 expires=3600 = 2023-11-14T22:13:20.123Z",
                $"  c_timeuuid ts=10 ttl=3600 expires=3600 = {TimeUuid}",
                "  c_tinyint ts=10 ttl=3600 expires=3600 = -128",
                $"  c_uuid ts=10 ttl=3600 expires=3600 = {Uuid}",
                "  c_varchar ts=10 ttl=3600 expires=3600 = 'v'",
                "  c_varint ts=10 ttl=3600 expires=3600 = -129",
                "  c_frozen_list ts=10 ttl=3600 expires=3600 = [1, null, 2]",
                "  c_tuple ts=10 ttl=3600 expires=3600 = (3, 'x')",
                "  c_frozen_udt ts=10 ttl=3600 expires=3600 = ('Main St', 12345)",
                "  c_frozen_map ts=10 ttl=3600 expires=3600 = {'k': 9}",
                $"  c_list[{ListPath1}] ts=10 ttl=3600 expires=3600 = 10",
                $"  c_list[{ListPath2}] ts=10 ttl=3600 expires=3600 = 20",
                "  c_set['member'] ts=10 ttl=3600 expires=3600",
                "  c_map['key'] ts=10 ttl=3600 expires=3600 = 99",
                "  c_udt.street ts=10 ttl=3600 expires=3600 = 'Elm St'",
                "  c_udt.zip ts=10 ttl=3600 expires=3600 = 54321",
                "row ('b', 2023-11-14T22:13:20.000Z) ts=20",
                "  c_int ts=21 ttl=60 expires=60 = 8",
                "  c_text ts=20 tombstone at=5",
                "  c_list deleted ts=19 at=5",
                $"  c_list[{ListPath1}] ts=20 = 30",
                "row ('c', 2023-11-14T22:13:20.000Z) deleted ts=30 at=7",
                "marker InclusiveStart ('d') ts=40 at=8",
                "marker InclusiveEnd ('d') ts=40 at=8",
                "marker InclusiveStart ('f') ts=40 at=8",
                "marker ExclusiveEndInclusiveStart ('g', 2023-11-14T22:13:20.000Z) ts=41 at=9 closes ts=40 at=8",
                "marker InclusiveEnd () ts=41 at=9",
            ],
            handler.Lines);
    }

    [Fact]
    public void Rows_of_a_table_with_64_or_more_columns_name_their_present_or_missing_columns_by_index()
    {
        var writer = new MutationWriter().UVInt(1).Partition(WideId, MutationWriter.Int(1), 0x00, T0, L0, 0);
        writer.Columns([.. Enumerable.Range(0, 70).Select(i => $"c{i}")]);
        // Few present: the missing count, then the present columns' indexes.
        writer.Byte(0x04).ClusteringHeader().Raw(MutationWriter.Int(1)).Timestamp(T0).UVInt(68).UVInt(3).UVInt(60);
        writer.Byte(0x08).Raw(MutationWriter.Int(3)).Byte(0x08).Raw(MutationWriter.Int(60));
        // Most present: the missing count, then the missing columns' indexes.
        writer.Byte(0x04).ClusteringHeader().Raw(MutationWriter.Int(2)).Timestamp(T0).UVInt(2).UVInt(5).UVInt(65);
        foreach (var i in Enumerable.Range(0, 70).Where(i => i is not (5 or 65)))
        {
            writer.Byte(0x08).Raw(MutationWriter.Int(i));
        }

        writer.Byte(0x01);
        var handler = new RecordingHandler(T0, L0);

        new MutationDecoder(new CassandraSchema(Wide())).Decode(writer.ToArray(), "CommitLog-7-1.log", 36, ref handler);

        var rows = string.Join("\n", handler.Lines);
        Assert.StartsWith("partition wide key=(1)\nrow (1) ts=0\n  c3 ts=0 = 3\n  c60 ts=0 = 60\nrow (2) ts=0\n  c0 ts=0 = 0\n", rows, StringComparison.Ordinal);
        Assert.Equal(2 + 2 + 1 + 68, handler.Lines.Count);
        Assert.DoesNotContain("  c5 ", rows, StringComparison.Ordinal);
        Assert.DoesNotContain("  c65 ", rows, StringComparison.Ordinal);
        Assert.Contains("  c69 ts=0 = 69", rows, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("end", 1, "a range tombstone end bound (InclusiveEnd) without a range deletion open")]
    [InlineData("boundary", 1, "a range tombstone boundary bound (ExclusiveEndInclusiveStart) without a range deletion open")]
    [InlineData("start", 2, "a range tombstone start bound (ExclusiveStart) while another range deletion is open")]
    [InlineData("unclosed", 2, "the partition ends inside a range deletion (its start bound is 11 bytes earlier): its end bound is missing")]
    [InlineData("kind", 1, "3 is not a range tombstone bound kind")]
    [InlineData("size", 1, "a bound of 3 clustering values, but table ks.composite has 1 clustering columns")]
    public void Range_tombstone_markers_out_of_order_or_malformed_name_the_segment_and_offset(string what, int marker, string message)
    {
        var writer = new MutationWriter().UVInt(1).Partition(CompositeId, [0, 4, 0, 0, 0, 1, 0, 0, 1, (byte)'x', 0], 0x00, T0, L0, 0).Columns("v");
        var markersAt = writer.ToArray().Length;
        MutationWriter Marker(int kind, int size = 1) => writer.Byte(0x02).Byte(kind).Short(size).ClusteringHeader().Raw(MutationWriter.Int(5)).Deletion(T0, L0);
        switch (what)
        {
            case "end": Marker(6); break;
            case "boundary": Marker(2).Deletion(T0, L0); break;
            case "start": Marker(1); Marker(7); break;
            case "unclosed": Marker(1); break;
            case "kind": Marker(3); break;
            case "size": Marker(1, size: 3); break;
        }

        var mutation = writer.Byte(0x01).ToArray();
        var handler = new RecordingHandler(T0, L0);
        var error = Assert.Throws<CommitLogFormatException>(() => new MutationDecoder(new CassandraSchema(Composite())).Decode(mutation, "CommitLog-6-9.log", 1000, ref handler));

        Assert.Equal(CommitLogError.Corrupt, error.Error);
        // The offset of the field that is wrong (the kind, the size, or the partition's end): a marker is 11 bytes here.
        var at = 1000 + markersAt + ((marker - 1) * 11) + (what is "kind" or "start" or "end" or "boundary" ? 1 : what == "size" ? 2 : 0);
        Assert.Equal(at, error.Offset);
        Assert.Equal($"commit-log segment CommitLog-6-9.log, byte {at}: mutation byte {at - 1000}: {message}", error.Message);
    }

    [Fact]
    public void A_composite_partition_key_and_an_empty_update_decode()
    {
        var key = new byte[] { 0, 4, 0, 0, 0, 1, 0, 0, 2, (byte)'x', (byte)'y', 0 };
        var writer = new MutationWriter().UVInt(2).Partition(CompositeId, key, 0x00, T0, L0, 0).Columns("v");
        writer.Byte(0x24).ClusteringHeader().Raw(MutationWriter.Int(5)).Timestamp(T0 + 1).Byte(0x08).Raw(MutationWriter.Int(6)).Byte(0x01);
        writer.Raw(CompositeId.ToByteArray(bigEndian: true)).VBytes(key).Byte(0x01);
        var handler = new RecordingHandler(T0, L0);

        new MutationDecoder(new CassandraSchema(Composite())).Decode(writer.ToArray(), "CommitLog-7-1.log", 36, ref handler);

        Assert.Equal(["partition composite key=(1, 'xy')", "row (5) ts=1", "  v ts=1 = 6", "partition composite key=(1, 'xy') empty"], handler.Lines);
    }

    [Fact]
    public void A_mutation_of_an_unknown_table_is_reported_as_such_and_an_unknown_column_names_it()
    {
        var handler = new RecordingHandler(T0, L0);
        var decoder = new MutationDecoder(new CassandraSchema(Composite()));

        Assert.Equal(MutationOutcome.UnknownTable, decoder.Decode(EverythingMutation(), "CommitLog-7-1.log", 36, ref handler));
        Assert.Equal(EverythingId, decoder.UnknownTableId);

        var writer = new MutationWriter().UVInt(1).Partition(CompositeId, [0, 1, 1, 0, 1, 2, 0], 0x00, T0, L0, 0).Columns("gone");
        var error = Assert.Throws<CommitLogFormatException>(() => decoder.Decode(writer.ToArray(), "CommitLog-7-1.log", 36, ref handler));
        Assert.Equal(CommitLogError.Unsupported, error.Error);
        Assert.Contains("has no regular column 'gone'", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Every_cut_of_the_mutation_fails_with_the_documented_error_naming_the_offset()
    {
        var mutation = EverythingMutation();
        var decoder = new MutationDecoder(new CassandraSchema(Everything()));
        for (var length = 0; length < mutation.Length; length++)
        {
            var handler = new RecordingHandler(T0, L0);
            var error = Assert.Throws<CommitLogFormatException>(() => decoder.Decode(mutation.AsSpan(0, length), "CommitLog-7-1.log", 1000, ref handler));
            Assert.InRange(error.Offset, 1000, 1000 + length);
        }
    }

    internal static CassandraTable Everything()
    {
        var address = CqlType.UserDefined("address", [("street", CqlType.Of(CqlKind.Text)), ("zip", CqlType.Of(CqlKind.Int))], frozen: false);
        var types = new Dictionary<string, CqlType> { ["address"] = address };
        return new CassandraTable(EverythingId, "ks", "everything",
        [
            ("id", "int", CassandraColumnKind.PartitionKey),
            ("ck1", "text", CassandraColumnKind.Clustering),
            ("ck2", "timestamp", CassandraColumnKind.Clustering),
            ("s", "text", CassandraColumnKind.Static),
            ("c_ascii", "ascii", CassandraColumnKind.Regular),
            ("c_bigint", "bigint", CassandraColumnKind.Regular),
            ("c_blob", "blob", CassandraColumnKind.Regular),
            ("c_boolean", "boolean", CassandraColumnKind.Regular),
            ("c_date", "date", CassandraColumnKind.Regular),
            ("c_decimal", "decimal", CassandraColumnKind.Regular),
            ("c_double", "double", CassandraColumnKind.Regular),
            ("c_duration", "duration", CassandraColumnKind.Regular),
            ("c_float", "float", CassandraColumnKind.Regular),
            ("c_inet", "inet", CassandraColumnKind.Regular),
            ("c_int", "int", CassandraColumnKind.Regular),
            ("c_smallint", "smallint", CassandraColumnKind.Regular),
            ("c_text", "text", CassandraColumnKind.Regular),
            ("c_time", "time", CassandraColumnKind.Regular),
            ("c_timestamp", "timestamp", CassandraColumnKind.Regular),
            ("c_timeuuid", "timeuuid", CassandraColumnKind.Regular),
            ("c_tinyint", "tinyint", CassandraColumnKind.Regular),
            ("c_uuid", "uuid", CassandraColumnKind.Regular),
            ("c_varchar", "varchar", CassandraColumnKind.Regular),
            ("c_varint", "varint", CassandraColumnKind.Regular),
            ("c_frozen_list", "frozen<list<int>>", CassandraColumnKind.Regular),
            ("c_tuple", "tuple<int, text>", CassandraColumnKind.Regular),
            ("c_frozen_udt", "frozen<address>", CassandraColumnKind.Regular),
            ("c_frozen_map", "frozen<map<text, int>>", CassandraColumnKind.Regular),
            ("c_list", "list<int>", CassandraColumnKind.Regular),
            ("c_set", "set<text>", CassandraColumnKind.Regular),
            ("c_map", "map<text, int>", CassandraColumnKind.Regular),
            ("c_udt", "address", CassandraColumnKind.Regular),
        ], types);
    }

    internal static byte[] EverythingMutation()
    {
        const long ck2 = 1_700_000_000_000;
        var w = new MutationWriter().UVInt(1).Partition(EverythingId, MutationWriter.Int(42), 0x04 | 0x08 | 0x10, T0, L0, 0);
        w.Columns("s").Columns(Regulars).Deletion(T0, L0);

        // Static row: extended flags, all columns, a timestamp; the cell takes the row's timestamp.
        w.Byte(0x80 | 0x20 | 0x04).Byte(0x01).Timestamp(T0 + 1).Byte(0x08).VText("static value");
        w.UVInt(3);

        // Row 1: all columns, expiring row liveness; every cell takes the row's timestamp and TTL.
        w.Byte(0x04 | 0x08 | 0x20).ClusteringHeader().VText("a").Raw(MutationWriter.Long(ck2));
        w.Timestamp(T0 + 10).UVInt(3600).LocalDeletionTime(L0 + 3600);
        const int Row = 0x1A; // expiring, with the row's timestamp and TTL
        var date = new byte[4];
        BinaryPrimitives.WriteUInt32BigEndian(date, (1u << 31) + 19723);
        var dbl = new byte[8];
        BinaryPrimitives.WriteDoubleBigEndian(dbl, 1.5);
        var flt = new byte[4];
        BinaryPrimitives.WriteSingleBigEndian(flt, 2.25f);
        var duration = new MutationWriter().UVInt(2).UVInt(3).UVInt(6_000_000_000).ToArray();
        w.Byte(Row).VText("abc");
        w.Byte(Row).Raw(MutationWriter.Long(-5));
        w.Byte(Row).VBytes([1, 2, 3]);
        w.Byte(Row).Raw([1]);
        w.Byte(Row).VBytes(date);
        w.Byte(Row).VBytes([0, 0, 0, 2, 0x30, 0x39]);
        w.Byte(Row).Raw(dbl);
        w.Byte(Row).VBytes(duration);
        w.Byte(Row).Raw(flt);
        w.Byte(Row).VBytes([127, 0, 0, 1]);
        w.Byte(Row).Raw(MutationWriter.Int(7));
        w.Byte(Row).VBytes([0xFF, 0xFE]);
        w.Byte(Row).VText("héllo");
        w.Byte(Row).VBytes(MutationWriter.Long(47_655_500_000_000));
        w.Byte(Row).Raw(MutationWriter.Long(1_700_000_000_123));
        w.Byte(Row).Raw(TimeUuid.ToByteArray(bigEndian: true));
        w.Byte(Row).VBytes([0x80]);
        w.Byte(Row).Raw(Uuid.ToByteArray(bigEndian: true));
        w.Byte(Row).VText("v");
        w.Byte(Row).VBytes([0xFF, 0x7F]);
        w.Byte(Row).VBytes(MutationWriter.Elements(3, MutationWriter.Int(1), null, MutationWriter.Int(2)));
        w.Byte(Row).VBytes(MutationWriter.Elements(null, MutationWriter.Int(3), MutationWriter.Text("x")));
        w.Byte(Row).VBytes(MutationWriter.Elements(null, MutationWriter.Text("Main St"), MutationWriter.Int(12345)));
        w.Byte(Row).VBytes(MutationWriter.Elements(1, MutationWriter.Text("k"), MutationWriter.Int(9)));
        w.UVInt(2).Byte(Row).VBytes(ListPath1.ToByteArray(bigEndian: true)).VBytes(MutationWriter.Int(10))
            .Byte(Row).VBytes(ListPath2.ToByteArray(bigEndian: true)).VBytes(MutationWriter.Int(20));
        w.UVInt(1).Byte(Row | 0x04).VText("member");
        w.UVInt(1).Byte(Row).VText("key").VBytes(MutationWriter.Int(99));
        w.UVInt(2).Byte(Row).VBytes([0, 0]).VText("Elm St").Byte(Row).VBytes([0, 1]).VBytes(MutationWriter.Int(54321));

        // Row 2: some columns (a bitmap of the missing ones), a complex deletion, a tombstone and an expiring cell.
        var present = new[] { "c_int", "c_text", "c_list" }.Select(c => Array.IndexOf(Regulars, c)).ToArray();
        var missing = Enumerable.Range(0, Regulars.Length).Where(i => !present.Contains(i)).Aggregate(0UL, (bits, i) => bits | (1UL << i));
        w.Byte(0x04 | 0x40).ClusteringHeader().VText("b").Raw(MutationWriter.Long(ck2)).Timestamp(T0 + 20).UVInt(missing);
        w.Byte(0x02).Timestamp(T0 + 21).LocalDeletionTime(L0 + 60).UVInt(60).Raw(MutationWriter.Int(8));
        w.Byte(0x01 | 0x04).Timestamp(T0 + 20).LocalDeletionTime(L0 + 5);
        w.Deletion(T0 + 19, L0 + 5).UVInt(1).Byte(0x08).VBytes(ListPath1.ToByteArray(bigEndian: true)).VBytes(MutationWriter.Int(30));

        // Row 3: a row deletion, no columns.
        w.Byte(0x10).ClusteringHeader().VText("c").Raw(MutationWriter.Long(ck2)).Deletion(T0 + 30, L0 + 7).UVInt((1UL << Regulars.Length) - 1);

        // Every row under ck1 = 'd' ([d, d]), a range deletion from [f] to a boundary at (g, ck2), and a second range from
        // there to an end with an empty prefix (the partition's last row).
        w.Byte(0x02).Byte(1).Short(1).ClusteringHeader().VText("d").Deletion(T0 + 40, L0 + 8);
        w.Byte(0x02).Byte(6).Short(1).ClusteringHeader().VText("d").Deletion(T0 + 40, L0 + 8);
        w.Byte(0x02).Byte(1).Short(1).ClusteringHeader().VText("f").Deletion(T0 + 40, L0 + 8);
        w.Byte(0x02).Byte(2).Short(2).ClusteringHeader().VText("g").Raw(MutationWriter.Long(ck2)).Deletion(T0 + 40, L0 + 8).Deletion(T0 + 41, L0 + 9);
        w.Byte(0x02).Byte(6).Short(0).Deletion(T0 + 41, L0 + 9);
        return w.Byte(0x01).ToArray();
    }

    private static CassandraTable Wide() => new(WideId, "ks", "wide",
    [
        ("id", "int", CassandraColumnKind.PartitionKey),
        ("ck", "int", CassandraColumnKind.Clustering),
        .. Enumerable.Range(0, 70).Select(i => ($"c{i}", "int", CassandraColumnKind.Regular)),
    ]);

    private static CassandraTable Composite() => new(CompositeId, "ks", "composite",
    [
        ("a", "int", CassandraColumnKind.PartitionKey),
        ("b", "text", CassandraColumnKind.PartitionKey),
        ("c", "int", CassandraColumnKind.Clustering),
        ("v", "int", CassandraColumnKind.Regular),
    ]);
}
