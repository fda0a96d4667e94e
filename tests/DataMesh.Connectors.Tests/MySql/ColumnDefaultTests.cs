using System.Text.Json;
using DataMesh.Avro;
using DataMesh.Connectors.MySql.Schema;
using Xunit;

namespace DataMesh.Tests.MySql;

/// <summary>The value a column's DDL gives the rows from before it (its Avro default), from the DDL the binlog carries.
/// The integration test <c>MySqlConnectorTests.A_not_null_column_added_...</c> checks these against MariaDB's own rows.</summary>
public sealed class ColumnDefaultTests
{
    [Theory]
    [InlineData("INT NOT NULL DEFAULT -7", -7)]
    [InlineData("INT NOT NULL DEFAULT '42'", 42)]
    [InlineData("INT NOT NULL DEFAULT 0x1F", 31)]
    [InlineData("INT NOT NULL DEFAULT b'101'", 5)]
    [InlineData("TINYINT(1) NOT NULL DEFAULT TRUE", 1)]
    [InlineData("INT NOT NULL", 0)]
    [InlineData("SMALLINT NOT NULL DEFAULT +3 COMMENT 'x'", 3)]
    public void Integer_defaults_are_the_value_of_their_literal(string definition, int expected)
    {
        var reader = new AvroReader(Encode(definition)!);
        Assert.Equal(expected, reader.ReadInt());
    }

    [Theory]
    [InlineData("INT NOT NULL DEFAULT 1.5")] // the server rounds: not repeated
    [InlineData("TINYINT NOT NULL DEFAULT 300")] // out of range: the server refuses the DDL
    [InlineData("INT NOT NULL AUTO_INCREMENT")] // old rows get numbers of the sequence
    [InlineData("SERIAL")]
    [InlineData("INT NOT NULL DEFAULT (1 + 1)")] // an expression: evaluated per row
    [InlineData("TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP")]
    [InlineData("DATETIME(3) NOT NULL DEFAULT current_timestamp(3)")]
    [InlineData("TIMESTAMP NOT NULL DEFAULT '2020-01-01 00:00:00'")] // read in the DDL session's time zone
    [InlineData("INT DEFAULT 5")] // nullable: the field's default stays null
    [InlineData("INT GENERATED ALWAYS AS (1) STORED NOT NULL")]
    [InlineData("DECIMAL(10,2) NOT NULL DEFAULT 1.505")]
    [InlineData("TIME NOT NULL DEFAULT '10:00:00.5'")]
    [InlineData("ENUM('a','b') NOT NULL DEFAULT 'c'")]
    [InlineData("VARBINARY(4) NOT NULL DEFAULT 'é'")] // the statement's bytes depend on its connection's charset
    [InlineData("BINARY(2) NOT NULL DEFAULT x'010203'")]
    [InlineData("GEOMETRY NOT NULL")]
    // Found by review and a new user's pass: forms the server normalises, rounds or reads differently.
    [InlineData("FLOAT(5,2) NOT NULL DEFAULT 1.239")]
    [InlineData("DOUBLE(6,2) NOT NULL DEFAULT 1.234")]
    [InlineData("FLOAT(5,0) NOT NULL DEFAULT 1.5")]
    [InlineData("VARCHAR(10) NOT NULL DEFAULT .5")]
    [InlineData("VARCHAR(10) NOT NULL DEFAULT 007")]
    [InlineData("VARCHAR(10) NOT NULL DEFAULT 1.")]
    [InlineData("VARCHAR(10) NOT NULL DEFAULT -0")]
    [InlineData("VARCHAR(10) NOT NULL DEFAULT -0.0")]
    [InlineData("VARCHAR(10) NOT NULL DEFAULT -FALSE")]
    [InlineData("VARBINARY(10) NOT NULL DEFAULT .5")]
    [InlineData("VARCHAR(10) NOT NULL DEFAULT 'x\\ny'")] // NO_BACKSLASH_ESCAPES would keep the backslash
    [InlineData("VARCHAR(10) NOT NULL DEFAULT 'a\\%b'")]
    [InlineData("VARCHAR(10) NOT NULL DEFAULT 'été'")] // the statement's charset decides its bytes
    [InlineData("VARCHAR(10) NOT NULL DEFAULT _latin1'é'")]
    [InlineData("VARCHAR(10) NOT NULL DEFAULT N'a' 'b'")] // joined by the server
    [InlineData("VARCHAR(10) NOT NULL DEFAULT 'ab' 'cd'")]
    [InlineData("DATETIME NOT NULL DEFAULT '2020-1-2 3:4:5'")]
    public void Literals_that_cannot_be_placed_exactly_give_no_default(string definition)
    {
        Assert.Null(Encode(definition));
    }

