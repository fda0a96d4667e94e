using System.Globalization;
using System.Numerics;
using Avro.Generic;
using DataMesh.IntegrationTests.Infrastructure;
using Xunit;

namespace DataMesh.IntegrationTests.Postgres;

/// <summary>
/// Every type of docs/type-mapping.md written in SQL, streamed by the connector, read back from the topic by Apache.Avro's
/// generic reader with the registered schema, and compared with what PostgreSQL returns for the same row.
/// </summary>
public sealed class PostgresTypesTests(PostgresServer server) : IClassFixture<PostgresServer>
{
    internal const string Setup = """
        CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy');
        CREATE DOMAIN posint AS integer CHECK (VALUE > 0);
        CREATE TYPE pair AS (a int, b text);
        CREATE TABLE everything (
            id bigint PRIMARY KEY, s smallint, i int, n numeric(12,2), nn numeric, big numeric(50,10), r real, d double precision,
            b boolean, t text, vc varchar(10), c char(3), ba bytea, u uuid, j json, jb jsonb, dt date, tm time, tz timetz,
            ts timestamp, tstz timestamptz, iv interval, m money, ip inet, ci cidr, mac macaddr, bt bit(3), b1 bit(1), vb varbit,
            ia int[], ta text[], na numeric[], e mood, dom posint, comp pair, o oid, x xml, pt point, rng int4range);
        """;

    internal static readonly string[] Rows =
    [
        """
        INSERT INTO everything VALUES (1, -32768, 2147483647, -1234567890.12, '0.000000000000000000000000000000000000001234567890123456789',
          '-12345678901234567890123456789012345678.0123456789', 'NaN', 'Infinity', true, 'grüße 😀 "quoted" \ back', 'abc', 'x',
          '\x00ff10', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '{"a": [1, 2]}', '{"b": 1, "a": null}', '2024-02-29', '23:59:59.999999',
          '12:34:56.789+05:30', '2026-11-26 10:30:15.123456', '2026-11-26 10:30:15.5+02', '1 year 2 mons 3 days 04:05:06.789', '-1234.56',
          '192.168.0.1/24', '10.0.0.0/8', '08:00:2b:01:02:03', B'101', B'1', B'1101', '{1,NULL,3}', '{"a b","c,d",NULL,"\"q\"",""}',
          '{1.5,NULL,-2}', 'happy', 5, '(1,"x y")', 4294967295, '<a>x</a>', '(1.5,2)', '[1,10)')
        """,
        "INSERT INTO everything (id) VALUES (2)",
        """
        INSERT INTO everything (id, s, i, n, nn, r, d, b, t, dt, tm, ts, tstz, ia, ta, bt, b1)
        VALUES (3, 32767, -2147483648, 0, -0.5, '-Infinity', -1.7976931348623157e308, false, '', '1970-01-01', '00:00:00',
          '1970-01-01 00:00:00', '1969-12-31 23:59:59.999999+00', '{}', '{}', B'000', B'0')
        """,
    ];

    [Fact]
    public async Task Every_type_arrives_as_PostgreSQL_returns_it()
    {
        await using var cdc = await PgCdc.CreateAsync(server, Setup);
        await cdc.StartAsync(o => o.IncludeTables.Add("public.everything"));
        foreach (var row in Rows)
        {
            await cdc.ExecuteAsync(row);
        }

        var records = await cdc.ReadAsync(cdc.Topic("everything"), Rows.Length);
        Assert.All(records, r => Assert.Equal("c", r.Op));
        var columns = records[0].After!.Schema.Fields.Select(f => global::DataMesh.Events.AvroNames.OriginalName(f)).ToArray();
        Assert.Equal(39, columns.Length);
        foreach (var record in records)
        {
            var id = (long)record.After!["id"];
            Assert.Equal(id, (long)record.Key!["id"]);
            foreach (var column in columns)
            {
                var expected = await ExpectedAsync(cdc, column, id);
                var actual = Canonical(record.After[column], column);
                Assert.True(expected == actual, $"row {id}, column {column}: PostgreSQL says {expected ?? "NULL"}, the topic says {actual ?? "NULL"}");
            }
        }
    }

    [Fact]
    public async Task Values_beyond_dotnets_DateTime_range_travel_exactly_as_documented()
    {
        // Apache.Avro's .NET logical-type conversions cannot hold dates before year 1 or infinities, so this test reads
        // the same bytes with the logical types left out and compares the raw numbers with PostgreSQL's own arithmetic.
        await using var cdc = await PgCdc.CreateAsync(server, "CREATE TABLE extremes (id int PRIMARY KEY, d date, ts timestamp, tz timestamptz)");
        await cdc.StartAsync();
        await cdc.ExecuteAsync("""
            INSERT INTO extremes VALUES
              (1, '4713-01-01 BC', '4713-01-01 00:00:00 BC', '0044-03-15 12:00:00.123456+00 BC'),
              (2, 'infinity', 'infinity', '-infinity'),
              (3, '5874897-12-31', '294246-12-31 23:59:59.999999', '2000-01-01 00:00:00+00')
            """);
        var raw = await RawValuesAsync(cdc, "extremes", 3);
        Assert.Equal(3, raw.Count);

        foreach (var after in raw.Select(r => (GenericRecord)r["after"]))
        {
            var id = (int)after["id"];
            var days = await cdc.ScalarAsync<int?>($"SELECT CASE WHEN isfinite(d) THEN d - DATE '1970-01-01' END FROM extremes WHERE id = {id}");
            Assert.Equal(days ?? int.MaxValue, (int)after["d"]);
            var ts = await cdc.ScalarAsync<decimal?>($"SELECT CASE WHEN isfinite(ts) THEN extract(epoch FROM ts) * 1000000 END FROM extremes WHERE id = {id}");
            Assert.Equal(ts is null ? long.MaxValue : (long)ts.Value, (long)after["ts"]);
            var tz = await cdc.ScalarAsync<decimal?>($"SELECT CASE WHEN isfinite(tz) THEN extract(epoch FROM tz) * 1000000 END FROM extremes WHERE id = {id}");
            Assert.Equal(tz is null ? long.MinValue : (long)tz.Value, (long)after["tz"]);
        }

    }

