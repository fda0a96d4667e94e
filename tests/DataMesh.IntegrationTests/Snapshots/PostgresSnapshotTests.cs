using DataMesh.IntegrationTests.Infrastructure;
using DataMesh.IntegrationTests.Postgres;
using DataMesh.Sources;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;
using Xunit;
using Xunit.Abstractions;

namespace DataMesh.IntegrationTests.Snapshots;

/// <summary>DBLog snapshots on the real PostgreSQL 15: existing rows arrive as <c>r</c> events interleaved with the log,
/// without locks, and the topic rebuilds the table exactly while a writer changes it.</summary>
public sealed class PostgresSnapshotTests(PostgresServer server, ITestOutputHelper output) : IClassFixture<PostgresServer>
{
    private const int Partitions = 8;

    [Fact]
    public Task A_table_with_rows_before_the_start_is_snapshotted_while_a_writer_changes_it_and_the_topic_equals_the_table() =>
        SnapshotUnderWriterAsync(schemaChanges: false);

    [Fact]
    public Task Schema_changes_during_a_snapshot_add_and_drop_a_column_and_widen_the_key_and_the_topic_still_equals_the_table() =>
        SnapshotUnderWriterAsync(schemaChanges: true);

    private async Task SnapshotUnderWriterAsync(bool schemaChanges)
    {
        await using var cdc = await PgCdc.CreateAsync(server, "CREATE TABLE t (id int PRIMARY KEY, v bigint NOT NULL, note text); INSERT INTO t SELECT g, g, 'n' || g FROM generate_series(1, 20000) g");
        await cdc.StartAsync(
            o =>
            {
                o.TopicPartitions = Partitions;
                o.Snapshot.ChunkSize = 500;
            },
            waitForSnapshot: false);

        // A writer changes random rows (updates, deletes, inserts, key changes) all through the snapshot.
        using var stopWriter = new CancellationTokenSource();
        var writes = Task.Run(() => WriteAsync(cdc.ConnectionString, schemaChanges, stopWriter.Token));
        var monitor = cdc.Host.Services.GetRequiredService<SourceMonitor>();
        var deadline = DateTime.UtcNow.AddMinutes(3);
        while (monitor.Snapshots(cdc.SourceName) is not { IsIdle: true })
        {
            Assert.True(DateTime.UtcNow < deadline, $"the snapshot did not finish: {string.Join(", ", monitor.Snapshots(cdc.SourceName)?.Progress.Select(p => $"{p.Table} {p.Rows}") ?? [])}");
            await Task.Delay(200);
        }

        await stopWriter.CancelAsync();
        var written = await writes;
        output.WriteLine($"{written} changes written during the snapshot");
        Assert.True(written > (schemaChanges ? 300 : 100), $"only {written} changes were written during the snapshot");

        // Every change reaches the topic; rebuilt from it (last value per key, deletes removing) the table is exact.
        var expected = await TableAsync(cdc.ConnectionString);
        var records = await ReadAllAsync(cdc);
        var reads = TopicState.AssertRebuilds(records, expected, key => Convert.ToInt64(key["id"], System.Globalization.CultureInfo.InvariantCulture));
        Assert.True(reads > 15000, $"{reads} snapshot rows; log:\n{string.Join("\n", cdc.Logs.Entries.Where(e => e.Id.Id >= 7000).Select(e => $"{e.Level} {e.Id.Id} {e.Message}"))}");
    }

    private static async Task<int> WriteAsync(string connectionString, bool schemaChanges, CancellationToken cancellationToken)
    {
        var random = new Random(11);
        await using var connection = new NpgsqlConnection(connectionString);
        await connection.OpenAsync(CancellationToken.None);
        await using (var timeout = new NpgsqlCommand("SET lock_timeout = '1s'", connection))
        {
            await timeout.ExecuteNonQueryAsync(CancellationToken.None);
        }

        var count = 0;
        var next = 100_000;
        while (!cancellationToken.IsCancellationRequested)
        {
            var id = random.Next(1, 20001);
            var sql = (schemaChanges, count) switch
            {
                // Between the chunks' descriptions, reads and windows: a column comes, the key widens, the column goes.
                (true, 100) => "ALTER TABLE t ADD COLUMN extra int DEFAULT 7",
                (true, 200) => "ALTER TABLE t ALTER COLUMN id TYPE bigint",
                (true, 300) => "ALTER TABLE t DROP COLUMN extra",
                _ => random.Next(10) switch
                {
                    < 5 => $"UPDATE t SET v = v + 1, note = 'u{count}' WHERE id = {id}",
                    < 7 => $"DELETE FROM t WHERE id = {id}",
                    < 9 => $"INSERT INTO t (id, v, note) VALUES ({next++}, {count}, 'i{count}')",
                    _ => $"UPDATE t SET id = {next++} WHERE id = {id}",
                },
            };
            await using var command = new NpgsqlCommand(sql, connection);
            await command.ExecuteNonQueryAsync(CancellationToken.None); // a lock timeout would throw: the snapshot takes no lock
            count++;
        }

        return count;
    }

    private static async Task<Dictionary<long, (long, string?)>> TableAsync(string connectionString)
    {
        var rows = new Dictionary<long, (long, string?)>();
        await using var connection = new NpgsqlConnection(connectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand("SELECT id, v, note FROM t", connection);
        await using var reader = await command.ExecuteReaderAsync();
        while (await reader.ReadAsync())
        {
            rows[Convert.ToInt64(reader.GetValue(0), System.Globalization.CultureInfo.InvariantCulture)] = (reader.GetInt64(1), reader.IsDBNull(2) ? null : reader.GetString(2));
        }

        return rows;
    }

    /// <summary>Every record of the table's topic, per partition in order, once the topic has been quiet for 3 s.</summary>
    private static async Task<List<CdcRecord>> ReadAllAsync(PgCdc cdc) =>
        (await TopicState.ReadAsync(cdc.Kafka, cdc.Store, cdc.Topic("t"), Partitions)).Select(r => r.Record).ToList();
}