    [Fact]
    public void Every_other_type_carries_its_literal_as_the_log_writes_its_values()
    {
        Assert.Equal(150, Decimal("DECIMAL(10,2) NOT NULL DEFAULT 1.5"));
        Assert.Equal(150, Decimal("DECIMAL(10,2) NOT NULL DEFAULT '1.500'"));
        Assert.Equal(-5, Decimal("DECIMAL(3,1) NOT NULL DEFAULT -.5"));
        Assert.Equal(0, Decimal("DECIMAL(5,1) NOT NULL"));
        Assert.Equal(0.25, new AvroReader(Encode("DOUBLE NOT NULL DEFAULT 0.25")!).ReadDouble());
        Assert.Equal(1000.0, new AvroReader(Encode("DOUBLE NOT NULL DEFAULT 1e3")!).ReadDouble());
        Assert.Equal(0.1f, new AvroReader(Encode("FLOAT NOT NULL DEFAULT 0.1")!).ReadFloat());
        Assert.Equal("a 'b'", new AvroReader(Encode("VARCHAR(10) NOT NULL DEFAULT 'a ''b'''")!).ReadString());
        Assert.Equal("x", new AvroReader(Encode("CHAR(4) NOT NULL DEFAULT 'x  '")!).ReadString());
        Assert.Equal("-12.50", new AvroReader(Encode("VARCHAR(10) NOT NULL DEFAULT -12.50")!).ReadString());
        Assert.Equal("0.5", new AvroReader(Encode("VARCHAR(10) NOT NULL DEFAULT 0.5")!).ReadString());
        Assert.Equal(0.0, new AvroReader(Encode("DOUBLE NOT NULL DEFAULT -0")!).ReadDouble());
        Assert.False(double.IsNegative(new AvroReader(Encode("DOUBLE NOT NULL DEFAULT -0")!).ReadDouble()));
        Assert.Equal("A", new AvroReader(Encode("ENUM('a','A') COLLATE utf8mb4_bin NOT NULL DEFAULT 'A'")!).ReadString());
        Assert.Null(Encode("ENUM('a','A') COLLATE utf8mb4_bin NOT NULL DEFAULT 'b'"));
        Assert.Equal(string.Empty, new AvroReader(Encode("TEXT NOT NULL")!).ReadString());
        Assert.Equal([0x00, 0xAB, 0x00, 0x00], new AvroReader(Encode("BINARY(4) NOT NULL DEFAULT x'00AB'")!).ReadBytes().ToArray());
        Assert.Equal([0, 0], new AvroReader(Encode("BINARY(2) NOT NULL")!).ReadBytes().ToArray());
        Assert.Equal("ab"u8.ToArray(), new AvroReader(Encode("VARBINARY(8) NOT NULL DEFAULT 'ab'")!).ReadBytes().ToArray());
        Assert.Equal("q", new AvroReader(Encode("ENUM('p','q') NOT NULL DEFAULT 'Q'")!).ReadString());
        Assert.Equal("first", new AvroReader(Encode("ENUM('first','second') NOT NULL")!).ReadString());
        Assert.Equal("second", new AvroReader(Encode("ENUM('first','second') NOT NULL DEFAULT 2")!).ReadString());
        Assert.Equal("x,z", new AvroReader(Encode("SET('x','y','z') NOT NULL DEFAULT 'z,x'")!).ReadString());
        Assert.Equal(string.Empty, new AvroReader(Encode("SET('x','y') NOT NULL")!).ReadString());
        Assert.Equal("101", new AvroReader(Encode("BIT(3) NOT NULL DEFAULT b'101'")!).ReadString());
        Assert.True(new AvroReader(Encode("BIT(1) NOT NULL DEFAULT 1")!).ReadBoolean());
        Assert.Equal(2024, new AvroReader(Encode("YEAR NOT NULL DEFAULT 2024")!).ReadInt());
        Assert.Equal(0, new AvroReader(Encode("YEAR NOT NULL")!).ReadInt());
        Assert.Equal(new DateOnly(2020, 2, 29).DayNumber - DateOnly.FromDateTime(DateTime.UnixEpoch).DayNumber, new AvroReader(Encode("DATE NOT NULL DEFAULT '2020-02-29'")!).ReadInt());
        // The zero date is the event contract's sentinel, as the log writes the rows that hold it.
        Assert.Equal(int.MinValue, new AvroReader(Encode("DATE NOT NULL")!).ReadInt());
        Assert.Equal(-((12 * 3600 + 34 * 60 + 56) * 1_000_000L + 500_000), new AvroReader(Encode("TIME(3) NOT NULL DEFAULT '-12:34:56.5'")!).ReadLong());
        Assert.Equal(new DateTime(2020, 1, 2, 3, 4, 5).Subtract(DateTime.UnixEpoch).Ticks / 10, new AvroReader(Encode("DATETIME NOT NULL DEFAULT '2020-01-02 03:04:05'")!).ReadLong());
        Assert.Equal(new DateTime(2020, 1, 2).Subtract(DateTime.UnixEpoch).Ticks / 10, new AvroReader(Encode("DATETIME(6) NOT NULL DEFAULT '2020-01-02'")!).ReadLong());
        Assert.Equal("{\"a\": 1}", new AvroReader(Encode("JSON NOT NULL DEFAULT '{\"a\": 1}'")!).ReadString());
    }

