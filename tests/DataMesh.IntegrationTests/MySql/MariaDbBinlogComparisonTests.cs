using System.Diagnostics;
using DataMesh.Connectors.MySql.Binlog;
using DataMesh.Connectors.MySql.Protocol;
using DataMesh.Connectors.MySql.Schema;
using DataMesh.IntegrationTests.Infrastructure;
using Xunit;

namespace DataMesh.IntegrationTests.MySql;

/// <summary>
/// Live: a workload touching every column type on the real MariaDB, streamed by our replication client, compared
/// value by value with what the server's own decoder prints for the same binlog
/// (<c>mariadb-binlog --read-from-remote-server --verbose --base64-output=DECODE-ROWS</c>).
/// </summary>
/// <remarks>Alone (<see cref="ServerRestartCollection"/>): one test turns the server's global <c>log_bin_compress</c> on.</remarks>
[Collection(ServerRestartCollection.Name)]
public sealed class MariaDbBinlogComparisonTests(MariaDbServer server) : IClassFixture<MariaDbServer>
{
    [Fact]
    public async Task Rows_streamed_from_the_server_equal_what_mariadb_binlog_prints()
    {
        await using var database = await server.CreateDatabaseAsync("cmp");
        var (file, start) = await server.GetBinlogPositionAsync();
        await RunWorkloadAsync(database);

        var (_, end) = await server.GetBinlogPositionAsync();
        await AssertSameAsMariaDbBinlogAsync(file, start, end, database.Name);
    }

    [Fact]
    public async Task Compressed_events_are_read_and_their_rows_equal_what_mariadb_binlog_prints()
    {
        // log_bin_compress=ON makes the server write QUERY_COMPRESSED and *_ROWS_COMPRESSED_V1 events (zlib) for every
        // statement or rows event of at least log_bin_compress_min_len bytes; a source used to stop at the first one
        // ("compressed binlog events are not supported"). It is a global setting, so the class runs alone.
        await using var database = await server.CreateDatabaseAsync("cmpz");
        var (file, start) = await server.GetBinlogPositionAsync();
        await server.ExecuteAsync("SET GLOBAL log_bin_compress = ON; SET GLOBAL log_bin_compress_min_len = 10");
        try
        {
            await RunWorkloadAsync(database);
        }
        finally
        {
            await server.ExecuteAsync("SET GLOBAL log_bin_compress = OFF; SET GLOBAL log_bin_compress_min_len = 256");
        }

        var (_, end) = await server.GetBinlogPositionAsync();
        var types = await AssertSameAsMariaDbBinlogAsync(file, start, end, database.Name);
        Assert.Contains(BinlogEventType.QueryCompressed, types);
        Assert.Contains(BinlogEventType.WriteRowsCompressedV1, types);
        Assert.Contains(BinlogEventType.UpdateRowsCompressedV1, types);
        Assert.Contains(BinlogEventType.DeleteRowsCompressedV1, types);
    }

    /// <summary>Streams the range with our client and compares the test database's rows with mariadb-binlog's; returns the
    /// types of the events streamed (as the server wrote them).</summary>
    private async Task<HashSet<BinlogEventType>> AssertSameAsMariaDbBinlogAsync(string file, long start, long end, string database)
    {
        var types = new HashSet<BinlogEventType>();
        var ours = await StreamAsync(file, start, end, database, types: types);
        var printed = await MariaDbBinlogAsync(file, start, end);

        var theirs = MariaDbBinlogTextParser.Parse(printed).Where(r => r.Table.StartsWith($"`{database}`", StringComparison.Ordinal)).ToList();
        ours = ours.Where(r => r.Database == database).ToList();
        Assert.Equal(theirs.Count, ours.Count);
        Assert.True(ours.Count > 60);
        for (var i = 0; i < ours.Count; i++)
        {
            MariaDbBinlogTextParser.AssertSame(ours[i], theirs[i], i);
        }

        return types;
    }

