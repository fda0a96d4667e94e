using DataMesh.Connectors.MySql.Schema;
using DataMesh.IntegrationTests.Infrastructure;
using Xunit;

namespace DataMesh.IntegrationTests.MySql;

/// <summary>
/// Column renames on real MariaDB 10.11, where column names compare without case and one ALTER TABLE may rename several
/// columns: every old name a CHANGE, MODIFY, DROP or RENAME COLUMN gives is a column of the table as it was before the
/// statement (so <c>CHANGE a b, CHANGE b a</c> swaps two columns), an AFTER names a column of the new table. The binlog's
/// rows are positional: a tracked schema that applies such a statement otherwise maps values to the wrong columns.
/// </summary>
public sealed class MySqlColumnRenameTests(MariaDbServer server) : IClassFixture<MariaDbServer>
{
    private const string Create = "CREATE TABLE t (id INT NOT NULL PRIMARY KEY, a INT, b VARCHAR(10), name VARCHAR(20))";

    [Theory]
    [InlineData("ALTER TABLE t CHANGE a b INT, CHANGE b a VARCHAR(10)")]
    [InlineData("ALTER TABLE t RENAME COLUMN a TO b, RENAME COLUMN b TO a")]
    [InlineData("ALTER TABLE t CHANGE a b INT, CHANGE b a VARCHAR(10) FIRST")]
    [InlineData("ALTER TABLE t CHANGE a b INT, CHANGE b a VARCHAR(10) AFTER name")]
    [InlineData("ALTER TABLE t CHANGE a b BIGINT, DROP COLUMN b")]
    [InlineData("ALTER TABLE t RENAME COLUMN a TO b, DROP COLUMN b")]
    [InlineData("ALTER TABLE t CHANGE b a VARCHAR(12), DROP COLUMN a")]
    [InlineData("ALTER TABLE t CHANGE id a INT NOT NULL, CHANGE a id INT")]
    [InlineData("ALTER TABLE t RENAME COLUMN id TO b, RENAME COLUMN b TO id")]
    [InlineData("ALTER TABLE t CHANGE a c INT, ADD COLUMN x INT AFTER c")]
    [InlineData("ALTER TABLE t CHANGE name Name VARCHAR(20)")]
    [InlineData("ALTER TABLE t MODIFY NAME VARCHAR(30)")]
    [InlineData("ALTER TABLE t RENAME COLUMN name TO NAME, ADD COLUMN x INT AFTER NAME")]
    [InlineData("ALTER TABLE t CHANGE a A INT, CHANGE ID Id INT NOT NULL")]
    [InlineData("ALTER TABLE t CHANGE name a VARCHAR(20), CHANGE a Name INT")]
    [InlineData("ALTER TABLE t DROP PRIMARY KEY, CHANGE id a INT NOT NULL, CHANGE a id INT NOT NULL, ADD PRIMARY KEY (id)")]
    [InlineData("ALTER TABLE t MODIFY a INT AFTER b, MODIFY b VARCHAR(10) FIRST")]
    [InlineData("ALTER TABLE t DROP COLUMN a, ADD COLUMN a VARCHAR(5) FIRST")]
    [InlineData("ALTER TABLE t CHANGE a a2 INT AFTER name, ADD COLUMN z INT AFTER a2")]
    [InlineData("ALTER TABLE t ADD COLUMN z INT FIRST, CHANGE id id2 INT NOT NULL AFTER z")]
    [InlineData("ALTER TABLE t ADD COLUMN c INT, MODIFY c BIGINT")]
    [InlineData("ALTER TABLE t ADD COLUMN c INT, MODIFY COLUMN c BIGINT FIRST")]
    [InlineData("ALTER TABLE t ADD COLUMN c INT, ALTER COLUMN c SET DEFAULT 5")]
    [InlineData("ALTER TABLE t ADD COLUMN c INT, ADD COLUMN d INT AFTER c")]
    [InlineData("ALTER TABLE t ADD COLUMN c INT FIRST, DROP COLUMN id")]
    [InlineData("ALTER TABLE t ADD COLUMN c INT NOT NULL, DROP PRIMARY KEY, ADD PRIMARY KEY (c)")]
    [InlineData("ALTER TABLE t ADD COLUMN c INT, ADD INDEX (c)")]
    [InlineData("ALTER TABLE t ADD COLUMN IF NOT EXISTS c INT, DROP COLUMN IF EXISTS c")]
    [InlineData("ALTER TABLE t ADD COLUMN c INT, DROP COLUMN IF EXISTS c")]
    [InlineData("ALTER TABLE t ADD COLUMN IF NOT EXISTS a BIGINT, ADD COLUMN c INT")]
    [InlineData("ALTER TABLE t DROP COLUMN IF EXISTS zz, ADD COLUMN c INT")]
    [InlineData("ALTER TABLE t RENAME COLUMN a TO c, ADD COLUMN a INT")]
    [InlineData("ALTER TABLE t CHANGE a c INT, ADD COLUMN a BIGINT AFTER c")]
    [InlineData("ALTER TABLE t DROP COLUMN a, RENAME COLUMN b TO a")]
    [InlineData("ALTER TABLE t ADD COLUMN c INT AFTER b, MODIFY b VARCHAR(10) FIRST")]
    [InlineData("ALTER TABLE t MODIFY b VARCHAR(10) FIRST, ADD COLUMN c INT AFTER b")]
    [InlineData("ALTER TABLE t ADD COLUMN c INT, MODIFY a INT AFTER c")]
    [InlineData("ALTER TABLE t ADD (c INT, d INT), MODIFY c BIGINT AFTER d")]
    [InlineData("ALTER TABLE t ADD COLUMN c INT FIRST, MODIFY c BIGINT")]
    [InlineData("ALTER TABLE t ADD COLUMN c INT NOT NULL DEFAULT 3 AFTER a, MODIFY c BIGINT AFTER b")]
    [InlineData("ALTER TABLE t ADD COLUMN c INT, MODIFY c BIGINT, MODIFY c SMALLINT NOT NULL")]
    [InlineData("ALTER TABLE t ADD COLUMN c INT, CHANGE COLUMN c C BIGINT")]
    [InlineData("ALTER TABLE t ADD COLUMN c INT, CHANGE zz c BIGINT")]
    [InlineData("ALTER TABLE t CHANGE a c INT, ADD COLUMN a BIGINT, MODIFY a SMALLINT")]
    [InlineData("ALTER TABLE t ADD COLUMN c INT, ADD COLUMN d INT AFTER c, MODIFY c BIGINT")]
    [InlineData("ALTER TABLE t ADD COLUMN c INT, ADD COLUMN d INT, MODIFY c BIGINT AFTER d, MODIFY d SMALLINT FIRST")]
    [InlineData("ALTER TABLE t ADD COLUMN c INT NOT NULL, MODIFY c BIGINT NOT NULL, DROP PRIMARY KEY, ADD PRIMARY KEY (c)")]
    [InlineData("ALTER TABLE t ADD COLUMN c INT, MODIFY COLUMN IF EXISTS c BIGINT")]
    [InlineData("ALTER TABLE t ADD COLUMN c INT PRIMARY KEY, DROP PRIMARY KEY")]
    [InlineData("ALTER TABLE t ADD PRIMARY KEY (a), DROP PRIMARY KEY")]
    [InlineData("ALTER TABLE t MODIFY a INT PRIMARY KEY, DROP INDEX `PRIMARY`")]
    [InlineData("ALTER TABLE t ADD COLUMN c INT, MODIFY c BIGINT PRIMARY KEY, DROP PRIMARY KEY")]
    [InlineData("ALTER TABLE t DROP PRIMARY KEY, ADD PRIMARY KEY (a, id)")]
    public async Task The_tracked_schema_after_an_ALTER_is_the_one_the_server_has(string alter)
    {
        await using var database = await server.CreateDatabaseAsync("myren");
        await database.ExecuteAsync(Create);
        var tracker = new SchemaTracker();
        tracker.Reset([await LoadAsync(database)], new Dictionary<string, string> { [database.Name] = "utf8mb4" });

        await database.ExecuteAsync(alter);
        tracker.Apply(DdlParser.Parse(alter), database.Name);

        var actual = await LoadAsync(database);
        var tracked = tracker.Find(database.Name, "t")!;
        Assert.Equal(Describe(actual), Describe(tracked));
    }

