using DataMesh.Avro;
using DataMesh.Events;
using DataMesh.Pipelines.Transforms;
using Xunit;

namespace DataMesh.Tests.Pipelines;

public sealed class FieldRangeFinderTests
{
    private static readonly TableDescription Wide = new("public", "wide",
    [
        new("id", DataType.Of(DataTypeKind.Int64, "bigint"), false),
        new("flag", DataType.Of(DataTypeKind.Boolean, "boolean"), true),
        new("ratio", DataType.Of(DataTypeKind.Float32, "real"), true),
        new("price", DataType.DecimalOf(40, 10, "numeric(40,10)"), true),
        new("free", DataType.Of(DataTypeKind.VariableDecimal, "numeric"), true),
        new("uid", DataType.Of(DataTypeKind.Uuid, "uuid"), true),
        new("shape", DataType.Of(DataTypeKind.Geometry, "point"), true),
        new("tags", DataType.ArrayOf(DataType.Of(DataTypeKind.String, "text"), "text[]"), true),
        new("day", DataType.Of(DataTypeKind.Date, "date"), true),
    ], ["id"]);

    [Fact]
    public void Finds_the_ranges_Avro_schema_plans_find()
    {
        var schemas = ChangeEventSchemas.Build(Wide, PipelineTestData.Source);
        object?[] row = [1L, true, 1.5f, 12.5m, 3.25m, Guid.NewGuid(), new GeometryValue(new byte[] { 1, 2 }, 4326), new[] { "a", null, "b" }, new DateOnly(2026, 1, 1)];
        object?[] nulls = [2L, null, null, null, null, null, null, null, null];
        var envelope = PipelineTestData.Envelope(ChangeOperation.Update, nulls, row, schemas);
        var plan = AvroSchemaPlan.Compile(schemas.EnvelopeSchema);
        var finder = new FieldRangeFinder(schemas.EnvelopeSchema);
        var expected = new Range[plan.FieldCount];
        var actual = new Range[finder.FieldCount];

        var planLength = plan.GetFieldRanges(envelope, expected);
        var finderLength = finder.GetFieldRanges(envelope, actual);

        Assert.Equal(planLength, finderLength);
        Assert.Equal(expected, actual);
    }

    [Fact]
    public void Malformed_bytes_fail_with_the_schema_plans_error()
    {
        var schemas = PipelineTestData.SchemasOf();
        var envelope = PipelineTestData.Envelope(ChangeOperation.Create, null, PipelineTestData.Row(1), schemas);
        var finder = new FieldRangeFinder(schemas.EnvelopeSchema);

        var e = Assert.Throws<AvroFormatException>(() => finder.GetFieldRanges(envelope.AsSpan(0, envelope.Length - 3), new Range[finder.FieldCount]));

        Assert.NotEqual(string.Empty, e.FieldPath);
    }

    [Fact]
    public void Row_transforms_keep_named_types_defined_once_in_the_derived_schema()
    {
        var table = new TableDescription("public", "twice",
        [
            new("id", DataType.Of(DataTypeKind.Int64, "bigint"), false),
            new("a", DataType.Of(DataTypeKind.VariableDecimal, "numeric"), true),
            new("b", DataType.Of(DataTypeKind.VariableDecimal, "numeric"), true),
            new("shape", DataType.Of(DataTypeKind.Geometry, "point"), true),
        ], ["id"]);
        var schemas = ChangeEventSchemas.Build(table, PipelineTestData.Source);
        var input = PipelineTestData.Envelope(ChangeOperation.Update, [1L, 1.5m, null, null], [1L, 2.5m, 3.5m, new GeometryValue(new byte[] { 1 }, null)], schemas, "twice");

        // Dropping "a" leaves "b", whose type was a reference to the definition in "a".
        var chain = new TransformChain([Transform.Drop("a"), Transform.Rename(("b", "bee"))]).Plan(schemas.EnvelopeSchema);
        var (_, record, _) = PipelineTestData.Run(chain, input);

        var after = PipelineTestData.After(record!);
        Assert.Equal(["id", "bee", "shape"], after.Schema.Fields.Select(f => f.Name));
        var bee = (global::Avro.Generic.GenericRecord)after["bee"];
        Assert.Equal(1, bee["scale"]);
        Assert.Equal(new byte[] { 35 }, bee["value"]);
        Assert.Null(((global::Avro.Generic.GenericRecord)record!["before"])["bee"]);
    }
}

public sealed class FieldRangeFinderFastPathTests
{
    private static readonly global::Avro.RecordSchema Schema = (global::Avro.RecordSchema)global::Avro.Schema.Parse("""
        {"type":"record","name":"R","fields":[
          {"name":"l","type":"long"},
          {"name":"nl","type":["null","long"]},
          {"name":"ln","type":["long","null"]},
          {"name":"s","type":"string"},
          {"name":"ns","type":["null","string"]},
          {"name":"sn","type":["string","null"]},
          {"name":"b","type":"boolean"},
          {"name":"nd","type":["null","double"]},
          {"name":"f","type":"float"},
          {"name":"inner","type":["null",{"type":"record","name":"I","fields":[{"name":"x","type":"int"},{"name":"y","type":["null","bytes"]}]}]},
          {"name":"e","type":{"type":"enum","name":"E","symbols":["A","B"]}},
          {"name":"last","type":"long"}
        ]}
        """);

