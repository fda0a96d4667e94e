using DataMesh.IntegrationTests.Infrastructure;
using DataMesh.IntegrationTests.Postgres;
using Npgsql;
using Xunit;
using Xunit.Abstractions;

namespace DataMesh.IntegrationTests.Snapshots;

/// <summary>
/// A snapshot's rows are the log's rows: every type reads as the log sends it. And snapshots read tables in key order by
/// row-value comparison: a key of every type the PostgreSQL source supports, and
/// composite keys, each table in several chunks while a writer changes rows (key changes included). The table rebuilt
/// from the topic must equal the table, and a row's snapshot record must have the very key its log records have (after
/// the snapshot every row is updated, so a key the snapshot encoded otherwise than the log shows as a second row).
/// </summary>
public sealed class PostgresSnapshotKeyTests(PostgresServer server, ITestOutputHelper output) : IClassFixture<PostgresServer>
{
    private const int Rows = 40;

    private const int ChunkSize = 7;

    /// <summary>The keys: columns, primary key, the SQL of row n's key values (from column <c>n</c>), extra rows; a key
    /// without enough values (bool) gets no inserts or key changes from the writer.</summary>
    private static readonly KeyTable[] Tables =
    [
        new("k_smallint", "k smallint", "k", "(n - 30)::smallint"),
        new("k_int", "k int", "k", "(n - 30) * 65537"),
        new("k_bigint", "k bigint", "k", "(n - 30)::bigint * 4294967311"),
        new("k_numeric", "k numeric", "k", "(n - 30) * 1.25 + CASE WHEN n % 3 = 0 THEN 0.000 ELSE 0 END"),
        new("k_text", "k text COLLATE \"en-x-icu\"", "k", "(ARRAY['a', 'B', 'é', 'Z ', ' z', 'ö''x', '\"q\"', 'b'])[1 + n % 8] || n"),
        new("k_char", "k char(8)", "k", "('c' || n)::char(8)"),
        new("k_uuid", "k uuid", "k", "md5(n::text)::uuid"),
        new("k_date", "k date", "k", "date '2000-01-01' + (n - 30) * 30000", Extra: "('infinity', 1000001, 'x'), ('-infinity', 1000002, 'x')"),
        new("k_timestamp", "k timestamp", "k", "timestamp '2000-01-01' + (n - 30) * interval '12345 hours 6 minutes 7.654321 seconds'", Extra: "('infinity', 1000001, 'x'), ('-infinity', 1000002, 'x')"),
        new("k_timestamptz", "k timestamptz", "k", "timestamptz '2000-01-01 00:00:00+00' + (n - 30) * interval '1234 hours 0.000001 seconds'", Extra: "('infinity', 1000001, 'x'), ('-infinity', 1000002, 'x')"),
        new("k_bytea", "k bytea", "k", "int4send(n - 30) || decode(md5(n::text), 'hex')"),
        new("k_bool", "k bool", "k", "n % 2 = 0", Values: 2),
        new("c_tenant", "tenant text COLLATE \"en-x-icu\", id int", "tenant, id", "(ARRAY['acme', 'Beta', 'beta', 'Ärger', 'zeta', 'a b'])[1 + n % 6], n / 6"),
        new("c_flag_at", "flag bool, at timestamptz", "flag, at", "n % 2 = 0, timestamptz '2020-01-01 00:00:00+00' + (n / 2) * interval '1 minute'"),
        new("c_date_bytea_numeric", "d date, b bytea, x numeric(10,3)", "d, b, x", "date '2020-01-01' + n % 3, int4send(n % 5), n * 0.5"),
    ];

