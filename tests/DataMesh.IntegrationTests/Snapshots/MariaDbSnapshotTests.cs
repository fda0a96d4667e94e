using System.Globalization;
using Avro.Generic;
using Avro.IO;
using Confluent.Kafka;
using DataMesh.Avro;
using DataMesh.IntegrationTests.Infrastructure;
using DataMesh.IntegrationTests.MySql;
using Microsoft.Extensions.Logging;
using MySqlConnector;
using Xunit;
using Xunit.Abstractions;

namespace DataMesh.IntegrationTests.Snapshots;

/// <summary>DBLog snapshots on the real MariaDB 10.11: existing rows arrive as <c>r</c> events interleaved with the binlog,
/// without locks, encoded exactly like the binlog's rows, and the topic rebuilds the table exactly while a writer changes
/// it.</summary>
public sealed class MariaDbSnapshotTests(MariaDbServer server, ITestOutputHelper output) : IClassFixture<MariaDbServer>
{
    private const int Partitions = 8;

    /// <summary>A column of every type the connector maps.</summary>
    private const string EveryType = """
        id INT PRIMARY KEY, ti TINYINT, tu TINYINT UNSIGNED, si SMALLINT, mi MEDIUMINT UNSIGNED, i INT, iu INT UNSIGNED,
        bi BIGINT, bu BIGINT UNSIGNED, de DECIMAL(65,30), d2 DECIMAL(10,2), f FLOAT, dbl DOUBLE, b1 BIT(1), b9 BIT(9), y YEAR,
        d DATE, t0 TIME, t6 TIME(6), dt0 DATETIME, dt3 DATETIME(3), ts TIMESTAMP(6) NULL, c CHAR(10) CHARACTER SET latin1,
        vc VARCHAR(100), vu VARCHAR(10) CHARACTER SET utf16, tx TEXT, mt MEDIUMTEXT CHARACTER SET latin1, bn BINARY(5),
        vb VARBINARY(10), bl BLOB, lb LONGBLOB, e ENUM('x','y'), s SET('a','b','c'), j JSON, g GEOMETRY, p POINT
        """;

    /// <summary>Tenants whose order under utf8mb4_general_ci (accents and case ignored) is not their bytes' order.</summary>
    private static readonly string[] Tenants = ["ábc", "alpha", "Beta", "delta", "ÉCOLE", "Ñandú", "Zulu", "zz"];

    [Fact]
    public Task A_table_with_rows_before_the_start_is_snapshotted_while_a_writer_changes_it_and_the_topic_equals_the_table() =>
        SnapshotUnderWriterAsync(composite: false);

    [Fact]
    public Task A_composite_key_of_text_under_a_collation_and_an_unsigned_int_is_snapshotted_while_a_writer_changes_keys_and_the_topic_equals_the_table() =>
        SnapshotUnderWriterAsync(composite: true);

