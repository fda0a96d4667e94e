using DataMesh.Connectors.MySql.Schema;
using Xunit;

namespace DataMesh.Tests.MySql;

/// <summary>TRUNCATE TABLE: which tracked table a statement names, and the bytes of its envelope.</summary>
public sealed class TruncateTests
{
    internal static MySqlTable Table(string database, string name) => new()
    {
        Database = database,
        Name = name,
        Columns = [DdlParser.ParseColumnType("id", "int")],
        PrimaryKey = ["id"],
    };

    [Fact]
    public void A_truncate_names_a_table_exactly_then_ignoring_case_when_unique()
    {
        var schema = new SchemaTracker();
        schema.Reset([Table("shop", "orders"), Table("shop", "Lines"), Table("shop", "lines"), Table("Other", "T")], new Dictionary<string, string>());

        Assert.Same(schema.Find("shop", "orders"), schema.Resolve(Parse("TRUNCATE TABLE orders"), "shop"));
        Assert.Same(schema.Find("shop", "orders"), schema.Resolve(Parse("truncate `shop`.`orders`"), "elsewhere"));
        Assert.Same(schema.Find("shop", "orders"), schema.Resolve(Parse("TRUNCATE SHOP.Orders"), null));
        Assert.Same(schema.Find("Other", "T"), schema.Resolve(Parse("TRUNCATE other.t"), null));
        Assert.Same(schema.Find("shop", "Lines"), schema.Resolve(Parse("TRUNCATE Lines"), "shop"));
        Assert.Null(schema.Resolve(Parse("TRUNCATE LINES"), "shop")); // two tables differ only by case: not guessed
        Assert.Null(schema.Resolve(Parse("TRUNCATE orders"), null));
        Assert.Null(schema.Resolve(Parse("TRUNCATE TABLE other.orders"), "shop"));
    }

    private static TableName Parse(string sql) => ((TruncateTableStatement)DdlParser.Parse(sql)).Table;
}
