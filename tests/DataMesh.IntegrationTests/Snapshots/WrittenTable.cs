using System.Data.Common;
using System.Diagnostics;
using Avro.Generic;
using Xunit;

namespace DataMesh.IntegrationTests.Snapshots;

/// <summary>
/// The table the snapshot scenarios read while a writer changes it: <c>t (id, v, note)</c> keyed by <c>id</c>, or by
/// <c>(tenant, id)</c> with tenants given (text under a collation, whose order may not be their bytes'). The SQL is the same
/// on PostgreSQL and MariaDB; rows compare as canonical text (key columns, <c>v</c> and <c>note</c>, separated by
/// <c>|</c>), built in SQL on the table's side and from the after images on the topic's.
/// </summary>
internal sealed class WrittenTable
{
    private readonly string[]? _tenants;
    private readonly string _columns;

    private WrittenTable(string columns, string[]? tenants)
    {
        _columns = columns;
        _tenants = tenants;
        KeyColumns = tenants is null ? ["id"] : ["tenant", "id"];
        KeyOf = SnapshotTestKit.Columns([.. KeyColumns]);
        RowOf = SnapshotTestKit.Columns([.. KeyColumns, "v", "note"]);
        KeySql = $"CONCAT({string.Join(", '|', ", KeyColumns)})";
        RowSql = $"CONCAT({string.Join(", '|', ", KeyColumns)}, '|', v, '|', CASE WHEN note IS NULL THEN '{SnapshotTestKit.NullText}' ELSE note END)";
        MarkerKey = tenants is null ? "-1" : "marker|0";
        MarkerSql = tenants is null ? "INSERT INTO t (id, v, note) VALUES (-1, 0, 'marker')" : "INSERT INTO t (tenant, id, v, note) VALUES ('marker', 0, 0, 'marker')";
    }

    /// <summary><c>t (id int PRIMARY KEY, v bigint NOT NULL, note text)</c>.</summary>
    public static WrittenTable ById { get; } = new("id int PRIMARY KEY, v bigint NOT NULL, note text", null);

    public IReadOnlyList<string> KeyColumns { get; }

    /// <summary>A row's key as text, from a key record or a row image.</summary>
    public Func<GenericRecord, string> KeyOf { get; }

    /// <summary>A row image as canonical text.</summary>
    public Func<GenericRecord, string> RowOf { get; }

    /// <summary>SQL: a row's key as text (as <see cref="KeyOf"/>).</summary>
    public string KeySql { get; }

    /// <summary>SQL: a row as canonical text (as <see cref="RowOf"/>).</summary>
    public string RowSql { get; }

    /// <summary>SQL: inserts the marker row, which a reader waits for to know the log caught up.</summary>
    public string MarkerSql { get; }

    /// <summary>The marker row's key text.</summary>
    public string MarkerKey { get; }

    /// <summary><c>t (tenant, id, v, note)</c> keyed by <c>(tenant, id)</c>; row n's tenant is <c>tenants[n % tenants.Length]</c>.</summary>
    public static WrittenTable ByTenantAndId(string tenantType, string idType, string[] tenants) =>
        new($"tenant {tenantType} NOT NULL, id {idType} NOT NULL, v bigint NOT NULL, note text, PRIMARY KEY (tenant, id)", tenants);

    /// <summary>SQL: creates <c>t</c> with the rows 1 to <paramref name="rows"/> (<c>v = n</c>, <c>note = 'n' || n</c>).</summary>
    public string CreateSql(SnapshotDatabase db, int rows)
    {
        var key = _tenants is null
            ? "n"
            : "CASE n % " + _tenants.Length + string.Concat(_tenants.Select((t, i) => $" WHEN {i} THEN '{t}'")) + " END, n";
        return $"CREATE TABLE t ({_columns}); INSERT INTO t ({string.Join(", ", KeyColumns)}, v, note) SELECT {key}, n, CONCAT('n', n) FROM {db.Series(rows)}";
    }

