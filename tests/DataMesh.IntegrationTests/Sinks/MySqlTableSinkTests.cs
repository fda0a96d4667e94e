using DataMesh.Connectors.Sinks;
using DataMesh.IntegrationTests.Infrastructure;
using DataMesh.Pipelines.Sinks;
using MySqlConnector;
using Xunit;

namespace DataMesh.IntegrationTests.Sinks;

/// <summary>The MySQL table sink against the throwaway MariaDB 10.11 (no MySQL 8 server runs here).</summary>
public sealed class MySqlTableSinkTests(MariaDbServer db) : TableSinkTests, IClassFixture<MariaDbServer>
{
    protected override PipelineSink CreateSink(SchemaEvolution evolution, string? table = null) =>
        new MySqlTableSink(new MySqlTableSinkOptions { ConnectionString = db.ConnectionString, SchemaEvolution = evolution, Table = table });

    protected override Task ExecuteAsync(string sql) => db.ExecuteAsync(sql);

    private readonly List<string> _logins = [];

    protected override PipelineSink CreateSink(string connectionString, string table) =>
        new MySqlTableSink(new MySqlTableSinkOptions { ConnectionString = connectionString, Table = table });

    protected override async Task<string> LoginWithGrantsAsync(string table, string? without)
    {
        var login = "sink_" + Guid.NewGuid().ToString("N")[..12];
        _logins.Add(login);
        var grants = string.Join(", ", new[] { "SELECT", "INSERT", "UPDATE", "DELETE" }.Where(g => g != without));
        await db.ExecuteAsync($"CREATE USER '{login}'@'%' IDENTIFIED BY 'pw'; GRANT {grants} ON `{db.Database}`.`{table}` TO '{login}'@'%'");
        return new MySqlConnectionStringBuilder(db.ConnectionString) { UserID = login, Password = "pw" }.ConnectionString;
    }

    protected override async Task DropLoginsAsync()
    {
        foreach (var login in _logins)
        {
            await db.ExecuteAsync($"DROP USER '{login}'@'%'");
        }
    }

