using Avro;
using DataMesh.Schemas;
using Xunit;

namespace DataMesh.Tests.Schemas;

public sealed class SchemaLogTests
{
    private static Schema Order(string extraFields = "") =>
        Schema.Parse($$"""{"type":"record","name":"Order","fields":[{"name":"id","type":"long"}{{extraFields}}]}""");

    [Fact]
    public void Replay_is_deterministic_ids_are_offset_plus_one_and_duplicates_resolve_to_the_first_id()
    {
        var records = new List<(long Offset, byte[] Value)>
        {
            (0, SchemaLog.EncodeRegistration("a", Order())),
            (1, SchemaLog.EncodeRegistration("a", Order())),                                   // repeat: same version
            (2, SchemaLog.EncodeRegistration("a", Order(""",{"name":"x","type":"int"}"""))),     // incompatible: rejected
            (5, SchemaLog.EncodeRegistration("b", Order())),                                   // same schema, other subject
            (6, SchemaLog.EncodeConfig("a", CompatibilityLevel.None)),
            (7, SchemaLog.EncodeRegistration("a", Order(""",{"name":"x","type":"int"}"""))),     // accepted now
            (8, "not json"u8.ToArray()),
            (9, """{"format":2,"kind":"register"}"""u8.ToArray()),
        };

        static List<string> Replay(List<(long Offset, byte[] Value)> log)
        {
            var state = new SchemaLog();
            return [.. log.Select(r => state.Apply(r.Offset, r.Value).ToString() ?? string.Empty)];
        }

        var first = Replay(records);
        Assert.Equal(first, Replay(records));

        var state = new SchemaLog();
        var outcomes = records.Select(r => state.Apply(r.Offset, r.Value)).ToList();
        Assert.Equal(1, Assert.IsType<SchemaLogOutcome.Registered>(outcomes[0]).Schema.Id);
        Assert.Equal(new RegisteredSchema("a", 1, 1, state.Versions("a")[0].Schema), Assert.IsType<SchemaLogOutcome.Registered>(outcomes[1]).Schema);
        var rejected = Assert.IsType<SchemaLogOutcome.Incompatible>(outcomes[2]);
        Assert.Equal("field 'x' was added without a default", Assert.Single(rejected.Problems).Message);
        Assert.Equal((1, 1), (Assert.IsType<SchemaLogOutcome.Registered>(outcomes[3]).Schema.Id, Assert.IsType<SchemaLogOutcome.Registered>(outcomes[3]).Schema.Version));
        Assert.IsType<SchemaLogOutcome.ConfigApplied>(outcomes[4]);
        var accepted = Assert.IsType<SchemaLogOutcome.Registered>(outcomes[5]).Schema;
        Assert.Equal((8, 2), (accepted.Id, accepted.Version));
        Assert.IsType<SchemaLogOutcome.Invalid>(outcomes[6]);
        Assert.IsType<SchemaLogOutcome.Invalid>(outcomes[7]);
        Assert.Equal(2, state.SchemaCount);
    }

    [Fact]
    public void Offsets_beyond_the_int32_id_space_are_refused()
    {
        var state = new SchemaLog();
        var outcome = state.Apply(int.MaxValue, SchemaLog.EncodeRegistration("a", Order()));
        Assert.Contains("must fit in an int32", Assert.IsType<SchemaLogOutcome.Invalid>(outcome).Reason, StringComparison.Ordinal);
        Assert.Equal(int.MaxValue, Assert.IsType<SchemaLogOutcome.Registered>(state.Apply(int.MaxValue - 1, SchemaLog.EncodeRegistration("a", Order()))).Schema.Id);
    }

    [Fact]
    public void Canonical_form_ignores_layout_docs_and_namespace_spelling_but_keeps_defaults_and_logical_types()
    {
        var a = Schema.Parse("""{"type":"record","name":"shop.Order","doc":"x","fields":[{"name":"id","type":"long","doc":"key"}]}""");
        var b = Schema.Parse("""{ "namespace" : "shop", "name" : "Order", "type" : "record", "fields" : [ { "type" : "long", "name" : "id" } ] }""");
        var withDefault = Schema.Parse("""{"type":"record","name":"shop.Order","fields":[{"name":"id","type":"long","default":0}]}""");
        var timestamp = Schema.Parse("""{"type":"record","name":"shop.Order","fields":[{"name":"id","type":{"type":"long","logicalType":"timestamp-micros"}}]}""");

        Assert.Equal(SchemaCanonicalForm.Of(a), SchemaCanonicalForm.Of(b));
        Assert.Equal("""{"name":"shop.Order","type":"record","fields":[{"name":"id","type":"long"}]}""", SchemaCanonicalForm.Of(a));
        Assert.NotEqual(SchemaCanonicalForm.Of(a), SchemaCanonicalForm.Of(withDefault));
        Assert.NotEqual(SchemaCanonicalForm.Of(a), SchemaCanonicalForm.Of(timestamp));
    }
}
