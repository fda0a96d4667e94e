using DataMesh.IntegrationTests.Infrastructure;
using MySqlConnector;
using Npgsql;
using Xunit;
using Xunit.Abstractions;

namespace DataMesh.IntegrationTests.Snapshots;

/// <summary>
/// A snapshot takes no lock a writer could wait for and keeps no transaction open: while it reads 20,000 rows in chunks of
/// 100, a writer whose lock waits fail after 1 s never times out, and the server's lock views, sampled all along by the
/// subclass of each server, show the other sessions holding nothing on the table but a shared read, only while a chunk is
/// read (a chunk's read ends before its rows are emitted: a lock on the table held while the snapshot's progress moved on
/// spans chunks), and the writer never waiting.
/// </summary>
public abstract class SnapshotLockTests : SnapshotDatabaseTests
{
    private protected SnapshotLockTests(Func<Task<SnapshotDatabase>> create, ITestOutputHelper output)
        : base(create, output)
    {
    }

    [Fact]
    public async Task A_snapshot_holds_no_lock_but_a_shared_read_while_it_reads_a_chunk_and_the_writer_never_waits()
    {
        await using var db = await CreateDatabaseAsync();
        await PrepareAsync(db);
        var samples = new LockSamples();
        await SnapshotScenarios.SnapshotUnderWriterAsync(db, WrittenTable.ById, rows: 20_000, chunkSize: 100, partitions: 8, Output, alongside: (writer, sampled, stop) =>
            SampleAsync(db, writer.SessionId, () => RowsDone(db), samples, sampled, stop));
        Output.WriteLine($"{db.Server}: {samples.Count} samples, {samples.SharedReads} saw a chunk's shared read lock, the longest held for {samples.LongestMs} ms");

        Assert.True(samples.Others.Count == 0, "sessions held other locks on the table: " + string.Join("; ", samples.Others.Take(10)));
        Assert.True(samples.SharedReads > 0, $"none of {samples.Count} samples saw a chunk read: the sampling proves nothing");
        Assert.True(samples.Spanning.Count == 0, "locks on the table stayed held while chunks were emitted: " + string.Join("; ", samples.Spanning.Take(10)));
        Assert.True(samples.WriterWaits == 0, $"the writer waited for a lock in {samples.WriterWaits} samples");
    }

    /// <summary>The snapshot's rows so far: 0 before the source's host is up (sampling starts before the source).</summary>
    private static long RowsDone(SnapshotDatabase db)
    {
        try
        {
            return db.Snapshots.Progress.Sum(p => p.Rows);
        }
        catch (Exception e) when (e is NullReferenceException or InvalidOperationException)
        {
            return 0;
        }
    }

    /// <summary>Makes the server's lock views available.</summary>
    private protected virtual Task PrepareAsync(SnapshotDatabase db) => Task.CompletedTask;

    /// <summary>Samples, until cancelled, the locks on <c>t</c> of the sessions other than the writer's
    /// (<paramref name="writer"/>) and the sampler's, and the writer's lock waits, with the snapshot's progress
    /// (<paramref name="progress"/>, the rows emitted) before each sample.</summary>
    private protected abstract Task SampleAsync(SnapshotDatabase db, long writer, Func<long> progress, LockSamples samples, Action sampled, CancellationToken cancellationToken);

    /// <summary>What the sampling saw.</summary>
    private protected sealed class LockSamples
    {
        public int Count { get; set; }

        /// <summary>Locks seen that a chunk's read takes (PostgreSQL's ACCESS SHARE, MariaDB's MDL_SHARED_READ).</summary>
        public int SharedReads { get; set; }

        public int WriterWaits { get; set; }

        public long LongestMs { get; set; }

        /// <summary>Locks of other modes, or transactions that lock rows.</summary>
        public List<string> Others { get; } = [];

        /// <summary>Locks held while the snapshot's progress moved on.</summary>
        public List<string> Spanning { get; } = [];
    }
}