    [Fact]
    public async Task Keys_of_every_type_are_read_chunk_by_chunk_in_key_order_each_row_once()
    {
        (string Type, string[] Values)[] keys =
        [
            ("TINYINT", ["-128", "-1", "0", "1", "127"]),
            ("SMALLINT UNSIGNED", ["0", "1", "300", "65535"]),
            ("MEDIUMINT", ["-8388608", "0", "5", "8388607"]),
            ("INT", ["-2147483648", "-5", "0", "7", "2147483647"]),
            ("BIGINT", ["-9223372036854775808", "0", "9223372036854775807"]),
            ("BIGINT UNSIGNED", ["0", "42", "9223372036854775808", "18446744073709551615"]),
            ("DECIMAL(20,5)", ["-123456789012345.12345", "-0.00001", "0", "0.00001", "99999999999999.99999"]),
            ("FLOAT", ["-1.5", "0", "1.2345678", "3.4e38", "1e-30"]),
            ("DOUBLE", ["-1e300", "-0.5", "0", "0.1", "1e300", "5e-324"]),
            ("BIT(10)", ["b'0'", "b'1'", "b'1000000000'", "b'1111111111'"]),
            ("YEAR", ["0", "1901", "1969", "1970", "2000", "2155"]),
            // Not '2024-00-00' beside '0000-00-00': the event contract writes every date with a zero part as the same value.
            ("DATE", ["'0000-00-00'", "'1000-01-01'", "'2024-02-29'", "'9999-12-31'"]),
            ("TIME(3)", ["'-838:59:59'", "'-01:00:00'", "'-00:00:00.5'", "'00:00:00'", "'00:00:00.001'", "'838:59:59'"]),
            ("DATETIME(6)", ["'0000-00-00 00:00:00'", "'1000-01-01 00:00:00'", "'2024-01-02 03:04:05.123456'", "'2024-01-02 03:04:05.123457'", "'9999-12-31 23:59:59.999999'"]),
            ("TIMESTAMP(2)", ["'0000-00-00 00:00:00'", "'1970-01-02 00:00:00'", "'2000-01-01 00:00:00.5'", "'2038-01-19 03:14:07.99'"]),
            ("CHAR(5) CHARACTER SET latin1", ["'a'", "'B'", "'é'", "'Z'", "'ÿ'", "'aa'"]),
            ("VARCHAR(20) COLLATE utf8mb4_general_ci", [.. Tenants.Select(t => $"'{t}'")]),
            ("VARCHAR(20) COLLATE utf8mb4_bin", [.. Tenants.Select(t => $"'{t}'")]),
            ("VARCHAR(10) CHARACTER SET utf16", ["'a'", "'Ö'", "'b'", "'😀'", "'z'"]),
            ("BINARY(4)", ["x'00'", "x'0001'", "x'7F000000'", "x'FF'"]),
            ("VARBINARY(8)", ["x''", "x'00'", "x'0000'", "x'01'", "x'FF'"]),
            ("ENUM('b','a','c')", ["''", "'b'", "'a'", "'c'"]),
            ("SET('x','y','z')", ["''", "'x'", "'y,z'", "'x,y,z'"]),
        ];
        var setup = "SET SESSION sql_mode = '', time_zone = '+00:00';" + string.Concat(keys.Select((k, i) =>
            $"CREATE TABLE k{i} (k {k.Type} NOT NULL PRIMARY KEY, v INT NOT NULL); INSERT INTO k{i} (k, v) VALUES {string.Join(", ", k.Values.Select((v, j) => $"({v}, {j})"))};"));
        await using var cdc = await MySqlCdc.CreateAsync(server, setup);
        await cdc.StartAsync(o => o.Snapshot.ChunkSize = 2);

        for (var i = 0; i < keys.Length; i++)
        {
            var expected = await ScalarAsync<long>(cdc, $"SELECT COUNT(*) FROM k{i}");
            var records = await ReadAllAsync(cdc, cdc.Topic($"k{i}"), 1, TimeSpan.FromMilliseconds(500), WithoutLogicalTypes);
            Assert.True(records.All(r => r.Record.Op == "r"), $"{keys[i].Type}: {string.Join(", ", records.Select(r => r.Record.Op))}");
            Assert.True(expected == records.Count, $"{keys[i].Type}: {records.Count} snapshot rows for {expected} rows");
            var keysRead = records.Select(r => Convert.ToHexString(r.Message.Key!)).ToList();
            Assert.True(keysRead.Distinct().Count() == records.Count, $"{keys[i].Type}: keys read {string.Join(", ", keysRead)}");
        }
    }

