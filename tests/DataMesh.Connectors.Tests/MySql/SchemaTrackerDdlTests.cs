using DataMesh.Connectors.MySql.Schema;
using Xunit;

namespace DataMesh.Tests.MySql;

/// <summary>The schema tracker through DDL forms a new user's pass on MariaDB 10.11 found it missed (checked against
/// <c>SHOW CREATE TABLE</c>): a primary key declared on a column in ALTER TABLE (events went without a key), one dropped
/// by its index name (events kept the old key), and MariaDB's <c>RENAME TABLE IF EXISTS</c> (the source stopped).</summary>
public sealed class SchemaTrackerDdlTests
{
    [Theory]
    [InlineData("ALTER TABLE t ADD COLUMN nid INT AUTO_INCREMENT PRIMARY KEY FIRST", "nid")]
    [InlineData("ALTER TABLE t ADD k INT NOT NULL KEY", "k")]
    [InlineData("ALTER TABLE t MODIFY v INT NOT NULL PRIMARY KEY", "v")]
    [InlineData("ALTER TABLE t CHANGE v v2 INT NOT NULL PRIMARY KEY", "v2")]
    [InlineData("ALTER TABLE t ADD COLUMN (k INT NOT NULL PRIMARY KEY, k2 INT)", "k")]
    [InlineData("ALTER TABLE t ADD COLUMN k INT, ADD PRIMARY KEY (k, id)", "k,id")]
    public void A_primary_key_declared_on_a_column_in_ALTER_TABLE_becomes_the_key(string alter, string key)
    {
        var schema = Tracker("CREATE TABLE t (id INT NOT NULL, v INT)");
        schema.Apply(DdlParser.Parse(alter), "shop");
        var table = schema.Find("shop", "t")!;
        Assert.Equal(key.Split(','), table.PrimaryKey);
        Assert.All(key.Split(','), k => Assert.False(table.Columns.Single(c => c.Name == k).Nullable));
    }

    [Fact]
    public void A_primary_key_dropped_and_declared_on_a_new_column_in_one_statement_becomes_the_key()
    {
        var schema = Tracker("CREATE TABLE t (id INT NOT NULL PRIMARY KEY, v INT)");
        schema.Apply(DdlParser.Parse("ALTER TABLE t DROP PRIMARY KEY, ADD COLUMN nid INT AUTO_INCREMENT PRIMARY KEY"), "shop");
        Assert.Equal(["nid"], schema.Find("shop", "t")!.PrimaryKey);
    }

    [Fact]
    public void A_column_added_if_not_exists_that_exists_adds_no_primary_key()
    {
        var schema = Tracker("CREATE TABLE t (id INT NOT NULL PRIMARY KEY, v INT)");
        schema.Apply(DdlParser.Parse("ALTER TABLE t ADD COLUMN IF NOT EXISTS v INT NOT NULL PRIMARY KEY"), "shop");
        Assert.Equal(["id"], schema.Find("shop", "t")!.PrimaryKey);
    }

    [Theory]
    [InlineData("ALTER TABLE t DROP INDEX `PRIMARY`")]
    [InlineData("ALTER TABLE t DROP KEY `PRIMARY`")]
    [InlineData("ALTER TABLE t DROP INDEX IF EXISTS `PRIMARY`")]
    [InlineData("ALTER TABLE t DROP CONSTRAINT `PRIMARY`")]
    [InlineData("ALTER TABLE t DROP INDEX `primary`, ADD INDEX v_idx (v)")]
    [InlineData("DROP INDEX `PRIMARY` ON t")]
    public void A_primary_key_dropped_by_its_index_name_is_dropped(string drop)
    {
        var schema = Tracker("CREATE TABLE t (id INT NOT NULL PRIMARY KEY, v INT, KEY v_idx (v))");
        schema.Apply(DdlParser.Parse(drop), "shop");
        Assert.Empty(schema.Find("shop", "t")!.PrimaryKey);
    }

    [Theory]
    [InlineData("ALTER TABLE t DROP INDEX v_idx")]
    [InlineData("ALTER TABLE t DROP KEY `v_idx`")]
    [InlineData("DROP INDEX v_idx ON t")]
    public void Dropping_another_index_keeps_the_primary_key(string drop)
    {
        var schema = Tracker("CREATE TABLE t (id INT NOT NULL PRIMARY KEY, v INT, KEY v_idx (v))");
        schema.Apply(DdlParser.Parse(drop), "shop");
        Assert.Equal(["id"], schema.Find("shop", "t")!.PrimaryKey);
    }

