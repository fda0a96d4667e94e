using System.Text.Json;
using DataMesh.Connectors.MySql;
using DataMesh.Connectors.MySql.Schema;
using Xunit;

namespace DataMesh.Tests.MySql;

/// <summary>The schema history's snapshots in parts and what a restore accepts.</summary>
public sealed class SchemaHistoryTests
{
    private const string File = "mariadb-bin.000003";

    private static readonly Dictionary<string, string> Charsets = new() { ["shop"] = "utf8mb4", ["other"] = "latin1" };

    [Fact]
    public void A_snapshot_is_split_into_parts_of_bounded_size_without_splitting_a_table()
    {
        var tables = Tables(60);
        var parts = SchemaHistory.SnapshotParts("my1", File, 400, tables, Charsets, "utf8mb4", maxPartBytes: 8 * 1024);

        Assert.True(parts.Count > 3, $"{parts.Count} parts");
        Assert.All(parts, p => Assert.InRange(JsonSerializer.SerializeToUtf8Bytes(p).Length, 1, 8 * 1024));
        Assert.Equal(tables.Select(t => t.Name), parts.SelectMany(p => p.Tables).Select(t => t.Name));
        Assert.Single(parts.Select(p => p.SnapshotId).Distinct());
        Assert.Equal(Enumerable.Range(1, parts.Count), parts.Select(p => p.Part!.Value));
        Assert.All(parts, p => Assert.Equal(parts.Count, p.Parts));
        // Each part has a key of its own: compaction keeps every one of them.
        Assert.Equal(parts.Count, parts.Select(p => p.Key).Distinct().Count());

        // A table larger than the bound is a part of its own, whole.
        var wide = Table("shop", "wide", 400);
        var alone = SchemaHistory.SnapshotParts("my1", File, 400, [tables[0], wide, tables[1]], Charsets, "utf8mb4", maxPartBytes: 8 * 1024);
        Assert.Equal(3, alone.Count);
        Assert.Equal(400, Assert.Single(alone[1].Tables).Columns.Count);
    }

    [Fact]
    public void A_snapshot_in_parts_restores_only_when_every_part_is_present()
    {
        var tables = Tables(60);
        var parts = SchemaHistory.SnapshotParts("my1", File, 400, tables, Charsets, "latin1", maxPartBytes: 8 * 1024);
        var alter = Ddl(500, Table("other", "t007", 3));
        var at = new MySqlPosition { File = File, Position = 900 };

        // Every part, in any order, with a statement after them: every table, the statement applied.
        var schema = new SchemaTracker();
        Assert.True(SchemaHistory.TryRestore([.. parts.AsEnumerable().Reverse(), alter], at, schema, out _));
        Assert.Equal(60, schema.Tables.Count());
        Assert.Equal(3, schema.Find("other", "t007")!.Columns.Count);
        Assert.Equal("latin1", schema.ServerCharset);
        Assert.Equal("latin1", schema.DatabaseCharsets["other"]);

        // A part missing, first or in the middle: refused, the tables of the other parts are not taken for the whole.
        foreach (var missing in new[] { 0, parts.Count / 2, parts.Count - 1 })
        {
            var without = parts.Where((_, i) => i != missing).Append(alter).ToList();
            var refused = new SchemaTracker();
            Assert.False(SchemaHistory.TryRestore(without, at, refused, out var problem));
            Assert.Empty(refused.Tables);
            Assert.Contains($"lacks 1 of its {parts.Count} parts", problem, StringComparison.Ordinal);
            Assert.Contains($"{File}:400", problem, StringComparison.Ordinal);
        }

        // A part written twice counts once.
        Assert.True(SchemaHistory.TryRestore([.. parts, parts[1], alter], at, new SchemaTracker(), out _));
    }

    [Fact]
    public void A_snapshot_written_as_one_record_before_snapshots_were_split_still_restores()
    {
        // The JSON that the connector wrote before snapshots had parts.
        var old = JsonSerializer.Deserialize<SchemaHistoryRecord>(
            """{"source":"my1","file":"mariadb-bin.000003","pos":400,"snapshot":true,"tables":[{"Database":"shop","Name":"orders","Columns":[{"Name":"id","TypeName":"int"}],"PrimaryKey":["id"]}],"dropped":[],"databases":{"shop":"utf8mb4"},"serverCharset":"utf8mb4"}""")!;
        Assert.Null(old.SnapshotId);
        Assert.Equal("my1|snapshot|mariadb-bin.000003|400", old.Key);

        var schema = new SchemaTracker();
        Assert.True(SchemaHistory.TryRestore([old, Ddl(500, Table("shop", "lines", 2))], new MySqlPosition { File = File, Position = 900 }, schema, out _));
        Assert.Equal(["lines", "orders"], schema.Tables.Select(t => t.Name).Order());
    }

    [Fact]
    public void A_snapshot_lacking_parts_after_a_whole_one_is_refused_rather_than_skipped()
    {
        // The whole snapshot at 400 and the statements after it do not give the schema at 2000: the statements between the
        // source's last position and the snapshot at 1500 (taken after a reset) were never recorded.
        var before = SchemaHistory.SnapshotParts("my1", File, 400, Tables(10), Charsets, "utf8mb4", maxPartBytes: 2048);
        var after = SchemaHistory.SnapshotParts("my1", File, 1500, Tables(10), Charsets, "utf8mb4", maxPartBytes: 2048);
        Assert.True(after.Count > 1);
        var at = new MySqlPosition { File = File, Position = 2000 };

        Assert.False(SchemaHistory.TryRestore([.. before, Ddl(500, Table("shop", "x", 1)), .. after.Skip(1)], at, new SchemaTracker(), out var problem));
        Assert.Contains($"{File}:1500", problem, StringComparison.Ordinal);
        Assert.True(SchemaHistory.TryRestore([.. before, Ddl(500, Table("shop", "x", 1)), .. after], at, new SchemaTracker(), out _));

        // A position before the later snapshot restores from the earlier one, whatever became of the later one.
        var schema = new SchemaTracker();
        Assert.True(SchemaHistory.TryRestore([.. before, Ddl(500, Table("shop", "x", 1)), .. after.Skip(1)], new MySqlPosition { File = File, Position = 1000 }, schema, out _));
        Assert.NotNull(schema.Find("shop", "x"));

        // No snapshot at all at or before the position.
        Assert.False(SchemaHistory.TryRestore([.. after], new MySqlPosition { File = File, Position = 1000 }, new SchemaTracker(), out problem));
        Assert.Contains("no snapshot at or before", problem, StringComparison.Ordinal);
    }

    private static List<MySqlTable> Tables(int count) =>
        Enumerable.Range(0, count).Select(i => Table(i % 2 == 0 ? "shop" : "other", $"t{i:000}", 20)).ToList();

    private static MySqlTable Table(string database, string name, int columns) => new()
    {
        Database = database,
        Name = name,
        Columns = Enumerable.Range(0, columns).Select(c => DdlParser.ParseColumnType(c == 0 ? "id" : $"column_{c:00}", c == 0 ? "int" : "varchar(100)")).ToList(),
        PrimaryKey = ["id"],
    };

    private static SchemaHistoryRecord Ddl(long position, MySqlTable table) => new()
    {
        Source = "my1",
        File = File,
        Position = position,
        Ddl = $"CREATE OR ALTER {table.Name}",
        Tables = [table],
    };
}