/// <summary>
/// <see cref="SnapshotLockTests"/> on PostgreSQL: the writer runs under <c>lock_timeout = 1s</c>; pg_locks and
/// pg_stat_activity show the snapshot's sessions (<c>application_name = 'datamesh-&lt;source&gt;-snapshot'</c>) holding
/// nothing on the table but ACCESS SHARE, in transactions (known by their start) that never span a chunk's emission, and
/// pg_locks no ungranted lock of the writer.
/// </summary>
public sealed class PostgresSnapshotLockTests(PostgresServer server, ITestOutputHelper output)
    : SnapshotLockTests(async () => await PostgresSnapshotDatabase.CreateAsync(server), output), IClassFixture<PostgresServer>
{
    private protected override async Task SampleAsync(SnapshotDatabase db, long writer, Func<long> progress, LockSamples samples, Action sampled, CancellationToken cancellationToken)
    {
        // The snapshot's sessions of this test's database (other tests' sources have the same name); a watermark's INSERT
        // (no lock on t) may still be finishing when the log has decoded its commit and emitted its chunk.
        const string Sql = """
            SELECT a.pid, a.xact_start, coalesce(extract(epoch FROM clock_timestamp() - a.xact_start), 0)::float8, l.mode, l.granted, a.state || ': ' || left(a.query, 100) || ' wait ' || coalesce(a.wait_event_type || '/' || a.wait_event, '-')
            FROM pg_stat_activity a JOIN pg_locks l ON l.pid = a.pid AND l.locktype = 'relation' AND l.relation = 't'::regclass
            WHERE a.application_name = @application AND a.datname = current_database();
            SELECT count(*) FROM pg_locks WHERE pid = @writer AND NOT granted
            """;
        var progressOf = new Dictionary<(int, DateTime), long>();
        await using var connection = (NpgsqlConnection)await db.OpenConnectionAsync();
        await using var command = new NpgsqlCommand(Sql, connection);
        command.Parameters.AddWithValue("application", $"datamesh-{db.SourceName}-snapshot");
        command.Parameters.AddWithValue("writer", (int)writer);
        while (!cancellationToken.IsCancellationRequested)
        {
            var before = progress();
            var transactions = new List<((int, DateTime) Id, string What)>();
            await using (var reader = await command.ExecuteReaderAsync(CancellationToken.None))
            {
                while (await reader.ReadAsync(CancellationToken.None))
                {
                    samples.LongestMs = Math.Max(samples.LongestMs, (long)(reader.GetDouble(2) * 1000));
                    if (!reader.IsDBNull(1))
                    {
                        transactions.Add(((reader.GetInt32(0), reader.GetDateTime(1)), reader.IsDBNull(5) ? "?" : reader.GetString(5)));
                    }

                    var mode = reader.GetString(3);
                    if (mode == "AccessShareLock")
                    {
                        samples.SharedReads++;
                    }
                    else
                    {
                        samples.Others.Add($"pid {reader.GetInt32(0)}: {mode} (granted: {reader.GetBoolean(4)})");
                    }
                }

                await reader.NextResultAsync(CancellationToken.None);
                await reader.ReadAsync(CancellationToken.None);
                samples.WriterWaits += reader.GetInt64(0) > 0 ? 1 : 0;
            }

            // A transaction seen at two progresses spans chunks.
            if (progress() == before)
            {
                foreach (var (id, what) in transactions)
                {
                    if (progressOf.TryGetValue(id, out var seen) && seen != before)
                    {
                        samples.Spanning.Add($"pid {id.Item1} transaction from {id.Item2:HH:mm:ss.ffffff} seen at {seen} and {before} rows ({what})");
                    }

                    progressOf.TryAdd(id, before);
                }
            }

            samples.Count++;
            sampled();
        }
    }
}

