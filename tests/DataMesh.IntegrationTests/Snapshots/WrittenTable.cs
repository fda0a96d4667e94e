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
        private readonly Task<int> _run;

        public Writer(WrittenTable table, DbConnection connection, long sessionId, int rows, TimeSpan? pause, IReadOnlyList<string> schemaChanges)
        {
            _connection = connection;
            SessionId = sessionId;
            _run = Task.Run(async () =>
            {
                var random = new Random(11);
                var count = 0;
                var next = Math.Max(100_000, rows * 2);
                while (!_stop.IsCancellationRequested)
                {
                    await using var command = connection.CreateCommand();
                    command.CommandText = count % 100 == 0 && count > 0 && count / 100 <= schemaChanges.Count
                        ? schemaChanges[(count / 100) - 1]
                        : table.Statement(random, count, rows, ref next);
                    await command.ExecuteNonQueryAsync(CancellationToken.None); // a lock wait timeout would throw: the snapshot takes no lock
                    lock (_times)
                    {
                        _times.Add(Stopwatch.GetTimestamp());
                    }

                    count++;
                    if (pause is { } wait)
                    {
                        await Task.Delay(wait, CancellationToken.None);
                    }
                }

                return count;
            });
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

        /// <summary>Asserts that statements were committed in each of <paramref name="slices"/> equal parts of the time from
        /// <paramref name="from"/> to <paramref name="to"/> (<see cref="Stopwatch.GetTimestamp"/>): the writer ran all along.</summary>
        public void AssertWroteThroughout(long from, long to, int slices)
        {
            int[] counts;
            lock (_times)
            {
                counts = new int[slices];
                foreach (var time in _times.Where(t => t >= from && t < to))
                {
                    counts[(int)((time - from) * slices / (to - from))]++;
                }
            }

            Assert.True(counts.All(c => c > 0), $"the writer did not write all through the snapshot: statements in each of {slices} parts of its {Stopwatch.GetElapsedTime(from, to).TotalSeconds:0.0} s: {string.Join(", ", counts)}");
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