    [Theory]
    // MariaDB 10.11 (SHOW CREATE TABLE after each): a column a statement redefines without NOT NULL is NOT NULL only when it
    // is in the key the statement leaves, wherever DROP PRIMARY KEY is written; one it does not redefine keeps its NOT NULL.
    [InlineData("ALTER TABLE t MODIFY id BIGINT, DROP PRIMARY KEY, ADD PRIMARY KEY (v)", "v", "id")]
    [InlineData("ALTER TABLE t MODIFY id BIGINT, DROP PRIMARY KEY", "", "id,v")]
    [InlineData("ALTER TABLE t DROP PRIMARY KEY, MODIFY id BIGINT", "", "id,v")]
    [InlineData("ALTER TABLE t CHANGE id id2 BIGINT, ADD PRIMARY KEY (v), DROP PRIMARY KEY", "v", "id2")]
    [InlineData("ALTER TABLE t MODIFY id BIGINT, ADD w INT, DROP PRIMARY KEY, ADD PRIMARY KEY (id)", "id", "v,w")]
    public void A_column_redefined_by_an_ALTER_that_drops_the_key_it_was_in_is_nullable(string alter, string key, string nullable)
    {
        var schema = Tracker("CREATE TABLE t (id INT NOT NULL PRIMARY KEY, v INT)");
        schema.Apply(DdlParser.Parse(alter), "shop");
        var table = schema.Find("shop", "t")!;
        Assert.Equal(key.Split(',', StringSplitOptions.RemoveEmptyEntries), table.PrimaryKey);
        Assert.Equal(nullable.Split(',').Order(), table.Columns.Where(c => c.Nullable).Select(c => c.Name).Order());
    }

    [Fact]
    public void RENAME_TABLE_IF_EXISTS_renames_the_tables_that_exist_and_passes_over_the_others()
    {
        var schema = Tracker("CREATE TABLE t (id INT NOT NULL PRIMARY KEY, v INT)");
        schema.Apply(DdlParser.Parse("RENAME TABLE IF EXISTS missing TO m2, t WAIT 5 TO t2, t2 NOWAIT TO t3"), "shop");
        Assert.Null(schema.Find("shop", "t"));
        Assert.Equal(["id"], schema.Find("shop", "t3")!.PrimaryKey);
        Assert.Null(schema.Find("shop", "m2"));
    }

    [Theory]
    [InlineData("INSERT INTO t VALUES (1)", "INSERT", "t")]
    [InlineData("INSERT LOW_PRIORITY IGNORE shop.t (id) SELECT id FROM other", "INSERT", "shop.t")]
    [InlineData("REPLACE DELAYED INTO `t` SET id = 1", "REPLACE", "t")]
    [InlineData("LOAD DATA LOCAL INFILE '/tmp/x' REPLACE INTO TABLE db.t FIELDS TERMINATED BY ','", "LOAD", "db.t")]
    [InlineData("LOAD XML INFILE '/tmp/x' INTO TABLE `db`.`t` ROWS IDENTIFIED BY '<r>'", "LOAD", "db.t")]
    [InlineData("UPDATE IGNORE t AS a JOIN u ON a.id = u.id, w SET a.v = (SELECT 1 FROM x) WHERE u.id IN (1, 2)", "UPDATE", "t")]
    [InlineData("UPDATE t SET v = 1, w = LEFT(v, 2) WHERE id = 1", "UPDATE", "t")]
    [InlineData("UPDATE LOW_PRIORITY `db`.`t` AS `a` SET `a`.`v` = 1 ORDER BY id LIMIT 1", "UPDATE", "db.t")]
    [InlineData("UPDATE u JOIN db.t USING (id) SET db.t.v = 1, `u`.w = 2", "UPDATE", "db.t,u")]
    [InlineData("UPDATE (u, t) LEFT JOIN (SELECT id FROM t) AS d ON LEFT(d.id, 1) = u.id SET T.v = 1", "UPDATE", "t")]
    [InlineData("UPDATE u USE INDEX (i) STRAIGHT_JOIN t PARTITION (p0) FORCE KEY FOR JOIN (PRIMARY) ON u.id = t.id SET u.v = t.v", "UPDATE", "u")]
    [InlineData("DELETE QUICK FROM db.t WHERE id IN (SELECT id FROM x) ORDER BY id LIMIT 1", "DELETE", "db.t")]
    [InlineData("DELETE FROM t PARTITION (p0) RETURNING id", "DELETE", "t")]
    [InlineData("DELETE a.*, b FROM t AS a JOIN db.u b ON a.id = b.id WHERE a.id = 1", "DELETE", "t,db.u")]
    [InlineData("DELETE FROM t, u USING t JOIN u JOIN v WHERE t.id = u.id", "DELETE", "t,u")]
    [InlineData("DELETE u FROM t NATURAL LEFT OUTER JOIN db.u CROSS JOIN (v) WHERE t.id = 1", "DELETE", "db.u")]
    [InlineData("DELETE db.u.* FROM t, db.u WHERE t.id = u.id", "DELETE", "db.u")]
    [InlineData("WITH x AS (SELECT 1 AS id) DELETE FROM t WHERE id IN (SELECT id FROM x)", "DELETE", "t")]
    [InlineData("WITH RECURSIVE x (n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM x WHERE n < 3), y AS (SELECT 2) UPDATE u JOIN x ON u.id = x.n SET u.v = 1", "UPDATE", "u")]
    public void A_row_change_logged_as_a_statement_names_the_tables_it_changes(string sql, string verb, string tables)
    {
        var statement = Assert.IsType<LoggedRowChangeStatement>(DdlParser.Parse(sql));
        Assert.Equal(verb, statement.Verb);
        Assert.Equal(tables.Split(','), statement.Tables!.Select(t => t.Database is null ? t.Name : $"{t.Database}.{t.Name}"));
        Assert.Empty(statement.Columns);
    }