    [Fact]
    public async Task Keys_of_every_type_and_composite_keys_are_read_in_chunks_in_key_order_and_the_topics_equal_the_tables()
    {
        await using var cdc = await PgCdc.CreateAsync(server, string.Join(";\n", Tables.Select(t => t.SetupSql)));
        await cdc.StartAsync(
            o =>
            {
                o.TopicPartitions = 1;
                o.Snapshot.ChunkSize = ChunkSize;
                o.Snapshot.ParallelTables = 4;
            },
            waitForSnapshot: false);

        using var stopWriter = new CancellationTokenSource();
        var writes = Task.Run(() => WriteAsync(cdc.ConnectionString, stopWriter.Token));
        var clock = System.Diagnostics.Stopwatch.StartNew();
        await SnapshotTestKit.WaitIdleAsync(cdc, TimeSpan.FromSeconds(60));
        await stopWriter.CancelAsync();
        var written = await writes;
        output.WriteLine($"snapshot of {Tables.Length} tables in {clock.Elapsed.TotalSeconds:0.0} s; {written} changes written meanwhile");

        // Every row once more through the log: its key as the log encodes it.
        await cdc.ExecuteAsync(string.Join(";\n", Tables.Select(t => $"UPDATE {t.Name} SET note = note || '+'")));
        var counts = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var table in Tables)
        {
            counts[cdc.Topic(table.Name)] = (int)(await cdc.ScalarAsync<long>($"SELECT count(*) FROM {table.Name}"));
        }

        // Read until every row's last update arrived.
        var topics = await SnapshotTestKit.ReadAllAsync(cdc.Kafka, cdc.Store, [.. counts.Keys], partitions: 1, withoutLogicalTypes: true,
            until: all => all.All(t => t.Value.Count(r => r.Op == "u" && ((string?)r.After!["note"])?.EndsWith('+') == true) >= counts[t.Key]));
        var problems = new List<string>();
        var reads = 0;
        foreach (var table in Tables)
        {
            var records = topics[cdc.Topic(table.Name)];
            reads += records.Count(r => r.Op == "r");
            var rebuilt = SnapshotTestKit.Rebuild(records, SnapshotTestKit.KeyOf);
            var duplicated = rebuilt.GroupBy(r => (int)r.Value["v"]).Where(g => g.Count() > 1).Select(g => $"v={g.Key} under keys {string.Join(" and ", g.Select(r => r.Key))}").ToList();
            if (duplicated.Count > 0)
            {
                problems.Add($"{table.Name}: rows under two keys (the snapshot's and the log's differ): {string.Join("; ", duplicated.Take(3))}");
                continue;
            }

            var expected = await RowsAsync(cdc.ConnectionString, table.Name);
            var actual = rebuilt.Values.ToDictionary(r => (int)r["v"], r => (string?)r["note"]);
            var wrong = expected.Where(e => !actual.TryGetValue(e.Key, out var note) || note != e.Value).Select(e => e.Key).Concat(actual.Keys.Where(v => !expected.ContainsKey(v))).ToList();
            output.WriteLine($"{table.Name}: {records.Count(r => r.Op == "r")} snapshot rows, {records.Count} records, {expected.Count} rows in the table");
            if (wrong.Count > 0)
            {
                problems.Add($"{table.Name}: {wrong.Count} of {expected.Count} rows differ, e.g. " + string.Join("; ", wrong.Take(3).Select(v =>
                    $"v={v}: table {(expected.TryGetValue(v, out var e) ? e : "none")}, topic {(actual.TryGetValue(v, out var a) ? a : "none")}; history: " +
                    string.Join(" | ", records.Where(r => (r.After ?? r.Before) is { } image && (int)image["v"] == v).Select(r => $"{r.Op} {SnapshotTestKit.KeyOf(r)} {r.After?["note"]}")))));
            }
        }

        Assert.True(problems.Count == 0, string.Join("\n", problems) + "\n" + SnapshotTestKit.SnapshotLog(cdc));