    [Fact]
    public async Task A_snapshot_row_is_byte_identical_to_the_binlog_row_of_the_same_data()
    {
        const string Edge = """
            (1, -128, 255, -32768, 16777215, -2147483648, 4294967295, -9223372036854775808, 18446744073709551615,
             -12345678901234567890123456789012345.123456789012345678901234567890, -99999999.99, 1.2345678, 0.30000000000000004,
             b'1', b'101010101', 0, '0000-00-00', '-838:59:59', '-00:00:00.000001', '0000-00-00 00:00:00', '9999-12-31 23:59:59.999',
             '2038-01-19 03:14:07.999999', 'ÿé  ', 'ink ✒ 😀', '😀é', REPEAT('t', 300), 'àé', x'0102', x'', x'00ff', REPEAT(x'ab', 70000),
             '', 'a,c', '{"a": [1, 2.5, "x"], "b": null}', ST_GeomFromText('LINESTRING(0 0, 1 1)', 4326), POINT(1.5, -2))
            """;
        var nulls = "(2" + string.Concat(Enumerable.Repeat(", NULL", 35)) + ")";
        const string Usual = """
            (3, 1, 2, 3, 4, 5, 6, 7, 8, 0.5, 12.34, -2.5, 1e300, b'0', b'0', 2024, '2024-02-29', '12:34:56', '-12:34:56.5', '2024-01-02 03:04:05',
             '2024-01-02 03:04:05.678', '2024-01-02 03:04:05.678901', 'abc', 'text', 'x', 'long text', 'latin', x'0102030405', x'0a0b', x'',
             x'00', 'y', '', '[]', POINT(0, 0), POINT(3, 4))
            """;
        await using var cdc = await MySqlCdc.CreateAsync(server, $"SET SESSION sql_mode = '', time_zone = '+00:00'; CREATE TABLE every ({EveryType}); INSERT INTO every VALUES {Edge}, {nulls}, {Usual}");
        await cdc.StartAsync(o => o.Snapshot.ChunkSize = 2);

        // The binlog's rows of the same data: the before images of their deletes.
        await cdc.ExecuteAsync("DELETE FROM every");
        // Decoded without logical types: a zero date is a number of days that no DateTime holds.
        var records = await ReadAllAsync(cdc, cdc.Topic("every"), 1, adjust: WithoutLogicalTypes);
        for (var id = 1; id <= 3; id++)
        {
            var read = records.Single(r => r.Record.Op == "r" && (int)r.Record.After!["id"] == id);
            var deleted = records.Single(r => r.Record.Op == "d" && (int)r.Record.Before!["id"] == id);
            Assert.Equal(deleted.Message.Key, read.Message.Key);
            Assert.Equal(deleted.Message.Value.AsSpan(0, ConfluentWireFormat.HeaderLength).ToArray(), read.Message.Value.AsSpan(0, ConfluentWireFormat.HeaderLength).ToArray());
            var snapshot = Encode(read.Record.After!);
            var binlog = Encode(deleted.Record.Before!);
            var differ = read.Record.After!.Schema.Fields.Where(f => !Equals(Encode(read.Record.After!, f.Name), Encode(deleted.Record.Before!, f.Name))).Select(f => f.Name).ToList();
            Assert.True(snapshot.SequenceEqual(binlog), $"row {id}: the snapshot's and the binlog's bytes differ in {string.Join(", ", differ)}");
        }
    }

    [Fact]
    public async Task The_snapshots_describe_a_table_exactly_as_the_binlogs_schema_tracker_does_from_its_DDL()
    {
        var create = $"CREATE TABLE every ({EveryType}, UNIQUE KEY u (i, vc))";
        await using var cdc = await MySqlCdc.CreateAsync(server, create);
        var options = new DataMesh.Connectors.MySql.MySqlSourceOptions { ConnectionString = new MySqlConnectionStringBuilder(server.ConnectionString) { Database = cdc.Database }.ConnectionString };
        await using var dialect = new DataMesh.Connectors.MySql.MySqlSnapshotDialect("shapes", options);
        var described = await dialect.DescribeTableAsync(cdc.Database, "every", CancellationToken.None);

        var tracker = new DataMesh.Connectors.MySql.Schema.SchemaTracker();
        tracker.SetDatabaseCharset(cdc.Database, "utf8mb4");
        var tracked = Assert.Single(tracker.Apply(DataMesh.Connectors.MySql.Schema.DdlParser.Parse(create), cdc.Database)).Table!;
        var logged = DataMesh.Connectors.MySql.MySqlBinlogConnector.TableInfo(tracked);
        Assert.NotNull(described);
        Assert.Equal(logged.Table.Columns, described.Table.Columns);
        Assert.Equal(logged.Table.KeyColumns, described.Table.KeyColumns);
        Assert.True(DataMesh.Sources.SourceTable.SameShape(logged, described));
    }

    [Fact]
    public async Task A_table_without_a_primary_key_is_refused_unless_a_unique_key_is_named_for_it_then_it_is_read()
    {
        const string Setup = "CREATE TABLE nokey (a INT NOT NULL, b VARCHAR(10), UNIQUE KEY ua (a)); INSERT INTO nokey SELECT seq, CONCAT('b', seq) FROM seq_1_to_25";
        await using (var refused = await MySqlCdc.CreateAsync(server, Setup))
        {
            await refused.StartAsync(o => o.Snapshot.ChunkSize = 4);
            Assert.Single(refused.Logs.Find(LogLevel.Error, "nokey", "Snapshot:KeyColumns"));
            Assert.Empty(await ReadAllAsync(refused, refused.Topic("nokey"), 1, first: TimeSpan.FromSeconds(2)));
        }

        await using var cdc = await MySqlCdc.CreateAsync(server, Setup);
        await cdc.StartAsync(o =>
        {
            o.Snapshot.ChunkSize = 4;
            o.Snapshot.KeyColumns[cdc.Database + ".nokey"] = ["a"];
        });
        var records = await ReadAllAsync(cdc, cdc.Topic("nokey"), 1);
        Assert.Equal(Enumerable.Range(1, 25), records.Select(r => (int)r.Record.After!["a"]).Order());
        Assert.All(records, r => Assert.Equal("r", r.Record.Op));
    }

