using DataMesh.IntegrationTests.Infrastructure;
using Xunit;
using Xunit.Abstractions;

namespace DataMesh.IntegrationTests.Snapshots;

/// <summary>
/// The snapshot at scale (issue 11's main test): a 1,000,000-row table, loaded in one statement, is snapshotted while a
/// writer changes random rows as fast as it can (updates, deletes, inserts and key changes, in each tenth of the
/// snapshot's time); once the snapshot is done and the log caught up, the table rebuilt from the topic (last value per
/// key, deletes removing) has the table's checksum, computed the same way on both sides (the table's in SQL by the
/// database). Run on PostgreSQL and MariaDB by the classes at the end; trait <c>Category=LargeSnapshot</c>
/// (<c>--filter Category=LargeSnapshot</c> runs only these, <c>Category!=LargeSnapshot</c> leaves them out).
/// </summary>
public abstract class LargeSnapshotTests : SnapshotDatabaseTests
{
    private protected LargeSnapshotTests(Func<Task<SnapshotDatabase>> create, ITestOutputHelper output)
        : base(create, output)
    {
    }

    [Fact]
    [Trait("Category", "LargeSnapshot")]
    public async Task A_million_row_table_snapshotted_while_a_writer_changes_it_as_fast_as_it_can_rebuilds_from_its_topic_with_the_tables_checksum()
    {
        await using var db = await CreateDatabaseAsync();
        // The assertions (writer throughout, checksum of topic against table, rows read by the snapshot) are the shared
        // scenario's; dropping one snapshot record from the rebuilt state makes this test fail.
        // 64 partitions: the embedded cluster keeps 5 MB per partition, and the topic holds over 150 MB.
        var compared = await SnapshotScenarios.SnapshotUnderWriterAsync(db, WrittenTable.ById, rows: 1_000_000, chunkSize: 8192, partitions: 64, Output, slices: 10, timeout: TimeSpan.FromMinutes(10));

        // The writer inserts and deletes about as much as each other: the rebuilt table (equal to the source's) stays near a
        // million rows, so the scale this test is about was reached.
        Assert.InRange(compared.Checksum.Rows, 900_000, 1_100_000);
    }
}

public sealed class PostgresLargeSnapshotTests(PostgresServer server, ITestOutputHelper output)
    : LargeSnapshotTests(async () => await PostgresSnapshotDatabase.CreateAsync(server), output), IClassFixture<PostgresServer>;

public sealed class MariaDbLargeSnapshotTests(MariaDbServer server, ITestOutputHelper output)
    : LargeSnapshotTests(async () => await MariaDbSnapshotDatabase.CreateAsync(server), output), IClassFixture<MariaDbServer>;