    /// <summary>A table of every column type; 60 random rows, an update of a third of them, a delete of a fifth.</summary>
    private static async Task RunWorkloadAsync(TemporaryMariaDbDatabase database)
    {
        await using (var connection = await database.OpenConnectionAsync())
        {
            var random = new Random(11);
            var statements = new List<string>
            {
                "SET SESSION sql_mode = ''",
                "CREATE TABLE t (id INT PRIMARY KEY, ti TINYINT, tu TINYINT UNSIGNED, si SMALLINT, mi MEDIUMINT UNSIGNED, i INT, iu INT UNSIGNED, bi BIGINT, bu BIGINT UNSIGNED, "
                + "d DECIMAL(20,6), dd DECIMAL(65,30), f FLOAT, g DOUBLE, b BIT(10), y YEAR, dt DATE, tm TIME(4), dtm DATETIME(6), ts TIMESTAMP(3) NULL, "
                + "c CHAR(5), v VARCHAR(400), l VARCHAR(30) CHARACTER SET latin1, tx MEDIUMTEXT, bn BINARY(3), vb VARBINARY(20), bl BLOB, e ENUM('x','y','z'), s SET('p','q','r'), j JSON, geo POINT)",
            };
            for (var id = 0; id < 60; id++)
            {
                string Maybe(string value) => random.Next(6) == 0 ? "NULL" : value;
                var n = random.NextInt64(long.MinValue, long.MaxValue);
                statements.Add($"INSERT INTO t VALUES ({id}, {Maybe(random.Next(-128, 128).ToString())}, {Maybe(random.Next(0, 256).ToString())}, {Maybe(random.Next(-32768, 32768).ToString())}, "
                    + $"{Maybe(random.Next(0, 16777216).ToString())}, {Maybe(random.Next().ToString())}, {Maybe(((uint)random.NextInt64(0, uint.MaxValue)).ToString())}, {Maybe(n.ToString())}, "
                    + $"{Maybe(((ulong)n).ToString())}, {Maybe((random.NextDouble() * 1e8 - 5e7).ToString("F6", System.Globalization.CultureInfo.InvariantCulture))}, "
                    + $"{Maybe("-" + random.NextInt64(0, long.MaxValue) + "." + random.NextInt64(0, long.MaxValue))}, {Maybe((random.NextDouble() * 1000).ToString("R", System.Globalization.CultureInfo.InvariantCulture))}, "
                    + $"{Maybe((random.NextDouble() * -1e300).ToString("R", System.Globalization.CultureInfo.InvariantCulture))}, {Maybe("b'" + Convert.ToString(random.Next(1024), 2) + "'")}, "
                    + $"{Maybe((1901 + random.Next(254)).ToString())}, {Maybe($"'{random.Next(1000, 9999)}-{random.Next(1, 13):00}-{random.Next(1, 29):00}'")}, "
                    + $"{Maybe($"'{(random.Next(2) == 0 ? "-" : "")}{random.Next(0, 838)}:{random.Next(60):00}:{random.Next(60):00}.{random.Next(10000):0000}'")}, "
                    + $"{Maybe($"'{random.Next(1000, 9999)}-{random.Next(1, 13):00}-{random.Next(1, 29):00} {random.Next(24):00}:{random.Next(60):00}:{random.Next(60):00}.{random.Next(1000000):000000}'")}, "
                    + $"{Maybe($"FROM_UNIXTIME({random.Next(1, int.MaxValue)}.{random.Next(1000):000})")}, {Maybe("'ab'")}, {Maybe($"REPEAT('€ü😀', {random.Next(0, 100)})")}, {Maybe("'Ærø'")}, "
                    + $"{Maybe($"REPEAT('ĉ', {random.Next(0, 3000)})")}, {Maybe("0x00FF10")}, {Maybe($"RANDOM_BYTES({random.Next(1, 20)})")}, {Maybe($"RANDOM_BYTES({random.Next(1, 200)})")}, "
                    + $"{Maybe($"'{"xyz"[random.Next(3)]}'")}, {Maybe("'p,r'")}, {Maybe($"'{{\"k\": {random.Next()}, \"s\": \"ü\"}}'")}, {Maybe($"POINT({random.Next(100)}, {random.Next(100)})")})");
            }

            statements.Add("UPDATE t SET v = 'updated', iu = 4294967295 WHERE id % 3 = 0");
            statements.Add("DELETE FROM t WHERE id % 5 = 0");
            foreach (var sql in statements)
            {
                await using var command = new MySqlConnector.MySqlCommand(sql, connection);
                await command.ExecuteNonQueryAsync();
            }
        }
    }

