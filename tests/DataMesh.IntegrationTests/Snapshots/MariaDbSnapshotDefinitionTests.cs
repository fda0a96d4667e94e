using DataMesh.Connectors.MySql;
using DataMesh.Events;
using DataMesh.IntegrationTests.Infrastructure;
using DataMesh.Sources;
using MySqlConnector;
using Xunit;

namespace DataMesh.IntegrationTests.Snapshots;

/// <summary>
/// A chunk's read checks, under the table's metadata lock, that the table still has the shape the chunk's rows are encoded
/// with; the dialect describes the table again (information_schema) only when its definition changed. Here every kind of
/// definition change comes between two reads of the same dialect, and the second read must refuse (read nothing) exactly
/// when a fresh description has another shape.
/// </summary>
public sealed class MariaDbSnapshotDefinitionTests(MariaDbServer server) : IClassFixture<MariaDbServer>
{
    [Fact]
    public async Task A_chunk_read_after_any_definition_change_refuses_exactly_when_the_table_has_another_shape()
    {
        await using var database = await server.CreateDatabaseAsync("snapdef");
        await ExecuteAsync(database, """
            CREATE TABLE t (id INT NOT NULL AUTO_INCREMENT PRIMARY KEY, v DECIMAL(10,2), note VARCHAR(20), u INT NOT NULL, e ENUM('calm','glad'), j LONGTEXT,
                UNIQUE KEY u (u)) DEFAULT CHARSET utf8mb4;
            INSERT INTO t (v, note, u, e, j) SELECT seq, CONCAT('n', seq), seq, 'calm', '{}' FROM seq_1_to_50;
            """);

        string[] changes =
        [
            "ANALYZE TABLE t", // statistics only: the same shape, rows read
            "INSERT INTO t (v, note, u, e, j) VALUES (1, 'x', 51, 'glad', '[]')", // moves AUTO_INCREMENT only
            "ALTER TABLE t ADD COLUMN extra INT",
            "ALTER TABLE t DROP COLUMN extra",
            "ALTER TABLE t MODIFY note VARCHAR(20) NOT NULL",
            "ALTER TABLE t MODIFY note VARCHAR(20) NULL",
            "ALTER TABLE t MODIFY id BIGINT NOT NULL AUTO_INCREMENT",
            "ALTER TABLE t MODIFY note VARCHAR(40)",
            "ALTER TABLE t CHANGE note remark VARCHAR(40)",
            "ALTER TABLE t MODIFY remark VARCHAR(40) CHARACTER SET latin1",
            "ALTER TABLE t MODIFY remark VARCHAR(40) CHARACTER SET latin1 COLLATE latin1_bin",
            "ALTER TABLE t MODIFY e ENUM('calm','glad','sad')",
            "ALTER TABLE t ADD CONSTRAINT j_json CHECK (json_valid(j))",
            "ALTER TABLE t MODIFY v DECIMAL(12,3)",
            "ALTER TABLE t DROP PRIMARY KEY, MODIFY id BIGINT NOT NULL, ADD PRIMARY KEY (id, u)",
            "ALTER DATABASE CHARACTER SET latin1",
            "OPTIMIZE TABLE t",
        ];
        var options = new MySqlSourceOptions { ConnectionString = database.ConnectionString };
        options.IncludeTables.Add(database.Name + ".*");
        await using var dialect = new MySqlSnapshotDialect("src", options);
        var before = (await dialect.DescribeTableAsync(database.Name, "t", CancellationToken.None))!;
        Assert.Equal(50, (await ReadAsync(dialect, before)).Rows);
        var refused = 0;
        foreach (var change in changes)
        {
            await ExecuteAsync(database, change);
            await using var fresh = new MySqlSnapshotDialect("src", options);
            var now = (await fresh.DescribeTableAsync(database.Name, "t", CancellationToken.None))!;
            var changed = !SourceTable.SameShape(before, now);
            var read = await ReadAsync(dialect, before);
            Assert.True(read.TableChanged == changed, $"after '{change}' the table {(changed ? "has another shape" : "has the same shape")}, but the read {(read.TableChanged ? "refused" : $"read {read.Rows} rows")}");
            if (changed)
            {
                refused++;
                before = now;
                Assert.False((await ReadAsync(dialect, before)).TableChanged, $"after '{change}' a chunk of the new description was refused");
            }
        }

        Assert.True(refused >= 10, $"only {refused} of the changes changed the shape: the test proves little");
    }

    private static async Task ExecuteAsync(TemporaryMariaDbDatabase database, string sql)
    {
        await using var connection = await database.OpenConnectionAsync();
        await using var command = new MySqlCommand(sql, connection);
        await command.ExecuteNonQueryAsync();
    }

    /// <summary>Reads the first chunk of <c>t</c> as a chunk described by <paramref name="info"/>.</summary>
    private static Task<SnapshotChunkRead> ReadAsync(MySqlSnapshotDialect dialect, SourceTableInfo info)
    {
        var host = new EncodingHost(MySqlSourceFields.Describe("src"), new ChangeEventOptions());
        var table = new SourceTable(info, ChangeEventSchemas.Build(info.Table, host.Description, host.Events));
        // By its key (the primary key as it is now), else by id.
        var keyColumns = info.Table.KeyColumns.Count > 0 ? info.Table.KeyColumns.ToArray() : new[] { "id" };
        var match = keyColumns.Select(info.Table.IndexOf).ToArray();
        var chunk = new SnapshotChunk(table, match, dialect, SnapshotMarker.Snapshot, new SnapshotTableProgress(info.Table.Schema, "t", null, 0, null, true), new SnapshotChunkStorage());
        return dialect.ReadChunkAsync(new SnapshotChunkRequest(table, keyColumns, null, 1000, null), chunk.Writer, CancellationToken.None);
    }
}