    [Fact]
    public async Task A_signal_row_in_the_signal_table_snapshots_the_rows_its_condition_selects()
    {
        await using var cdc = await MySqlCdc.CreateAsync(server, "CREATE TABLE t (id INT PRIMARY KEY, v VARCHAR(10)); INSERT INTO t SELECT seq, CONCAT('v', seq) FROM seq_1_to_30");
        var signals = "signals_" + Guid.NewGuid().ToString("N")[..8];
        await cdc.StartAsync(o =>
        {
            o.Snapshot.Initial = InitialSnapshot.None;
            o.Snapshot.ChunkSize = 4;
            o.Snapshot.WatermarkTable = cdc.Database + ".datamesh_watermarks";
            o.Snapshot.SignalTable = signals;
        });

        // Debezium's execute-snapshot, in the source database (the watermark table's, the signal table named without one).
        await cdc.ExecuteAsync(
            $"INSERT INTO {signals} (id, type, data) VALUES ('s1', 'execute-snapshot', " +
            $"'{{\"data-collections\": [\"{cdc.Database}.t\"], \"additional-conditions\": [{{\"data-collection\": \"{cdc.Database}.t\", \"filter\": \"id > 20\"}}]}}')");
        var records = await ReadAllAsync(cdc, cdc.Topic("t"), 1);
        Assert.Equal(Enumerable.Range(21, 10), records.Select(r => (int)r.Record.After!["id"]).Order());
        Assert.All(records, r => Assert.Equal("r", r.Record.Op));
        Assert.Empty(await ReadAllAsync(cdc, cdc.Topic(signals), 1, first: TimeSpan.FromSeconds(1)));
        Assert.Empty(await ReadAllAsync(cdc, cdc.Topic("datamesh_watermarks"), 1, first: TimeSpan.FromSeconds(1)));
    }

    private async Task SnapshotUnderWriterAsync(bool composite)
    {
        var setup = composite
            ? "CREATE TABLE t (tenant VARCHAR(20) COLLATE utf8mb4_general_ci NOT NULL, id INT UNSIGNED NOT NULL, v BIGINT NOT NULL, note TEXT, PRIMARY KEY (tenant, id)); " +
              $"INSERT INTO t SELECT ELT(1 + seq % {Tenants.Length}, {string.Join(", ", Tenants.Select(t => $"'{t}'"))}), seq, seq, CONCAT('n', seq) FROM seq_1_to_20000"
            : "CREATE TABLE t (id INT PRIMARY KEY, v BIGINT NOT NULL, note TEXT); INSERT INTO t SELECT seq, seq, CONCAT('n', seq) FROM seq_1_to_20000";
        await using var cdc = await MySqlCdc.CreateAsync(server, setup);
        await cdc.StartAsync(
            o =>
            {
                o.TopicPartitions = Partitions;
                o.Snapshot.ChunkSize = 500;
            },
            waitForSnapshot: false);

        // A writer changes random rows (updates, deletes, inserts, key changes) all through the snapshot, with lock waits of 1 s.
        using var stopWriter = new CancellationTokenSource();
        var writes = Task.Run(() => WriteAsync(cdc, composite, stopWriter.Token));
        await cdc.WaitForSnapshotAsync(TimeSpan.FromMinutes(3));
        await stopWriter.CancelAsync();
        var written = await writes;
        output.WriteLine($"{written} changes written during the snapshot");
        Assert.True(written > 100, $"only {written} changes were written during the snapshot");

        // Every change reaches the topic; rebuilt from it (last value per key, deletes removing) the table is exact.
        var expected = await TableAsync(cdc, composite);
        var records = await ReadAllAsync(cdc, cdc.Topic("t"), Partitions);
        var reads = TopicState.AssertRebuilds(records.Select(r => r.Record).ToList(), expected,
            key => (composite ? key["tenant"] + "|" : string.Empty) + Convert.ToString(key["id"], CultureInfo.InvariantCulture));
        Assert.True(reads > 15000, $"{reads} snapshot rows; log:\n{string.Join("\n", cdc.Logs.Entries.Where(e => e.Id.Id >= 7000).Select(e => $"{e.Level} {e.Id.Id} {e.Message}"))}");
    }

