using DataMesh.IntegrationTests.Infrastructure;
using DataMesh.IntegrationTests.Postgres;
using Microsoft.Extensions.Logging;
using Npgsql;
using Xunit;
using Xunit.Abstractions;

namespace DataMesh.IntegrationTests.Snapshots;

/// <summary>
/// A table without a primary key has no order to read it in: its snapshot is refused with a message (log event 7103)
/// that says what to set, unless <c>Snapshot:KeyColumns</c> names a unique key of NOT NULL columns for it (a key that is not is refused too: it would skip rows); then it is read by that key, while
/// a writer changes it, and the topic (keyless records, in order on partition 0) rebuilds it exactly.
/// </summary>
public sealed class PostgresSnapshotKeylessTests(PostgresServer server, ITestOutputHelper output) : IClassFixture<PostgresServer>
{
    private const int Rows = 500;

    private static readonly string Setup = $"""
        CREATE TABLE nokey (code text NOT NULL UNIQUE, v int NOT NULL, note text, grp int NOT NULL, maybe text UNIQUE);
        ALTER TABLE nokey REPLICA IDENTITY FULL;
        INSERT INTO nokey SELECT 'c' || n, n, 'n' || n, n / 10, CASE WHEN n % 50 = 0 THEN NULL ELSE 'm' || n END FROM generate_series(1, {Rows}) n;
        CREATE TABLE keyed (id int PRIMARY KEY); INSERT INTO keyed SELECT generate_series(1, 10)
        """;

    [Fact]
    public async Task A_table_without_a_primary_key_is_refused_with_what_to_set_and_the_other_tables_are_snapshotted()
    {
        await using var cdc = await PgCdc.CreateAsync(server, Setup);
        await cdc.StartAsync(o => o.TopicPartitions = 1);

        var refused = cdc.Logs.Entries.Where(e => e.Id.Id == 7103).ToList();
        Assert.True(refused.Count == 1 && refused[0].Level == LogLevel.Error, "expected one error 7103, got:\n" + SnapshotTestKit.SnapshotLog(cdc));
        Assert.Contains("public.nokey", refused[0].Message, StringComparison.Ordinal);
        Assert.Contains("Snapshot:KeyColumns", refused[0].Message, StringComparison.Ordinal);
        Assert.Equal(0, await cdc.CountAsync(cdc.Topic("nokey"), TimeSpan.Zero));
        Assert.Equal(10, (await SnapshotTestKit.ReadAllAsync(cdc, "keyed", partitions: 1, until: r => r.Count >= 10)).Count(r => r.Op == "r"));
    }

    [Fact]
    public async Task A_table_without_a_primary_key_is_snapshotted_by_the_unique_key_named_for_it_and_the_topic_equals_the_table()
    {
        await using var cdc = await PgCdc.CreateAsync(server, Setup);
        await cdc.StartAsync(
            o =>
            {
                o.TopicPartitions = 1;
                o.Snapshot.ChunkSize = 20;
                o.Snapshot.KeyColumns["public.nokey"] = ["code"];
            },
            waitForSnapshot: false);

        using var stop = new CancellationTokenSource();
        var writes = Task.Run(() => WriteAsync(cdc.ConnectionString, stop.Token));
        await SnapshotTestKit.WaitIdleAsync(cdc, TimeSpan.FromSeconds(30));
        await stop.CancelAsync();
        var written = await writes;

        await cdc.ExecuteAsync("INSERT INTO nokey VALUES ('marker', 0, 'marker', 0, NULL)");
        var records = await SnapshotTestKit.ReadAllAsync(cdc, "nokey", partitions: 1, until: r => r.Any(x => (string?)x.After?["code"] == "marker"));
        var reads = records.Count(r => r.Op == "r");
        output.WriteLine($"{reads} snapshot rows, {records.Count} records; {written} changes written during the snapshot; {cdc.Logs.Entries.Count(e => e.Id.Id == 7109)} chunks read again");
        Assert.DoesNotContain(cdc.Logs.Entries, e => e.Id.Id == 7103);

        // Keyless records: rebuilt by the unique column from the images (before: the row that goes; after: the row now).
        var rebuilt = new Dictionary<string, (int, string?)>(StringComparer.Ordinal);
        foreach (var record in records)
        {
            if (record.Before is { } before)
            {
                rebuilt.Remove((string)before["code"]);
            }

            if (record.After is { } after)
            {
                rebuilt[(string)after["code"]] = ((int)after["v"], (string?)after["note"]);
            }
        }

        var expected = new Dictionary<string, (int, string?)>(StringComparer.Ordinal);
        await using (var connection = await PostgresServer.OpenConnectionAsync(cdc.ConnectionString))
        await using (var command = new NpgsqlCommand("SELECT code, v, note FROM nokey", connection))
        await using (var reader = await command.ExecuteReaderAsync())
        {
            while (await reader.ReadAsync())
            {
                expected[reader.GetString(0)] = (reader.GetInt32(1), reader.IsDBNull(2) ? null : reader.GetString(2));
            }
        }

        SnapshotTestKit.AssertSame(expected, rebuilt, code => string.Join(" | ", records.Where(r => (string?)r.Before?["code"] == code || (string?)r.After?["code"] == code)
            .Select(r => $"{r.Op}@{r.Offset} {r.Before?["code"]}->{r.After?["code"]} {r.After?["note"]}")));
        Assert.True(reads > Rows / 4, $"{reads} snapshot rows\n{SnapshotTestKit.SnapshotLog(cdc)}");
    }

