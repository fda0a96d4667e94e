using System.Numerics;
using DataMesh.Connectors.MySql;
using DataMesh.IntegrationTests.Infrastructure;
using Microsoft.Extensions.Logging.Abstractions;
using Xunit;

namespace DataMesh.IntegrationTests.MySql;

/// <summary>Values that the binlog stores in a form of its own, end to end from MariaDB 10.11 with the harness's settings
/// (binlog_row_metadata=FULL): the signedness bits of columns after a YEAR, BINARY(n) without its trailing zero bytes,
/// CHAR(n) without its trailing spaces, and rows logged without their whole image.</summary>
public sealed class MySqlDecoderTests(MariaDbServer server) : IClassFixture<MariaDbServer>
{
    [Fact]
    public async Task Numbers_after_a_YEAR_column_arrive_with_their_own_signedness()
    {
        await using var cdc = await MySqlCdc.CreateAsync(server,
            "CREATE TABLE t (id INT PRIMARY KEY, y YEAR, u INT UNSIGNED, s INT, tu TINYINT UNSIGNED, y2 YEAR NOT NULL, bu BIGINT UNSIGNED, "
            + "ms MEDIUMINT, su SMALLINT UNSIGNED, f FLOAT, d DECIMAL(5,1), iu INT UNSIGNED)");
        await cdc.StartAsync();
        await cdc.WaitForSavedPositionAsync();

        await cdc.ExecuteAsync("INSERT INTO t VALUES (1, 2024, 4294967295, -5, 255, 1901, 18446744073709551615, -8388608, 65535, 1.5, -12.5, 7)");
        await cdc.ExecuteAsync("INSERT INTO t VALUES (2, NULL, 0, 5, 0, 2155, 0, 8388607, 0, -1.5, 12.5, 3000000000)");

        var records = await cdc.ReadAsync(cdc.Topic("t"), 2, TimeSpan.FromSeconds(30));
        Assert.Equal(2, records.Count);
        var first = records[0].After!;
        Assert.Equal(2024, first["y"]);
        Assert.Equal(4294967295L, first["u"]);
        Assert.Equal(-5, first["s"]);
        Assert.Equal(255, first["tu"]);
        Assert.Equal(1901, first["y2"]);
        Assert.Equal(new BigInteger(ulong.MaxValue), ((global::Avro.AvroDecimal)first["bu"]).UnscaledValue);
        Assert.Equal(-8388608, first["ms"]);
        Assert.Equal(65535, first["su"]);
        Assert.Equal(1.5f, first["f"]);
        Assert.Equal(-12.5m, ((global::Avro.AvroDecimal)first["d"]).ToType<decimal>());
        Assert.Equal(7L, first["iu"]);
        var second = records[1].After!;
        Assert.Null(second["y"]);
        Assert.Equal(8388607, second["ms"]);
        Assert.Equal(3000000000L, second["iu"]);
    }

    [Fact]
    public async Task BINARY_values_keep_their_trailing_zero_bytes_and_CHAR_values_arrive_as_a_SELECT_returns_them()
    {
        await using var cdc = await MySqlCdc.CreateAsync(server, "CREATE TABLE b (id BINARY(6) PRIMARY KEY, b BINARY(4), c CHAR(5), v VARBINARY(6), c1 CHAR(3) CHARACTER SET latin1)");
        await cdc.StartAsync();
        await cdc.WaitForSavedPositionAsync();

        await cdc.ExecuteAsync("INSERT INTO b VALUES (x'00AB00000000', x'00000000', 'ab  ', x'AB00', 'é  ')");
        await cdc.ExecuteAsync("INSERT INTO b VALUES (x'000000000000', x'01000002', '  x', x'', '')");
        await cdc.ExecuteAsync("DELETE FROM b WHERE id = x'000000000000'");

        var records = await cdc.ReadAsync(cdc.Topic("b"), 4, TimeSpan.FromSeconds(30));
        Assert.Equal(["c", "c", "d", null], records.Select(r => r.Op));
        var first = records[0].After!;
        Assert.Equal(Convert.FromHexString("00AB00000000"), records[0].Key!["id"]);
        Assert.Equal(Convert.FromHexString("00AB00000000"), first["id"]);
        Assert.Equal(new byte[4], first["b"]);
        Assert.Equal(Convert.FromHexString("AB00"), first["v"]);
        Assert.Equal(await SelectAsync(cdc, "c", "00AB00000000"), first["c"]);
        Assert.Equal("ab", first["c"]);
        Assert.Equal(await SelectAsync(cdc, "c1", "00AB00000000"), first["c1"]);
        Assert.Equal(new byte[6], records[1].Key!["id"]);
        Assert.Equal("  x", records[1].After!["c"]);
        Assert.Equal(new byte[6], records[2].Key!["id"]);
        Assert.Equal(new byte[6], records[2].Before!["id"]);
        Assert.Equal(new byte[6], records[3].Key!["id"]);
    }