    [Theory]
    [InlineData("UUID NOT NULL", "00000000-0000-0000-0000-000000000000")]
    [InlineData("UUID NOT NULL DEFAULT '6CCD780C-BABA-1026-9564-5B8C656024DB'", "6ccd780c-baba-1026-9564-5b8c656024db")]
    [InlineData("UUID NOT NULL DEFAULT '6ccd780cbaba102695645b8c656024db'", "6ccd780c-baba-1026-9564-5b8c656024db")]
    [InlineData("INET6 NOT NULL", "::")]
    [InlineData("INET6 NOT NULL DEFAULT '1:0:2:0:3:0:4:0'", "1::2:0:3:0:4:0")]
    [InlineData("INET6 NOT NULL DEFAULT '::FFFF:10.0.0.1'", "::ffff:10.0.0.1")]
    [InlineData("INET4 NOT NULL", "0.0.0.0")]
    [InlineData("INET4 NOT NULL DEFAULT '192.0.2.1'", "192.0.2.1")]
    [InlineData("INET4 NOT NULL DEFAULT '010.0.0.1'", "10.0.0.1")] // decimal, as MariaDB 10.11 reads it (not octal)
    public void MariaDBs_uuid_and_inet_defaults_are_the_servers_text_of_their_value(string definition, string expected)
    {
        Assert.Equal(expected, new AvroReader(Encode(definition)!).ReadString());
    }

    [Theory]
    [InlineData("UUID NOT NULL DEFAULT '{6ccd780c-baba-1026-9564-5b8c656024db}'")] // forms not read here with certainty
    [InlineData("UUID NOT NULL DEFAULT UUID()")] // evaluated per row
    [InlineData("INET6 NOT NULL DEFAULT 'fe80::1%eth0'")]
    [InlineData("INET6 NOT NULL DEFAULT '10.0.0.1'")]
    [InlineData("INET4 NOT NULL DEFAULT '10.1'")]
    public void MariaDBs_uuid_and_inet_literals_not_read_with_certainty_give_no_default(string definition)
    {
        Assert.Null(Encode(definition));
    }

    [Fact]
    public void A_uuid_cell_is_the_guid_the_change_event_encoder_takes_and_inet_cells_are_text()
    {
        // The object path (tools, the reference encoder): a UUID as a Guid, trailing zero bytes the binlog dropped put back.
        var uuid = DataMesh.Connectors.MySql.Binlog.TableBinding.PlanSelected(DdlParser.ParseColumnType("u", "uuid"), "t");
        Assert.Equal(Guid.Parse("12345678-0000-1000-8000-000000000000"), DataMesh.Connectors.MySql.Binlog.CellValues.ToObject([9, 0x12, 0x34, 0x56, 0x78, 0, 0, 0x10, 0, 0x80], uuid));
        var inet6 = DataMesh.Connectors.MySql.Binlog.TableBinding.PlanSelected(DdlParser.ParseColumnType("a", "inet6"), "t");
        Assert.Equal("2001:db8::", DataMesh.Connectors.MySql.Binlog.CellValues.ToObject([4, 0x20, 0x01, 0x0d, 0xb8], inet6));
        var inet4 = DataMesh.Connectors.MySql.Binlog.TableBinding.PlanSelected(DdlParser.ParseColumnType("b", "inet4"), "t");
        Assert.Equal("10.0.0.0", DataMesh.Connectors.MySql.Binlog.CellValues.ToObject([1, 10], inet4));
        Assert.Throws<FormatException>(() => DataMesh.Connectors.MySql.Binlog.CellValues.ToObject([5, 1, 2, 3, 4, 5], inet4));
    }