        // The writer changes a row now and then: most rows arrive as snapshot reads (those it changed inside a chunk's window by the log).
        var initial = Tables.Sum(t => Math.Min(t.Values, Rows));
        Assert.True(reads > initial / 2, $"{reads} snapshot rows for {initial} rows");
    }

    [Fact]
    public async Task Every_type_reads_in_a_snapshot_exactly_as_the_log_sends_it()
    {
        // The rows of the log's type test, snapshotted, then updated in place so that the log sends each again.
        await using var cdc = await PgCdc.CreateAsync(server, PostgresTypesTests.Setup + ";\n" + string.Join(";\n", PostgresTypesTests.Rows));
        await cdc.StartAsync(o => o.TopicPartitions = 1);
        await cdc.ExecuteAsync("UPDATE everything SET id = id");
        var records = await SnapshotTestKit.ReadAllAsync(cdc, "everything", partitions: 1, withoutLogicalTypes: true, until: r => r.Count(x => x.Op == "u") >= PostgresTypesTests.Rows.Length);
        var reads = records.Where(r => r.Op == "r").ToDictionary(r => (long)r.After!["id"], r => r.After!);
        var updates = records.Where(r => r.Op == "u").ToDictionary(r => (long)r.After!["id"], r => r.After!);
        Assert.Equal(PostgresTypesTests.Rows.Length, reads.Count);
        Assert.Equal(reads.Keys.Order(), updates.Keys.Order());
        var wrong = reads.SelectMany(r => r.Value.Schema.Fields
                .Where(f => SnapshotTestKit.Canonical(r.Value[f.Name]) != SnapshotTestKit.Canonical(updates[r.Key][f.Name]))
                .Select(f => $"row {r.Key}, column {f.Name}: snapshot {SnapshotTestKit.Canonical(r.Value[f.Name])}, log {SnapshotTestKit.Canonical(updates[r.Key][f.Name])}"))
            .ToList();
        Assert.True(wrong.Count == 0, string.Join("\n", wrong));
    }

    /// <summary>Changes random rows of random tables (note updates, deletes, inserts, key changes) until cancelled.</summary>
    private static async Task<int> WriteAsync(string connectionString, CancellationToken cancellationToken)
    {
        var random = new Random(17);
        await using var connection = new NpgsqlConnection(connectionString);
        await connection.OpenAsync(CancellationToken.None);
        var count = 0;
        var next = 10_000;
        while (!cancellationToken.IsCancellationRequested)
        {
            var table = Tables[random.Next(Tables.Length)];
            var v = random.Next(1, Math.Min(table.Values, Rows) + 1);
            var sql = (random.Next(10), table.Values < Rows) switch
            {
                (< 6, _) or (_, true) => $"UPDATE {table.Name} SET note = 'u{count}' WHERE v = {v}",
                (< 7, _) => $"DELETE FROM {table.Name} WHERE v = {v}",
                (< 9, _) => $"INSERT INTO {table.Name} ({table.Key}, v, note) SELECT {table.ValuesOf}, n, 'i{count}' FROM (SELECT {next++} AS n) s",
                _ => $"UPDATE {table.Name} SET ({table.Key}) = (SELECT {table.ValuesOf} FROM (SELECT {next++} AS n) s) WHERE v = {v}",
            };
            await using var command = new NpgsqlCommand(sql, connection);
            await command.ExecuteNonQueryAsync(CancellationToken.None);
            count++;
            await Task.Delay(2, CancellationToken.None);
        }

        return count;
    }

    private static async Task<Dictionary<int, string?>> RowsAsync(string connectionString, string table)
    {
        var rows = new Dictionary<int, string?>();
        await using var connection = new NpgsqlConnection(connectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand($"SELECT v, note FROM {table}", connection);
        await using var reader = await command.ExecuteReaderAsync();
        while (await reader.ReadAsync())
        {
            rows[reader.GetInt32(0)] = reader.IsDBNull(1) ? null : reader.GetString(1);
        }

        return rows;
    }

    /// <summary>A table keyed by <paramref name="Key"/> (<paramref name="Columns"/>), with a unique <c>v</c> per row.</summary>
    private sealed record KeyTable(string Name, string Columns, string Key, string ValuesOf, string? Extra = null, int Values = int.MaxValue)
    {
        public string SetupSql =>
            $"CREATE TABLE {Name} ({Columns}, v int NOT NULL UNIQUE, note text, PRIMARY KEY ({Key})); " +
            $"INSERT INTO {Name} ({Key}, v, note) SELECT {ValuesOf}, n, 'n' || n FROM generate_series(1, {Math.Min(Values, Rows)}) AS s(n)" +
            (Extra is null ? string.Empty : $"; INSERT INTO {Name} ({Key}, v, note) VALUES {Extra}");
    }
}