    [Fact]
    public async Task A_row_logged_without_its_whole_image_stops_the_source_with_the_table_position_columns_and_what_to_do()
    {
        await using var cdc = await MySqlCdc.CreateAsync(server, "CREATE TABLE m (id INT PRIMARY KEY, a INT NOT NULL, b VARCHAR(10))");
        await cdc.ExecuteAsync("INSERT INTO m VALUES (1, 1, 'x')");
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        var run = cdc.RunConnectorAsync(NullLogger.Instance, timeout.Token);
        await cdc.WaitForSavedPositionAsync();

        // A session may log with its own binlog_row_image whatever the server's is.
        await cdc.ExecuteAsync("SET SESSION binlog_row_image = MINIMAL; UPDATE m SET a = 2 WHERE id = 1");

        var error = await Assert.ThrowsAsync<MySqlSchemaException>(() => run);
        Assert.Contains($"an UPDATE of `{cdc.Database}`.`m` lacks columns a, b in its before image and id, b in its after image", error.Message, StringComparison.Ordinal);
        Assert.Contains("SET GLOBAL binlog_row_image=FULL", error.Message, StringComparison.Ordinal);
        Assert.Contains("a session can set its own binlog_row_image", error.Message, StringComparison.Ordinal);
        Assert.Contains($"{error.File}:{error.Position}", error.Message, StringComparison.Ordinal);
        Assert.StartsWith("mariadb-bin.", error.File, StringComparison.Ordinal);
        Assert.True(error.Position > 4);
    }

    [Theory]
    [InlineData("STATEMENT", "INSERT INTO s VALUES (1, 'x')", "an INSERT")]
    [InlineData("STATEMENT", "UPDATE LOW_PRIORITY s SET v = 'y' WHERE id = 0", "an UPDATE")]
    [InlineData("STATEMENT", "DELETE FROM s WHERE id = 0", "a DELETE")]
    [InlineData("STATEMENT", "DELETE s.* FROM s WHERE s.id = 0", "a DELETE")]
    [InlineData("MIXED", "REPLACE INTO s (id, v) VALUES (0, 'z')", "a REPLACE")]
    public async Task A_change_logged_as_a_statement_stops_the_source_with_the_table_position_and_what_to_do(string format, string change, string what)
    {
        // A session may log with its own binlog_format whatever the server's is: STATEMENT, or MIXED (MariaDB's default) for
        // a deterministic statement, logs the statement's text and no rows. The source took it for a statement that changes
        // no table and went on: the change was lost without a word.
        await using var cdc = await MySqlCdc.CreateAsync(server, "CREATE TABLE s (id INT PRIMARY KEY, v VARCHAR(10)); INSERT INTO s VALUES (0, 'a')");
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        var run = cdc.RunConnectorAsync(NullLogger.Instance, timeout.Token);
        await cdc.WaitForSavedPositionAsync();

        await cdc.ExecuteAsync($"SET SESSION binlog_format = '{format}'; {change}");

        var error = await Assert.ThrowsAsync<MySqlSchemaException>(() => run);
        Assert.Contains($"{what} of `{cdc.Database}`.`s` was logged as a statement, without its rows", error.Message, StringComparison.Ordinal);
        Assert.Contains("SET GLOBAL binlog_format=ROW", error.Message, StringComparison.Ordinal);
        Assert.Contains($"{error.File}:{error.Position}", error.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("'x'", error.Message, StringComparison.Ordinal);
    }

    private async Task<string> SelectAsync(MySqlCdc cdc, string column, string idHex) =>
        await server.ScalarAsync<string>($"SELECT `{column}` FROM `{cdc.Database}`.b WHERE id = x'{idHex}'");
}
