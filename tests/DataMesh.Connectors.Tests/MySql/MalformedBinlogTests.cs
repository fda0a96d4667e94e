using System.Buffers.Binary;
using DataMesh.Connectors.MySql;
using DataMesh.Connectors.MySql.Binlog;
using Xunit;

namespace DataMesh.Tests.MySql;

/// <summary>Broken input gives a <see cref="BinlogFormatException"/> that names the event, the field and the position;
/// never a crash of another kind, never a silently wrong row.</summary>
public sealed class MalformedBinlogTests
{
    [Fact]
    public void A_flipped_byte_is_a_crc_mismatch_named_with_event_and_position()
    {
        var events = BinlogEvents.Workload();
        var index = events.FindIndex(e => e[4] == (byte)BinlogEventType.WriteRowsV1);
        var processor = BinlogEvents.Processor(new RecordingHandler());
        for (var i = 0; i < index; i++)
        {
            processor.Process(events[i]);
        }

        var corrupt = (byte[])events[index].Clone();
        corrupt[BinlogEventHeader.Length + 12] ^= 0x10;
        var error = Assert.Throws<BinlogFormatException>(() => processor.Process(corrupt));

        var position = BinaryPrimitives.ReadUInt32LittleEndian(corrupt.AsSpan(13)) - corrupt.Length;
        Assert.Contains("CRC32 mismatch", error.Message, StringComparison.Ordinal);
        Assert.Equal("WRITE_ROWS_v1", error.EventType);
        Assert.Equal("checksum", error.Field);
        Assert.Equal(position, error.Position);
        Assert.Equal("workload.binlog", error.File);
        Assert.Contains($"workload.binlog:{position}", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_truncated_event_is_an_error_with_its_size_and_position()
    {
        var events = BinlogEvents.Workload();
        var processor = BinlogEvents.Processor(new RecordingHandler());
        processor.Process(events[0]);
        var error = Assert.Throws<BinlogFormatException>(() => processor.Process(events[1].AsSpan(0, events[1].Length - 7)));
        Assert.Equal("event_size", error.Field);
        Assert.Contains("the header says", error.Message, StringComparison.Ordinal);

        Assert.Throws<BinlogFormatException>(() => processor.Process(events[1].AsSpan(0, 10)));
    }

    [Fact]
    public void Rows_that_do_not_fit_their_table_map_are_an_error_naming_the_column()
    {
        // Re-frame a rows event with one byte cut from its rows and a fresh checksum: the CRC passes, the rows do not fit.
        var events = BinlogEvents.Workload();
        var index = events.FindIndex(e => e[4] == (byte)BinlogEventType.WriteRowsV1);
        var processor = BinlogEvents.Processor(new RecordingHandler());
        for (var i = 0; i < index; i++)
        {
            processor.Process(events[i]);
        }

        var original = events[index];
        var shorter = Reframe(original.AsSpan(0, original.Length - 4 - 1).ToArray());
        var error = Assert.Throws<BinlogFormatException>(() => processor.Process(shorter));
        Assert.Equal("WRITE_ROWS_v1", error.EventType);
        Assert.StartsWith("column ", error.Field, StringComparison.Ordinal);
        Assert.Contains("TABLE_MAP", error.Message, StringComparison.Ordinal);
        Assert.True(error.Position > 0);
    }

    [Fact]
    public void A_table_map_that_disagrees_with_the_tracked_schema_stops_with_the_column()
    {
        var events = BinlogEvents.Workload();
        var schema = new DataMesh.Connectors.MySql.Schema.SchemaTracker();
        var processor = BinlogEvents.Processor(new RecordingHandler(), schema);
        var mapIndex = events.FindIndex(e => e[4] == (byte)BinlogEventType.TableMap);
        for (var i = 0; i < mapIndex; i++)
        {
            processor.Process(events[i]);
        }

        // The tracked schema says `ti` is a SMALLINT; the binlog's TABLE_MAP says TINYINT.
        var table = schema.Find("fixture", "alltypes")!;
        var columns = table.Columns.ToList();
        columns[1] = columns[1] with { TypeName = "smallint" };
        schema.Put(table with { Columns = columns });
        processor.Process(events[mapIndex]);
        var error = Assert.Throws<BinlogFormatException>(() => processor.Process(events[mapIndex + 1]));
        Assert.Contains("column 2 'ti'", error.Message, StringComparison.Ordinal);
        Assert.Contains("does not match the binlog", error.Message, StringComparison.Ordinal);
        Assert.True(error.Position > 0);
    }

    [Fact]
    public void An_unknown_event_type_is_skipped_by_length_and_counted()
    {
        var events = BinlogEvents.Workload();
        var processor = BinlogEvents.Processor(new RecordingHandler());
        processor.Process(events[0]);
        var unknown = Reframe([.. events[1].AsSpan(0, 19), 1, 2, 3, 4, 5], type: 222, nextPosition: 0);
        processor.Process(unknown);
        Assert.Equal(1, processor.Decoder.UnknownEvents);
    }

    [Fact]
    public void A_ddl_statement_that_cannot_be_parsed_stops_with_statement_and_position_unless_skipping_is_set()
    {
        var handler = new RecordingHandler();
        var events = BinlogEvents.Workload();
        var processor = BinlogEvents.Processor(handler);
        processor.Process(events[0]);
        var ddl = QueryEvent("fixture", "ALTER TABLE nowhere ADD COLUMN x INT");
        var error = Assert.Throws<MySqlSchemaException>(() => processor.Process(ddl));
        Assert.Contains("ALTER TABLE nowhere", error.Statement, StringComparison.Ordinal);
        Assert.Contains("workload.binlog:", error.Message, StringComparison.Ordinal);

        var skipping = new BinlogProcessor(new BinlogDecoder("workload.binlog", 0), new DataMesh.Connectors.MySql.Schema.SchemaTracker(), handler, static (_, _) => true) { SkipUnparseableDdl = true };
        skipping.Process(events[0]);
        skipping.Process(ddl);
        Assert.Contains(handler.Log, l => l.StartsWith("skipped ALTER TABLE nowhere", StringComparison.Ordinal));
    }

    internal static byte[] QueryEvent(string database, string sql)
    {
        var db = System.Text.Encoding.UTF8.GetBytes(database);
        var text = System.Text.Encoding.UTF8.GetBytes(sql);
        var body = new byte[4 + 4 + 1 + 2 + 2 + db.Length + 1 + text.Length];
        body[8] = (byte)db.Length;
        db.CopyTo(body, 13);
        text.CopyTo(body, 13 + db.Length + 1);
        return Reframe([.. new byte[19], .. body], type: (byte)BinlogEventType.Query, nextPosition: 1000);
    }

    /// <summary>Appends a CRC32 after setting size, type and position in the header.</summary>
    internal static byte[] Reframe(byte[] withoutChecksum, byte? type = null, uint? nextPosition = null)
    {
        byte[] data = [.. withoutChecksum, 0, 0, 0, 0];
        if (type is { } t)
        {
            data[4] = t;
        }

        BinaryPrimitives.WriteUInt32LittleEndian(data.AsSpan(9), (uint)data.Length);
        if (nextPosition is { } next)
        {
            BinaryPrimitives.WriteUInt32LittleEndian(data.AsSpan(13), next);
        }

        BinaryPrimitives.WriteUInt32LittleEndian(data.AsSpan(data.Length - 4), Crc32Of(data.AsSpan(0, data.Length - 4)));
        return data;
    }

    private static uint Crc32Of(ReadOnlySpan<byte> data)
    {
        // An independent bitwise CRC-32 (zlib), not the code under test.
        var crc = 0xFFFFFFFFu;
        foreach (var b in data)
        {
            crc ^= b;
            for (var k = 0; k < 8; k++)
            {
                crc = (crc & 1) != 0 ? 0xEDB88320u ^ (crc >> 1) : crc >> 1;
            }
        }

        return ~crc;
    }
}
