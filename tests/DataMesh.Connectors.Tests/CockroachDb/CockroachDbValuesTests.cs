using DataMesh.Connectors.CockroachDb;
using DataMesh.Sources;
using Xunit;

namespace DataMesh.Tests.CockroachDb;

/// <summary>CockroachDB's JSON text forms (changefeed <c>format='json'</c>) read as PostgreSQL's, and the HLC positions.</summary>
public sealed class CockroachDbValuesTests
{
    [Theory]
    [InlineData("1 year 2 mons 3 days 04:05:06.5", "P1Y2M3DT4H5M6.5S")]
    [InlineData("3 mons", "P3M")]
    [InlineData("00:00:00", "PT0S")]
    [InlineData("-1 days -02:00:00", "P-1DT-2H")]
    [InlineData("00:00:00.000007", "PT0.000007S")]
    [InlineData("P1DT2H", "P1DT2H")]
    public void An_interval_in_the_postgres_style_becomes_ISO_8601_with_months_days_and_time_apart(string crdb, string iso) =>
        Assert.Equal(iso, CockroachDbValues.Interval(crdb));

    [Fact]
    public void An_interval_with_an_unknown_unit_is_refused_not_guessed() =>
        Assert.Throws<FormatException>(() => CockroachDbValues.Interval("3 fortnights"));

    [Theory]
    [InlineData("2024-02-29T12:34:56.123456", "2024-02-29 12:34:56.123456")]
    [InlineData("2024-02-29T12:34:56Z", "2024-02-29 12:34:56+00")]
    [InlineData("2024-02-29T12:34:56+05:30", "2024-02-29 12:34:56+05:30")]
    public void A_timestamp_of_the_changefeed_is_read_in_PostgreSQL_ISO_form(string crdb, string postgres) =>
        Assert.Equal(postgres, CockroachDbValues.Timestamp(crdb));

    [Fact]
    public void HLCs_order_by_wall_time_then_logical_part()
    {
        Assert.True(Hlc.Compare("1700000000000000001.0000000000", "1700000000000000000.0000000009") > 0);
        Assert.True(Hlc.Compare("1700000000000000000.0000000002", "1700000000000000000.0000000010") < 0);
        Assert.Equal(0, Hlc.Compare("1700000000000000000", "1700000000000000000.0000000000"));
    }

    [Fact]
    public void A_position_round_trips_and_a_foreign_one_is_refused_with_what_to_do()
    {
        var position = new CockroachDbPosition("1700000000000001000.0000000000");
        Assert.Equal(position, CockroachDbPosition.Parse(position.ToJson()));
        var ex = Assert.Throws<SourceException>(() => CockroachDbPosition.Parse("""{"lsn":"0/16B3748"}"""));
        Assert.Contains("not a CockroachDB position", ex.Message, StringComparison.Ordinal);
        Assert.Contains("Reset the stored position", ex.Message, StringComparison.Ordinal);
        Assert.Throws<SourceException>(() => CockroachDbPosition.Parse("""{"resolved":"yesterday"}"""));
    }

    [Fact]
    public void An_unfinished_initial_scan_and_the_covered_tables_round_trip()
    {
        var scan = new CockroachDbPosition("1700000000000001000.0000000000", ScanPending: true, ["public.a", "public.b"]);
        Assert.Equal("""{"scanAt":"1700000000000001000.0000000000","tables":["public.a","public.b"]}""", scan.ToJson());
        Assert.Equal(scan, CockroachDbPosition.Parse(scan.ToJson()));
        Assert.Equal("initial scan at 1700000000000001000.0000000000 (not finished) of 2 tables", scan.ToString());
        var resolved = new CockroachDbPosition("1700000000000002000.0000000000", ScanPending: false, ["public.a"]);
        Assert.Equal(resolved, CockroachDbPosition.Parse("""{"resolved":"1700000000000002000.0000000000","tables":["public.a"]}"""));
        Assert.NotEqual(resolved, new CockroachDbPosition(resolved.Resolved)); // a position of an earlier version: every table found
        Assert.Null(CockroachDbPosition.Parse("""{"resolved":"1700000000000002000.0000000000"}""").Tables);
        var adding = resolved with { Adding = ["public.b"] };
        Assert.Equal("""{"resolved":"1700000000000002000.0000000000","tables":["public.a"],"adding":["public.b"]}""", adding.ToJson());
        Assert.Equal(adding, CockroachDbPosition.Parse(adding.ToJson()));
        Assert.NotEqual(resolved, adding);
    }

    [Theory]
    [InlineData("bigint", "int8", "INT8", null, null, null, "Int64")]
    [InlineData("numeric", "numeric", "DECIMAL(10,2)", 10, 2, null, "Decimal")]
    [InlineData("numeric", "numeric", "DECIMAL", 0, 0, null, "VariableDecimal")]
    [InlineData("ARRAY", "_text", "STRING[]", null, null, null, "Array")]
    [InlineData("USER-DEFINED", "mood", "mood", null, null, null, "Text")]
    [InlineData("bit", "bit", "BIT", null, null, 1, "Boolean")]
    [InlineData("inet", "inet", "INET", null, null, null, "Text")]
    public void Catalog_types_map_like_PostgreSQL_ones(string dataType, string udtName, string crdbType, int? precision, int? scale, int? length, string kind) =>
        Assert.Equal(kind, CockroachDbTypes.Resolve(dataType, udtName, precision, scale, length, crdbType).DataType.Kind.ToString());
}
