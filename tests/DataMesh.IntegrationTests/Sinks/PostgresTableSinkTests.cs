using DataMesh.Connectors.Sinks;
using DataMesh.IntegrationTests.Infrastructure;
using DataMesh.Pipelines.Sinks;
using Npgsql;
using Xunit;

namespace DataMesh.IntegrationTests.Sinks;

/// <summary>The PostgreSQL table sink against the throwaway PostgreSQL 15.</summary>
public sealed class PostgresTableSinkTests(PostgresServer pg) : TableSinkTests, IClassFixture<PostgresServer>
{
    protected override PipelineSink CreateSink(SchemaEvolution evolution, string? table = null) =>
        new PostgresTableSink(new PostgresTableSinkOptions { ConnectionString = pg.ConnectionString, SchemaEvolution = evolution, Table = table });

    protected override Task ExecuteAsync(string sql) => pg.ExecuteAsync(sql);

    private readonly List<string> _logins = [];

    protected override PipelineSink CreateSink(string connectionString, string table) =>
        new PostgresTableSink(new PostgresTableSinkOptions { ConnectionString = connectionString, Table = table });

    protected override async Task<string> LoginWithGrantsAsync(string table, string? without)
    {
        var login = "sink_" + Guid.NewGuid().ToString("N")[..12];
        _logins.Add(login);
        var grants = string.Join(", ", new[] { "SELECT", "INSERT", "UPDATE", "DELETE" }.Where(g => g != without));
        await pg.ExecuteAsync($"CREATE ROLE {login} LOGIN PASSWORD 'pw'; GRANT {grants} ON \"{table}\" TO {login}");
        return new NpgsqlConnectionStringBuilder(pg.ConnectionString) { Username = login, Password = "pw" }.ConnectionString;
    }

    protected override async Task DropLoginsAsync()
    {
        foreach (var login in _logins)
        {
            await pg.ExecuteAsync($"DROP OWNED BY {login}; DROP ROLE {login}");
        }
    }

    /// <summary>A table the test creates, <c>(id bigint PRIMARY KEY, columns)</c>, the value schema <c>{id: long, fields}</c> and
    /// a started sink into that table that creates nothing.</summary>
    private async Task<(string Table, global::Avro.RecordSchema Schema, PipelineSink Sink)> ExistingTableAsync(string columns, string fields)
    {
        var table = NewTable();
        await pg.ExecuteAsync($"""CREATE TABLE "{table}" (id bigint PRIMARY KEY, {columns})""");
        var schema = SinkTestKit.Schema($$"""
            {"type":"record","name":"Value","namespace":"sinktest","fields":[{"name":"id","type":"long"}, {{fields}}]}
            """);
        var sink = CreateSink(SchemaEvolution.None, table);
        await sink.StartAsync(Kit.Context, CancellationToken.None);
        return (table, schema, sink);
    }

    protected override async Task<List<object?[]>> QueryAsync(string sql)
    {
        await using var connection = await pg.OpenConnectionAsync();
        await using var command = new NpgsqlCommand("SET TIME ZONE 'UTC'; " + sql, connection);
        await using var reader = await command.ExecuteReaderAsync();
        var rows = new List<object?[]>();
        while (await reader.ReadAsync())
        {
            var row = new object?[reader.FieldCount];
            reader.GetValues(row!);
            rows.Add(row);
        }

        return rows;
    }