    /// <summary>A table topic's values as written, with the logical types left out.</summary>
    internal static async Task<List<GenericRecord>> RawValuesAsync(PgCdc cdc, string table, int count)
    {
        var list = new List<GenericRecord>();
        using var consumer = new Confluent.Kafka.ConsumerBuilder<byte[]?, byte[]?>(cdc.Kafka.CreateConsumerConfig(null)).Build();
        consumer.Assign(new Confluent.Kafka.TopicPartitionOffset(cdc.Topic(table), 0, Confluent.Kafka.Offset.Beginning));
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (list.Count < count && DateTime.UtcNow < deadline)
        {
            if (consumer.Consume(TimeSpan.FromMilliseconds(200)) is { } result)
            {
                list.Add((await CdcRecord.DecodeAsync(cdc.Store, result.Message.Value, WithoutLogicalTypes))!);
            }
        }

        return list;
    }

    private static global::Avro.Schema WithoutLogicalTypes(global::Avro.Schema schema) =>
        global::Avro.Schema.Parse(System.Text.RegularExpressions.Regex.Replace(schema.ToString(), "\"logicalType\":\"[a-z-]+\",?", string.Empty));

    private static async Task<string?> ExpectedAsync(PgCdc cdc, string column, long id)
    {
        var expression = column switch
        {
            "m" => "m::numeric::text",
            "ia" or "ta" or "na" => $"(SELECT string_agg(coalesce(x::text, 'NULL'), '|' ORDER BY ord) FROM unnest({column}) WITH ORDINALITY AS u(x, ord))",
            "ba" => "ba::text",
            "c" => "c",
            _ => $"{column}::text",
        };
        var value = await cdc.ScalarAsync<string?>($"SELECT {expression} FROM everything WHERE id = {id}");
        return column switch
        {
            "ia" or "ta" or "na" when value is null => await cdc.ScalarAsync<string?>($"SELECT CASE WHEN {column} IS NULL THEN NULL ELSE '' END FROM everything WHERE id = {id}"),
            "r" or "d" => value is null ? null : double.Parse(value, CultureInfo.InvariantCulture).ToString("R", CultureInfo.InvariantCulture),
            "b" => value is null ? null : value == "true" ? "t" : value == "false" ? "f" : value,
            _ => value,
        };
    }

    /// <summary>The value the topic carries, written the way PostgreSQL prints it.</summary>
    private static string? Canonical(object? value, string column) => value switch
    {
        null => null,
        bool b when column == "b1" => b ? "1" : "0",
        bool b => b ? "t" : "f",
        int or long => Convert.ToString(value, CultureInfo.InvariantCulture),
        float f => ((double)f).ToString("R", CultureInfo.InvariantCulture),
        double d => d.ToString("R", CultureInfo.InvariantCulture),
        global::Avro.AvroDecimal dec => Decimal(dec.UnscaledValue, dec.Scale),
        GenericRecord { Schema.Name: "VariableScaleDecimal" } v => Decimal(new BigInteger((byte[])v["value"], isUnsigned: false, isBigEndian: true), (int)v["scale"]),
        byte[] bytes => "\\x" + Convert.ToHexStringLower(bytes),
        Guid g => g.ToString(),
        DateTime dt when column == "dt" => dt.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture),
        DateTime dt when column == "tstz" => Trim(dt.ToUniversalTime().ToString("yyyy-MM-dd HH:mm:ss.ffffff", CultureInfo.InvariantCulture)) + "+00",
        DateTime dt => Trim(dt.ToString("yyyy-MM-dd HH:mm:ss.ffffff", CultureInfo.InvariantCulture)),
        TimeSpan t => Trim(t.ToString("hh\\:mm\\:ss\\.ffffff", CultureInfo.InvariantCulture)),
        object?[] items => string.Join('|', items.Select(x => x is null ? "NULL" : Canonical(x, column + "[]"))),
        string s when column == "b1" => s,
        string s => s,
        _ => throw new InvalidOperationException($"Unexpected {value.GetType()} in column {column}"),
    };

    private static string Trim(string text) => text.Contains('.', StringComparison.Ordinal) ? text.TrimEnd('0').TrimEnd('.') : text;

    private static string Decimal(BigInteger unscaled, int scale)
    {
        var negative = unscaled.Sign < 0;
        var digits = BigInteger.Abs(unscaled).ToString(CultureInfo.InvariantCulture).PadLeft(scale + 1, '0');
        var text = scale == 0 ? digits : digits[..^scale] + "." + digits[^scale..];
        return (negative ? "-" : string.Empty) + text;
    }
}
