using DataMesh.Events;
using Xunit;

namespace DataMesh.Tests.Events;

public sealed class ChangeEventSchemasTests
{
    private static readonly SourceDescription Source = new("postgresql", "shop", [new SourceField("lsn", SourceFieldType.NullableLong)]);

    private delegate void WriteValue(ref DataMesh.Avro.AvroWriter writer);

    private static ColumnDescription Col(string name, DataTypeKind kind, bool nullable = true) => new(name, DataType.Of(kind, kind.ToString().ToLowerInvariant()), nullable);

    [Fact]
    public void Every_kind_yields_a_schema_Apache_Avro_parses_with_the_documented_type()
    {
        var columns = new List<ColumnDescription>();
        foreach (var kind in Enum.GetValues<DataTypeKind>())
        {
            var type = kind switch
            {
                DataTypeKind.Decimal => DataType.DecimalOf(12, 3, "numeric(12,3)"),
                DataTypeKind.Array => DataType.ArrayOf(DataType.Of(DataTypeKind.Int32, "int4"), "int4[]"),
                _ => DataType.Of(kind, kind.ToString()),
            };
            columns.Add(new ColumnDescription("c_" + kind, type, IsNullable: kind != DataTypeKind.Int64));
        }

        // Named types used twice must be defined once and referenced after.
        columns.Add(new ColumnDescription("c_Geometry2", DataType.Of(DataTypeKind.Geometry, "point"), true));
        columns.Add(new ColumnDescription("c_VariableDecimal2", DataType.Of(DataTypeKind.VariableDecimal, "numeric"), false));
        var table = new TableDescription("public", "everything", columns, ["c_Int64"]);

        var schemas = ChangeEventSchemas.Build(table, Source);

        var row = schemas.RowSchema;
        Assert.Equal(columns.Count, row.Fields.Count);
        Assert.Equal("""{"type":"bytes","logicalType":"decimal","precision":12,"scale":3}""", Branch(row, "c_Decimal").ToString());
        Assert.Equal("""{"type":"bytes","logicalType":"decimal","precision":20,"scale":0}""", Branch(row, "c_UInt64").ToString());
        Assert.Equal("uuid", ((global::Avro.LogicalSchema)Branch(row, "c_Uuid")).LogicalTypeName);
        Assert.Equal("date", ((global::Avro.LogicalSchema)Branch(row, "c_Date")).LogicalTypeName);
        Assert.Equal("time-micros", ((global::Avro.LogicalSchema)Branch(row, "c_Time")).LogicalTypeName);
        Assert.Equal("timestamp-micros", ((global::Avro.LogicalSchema)Branch(row, "c_Timestamp")).LogicalTypeName);
        Assert.Equal("local-timestamp-micros", ((global::Avro.LogicalSchema)Branch(row, "c_LocalTimestamp")).LogicalTypeName);
        Assert.Equal(global::Avro.Schema.Type.Long, row["c_Int64"].Schema.Tag);
        Assert.Equal("json", Branch(row, "c_Json").GetProperty("dm.type").Trim('"'));
        Assert.Equal("io.datamesh.data.Geometry", ((global::Avro.RecordSchema)Branch(row, "c_Geometry")).Fullname);
        Assert.Same(Branch(row, "c_Geometry"), Branch(row, "c_Geometry2"));
        var array = (global::Avro.ArraySchema)Branch(row, "c_Array");
        Assert.Equal(global::Avro.Schema.Type.Union, array.ItemSchema.Tag);
        Assert.Equal("numeric(12,3)", row["c_Decimal"].GetProperty("dm.dbtype").Trim('"'));

        Assert.NotNull(schemas.KeySchema);
        Assert.Equal(["c_Int64"], schemas.KeySchema!.Fields.Select(f => f.Name));
    }