    [Fact]
    public async Task A_NUL_character_in_text_is_refused_naming_the_table_and_the_column()
    {
        // PostgreSQL's text cannot hold U+0000 (MySQL's can); the staging COPY refused the row with 22021 and the column
        // probe, which stages the row the same way, failed too: the reason named the table only.
        var table = NewTable();
        await ExecuteAsync($"CREATE TABLE {Q(table)} (id bigint NOT NULL PRIMARY KEY, nick text)");
        await using var sink = await StartAsync(SchemaEvolution.None, table);
        var batch = Kit.Batch("t").Upsert(Key(1), RowSchema, Row(1, "a\0b")).Upsert(Key(2), RowSchema, Row(2, "fine")).Batch;
        await sink.WriteAsync(batch, CancellationToken.None);

        Assert.Equal([(2L, "fine")], await RowsAsync(table));
        Assert.Equal(1, batch.RejectedCount);
        var reason = batch.GetRejection(0)!;
        Assert.Contains(table, reason, StringComparison.Ordinal);
        Assert.Contains("column \"nick\"", reason, StringComparison.Ordinal);
        Assert.Contains("NUL character U+0000", reason, StringComparison.Ordinal);
    }

    protected override string Q(string identifier) => "\"" + identifier + "\"";

    protected override string VarChar(int length) => $"varchar({length})";

    protected override string AlterColumnType(string table, string column, string type) => $"ALTER TABLE {Q(table)} ALTER COLUMN {Q(column)} TYPE {type}";

    protected override async Task ReadAllTypesAsync(string table)
    {
        var rows = await QueryAsync($"""
            SELECT b, i, l, f, d, s, "by", dec::text, decf::text, dt, tm, tms, ts, tsm, lts, u, e, arr::text, m::text, j::text, dur, n, n2, "order-id"
            FROM "{table}"
            """);
        var row = Assert.Single(rows);
        Assert.Equal(true, row[0]);
        Assert.Equal(-123_456, row[1]);
        Assert.Equal(long.MinValue + 1, row[2]);
        Assert.Equal(float.MaxValue, row[3]);
        Assert.Equal(Math.PI, row[4]);
        Assert.Equal(SampleString, row[5]);
        Assert.Equal(SampleBytes, row[6]);
        Assert.Equal(SampleDecimal, row[7]);
        Assert.Equal("-12345.6789", row[8]);
        Assert.Equal(new DateOnly(2024, 2, 29), row[9]);
        Assert.Equal(TimeOnly.FromTimeSpan(SampleTime), row[10]);
        Assert.Equal(new TimeOnly(23, 59, 59, 999), row[11]);
        Assert.Equal(SampleTimestamp, row[12]);
        Assert.Equal(DateTimeKind.Utc, ((DateTime)row[12]!).Kind);
        Assert.Equal(DateTime.UnixEpoch.AddTicks(1_700_000_000_123 * TimeSpan.TicksPerMillisecond), row[13]);
        Assert.Equal(SampleLocalTimestamp, row[14]);
        Assert.Equal(SampleUuid, row[15]);
        Assert.Equal("happy", row[16]);
        Assert.Equal("{1,NULL,3}", row[17]);
        Assert.Equal(NormalizeJson("""{"a":1}"""), NormalizeJson(row[18]));
        Assert.Equal(NormalizeJson("""{"k":[1,2]}"""), NormalizeJson(row[19]));
        Assert.Equal(SampleDuration, row[20]);
        Assert.Equal(DBNull.Value, row[21]);
        Assert.Equal(7, row[22]);
        Assert.Equal("A-1", row[23]);

        var types = (await QueryAsync($"""
            SELECT string_agg(a.attname || ' ' || format_type(a.atttypid, a.atttypmod), ', ' ORDER BY a.attnum)
            FROM pg_attribute a WHERE a.attrelid = '"{table}"'::regclass AND a.attnum > 0
            """))[0][0];
        Assert.Equal(
            "id bigint, b boolean, i integer, l bigint, f real, d double precision, s text, by bytea, dec numeric(38,10), decf numeric(18,4), "
            + "dt date, tm time without time zone, tms time without time zone, ts timestamp with time zone, tsm timestamp with time zone, "
            + "lts timestamp without time zone, u uuid, e text, arr integer[], m jsonb, j jsonb, dur interval, n text, n2 integer, order-id text",
            types);
    }

