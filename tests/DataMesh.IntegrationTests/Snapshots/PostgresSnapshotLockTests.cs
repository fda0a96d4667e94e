using DataMesh.IntegrationTests.Infrastructure;
using DataMesh.IntegrationTests.Postgres;
using Npgsql;
using Xunit;
using Xunit.Abstractions;

namespace DataMesh.IntegrationTests.Snapshots;

/// <summary>
/// A snapshot takes no lock a writer could wait for and keeps no transaction open: while it reads, a writer under
/// <c>lock_timeout = 1s</c> never times out, and pg_locks and pg_stat_activity, sampled all along, show the snapshot's
/// sessions (<c>application_name = 'datamesh-&lt;source&gt;-snapshot'</c>) holding nothing on the table but ACCESS SHARE,
/// in transactions no longer than a chunk's read (a transaction seen while the snapshot's progress moved on spans chunks).
/// </summary>
public sealed class PostgresSnapshotLockTests(PostgresServer server, ITestOutputHelper output) : IClassFixture<PostgresServer>
{
    private const int Rows = 10_000;

    [Fact]
    public async Task A_snapshot_holds_no_lock_but_access_share_during_a_chunk_read_and_no_transaction_longer_than_a_chunk()
    {
        await using var cdc = await PgCdc.CreateAsync(server, $"CREATE TABLE t ({SnapshotTestKit.TableColumns}); INSERT INTO t SELECT g, g, 'n' || g FROM generate_series(1, {Rows}) g");
        await cdc.StartAsync(
            o =>
            {
                o.TopicPartitions = 8;
                o.Snapshot.ChunkSize = 250;
            },
            waitForSnapshot: false);

        using var stop = new CancellationTokenSource();
        var writes = Task.Run(() => SnapshotTestKit.WriteAsync(cdc.ConnectionString, Rows, schemaChanges: false, stop.Token));
        var snapshots = SnapshotTestKit.Snapshots(cdc);
        var sampling = Task.Run(() => SampleAsync(cdc.ConnectionString, $"datamesh-{cdc.SourceName}-snapshot", () => snapshots.Progress.Sum(p => p.Rows), stop.Token));
        await SnapshotTestKit.WaitIdleAsync(cdc, TimeSpan.FromSeconds(60));
        await stop.CancelAsync();
        var written = await writes; // a statement that waited 1 s for a lock would have thrown
        var samples = await sampling;
        output.WriteLine($"{written} changes written; {samples.Count} samples, {samples.AccessShare} saw the snapshot's ACCESS SHARE lock, longest snapshot transaction {samples.Longest.TotalMilliseconds:0} ms");

        Assert.True(samples.Others.Count == 0, "the snapshot's sessions held other locks on the table: " + string.Join("; ", samples.Others.Take(10)));
        Assert.True(samples.AccessShare > 0, $"none of {samples.Count} samples saw a chunk read: the sampling proves nothing");
        Assert.True(samples.Spanning.Count == 0, "snapshot transactions stayed open while chunks were emitted: " + string.Join("; ", samples.Spanning.Take(10)));
        Assert.True(written > 100, $"only {written} changes were written during the snapshot");
        await SnapshotTestKit.AssertTopicEqualsTableAsync(cdc.ConnectionString, await SnapshotTestKit.ReadToMarkerAsync(cdc.Kafka, cdc.Store, cdc.Topic("t"), 8, cdc.ConnectionString));
    }

    /// <summary>Samples, until cancelled, the locks on <c>t</c> of the sessions named <paramref name="application"/> in this test's
    /// database (other tests' sources have the same name), and their
    /// transactions with the snapshot's progress (<paramref name="progress"/>, the rows emitted) around each sample.</summary>
    private static async Task<Samples> SampleAsync(string connectionString, string application, Func<long> progress, CancellationToken cancellationToken)
    {
        const string Sql = """
            SELECT a.pid, a.xact_start, coalesce(extract(epoch FROM clock_timestamp() - a.xact_start), 0)::float8, l.mode, l.granted, a.state || ': ' || left(a.query, 100) || ' wait ' || coalesce(a.wait_event_type || '/' || a.wait_event, '-')
            FROM pg_stat_activity a LEFT JOIN pg_locks l ON l.pid = a.pid AND l.locktype = 'relation' AND l.relation = 't'::regclass
            WHERE a.application_name = $1 AND a.datname = current_database()
            """;
        var samples = new Samples();
        var progressOf = new Dictionary<(int, DateTime), long>();
        await using var connection = new NpgsqlConnection(connectionString);
        await connection.OpenAsync(CancellationToken.None);
        await using var command = new NpgsqlCommand(Sql, connection);
        command.Parameters.Add(new NpgsqlParameter { Value = application });
        await command.PrepareAsync(CancellationToken.None);
        while (!cancellationToken.IsCancellationRequested)
        {
            var before = progress();
            var transactions = new List<(int, DateTime)>();
            var what = new Dictionary<(int, DateTime), string>();
            await using (var reader = await command.ExecuteReaderAsync(CancellationToken.None))
            {
                while (await reader.ReadAsync(CancellationToken.None))
                {
                    var open = TimeSpan.FromSeconds(reader.GetDouble(2));
                    samples.Longest = open > samples.Longest ? open : samples.Longest;
                    if (!reader.IsDBNull(1))
                    {
                        transactions.Add((reader.GetInt32(0), reader.GetDateTime(1)));
                        what[(reader.GetInt32(0), reader.GetDateTime(1))] = reader.IsDBNull(5) ? "?" : reader.GetString(5);
                    }

                    if (reader.IsDBNull(3))
                    {
                        continue;
                    }

                    var mode = reader.GetString(3);
                    if (mode == "AccessShareLock")
                    {
                        samples.AccessShare++;
                    }
                    else
                    {
                        samples.Others.Add($"pid {reader.GetInt32(0)}: {mode} (granted: {reader.GetBoolean(4)})");
                    }
                }
            }

            // A chunk's read ends before its rows are emitted: a transaction seen at two progresses spans chunks.
            if (progress() == before)
            {
                foreach (var transaction in transactions)
                {
                    if (progressOf.TryGetValue(transaction, out var seen) && seen != before)
                    {
                        samples.Spanning.Add($"pid {transaction.Item1} transaction from {transaction.Item2:HH:mm:ss.ffffff} seen at {seen} and {before} rows ({what[transaction]})");
                    }

                    progressOf.TryAdd(transaction, before);
                }
            }

            samples.Count++;
        }

        return samples;
    }

    private sealed class Samples
    {
        public int Count { get; set; }

        public int AccessShare { get; set; }

        public List<string> Others { get; } = [];

        public List<string> Spanning { get; } = [];

        public TimeSpan Longest { get; set; }
    }
}