    [Fact]
    public async Task A_create_table_as_select_is_one_transaction_whose_rows_carry_its_gtid_and_that_commits_only_after_them()
    {
        // MariaDB logs CREATE TABLE ... SELECT as one event group (GTID without FL_STANDALONE, the CREATE, the rows, then
        // XID). Committing at the CREATE stored a position inside the group with the group's GTID as done: a restart
        // while its rows were being produced skipped the rest of them (9,090 of 20,000 rows arrived in a new user's test).
        await using var database = await server.CreateDatabaseAsync("ctas");
        var (file, start) = await server.GetBinlogPositionAsync();
        await database.ExecuteAsync("CREATE TABLE s (PRIMARY KEY (id)) AS SELECT seq AS id FROM seq_1_to_3000");

        var (_, end) = await server.GetBinlogPositionAsync();
        var collector = new Collector();
        await StreamAsync(file, start, end, database.Name, collector);

        var ours = collector.Events.SkipWhile(e => !e.StartsWith("row", StringComparison.Ordinal)).ToList();
        Assert.Equal(3000, ours.Count(e => e.StartsWith("row", StringComparison.Ordinal)));
        var gtid = ours[0]["row ".Length..];
        Assert.Matches(@"^\d+-\d+-\d+$", gtid);
        Assert.All(ours.Take(3000), e => Assert.Equal("row " + gtid, e));
        Assert.Equal("commit " + gtid, ours[3000]);
        Assert.DoesNotContain("commit " + gtid, collector.Events.TakeWhile(e => !e.StartsWith("row", StringComparison.Ordinal)));
    }

    [Fact]
    public async Task Enum_and_set_labels_of_a_latin1_column_arrive_as_the_text_they_are()
    {
        // The TABLE_MAP's labels are in the column's charset (its collation follows them in the metadata); they were read
        // as UTF-8, so latin1 'café' arrived as "caf\uFFFD" (found by a new user's pass).
        await using var database = await server.CreateDatabaseAsync("enumcs");
        var (file, start) = await server.GetBinlogPositionAsync();
        await database.ExecuteAsync(
            "SET NAMES utf8mb4; " +
            "CREATE TABLE e (id INT PRIMARY KEY, e ENUM('café','naïve','x') CHARACTER SET latin1, st SET('ü','ö','a') CHARACTER SET latin1, u ENUM('ünï','😀') CHARACTER SET utf8mb4); " +
            "INSERT INTO e VALUES (1, 'café', 'ü,a', '😀'), (2, 'naïve', 'ö', 'ünï')");

        var (_, end) = await server.GetBinlogPositionAsync();
        var rows = (await StreamAsync(file, start, end, database.Name)).Where(r => r.Database == database.Name).ToList();
        Assert.Equal(2, rows.Count);
        Assert.Equal(["café", "ü,a", "😀"], rows[0].After!.Skip(1).Select(v => v?.ToString()));
        Assert.Equal(["naïve", "ö", "ünï"], rows[1].After!.Skip(1).Select(v => v?.ToString()));
    }

