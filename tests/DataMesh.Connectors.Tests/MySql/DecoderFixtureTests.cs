using System.Buffers.Binary;
using System.Numerics;
using DataMesh.Connectors.MySql;
using DataMesh.Connectors.MySql.Binlog;
using Xunit;

namespace DataMesh.Tests.MySql;

/// <summary>
/// Real bytes: decoder.binlog, which MariaDB 10.11 wrote for Fixtures/MySql/decoder.sql (YEAR columns among signed and
/// unsigned numbers, BINARY and CHAR values that end in pad bytes, XA transactions prepared, then committed or rolled
/// back while others commit), and the workload's MINIMAL and NOBLOB row images.
/// </summary>
public sealed class DecoderFixtureTests
{
    private const string File = "decoder.binlog";

    [Fact]
    public async Task Numbers_after_YEAR_columns_read_the_signedness_bit_the_server_wrote_for_them()
    {
        var signs = (await ReadAsync()).Where(c => c.Table == "signs").ToList();

        Assert.Equal(2, signs.Count);
        var row = Row(signs[0]);
        Assert.Equal(2024, row["y0"]);
        Assert.Equal(4294967295L, row["u"]);
        Assert.Equal(int.MinValue, row["s"]);
        Assert.Equal(1901, row["y1"]);
        Assert.Equal(255, row["tu"]);
        Assert.Equal(-128, row["ts"]);
        Assert.Equal(65535, row["su"]);
        Assert.Equal(16777215, row["mu"]);
        Assert.Equal(-8388608, row["ms"]);
        Assert.Equal(ulong.MaxValue, row["bu"]);
        Assert.Equal(new BigInteger(-123450), row["d"]);
        Assert.Equal(1.5f, row["f"]);
        Assert.Equal(-2.25, row["dd"]);
        Assert.Equal(2155, row["y2"]);
        Assert.Equal(3000000000L, row["iu"]);
        Assert.Equal(0, Row(signs[1])["y0"]);

        // MariaDB sets YEAR's bit (its YEAR is an unsigned TINYINT); the bits after it belong to the columns after it.
        var map = TableMaps().First(m => m.Table == "signs");
        var names = map.ColumnNames!;
        var unsigned = names.Select((n, i) => (n, i)).Where(x => map.Unsigned![x.i]).Select(x => x.n).ToList();
        Assert.Equal(["y0", "u", "y1", "tu", "su", "mu", "bu", "y2", "iu"], unsigned);
    }

    [Fact]
    public void A_tracked_primary_key_that_differs_from_the_TABLE_MAPs_stops_the_binding_rather_than_key_events_wrongly()
    {
        // binlog_row_metadata=FULL gives the primary key (or none): `bins` has (id), `xa` has (id).
        var map = TableMaps().First(m => m.Table == "bins");
        var described = TableBinding.DescribeFromMap(map, mariaDb: true);
        Assert.Equal(["id"], described.PrimaryKey);
        TableBinding.Create(map, described, mariaDb: true);

        foreach (var wrong in new string[][] { ["b"], ["id", "b"] })
        {
            var error = Assert.Throws<BinlogFormatException>(() => TableBinding.Create(map, described with { PrimaryKey = wrong }, mariaDb: true));
            Assert.Contains("primary key (id)", error.Message, StringComparison.Ordinal);
            Assert.Contains("`bins`", error.Message, StringComparison.Ordinal);
        }

        // A table without a declared key may have one to the server: the first UNIQUE key of NOT NULL columns (a SERIAL
        // column, say), which the map gives and the tracked schema does not follow. Not a mismatch.
        TableBinding.Create(map, described with { PrimaryKey = [] }, mariaDb: true);
    }

    [Fact]
    public async Task BINARY_values_keep_their_trailing_zero_bytes_and_CHAR_values_read_as_a_SELECT_returns_them()
    {
        var bins = (await ReadAsync()).Where(c => c.Table == "bins").ToList();

        var first = Row(bins[0]);
        Assert.Equal(Convert.FromHexString("00AB00000000"), first["id"]);
        Assert.Equal(new byte[4], first["b"]);
        Assert.Equal("ab", first["c"]);
        Assert.Equal("é", first["cl"]);
        Assert.Equal(Convert.FromHexString("AB00"), first["vb"]);
        Assert.Equal(new byte[1], first["b1"]);
        var second = Row(bins[1]);
        Assert.Equal(new byte[6], second["id"]);
        Assert.Equal(Convert.FromHexString("01000002"), second["b"]);
        Assert.Equal(string.Empty, second["c"]);
        Assert.Equal(Array.Empty<byte>(), second["vb"]);
        Assert.Equal("A"u8.ToArray(), second["b1"]);
        var update = bins[2];
        Assert.Equal(new byte[4], Row(update, update.Before!)["b"]);
        Assert.Equal(Convert.FromHexString("FF000000"), Row(update)["b"]);
        Assert.Equal(Convert.FromHexString("00AB00000000"), Row(update, update.Before!)["id"]);
    }