    protected override async Task<List<object?[]>> QueryAsync(string sql)
    {
        await using var connection = await db.OpenConnectionAsync();
        await using var command = new MySqlCommand(sql, connection);
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

    protected override string Q(string identifier) => "`" + identifier + "`";

    protected override string VarChar(int length) => $"varchar({length})";

    protected override string AlterColumnType(string table, string column, string type) => $"ALTER TABLE {Q(table)} MODIFY {Q(column)} {type}";

    protected override async Task ReadAllTypesAsync(string table)
    {
        var rows = await QueryAsync($"""
            SELECT b, i, l, f, d, s, `by`, CAST(`dec` AS CHAR), CAST(decf AS CHAR), dt, tm, tms, ts, tsm, lts, CAST(u AS CHAR), e, arr, m, j, dur, n, n2, `order-id`
            FROM `{table}`
            """);
        var row = Assert.Single(rows);
        Assert.Equal(true, row[0]);
        Assert.Equal(-123_456, row[1]);
        Assert.Equal(long.MinValue + 1, row[2]);
        Assert.Equal((double)float.MaxValue, row[3]);
        Assert.Equal(Math.PI, row[4]);
        Assert.Equal(SampleString, row[5]);
        Assert.Equal(SampleBytes, row[6]);
        Assert.Equal(SampleDecimal, row[7]);
        Assert.Equal("-12345.6789", row[8]);
        Assert.Equal(new DateTime(2024, 2, 29), row[9]);
        Assert.Equal(SampleTime, row[10]);
        Assert.Equal(new TimeSpan(0, 23, 59, 59, 999), row[11]);
        Assert.Equal(SampleTimestamp, row[12]);
        Assert.Equal(DateTime.UnixEpoch.AddTicks(1_700_000_000_123 * TimeSpan.TicksPerMillisecond), row[13]);
        Assert.Equal(SampleLocalTimestamp, row[14]);
        Assert.Equal(SampleUuid.ToString(), row[15]);
        Assert.Equal("happy", row[16]);
        Assert.Equal(NormalizeJson("[1,null,3]"), NormalizeJson(row[17]));
        Assert.Equal(NormalizeJson("""{"a":1}"""), NormalizeJson(row[18]));
        Assert.Equal(NormalizeJson("""{"k":[1,2]}"""), NormalizeJson(row[19]));
        Assert.Equal(SampleDuration, row[20]);
        Assert.Equal(DBNull.Value, row[21]);
        Assert.Equal(7, row[22]);
        Assert.Equal("A-1", row[23]);

        var types = (await QueryAsync($"""
            SELECT GROUP_CONCAT(CONCAT(COLUMN_NAME, ' ', COLUMN_TYPE) ORDER BY ORDINAL_POSITION SEPARATOR ', ')
            FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = '{table}'
            """))[0][0];
        Assert.Equal(
            "id bigint(20), b tinyint(1), i int(11), l bigint(20), f double, d double, s longtext, by longblob, dec decimal(38,10), decf decimal(18,4), "
            + "dt date, tm time(6), tms time(6), ts datetime(6), tsm datetime(6), lts datetime(6), u char(36), e longtext, arr longtext, m longtext, "
            + "j longtext, dur time(6), n longtext, n2 int(11), order-id longtext",
            types);
    }

    [Fact]
    public async Task NaN_and_infinite_timestamps_are_rejected_because_MySQL_cannot_hold_them()
    {
        var table = NewTable();
        var schema = SinkTestKit.Schema("""
            {"type":"record","name":"Value","namespace":"sinktest","fields":[
              {"name":"id","type":"long"},
              {"name":"d","type":"double"},
              {"name":"ts","type":{"type":"long","logicalType":"timestamp-micros"}}]}
            """);
        await using var sink = CreateSink(SchemaEvolution.CreateTable);
        await sink.StartAsync(Kit.Context, CancellationToken.None);
        var batch = Kit.Batch(TopicOf(table))
            .Upsert(Key(1), schema, SinkTestKit.Datum((ref Avro.AvroWriter w) => { w.WriteLong(1); w.WriteDouble(double.NaN); w.WriteLong(0); }))
            .Upsert(Key(2), schema, SinkTestKit.Datum((ref Avro.AvroWriter w) => { w.WriteLong(2); w.WriteDouble(1); w.WriteLong(long.MaxValue); }))
            .Upsert(Key(3), schema, SinkTestKit.Datum((ref Avro.AvroWriter w) => { w.WriteLong(3); w.WriteDouble(2); w.WriteLong(0); }))
            .Batch;
        await sink.WriteAsync(batch, CancellationToken.None);

        Assert.Contains("column \"d\"", batch.GetRejection(0)!, StringComparison.Ordinal);
        Assert.Contains("column \"ts\"", batch.GetRejection(1)!, StringComparison.Ordinal);
        Assert.Null(batch.GetRejection(2));
        Assert.Equal(3L, Assert.Single(await QueryAsync($"SELECT id FROM `{table}`"))[0]);
    }

    [Fact]
    public async Task Two_fields_whose_names_differ_only_in_case_reject_their_records_naming_both_and_the_table_and_the_batch_goes_on()
    {
        // MariaDB's column names compare without case: CREATE TABLE failed (duplicate column name 'mixedcase') and the
        // batch with it, every retry again, until the pipeline stopped.
        var clash = NewTable();
        var fine = NewTable();
        var schema = SinkTestKit.Schema("""
            {"type":"record","name":"Value","namespace":"sinktest","fields":[
              {"name":"id","type":"long"},
              {"name":"MixedCase","type":"string"},
              {"name":"mixedcase","type":"string"}]}
            """);
        byte[] ValueOf(long id) => SinkTestKit.Datum((ref Avro.AvroWriter w) => { w.WriteLong(id); w.WriteString("upper"); w.WriteString("lower"); });
        await using var sink = CreateSink(SchemaEvolution.CreateTable);
        await sink.StartAsync(Kit.Context, CancellationToken.None);
        var batch = Kit.Batch(TopicOf(clash))
            .Upsert(Key(1), schema, ValueOf(1))
            .Upsert(Key(2), RowSchema, Row(2, "two"), TopicOf(fine))
            .Upsert(Key(3), schema, ValueOf(3))
            .Batch;
        await sink.WriteAsync(batch, CancellationToken.None);

        Assert.Equal(2, batch.RejectedCount);
        foreach (var index in new[] { 0, 2 })
        {
            var reason = batch.GetRejection(index)!;
            Assert.Contains(clash, reason, StringComparison.Ordinal);
            Assert.Contains("\"MixedCase\" and \"mixedcase\"", reason, StringComparison.Ordinal);
            Assert.Contains("without case", reason, StringComparison.Ordinal);
        }

        Assert.Equal([(2L, "two")], await RowsAsync(fine));
    }
}
