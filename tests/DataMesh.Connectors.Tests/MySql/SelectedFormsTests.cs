using System.Numerics;
using System.Text;
using DataMesh.Connectors.MySql.Binlog;
using Xunit;

namespace DataMesh.Tests.MySql;

/// <summary>
/// The binlog forms a snapshot writes from the server's text of a value (<c>CAST(column AS BINARY)</c>) read back, through
/// the binlog's own readers, to the value the text names: every fractional precision, negative times with fractions,
/// zero dates, decimals of every group layout. (The integration tests compare whole rows with the binlog's.)
/// </summary>
public sealed class SelectedFormsTests
{
    [Theory]
    [InlineData("2024-01-02 03:04:05", 0)]
    [InlineData("2024-01-02 03:04:05.1", 1)]
    [InlineData("2024-01-02 03:04:05.12", 2)]
    [InlineData("1000-01-01 00:00:00.123", 3)]
    [InlineData("9999-12-31 23:59:59.1234", 4)]
    [InlineData("1970-01-01 00:00:00.12345", 5)]
    [InlineData("2038-01-19 03:14:07.999999", 6)]
    public void A_datetime_reads_back_as_its_microseconds_at_every_precision(string text, int fsp)
    {
        var cell = new byte[8];
        var length = CellValues.WriteDateTime2(Encoding.ASCII.GetBytes(text), fsp, cell);

        Assert.Equal(5 + ((fsp + 1) / 2), length);
        var expected = DateTime.ParseExact(text, ["yyyy-MM-dd HH:mm:ss", "yyyy-MM-dd HH:mm:ss.FFFFFF"], System.Globalization.CultureInfo.InvariantCulture, System.Globalization.DateTimeStyles.AssumeUniversal | System.Globalization.DateTimeStyles.AdjustToUniversal);
        Assert.Equal((expected - DateTime.UnixEpoch).Ticks / 10, CellValues.ReadDateTime2(cell, fsp));
        var timestamp = new byte[7];
        if (expected.Year is >= 1970 and < 2106)
        {
            CellValues.WriteTimestamp2(Encoding.ASCII.GetBytes(text), fsp, timestamp);
            Assert.Equal((expected - DateTime.UnixEpoch).Ticks / 10, CellValues.ReadTimestamp2(timestamp, fsp));
        }
    }

    [Fact]
    public void Zero_dates_read_back_as_the_zero_values()
    {
        var cell = new byte[8];
        CellValues.WriteDateTime2("0000-00-00 00:00:00.000"u8, 3, cell);
        Assert.Equal(long.MinValue, CellValues.ReadDateTime2(cell, 3));
        CellValues.WriteTimestamp2("0000-00-00 00:00:00"u8, 0, cell);
        Assert.Equal(long.MinValue, CellValues.ReadTimestamp2(cell, 0));
        CellValues.WriteDate("0000-00-00"u8, cell);
        Assert.Equal(int.MinValue, CellValues.ReadDate(cell));
        CellValues.WriteDate("2024-02-29"u8, cell);
        Assert.Equal(new DateOnly(2024, 2, 29).DayNumber - new DateOnly(1970, 1, 1).DayNumber, CellValues.ReadDate(cell));
    }

    [Theory]
    [InlineData("00:00:00", 0, 0L)]
    [InlineData("838:59:59", 0, 3_020_399_000_000L)]
    [InlineData("-838:59:59", 0, -3_020_399_000_000L)]
    [InlineData("-00:00:00.5", 1, -500_000L)]
    [InlineData("-00:00:01.50", 2, -1_500_000L)]
    [InlineData("-12:34:56.789", 3, -45_296_789_000L)]
    [InlineData("-00:00:00.0001", 4, -100L)]
    [InlineData("12:34:56.78901", 5, 45_296_789_010L)]
    [InlineData("-838:59:58.999999", 6, -3_020_398_999_999L)]
    [InlineData("-01:00:00.000000", 6, -3_600_000_000L)]
    public void A_time_reads_back_as_its_signed_microseconds_at_every_precision(string text, int fsp, long micros)
    {
        var cell = new byte[6];
        var length = CellValues.WriteTime2(Encoding.ASCII.GetBytes(text), fsp, cell);

        Assert.Equal(3 + ((fsp + 1) / 2), length);
        Assert.Equal(micros, CellValues.ReadTime2(cell, fsp));
    }

    [Theory]
    [InlineData("0", 1, 0)]
    [InlineData("-1", 1, 0)]
    [InlineData("0.00", 5, 2)]
    [InlineData("-123.45", 10, 2)]
    [InlineData("999999999.999999999", 18, 9)]
    [InlineData("-1234567890.1234567890", 20, 10)]
    [InlineData("12345678901234567890123456789012345.123456789012345678901234567890", 65, 30)]
    [InlineData("-99999999999999999999999999999999999.999999999999999999999999999999", 65, 30)]
    [InlineData("0.0000000001", 10, 10)]
    [InlineData("-0.1", 1, 1)]
    public void A_decimal_reads_back_as_its_unscaled_value_in_every_group_layout(string text, int precision, int scale)
    {
        var cell = new byte[32];
        var length = BinaryDecimal.Encode(Encoding.ASCII.GetBytes(text), precision, scale, cell);

        Assert.Equal(BinaryDecimal.Size(precision, scale), length);
        Assert.Equal(BigInteger.Parse(text.Replace(".", string.Empty, StringComparison.Ordinal), System.Globalization.CultureInfo.InvariantCulture), BinaryDecimal.DecodeBig(cell, precision, scale));
        Assert.Equal(text, BinaryDecimal.FormatText(BinaryDecimal.DecodeBig(cell, precision, scale), scale));
    }

    [Fact]
    public void A_decimal_that_does_not_fit_its_column_is_refused()
    {
        Assert.Throws<FormatException>(() => BinaryDecimal.Encode("1234.5"u8, 4, 1, new byte[8]));
        Assert.Throws<FormatException>(() => BinaryDecimal.Encode("1.25"u8, 4, 1, new byte[8]));
        Assert.Throws<FormatException>(() => CellValues.WriteTime2("12:3:00"u8, 0, new byte[8]));
    }
}