    /// <summary>
    /// Starts a writer that changes random rows of <c>t</c> (ids 1 to <paramref name="rows"/> at first) until stopped, one
    /// statement per transaction, in a session where any lock wait longer than 1 s fails (a lock the snapshot held would make
    /// it throw): updates, deletes, inserts and key changes; <paramref name="schemaChanges"/> run as the 100th, 200th, ...
    /// statements; with <paramref name="pause"/> between statements.
    /// </summary>
    public async Task<Writer> StartWriterAsync(SnapshotDatabase db, int rows, TimeSpan? pause = null, IReadOnlyList<string>? schemaChanges = null)
    {
        var connection = await db.OpenConnectionAsync();
        await using (var timeout = connection.CreateCommand())
        {
            timeout.CommandText = db.LockTimeoutSql;
            await timeout.ExecuteNonQueryAsync();
        }

        await using var session = connection.CreateCommand();
        session.CommandText = db.SessionIdSql;
        var id = Convert.ToInt64(await session.ExecuteScalarAsync(), System.Globalization.CultureInfo.InvariantCulture);
        return new Writer(this, connection, id, rows, pause, schemaChanges ?? []);
    }

    private string Row(int id) => _tenants is null ? $"id = {id}" : $"tenant = '{_tenants[id % _tenants.Length]}' AND id = {id}";

    private string Statement(Random random, int count, int rows, ref int next)
    {
        var id = random.Next(1, rows + 1);
        var tenant = _tenants?[random.Next(_tenants.Length)];
        return random.Next(10) switch
        {
            < 5 => $"UPDATE t SET v = v + 1, note = 'u{count}' WHERE {Row(id)}",
            < 7 => $"DELETE FROM t WHERE {Row(id)}",
            < 9 => tenant is null
                ? $"INSERT INTO t (id, v, note) VALUES ({next++}, {count}, 'i{count}')"
                : $"INSERT INTO t (tenant, id, v, note) VALUES ('{tenant}', {next++}, {count}, 'i{count}')",
            _ => tenant is null ? $"UPDATE t SET id = {next++} WHERE {Row(id)}" : $"UPDATE t SET tenant = '{tenant}', id = {next++} WHERE {Row(id)}",
        };
    }

    /// <summary>A running writer (<see cref="StartWriterAsync"/>).</summary>
    internal sealed class Writer : IAsyncDisposable
    {
        private readonly CancellationTokenSource _stop = new();
        private readonly DbConnection _connection;
        private readonly List<long> _times = [];
        private readonly List<long> _starts = [];
        private readonly Task<int> _run;

        public Writer(WrittenTable table, DbConnection connection, long sessionId, int rows, TimeSpan? pause, IReadOnlyList<string> schemaChanges)
        {
            _connection = connection;
            SessionId = sessionId;
            // A thread of its own, with synchronous statements: how long a statement takes is then the server's doing (or the
            // machine's), never a test process whose thread pool is busy with the source, the embedded cluster and other tests.
            _run = Task.Factory.StartNew(() =>
            {
                var random = new Random(11);
                var count = 0;
                var next = Math.Max(100_000, rows * 2);
                while (!_stop.IsCancellationRequested)
                {
                    var begun = Stopwatch.GetTimestamp();
                    using var command = connection.CreateCommand();
                    command.CommandText = count % 100 == 0 && count > 0 && count / 100 <= schemaChanges.Count
                        ? schemaChanges[(count / 100) - 1]
                        : table.Statement(random, count, rows, ref next);
                    command.ExecuteNonQuery(); // a lock wait timeout would throw: the snapshot takes no lock
                    lock (_times)
                    {
                        _starts.Add(begun);
                        _times.Add(Stopwatch.GetTimestamp());
                    }

                    count++;
                    if (pause is { } wait)
                    {
                        Thread.Sleep(wait);
                    }
                }

                return count;
            }, CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);
        }

        /// <summary>The writer's session on the server (PostgreSQL's backend pid, MariaDB's connection id).</summary>
        public long SessionId { get; }

        /// <summary>The statements committed so far.</summary>
        public int Count
        {
            get
            {
                lock (_times)
                {
                    return _times.Count;
                }
            }
        }

