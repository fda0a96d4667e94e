using System.Numerics;
using DataMesh.Events;
using DataMesh.IntegrationTests.Infrastructure;
using DataMesh.Schemas;
using Xunit;

namespace DataMesh.IntegrationTests.MySql;

/// <summary>The MySQL/MariaDB connector end to end: real MariaDB 10.11 binlog to the embedded Kafka cluster, records
/// decoded independently with Apache.Avro.</summary>
public sealed class MySqlConnectorTests(MariaDbServer server) : IClassFixture<MariaDbServer>
{
    [Fact]
    public async Task Inserts_updates_and_deletes_arrive_in_commit_order_with_transaction_metadata()
    {
        await using var cdc = await MySqlCdc.CreateAsync(server, "CREATE TABLE orders (id INT PRIMARY KEY, item VARCHAR(50) NOT NULL, price DECIMAL(10,2), at DATETIME(6))");
        await cdc.StartAsync();
        await cdc.WaitForSavedPositionAsync();

        await cdc.ExecuteAsync("INSERT INTO orders VALUES (1, 'pen', 1.50, '2024-05-01 10:00:00.123456')");
        await cdc.ExecuteAsync("START TRANSACTION; INSERT INTO orders VALUES (2, 'ink ✒', NULL, NULL); UPDATE orders SET price = 2.75 WHERE id = 1; COMMIT");
        await cdc.ExecuteAsync("DELETE FROM orders WHERE id = 2");

        var records = await cdc.ReadAsync(cdc.Topic("orders"), 5);
        Assert.Equal(["c", "c", "u", "d", null], records.Select(r => r.Op));
        Assert.Equal("pen", records[0].After!["item"]);
        Assert.Equal(new DateTime(2024, 5, 1, 10, 0, 0).AddTicks(1_234_560), records[0].After!["at"]);
        Assert.Equal("ink ✒", records[1].After!["item"]);
        Assert.Null(records[1].After!["price"]);
        Assert.Equal(1.50m, ((global::Avro.AvroDecimal)records[2].Before!["price"]).ToType<decimal>());
        Assert.Equal(2.75m, ((global::Avro.AvroDecimal)records[2].After!["price"]).ToType<decimal>());
        Assert.Equal(2, records[3].Before!["id"]);
        Assert.Null(records[4].Value);
        Assert.Equal(2, records[4].Key!["id"]);

        // Both changes of the transaction carry its GTID and sequence; a later transaction has a higher sequence (not
        // always the next: the sequence is the server's, and other tests' sessions commit on the same server meanwhile).
        var txIds = records.Take(4).Select(r => (long?)r.Source["txId"]).ToList();
        Assert.Equal(txIds[1], txIds[2]);
        Assert.True(txIds[0] < txIds[1] && txIds[1] < txIds[3], $"transaction sequences {string.Join(", ", txIds)}");
        Assert.Equal(records[1].Source["gtid"], records[2].Source["gtid"]);
        Assert.Equal(cdc.Database, records[0].Source["db"]);
        Assert.Equal("mysql", records[0].Source["connector"]);
        Assert.Equal(0, (long)records[1].Source["row"]);
        Assert.True((long)records[0].Source["pos"] > 4);
    }

    [Fact]
    public async Task Tables_the_source_does_not_capture_with_types_it_does_not_map_stop_it_neither_at_start_nor_while_it_runs()
    {
        // MariaDB's INET4, INET6 and UUID columns had no mapping then (they have now; MariaDB 10.11 has no other type the
        // connector does not map, so these tables stand in for MySQL's VECTOR). In a table the source does not capture
        // they must not matter: before, one such table anywhere on the server stopped every MySQL source at its first
        // start, and one created while it ran stopped it too (found by a new user's pass).
        await using var other = await server.CreateDatabaseAsync("myother");
        await other.ExecuteAsync("CREATE TABLE atstart (id INT PRIMARY KEY, a INET4, b INET6, u UUID)");

        await using var cdc = await MySqlCdc.CreateAsync(server, "CREATE TABLE orders (id INT PRIMARY KEY, item VARCHAR(50))");
        await cdc.StartAsync();
        await cdc.WaitForSavedPositionAsync();
        await other.ExecuteAsync("CREATE TABLE later (id INT PRIMARY KEY, u UUID, i INET6); INSERT INTO later VALUES (1, UUID(), '::1'); ALTER TABLE atstart ADD COLUMN c INET6; INSERT INTO atstart (id) VALUES (1)");

        await cdc.ExecuteAsync("INSERT INTO orders VALUES (1, 'pen')");
        var records = await cdc.ReadAsync(cdc.Topic("orders"), 1);
        Assert.Equal("pen", records[0].After!["item"]);
    }

