using System.Buffers.Binary;
using System.IO.Compression;
using DataMesh.Connectors.MySql;
using DataMesh.Connectors.MySql.Binlog;
using Xunit;

namespace DataMesh.Tests.MySql;

/// <summary>
/// MariaDB's compressed events (<c>log_bin_compress=ON</c>). The recorded workload's real QUERY and rows events are
/// written again as MariaDB compresses them (<c>binlog_buf_compress</c> in <c>sql/log_event.cc</c>: the statement, or
/// the rows after the column bitmaps, replaced by a record of one header byte <c>0x80 | length bytes</c>, the
/// uncompressed length high byte first and a zlib stream; types 165 and 166–168). Read back, they give what the plain
/// file gives; broken records are errors naming the field and the byte. The real server's own compressed events are
/// read in the integration tests (<c>MariaDbBinlogComparisonTests</c>, <c>MariaDbCompressedBinlogTests</c>).
/// </summary>
public sealed class CompressedEventTests
{
    [Fact]
    public async Task The_workload_written_with_compressed_events_reads_as_the_plain_file_does()
    {
        var events = BinlogEvents.Workload();
        var compressed = 0;
        var rewritten = new List<byte[]>();
        foreach (var e in events)
        {
            var type = (BinlogEventType)e[4];
            var copy = type == BinlogEventType.Query || RowsEvent.IsRowsEvent(type) && type <= BinlogEventType.DeleteRowsV1 ? Compress(e) : e;
            compressed += copy == e ? 0 : 1;
            rewritten.Add(copy);
        }

        Assert.True(compressed > 20, $"only {compressed} events compressed");
        await AssertReadsAsTheWorkloadAsync(rewritten);
    }