        /// <summary>Stops the writer; returns how many statements it ran (it throws what a statement threw).</summary>
        public async Task<int> StopAsync()
        {
            await _stop.CancelAsync();
            return await _run;
        }

        /// <summary>Asserts that the writer ran all along from <paramref name="from"/> to <paramref name="to"/>
        /// (<see cref="Stopwatch.GetTimestamp"/>): in each of <paramref name="slices"/> equal parts of that time a statement
        /// committed, or one statement was under way through the whole part. A lock the snapshot held cannot hide behind the
        /// second: the writer's session fails any lock wait longer than 1 s, so a statement under way that long without failing
        /// was slowed by a busy machine, not blocked (the message then says which statement and for how long).</summary>
        public void AssertWroteThroughout(long from, long to, int slices)
        {
            int[] counts;
            bool[] spanned;
            string stalls;
            lock (_times)
            {
                counts = new int[slices];
                spanned = new bool[slices];
                foreach (var time in _times.Where(t => t >= from && t < to))
                {
                    counts[(int)((time - from) * slices / (to - from))]++;
                }

                for (var slice = 0; slice < slices; slice++)
                {
                    var start = from + ((to - from) * slice / slices);
                    var end = from + ((to - from) * (slice + 1) / slices);
                    spanned[slice] = Enumerable.Range(0, _times.Count).Any(i => _starts[i] <= start && _times[i] >= end);
                }

                stalls = Stalls(from);
            }

            Assert.True(
                counts.Select((c, slice) => c > 0 || spanned[slice]).All(written => written),
                $"the writer did not write all through the snapshot: statements in each of {slices} parts of its {Stopwatch.GetElapsedTime(from, to).TotalSeconds:0.0} s: " +
                $"{string.Join(", ", counts.Select((c, slice) => c > 0 || !spanned[slice] ? $"{c}" : "0 (one under way throughout)"))}; {stalls}");
        }

        /// <summary>Where the writer's longest waits were, to tell a server that held a statement (a long statement) from a test
        /// process that did not run the writer (a long gap between one statement's end and the next one's start).</summary>
        public string DescribeStalls(long from)
        {
            lock (_times)
            {
                return Stalls(from);
            }
        }

        private string Stalls(long from)
        {
            var longestStatement = (Ms: 0.0, At: 0.0);
            var longestGap = (Ms: 0.0, At: 0.0);
            for (var i = 0; i < _times.Count; i++)
            {
                var statement = Stopwatch.GetElapsedTime(_starts[i], _times[i]).TotalMilliseconds;
                if (statement > longestStatement.Ms)
                {
                    longestStatement = (statement, Stopwatch.GetElapsedTime(from, _starts[i]).TotalSeconds);
                }

                var gap = i == 0 ? 0 : Stopwatch.GetElapsedTime(_times[i - 1], _starts[i]).TotalMilliseconds;
                if (gap > longestGap.Ms)
                {
                    longestGap = (gap, Stopwatch.GetElapsedTime(from, _starts[i]).TotalSeconds);
                }
            }

            ThreadPool.GetAvailableThreads(out var available, out _);
            ThreadPool.GetMaxThreads(out var max, out _);
            return $"longest statement {longestStatement.Ms:0} ms (begun at {longestStatement.At:0.00} s), longest gap between statements {longestGap.Ms:0} ms " +
                $"(at {longestGap.At:0.00} s); the first statement began at {(_starts.Count == 0 ? double.NaN : Stopwatch.GetElapsedTime(from, _starts[0]).TotalSeconds):0.00} s; " +
                $"{ThreadPool.ThreadCount} thread-pool threads, {max - available} busy, {ThreadPool.PendingWorkItemCount} work items queued";
        }

        public async ValueTask DisposeAsync()
        {
            await _stop.CancelAsync();
            await _run.ContinueWith(_ => { }, TaskScheduler.Default);
            await _connection.DisposeAsync();
            _stop.Dispose();
        }
    }
}
