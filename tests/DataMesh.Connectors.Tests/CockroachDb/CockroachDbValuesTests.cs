using System.Buffers;
using System.Text;
using System.Text.Json;
using DataMesh.Connectors.CockroachDb;
using DataMesh.Connectors.Postgres;
using DataMesh.Events;
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
    // Years outside 0001-9999 as Go's time.Format writes them in tree.AsJSON (pkg/sql/sem/tree/datum.go): astronomical,
    // with a sign; CockroachDB's stored 'infinity' / '-infinity' (pgdate.TimeInfinity / TimeNegativeInfinity before 24.3).
    [InlineData("-0043-03-15T12:00:00.123456Z", "0044-03-15 12:00:00.123456+00 BC")]
    [InlineData("0000-01-01T00:00:00Z", "0001-01-01 00:00:00+00 BC")]
    [InlineData("-4713-11-24T00:00:00.000001Z", "4714-11-24 00:00:00.000001+00 BC")]
    [InlineData("-4713-11-24T00:00:00Z", "-infinity")]
    [InlineData("294276-12-31T23:59:59.999999Z", "infinity")]
    [InlineData("294277-01-01T00:00:00Z", "infinity")]
    [InlineData("12345-06-07T08:09:10Z", "12345-06-07 08:09:10+00")]
    public void A_timestamp_of_the_changefeed_is_read_in_PostgreSQL_ISO_form(string crdb, string postgres) =>
        Assert.Equal(postgres, Text($"\"{crdb}\"", Type("timestamp with time zone", "timestamptz", "TIMESTAMPTZ")));

    [Theory]
    [InlineData("\"-4713-11-24T00:00:00\"", long.MinValue)]
    [InlineData("\"294276-12-31T23:59:59.999999\"", long.MaxValue)]
    [InlineData("\"-0043-03-15T12:00:00\"", -63_517_780_800_000_000L)]
    [InlineData("[\"0000-12-31T23:59:59\", null]", -62_135_596_801_000_000L)]
    public void An_infinite_or_BC_timestamp_maps_as_PostgreSQLs_does(string json, long micros)
    {
        var type = Type("timestamp without time zone", "timestamp", "TIMESTAMP");
        if (json.StartsWith('['))
        {
            var array = Text(json, Type("ARRAY", "_timestamp", "TIMESTAMP[]"));
            Assert.Equal("{\"0001-12-31 23:59:59 BC\",NULL}", array);
            json = "\"0000-12-31T23:59:59\"";
        }

        // The PostgreSQL map reads the text: infinity as long.MaxValue / MinValue, BC as astronomical years.
        Assert.Equal(micros, PgValueWriter.ParseTimestamp(Encoding.UTF8.GetBytes(Text(json, type))));
        Assert.Equal(micros, PgValueWriter.ParseTimestamp(Encoding.UTF8.GetBytes(Text(json.Insert(json.Length - 1, "Z"), Type("timestamp with time zone", "timestamptz", "TIMESTAMPTZ")))));
    }

    [Theory]
    [InlineData("12345678901", "bigint", "int8", "INT8", "12345678901")]
    [InlineData("-1.50", "numeric", "numeric", "DECIMAL", "-1.50")]
    [InlineData("\"NaN\"", "numeric", "numeric", "DECIMAL", "NaN")]
    [InlineData("1E-7", "numeric", "numeric", "DECIMAL", "0.0000001")]
    [InlineData("1.0E-7", "numeric", "numeric", "DECIMAL", "0.00000010")]
    [InlineData("-1.23E-7", "numeric", "numeric", "DECIMAL", "-0.000000123")]
    [InlineData("1.5E+3", "numeric", "numeric", "DECIMAL", "1500")]
    [InlineData("1E+2", "numeric", "numeric", "DECIMAL", "100")]
    [InlineData("1.25e1", "numeric", "numeric", "DECIMAL", "12.5")]
    [InlineData("0E-8", "numeric", "numeric", "DECIMAL", "0.00000000")]
    [InlineData("0E+2", "numeric", "numeric", "DECIMAL", "0")]
    [InlineData("-0E-8", "numeric", "numeric", "DECIMAL", "0.00000000")]
    [InlineData("[1E-7, 2]", "ARRAY", "_numeric", "DECIMAL[]", "{\"0.0000001\",\"2\"}")]
    [InlineData("true", "boolean", "bool", "BOOL", "t")]
    [InlineData("false", "boolean", "bool", "BOOL", "f")]
    [InlineData("\"plain\"", "text", "text", "STRING", "plain")]
    [InlineData("\"tab\\tquote\\\"snow\\u2603\"", "text", "text", "STRING", "tab\tquote\"snow\u2603")]
    [InlineData("\"\\\\x00ff\"", "bytea", "bytea", "BYTES", "\\x00ff")]
    [InlineData("{\"a\": [1, \"x\"]}", "jsonb", "jsonb", "JSONB", "{\"a\": [1, \"x\"]}")]
    [InlineData("\"a string\"", "jsonb", "jsonb", "JSONB", "\"a string\"")]
    [InlineData("[\"a\", null, \"b\\\"c\\\\d\"]", "ARRAY", "_text", "STRING[]", "{\"a\",NULL,\"b\\\"c\\\\d\"}")]
    [InlineData("[1, 2]", "ARRAY", "_int8", "INT8[]", "{\"1\",\"2\"}")]
    [InlineData("\"1 day 02:00:00\"", "interval", "interval", "INTERVAL", "P1DT2H")]
    public void A_JSON_value_of_the_changefeed_is_read_in_PostgreSQL_text_form(string json, string dataType, string udtName, string crdbType, string postgres) =>
        Assert.Equal(postgres, Text(json, Type(dataType, udtName, crdbType)));

    [Theory]
    [InlineData("1E+200000")]
    [InlineData("1E-20000")]
    [InlineData("1E+2147483648")]
    public void A_DECIMAL_in_exponent_form_beyond_PostgreSQLs_numeric_or_malformed_is_refused_naming_it(string json)
    {
        var error = Assert.Throws<FormatException>(() => Text(json, Type("numeric", "numeric", "DECIMAL")));
        Assert.Contains(json, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void An_image_finds_columns_in_any_order_and_a_changed_shape_is_seen()
    {
        var table = Table(("id", "bigint", "int8", "INT8"), ("na\"me", "text", "text", "STRING"), ("v", "jsonb", "jsonb", "JSONB"));
        var image = new ChangefeedImage();
        Assert.True(Read(image, table, """{"v":{"k":[1,{"n":null}]},"na\u0022me":"x\\y","id":7}"""));
        Assert.True(image.IsRow);
        Assert.Equal(["7", "x\\y", """{"k":[1,{"n":null}]}"""], Enumerable.Range(0, 3).Select(c => Column(image, table, c)));

        Assert.True(Read(image, table, """{"id":8,"na\"me":null,"v":null}"""));
        Assert.Equal(ColumnValueState.Null, image.State(1));
        Assert.False(Read(image, table, """{"id":8,"na\"me":"a"}"""));                        // a column dropped
        Assert.False(Read(image, table, """{"id":8,"na\"me":"a","v":1,"w":2}"""));           // a column added
        Assert.False(Read(image, table, """{"id":8,"id":9,"v":1}"""));                        // a name twice

        image.ReadKey("[42]"u8.ToArray(), table);
        Assert.False(image.IsRow);
        Assert.Equal("42", Column(image, table, 0));
        Assert.Equal(ColumnValueState.Missing, image.State(1));
        image.ReadKey("\"not an array\""u8.ToArray(), table);
        Assert.Equal(ColumnValueState.Missing, image.State(0));
    }

    [Fact]
    public void An_image_tells_whether_the_changefeed_key_holds_its_key_columns_values_and_the_JSON_null_object()
    {
        var table = Table(("id", "bigint", "int8", "INT8"), ("sku", "text", "text", "STRING"), ("v", "jsonb", "jsonb", "JSONB"));
        var image = new ChangefeedImage();
        Assert.True(Read(image, table, """{"id":7,"sku":"a\"b","v":{"__crdb_json_null__": true}}"""));
        Assert.True(image.HasKey("[7]"u8.ToArray(), table));
        Assert.False(image.HasKey("[\"a\\\"b\"]"u8.ToArray(), table)); // keyed by sku: another primary key
        Assert.False(image.HasKey("[7, \"a\\\"b\"]"u8.ToArray(), table));
        Assert.False(image.HasKey("{}"u8.ToArray(), table));
        Assert.True(image.IsJsonNullObject(2));
        Assert.False(image.IsJsonNullObject(0));
        Assert.True(Read(image, table, """{"id":7,"sku":"x","v":{"__crdb_json_null__":true,"more":1}}"""));
        Assert.False(image.IsJsonNullObject(2));

        image.Clear(3); // a delete without a before image: only the count is compared
        Assert.True(image.HasKey("[9]"u8.ToArray(), table));
        Assert.False(image.HasKey("[9, 1]"u8.ToArray(), table));
    }

    [Theory]
    [InlineData("CockroachDB CCL v24.2.3 (x86_64-pc-linux-gnu, built 2024/09/23, go1.22.5)", true)]
    [InlineData("CockroachDB CCL v25.1.0 (x86_64-pc-linux-gnu)", true)]
    [InlineData("CockroachDB OSS v24.10.1 (x86_64-pc-linux-gnu)", true)]
    [InlineData("CockroachDB CCL v24.1.9 (x86_64-pc-linux-gnu)", false)]
    [InlineData("CockroachDB CCL v23.2.4 (x86_64-pc-linux-gnu, built 2024/04/08)", false)]
    [InlineData("PostgreSQL 15.4", false)]
    public void The_server_version_is_read_from_version(string version, bool atLeast24_2) =>
        Assert.Equal(atLeast24_2, CockroachDbCatalog.IsAtLeast(version, 24, 2));

    private static bool Read(ChangefeedImage image, CockroachDbTable table, string json)
    {
        var bytes = Encoding.UTF8.GetBytes(json);
        var reader = new Utf8JsonReader(bytes);
        reader.Read();
        return image.ReadRow(ref reader, bytes, table);
    }

    private static string Column(ChangefeedImage image, CockroachDbTable table, int column)
    {
        Assert.Equal(ColumnValueState.Value, image.State(column));
        var output = new ArrayBufferWriter<byte>();
        image.ToPostgresText(column, table.Types[column], output);
        return Encoding.UTF8.GetString(output.WrittenSpan);
    }

    private static string Text(string json, PgColumnType type)
    {
        var bytes = Encoding.UTF8.GetBytes(json);
        var reader = new Utf8JsonReader(bytes);
        reader.Read();
        var value = JsonValueToken.Read(ref reader);
        var output = new ArrayBufferWriter<byte>();
        CockroachDbValues.ToPostgresText(bytes, value, type, output);
        return Encoding.UTF8.GetString(output.WrittenSpan);
    }

    private static PgColumnType Type(string dataType, string udtName, string crdbType) =>
        CockroachDbTypes.Resolve(dataType, udtName, null, null, null, crdbType);

    private static CockroachDbTable Table(params (string Name, string DataType, string UdtName, string CrdbType)[] columns)
    {
        var types = columns.Select(c => Type(c.DataType, c.UdtName, c.CrdbType)).ToArray();
        var description = new TableDescription("public", "t", [.. columns.Select((c, i) => new ColumnDescription(c.Name, types[i].DataType, IsNullable: i > 0))], [columns[0].Name]);
        var schemas = ChangeEventSchemas.Build(description, new SourceDescription("cockroachdb", "crdb", CockroachDbSourceBlock.Fields));
        return new CockroachDbTable(new SourceTable(new SourceTableInfo(description, "db", "public"), schemas), types, [.. columns.Select(c => c.Name)], [0], new bool[columns.Length]);
    }

    [Theory]
    [InlineData("1700000000000000001.0000000001", true)]
    [InlineData("1700000000000000001", true)]
    [InlineData("1700000000000000001.", false)]
    [InlineData("17000000000000000010.0000000001", false)]
    [InlineData("1700000000000000001.00x", false)]
    [InlineData("-1.0", false)]
    [InlineData("", false)]
    public void An_HLC_is_digits_of_wall_time_then_optionally_a_point_and_digits(string text, bool valid)
    {
        Assert.Equal(valid, Hlc.IsValid(Encoding.UTF8.GetBytes(text)));
        Assert.Equal(valid, Hlc.IsValid(text));
    }

    [Fact]
    public void HLCs_order_by_wall_time_then_logical_part()
    {
        Assert.True(Hlc.Compare("1700000000000000001.0000000000", "1700000000000000000.0000000009") > 0);
        Assert.True(Hlc.Compare("1700000000000000000.0000000002", "1700000000000000000.0000000010") < 0);
        Assert.Equal(0, Hlc.Compare("1700000000000000000", "1700000000000000000.0000000000"));
        Assert.True(Hlc.Compare("1700000000000000000.1", "1700000000000000000.0900000000") > 0);   // the logical part is a fraction
        Assert.True(Hlc.Compare("999999999999999999.9", "1000000000000000000") < 0);               // walls of different lengths
        Assert.True(Hlc.Compare("1700000000000000001.0000000000"u8, "1700000000000000000.0000000009"u8) > 0);
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