    [Fact]
    public async Task Infinite_dates_and_timestamps_and_24_00_travel_to_PostgreSQL()
    {
        var table = NewTable();
        var schema = SinkTestKit.Schema("""
            {"type":"record","name":"Value","namespace":"sinktest","fields":[
              {"name":"id","type":"long"},
              {"name":"dt","type":{"type":"int","logicalType":"date"}},
              {"name":"ts","type":{"type":"long","logicalType":"timestamp-micros"}},
              {"name":"tm","type":{"type":"long","logicalType":"time-micros"}}]}
            """);
        await using var sink = CreateSink(SchemaEvolution.CreateTable);
        await sink.StartAsync(Kit.Context, CancellationToken.None);
        var batch = Kit.Batch(TopicOf(table))
            .Upsert(Key(1), schema, SinkTestKit.Datum((ref Avro.AvroWriter w) => { w.WriteLong(1); w.WriteInt(int.MaxValue); w.WriteLong(long.MaxValue); w.WriteLong(86_400_000_000); }))
            .Upsert(Key(2), schema, SinkTestKit.Datum((ref Avro.AvroWriter w) => { w.WriteLong(2); w.WriteInt(int.MinValue); w.WriteLong(long.MinValue); w.WriteLong(0); }))
            .Batch;
        await sink.WriteAsync(batch, CancellationToken.None);

        Assert.Equal(0, batch.RejectedCount);
        var rows = await QueryAsync($"""SELECT dt::text, ts::text, tm::text FROM "{table}" ORDER BY id""");
        Assert.Equal(["infinity", "infinity", "24:00:00"], rows[0]);
        Assert.Equal(["-infinity", "-infinity", "00:00:00"], rows[1]);
    }

    [Fact]
    public async Task Bit_strings_and_bit_1_booleans_go_into_existing_bit_columns_whole()
    {
        // A PostgreSQL source sends bit(n>1) and varbit as strings of 0 and 1 ("dm.type": "bits") and bit(1) as a boolean.
        var (table, schema, sink) = await ExistingTableAsync("b bit(8), vb varbit(8), flag bit(1)", """
            {"name":"b","type":{"type":"string","dm.type":"bits"}},
            {"name":"vb","type":{"type":"string","dm.type":"bits"}},
            {"name":"flag","type":"boolean"}
            """);
        await using var sinkScope = sink;
        byte[] ValueOf(long id, string b, string vb, bool flag) => SinkTestKit.Datum((ref Avro.AvroWriter w) =>
        {
            w.WriteLong(id);
            w.WriteString(b);
            w.WriteString(vb);
            w.WriteBoolean(flag);
        });
        var batch = Kit.Batch(TopicOf(table)).Upsert(Key(1), schema, ValueOf(1, "10100101", "101", true)).Upsert(Key(2), schema, ValueOf(2, "1", "1", false)).Batch;
        await sink.WriteAsync(batch, CancellationToken.None);

        Assert.Equal([[1L, "10100101", "101", "1"]], await QueryAsync($"""SELECT id, b::text, vb::text, flag::text FROM "{table}" ORDER BY id"""));
        Assert.Equal(1, batch.RejectedCount);
        Assert.Contains("\"b\"", batch.GetRejection(1)!, StringComparison.Ordinal); // '1' is not 8 bits: refused, not padded

        // A column altered to varbit after the sink read the table: the whole string, not its first bit.
        await pg.ExecuteAsync($"""ALTER TABLE "{table}" ALTER COLUMN b TYPE varbit(8)""");
        var later = Kit.Batch(TopicOf(table)).Upsert(Key(3), schema, ValueOf(3, "11110000", "0", false)).Batch;
        await sink.WriteAsync(later, CancellationToken.None);
        Assert.Equal([[3L, "11110000", "0", "0"]], await QueryAsync($"""SELECT id, b::text, vb::text, flag::text FROM "{table}" WHERE id = 3"""));
    }