    [Theory]
    [InlineData(DecimalHandling.Precise)]
    [InlineData(DecimalHandling.String)]
    public void A_not_null_columns_default_is_its_fields_avro_default_in_the_fields_type_and_a_nullable_ones_stays_null(DecimalHandling decimals)
    {
        static ColumnDefault Encoded(WriteValue write)
        {
            var buffer = new System.Buffers.ArrayBufferWriter<byte>();
            var writer = new DataMesh.Avro.AvroWriter(buffer);
            write(ref writer);
            writer.Flush();
            return new ColumnDefault(buffer.WrittenSpan);
        }

        var columns = new List<ColumnDescription>
        {
            Col("id", DataTypeKind.Int64, false) with { Default = Encoded((ref DataMesh.Avro.AvroWriter w) => w.WriteLong(42)) },
            Col("i", DataTypeKind.Int32, false) with { Default = Encoded((ref DataMesh.Avro.AvroWriter w) => w.WriteInt(-7)) },
            Col("s", DataTypeKind.String, false) with { Default = Encoded((ref DataMesh.Avro.AvroWriter w) => w.WriteString("a \"b\" é")) },
            new ColumnDescription("n", DataType.DecimalOf(10, 2, "numeric(10,2)"), false) { Default = Encoded((ref DataMesh.Avro.AvroWriter w) => w.WriteDecimal(-0.05m, 10, 2)) },
            Col("b", DataTypeKind.Bytes, false) with { Default = Encoded((ref DataMesh.Avro.AvroWriter w) => w.WriteBytes([0, 0xFF])) },
            Col("f", DataTypeKind.Float64, false) with { Default = Encoded((ref DataMesh.Avro.AvroWriter w) => w.WriteDouble(double.NaN)) },
            Col("nullable", DataTypeKind.Int32) with { Default = Encoded((ref DataMesh.Avro.AvroWriter w) => w.WriteInt(3)) },
        };
        var schemas = ChangeEventSchemas.Build(new TableDescription("public", "t", columns, ["id"]), Source, new ChangeEventOptions { DecimalHandling = decimals });

        var row = schemas.RowSchema;
        Assert.Equal("42", row["id"].DefaultValue.ToString());
        Assert.Null(schemas.KeySchema!["id"].DefaultValue); // never in a key: its bytes would change with the schema
        Assert.Equal("-7", row["i"].DefaultValue.ToString());
        Assert.Equal("a \"b\" é", (string?)row["s"].DefaultValue);
        Assert.Equal(decimals == DecimalHandling.Precise ? "\u00fb" : "-0.05", (string?)row["n"].DefaultValue);
        Assert.Equal("\u0000\u00ff", (string?)row["b"].DefaultValue);
        Assert.Null(row["f"].DefaultValue); // NaN has no JSON form
        Assert.Equal(global::Newtonsoft.Json.Linq.JTokenType.Null, row["nullable"].DefaultValue.Type);

        var wrong = columns.ToList();
        wrong[1] = wrong[1] with { Default = Encoded((ref DataMesh.Avro.AvroWriter w) => w.WriteString("not an int")) };
        var error = Assert.Throws<ArgumentException>(() => ChangeEventSchemas.Build(new TableDescription("public", "t", wrong, ["id"]), Source));
        Assert.Contains("column 'i'", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Envelope_has_the_Debezium_shape()
    {
        var table = new TableDescription("public", "orders", [Col("id", DataTypeKind.Int64, false), Col("note", DataTypeKind.String)], ["id"]);
        var schemas = ChangeEventSchemas.Build(table, Source, new ChangeEventOptions { TopicPrefix = "dm" });

        Assert.Equal("dm.shop.public.orders", schemas.Topic);
        Assert.Equal("dm.shop.public.orders-key", schemas.KeySubject);
        Assert.Equal("dm.shop.public.orders-value", schemas.ValueSubject);
        var envelope = schemas.EnvelopeSchema;
        Assert.Equal("dm.shop.public.orders.Envelope", envelope.Fullname);
        Assert.Equal(["before", "after", "source", "op", "ts_ms"], envelope.Fields.Select(f => f.Name));
        var before = (global::Avro.UnionSchema)envelope["before"].Schema;
        var after = (global::Avro.UnionSchema)envelope["after"].Schema;
        Assert.Equal("dm.shop.public.orders.Value", before.Schemas[1].Fullname);
        Assert.Same(before.Schemas[1], after.Schemas[1]);
        var source = (global::Avro.RecordSchema)envelope["source"].Schema;
        Assert.Equal("io.datamesh.connector.postgresql.Source", source.Fullname);
        Assert.Equal(["version", "connector", "name", "ts_ms", "snapshot", "db", "schema", "table", "txId", "lsn"], source.Fields.Select(f => f.Name));
        Assert.Equal(global::Avro.Schema.Type.String, envelope["op"].Schema.Tag);
    }

    [Theory]
    [InlineData("order-id", "order_id")]
    [InlineData("1st", "_1st")]
    [InlineData("größe", "gr__e")]
    [InlineData("", "_")]
    [InlineData("a b.c", "a_b_c")]
    [InlineData("emoji😀", "emoji_")]
    public void Invalid_column_names_become_valid_Avro_names_and_come_back(string column, string expected)
    {
        var table = new TableDescription("public", "t", [Col("id", DataTypeKind.Int32, false), Col(column, DataTypeKind.String)], ["id"]);
        var schemas = ChangeEventSchemas.Build(table, Source);

        var field = schemas.RowSchema.Fields[1];
        Assert.Equal(expected, field.Name);
        Assert.True(AvroNames.IsValid(field.Name));
        Assert.Equal(column, AvroNames.OriginalName(field));
        // The names survive a round trip through the schema's JSON, as a consumer would receive it.
        var reparsed = (global::Avro.RecordSchema)global::Avro.Schema.Parse(schemas.EnvelopeSchema.ToString());
        var row = (global::Avro.RecordSchema)((global::Avro.UnionSchema)reparsed["after"].Schema).Schemas[1];
        Assert.Equal(column, AvroNames.OriginalName(row.Fields[1]));
    }

    [Theory]
    [InlineData("type")]
    [InlineData("record")]
    [InlineData("namespace")]
    [InlineData("null")]
    [InlineData("_x")]
    public void Reserved_words_stay_as_they_are(string column)
    {
        var table = new TableDescription("public", "t", [Col("id", DataTypeKind.Int32, false), Col(column, DataTypeKind.String)], ["id"]);
        var field = ChangeEventSchemas.Build(table, Source).RowSchema.Fields[1];
        Assert.Equal(column, field.Name);
        Assert.Null(field.GetProperty(AvroNames.OriginalNameProperty));
    }

    [Fact]
    public void Clashing_rewritten_names_get_distinct_suffixes()
    {
        var table = new TableDescription("public", "t", [Col("a-b", DataTypeKind.String), Col("a_b", DataTypeKind.String), Col("a b", DataTypeKind.String)], []);
        var schemas = ChangeEventSchemas.Build(table, Source);
        Assert.Equal(["a_b_2", "a_b", "a_b_3"], schemas.FieldNames);
        Assert.Equal(["a-b", "a_b", "a b"], schemas.RowSchema.Fields.Select(AvroNames.OriginalName));
        Assert.Null(schemas.KeySchema);
    }

    [Fact]
    public void Decimal_handling_string_turns_decimals_into_marked_strings()
    {
        var table = new TableDescription("public", "t", [new("n", DataType.DecimalOf(5, 2, "numeric(5,2)"), false), new("v", DataType.Of(DataTypeKind.VariableDecimal, "numeric"), false)], []);
        var schemas = ChangeEventSchemas.Build(table, Source, new ChangeEventOptions { DecimalHandling = DecimalHandling.String });
        Assert.All(schemas.RowSchema.Fields, f =>
        {
            Assert.Equal(global::Avro.Schema.Type.String, f.Schema.Tag);
            Assert.Equal("\"decimal\"", f.Schema.GetProperty("dm.type"));
        });
    }

    [Theory]
    [InlineData("dm", "shop", "public", "orders", "dm.shop.public.orders")]
    [InlineData("", "shop", "inventory", "items", "shop.inventory.items")]
    [InlineData("prod.cdc", "pg-1", "public", "order_items", "prod.cdc.pg-1.public.order_items")]
    public void Topics_follow_the_contract(string prefix, string source, string schema, string table, string expected)
    {
        Assert.Equal(expected, TopicNames.ForTable(prefix, source, schema, table));
    }

    [Fact]
    public void Topic_parts_with_illegal_characters_stay_distinct_and_legal()
    {
        var spaced = TopicNames.ForTable("dm", "shop", "public", "order items");
        var dotted = TopicNames.ForTable("dm", "shop", "public", "order.items");
        var plain = TopicNames.ForTable("dm", "shop", "public", "order_items");
        Assert.StartsWith("dm.shop.public.order_items_", spaced);
        Assert.Equal(4, dotted.Split('.').Length);
        Assert.Equal(3, new[] { spaced, dotted, plain }.Distinct().Count());
        Assert.All(new[] { spaced, dotted, plain }, t => Assert.True(TopicNames.IsValid(t, out _)));
        Assert.Equal(spaced, TopicNames.ForTable("dm", "shop", "public", "order items"));

        var longName = TopicNames.ForTable("dm", "shop", "public", new string('t', 400));
        Assert.Equal(TopicNames.MaxLength, longName.Length);
        Assert.True(TopicNames.IsValid(longName, out _));
    }

    [Theory]
    [InlineData("", "a topic name cannot be empty")]
    [InlineData("a/b", "character '/' at index 1")]
    [InlineData("..", "'..' is not a valid topic name")]
    public void Invalid_topic_names_say_why(string topic, string reason)
    {
        Assert.False(TopicNames.IsValid(topic, out var why));
        Assert.Contains(reason, why, StringComparison.Ordinal);
    }

    [Fact]
    public void Bad_descriptions_and_settings_are_refused_with_the_name()
    {
        var ex = Assert.Throws<ArgumentException>(() => new TableDescription("public", "t", [Col("a", DataTypeKind.String), Col("a", DataTypeKind.String)], []));
        Assert.Contains("column 'a' twice", ex.Message, StringComparison.Ordinal);
        ex = Assert.Throws<ArgumentException>(() => new TableDescription("public", "t", [Col("a", DataTypeKind.String)], ["id"]));
        Assert.Contains("Key column 'id'", ex.Message, StringComparison.Ordinal);
        var table = new TableDescription("public", "t", [Col("a", DataTypeKind.String)], []);
        ex = Assert.Throws<ArgumentException>(() => ChangeEventSchemas.Build(table, Source, new ChangeEventOptions { TopicPrefix = "bad prefix" }));
        Assert.Contains("TopicPrefix", ex.Message, StringComparison.Ordinal);
        ex = Assert.Throws<ArgumentException>(() => ChangeEventSchemas.Build(table, Source with { PositionFields = [new SourceField("table", SourceFieldType.String)] }));
        Assert.Contains("'table'", ex.Message, StringComparison.Ordinal);
        Assert.Throws<ArgumentOutOfRangeException>(() => DataType.DecimalOf(5, 6, "numeric(5,6)"));
        Assert.Throws<ArgumentException>(() => DataType.ArrayOf(DataType.ArrayOf(DataType.Of(DataTypeKind.Int32, "int4"), "int4[]"), "int4[][]"));
    }

    [Fact]
    public void Operations_have_their_one_letter_codes()
    {
        Assert.Equal(["c", "u", "d", "r", "t"], Enum.GetValues<ChangeOperation>().Select(o => o.ToCode()));
        Assert.All(Enum.GetValues<ChangeOperation>(), o => Assert.Equal(o, ChangeOperations.Parse(o.ToCode())));
        Assert.Throws<FormatException>(() => ChangeOperations.Parse("x"));
    }

    private static global::Avro.Schema Branch(global::Avro.RecordSchema record, string field)
    {
        var schema = record[field].Schema;
        return schema is global::Avro.UnionSchema union ? union.Schemas[1] : schema;
    }
}
