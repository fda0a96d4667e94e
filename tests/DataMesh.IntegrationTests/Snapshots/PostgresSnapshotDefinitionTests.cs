using DataMesh.Connectors.Postgres;
using DataMesh.Events;
using DataMesh.IntegrationTests.Infrastructure;
using DataMesh.Sources;
using Microsoft.Extensions.Logging.Abstractions;
using Xunit;

namespace DataMesh.IntegrationTests.Snapshots;

/// <summary>
/// A chunk's read checks, under its lock, that the table still has the shape the chunk's rows are encoded with; the
/// dialect describes the table again only when the catalog rows a description is made of changed. Here every kind of
/// definition change comes between two reads of the same dialect, and the second read must refuse (read nothing) exactly
/// when a fresh description has another shape.
/// </summary>
public sealed class PostgresSnapshotDefinitionTests(PostgresServer server) : IClassFixture<PostgresServer>
{
    [Fact]
    public async Task A_chunk_read_after_any_definition_change_refuses_exactly_when_the_table_has_another_shape()
    {
        await using var database = await server.CreateDatabaseAsync("snapdef");
        var connectionString = server.ConnectionStringFor(database.Name);
        await ExecuteAsync(connectionString, """
            CREATE DOMAIN amount AS numeric(10,2);
            CREATE TYPE mood AS ENUM ('calm', 'glad');
            CREATE TABLE t (id int PRIMARY KEY, v amount, note text, u int NOT NULL UNIQUE, m mood, w varchar(10));
            INSERT INTO t SELECT g, g, 'n' || g, g, 'calm', 'w' FROM generate_series(1, 50) g;
            """);

        string[] changes =
        [
            "ANALYZE t", // statistics only: the same shape, rows read
            "INSERT INTO t VALUES (51, 1, 'x', 51, 'glad', 'w')",
            "ALTER TABLE t ADD COLUMN extra int",
            "ALTER TABLE t DROP COLUMN extra",
            "ALTER TABLE t ALTER COLUMN note SET NOT NULL",
            "ALTER TABLE t ALTER COLUMN note DROP NOT NULL",
            "ALTER TABLE t ALTER COLUMN id TYPE bigint",
            "ALTER TABLE t ALTER COLUMN w TYPE varchar(20)",
            "ALTER TABLE t RENAME COLUMN note TO remark",
            "ALTER TABLE t REPLICA IDENTITY FULL",
            "ALTER TABLE t REPLICA IDENTITY DEFAULT",
            "ALTER TABLE t DROP CONSTRAINT t_pkey",
            "ALTER TABLE t ADD PRIMARY KEY (id, u)",
            "ALTER DOMAIN amount SET NOT NULL",
            "ALTER TYPE mood ADD VALUE 'sad'",
            "ALTER TYPE mood RENAME TO feeling",
            "ALTER TABLE t ALTER COLUMN v TYPE numeric(12,3)",
            "VACUUM FULL t",
        ];
        var options = new PostgresSourceOptions { ConnectionString = connectionString };
        options.IncludeTables.Add("public.t");
        await using var dialect = new PostgresSnapshotDialect("src", options, NullLogger.Instance);
        var before = (await dialect.DescribeTableAsync("public", "t", CancellationToken.None))!;
        Assert.Equal(50, (await ReadAsync(dialect, before)).Rows);
        var refused = 0;
        foreach (var change in changes)
        {
            await ExecuteAsync(connectionString, change);
            await using var fresh = new PostgresSnapshotDialect("src", options, NullLogger.Instance);
            var now = (await fresh.DescribeTableAsync("public", "t", CancellationToken.None))!;
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

    private static async Task ExecuteAsync(string connectionString, string sql)
    {
        await using var connection = await PostgresServer.OpenConnectionAsync(connectionString);
        await using var command = new Npgsql.NpgsqlCommand(sql, connection);
        await command.ExecuteNonQueryAsync();
    }

    /// <summary>Reads the first chunk of <c>t</c> as a chunk described by <paramref name="info"/>.</summary>
    private static Task<SnapshotChunkRead> ReadAsync(PostgresSnapshotDialect dialect, SourceTableInfo info)
    {
        var host = new EncodingHost(new SourceDescription("postgresql", "src", PgSourceBlock.Fields), new ChangeEventOptions());
        var table = new SourceTable(info, ChangeEventSchemas.Build(info.Table, host.Description, host.Events));
        // By its key (the primary key as it is now), else by id.
        var keyColumns = info.Table.KeyColumns.Count > 0 ? info.Table.KeyColumns.ToArray() : new[] { "id" };
        var match = keyColumns.Select(info.Table.IndexOf).ToArray();
        var chunk = new SnapshotChunk(table, match, dialect, SnapshotMarker.Snapshot, new SnapshotTableProgress("public", "t", null, 0, null, true), new SnapshotChunkStorage());
        return dialect.ReadChunkAsync(new SnapshotChunkRequest(table, keyColumns, null, 1000, null), chunk.Writer, CancellationToken.None);
    }
}