    [Theory]
    [InlineData("grp")] // NOT NULL, not unique: rows of a value that straddles two chunks would be skipped
    [InlineData("maybe")] // unique, but NULL in some rows: those never compare greater than a key read
    public async Task A_key_named_for_a_table_without_a_primary_key_is_refused_unless_it_is_unique_and_not_null(string column)
    {
        await using var cdc = await PgCdc.CreateAsync(server, Setup);
        await cdc.StartAsync(
            o =>
            {
                o.TopicPartitions = 1;
                o.Snapshot.ChunkSize = 20;
                o.Snapshot.KeyColumns["public.nokey"] = [column];
            });

        var reads = (await SnapshotTestKit.ReadAllAsync(cdc, "nokey", partitions: 1, settle: TimeSpan.FromSeconds(1))).Count(r => r.Op == "r");
        var refused = cdc.Logs.Entries.Where(e => e.Id.Id == 7103).ToList();
        Assert.True(refused.Count == 1 && reads == 0, $"{reads} of {Rows} rows snapshotted by ({column}); log:\n{SnapshotTestKit.SnapshotLog(cdc)}");
        Assert.Contains("public.nokey", refused[0].Message, StringComparison.Ordinal);
        Assert.Contains("Snapshot:KeyColumns", refused[0].Message, StringComparison.Ordinal);
        Assert.Contains(column, refused[0].Message, StringComparison.Ordinal);
        Assert.Equal(10, (await SnapshotTestKit.ReadAllAsync(cdc, "keyed", partitions: 1, until: r => r.Count >= 10)).Count(r => r.Op == "r"));
    }

    /// <summary>Changes random rows of <c>nokey</c> (updates, deletes, inserts, changes of the unique column) until cancelled.</summary>
    private static async Task<int> WriteAsync(string connectionString, CancellationToken cancellationToken)
    {
        var random = new Random(23);
        await using var connection = new NpgsqlConnection(connectionString);
        await connection.OpenAsync(CancellationToken.None);
        var count = 0;
        var next = 100_000;
        while (!cancellationToken.IsCancellationRequested)
        {
            var code = "c" + random.Next(1, Rows + 1);
            var sql = random.Next(10) switch
            {
                < 5 => $"UPDATE nokey SET note = 'u{count}' WHERE code = '{code}'",
                < 7 => $"DELETE FROM nokey WHERE code = '{code}'",
                < 9 => $"INSERT INTO nokey VALUES ('c{next}', {next++}, 'i{count}', 0, NULL)",
                _ => $"UPDATE nokey SET code = 'c{next++}' WHERE code = '{code}'",
            };
            await using var command = new NpgsqlCommand(sql, connection);
            await command.ExecuteNonQueryAsync(CancellationToken.None);
            count++;
            await Task.Delay(2, CancellationToken.None);
        }

        return count;
    }
}
