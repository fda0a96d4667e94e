using DataMesh.Producer;
using DataMesh.Producer.Serialization;
using Xunit;

namespace DataMesh.Tests.Producer;

public sealed class SchemaTests
{
    public sealed record Small([property: EventKey] long Id, string Name, string? Note, int? Count, List<Address> Addresses, Dictionary<string, long?> Scores);

    public sealed record NoScale(decimal Price);

    public sealed record IntKeys(Dictionary<int, string> Map);

    public sealed record WithFlags(FileAttributes Attributes);

    public sealed record WithTimeSpan(TimeSpan Duration);

    public sealed record TwoKeys([property: EventKey] int A, [property: EventKey] int B);

    [Fact]
    public void A_type_maps_to_an_Avro_record_with_nullable_unions_named_types_and_a_key_schema()
    {
        var serializer = EventSchemaBuilder.Build(typeof(Small));

        Assert.Equal("DataMesh.Tests.Producer.SchemaTests.Small", serializer.FullName);
        Assert.Equal(global::Avro.Schema.Type.Long, serializer.KeySchema!.Tag);
        var expected = global::Avro.Schema.Parse("""
            {"type":"record","name":"Small","namespace":"DataMesh.Tests.Producer.SchemaTests","fields":[
              {"name":"id","type":"long"},
              {"name":"name","type":"string"},
              {"name":"note","type":["null","string"],"default":null},
              {"name":"count","type":["null","int"],"default":null},
              {"name":"addresses","type":{"type":"array","items":{"type":"record","name":"Address","namespace":"DataMesh.Tests.Producer","fields":[
                {"name":"street","type":"string"},{"name":"city","type":"string"},{"name":"zip","type":["null","string"],"default":null}]}}},
              {"name":"scores","type":{"type":"map","values":["null","long"]}}]}
            """);
        Assert.Equal(expected.ToString(), serializer.ValueSchema.ToString());
    }

    [Theory]
    [InlineData(typeof(NoScale), "'NoScale.Price' is a decimal without [AvroDecimal(precision, scale)]")]
    [InlineData(typeof(IntKeys), "'IntKeys.Map' is a map keyed by Int32; Avro map keys are strings")]
    [InlineData(typeof(WithFlags), "'WithFlags.Attributes' is the [Flags] enum FileAttributes")]
    [InlineData(typeof(WithTimeSpan), "'WithTimeSpan.Duration' has type System.TimeSpan, which has no Avro mapping")]
    [InlineData(typeof(TwoKeys), "has 2 members marked [EventKey] (A, B)")]
    [InlineData(typeof(IDisposable), "it is an interface or abstract class")]
    public void An_unsupported_member_is_refused_naming_it(Type type, string expected)
    {
        var ex = Assert.Throws<NotSupportedException>(() => EventSchemaBuilder.Build(type));
        Assert.Contains(expected, ex.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("OrderPlaced", "order-placed")]
    [InlineData("HTTPRequestSent", "http-request-sent")]
    [InlineData("V2Event", "v2-event")]
    public void Conventional_topics_are_kebab_case(string name, string expected) =>
        Assert.Equal(expected, DataMesh.Producer.Emitting.EventEmitter.KebabCase(name));
}
