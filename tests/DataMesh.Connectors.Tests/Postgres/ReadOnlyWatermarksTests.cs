using DataMesh.Connectors.MySql;
using DataMesh.Connectors.Postgres;
using Xunit;

namespace DataMesh.Connectors.Tests.Postgres;

/// <summary>The bookkeeping of read-only watermarks (see <see cref="ReadOnlyWatermarks"/>): which delivered transactions
/// hold a chunk's low watermark, when a high watermark is passed, WAL positions as record ends, and the settings.</summary>
public sealed class ReadOnlyWatermarksTests
{
    [Fact]
    public void A_transaction_the_log_delivered_before_the_mark_holds_the_low_watermark_until_a_snapshot_shows_it_ended()
    {
        var watermarks = new ReadOnlyWatermarks();
        watermarks.Begin(100);
        watermarks.Begin(101);
        var mark = watermarks.Mark();
        watermarks.Begin(102); // inside the window: its keys are dropped, it holds nothing

        Assert.Equal([100u], watermarks.InvisibleBefore(PgSnapshot.Parse("100:102:100"), mark));
        Assert.Equal([100u], watermarks.InvisibleBefore(PgSnapshot.Parse("100:103:100"), mark));
        Assert.Empty(watermarks.InvisibleBefore(PgSnapshot.Parse("103:103:"), mark));
        Assert.Equal(0, watermarks.DeliveredCount); // all ended: forgotten
    }

    [Fact]
    public void A_delivered_transaction_numbered_at_or_past_the_snapshots_xmax_has_not_ended()
    {
        var watermarks = new ReadOnlyWatermarks();
        watermarks.Begin(205);
        Assert.Equal([205u], watermarks.InvisibleBefore(PgSnapshot.Parse("200:205:201"), watermarks.Mark()));
        Assert.Equal(1, watermarks.DeliveredCount);
    }

    [Fact]
    public void Seeded_running_transactions_hold_every_chunk_until_they_end()
    {
        var watermarks = new ReadOnlyWatermarks();
        watermarks.Seed(PgSnapshot.Parse("50:60:50,55"));
        Assert.Equal([50u, 55u], watermarks.InvisibleBefore(PgSnapshot.Parse("50:70:50,55,61"), watermarks.Mark()).Order());
        Assert.Equal([55u], watermarks.InvisibleBefore(PgSnapshot.Parse("55:70:55"), watermarks.Mark()));
        Assert.Empty(watermarks.InvisibleBefore(PgSnapshot.Parse("70:70:"), watermarks.Mark()));
    }

    [Fact]
    public void Thirty_two_bit_xids_are_read_in_the_snapshots_epoch()
    {
        const ulong Epoch = 1UL << 32;
        var snapshot = PgSnapshot.Parse($"{Epoch + 5}:{Epoch + 20}:{Epoch + 7}");
        Assert.True(snapshot.HasEnded(0xFFFF_FFF0)); // the previous epoch's
        Assert.True(snapshot.HasEnded(6));
        Assert.False(snapshot.HasEnded(7));
        Assert.False(snapshot.HasEnded(20));
        Assert.Equal(Epoch + 7, snapshot.Widen(7));
    }

    [Fact]
    public void Sixty_four_bit_xids_have_ended_below_xmin_and_below_xmax_when_not_running()
    {
        // What a table low watermark checks of the transactions that were running after its commit.
        var snapshot = PgSnapshot.Parse("105:110:105,108");
        Assert.True(snapshot.HasEnded(104UL));
        Assert.False(snapshot.HasEnded(105UL));
        Assert.True(snapshot.HasEnded(107UL));
        Assert.False(snapshot.HasEnded(108UL));
        Assert.False(snapshot.HasEnded(110UL)); // not yet ended (or not started) when taken
    }

    [Theory]
    [InlineData("1:1")]
    [InlineData("5:3:")]
    [InlineData("1:5:7")]
    [InlineData("a:5:")]
    public void A_text_that_is_not_a_snapshot_is_refused(string text) =>
        Assert.Throws<FormatException>(() => PgSnapshot.Parse(text));

    [Fact]
    public async Task A_watermark_rows_low_watermark_waits_until_the_log_handled_its_transactions_commit()
    {
        var watermarks = new ReadOnlyWatermarks();
        var waiting = watermarks.WaitCommitAsync(700);
        watermarks.Committed(699);
        await Task.Delay(50);
        Assert.False(waiting.IsCompleted);
        watermarks.Committed(700);
        await waiting.WaitAsync(TimeSpan.FromSeconds(5));

        var forgotten = watermarks.WaitCommitAsync(800);
        watermarks.ForgetCommitWait(800);
        watermarks.Committed(800);
        Assert.False(forgotten.IsCompleted);
    }

    [Fact]
    public void A_high_watermark_is_passed_at_its_position_or_beyond_and_only_once()
    {
        var watermarks = new ReadOnlyWatermarks();
        watermarks.AddHigh("H-1", 1000);
        watermarks.AddHigh("H-2", 3000);
        Assert.Null(watermarks.Passed(999));
        Assert.Equal(["H-1"], watermarks.Passed(1000));
        Assert.Null(watermarks.Passed(2000));
        Assert.True(watermarks.HasHighWatermarks);
        Assert.Equal(["H-2"], watermarks.Passed(5000));
        Assert.False(watermarks.HasHighWatermarks);
    }

    [Theory]
    [InlineData(0x0100_2018UL, 0x0100_2000UL)] // right after a page's header: the records before end at the page's start
    [InlineData(0x0100_0028UL, 0x0100_0000UL)] // right after a segment's first page's (long) header
    [InlineData(0x0100_2040UL, 0x0100_2040UL)] // inside a page
    [InlineData(0x0100_2028UL, 0x0100_2028UL)] // 40 bytes into a page that is not a segment's first: a record end
    public void An_insert_position_is_read_as_the_end_of_the_records_before_it(ulong insert, ulong end) =>
        Assert.Equal(end, ReadOnlyWatermarks.RecordEnd(insert, 8192, 16 * 1024 * 1024));

    [Fact]
    public void Read_only_watermarks_are_refused_before_PostgreSQL_13_and_on_MySQL_naming_the_setting()
    {
        Assert.Contains("Snapshot:Watermarks is ReadOnly, which needs PostgreSQL 13", PostgresSnapshotDialect.ReadOnlyRefusal("shop", new Version(12, 17), "db:5432"), StringComparison.Ordinal);
        Assert.Null(PostgresSnapshotDialect.ReadOnlyRefusal("shop", new Version(13, 0), "db:5432"));

        var mysql = new MySqlSourceOptions { ConnectionString = "Server=localhost;User ID=u" };
        mysql.Snapshot.Watermarks = SnapshotWatermarks.ReadOnly;
        Assert.Contains(mysql.Validate("shop"), p => p.Contains("Snapshot:Watermarks is ReadOnly, which MySQL and MariaDB do not have", StringComparison.Ordinal));

        var postgres = new PostgresSourceOptions { ConnectionString = "Host=localhost" };
        postgres.Snapshot.Watermarks = (SnapshotWatermarks)7;
        Assert.Contains(postgres.Validate("shop"), p => p.Contains("Snapshot:Watermarks must be one of Table, ReadOnly", StringComparison.Ordinal));
        postgres.Snapshot.Watermarks = SnapshotWatermarks.ReadOnly;
        Assert.Empty(postgres.Validate("shop"));
    }
}