    [Fact]
    public async Task Values_arrive_under_the_columns_they_were_written_to_after_swaps_and_case_renames()
    {
        await using var cdc = await MySqlCdc.CreateAsync(server, "CREATE TABLE p (id INT PRIMARY KEY, a INT, b INT, name VARCHAR(20))");
        await cdc.StartAsync();
        await cdc.WaitForSavedPositionAsync();
        await cdc.ExecuteAsync("INSERT INTO p (id, a, b, name) VALUES (1, 10, 20, 'one')");
        await cdc.ExecuteAsync("ALTER TABLE p CHANGE a b INT, CHANGE b a INT");
        await cdc.ExecuteAsync("INSERT INTO p (id, a, b, name) VALUES (2, 100, 200, 'two')");
        await cdc.ExecuteAsync("ALTER TABLE p CHANGE name Name VARCHAR(20)");
        await cdc.ExecuteAsync("INSERT INTO p (id, a, b, Name) VALUES (3, 1000, 2000, 'three')");
        await cdc.ExecuteAsync("ALTER TABLE p RENAME COLUMN a TO b, RENAME COLUMN b TO a, RENAME COLUMN Name TO NAME");
        await cdc.ExecuteAsync("INSERT INTO p (id, a, b, NAME) VALUES (4, 7, 8, 'four')");

        var records = await cdc.ReadAsync(cdc.Topic("p"), 4);
        Assert.True(records.Count == 4, $"{records.Count} of 4 inserts arrived; {cdc.Diagnose()}");
        Assert.Equal(["id=1 a=10 b=20 name=one", "id=2 b=200 a=100 name=two", "id=3 b=2000 a=1000 Name=three", "id=4 a=7 b=8 NAME=four"], records.Select(r => Row(r.After!)));
        await cdc.StopAsync();

        // A restart rebuilds the schema from the history: the same columns.
        await cdc.ExecuteAsync("INSERT INTO p (id, a, b, NAME) VALUES (5, 9, 6, 'five')");
        await cdc.StartAsync();
        records = await cdc.ReadAsync(cdc.Topic("p"), 5);
        Assert.Equal("id=5 a=9 b=6 NAME=five", Row(records[^1].After!));
    }

    private static string Row(global::Avro.Generic.GenericRecord row) =>
        string.Join(' ', row.Schema.Fields.Select(f => $"{f.Name}={row[f.Name]}"));

    private static async Task<MySqlTable> LoadAsync(TemporaryMariaDbDatabase database)
    {
        await using var connection = await database.OpenConnectionAsync();
        var (tables, _, _) = await InformationSchemaLoader.LoadAsync(connection, CancellationToken.None, only: (database.Name, "t"));
        return Assert.Single(tables);
    }

    /// <summary>The columns in order (names as the server spells them, types, nullability) and the primary key: what maps the
    /// binlog's positional values to fields.</summary>
    private static string Describe(MySqlTable table) =>
        string.Join(", ", table.Columns.Select(c => $"{c.Name} {c.DatabaseType}{(c.Nullable ? string.Empty : " not null")}")) + "; key " + string.Join(", ", table.PrimaryKey);
}