    [Fact]
    public async Task An_XA_transaction_arrives_at_its_XA_COMMIT_with_the_commits_GTID_and_never_after_its_XA_ROLLBACK()
    {
        var xa = (await ReadAsync()).Where(c => c.Table == "xa").ToList();

        Assert.Equal(["c1", "c4", "c5", "c2", "u1", "c6", "c7"], xa.Select(c => $"{c.Operation}{Row(c)["id"]}"));
        Assert.Equal(10, Row(xa[4])["v"]);
        Assert.Equal(1, Row(xa[4], xa[4].Before!)["v"]);
        // The commit's GTID (the one after 0-1-N of row 5's transaction), position and a row number through the transaction.
        var sequence = long.Parse(xa[2].Gtid!.Split('-')[2], System.Globalization.CultureInfo.InvariantCulture);
        Assert.Equal($"0-1-{sequence + 1}", xa[3].Gtid);
        Assert.Equal(xa[3].Gtid, xa[4].Gtid);
        Assert.Equal(xa[3].Position, xa[4].Position);
        Assert.True(xa[3].Position > xa[2].Position);
        Assert.Equal([0, 1], new[] { xa[3].Row, xa[4].Row });
    }

    [Fact]
    public void The_restart_position_stays_at_an_unresolved_XA_PREPARE_and_a_restart_from_it_delivers_its_rows_at_the_commit()
    {
        var events = Events();
        var handler = new PositionHandler();
        var processor = BinlogEvents.Processor(handler, file: File);
        handler.Processor = processor;
        foreach (var (_, data) in events)
        {
            processor.Process(data);
        }

        // The first XA PREPARE group starts at a GTID event flagged FL_PREPARED_XA; the GTID state before it is the previous group's.
        var gtids = events.Where(e => e.Data[4] == (byte)BinlogEventType.MariaDbGtid)
            .Select(e => (e.Start, Gtid: MariaDbGtidEvent.Parse(e.Data.AsSpan(19, e.Data.Length - 23), 1))).ToList();
        var prepare = gtids.FindIndex(g => g.Gtid.IsPreparedXa);
        var pinned = handler.Commits.Single(c => c.Rows == "c4").Position;
        Assert.Equal(gtids[prepare].Start, pinned.Position);
        Assert.Equal(gtids[prepare - 1].Gtid.Gtid.ToString(), pinned.Gtid);
        Assert.Equal(File, pinned.File);
        Assert.Equal(pinned, handler.Commits.Single(c => c.Rows == "c5").Position);
        var afterCommit = handler.Commits.Single(c => c.Rows == "c2,u1").Position;
        Assert.True(afterCommit.Position > pinned.Position && afterCommit.Gtid != pinned.Gtid, $"{afterCommit} after the XA COMMIT");
        Assert.Equal(0, processor.PreparedXa.Count);

        // A restart from the stored position reads the PREPARE again: the XA transaction's rows come at its commit.
        var restarted = new PositionHandler();
        var again = new BinlogProcessor(new BinlogDecoder(pinned.File, 0), new DataMesh.Connectors.MySql.Schema.SchemaTracker(), restarted, static (_, _) => true)
        {
            MariaDbPosition = MariaDbGtidPosition.Parse(pinned.Gtid),
        };
        restarted.Processor = again;
        again.Decoder.Reset(pinned.File, pinned.Position, 0);
        again.Process(events[0].Data); // FORMAT_DESCRIPTION, as a dump sends first
        foreach (var (start, data) in events.Where(e => e.Start >= pinned.Position))
        {
            again.Process(data);
        }

        Assert.Equal(["c4", "c5", "c2", "u1", "c6", "c7"], restarted.XaRows);
    }

