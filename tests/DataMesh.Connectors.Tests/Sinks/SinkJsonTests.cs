using System.Buffers;
using DataMesh.Avro;
using DataMesh.Connectors.Sinks;
using DataMesh.Events;
using Xunit;

namespace DataMesh.Tests.Sinks;

/// <summary>What a table sink writes into a JSON column for values without a column type of their own.</summary>
public sealed class SinkJsonTests
{
    [Fact]
    public void An_array_of_variable_scale_decimals_is_written_as_exact_numbers()
    {
        // Found by a new user: a PostgreSQL numeric[] landed in a jsonb column as [{"scale": 1, "value": "Dw=="}, ...].
        var table = new TableDescription("public", "t",
        [
            new("id", DataType.Of(DataTypeKind.Int32, "integer"), false),
            new("an", DataType.ArrayOf(DataType.Of(DataTypeKind.VariableDecimal, "numeric"), "numeric[]"), true),
        ], ["id"]);
        var field = ChangeEventSchemas.Build(table, new SourceDescription("postgresql", "s", [])).RowSchema.Fields.Single(f => f.Name == "an");
        var column = new SinkColumn("an", "an", field.Schema);

        var buffer = new ArrayBufferWriter<byte>();
        var writer = new AvroWriter(buffer);
        writer.WriteUnionIndex(1);
        writer.WriteArrayStart(3);
        writer.WriteUnionIndex(1);
        writer.WriteInt(1);
        writer.WriteDecimal(new System.Numerics.BigInteger(15), 38);
        writer.WriteUnionIndex(0);
        writer.WriteUnionIndex(1);
        writer.WriteInt(3);
        writer.WriteDecimal(new System.Numerics.BigInteger(-1), 38);
        writer.WriteArrayEnd();
        writer.Flush();

        var reader = new AvroReader(buffer.WrittenSpan);
        var array = Assert.IsType<SinkArray>(AvroValues.ReadColumn(ref reader, column));
        Assert.Equal("[1.5,null,-0.001]", array.Json);
        Assert.Equal(["1.5", null, "-0.001"], ((object?[])array.Items).Select(i => i?.ToString()));
    }
}