/// <summary>
/// <see cref="SnapshotLockTests"/> on MariaDB: the writer runs with <c>innodb_lock_wait_timeout = 1</c> and
/// <c>lock_wait_timeout = 1</c>. information_schema's <c>METADATA_LOCK_INFO</c> (the metadata_lock_info plugin, installed
/// by the test when missing; performance_schema is off on the test server) shows the other sessions holding no metadata
/// lock on the table but a shared read (<c>MDL_SHARED_READ</c>; <c>MDL_SHARED_HIGH_PRIO</c> for information_schema), never
/// while a chunk was emitted (its grant time is known from <c>LOCK_TIME_MS</c>); InnoDB's monitor (<c>SHOW ENGINE INNODB
/// STATUS</c> with <c>innodb_status_output_locks</c>, read fresh each time where information_schema's InnoDB tables are a
/// cache refreshed at most every 100 ms) no InnoDB lock on the table but the writer's, and the writer never waiting.
/// </summary>
public sealed class MariaDbSnapshotLockTests(MariaDbServer server, ITestOutputHelper output)
    : SnapshotLockTests(async () => await MariaDbSnapshotDatabase.CreateAsync(server), output), IClassFixture<MariaDbServer>
{
    private protected override async Task PrepareAsync(SnapshotDatabase db)
    {
        if (await db.ScalarAsync<long>("SELECT COUNT(*) FROM information_schema.PLUGINS WHERE PLUGIN_NAME = 'METADATA_LOCK_INFO'") == 0)
        {
            await db.ExecuteAsync("INSTALL SONAME 'metadata_lock_info'");
        }
    }

    private protected override async Task SampleAsync(SnapshotDatabase db, long writer, Func<long> progress, LockSamples samples, Action sampled, CancellationToken cancellationToken)
    {
        // Thread 0 is the server's own (InnoDB's purge of the writer's deleted rows takes MDL_SHARED): no session's.
        const string Locks = """
            SELECT m.THREAD_ID, m.LOCK_MODE, m.LOCK_TIME_MS, COALESCE(LEFT(p.INFO, 100), p.COMMAND, '-')
            FROM information_schema.METADATA_LOCK_INFO m LEFT JOIN information_schema.PROCESSLIST p ON p.ID = m.THREAD_ID
            WHERE m.TABLE_SCHEMA = DATABASE() AND m.TABLE_NAME = 't' AND m.THREAD_ID NOT IN (0, @writer, CONNECTION_ID());
            SHOW ENGINE INNODB STATUS
            """;
        var timeline = new List<(DateTime At, long Progress)>();
        await using var connection = await db.OpenConnectionAsync();
        await using var command = connection.CreateCommand();
        command.CommandText = Locks;
        command.Parameters.Add(new MySqlParameter("@writer", writer));
        await using (var on = connection.CreateCommand())
        {
            on.CommandText = "SET GLOBAL innodb_status_output_locks = ON";
            await on.ExecuteNonQueryAsync(CancellationToken.None);
        }

        try
        {
            while (!cancellationToken.IsCancellationRequested)
            {
                timeline.Add((DateTime.UtcNow, progress()));
                var before = timeline[^1].Progress;
                await using (var reader = await command.ExecuteReaderAsync(CancellationToken.None))
                {
                    var locks = new List<(long Thread, string Mode, long HeldMs, string What)>();
                    while (await reader.ReadAsync(CancellationToken.None))
                    {
                        locks.Add((reader.GetInt64(0), reader.GetString(1), Convert.ToInt64(reader.GetValue(2), System.Globalization.CultureInfo.InvariantCulture), reader.GetString(3)));
                    }

                    // Read back by now: the lock times were measured before this moment, so each lock was granted before
                    // (now - its time). (The statement's own start, e.g. UTC_TIMESTAMP(), is earlier than the measurement by
                    // as long as the server took to fill the view: under load a grant time from it came out tens of ms too
                    // early, and a lock taken after the progress moved seemed held while it moved.)
                    var read = DateTime.UtcNow;
                    foreach (var held in locks)
                    {
                        SampleMetadataLock(held, read, before, timeline, samples);
                    }

                    await reader.NextResultAsync(CancellationToken.None);
                    await reader.ReadAsync(CancellationToken.None);
                    SampleInnoDbLocks(reader.GetString(2), $"`{db.Schema}`.`t`", writer, samples);
                }

                samples.Count++;
                sampled();
            }
        }
        finally
        {
            await using var off = connection.CreateCommand();
            off.CommandText = "SET GLOBAL innodb_status_output_locks = OFF";
            await off.ExecuteNonQueryAsync(CancellationToken.None);
        }
    }

    /// <summary>Classifies one metadata lock, seen held for <c>HeldMs</c> by a sample read back at <paramref name="read"/>:
    /// its mode, and whether the progress moved on while it was held (between the first sample surely after its grant and
    /// the one that saw it).</summary>
    private static void SampleMetadataLock((long Thread, string Mode, long HeldMs, string What) held, DateTime read, long progress, List<(DateTime At, long Progress)> timeline, LockSamples samples)
    {
        var (thread, mode, heldMs, what) = held;
        var granted = read.AddMilliseconds(-heldMs);
        samples.LongestMs = Math.Max(samples.LongestMs, heldMs);
        if (mode is not ("MDL_SHARED_READ" or "MDL_SHARED_HIGH_PRIO"))
        {
            samples.Others.Add($"thread {thread}: {mode} for {heldMs} ms ({what})");
        }

        samples.SharedReads += mode == "MDL_SHARED_READ" ? 1 : 0;
        var after = timeline.FirstOrDefault(t => t.At >= granted.AddMilliseconds(2));
        if (after != default && after.Progress != progress)
        {
            samples.Spanning.Add($"thread {thread}: {mode} held {heldMs} ms, from {after.Progress} to {progress} rows emitted ({what})");
        }
    }

    /// <summary>The InnoDB locks on <paramref name="table"/> in the monitor's list of transactions: only the writer's may
    /// hold one, and the writer must not wait for one.</summary>
    private static void SampleInnoDbLocks(string status, string table, long writer, LockSamples samples)
    {
        var list = status.IndexOf("LIST OF TRANSACTIONS FOR EACH SESSION:", StringComparison.Ordinal);
        if (list < 0)
        {
            return;
        }

        var waited = false;
        foreach (var transaction in status[list..].Split("---TRANSACTION ").Skip(1))
        {
            var thread = System.Text.RegularExpressions.Regex.Match(transaction, @"thread id (\d+)") is { Success: true } m ? long.Parse(m.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture) : -1;
            if (thread == writer)
            {
                waited |= transaction.Contains("LOCK WAIT", StringComparison.Ordinal);
            }
            else if (transaction.Split('\n').FirstOrDefault(l => l.Contains("table " + table, StringComparison.Ordinal)) is { } lockLine)
            {
                samples.Others.Add($"thread {thread}: {lockLine.Trim()} ({transaction.Split('\n').ElementAtOrDefault(3)?.Trim()})");
            }
        }

        samples.WriterWaits += waited ? 1 : 0;
    }
}
