using System.Buffers;
using System.Text;
using DataMesh.Connectors.MySql.Binlog;
using DataMesh.Connectors.MySql.Schema;
using DataMesh.Events;
using Xunit;

namespace DataMesh.Tests.MySql;

/// <summary>TRUNCATE TABLE: which tracked table a statement names, and the bytes of its envelope.</summary>
public sealed class TruncateTests
{
    private static MySqlTable Table(string database, string name) => new()
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

    [Fact]
    public void The_truncate_envelope_equals_the_object_path_encoders_bytes()
    {
        var schemas = ChangeEventSchemas.Build(Table("shop", "orders").ToDescription(), MySqlSourceFields.Describe("src"), new ChangeEventOptions());
        var transaction = new TransactionState
        {
            Gtid = "0-1-42",
            GtidUtf8 = Encoding.ASCII.GetBytes("0-1-42"),
            Sequence = 42,
            ServerId = 1,
            ThreadId = 7,
            TimestampMs = 1_700_000_000_000,
        };
        var ours = new ArrayBufferWriter<byte>();
        new EnvelopeWriter(schemas, new RowEncoder(DecimalHandling.Precise)).WriteTruncate(ours, 8, transaction, "mariadb-bin.000004", 1234, 1_700_000_000_123);

        var reference = new ArrayBufferWriter<byte>();
        var source = new SourceValues
        {
            TimestampMs = transaction.TimestampMs,
            Snapshot = "false",
            Database = "shop",
            Table = "orders",
            TransactionId = 42,
            Position = ["mariadb-bin.000004", 1234L, 0L, 1L, "0-1-42", 7L, null, null, null],
        };
        new ChangeEventEncoder(schemas, 7, 8).WriteValue(reference, ChangeOperation.Truncate, null, null, source, 1_700_000_000_123);
        Assert.Equal(reference.WrittenSpan.ToArray(), ours.WrittenSpan.ToArray());
    }

    private static TableName Parse(string sql) => ((TruncateTableStatement)DdlParser.Parse(sql)).Table;
}
