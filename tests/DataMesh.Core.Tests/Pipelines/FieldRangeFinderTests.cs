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
