using System.Diagnostics;
using DataMesh.IntegrationTests.Infrastructure;
using Xunit;
using Xunit.Abstractions;

namespace DataMesh.IntegrationTests.Snapshots;

/// <summary>The snapshot scenario that several test classes run on PostgreSQL and MariaDB, written once against
/// <see cref="SnapshotDatabase"/>.</summary>
internal static class SnapshotScenarios
{
    /// <summary>
    /// The table <paramref name="table"/> with <paramref name="rows"/> rows before the start (loaded in one statement) is
    /// snapshotted in chunks of <paramref name="chunkSize"/> while a writer changes random rows as fast as it can (updates,
    /// deletes, inserts, key changes; <paramref name="schemaChanges"/> among them) all through the snapshot, checked in
    /// <paramref name="slices"/> equal parts of its time. Once the snapshot is done and the log caught up, the table rebuilt
    /// from the topic (last value per key, deletes removing) has the table's checksum. <paramref name="alongside"/>, if
    /// given, runs from the writer's start until the snapshot is done (then it is cancelled), e.g. to sample lock views; the
    /// source starts once it called its second argument (it has taken a first sample) or ended.
    /// <paramref name="configure"/>, if given, changes the source's options after the scenario's own; <paramref name="each"/>,
    /// if given, sees every record of the topic.
    /// </summary>
    /// <returns>The comparison of the topic with the table (already asserted equal).</returns>
    public static async Task<TopicComparison> SnapshotUnderWriterAsync(
        SnapshotDatabase db, WrittenTable table, int rows, int chunkSize, int partitions, ITestOutputHelper output,
        int slices = 4, IReadOnlyList<string>? schemaChanges = null, TimeSpan? timeout = null, Func<WrittenTable.Writer, Action, CancellationToken, Task>? alongside = null,
        Action<SourceOptions>? configure = null, Action<CdcRecord>? each = null)
    {
        var clock = Stopwatch.StartNew();
        var cpu = Process.GetCurrentProcess().TotalProcessorTime;
        await db.ExecuteAsync(table.CreateSql(db, rows));
        var loaded = clock.Elapsed;
        // The writer first: on a quiet machine a small table's snapshot can end before a writer started after the source
        // wrote anything (MariaDB: 20,000 rows "in 0.0 s" with no change written).
        await using var writer = await table.StartWriterAsync(db, rows, schemaChanges: schemaChanges);
        // What runs alongside starts before the source too, and the source waits for its first sample: a fast snapshot of a
        // small table (1.7 s for 20,000 rows in a full-suite run) once ended before a sampler started after it took a sample.
        using var stop = new CancellationTokenSource();
        var ready = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var beside = alongside is null ? Task.CompletedTask : Task.Run(() => alongside(writer, () => ready.TrySetResult(), stop.Token));
        if (alongside is not null)
        {
            await Task.WhenAny(ready.Task, beside).WaitAsync(TimeSpan.FromSeconds(60));
        }

        // From the source's start: a MariaDB start that waits for the first stored position can outlast a small snapshot.
        var started = Stopwatch.GetTimestamp();
        await db.StartAsync(
            o =>
            {
                o.TopicPartitions = partitions;
                o.Snapshot.ChunkSize = chunkSize;
                configure?.Invoke(o);
            },
            waitForSnapshot: false);
        await SnapshotTestKit.WaitIdleAsync(db, timeout ?? TimeSpan.FromMinutes(3));
        var ended = Stopwatch.GetTimestamp();
        await stop.CancelAsync();
        await beside;
        var written = await writer.StopAsync();
        var snapshot = Stopwatch.GetElapsedTime(started, ended);
        output.WriteLine($"{db.Server}: {rows} rows loaded in {loaded.TotalSeconds:0.0} s; snapshot in chunks of {chunkSize} in {snapshot.TotalSeconds:0.0} s " +
            $"({rows / snapshot.TotalSeconds:0} rows/s) while {written} changes were written ({written / snapshot.TotalSeconds:0}/s); " + writer.DescribeStalls(started));
        writer.AssertWroteThroughout(started, ended, slices);
        Assert.True(written > 100 * ((schemaChanges?.Count ?? 0) + 1), $"only {written} changes were written during the snapshot");

        // Every change reaches the topic; rebuilt from it (last value per key, deletes removing) the table is exact.
        var compared = await SnapshotTestKit.AssertTopicEqualsTableAsync(db, table, TableTopic.Of(db, "t", partitions), each, timeout);
        output.WriteLine($"{db.Server}: {compared.Records} records ({compared.Reads} snapshot rows) read in {compared.Read.TotalSeconds:0.0} s, compared in {compared.Compared.TotalSeconds:0.0} s: " +
            $"topic and table both {compared.Checksum}; {clock.Elapsed.TotalSeconds:0} s in all, {(Process.GetCurrentProcess().TotalProcessorTime - cpu).TotalSeconds:0} s of CPU in the test process " +
            "(the source, the embedded Kafka cluster, the writer and the reader; with other tests' when they run alongside)");
        Assert.True(compared.Reads > rows * 3 / 4, $"{compared.Reads} snapshot rows for {rows} rows; log:\n{SnapshotTestKit.SnapshotLog(db)}");
        return compared;
    }

    /// <summary>
    /// <see cref="SnapshotOptions.MaxChunkBytes"/> ends chunks before their row count: 20,000 rows under a writer with a
    /// chunk size above the table's row count (one chunk without the budget) and a budget of 64 KiB are read in many
    /// chunks, each ending at the row that reached the budget and the next going on after it, and the topic still equals
    /// the table. (A read that stopped at the budget but counted as the range's end would lose the rest of the table.)
    /// </summary>
    public static async Task ChunksEndAtTheirByteBudgetAsync(SnapshotDatabase db, ITestOutputHelper output)
    {
        const int Rows = 20_000;
        // A chunk's rows carry its start time as source.ts_ms (docs/snapshots.md): one value per chunk, unless two start in one millisecond.
        var chunks = new HashSet<long>();
        await SnapshotUnderWriterAsync(db, WrittenTable.ById, Rows, chunkSize: 50_000, partitions: 8, output,
            configure: o => o.Snapshot.MaxChunkBytes = 64 * 1024,
            each: r =>
            {
                if (r.Op == "r")
                {
                    chunks.Add((long)r.Source["ts_ms"]);
                }
            });
        output.WriteLine($"{db.Server}: snapshot rows of {chunks.Count} chunks (distinct read times)");
        Assert.True(chunks.Count >= 10, $"snapshot rows of {chunks.Count} chunks for {Rows} rows with a 64 KiB budget; log:\n{SnapshotTestKit.SnapshotLog(db)}");
    }
}