    [Fact]
    public async Task Intervals_of_an_array_go_into_an_existing_interval_array_column_exactly()
    {
        // A PostgreSQL source sends interval[] as an array of ISO 8601 strings ("dm.type": "interval"). Into an existing
        // interval[] column the batch failed (42804: the staged text[] has no assignment cast to interval[]), even for a
        // row whose array is null, and the pipeline stopped after its retries.
        var (table, schema, sink) = await ExistingTableAsync("iv interval[], tags varchar(3)[]", """
            {"name":"iv","type":["null",{"type":"array","items":["null",{"type":"string","dm.type":"interval"}]}],"default":null},
            {"name":"tags","type":["null",{"type":"array","items":["null","string"]}],"default":null}
            """);
        await using var sinkScope = sink;
        byte[] ValueOf(long id, string?[]? intervals, string?[]? tags) => IdAndStringArrays(id, intervals, tags);
        // PostgreSQL's own ISO 8601 forms (IntervalStyle iso_8601), signs apart per field, to the microsecond.
        string[] forms = ["P1Y2M3DT4H5M6.789S", "P-1Y-2M3DT-4H-5M-6.000001S", "PT0S", "P-178000000Y", "PT2562047788H54.775807S"];
        var batch = Kit.Batch(TopicOf(table))
            .Upsert(Key(1), schema, ValueOf(1, [.. forms, null], ["a", null]))
            .Upsert(Key(2), schema, ValueOf(2, null, null))
            .Upsert(Key(3), schema, ValueOf(3, ["P1Y", "not an interval"], null))
            .Upsert(Key(4), schema, ValueOf(4, [], ["abc"]))
            .Upsert(Key(5), schema, ValueOf(5, null, ["abcd"]))
            .Batch;
        await sink.WriteAsync(batch, CancellationToken.None);

        // The malformed interval and the element longer than varchar(3) are refused by name, not cut or guessed.
        Assert.Equal(2, batch.RejectedCount);
        Assert.Contains("\"iv\"", batch.GetRejection(2)!, StringComparison.Ordinal);
        Assert.Contains("\"tags\"", batch.GetRejection(4)!, StringComparison.Ordinal);
        // Compared as text, which keeps months, days and time apart (interval's = takes 1 mon for 30 days).
        var expected = "ARRAY[" + string.Join(", ", forms.Select(f => $"'{f}'::interval")) + ", NULL]::text";
        Assert.Equal(
            [[1L, "true", "{a,NULL}"], [2L, DBNull.Value, DBNull.Value], [4L, "{}", "{abc}"]],
            await QueryAsync($"""SELECT id, CASE WHEN id = 1 THEN (iv::text = {expected})::text ELSE iv::text END, tags::text FROM "{table}" ORDER BY id"""));
    }