    [Theory]
    // lower_case_table_names=0 (Linux's default): aliases and table names compare exactly; an alias that differs from a
    // table's name only in case does not hide the table (MariaDB 10.11: the first deletes from t, the second updates t).
    [InlineData("DELETE t FROM u AS T, t WHERE t.id = T.id", "t")]
    [InlineData("UPDATE t, u AS T SET t.v = 1 WHERE t.id = T.id", "t")]
    [InlineData("UPDATE t AS x, u AS X SET X.v = 1 WHERE x.id = X.id", "u")]
    [InlineData("DELETE T FROM u AS T, t WHERE t.id = T.id", "u")]
    // lower_case_table_names=1 or 2: no name in the same case, any equal ignoring case (more tables, never fewer).
    [InlineData("DELETE A FROM t AS a JOIN u ON a.id = u.id", "t")]
    [InlineData("UPDATE t, u SET T.v = 1", "t")]
    public void An_alias_or_a_table_name_in_the_same_case_comes_first(string sql, string tables)
    {
        var statement = Assert.IsType<LoggedRowChangeStatement>(DdlParser.Parse(sql));
        Assert.Equal(tables.Split(','), statement.Tables!.Select(t => t.Database is null ? t.Name : $"{t.Database}.{t.Name}"));
    }

    [Fact]
    public void A_multi_table_UPDATE_of_columns_without_their_table_names_the_columns_and_the_tables_they_may_be_of()
    {
        var statement = Assert.IsType<LoggedRowChangeStatement>(DdlParser.Parse("UPDATE u, db.t AS a, (SELECT 1 AS k) d SET v = 1, a.w = 2, `x` = 3 WHERE u.id = a.id"));
        Assert.Equal([new TableName("db", "t")], statement.Tables);
        Assert.Equal(["v", "x"], statement.Columns);
        Assert.Equal([new TableName(null, "u"), new TableName("db", "t")], statement.ColumnTables);
    }

    [Theory]
    [InlineData("DELETE x FROM t WHERE id = 1")]
    [InlineData("DELETE d FROM t JOIN (SELECT 1 AS id) AS d USING (id)")]
    [InlineData("DELETE FROM t, u WHERE id = 1")]
    [InlineData("UPDATE t JOIN u ON t.id = u.id SET q.v = 1")]
    [InlineData("UPDATE t AS a SET t.v = 1")]
    [InlineData("UPDATE t JOIN u ON t.id = u.id WINDOW w AS () SET v = 1")]
    [InlineData("INSERT INTO")]
    [InlineData("WITH x AS (SELECT 1) SELECT f() FROM x")]
    [InlineData("WITH x SELECT 1")]
    [InlineData("DELETE")]
    public void A_row_change_whose_tables_cannot_be_read_has_none_so_that_the_source_stops(string sql)
    {
        var statement = Assert.IsType<LoggedRowChangeStatement>(DdlParser.Parse(sql));
        Assert.Null(statement.Tables);
    }

    [Theory]
    [InlineData("/* app=shop */ UPDATE t SET v = 1", true)]
    [InlineData("-- trace\n# more\n  /* x */ DELETE FROM t", true)]
    [InlineData("/* a */ /* b */ WITH x AS (SELECT 1) UPDATE t SET v = 1", true)]
    [InlineData("/* a */ INSERT INTO t VALUES (1)", true)]
    [InlineData("/* a */ ALTER TABLE t ADD c INT", false)]
    [InlineData("/*!40000 ALTER TABLE t DISABLE KEYS */", false)]
    [InlineData("CREATE TABLE t (id INT) /* UPDATE */", false)]
    public void A_statement_after_comments_is_a_row_change_that_stays_inside_its_transaction(string sql, bool inside)
    {
        Assert.Equal(inside, DataMesh.Connectors.MySql.Binlog.BinlogProcessor.IsInsideTransaction(sql));
    }

    [Fact]
    public void LOAD_INDEX_is_not_a_row_change()
    {
        Assert.IsType<IgnoredStatement>(DdlParser.Parse("LOAD INDEX INTO CACHE t"));
    }

    private static SchemaTracker Tracker(string create)
    {
        var schema = new SchemaTracker();
        schema.SetDatabaseCharset("shop", "utf8mb4");
        schema.Apply(DdlParser.Parse(create), "shop");
        return schema;
    }
}
