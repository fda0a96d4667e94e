using System.Buffers;
using System.Text.Json;
using Avro;
using DataMesh.Avro;
using DataMesh.Events;
using DataMesh.Tests.Avro;
using Xunit;

namespace DataMesh.Tests.Pipelines;

/// <summary>
/// The JSON Lines sink's decoding (<see cref="AvroJsonWriter"/>, for values and keys) on mutated datums of random schemas
/// (<see cref="Fuzz"/>): it may only throw what the sink turns into a rejection of the record
/// (<see cref="AvroFormatException"/>, <see cref="InvalidOperationException"/>), never fail the batch or the process.
/// </summary>
public sealed class JsonLinesDecodingFuzzTests
{
    [Fact]
    public void Mutated_datums_are_rendered_or_refused_with_the_exceptions_the_sink_handles()
    {
        var corpus = new List<(Schema Schema, byte[] Data)>();
        for (var seed = 1; seed <= 60; seed++)
        {
            var generator = new AvroRandom(30_000 + seed);
            var schema = Schema.Parse(generator.RecordSchema(maxDepth: 4));
            for (var i = 0; i < 3; i++)
            {
                corpus.Add((schema, AvroTestModel.OurWrite(schema, generator.Value(schema), new Random(seed + i), new Random(seed))));
            }
        }

        // The change-event contract's own types: decimals, timestamps, the variable-scale decimal record.
        var schemas = PipelineTestData.SchemasOf();
        corpus.Add((schemas.EnvelopeSchema, PipelineTestData.Envelope(ChangeOperation.Update, PipelineTestData.Row(1), PipelineTestData.Row(1, price: 123456789.01m))));
        var amounts = new TableDescription("public", "amounts", [new("id", DataType.Of(DataTypeKind.Int64, "bigint"), false), new("amount", DataType.Of(DataTypeKind.VariableDecimal, "numeric"), true)], ["id"]);
        var amountSchemas = PipelineTestData.SchemasOf(amounts);
        corpus.Add((amountSchemas.EnvelopeSchema, PipelineTestData.Envelope(ChangeOperation.Create, null, [1L, -12.345m], amountSchemas, "amounts")));
        corpus.Add((amountSchemas.EnvelopeSchema, PipelineTestData.Envelope(ChangeOperation.Create, null, [2L, "123456789012345678901234567890.5"], amountSchemas, "amounts")));
        var buffer = new ArrayBufferWriter<byte>();
        using var json = new Utf8JsonWriter(buffer);

        var run = Fuzz.Run(
            "JSON Lines decoding",
            seed: 31,
            iterations: 20_000,
            random =>
            {
                var (schema, data) = corpus[random.Next(corpus.Count)];
                return (Schema: schema, Data: Fuzz.Mutate(data, random));
            },
            input =>
            {
                buffer.ResetWrittenCount();
                json.Reset(buffer);
                AvroJsonWriter.For(input.Schema).Write(json, input.Data);
                json.Flush();
            },
            input => $"a datum of {input.Schema.Fullname}: {Convert.ToHexString(input.Data)}",
            typeof(AvroFormatException),
            typeof(InvalidOperationException));

        Assert.True(run.Refused > run.Iterations / 10, $"only {run.Refused} of {run.Iterations} mutations were refused");
    }

    [Fact]
    public void A_variable_scale_decimal_whose_scale_is_a_billion_is_refused_not_written_out()
    {
        // Found by the fuzz test: the scale is read from the record, and writing it out allocated a billion zeros.
        var schema = Schema.Parse("""{"type":"record","name":"VariableScaleDecimal","namespace":"io.datamesh.data","fields":[{"name":"scale","type":"int"},{"name":"value","type":"bytes"}]}""");
        var datum = new ArrayBufferWriter<byte>();
        var writer = new AvroWriter(datum);
        writer.WriteInt(1_000_000_000);
        writer.WriteBytes([0x01]);
        writer.Flush();
        using var json = new Utf8JsonWriter(new ArrayBufferWriter<byte>());

        var ex = Assert.Throws<AvroFormatException>(() => AvroJsonWriter.For(schema).Write(json, datum.WrittenSpan));

        Assert.Contains("decimal scale 1000000000 is not from 0 to 16383", ex.Message, StringComparison.Ordinal);
    }
}