    [Fact]
    public async Task Text_is_decoded_in_the_charset_the_server_gives_its_column_where_the_tracked_schema_reads_a_ddl_otherwise()
    {
        // The server applies a table's new default charset before the columns the same ALTER adds; the DDL tracker applies
        // the actions in written order and took the added column for latin1, so '日本😀' arrived as mojibake (found by a new
        // user's pass). The TABLE_MAP's charsets (binlog_row_metadata=FULL) are the server's: text is decoded in them.
        await using var cdc = await MySqlCdc.CreateAsync(server, "CREATE TABLE b (id INT PRIMARY KEY, s VARCHAR(10)) DEFAULT CHARSET latin1");
        await cdc.StartAsync();
        await cdc.WaitForSavedPositionAsync();
        await cdc.ExecuteAsync("ALTER TABLE b ADD COLUMN n VARCHAR(10), DEFAULT CHARSET utf8mb4");
        await cdc.ExecuteAsync("INSERT INTO b VALUES (1, 'é', '日本😀')");

        var records = await cdc.ReadAsync(cdc.Topic("b"), 1);
        Assert.Equal("é", records[0].After!["s"]);
        Assert.Equal("日本😀", records[0].After!["n"]);
    }

    [Fact]
    public async Task Ddl_mid_stream_changes_the_schema_of_the_rows_after_it()
    {
        await using var cdc = await MySqlCdc.CreateAsync(server, "CREATE TABLE items (id BIGINT UNSIGNED PRIMARY KEY, name VARCHAR(20), qty INT)");
        await cdc.StartAsync();
        await cdc.WaitForSavedPositionAsync();

        await cdc.ExecuteAsync("INSERT INTO items VALUES (18446744073709551615, 'a', 1)");
        await cdc.ExecuteAsync("ALTER TABLE items ADD COLUMN note TEXT AFTER name");
        await cdc.ExecuteAsync("INSERT INTO items VALUES (2, 'b', 'hello', 2)");
        await cdc.ExecuteAsync("ALTER TABLE items DROP COLUMN qty");
        await cdc.ExecuteAsync("INSERT INTO items VALUES (3, 'c', NULL)");
        await cdc.ExecuteAsync("ALTER TABLE items RENAME COLUMN name TO title, MODIFY note VARCHAR(10)");
        await cdc.ExecuteAsync("INSERT INTO items VALUES (4, 'd', 'short')");
        await cdc.ExecuteAsync("ALTER TABLE items MODIFY title VARCHAR(30) CHARACTER SET latin1");
        await cdc.ExecuteAsync("INSERT INTO items VALUES (5, 'é€', NULL)");

        var records = await cdc.ReadAsync(cdc.Topic("items"), 5);
        Assert.Equal(new BigInteger(ulong.MaxValue), ((global::Avro.AvroDecimal)records[0].After!["id"]).UnscaledValue);
        Assert.Equal(1, records[0].After!["qty"]);
        Assert.Equal("hello", records[1].After!["note"]);
        Assert.Equal(2, records[1].After!["qty"]);
        Assert.False(records[2].After!.Schema.Contains("qty"));
        Assert.Equal("d", records[3].After!["title"]);
        Assert.Equal("short", records[3].After!["note"]);
        Assert.Equal("é€", records[4].After!["title"]);
    }