    [Theory]
    [InlineData(0x00, "compressed_record", "bit 7")]
    [InlineData(0x91, "compressed_record", "algorithm 1")]
    [InlineData(0x85, "compressed_record", "takes 5 bytes")]
    [InlineData(0x80, "compressed_record", "takes 0 bytes")]
    public void A_record_header_MariaDB_does_not_write_is_an_error_naming_it(byte header, string field, string reason)
    {
        var (processor, rows) = BeforeFirstRowsEvent();
        var (compressed, recordOffset) = CompressRows(rows);
        compressed[recordOffset] = header;
        var error = Assert.Throws<BinlogFormatException>(() => processor.Process(MalformedBinlogTests.Reframe(compressed[..^4])));

        Assert.Equal("WRITE_ROWS_COMPRESSED_v1", error.EventType);
        Assert.Equal(field, error.Field);
        Assert.Contains(reason, error.Message, StringComparison.Ordinal);
        Assert.Contains($"byte {recordOffset}", error.Message, StringComparison.Ordinal);
        Assert.Contains("workload.binlog:", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(-1, "inflate to more than")]
    [InlineData(+1, "inflate to")]
    public void A_stated_length_the_data_does_not_inflate_to_is_an_error(int change, string reason)
    {
        var (processor, rows) = BeforeFirstRowsEvent();
        var (compressed, recordOffset) = CompressRows(rows, lengthChange: change);
        var error = Assert.Throws<BinlogFormatException>(() => processor.Process(MalformedBinlogTests.Reframe(compressed[..^4])));

        Assert.Equal("compressed_data", error.Field);
        Assert.Contains(reason, error.Message, StringComparison.Ordinal);
        Assert.Contains($"byte {recordOffset + 3}", error.Message, StringComparison.Ordinal); // the header byte, 2 length bytes
    }

    [Fact]
    public void Data_that_is_not_zlib_and_lengths_it_cannot_have_are_errors()
    {
        var (processor, rows) = BeforeFirstRowsEvent();
        var (compressed, recordOffset) = CompressRows(rows);
        compressed[recordOffset + 3] ^= 0xFF; // the zlib header's first byte
        var error = Assert.Throws<BinlogFormatException>(() => processor.Process(MalformedBinlogTests.Reframe(compressed[..^4])));
        Assert.Equal("compressed_data", error.Field);
        Assert.Contains("not a valid zlib stream", error.Message, StringComparison.Ordinal);

        (processor, rows) = BeforeFirstRowsEvent();
        (compressed, recordOffset) = CompressRows(rows);
        compressed[recordOffset] = 0x84;
        byte[] huge = [.. compressed[..(recordOffset + 1)], 0x40, 0x00, 0x00, 0x01, .. compressed[(recordOffset + 3)..^4]];
        error = Assert.Throws<BinlogFormatException>(() => processor.Process(MalformedBinlogTests.Reframe(huge)));
        Assert.Contains("over 1 GiB", error.Message, StringComparison.Ordinal);

        // A length no zlib data of the event's size can inflate to is refused before anything that large is allocated.
        (processor, rows) = BeforeFirstRowsEvent();
        (compressed, recordOffset) = CompressRows(rows);
        compressed[recordOffset] = 0x84;
        byte[] large = [.. compressed[..(recordOffset + 1)], 0x10, 0x00, 0x00, 0x00, .. compressed[(recordOffset + 3)..^4]];
        error = Assert.Throws<BinlogFormatException>(() => processor.Process(MalformedBinlogTests.Reframe(large)));
        Assert.Equal("compressed_record", error.Field);
        Assert.Contains("more than", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_compressed_query_whose_status_variables_run_past_its_end_is_an_error()
    {
        var events = BinlogEvents.Workload();
        var query = events.First(e => e[4] == (byte)BinlogEventType.Query);
        var compressed = Compress(query);
        BinaryPrimitives.WriteUInt16LittleEndian(compressed.AsSpan(BinlogEventHeader.Length + 11), 60000);
        var processor = BinlogEvents.Processor(new RecordingHandler());
        processor.Process(events[0]);
        var error = Assert.Throws<BinlogFormatException>(() => processor.Process(MalformedBinlogTests.Reframe(compressed[..^4])));
        Assert.Equal("QUERY_COMPRESSED", error.EventType);
        Assert.Equal("status_vars_length", error.Field);
    }

    [Theory]
    [InlineData(TransactionPayloadEvent.Zstd)]
    [InlineData(TransactionPayloadEvent.None)]
    public async Task The_workload_with_its_transactions_in_MySQL_payload_events_reads_as_the_plain_file_does(int compression)
    {
        // MySQL 8.0.20+ with binlog_transaction_compression=ON writes each transaction's events (after its GTID event)
        // without checksums into one TRANSACTION_PAYLOAD event (MySQL's Transaction_payload codec; no MySQL server runs
        // here, so the recorded MariaDB workload's transactions are wrapped as MySQL wraps its own).
        var events = BinlogEvents.Workload();
        var rewritten = new List<byte[]>();
        var payloads = 0;
        for (var i = 0; i < events.Count; i++)
        {
            rewritten.Add(events[i]);
            if (events[i][4] != (byte)BinlogEventType.MariaDbGtid)
            {
                continue;
            }

            var end = events.FindIndex(i + 1, e => e[4] is (byte)BinlogEventType.Xid or (byte)BinlogEventType.MariaDbGtid or (byte)BinlogEventType.Rotate);
            if (end < 0 || events[end][4] != (byte)BinlogEventType.Xid)
            {
                continue; // DDL and other transactions without an XID stay as they are
            }

            rewritten.Add(Payload(events.GetRange(i + 1, end - i), compression));
            payloads++;
            i = end;
        }

        Assert.True(payloads > 10, $"only {payloads} transactions wrapped");
        // `row` numbers a compressed transaction's rows through it, where the plain file numbers each rows event's.
        await AssertReadsAsTheWorkloadAsync(rewritten, compareRows: false);
    }

    [Fact]
    public void Broken_payloads_are_errors_naming_the_field_and_never_a_partial_transaction()
    {
        var events = BinlogEvents.Workload();
        var gtid = events.FindIndex(e => e[4] == (byte)BinlogEventType.MariaDbGtid && events.FindIndex(events.IndexOf(e), x => x[4] == (byte)BinlogEventType.Xid) > 0);
        var xid = events.FindIndex(gtid, e => e[4] == (byte)BinlogEventType.Xid);
        var transaction = events.GetRange(gtid + 1, xid - gtid);

        BinlogFormatException Read(byte[] payload)
        {
            var handler = new RecordingHandler();
            var processor = BinlogEvents.Processor(handler);
            for (var i = 0; i <= gtid; i++)
            {
                processor.Process(events[i]);
            }

            var rows = handler.Rows;
            var error = Assert.Throws<BinlogFormatException>(() => processor.Process(payload));
            Assert.Equal(rows, handler.Rows);
            Assert.Contains("workload.binlog:", error.Message, StringComparison.Ordinal);
            return error;
        }

        var error = Read(Payload(transaction, TransactionPayloadEvent.Zstd, corrupt: p => p[^3] ^= 0x55));
        Assert.Equal("payload", error.Field);
        Assert.Contains("zstd", error.Message, StringComparison.Ordinal);

        error = Read(Payload(transaction, 7));
        Assert.Equal("compression_type", error.Field);
        Assert.Contains("compression type 7", error.Message, StringComparison.Ordinal);

        error = Read(Payload(transaction, TransactionPayloadEvent.Zstd, uncompressedChange: 5));
        Assert.Equal("payload", error.Field);

        error = Read(Payload(transaction, TransactionPayloadEvent.None, payloadSizeChange: -1));
        Assert.Equal("payload_size", error.Field);

        // An event inside the payload whose size runs past the payload's end.
        var last = transaction[^1].Length - 4;
        error = Read(Payload(transaction, TransactionPayloadEvent.None, corrupt: p => BinaryPrimitives.WriteUInt32LittleEndian(p.AsSpan(p.Length - last + 9), 4000)));
        Assert.Contains("gives its size as", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Mutated_compressed_events_and_payloads_give_only_documented_errors()
    {
        // The shared fuzz harness over the new paths: each real QUERY or rows event compressed as MariaDB does, or a real
        // transaction wrapped as MySQL does (zstd or none), then mutated and framed again with a valid CRC.
        var events = BinlogEvents.Workload();
        var gtids = Enumerable.Range(0, events.Count).Where(i => events[i][4] == (byte)BinlogEventType.MariaDbGtid
            && events.FindIndex(i + 1, e => e[4] is (byte)BinlogEventType.Xid or (byte)BinlogEventType.MariaDbGtid) is var end && end > 0
            && events[end][4] == (byte)BinlogEventType.Xid).ToList();
        var compressible = Enumerable.Range(0, events.Count).Where(i => events[i][4] is (byte)BinlogEventType.Query
            or (byte)BinlogEventType.WriteRowsV1 or (byte)BinlogEventType.UpdateRowsV1 or (byte)BinlogEventType.DeleteRowsV1).ToList();
        var run = Fuzz.Run(
            "compressed binlog events",
            seed: 20261208,
            iterations: 1500,
            random =>
            {
                int target;
                byte[] data;
                var skip = 0;
                if (random.Next(2) == 0)
                {
                    target = compressible[random.Next(compressible.Count)];
                    data = Compress(events[target]);
                }
                else
                {
                    var gtid = gtids[random.Next(gtids.Count)];
                    var xid = events.FindIndex(gtid + 1, e => e[4] == (byte)BinlogEventType.Xid);
                    target = gtid + 1;
                    skip = xid - gtid - 1;
                    data = Payload(events.GetRange(gtid + 1, xid - gtid), random.Next(2) == 0 ? TransactionPayloadEvent.Zstd : TransactionPayloadEvent.None);
                }

                data = Fuzz.Mutate(data, random);
                if (data.Length >= 23)
                {
                    data = MalformedBinlogTests.Reframe(data.AsSpan(0, data.Length - 4).ToArray());
                }

                return (Target: target, Skip: skip, Data: data);
            },
            input =>
            {
                var processor = BinlogEvents.Processor(new RecordingHandler());
                for (var i = 0; i < events.Count; i++)
                {
                    processor.Process(i == input.Target ? input.Data : events[i]);
                    i += i == input.Target ? input.Skip : 0;
                }
            },
            input => $"event {input.Target} (type {input.Data.ElementAtOrDefault(4)}): {Convert.ToHexString(input.Data)}",
            [typeof(BinlogFormatException), typeof(MySqlSchemaException)]);

        Assert.True(run.Refused > run.Iterations / 10, $"only {run.Refused} of {run.Iterations} mutations were detected");
    }

    [Fact]
    public void A_zlib_stream_that_asks_for_a_preset_dictionary_is_an_error_naming_the_data()
    {
        // A zlib header with FDICT set (78 20: a preset dictionary, which MariaDB never uses): inflate answers Z_NEED_DICT,
        // which .NET raises as an IOException that is no InvalidDataException.
        var (processor, rows) = BeforeFirstRowsEvent();
        var (compressed, recordOffset) = CompressRows(rows);
        byte[] withDictionary = [.. compressed[..(recordOffset + 3)], 0x78, 0x20, 0x01, 0x02, 0x03, 0x04, .. compressed[(recordOffset + 5)..^4]];
        var error = Assert.Throws<BinlogFormatException>(() => processor.Process(MalformedBinlogTests.Reframe(withDictionary)));
        Assert.Equal("compressed_data", error.Field);
        Assert.Contains("zlib", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_payload_stating_more_than_its_zstd_data_can_hold_is_refused_before_that_much_is_allocated()
    {
        var events = BinlogEvents.Workload();
        var gtid = events.FindIndex(e => e[4] == (byte)BinlogEventType.MariaDbGtid && events.FindIndex(events.IndexOf(e), x => x[4] == (byte)BinlogEventType.Xid) > 0);
        var xid = events.FindIndex(gtid, e => e[4] == (byte)BinlogEventType.Xid);
        var payload = Payload(events.GetRange(gtid + 1, xid - gtid), TransactionPayloadEvent.Zstd, uncompressedChange: 512 * 1024 * 1024);
        Assert.True(payload.Length < 4096, $"the payload event has {payload.Length} bytes");
        var processor = BinlogEvents.Processor(new RecordingHandler());
        for (var i = 0; i <= gtid; i++)
        {
            processor.Process(events[i]);
        }

        var before = GC.GetAllocatedBytesForCurrentThread();
        var error = Assert.Throws<BinlogFormatException>(() => processor.Process(payload));
        var allocated = GC.GetAllocatedBytesForCurrentThread() - before;

        Assert.Equal("uncompressed_size", error.Field);
        Assert.True(allocated < 64 * 1024 * 1024, $"{allocated} bytes allocated for a {payload.Length}-byte event");
    }

    [Fact]
    public void Rows_of_one_compressed_transaction_have_positions_of_their_own_in_order()
    {
        // Every row of a TRANSACTION_PAYLOAD carries the payload event's position: `row` numbers them through the
        // transaction (as an XA COMMIT's held rows are), or two changes of it would share file, pos and row.
        var events = BinlogEvents.Workload();
        var index = -1;
        List<byte[]>? transaction = null;
        for (var gtid = events.FindIndex(e => e[4] == (byte)BinlogEventType.MariaDbGtid); gtid >= 0 && transaction is null; gtid = events.FindIndex(gtid + 1, e => e[4] == (byte)BinlogEventType.MariaDbGtid))
        {
            var end = events.FindIndex(gtid + 1, e => e[4] is (byte)BinlogEventType.Xid or (byte)BinlogEventType.MariaDbGtid);
            if (end > 0 && events[end][4] == (byte)BinlogEventType.Xid && events.GetRange(gtid + 1, end - gtid).Count(e => RowsEvent.IsRowsEvent((BinlogEventType)e[4])) > 1)
            {
                index = gtid;
                transaction = events.GetRange(gtid + 1, end - gtid);
            }
        }

        Assert.NotNull(transaction);
        var handler = new PositionHandler();
        var processor = BinlogEvents.Processor(handler);
        for (var i = 0; i <= index; i++)
        {
            processor.Process(events[i]);
        }

        handler.Changes.Clear();
        processor.Process(Payload(transaction, TransactionPayloadEvent.Zstd));

        Assert.True(handler.Changes.Count > 1, $"{handler.Changes.Count} changes");
        Assert.Equal(Enumerable.Range(0, handler.Changes.Count), handler.Changes.Select(c => c.Row));
        Assert.Single(handler.Changes.Select(c => c.Position).Distinct());
    }

    private sealed class PositionHandler : RecordingHandler
    {
        public List<(long Position, int Row)> Changes { get; } = [];

        public override void OnRow(scoped in RowChange change, TransactionState transaction)
        {
            base.OnRow(change, transaction);
            Changes.Add((change.Position, change.Row));
        }
    }

    /// <summary>Writes the events as a binlog file and reads it: the changes equal the recorded workload's.</summary>
    private static async Task AssertReadsAsTheWorkloadAsync(List<byte[]> events, bool compareRows = true)
    {
        var path = Path.Combine(Path.GetTempPath(), $"rewritten-{Guid.NewGuid():N}.binlog");
        try
        {
            await File.WriteAllBytesAsync(path, Concatenate(events));
            var plain = await ReadAsync(Fixtures.Path("workload.binlog"));
            var read = await ReadAsync(path);
            if (!compareRows)
            {
                static string WithoutRow(string change) => change[..change.LastIndexOf(" row ", StringComparison.Ordinal)];
                plain = plain.ConvertAll(WithoutRow);
                read = read.ConvertAll(WithoutRow);
            }

            Assert.True(plain.Count > 20, $"only {plain.Count} changes");
            Assert.Equal(plain, read);
        }
        finally
        {
            File.Delete(path);
        }
    }

    private static async Task<List<string>> ReadAsync(string path)
    {
        var changes = new List<string>();
        await foreach (var change in BinlogFileReader.ReadAsync([path]))
        {
            static string Values(IReadOnlyList<object?>? values) => values is null ? "-" : string.Join("|", values.Select(v => v switch
            {
                null => "null",
                byte[] bytes => Convert.ToHexString(bytes),
                DataMesh.Events.GeometryValue g => $"{g.Srid}:{Convert.ToHexString(g.Wkb.Span)}",
                _ => Convert.ToString(v, System.Globalization.CultureInfo.InvariantCulture),
            }));

            changes.Add($"{change.Database}.{change.Table} {change.Operation} [{string.Join(",", change.Columns)}] [{string.Join(",", change.ColumnTypes)}] {Values(change.Before)} {Values(change.After)} row {change.Row}");
        }

        return changes;
    }

    /// <summary>A processor that has read the workload up to its first WRITE_ROWS_v1, and that event.</summary>
    private static (BinlogProcessor Processor, byte[] Rows) BeforeFirstRowsEvent()
    {
        var events = BinlogEvents.Workload();
        var index = events.FindIndex(e => e[4] == (byte)BinlogEventType.WriteRowsV1);
        var processor = BinlogEvents.Processor(new RecordingHandler());
        for (var i = 0; i < index; i++)
        {
            processor.Process(events[i]);
        }

        return (processor, events[index]);
    }

    /// <summary>The event (header and checksum included) as MariaDB compresses it, with its next position unchanged.</summary>
    private static byte[] Compress(byte[] e) => (BinlogEventType)e[4] == BinlogEventType.Query ? CompressQuery(e) : CompressRows(e).Event;

    private static byte[] CompressQuery(byte[] e)
    {
        var body = e.AsSpan(BinlogEventHeader.Length, e.Length - BinlogEventHeader.Length - 4);
        var start = 13 + BinaryPrimitives.ReadUInt16LittleEndian(body[11..]) + body[8] + 1;
        return Framed(e, BinlogEventType.QueryCompressed, BinlogEventHeader.Length + start, 0).Event;
    }

    private static (byte[] Event, int RecordOffset) CompressRows(byte[] e, int lengthChange = 0)
    {
        var type = (BinlogEventType)e[4];
        var at = BinlogEventHeader.Length + 8;
        var width = (int)e[at++]; // the workload's tables have fewer than 251 columns: a one-byte count
        at += (width + 7) / 8 * (type == BinlogEventType.UpdateRowsV1 ? 2 : 1);
        return Framed(e, BinlogEventType.WriteRowsCompressedV1 + (type - BinlogEventType.WriteRowsV1), at, lengthChange);
    }

    /// <summary>The event with its bytes from <paramref name="start"/> (to the checksum) replaced by a compressed record.</summary>
    private static (byte[] Event, int RecordOffset) Framed(byte[] e, BinlogEventType type, int start, int lengthChange)
    {
        var plain = e.AsSpan(start, e.Length - 4 - start);
        using var zlib = new MemoryStream();
        using (var stream = new ZLibStream(zlib, CompressionLevel.Optimal, leaveOpen: true))
        {
            stream.Write(plain);
        }

        var stated = plain.Length + lengthChange;
        byte[] record = [0x82, (byte)(stated >> 8), (byte)stated, .. zlib.ToArray()];
        Assert.True(stated < 65536);
        byte[] withoutChecksum = [.. e.AsSpan(0, start), .. record];
        return (MalformedBinlogTests.Reframe(withoutChecksum, (byte)type), start);
    }

    /// <summary>A TRANSACTION_PAYLOAD event holding <paramref name="transaction"/>'s events without their checksums and with
    /// next position 0, as MySQL's <c>Transaction_payload</c> codec writes it: fields (packed type, packed length, packed
    /// value) for the payload's size, the compression type and the uncompressed size, the end mark, the payload.</summary>
    private static byte[] Payload(List<byte[]> transaction, int compression, Action<byte[]>? corrupt = null, int uncompressedChange = 0, int payloadSizeChange = 0)
    {
        using var raw = new MemoryStream();
        foreach (var e in transaction)
        {
            var inner = e[..^4];
            BinaryPrimitives.WriteUInt32LittleEndian(inner.AsSpan(9), (uint)inner.Length);
            BinaryPrimitives.WriteUInt32LittleEndian(inner.AsSpan(13), 0);
            raw.Write(inner);
        }

        var events = raw.ToArray();
        byte[] payload;
        if (compression == TransactionPayloadEvent.Zstd)
        {
            using var zstd = new ZstdSharp.Compressor();
            payload = zstd.Wrap(events).ToArray();
        }
        else
        {
            payload = events;
        }

        corrupt?.Invoke(payload);
        var body = new List<byte>();
        void Field(ulong type, ulong value)
        {
            var packed = Packed(value);
            body.AddRange(Packed(type));
            body.AddRange(Packed((ulong)packed.Length));
            body.AddRange(packed);
        }

        Field(1, (ulong)(payload.Length + payloadSizeChange));
        Field(2, (ulong)compression);
        Field(3, (ulong)(events.Length + uncompressedChange));
        body.Add(0);
        body.AddRange(payload);
        byte[] header = [.. transaction[0].AsSpan(0, BinlogEventHeader.Length)];
        return MalformedBinlogTests.Reframe([.. header, .. body], (byte)BinlogEventType.TransactionPayload, nextPosition: 1);
    }

    /// <summary>MySQL's packed integer (<c>net_store_length</c>).</summary>
    private static byte[] Packed(ulong value) => value switch
    {
        < 251 => [(byte)value],
        < 65536 => [0xFC, (byte)value, (byte)(value >> 8)],
        < 16777216 => [0xFD, (byte)value, (byte)(value >> 8), (byte)(value >> 16)],
        _ => [0xFE, .. BitConverter.GetBytes(value)],
    };

    /// <summary>A binlog file of the events, each event's next position made to fit the new sizes.</summary>
    private static byte[] Concatenate(List<byte[]> events)
    {
        using var file = new MemoryStream();
        file.Write(Fixtures.Read("workload.binlog").AsSpan(0, 4));
        foreach (var e in events)
        {
            var next = (uint)(file.Length + e.Length);
            var copy = BinaryPrimitives.ReadUInt32LittleEndian(e.AsSpan(13)) == 0 ? e : MalformedBinlogTests.Reframe(e[..^4], nextPosition: next);
            file.Write(copy);
        }

        return file.ToArray();
    }
}
