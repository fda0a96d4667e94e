using DataMesh.Avro;
using DataMesh.Events;
using DataMesh.Sources;
using Xunit;

namespace DataMesh.Tests.Sources;

/// <summary>The runtime's one envelope writer: keys from the before image, key changes, keyless partitioning, missing
/// values, and the rewind of a change that failed half-way.</summary>
public sealed class SourceContextTests
{
    private static readonly SourceDescription Source = new("test", "src", [new SourceField("pos", SourceFieldType.Long)]);

    private static readonly TableDescription Keyed = new("public", "t",
        [new("id", DataType.Of(DataTypeKind.Int32, "int"), false), new("body", DataType.Of(DataTypeKind.String, "text"), true), new("n", DataType.Of(DataTypeKind.Int64, "bigint"), true)], ["id"]);

    private static readonly TableDescription Keyless = new("public", "log",
        [new("msg", DataType.Of(DataTypeKind.String, "text"), true)], []);

    [Fact]
    public void An_update_that_changes_the_key_becomes_delete_tombstone_and_create()
    {
        var (context, table) = Context(Keyed);
        context.Update(table, new Row([4, "a", 1L]), true, new Row([40, "a", 1L]), new Block(7));
        var records = context.TakeEncoded();
        Assert.Equal(3, records.Count);
        Assert.Equal(ChangeOperation.Delete, records[0].Operation);
        Assert.Equal(4, Key(table, records[0].Key!));
        Assert.Null(records[1].Value);
        Assert.Equal(4, Key(table, records[1].Key!));
        Assert.Equal(ChangeOperation.Create, records[2].Operation);
        Assert.Equal(40, Key(table, records[2].Key!));
        var envelope = Envelope(table, records[2].Value!);
        Assert.Null(envelope["before"]);
        Assert.Equal("c", envelope["op"]);
    }

    [Fact]
    public void An_update_and_a_delete_are_keyed_by_their_before_image()
    {
        var (context, table) = Context(Keyed);
        // A key-only before image (PostgreSQL's REPLICA IDENTITY DEFAULT, MySQL's MINIMAL): keys the change, no before in the envelope.
        context.Update(table, new Row([4, Row.Missing, Row.Missing]), true, new Row([4, "b", 2L]), new Block(1));
        context.Delete(table, new Row([5, Row.Missing, Row.Missing]), new Block(2));
        var records = context.TakeEncoded();
        Assert.Equal(3, records.Count);
        Assert.Equal(ChangeOperation.Update, records[0].Operation);
        Assert.Equal(4, Key(table, records[0].Key!));
        Assert.Null(Envelope(table, records[0].Value!)["before"]);
        Assert.Equal(5, Key(table, records[1].Key!));
        Assert.Null(Envelope(table, records[1].Value!)["before"]);
        Assert.Null(records[2].Value);
        Assert.All(records, r => Assert.Null(r.Partition));
    }

    [Fact]
    public void Events_of_a_keyless_table_and_truncates_go_to_partition_0_with_no_key()
    {
        var (context, table) = Context(Keyless);
        for (var i = 0; i < 5; i++)
        {
            context.Insert(table, new Row(["m" + i]), new Block(i));
        }

        context.Delete(table, new Row(["m0"]), new Block(9));
        context.Truncate(table, new Block(10));
        var records = context.TakeEncoded();
        Assert.Equal(7, records.Count); // no tombstone without a key
        Assert.All(records, r => Assert.Equal(0, r.Partition));
        Assert.All(records, r => Assert.Null(r.Key));
        Assert.Equal("t", Envelope(table, records[^1].Value!)["op"]);
    }

    [Fact]
    public void A_value_missing_from_the_after_image_comes_from_the_before_image_then_the_placeholder_then_an_error()
    {
        var (context, table) = Context(Keyed, MissingValuePolicy.Placeholder);
        context.Update(table, new Row([1, "old body", 1L]), true, new Row([1, Row.Missing, 2L]), new Block(1));
        context.Update(table, new Row([1, Row.Missing, Row.Missing]), true, new Row([1, Row.Missing, 3L]), new Block(2));
        var records = context.TakeEncoded();
        Assert.Equal("old body", ((global::Avro.Generic.GenericRecord)Envelope(table, records[0].Value!)["after"]!)["body"]);
        Assert.Equal(ChangeEventOptions.DefaultUnavailableValuePlaceholder, ((global::Avro.Generic.GenericRecord)Envelope(table, records[1].Value!)["after"]!)["body"]);

        // A bigint has no placeholder form: the change is refused naming the column, and nothing of it is left behind.
        context.Insert(table, new Row([7, "kept", 1L]), new Block(3));
        var ex = Assert.Throws<SourceValueException>(() => context.Update(table, new Row([1, Row.Missing, Row.Missing]), true, new Row([1, "x", Row.Missing]), new Block(4)));
        Assert.Contains("column 'n' (bigint)", ex.Message, StringComparison.Ordinal);
        Assert.Single(context.TakeEncoded());
    }

    [Fact]
    public void A_null_in_a_not_null_column_is_refused_naming_it()
    {
        var (context, table) = Context(Keyed);
        var ex = Assert.Throws<SourceNullValueException>(() => context.Insert(table, new Row([null, "x", 1L]), new Block(1)));
        Assert.Equal("id", ex.Column);
        Assert.False(context.HasPending);
    }

    private static (SourceContext<string> Context, SourceTable Table) Context(TableDescription description, MissingValuePolicy missing = MissingValuePolicy.Fail)
    {
        var context = new EncodingHost(Source, new ChangeEventOptions()) { FixedIds = (1, 2) }.Context<string>();
        return (context, context.Table(new SourceTableInfo(description, "db", description.Schema) { MissingValues = missing }));
    }

    private static object Key(SourceTable table, byte[] key)
    {
        var record = (global::Avro.Generic.GenericRecord)Decode(table.Schemas.KeySchema!, key);
        return record["id"];
    }

    private static global::Avro.Generic.GenericRecord Envelope(SourceTable table, byte[] value) =>
        (global::Avro.Generic.GenericRecord)Decode(table.Schemas.EnvelopeSchema, value);

    private static object Decode(global::Avro.Schema schema, byte[] framed)
    {
        var reader = new global::Avro.Generic.GenericDatumReader<object>(schema, schema);
        using var stream = new MemoryStream(framed, 5, framed.Length - 5);
        return reader.Read(null!, new global::Avro.IO.BinaryDecoder(stream));
    }

    /// <summary>A row of .NET values; <see cref="Missing"/> stands for a column the log did not carry.</summary>
    private readonly struct Row(object?[] values) : IRowImage
    {
        public static readonly object Missing = new();

        public ColumnValueState State(int column) => values[column] switch
        {
            null => ColumnValueState.Null,
            var v when ReferenceEquals(v, Missing) => ColumnValueState.Missing,
            _ => ColumnValueState.Value,
        };

        public void WriteValue(ref AvroWriter writer, int column)
        {
            switch (values[column])
            {
                case int i: writer.WriteInt(i); break;
                case long l: writer.WriteLong(l); break;
                case string s: writer.WriteString(s); break;
                default: throw new FormatException("unexpected value");
            }
        }
    }

    private readonly struct Block(long position) : ISourceBlock
    {
        public long CommitTimestampMs => 1_700_000_000_000;

        public long? TransactionId => 5;

        public void WritePositionFields(ref AvroWriter writer) => writer.WriteLong(position);
    }
}