    [Fact]
    public async Task A_first_start_after_an_event_larger_than_max_allowed_packet_stores_the_GTID_state_with_its_position()
    {
        // MariaDB's BINLOG_GTID_POS reads the binlog file with the session's max_allowed_packet: after a rows event larger
        // than that it answers NULL for every later position of the file. The first start then stored its position without
        // a GTID state, and the positions stored after it had only the domains seen since: a restart from one asks the
        // server for every other domain from its beginning (a replay, or a failure as purged).
        await using var cdc = await MySqlCdc.CreateAsync(server, "CREATE TABLE big (id INT PRIMARY KEY, a LONGBLOB, b LONGBLOB)");
        ulong bigSequence;
        await using (var connection = await cdc.OpenConnectionAsync())
        {
            var half = (Convert.ToInt64(await MariaDbServer.ScalarAsync<object>(connection, "SELECT @@max_allowed_packet"), System.Globalization.CultureInfo.InvariantCulture) / 2) + 4096;
            await using (var insert = new MySqlConnector.MySqlCommand($"INSERT INTO big VALUES (1, REPEAT('a', {half}), REPEAT('b', {half}))", connection))
            {
                await insert.ExecuteNonQueryAsync();
            }

            bigSequence = DataMesh.Connectors.MySql.Binlog.MariaDbGtid.Parse(await MariaDbServer.ScalarAsync<string>(connection, "SELECT @@last_gtid")).Sequence;
        }

        var (file, position) = await server.GetBinlogPositionAsync();
        Assert.True(
            await server.ScalarAsync<object>($"SELECT BINLOG_GTID_POS('{file}', {position})") is DBNull,
            "BINLOG_GTID_POS answers after the large event: the test no longer shows what it is about");

        await cdc.StartAsync(o => o.Snapshot.Initial = InitialSnapshot.None);
        var stored = DataMesh.Connectors.MySql.MySqlPosition.FromJson(await cdc.WaitForSavedPositionAsync());
        var now = DataMesh.Connectors.MySql.Binlog.MariaDbGtidPosition.Parse(await server.ScalarAsync<string>("SELECT @@gtid_binlog_pos")).Gtids.Single(g => g.Domain == 0).Sequence;
        var domain0 = DataMesh.Connectors.MySql.Binlog.MariaDbGtidPosition.Parse(stored.Gtid).Gtids.Where(g => g.Domain == 0).Select(g => (ulong?)g.Sequence).SingleOrDefault();
        Assert.True(domain0 >= bigSequence && domain0 <= now, $"the first start stored {stored}; the large insert was 0-{bigSequence}, the server is at 0-{now}");
    }

    [Fact]
    public async Task A_restart_resumes_from_the_saved_position_with_every_change_accounted_for()
    {
        await using var cdc = await MySqlCdc.CreateAsync(server, "CREATE TABLE counter (id INT PRIMARY KEY, v INT NOT NULL)");
        await cdc.StartAsync();
        await cdc.WaitForSavedPositionAsync();
        var random = new Random(4);
        var expected = new List<int>();
        var next = 0;
        for (var round = 0; round < 3; round++)
        {
            for (var i = random.Next(1, 20); i > 0; i--)
            {
                await cdc.ExecuteAsync($"INSERT INTO counter (id, v) VALUES ({next}, {next})");
                expected.Add(next++);
            }

            await cdc.StopAsync();
            for (var i = random.Next(1, 20); i > 0; i--)
            {
                await cdc.ExecuteAsync($"INSERT INTO counter (id, v) VALUES ({next}, {next})");
                expected.Add(next++);
            }

            if (round == 1)
            {
                await cdc.ExecuteAsync("ALTER TABLE counter ADD COLUMN extra VARCHAR(5) DEFAULT 'x'");
            }

            await cdc.StartAsync();
        }

        // At least once: a restart may repeat a record, so read until every id arrived, not a fixed count.
        var records = await cdc.ReadAsync(cdc.Topic("counter"), expected.Count, TimeSpan.FromSeconds(60));
        while (records.Select(r => (int)r.After!["id"]).Distinct().Count() is var distinct && distinct < expected.Count)
        {
            records = await cdc.ReadAsync(cdc.Topic("counter"), records.Count + (expected.Count - distinct), TimeSpan.FromSeconds(60));
        }

        var seen = records.Select(r => (int)r.After!["id"]).ToList();
        Assert.Equal(expected, seen.Distinct().Order().ToList());
        // At-least-once: a replay may repeat, never skip or reorder what follows.
        for (var i = 1; i < seen.Count; i++)
        {
            Assert.True(seen[i] > seen[i - 1] || seen.Take(i).Contains(seen[i]), $"record {i} ({seen[i]}) comes after {seen[i - 1]}");
        }
    }