    [Fact]
    public async Task Strings_of_an_array_go_into_existing_char_bit_and_numeric_array_columns_exactly_or_are_rejected_by_name()
    {
        // character and bit without modifier are character(1) and bit(1) in a cast: an explicit cast to character[] cut
        // 'abcd' to 'a' (stored 'a   ' in char(4)[], no error) and one to bit[] cut '10100101' to '1'. A numeric(6,2)[]
        // column rounded '1.234' (a PostgreSQL source's numeric[] under DecimalHandling.String) to 1.23 without an error.
        var (table, schema, sink) = await ExistingTableAsync("c char(4)[], b bit(8)[], n numeric(6,2)[]", """
            {"name":"c","type":["null",{"type":"array","items":["null","string"]}],"default":null},
            {"name":"b","type":["null",{"type":"array","items":["null","string"]}],"default":null},
            {"name":"n","type":["null",{"type":"array","items":["null","string"]}],"default":null}
            """);
        await using var sinkScope = sink;
        byte[] ValueOf(long id, string?[]? chars, string?[]? bits, string?[]? numbers) => IdAndStringArrays(id, chars, bits, numbers);
        var batch = Kit.Batch(TopicOf(table))
            .Upsert(Key(1), schema, ValueOf(1, ["abcd", "ab", null], ["10100101", null], ["1.23", "-4.5", "7", null]))
            .Upsert(Key(2), schema, ValueOf(2, ["abcde"], null, null))
            .Upsert(Key(3), schema, ValueOf(3, null, ["1"], null))
            .Upsert(Key(4), schema, ValueOf(4, null, null, ["1.20", "1.234"]))
            .Batch;
        await sink.WriteAsync(batch, CancellationToken.None);

        Assert.Equal([[1L, "{abcd,\"ab  \",NULL}", "{10100101,NULL}", "{1.23,-4.50,7.00,NULL}"]],
            await QueryAsync($"""SELECT id, c::text, b::text, n::text FROM "{table}" ORDER BY id"""));
        Assert.Equal(3, batch.RejectedCount);
        Assert.Contains("\"c\"", batch.GetRejection(1)!, StringComparison.Ordinal);
        Assert.Contains("\"b\"", batch.GetRejection(2)!, StringComparison.Ordinal);
        Assert.Contains("\"n\"", batch.GetRejection(3)!, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Arrays_of_logical_types_go_into_existing_array_columns_of_their_types_exactly_and_a_value_they_cannot_hold_rejects_its_record_by_name()
    {
        // Such arrays travelled as JSON text, which only a json column takes: into numeric[], uuid[], date[], timestamptz[],
        // time[], jsonb[] or bytea[] columns every record was refused as a malformed array literal. A string with an
        // offset into time[] lost the offset (12:34:56+05:30 landed as 12:34:56); into a jsonb column an array of ints
        // failed the whole batch (42804).
        var (table, schema, sink) = await ExistingTableAsync(
            "n numeric(8,3)[], v numeric[], u uuid[], d date[], tz timestamptz[], ts timestamp[], t time[], ttz timetz[], j jsonb[], b bytea[], st time[], sttz timetz[], jd jsonb, ji jsonb",
            """
            {"name":"n","type":["null",{"type":"array","items":["null",{"type":"bytes","logicalType":"decimal","precision":10,"scale":4}]}]},
            {"name":"v","type":{"type":"array","items":{"type":"record","name":"VariableScaleDecimal","namespace":"io.datamesh.data","fields":[{"name":"scale","type":"int"},{"name":"value","type":"bytes"}]}}},
            {"name":"u","type":{"type":"array","items":{"type":"string","logicalType":"uuid"}}},
            {"name":"d","type":{"type":"array","items":{"type":"int","logicalType":"date"}}},
            {"name":"tz","type":{"type":"array","items":{"type":"long","logicalType":"timestamp-micros"}}},
            {"name":"ts","type":{"type":"array","items":{"type":"long","logicalType":"timestamp-millis"}}},
            {"name":"t","type":{"type":"array","items":{"type":"long","logicalType":"time-micros"}}},
            {"name":"ttz","type":{"type":"array","items":{"type":"int","logicalType":"time-millis"}}},
            {"name":"j","type":{"type":"array","items":{"type":"string","dm.type":"json"}}},
            {"name":"b","type":{"type":"array","items":"bytes"}},
            {"name":"st","type":{"type":"array","items":{"type":"string","dm.type":"time-offset"}}},
            {"name":"sttz","type":{"type":"array","items":{"type":"string","dm.type":"time-offset"}}},
            {"name":"jd","type":{"type":"array","items":{"type":"int","logicalType":"date"}}},
            {"name":"ji","type":{"type":"array","items":"int"}}
            """);
        await using var sinkScope = sink;
        const long Instant = 1_711_848_600_000_000L; // 2024-03-31 01:30:00 UTC
        const long BeforePostgres = -210_866_803_200_000_001L; // a microsecond before 4714-11-24 00:00:00 BC
        byte[] ValueOf(long id, long?[]? n = null, string[]? u = null, long[]? tz = null, string[]? j = null) => SinkTestKit.Datum((ref Avro.AvroWriter w) =>
        {
            w.WriteLong(id);
            w.WriteUnionIndex(1);
            n ??= [12_340, -10, null]; // 1.2340, -0.0010 at scale 4
            w.WriteArrayStart(n.Length);
            foreach (var unscaled in n)
            {
                w.WriteUnionIndex(unscaled is null ? 0 : 1);
                if (unscaled is { } value)
                {
                    w.WriteDecimal(new System.Numerics.BigInteger(value), 10);
                }
            }

            w.WriteArrayEnd();
            w.WriteArrayStart(2);
            w.WriteInt(3);
            w.WriteBytes([0x30, 0x39]); // 12.345
            w.WriteInt(0);
            w.WriteBytes([0x07]);
            w.WriteArrayEnd();
            Strings(ref w, u ?? ["0b5e9c7a-2f3d-4a7b-9c1e-5d6f7a8b9c0d"]);
            w.WriteArrayStart(3);
            w.WriteInt(19_782); // 2024-02-29
            w.WriteInt(int.MaxValue);
            w.WriteInt(int.MinValue);
            w.WriteArrayEnd();
            Longs(ref w, tz ?? [Instant, long.MaxValue]);
            Longs(ref w, [(Instant / 1000) + 123]);
            Longs(ref w, [86_400_000_000, 3_723_000_004]);
            w.WriteArrayStart(1);
            w.WriteInt(45_296_789); // 12:34:56.789
            w.WriteArrayEnd();
            Strings(ref w, j ?? ["""{"a":[1,2]}""", "3"]);
            w.WriteArrayStart(2);
            w.WriteBytes([0x00, 0xFF, 0x10]);
            w.WriteBytes([]);
            w.WriteArrayEnd();
            Strings(ref w, ["12:34:56.789+05:30", "24:00:00", "00:30:00+01", "10:00:00Z"]);
            Strings(ref w, ["12:34:56.789+05:30", "10:00:00Z", "23:59:59"]);
            w.WriteArrayStart(1);
            w.WriteInt(19_782);
            w.WriteArrayEnd();
            w.WriteArrayStart(2);
            w.WriteInt(1);
            w.WriteInt(2);
            w.WriteArrayEnd();
        });
        var batch = Kit.Batch(TopicOf(table))
            .Upsert(Key(1), schema, ValueOf(1))
            .Upsert(Key(2), schema, ValueOf(2, n: [12_345])) // 1.2345: the column's scale is 3
            .Upsert(Key(3), schema, ValueOf(3, u: ["not a uuid"]))
            .Upsert(Key(4), schema, ValueOf(4, j: ["{"]))
            .Upsert(Key(5), schema, ValueOf(5, tz: [BeforePostgres]))
            .Upsert(Key(6), schema, ValueOf(6, n: [], u: [], tz: [], j: []))
            .Batch;
        await sink.WriteAsync(batch, CancellationToken.None);

        // Each value that a column cannot hold rejects its record alone, naming the column; the others are written.
        Assert.Equal(4, batch.RejectedCount);
        Assert.Contains("\"n\"", batch.GetRejection(1)!, StringComparison.Ordinal);
        Assert.Contains("\"u\"", batch.GetRejection(2)!, StringComparison.Ordinal);
        Assert.Contains("\"j\"", batch.GetRejection(3)!, StringComparison.Ordinal);
        Assert.Contains("\"tz\"", batch.GetRejection(4)!, StringComparison.Ordinal);
        var rows = await QueryAsync($"""
            SELECT id, n::text, v::text, u::text, d::text, tz::text, ts::text, t::text, ttz::text, j::text, b::text, st::text, sttz::text, jd::text, ji::text
            FROM "{table}" ORDER BY id
            """);
        Assert.Equal(2, rows.Count);
        Assert.Equal(
            [1L, "{1.234,-0.001,NULL}", "{12.345,7}", "{0b5e9c7a-2f3d-4a7b-9c1e-5d6f7a8b9c0d}", "{2024-02-29,infinity,-infinity}",
             "{\"2024-03-31 01:30:00+00\",infinity}", "{\"2024-03-31 01:30:00.123\"}", "{24:00:00,01:02:03.000004}", "{12:34:56.789+00}",
             "{\"{\\\"a\\\": [1, 2]}\",3}", "{\"\\\\x00ff10\",\"\\\\x\"}",
             "{07:04:56.789,24:00:00,23:30:00,10:00:00}", "{12:34:56.789+05:30,10:00:00+00,23:59:59+00}", "[19782]", "[1, 2]"],
            rows[0]);
        Assert.Equal([6L, "{}", "{12.345,7}", "{}"], rows[1][..4]);
    }

    /// <summary>Writes a non-null array of strings.</summary>
    private static void Strings(ref Avro.AvroWriter w, string[] items)
    {
        w.WriteArrayStart(items.Length);
        foreach (var item in items)
        {
            w.WriteString(item);
        }

        w.WriteArrayEnd();
    }

    /// <summary>Writes a non-null array of longs.</summary>
    private static void Longs(ref Avro.AvroWriter w, long[] items)
    {
        w.WriteArrayStart(items.Length);
        foreach (var item in items)
        {
            w.WriteLong(item);
        }

        w.WriteArrayEnd();
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task An_instant_goes_into_an_existing_timestamp_column_as_UTC_whatever_the_sessions_time_zone(bool dataSource)
    {
        // The database's or role's default time zone (here the connection string's) decided the wall time before.
        var table = NewTable();
        await pg.ExecuteAsync($"""CREATE TABLE "{table}" (id bigint PRIMARY KEY, ts timestamp, tstz timestamptz)""");
        var schema = SinkTestKit.Schema("""
            {"type":"record","name":"Value","namespace":"sinktest","fields":[
              {"name":"id","type":"long"},
              {"name":"ts","type":{"type":"long","logicalType":"timestamp-micros"}},
              {"name":"tstz","type":{"type":"long","logicalType":"timestamp-micros"}}]}
            """);
        const long Instant = 1_711_848_600_000_000L; // 2024-03-31 01:30:00 UTC
        var connectionString = new NpgsqlConnectionStringBuilder(pg.ConnectionString) { Timezone = "Asia/Kolkata" }.ConnectionString;
        await using var source = NpgsqlDataSource.Create(connectionString);
        await using var sink = new PostgresTableSink(dataSource
            ? new PostgresTableSinkOptions { DataSource = source, Table = table }
            : new PostgresTableSinkOptions { ConnectionString = connectionString, Table = table });
        await sink.StartAsync(Kit.Context, CancellationToken.None);
        var batch = Kit.Batch(TopicOf(table)).Upsert(Key(1), schema, SinkTestKit.Datum((ref Avro.AvroWriter w) => { w.WriteLong(1); w.WriteLong(Instant); w.WriteLong(Instant); })).Batch;
        await sink.WriteAsync(batch, CancellationToken.None);

        Assert.Equal(0, batch.RejectedCount);
        Assert.Equal([1L, "2024-03-31 01:30:00", "2024-03-31 01:30:00+00"], (await QueryAsync($"""SELECT id, ts::text, tstz::text FROM "{table}" """))[0]);
    }

    [Fact]
    public async Task Timestamps_at_and_beyond_the_edges_of_DateTime_travel_exactly_and_one_outside_PostgreSQLs_range_is_rejected_by_name()
    {
        // 0001-01-01 00:00:00 is .NET's DateTime.MinValue, which Npgsql writes as -infinity; PostgreSQL's range reaches
        // 4713 BC and 294276 AD, beyond DateTime's years 1 to 9999, and a PostgreSQL source sends such values; an event's
        // long reaches 294247 AD.
        var table = NewTable();
        var schema = SinkTestKit.Schema("""
            {"type":"record","name":"Value","namespace":"sinktest","fields":[
              {"name":"id","type":"long"},
              {"name":"ts","type":{"type":"long","logicalType":"timestamp-micros"}},
              {"name":"lts","type":{"type":"long","logicalType":"local-timestamp-micros"}}]}
            """);
        const long YearOne = -62_135_596_800_000_000L; // 0001-01-01 00:00:00
        const long Year20000 = 568_971_820_800_000_000L; // 20000-01-01 00:00:00
        const long Earliest = -210_866_803_200_000_000L; // 4714-11-24 00:00:00 BC
        const long Latest = long.MaxValue - 1; // 294247-01-10 04:00:54.775806, the last before infinity
        await using var sink = CreateSink(SchemaEvolution.CreateTable);
        await sink.StartAsync(Kit.Context, CancellationToken.None);
        var batch = Kit.Batch(TopicOf(table))
            .Upsert(Key(1), schema, SinkTestKit.Datum((ref Avro.AvroWriter w) => { w.WriteLong(1); w.WriteLong(YearOne); w.WriteLong(YearOne); }))
            .Upsert(Key(2), schema, SinkTestKit.Datum((ref Avro.AvroWriter w) => { w.WriteLong(2); w.WriteLong(YearOne + 1); w.WriteLong(YearOne - 1); }))
            .Upsert(Key(3), schema, SinkTestKit.Datum((ref Avro.AvroWriter w) => { w.WriteLong(3); w.WriteLong(Year20000); w.WriteLong(Earliest); }))
            .Upsert(Key(4), schema, SinkTestKit.Datum((ref Avro.AvroWriter w) => { w.WriteLong(4); w.WriteLong(Latest); w.WriteLong(Earliest - 1); }))
            .Batch;
        await sink.WriteAsync(batch, CancellationToken.None);

        var rows = await QueryAsync($"""SELECT id, ts::text, lts::text FROM "{table}" ORDER BY id""");
        Assert.Equal([1L, "0001-01-01 00:00:00+00", "0001-01-01 00:00:00"], rows[0]);
        Assert.Equal([2L, "0001-01-01 00:00:00.000001+00", "0001-12-31 23:59:59.999999 BC"], rows[1]);
        Assert.Equal([3L, "20000-01-01 00:00:00+00", "4714-11-24 00:00:00 BC"], rows[2]);
        Assert.Equal(3, rows.Count);
        Assert.Equal(1, batch.RejectedCount);
        var reason = batch.GetRejection(3)!;
        Assert.Contains("lts", reason, StringComparison.Ordinal);
        Assert.Contains("4713 BC", reason, StringComparison.Ordinal);

        // The last timestamp before infinity fits too (its row rejected above for its other column).
        var latest = Kit.Batch(TopicOf(table)).Upsert(Key(4), schema, SinkTestKit.Datum((ref Avro.AvroWriter w) => { w.WriteLong(4); w.WriteLong(Latest); w.WriteLong(0); })).Batch;
        await sink.WriteAsync(latest, CancellationToken.None);
        Assert.Equal(0, latest.RejectedCount);
        Assert.Equal([4L, "294247-01-10 04:00:54.775806+00", "1970-01-01 00:00:00"], (await QueryAsync($"""SELECT id, ts::text, lts::text FROM "{table}" WHERE id = 4"""))[0]);
    }

    /// <summary>A record of a long id and nullable arrays of nullable strings, in that order.</summary>
    private static byte[] IdAndStringArrays(long id, params string?[]?[] arrays) => SinkTestKit.Datum((ref Avro.AvroWriter w) =>
    {
        w.WriteLong(id);
        foreach (var array in arrays)
        {
            w.WriteUnionIndex(array is null ? 0 : 1);
            if (array is not null)
            {
                w.WriteArrayStart(array.Length);
                foreach (var item in array)
                {
                    w.WriteUnionIndex(item is null ? 0 : 1);
                    if (item is not null)
                    {
                        w.WriteString(item);
                    }
                }

                w.WriteArrayEnd();
            }
        }
    });
}
