using DataMesh.IntegrationTests.Infrastructure;
using Xunit;
using Xunit.Abstractions;

namespace DataMesh.IntegrationTests.Snapshots;

/// <summary>DBLog snapshots on the real PostgreSQL 15: existing rows arrive as <c>r</c> events interleaved with the log,
/// without locks, and the topic rebuilds the table exactly while a writer changes it.</summary>
public sealed class PostgresSnapshotTests(PostgresServer server, ITestOutputHelper output) : IClassFixture<PostgresServer>
{
    [Fact]
    public async Task A_table_with_rows_before_the_start_is_snapshotted_while_a_writer_changes_it_and_the_topic_equals_the_table()
    {
        await using var db = await PostgresSnapshotDatabase.CreateAsync(server);
        await SnapshotScenarios.SnapshotUnderWriterAsync(db, WrittenTable.ById, rows: 20_000, chunkSize: 500, partitions: 8, output);
    }

    [Fact]
    public async Task Schema_changes_during_a_snapshot_add_and_drop_a_column_and_widen_the_key_and_the_topic_still_equals_the_table()
    {
        // Between the chunks' descriptions, reads and windows: a column comes, the key widens, the column goes.
        await using var db = await PostgresSnapshotDatabase.CreateAsync(server);
        await SnapshotScenarios.SnapshotUnderWriterAsync(db, WrittenTable.ById, rows: 20_000, chunkSize: 500, partitions: 8, output,
            schemaChanges: ["ALTER TABLE t ADD COLUMN extra int DEFAULT 7", "ALTER TABLE t ALTER COLUMN id TYPE bigint", "ALTER TABLE t DROP COLUMN extra"]);
    }
}