    [Fact]
    public async Task A_not_null_column_added_with_a_constant_or_implicit_default_is_a_compatible_change_whose_old_records_read_as_the_servers_rows()
    {
        // Found by review: ADD COLUMN ... NOT NULL [DEFAULT ...], the most common migration, stopped the source under the
        // default IncompatibleSchemaChange = Fail, as its field had no Avro default for the records before it.
        await using var cdc = await MySqlCdc.CreateAsync(server, "CREATE TABLE t (id INT PRIMARY KEY, touched INT NOT NULL DEFAULT 0)");
        await cdc.StartAsync();
        await cdc.ExecuteAsync("INSERT INTO t (id) VALUES (1)");
        await cdc.ReadAsync(cdc.Topic("t"), 1);
        string[] added = ["i", "u", "s", "ch", "n", "f", "fl", "b", "bo", "y", "d", "tm", "dt", "bi", "vb", "e", "st", "j", "ii", "ss", "ee", "nn", "bb", "tt"];
        await cdc.ExecuteAsync("""
            ALTER TABLE t ADD COLUMN i INT NOT NULL DEFAULT -7, ADD COLUMN u BIGINT UNSIGNED NOT NULL DEFAULT 18446744073709551615,
                ADD COLUMN s VARCHAR(20) NOT NULL DEFAULT 'a ''b'', {c}', ADD COLUMN ch CHAR(4) NOT NULL DEFAULT 'x  ',
                ADD COLUMN n DECIMAL(10,2) NOT NULL DEFAULT 1.5, ADD COLUMN f DOUBLE NOT NULL DEFAULT 0.25,
                ADD COLUMN fl FLOAT NOT NULL DEFAULT 0.1, ADD COLUMN b BIT(3) NOT NULL DEFAULT b'101',
                ADD COLUMN bo BOOLEAN NOT NULL DEFAULT TRUE, ADD COLUMN y YEAR NOT NULL DEFAULT 2024,
                ADD COLUMN d DATE NOT NULL DEFAULT '2020-02-29', ADD COLUMN tm TIME(3) NOT NULL DEFAULT '-12:34:56.5',
                ADD COLUMN dt DATETIME NOT NULL DEFAULT '2020-01-02 03:04:05', ADD COLUMN bi BINARY(4) NOT NULL DEFAULT x'00AB',
                ADD COLUMN vb VARBINARY(8) NOT NULL DEFAULT 'ab', ADD COLUMN e ENUM('p','q') NOT NULL DEFAULT 'Q',
                ADD COLUMN st SET('x','y','z') NOT NULL DEFAULT 'z,x', ADD COLUMN j JSON NOT NULL DEFAULT '{"a": 1}',
                ADD COLUMN ii INT NOT NULL, ADD COLUMN ss VARCHAR(5) NOT NULL, ADD COLUMN ee ENUM('first','second') NOT NULL,
                ADD COLUMN nn DECIMAL(5,1) NOT NULL, ADD COLUMN bb BINARY(2) NOT NULL, ADD COLUMN tt TIME NOT NULL
            """);
        // The old row as the server now holds it: the value it gave every row from before the columns.
        await cdc.ExecuteAsync("UPDATE t SET touched = 1 WHERE id = 1");
        var records = await cdc.ReadAsync(cdc.Topic("t"), 2);

        var subject = TopicNames.ValueSubject(cdc.Topic("t"));
        var versions = await cdc.Store.GetVersionsAsync(subject);
        Assert.Equal(2, versions.Count);
        Assert.Equal(CompatibilityLevel.Backward, await cdc.Store.GetCompatibilityAsync(subject));

        // The first record, read as a consumer on the new schema reads it (Avro schema resolution).
        var row = (global::Avro.Generic.GenericRecord)CdcRecord.Resolve(records[0].Value!, versions[0].Schema, versions[1].Schema)["after"];
        var stored = records[1].After!;
        foreach (var column in added)
        {
            Assert.True(CdcRecord.Canonical(stored[column]) == CdcRecord.Canonical(row[column]), $"column {column}: the server's rows hold {CdcRecord.Canonical(stored[column])}, the default is {CdcRecord.Canonical(row[column])}");
        }

        Assert.Equal("a 'b', {c}", row["s"]);
        Assert.Equal(new byte[] { 0, 0xAB, 0, 0 }, row["bi"]);
        Assert.Equal("first", row["ee"]);

        // A later MODIFY restates the column with another DEFAULT: the old rows keep theirs, and so does the schema. A
        // restart replays the schema history and describes the table the same way: no new version either way.
        await cdc.ExecuteAsync("ALTER TABLE t MODIFY COLUMN i INT NOT NULL DEFAULT 5");
        await cdc.StopAsync();
        await cdc.StartAsync();
        await cdc.ExecuteAsync("INSERT INTO t (id, ii, ss, ee, nn, bb, tt) VALUES (2, 0, '', 'first', 0, '', '00:00:00')");
        var after = await cdc.ReadAsync(cdc.Topic("t"), 3);
        Assert.Equal(5, after[2].After!["i"]);
        Assert.Equal(2, (await cdc.Store.GetVersionsAsync(subject)).Count);

        // A snapshot describes the table from information_schema, which shows no such default: its rows take the log's
        // description of the same shape, so no version without the defaults is registered (found by review).
        cdc.Snapshots.Request([$"{cdc.Database}.t"]);
        var snapshot = await cdc.ReadAsync(cdc.Topic("t"), 5);
        Assert.Equal(["r", "r"], snapshot.Skip(3).Select(r => r.Op));
        Assert.Equal(2, (await cdc.Store.GetVersionsAsync(subject)).Count);
    }