    [Fact]
    public void Modify_and_change_keep_the_value_the_rows_got_when_the_column_was_added_and_the_history_keeps_it()
    {
        var schema = new SchemaTracker();
        schema.SetDatabaseCharset("shop", "utf8mb4");
        schema.Apply(DdlParser.Parse("CREATE TABLE t (id INT PRIMARY KEY, n INT NOT NULL DEFAULT 3)"), "shop");
        // A new table has no rows from before its columns.
        Assert.All(schema.Find("shop", "t")!.Columns, c => Assert.Null(c.Default));
        schema.Apply(DdlParser.Parse("ALTER TABLE t DROP COLUMN n"), "shop");
        schema.Apply(DdlParser.Parse("ALTER TABLE t ADD COLUMN c INT NOT NULL DEFAULT 7"), "shop");
        schema.Apply(DdlParser.Parse("ALTER TABLE t MODIFY COLUMN c INT NOT NULL DEFAULT 9"), "shop");
        schema.Apply(DdlParser.Parse("ALTER TABLE t CHANGE c c2 INT NOT NULL DEFAULT 10"), "shop");
        var table = schema.Find("shop", "t")!;
        Assert.Equal(new ColumnDefaultLiteral(DefaultLiteralKind.Number, "7"), table.Columns[1].Default);
        var column = table.ToDescription().Columns[1];
        Assert.Equal(7, new AvroReader(column.Default!.AvroValue.Span).ReadInt());

        // The schema history stores it with the table, so a restart describes the table the same way.
        var restored = JsonSerializer.Deserialize<MySqlTable>(JsonSerializer.Serialize(table))!;
        Assert.Equal(table.ToDescription().Columns[1], restored.ToDescription().Columns[1]);
        Assert.Contains("\"Kind\":\"Number\"", JsonSerializer.Serialize(table), StringComparison.Ordinal);

        // A new type converts the older rows' values (an ENUM's by label, a CHAR's spaces ...): no default then.
        schema.Apply(DdlParser.Parse("ALTER TABLE t ADD COLUMN e ENUM('a','b') NOT NULL, ADD COLUMN ch CHAR(5) NOT NULL DEFAULT 'a'"), "shop");
        schema.Apply(DdlParser.Parse("ALTER TABLE t MODIFY e ENUM('x','a','b') NOT NULL, MODIFY ch VARCHAR(5) NOT NULL DEFAULT 'a', MODIFY c2 BIGINT NOT NULL"), "shop");
        Assert.All(schema.Find("shop", "t")!.Columns.Skip(1), c => Assert.Null(c.Default));
    }

    [Fact]
    public void Backslashes_of_LIKE_escapes_stay_in_the_text_as_the_server_keeps_them()
    {
        var tokens = SqlTokenizer.Tokenize("'a\\%b\\_c\\nd' 'plain'");
        Assert.Equal("a\\%b\\_c\nd", tokens[0].Text);
        Assert.True(tokens[0].Escaped);
        Assert.False(tokens[1].Escaped);
    }

    private static long Decimal(string definition) => (long)new AvroReader(Encode(definition)!).ReadDecimalUnscaled();

    /// <summary>The Avro default of a column added by <c>ALTER TABLE t ADD COLUMN c {definition}</c>.</summary>
    private static byte[]? Encode(string definition)
    {
        var statement = Assert.IsType<AlterTableStatement>(DdlParser.Parse($"ALTER TABLE t ADD COLUMN c {definition}"));
        var column = Assert.IsType<AddColumnAction>(Assert.Single(statement.Actions)).Definition.Column;
        column = column with { Charset = column.Charset ?? (column.IsCharacter || column.TypeName is "enum" or "set" ? "utf8mb4" : null) };
        return column.Default?.Encode(column)?.AvroValue.ToArray();
    }
}