    private async Task<List<DataMesh.Connectors.MySql.BinlogRowChange>> StreamAsync(string file, long start, long end, string database, Collector? collector = null, HashSet<BinlogEventType>? types = null)
    {
        var builder = new MySqlConnector.MySqlConnectionStringBuilder(server.ConnectionString);
        var settings = new ReplicationConnectionSettings(builder.Server, (int)builder.Port, builder.UserID, builder.Password) { Tls = TlsMode.None };
        await using var connection = await ReplicationConnection.OpenAsync(settings, CancellationToken.None);
        await connection.QueryAsync("SET @master_binlog_checksum = @@global.binlog_checksum", CancellationToken.None);
        await connection.QueryAsync("SET @mariadb_slave_capability = 4", CancellationToken.None);
        await connection.StartBinlogDumpAsync(file, start, 4_000_003, nonBlocking: true, CancellationToken.None);
        collector ??= new Collector();
        var processor = new BinlogProcessor(new BinlogDecoder(file, 4), new SchemaTracker(), collector, (db, _) => db == database);
        // Only the test's database: other tests write to the same binlog meanwhile (some with types no source maps).
        while (processor.Decoder.NextPosition < end || processor.Decoder.File != file)
        {
            var data = await connection.ReadEventAsync(CancellationToken.None);
            if (data.IsEmpty)
            {
                break;
            }

            types?.Add((BinlogEventType)data.Span[4]);
            processor.Process(data.Span);
        }

        return collector.Changes;
    }

    private async Task<byte[]> MariaDbBinlogAsync(string file, long start, long end)
    {
        var info = new ProcessStartInfo("mariadb-binlog")
        {
            ArgumentList =
            {
                "--no-defaults", "--read-from-remote-server", $"--host={server.Host}", $"--port={server.Port}", $"--user={server.User}",
                $"--start-position={start}", $"--stop-position={end}", "--verbose", "--base64-output=DECODE-ROWS", file,
            },
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        info.Environment["MYSQL_PWD"] = server.Password;
        using var process = Process.Start(info)!;
        using var output = new MemoryStream();
        var copy = process.StandardOutput.BaseStream.CopyToAsync(output);
        var errors = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        await process.WaitForExitAsync(timeout.Token);
        await copy;
        Assert.True(process.ExitCode == 0, $"mariadb-binlog failed: {await errors}");
        return output.ToArray();
    }

    /// <summary>Rows as the connector's parser decodes them, in the object form of <see cref="DataMesh.Connectors.MySql.BinlogRowChange"/>.</summary>
    private sealed class Collector : IBinlogHandler
    {
        public List<DataMesh.Connectors.MySql.BinlogRowChange> Changes { get; } = [];

        /// <summary>Rows and commits in order, each with its transaction's GTID.</summary>
        public List<string> Events { get; } = [];

        public void OnRow(scoped in RowChange change, TransactionState transaction)
        {
            Events.Add("row " + transaction.Gtid);
            var binding = change.Binding;
            object?[]? Values(RowImage? image, ReadOnlySpan<byte> rows)
            {
                if (image is null)
                {
                    return null;
                }

                var values = new object?[binding.Columns.Length];
                for (var i = 0; i < values.Length; i++)
                {
                    values[i] = image.State(i) == CellState.Null ? null : CellValues.ToObject(image.Cell(rows, i), binding.Columns[i]);
                }

                return values;
            }

            Changes.Add(new DataMesh.Connectors.MySql.BinlogRowChange(
                binding.Map.Database, binding.Map.Table, change.Kind switch { RowsKind.Insert => 'c', RowsKind.Update => 'u', _ => 'd' },
                binding.Columns.Select(c => c.Name).ToArray(), binding.Table.Columns.Select(c => c.DatabaseType).ToArray(),
                Values(change.Before, change.Rows), Values(change.After, change.Rows), string.Empty, change.Position, change.Row, transaction.Gtid));
        }

        public void OnCommit(TransactionState transaction) => Events.Add("commit " + transaction.Gtid);

        public void OnSchemaChange(SchemaChange change)
        {
        }

        public void OnDdlSkipped(string statement, string? file, long position, string reason)
        {
        }

        public void OnHeartbeat()
        {
        }
    }
}