    [Fact]
    public void Prepared_XA_rows_beyond_the_limit_stop_the_processor_naming_the_setting()
    {
        var processor = new BinlogProcessor(new BinlogDecoder(File, 0), new DataMesh.Connectors.MySql.Schema.SchemaTracker(), new RecordingHandler(), static (_, _) => true)
        {
            PreparedXa = new PreparedXaTransactions { MaxBytes = 100 },
        };
        var error = Assert.Throws<MySqlReplicationException>(() =>
        {
            foreach (var (_, data) in Events())
            {
                processor.Process(data);
            }
        });

        Assert.Contains("MaxPreparedXaBytes", error.Message, StringComparison.Ordinal);
        Assert.Contains($"Binlog {File}:", error.Message, StringComparison.Ordinal);
        Assert.Contains("at most 100 bytes", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_row_image_without_every_column_stops_the_processor_naming_table_position_columns_and_the_setting()
    {
        var processor = BinlogEvents.Processor(new RecordingHandler(), allowPartialRowImages: false);
        MySqlSchemaException? error = null;
        foreach (var e in BinlogEvents.Workload())
        {
            error = Record.Exception(() => processor.Process(e)) as MySqlSchemaException;
            if (error is not null)
            {
                break;
            }
        }

        Assert.NotNull(error);
        Assert.Contains("an UPDATE of `fixture`.`alltypes` lacks columns ti, tiu", error.Message, StringComparison.Ordinal);
        Assert.Contains("in its before image and id, ti, tiu", error.Message, StringComparison.Ordinal);
        Assert.Contains("SET GLOBAL binlog_row_image=FULL", error.Message, StringComparison.Ordinal);
        Assert.Contains($"workload.binlog:{error.Position}", error.Message, StringComparison.Ordinal);
        Assert.Equal("workload.binlog", error.File);
    }

    [Theory]
    [InlineData("XA COMMIT X'6131',X'',1", "Commit", "X'6131',X'',1")]
    [InlineData("xa rollback 'a1', 'b', 7", "Rollback", "X'6131',X'62',7")]
    [InlineData("XA ROLLBACK 0x6131", "Rollback", "X'6131',X'',1")]
    [InlineData("XA COMMIT 'it''s'", "Commit", "X'69742773',X'',1")]
    [InlineData("XA START X'6131',X'',1", "Start", null)]
    [InlineData("XA END X'6131',X'',1", "Other", null)]
    [InlineData("XACOMMIT 'a'", "Other", null)]
    public void XA_statements_give_the_XID_in_the_servers_form(string sql, string kind, string? xid)
    {
        Assert.Equal(kind, XaStatement.Parse(System.Text.Encoding.UTF8.GetBytes(sql), out var parsed).ToString());
        Assert.Equal(xid, parsed);
    }

    private static async Task<List<BinlogRowChange>> ReadAsync()
    {
        var changes = new List<BinlogRowChange>();
        await foreach (var change in BinlogFileReader.ReadAsync([Fixtures.Path(File)]))
        {
            changes.Add(change);
        }

        return changes;
    }

    private static Dictionary<string, object?> Row(BinlogRowChange change, IReadOnlyList<object?>? values = null) =>
        change.Columns.Zip(values ?? change.After ?? change.Before!).ToDictionary(x => x.First, x => x.Second);

    /// <summary>The fixture's events with their start positions.</summary>
    private static List<(long Start, byte[] Data)> Events() =>
        BinlogEvents.Split(Fixtures.Read(File)).Select(e => (BinaryPrimitives.ReadUInt32LittleEndian(e.AsSpan(13)) - (long)e.Length, e)).ToList();

    private static IEnumerable<TableMapEvent> TableMaps() =>
        Events().Where(e => e.Data[4] == (byte)BinlogEventType.TableMap).Select(e => TableMapEvent.Parse(e.Data.AsSpan(19, e.Data.Length - 23)));

    /// <summary>Records each row of table xa as op + id and, at each commit, the restart position with the transaction's rows.</summary>
    private sealed class PositionHandler : RecordingHandler
    {
        private int _committed;

        public BinlogProcessor? Processor { get; set; }

        public List<string> XaRows { get; } = [];

        public List<(string Rows, MySqlPosition Position)> Commits { get; } = [];

        public override void OnRow(scoped in RowChange change, TransactionState transaction)
        {
            if (change.Binding.Map.Table == "xa")
            {
                var id = CellValues.ReadSigned((change.After ?? change.Before!).Cell(change.Rows, 0), MySqlColumnType.Long);
                XaRows.Add($"{(change.Kind == RowsKind.Insert ? 'c' : 'u')}{id}");
            }
        }

        public override void OnCommit(TransactionState transaction)
        {
            Commits.Add((string.Join(",", XaRows.Skip(_committed)), Processor!.RestartPosition));
            _committed = XaRows.Count;
        }
    }
}