    [Fact]
    public async Task A_default_that_is_not_carried_is_named_in_a_warning_and_the_change_follows_the_policy()
    {
        await using var cdc = await MySqlCdc.CreateAsync(server, "CREATE TABLE t (id INT PRIMARY KEY)");
        await cdc.StartAsync(o => o.IncompatibleSchemaChange = IncompatibleSchemaChangePolicy.NewVersionWithNone);
        await cdc.ExecuteAsync("INSERT INTO t VALUES (1)");
        await cdc.ExecuteAsync("ALTER TABLE t ADD COLUMN at TIMESTAMP NOT NULL DEFAULT '2020-01-01 00:00:00'; INSERT INTO t (id) VALUES (2)");
        await cdc.ReadAsync(cdc.Topic("t"), 2);

        Assert.Equal(CompatibilityLevel.None, await cdc.Store.GetCompatibilityAsync(TopicNames.ValueSubject(cdc.Topic("t"))));
        var warning = Assert.Single(cdc.Logs.Entries, e => e.Id.Id == 2016).Message;
        Assert.Contains("column 'at' of `" + cdc.Database + "`.`t` (String 2020-01-01 00:00:00)", warning, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_graceful_stop_stores_the_position_after_the_last_acknowledged_transaction()
    {
        await using var cdc = await MySqlCdc.CreateAsync(server, "CREATE TABLE t (id INT PRIMARY KEY)");
        // No periodic saves and no heartbeats while the test runs: only the first start's position and what the stop
        // stores can be in the offsets topic.
        void Quiet(DataMesh.Connectors.MySql.MySqlSourceOptions o)
        {
            o.PositionSaveInterval = TimeSpan.FromHours(1);
            o.HeartbeatInterval = TimeSpan.FromMinutes(10);
        }

        await cdc.StartAsync(Quiet);
        await cdc.WaitForSavedPositionAsync();
        const int count = 20;
        for (var i = 0; i < count; i++)
        {
            await cdc.ExecuteAsync($"INSERT INTO t VALUES ({i})");
        }

        var (file, position) = await server.GetBinlogPositionAsync();
        await cdc.ReadAsync(cdc.Topic("t"), count);
        await cdc.StopAsync();

        var stored = DataMesh.Connectors.MySql.MySqlPosition.FromJson(await cdc.WaitForSavedPositionAsync());
        Assert.True(stored.IsAtOrAfter(file, position), $"stored {stored}, the last transaction ends at {file}:{position}");

        // A restart delivers what comes next and repeats nothing that was acknowledged before the stop.
        await cdc.StartAsync(Quiet);
        await cdc.ExecuteAsync($"INSERT INTO t VALUES ({count})");
        var records = await cdc.ReadAsync(cdc.Topic("t"), count + 1);
        Assert.Equal(Enumerable.Range(0, count + 1), records.Select(r => (int)r.After!["id"]));
    }
}