    [Fact]
    public void Random_records_get_the_ranges_Avro_schema_plans_find()
    {
        var random = new Random(1234);
        var plan = AvroSchemaPlan.Compile(Schema);
        var finder = new FieldRangeFinder(Schema);
        for (var n = 0; n < 2000; n++)
        {
            var bytes = Encode(random, canonical: n % 3 != 0);
            var expected = new Range[plan.FieldCount];
            var actual = new Range[finder.FieldCount];
            Assert.Equal(plan.GetFieldRanges(bytes, expected), finder.GetFieldRanges(bytes, actual));
            Assert.Equal(expected, actual);

            // Every leading count, and every truncation, behave like the schema plan.
            for (var count = 0; count <= finder.FieldCount; count++)
            {
                Assert.Equal(count == 0 ? 0 : expected[count - 1].End.Value, finder.GetFieldRanges(bytes, actual, count));
            }

            var cut = random.Next(bytes.Length);
            Assert.Throws<AvroFormatException>(() => plan.GetFieldRanges(bytes.AsSpan(0, cut), expected));
            Assert.Throws<AvroFormatException>(() => finder.GetFieldRanges(bytes.AsSpan(0, cut), actual));
        }
    }

    [Fact]
    public void Bad_union_indexes_and_negative_lengths_are_malformed()
    {
        var finder = new FieldRangeFinder(Schema);
        var good = Encode(new Random(7), canonical: true);

        // Field "nl" starts at the first varint's end; index 3 (zig-zag 6) is no branch.
        var first = 0;
        while (good[first] >= 0x80)
        {
            first++;
        }

        var badIndex = (byte[])good.Clone();
        badIndex[first + 1] = 6;
        Assert.Throws<AvroFormatException>(() => finder.GetFieldRanges(badIndex, new Range[finder.FieldCount]));

        // A string of length -1 (zig-zag 1).
        var schema = (global::Avro.RecordSchema)global::Avro.Schema.Parse("""{"type":"record","name":"S","fields":[{"name":"s","type":"string"}]}""");
        Assert.Throws<AvroFormatException>(() => new FieldRangeFinder(schema).GetFieldRanges(new byte[] { 1, 0, 0 }, new Range[1]));

        // An 11-byte varint.
        var longSchema = (global::Avro.RecordSchema)global::Avro.Schema.Parse("""{"type":"record","name":"L","fields":[{"name":"l","type":"long"}]}""");
        var eleven = Enumerable.Repeat((byte)0x80, 10).Append((byte)0).Concat(new byte[8]).ToArray();
        Assert.Throws<AvroFormatException>(() => new FieldRangeFinder(longSchema).GetFieldRanges(eleven, new Range[1]));
        var ten = Enumerable.Repeat((byte)0x80, 9).Append((byte)1).Concat(new byte[8]).ToArray();
        Assert.Equal(10, new FieldRangeFinder(longSchema).GetFieldRanges(ten, new Range[1]));
    }

    /// <summary>Encodes a random record of <see cref="Schema"/>; union indexes are written non-canonically (two bytes) unless <paramref name="canonical"/>.</summary>
    private static byte[] Encode(Random random, bool canonical)
    {
        var output = new System.Buffers.ArrayBufferWriter<byte>();
        var writer = new AvroWriter(output);
        void Index(ref AvroWriter w, int index)
        {
            if (canonical || random.Next(2) == 0)
            {
                w.WriteUnionIndex(index);
            }
            else
            {
                w.WriteRaw([(byte)((index << 1) | 0x80), 0]);
            }
        }

        long RandomLong() => random.Next(4) switch
        {
            0 => random.Next(-64, 64),
            1 => random.NextInt64(),
            2 => random.NextInt64() >> random.Next(64),
            _ => -random.NextInt64(),
        };

        string RandomString() => new('x', random.Next(4) == 0 ? random.Next(64, 300) : random.Next(0, 70));

        writer.WriteLong(RandomLong());
        if (random.Next(2) == 0) { Index(ref writer, 0); } else { Index(ref writer, 1); writer.WriteLong(RandomLong()); }
        if (random.Next(2) == 0) { Index(ref writer, 1); } else { Index(ref writer, 0); writer.WriteLong(RandomLong()); }
        writer.WriteString(RandomString());
        if (random.Next(2) == 0) { Index(ref writer, 0); } else { Index(ref writer, 1); writer.WriteString(RandomString()); }
        if (random.Next(2) == 0) { Index(ref writer, 1); } else { Index(ref writer, 0); writer.WriteString(RandomString()); }
        writer.WriteBoolean(random.Next(2) == 0);
        if (random.Next(2) == 0) { Index(ref writer, 0); } else { Index(ref writer, 1); writer.WriteDouble(random.NextDouble()); }
        writer.WriteFloat(1.5f);
        if (random.Next(2) == 0)
        {
            Index(ref writer, 0);
        }
        else
        {
            Index(ref writer, 1);
            writer.WriteInt((int)RandomLong());
            if (random.Next(2) == 0) { Index(ref writer, 0); } else { Index(ref writer, 1); writer.WriteBytes(new byte[random.Next(200)]); }
        }

        writer.WriteEnum(random.Next(2));
        writer.WriteLong(RandomLong());
        writer.Flush();
        return output.WrittenSpan.ToArray();
    }
}