    private static async Task<int> WriteAsync(MySqlCdc cdc, bool composite, CancellationToken cancellationToken)
    {
        var random = new Random(11);
        await using var connection = await cdc.OpenConnectionAsync();
        await using (var timeout = new MySqlCommand("SET SESSION innodb_lock_wait_timeout = 1, SESSION lock_wait_timeout = 1", connection))
        {
            await timeout.ExecuteNonQueryAsync(CancellationToken.None);
        }

        var count = 0;
        var next = 100_000;
        while (!cancellationToken.IsCancellationRequested)
        {
            var id = random.Next(1, 20001);
            var row = composite ? $"tenant = '{Tenants[id % Tenants.Length]}' AND id = {id}" : $"id = {id}";
            var tenant = Tenants[random.Next(Tenants.Length)];
            var sql = random.Next(10) switch
            {
                < 5 => $"UPDATE t SET v = v + 1, note = 'u{count}' WHERE {row}",
                < 7 => $"DELETE FROM t WHERE {row}",
                < 9 => composite
                    ? $"INSERT INTO t (tenant, id, v, note) VALUES ('{tenant}', {next++}, {count}, 'i{count}')"
                    : $"INSERT INTO t (id, v, note) VALUES ({next++}, {count}, 'i{count}')",
                _ => composite ? $"UPDATE t SET tenant = '{tenant}', id = {next++} WHERE {row}" : $"UPDATE t SET id = {next++} WHERE {row}",
            };
            await using var command = new MySqlCommand(sql, connection);
            await command.ExecuteNonQueryAsync(CancellationToken.None); // a lock wait timeout would throw: the snapshot takes no lock
            count++;
        }

        return count;
    }

    private static async Task<Dictionary<string, (long, string?)>> TableAsync(MySqlCdc cdc, bool composite)
    {
        var rows = new Dictionary<string, (long, string?)>();
        await using var connection = await cdc.OpenConnectionAsync();
        await using var command = new MySqlCommand(composite ? "SELECT CONCAT(tenant, '|', id), v, note FROM t" : "SELECT CAST(id AS CHAR), v, note FROM t", connection);
        await using var reader = await command.ExecuteReaderAsync();
        while (await reader.ReadAsync())
        {
            rows[reader.GetString(0)] = (reader.GetInt64(1), reader.IsDBNull(2) ? null : reader.GetString(2));
        }

        return rows;
    }

    private static async Task<T> ScalarAsync<T>(MySqlCdc cdc, string sql)
    {
        await using var connection = await cdc.OpenConnectionAsync();
        await using var command = new MySqlCommand(sql, connection);
        return (T)Convert.ChangeType((await command.ExecuteScalarAsync())!, typeof(T), CultureInfo.InvariantCulture);
    }

    /// <summary>A row record's Avro bytes (or one field's), written by Apache.Avro from the decoded record.</summary>
    private static string Encode(GenericRecord record, string? field = null)
    {
        using var stream = new MemoryStream();
        var encoder = new BinaryEncoder(stream);
        if (field is null)
        {
            new GenericDatumWriter<GenericRecord>(record.Schema).Write(record, encoder);
        }
        else
        {
            new GenericDatumWriter<object?>(record.Schema[field].Schema).Write(record[field], encoder);
        }

        return Convert.ToHexString(stream.ToArray());
    }

    /// <summary>A schema with its logical types left out (their underlying types stay).</summary>
    private static global::Avro.Schema WithoutLogicalTypes(global::Avro.Schema schema)
    {
        static void Strip(System.Text.Json.Nodes.JsonNode? node)
        {
            switch (node)
            {
                case System.Text.Json.Nodes.JsonObject o:
                    o.Remove("logicalType");
                    foreach (var (_, child) in o.ToList())
                    {
                        Strip(child);
                    }

                    break;
                case System.Text.Json.Nodes.JsonArray a:
                    foreach (var child in a)
                    {
                        Strip(child);
                    }

                    break;
            }
        }

        var json = System.Text.Json.Nodes.JsonNode.Parse(schema.ToString());
        Strip(json);
        return global::Avro.Schema.Parse(json!.ToJsonString());
    }

    private static Task<List<(CdcRecord Record, Message<byte[]?, byte[]?> Message)>> ReadAllAsync(MySqlCdc cdc, string topic, int partitions, TimeSpan? quiet = null, Func<global::Avro.Schema, global::Avro.Schema>? adjust = null, TimeSpan? first = null) =>
        TopicState.ReadAsync(cdc.Kafka, cdc.Store, topic, partitions, quiet, adjust, first);
}
