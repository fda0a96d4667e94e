using System.Globalization;
using System.Numerics;
using Avro.Generic;
using DataMesh.Events;
using DataMesh.IntegrationTests.Infrastructure;
using Npgsql;
using Xunit;

namespace DataMesh.IntegrationTests.Postgres;

/// <summary>
/// money under a database's own <c>lc_monetary</c> (<c>ALTER DATABASE ... SET lc_monetary</c>): PostgreSQL stores a
/// money value as a count of the locale's smallest unit and prints it in the locale's form (<c>$ 12,34</c> in es_AR,
/// <c>12,34 €</c> in de_DE, <c>￥12</c> in ja_JP, which has no fraction digits), in the walsender (pgoutput's text) as in
/// any session. Every value must arrive as the number the database's own sessions read (<c>m::numeric</c>), from the log,
/// from a snapshot, in arrays and as a column's default.
/// </summary>
/// <remarks>The locales must exist on the server's machine (<c>locale -a</c>); <c>scripts/servers.sh</c> generates them
/// when it runs as root.</remarks>
public sealed class PostgresMoneyTests(PostgresServer server) : IClassFixture<PostgresServer>
{
    [Theory]
    [InlineData("es_AR.UTF-8", DecimalHandling.Precise)] // "$ 12,34": read as C's "$1,234" it was 1234.00
    [InlineData("de_DE.UTF-8", DecimalHandling.Precise)] // "-1.234,56 €"
    [InlineData("ja_JP.UTF-8", DecimalHandling.Precise)] // "￥-1,235": no fraction digits, so the scale is 0
    [InlineData("es_AR.UTF-8", DecimalHandling.String)]
    public async Task Money_arrives_as_the_number_the_database_reads_under_its_own_lc_monetary(string locale, DecimalHandling decimals)
    {
        await using var cdc = await PgCdc.CreateAsync(server, "CREATE TABLE m (id int PRIMARY KEY, m money, ma money[])");
        try
        {
            await cdc.ExecuteAsync($"DO $$ BEGIN EXECUTE format('ALTER DATABASE %I SET lc_monetary = %L', current_database(), '{locale}'); END $$");
        }
        catch (PostgresException ex) when (ex.SqlState == PostgresErrorCodes.InvalidParameterValue)
        {
            Assert.Fail($"The PostgreSQL server's machine has no locale {locale} ({ex.MessageText}): as root, run " +
                $"localedef --no-archive -i {locale.Split('.')[0]} -f UTF-8 {locale} (scripts/servers.sh does when run as root).");
        }

        // Sessions of the database (not the connector's) print money in the locale's form: the premise of the test.
        var sample = await QueryAsync(cdc, "SELECT '12.34'::numeric::money::text");
        Assert.NotEqual("$12.34", sample[0][0]);

        // The extremes of the 64-bit count, whatever the locale's fraction digits.
        const string Values = """
            (%1, 12.34::numeric::money, ARRAY[12.34::numeric::money, NULL, (-1234.56)::numeric::money]),
            (%2, (-9223372036854775808::numeric / 10::numeric ^ scale('1'::money::numeric))::money, ARRAY[0::numeric::money]),
            (%3, (9223372036854775807::numeric / 10::numeric ^ scale('1'::money::numeric))::money, NULL)
            """;
        await QueryAsync(cdc, "INSERT INTO m VALUES " + Values.Replace("%", string.Empty, StringComparison.Ordinal)); // 1, 2, 3: the snapshot's
        await cdc.StartAsync(o => o.IncludeTables.Add("public.m"), o => o.Events.DecimalHandling = decimals);
        await QueryAsync(cdc, "INSERT INTO m VALUES " + Values.Replace("%", "1", StringComparison.Ordinal)); // 11, 12, 13: the log's
        await QueryAsync(cdc, "ALTER TABLE m ADD COLUMN d money NOT NULL DEFAULT (-7.5)::numeric::money; INSERT INTO m (id) VALUES (20)");

        var records = await cdc.ReadAsync(cdc.Topic("m"), 7);
        Assert.Equal(["r", "r", "r", "c", "c", "c", "c"], records.Select(r => r.Op));
        var expected = (await QueryAsync(cdc, """
            SELECT id::text, m::numeric::text, (SELECT string_agg(coalesce(x::numeric::text, 'NULL'), '|' ORDER BY o) FROM unnest(ma) WITH ORDINALITY AS u (x, o)),
                   d::numeric::text
            FROM m ORDER BY id
            """)).ToDictionary(row => int.Parse(row[0]!, CultureInfo.InvariantCulture));
        foreach (var record in records)
        {
            var after = record.After!;
            var row = expected[(int)after["id"]];
            Assert.Equal(row[1], Show(after["m"]));
            Assert.Equal(row[2], after["ma"] is object?[] items ? string.Join('|', items.Select(x => Show(x) ?? "NULL")) : null);
        }

        Assert.Equal(expected[20][3], Show(records[6].After!["d"]));

        // A consumer on the newest schema reads the records from before the column with its default: the value
        // PostgreSQL gives those rows.
        var versions = await cdc.Store.GetVersionsAsync(TopicNames.ValueSubject(cdc.Topic("m")));
        var old = (GenericRecord)CdcRecord.Resolve(records[0].Value!, versions[0].Schema, versions[^1].Schema)["after"];
        Assert.Equal(expected[1][3], Show(old["d"]));
    }

    private static string? Show(object? value) => value switch
    {
        null => null,
        string text => text,
        global::Avro.AvroDecimal number => Decimal(number.UnscaledValue, number.Scale),
        _ => throw new InvalidOperationException($"Unexpected {value.GetType()} for money"),
    };

    private static string Decimal(BigInteger unscaled, int scale)
    {
        var digits = BigInteger.Abs(unscaled).ToString(CultureInfo.InvariantCulture).PadLeft(scale + 1, '0');
        return (unscaled.Sign < 0 ? "-" : string.Empty) + (scale == 0 ? digits : digits[..^scale] + "." + digits[^scale..]);
    }

    /// <summary>Rows of a statement in a new plain session of the database: its own lc_monetary (a pooled session would
    /// keep the one it started with), none of the connector's settings.</summary>
    private static async Task<List<string?[]>> QueryAsync(PgCdc cdc, string sql)
    {
        await using var connection = new NpgsqlConnection(new NpgsqlConnectionStringBuilder(cdc.ConnectionString) { Pooling = false }.ConnectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(sql, connection);
        await using var reader = await command.ExecuteReaderAsync();
        var rows = new List<string?[]>();
        while (await reader.ReadAsync())
        {
            rows.Add([.. Enumerable.Range(0, reader.FieldCount).Select(i => reader.IsDBNull(i) ? null : reader.GetString(i))]);
        }

        return rows;
    }
}
