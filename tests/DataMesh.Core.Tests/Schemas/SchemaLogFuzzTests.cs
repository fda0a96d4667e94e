using System.Text;
using Avro;
using DataMesh.Schemas;
using DataMesh.Tests.Avro;
using Xunit;

namespace DataMesh.Tests.Schemas;

/// <summary>
/// Records of the schema store's topic are input any Kafka client with write access can forge (<see cref="Fuzz"/>):
/// applying one must give an outcome (an <see cref="SchemaLogOutcome.Invalid"/> one for garbage), never an exception,
/// which would stop the store's reader, nor a stack overflow, which would end the process.
/// </summary>
public sealed class SchemaLogFuzzTests
{
    private static readonly string[] Pieces =
    [
        "{", "}", "[", "]", ",", ":", "\"", "\"null\"", "\"int\"", "\"string\"", "{\"type\":\"array\",\"items\":", "{\"type\":\"map\",\"values\":",
        "[\"null\",", "{\"type\":\"record\",\"name\":\"R\",\"fields\":[", "{\"name\":\"f\",\"type\":", "\"default\":", "{\"type\":\"enum\",\"name\":\"E\",\"symbols\":[\"A\"]}",
        "{\"type\":\"fixed\",\"name\":\"F\",\"size\":-1}", "\"logicalType\":\"decimal\",\"precision\":2000,\"scale\":-5", "\"R\"", "\"\\u0000\"", "1e400", "-1", "null", "true",
    ];

    [Fact]
    public void Forged_and_mutated_records_are_applied_or_refused_never_thrown()
    {
        var store = Guid.NewGuid();
        var generator = new AvroRandom(99);
        var schemas = Enumerable.Range(0, 40).Select(_ => generator.RecordSchema(maxDepth: 4)).ToList();
        var valid = schemas.Select(s => SchemaLog.EncodeRegistration("subject", Schema.Parse(s)))
            .Append(SchemaLog.EncodeConfig("subject", CompatibilityLevel.Full))
            .Append(SchemaLog.EncodeConfig(null, CompatibilityLevel.None))
            .Append(SchemaLog.EncodeGenesis(store, 1_000_000))
            .ToList();

        var run = Fuzz.Bytes(
            "schema log records",
            seed: 2026,
            iterations: 3000,
            random => random.Next(4) switch
            {
                0 => Fuzz.Mutate(valid[random.Next(valid.Count)], random),
                1 => Registration(Fuzz.Mutate(schemas[random.Next(schemas.Count)], random, Pieces)),
                2 => Registration(Nested(random)),
                _ => Registration(Fuzz.Mutate(Nested(random), random, Pieces)),
            },
            record =>
            {
                // After a valid version of the subject, so that a forged schema is also checked for compatibility.
                var log = new SchemaLog();
                Assert.IsType<SchemaLogOutcome.Genesis>(log.Apply(0, SchemaLog.EncodeGenesis(store, 1_000_000)));
                log.Apply(1, valid[0], store);
                Assert.NotNull(log.Apply(2, record, store));
                Assert.NotNull(log.Apply(3, valid[1], store));
            });

        Assert.Equal(0, run.Refused);
    }

    [Theory]
    [InlineData("{\"type\":")]
    [InlineData("\"\\u0000\"")]
    [InlineData("{\"type\":\"enum\",\"name\":\"E\",\"symbols\":[1]}")]
    [InlineData("{\"type\":\"record\",\"name\":\"R\",\"fields\":[{\"name\":\"f\",\"type\":{\"type\":\"array\"}}]}")]
    [InlineData("{\"type\":\"record\",\"name\":\"R\",\"fields\":[{\"name\":\"f\",\"type\":{\"type\":\"bytes\",\"logicalType\":\"decimal\",\"precision\":2000,\"scale\":-5}}]}")]
    public void A_registration_whose_schema_text_Avro_cannot_take_is_skipped_and_the_log_goes_on(string schemaText)
    {
        // Schema texts Apache.Avro fails on with other exceptions than SchemaParseException (found by the fuzz test above:
        // JsonReaderException, InvalidCastException, AvroTypeException): the exception stopped the store's reader at that
        // offset, on every restart.
        var log = new SchemaLog();
        var order = Schema.Parse("""{"type":"record","name":"Order","fields":[{"name":"id","type":"long"}]}""");

        var outcome = log.Apply(0, Registration(schemaText));

        Assert.IsType<SchemaLogOutcome.Invalid>(outcome);
        Assert.IsType<SchemaLogOutcome.Registered>(log.Apply(1, SchemaLog.EncodeRegistration("subject", order)));
    }

    [Fact]
    public void A_record_that_is_not_valid_UTF_8_is_skipped_and_the_log_goes_on()
    {
        var log = new SchemaLog();
        byte[] record = [.. "{\"format\":1,\"kind\":\"register\",\"subject\":\"s"u8, 0xFF, .. "\",\"schema\":\"int\"}"u8];

        Assert.IsType<SchemaLogOutcome.Invalid>(log.Apply(0, record));
        Assert.IsType<SchemaLogOutcome.Registered>(log.Apply(1, SchemaLog.EncodeRegistration("subject", Schema.Parse("\"int\""))));
    }

    /// <summary>A schema nested 1 to 100 levels deep, and one in eight up to 5,000: arrays, maps, unions and records of records.</summary>
    private static string Nested(Random random)
    {
        var depth = random.Next(8) != 0 ? random.Next(1, 100) : random.Next(100, 5_000);
        var open = new StringBuilder();
        var close = new StringBuilder();
        for (var i = 0; i < depth; i++)
        {
            switch (random.Next(4))
            {
                case 0:
                    open.Append("{\"type\":\"array\",\"items\":");
                    close.Insert(0, '}');
                    break;
                case 1:
                    open.Append("{\"type\":\"map\",\"values\":");
                    close.Insert(0, '}');
                    break;
                case 2:
                    open.Append("[\"null\",");
                    close.Insert(0, ']');
                    break;
                default:
                    open.Append("{\"type\":\"record\",\"name\":\"R").Append(i).Append("\",\"fields\":[{\"name\":\"f\",\"type\":");
                    close.Insert(0, "}]}");
                    break;
            }
        }

        return open.Append("\"int\"").Append(close).ToString();
    }

    private static byte[] Registration(string schemaText)
    {
        using var buffer = new MemoryStream();
        using (var json = new System.Text.Json.Utf8JsonWriter(buffer))
        {
            json.WriteStartObject();
            json.WriteNumber("format", SchemaLog.Format);
            json.WriteString("kind", "register");
            json.WriteString("subject", "subject");
            json.WriteString("schema", schemaText);
            json.WriteEndObject();
        }

        return buffer.ToArray();
    }
}
