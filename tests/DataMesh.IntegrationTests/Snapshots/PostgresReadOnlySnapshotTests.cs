using System.Diagnostics;
using DataMesh.IntegrationTests.Infrastructure;
using DataMesh.IntegrationTests.Postgres;
using Npgsql;
using Xunit;
using Xunit.Abstractions;

namespace DataMesh.IntegrationTests.Snapshots;

/// <summary>
/// Read-only watermarks (<c>Snapshot:Watermarks = ReadOnly</c>) on the real PostgreSQL 15: a source whose user may only
/// replicate and select snapshots exactly, reading the signal table it is given and creating nothing; on a database where
/// nothing else happens every chunk's window still closes.
/// </summary>
public sealed class PostgresReadOnlySnapshotTests(PostgresServer server, ITestOutputHelper output) : IClassFixture<PostgresServer>
{
    private const int Partitions = 4;

    [Fact]
    public async Task A_source_user_that_may_only_replicate_and_select_snapshots_read_only_under_a_writer_and_creates_nothing()
    {
        const int Rows = 5000;
        const string Signals = "datamesh_signals";
        var role = UniqueName.Create("cdc_ro");
        // The owner makes the table, the signal table and the publication; the source's user gets REPLICATION and SELECT:
        // no CREATE on the database or any schema (PostgreSQL 15 gives PUBLIC none on schema public), no INSERT anywhere.
        await using var cdc = await PgCdc.CreateAsync(server, $"""
            CREATE TABLE t ({SnapshotTestKit.TableColumns}); INSERT INTO t SELECT g, g, 'n' || g FROM generate_series(1, {Rows}) g;
            CREATE TABLE {Signals} (id text PRIMARY KEY, type text NOT NULL, data text);
            CREATE PUBLICATION ro_pub FOR TABLE t, {Signals};
            CREATE ROLE {role} LOGIN REPLICATION PASSWORD 'pw';
            GRANT SELECT ON t, {Signals} TO {role};
            """);
        try
        {
            var sourceUser = new NpgsqlConnectionStringBuilder(cdc.ConnectionString) { Username = role, Password = "pw" }.ConnectionString;
            Assert.False(await cdc.ScalarAsync<bool>($"SELECT has_database_privilege('{role}', current_database(), 'CREATE') OR has_schema_privilege('{role}', 'public', 'CREATE') OR has_table_privilege('{role}', 't', 'INSERT') OR has_table_privilege('{role}', '{Signals}', 'INSERT')"));
            await cdc.StartAsync(o =>
            {
                o.ConnectionString = sourceUser;
                o.ManagePublication = false;
                o.PublicationName = "ro_pub";
                o.TopicPartitions = Partitions;
                o.Snapshot.Initial = InitialSnapshot.None;
                o.Snapshot.ChunkSize = 250;
                o.Snapshot.SignalTable = Signals;
                o.Snapshot.Watermarks = SnapshotWatermarks.ReadOnly;
            });

            // A writer changes random rows (updates, deletes, inserts, key changes) while the owner's signal starts the snapshot.
            using var stopWriter = new CancellationTokenSource();
            var writes = Task.Run(() => SnapshotTestKit.WriteAsync(cdc.ConnectionString, Rows, schemaChanges: false, stopWriter.Token));
            await cdc.ExecuteAsync($$"""INSERT INTO {{Signals}} VALUES ('s1', 'execute-snapshot', '{"data-collections": ["public.t"]}')""");
            await SnapshotTestKit.WaitUntilAsync(() => !SnapshotTestKit.Snapshots(cdc).IsIdle, TimeSpan.FromSeconds(20), () => "the signal did not start a snapshot\n" + SnapshotTestKit.SnapshotLog(cdc));
            await SnapshotTestKit.WaitIdleAsync(cdc, TimeSpan.FromMinutes(2));
            await stopWriter.CancelAsync();
            var written = await writes;
            output.WriteLine($"{written} changes written during the snapshot");
            Assert.True(written > 100, $"only {written} changes were written during the snapshot");

            var reads = await SnapshotTestKit.AssertTopicEqualsTableAsync(cdc.ConnectionString, await SnapshotTestKit.ReadToMarkerAsync(cdc.Kafka, cdc.Store, cdc.Topic("t"), Partitions, cdc.ConnectionString));
            Assert.True(reads > Rows / 2, $"{reads} snapshot rows; log:\n{SnapshotTestKit.SnapshotLog(cdc)}");
            await SnapshotTestKit.AssertNoWatermarkTableAsync(cdc);
        }
        finally
        {
            await cdc.StopAsync();
            await cdc.ExecuteAsync($"DROP PUBLICATION IF EXISTS ro_pub; DROP OWNED BY {role}; DROP ROLE {role}");
        }
    }

    [Fact]
    public async Task A_read_only_snapshot_of_an_idle_database_closes_every_window_without_any_other_transaction()
    {
        // 40 chunks and no other transaction: each window closes on the WAL position the server reports, not on a later change.
        const int Rows = 10_000;
        await using var cdc = await PgCdc.CreateAsync(server, $"CREATE TABLE t ({SnapshotTestKit.TableColumns}); INSERT INTO t SELECT g, g, 'n' || g FROM generate_series(1, {Rows}) g");
        await cdc.StartAsync(o =>
        {
            o.TopicPartitions = Partitions;
            o.Snapshot.Initial = InitialSnapshot.None;
            o.Snapshot.ChunkSize = 250;
            o.Snapshot.Watermarks = SnapshotWatermarks.ReadOnly;
        });
        var watch = Stopwatch.StartNew();
        SnapshotTestKit.Snapshots(cdc).Request(["public.t"]);
        await SnapshotTestKit.WaitIdleAsync(cdc, TimeSpan.FromMinutes(2));
        output.WriteLine($"{Rows / 250} chunks in {watch.Elapsed.TotalSeconds:F2} s, {watch.Elapsed.TotalMilliseconds / (Rows / 250):F0} ms each");

        var reads = await SnapshotTestKit.AssertTopicEqualsTableAsync(cdc.ConnectionString, await SnapshotTestKit.ReadToMarkerAsync(cdc.Kafka, cdc.Store, cdc.Topic("t"), Partitions, cdc.ConnectionString));
        Assert.Equal(Rows, reads);
        await SnapshotTestKit.AssertNoWatermarkTableAsync(cdc);
    }
}
