using Avro;
using DataMesh.Schemas;
using Xunit;

namespace DataMesh.Tests.Schemas;

public sealed class SchemaLogTests
{
    private static Schema Order(string extraFields = "") =>
        Schema.Parse($$"""{"type":"record","name":"Order","fields":[{"name":"id","type":"long"}{{extraFields}}]}""");

    [Fact]
    public void A_deleted_version_leaves_the_subject_keeps_its_id_and_its_number_is_never_given_again()
    {
        var records = new List<(long Offset, byte[] Value)>
        {
            (0, SchemaLog.EncodeRegistration("a", Order())),
            (1, SchemaLog.EncodeRegistration("a", Order(""",{"name":"note","type":["null","string"],"default":null}"""))),
            (2, SchemaLog.EncodeDelete("a", 1)),
            (3, SchemaLog.EncodeDelete("a", 1)),                                                // already deleted: no effect
            (4, SchemaLog.EncodeDelete("missing", 1)),                                          // no such subject
            (5, SchemaLog.EncodeDelete("a", 2)),
            (6, SchemaLog.EncodeRegistration("a", Order())),                                   // again: same id, version 3
            (7, """{"format":1,"kind":"delete","subject":"a"}"""u8.ToArray()),                 // no version
        };

        var state = new SchemaLog();
        var outcomes = records.Select(r => state.Apply(r.Offset, r.Value)).ToList();
        Assert.Equal(new SchemaLogOutcome.Deleted("a", 1), outcomes[2]);
        Assert.IsType<SchemaLogOutcome.Invalid>(outcomes[3]);
        Assert.IsType<SchemaLogOutcome.Invalid>(outcomes[4]);
        Assert.Equal(new SchemaLogOutcome.Deleted("a", 2), outcomes[5]);
        var again = Assert.IsType<SchemaLogOutcome.Registered>(outcomes[6]).Schema;
        Assert.Equal((1, 3), (again.Id, again.Version));
        Assert.IsType<SchemaLogOutcome.Invalid>(outcomes[7]);

        Assert.Equal([3], state.Versions("a").Select(v => v.Version));
        Assert.Equal(["a"], state.Subjects());
        Assert.True(state.TryGetById(2, out _));
        Assert.False(state.HasVersion("a", 2));
        Assert.Null(state.Find("a", SchemaCanonicalForm.Of(Order(""",{"name":"note","type":["null","string"],"default":null}"""))));
    }

    [Fact]
    public void Deleted_versions_are_not_checked_against_and_a_subject_without_versions_is_not_listed()
    {
        var state = new SchemaLog();
        state.Apply(0, SchemaLog.EncodeRegistration("a", Order()));
        state.Apply(1, SchemaLog.EncodeRegistration("b", Order()));
        state.Apply(2, SchemaLog.EncodeDelete("a", 1));
        Assert.Equal(["b"], state.Subjects());
        Assert.Null(state.Latest("a"));

        // Without version 1 there is nothing to be compatible with: a breaking schema is accepted as version 2.
        var accepted = Assert.IsType<SchemaLogOutcome.Registered>(state.Apply(3, SchemaLog.EncodeRegistration("a", Order(""",{"name":"x","type":"int"}""")))).Schema;
        Assert.Equal(2, accepted.Version);
    }

    [Fact]
    public void Replay_of_a_log_without_genesis_is_deterministic_ids_are_offset_plus_one_and_duplicates_resolve_to_the_first_id()
    {
        var records = new List<(long Offset, byte[] Value)>
        {
            (0, SchemaLog.EncodeRegistration("a", Order())),
            (1, SchemaLog.EncodeRegistration("a", Order())),                                   // repeat: same version
            (2, SchemaLog.EncodeRegistration("a", Order(""",{"name":"x","type":"int"}"""))),     // incompatible: rejected
            (3, "[]"u8.ToArray()),
            (4, "{}"u8.ToArray()),
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
        Assert.IsType<SchemaLogOutcome.Invalid>(outcomes[3]);
        Assert.IsType<SchemaLogOutcome.Invalid>(outcomes[4]);
        Assert.Equal((1, 1), (Assert.IsType<SchemaLogOutcome.Registered>(outcomes[5]).Schema.Id, Assert.IsType<SchemaLogOutcome.Registered>(outcomes[5]).Schema.Version));
        Assert.IsType<SchemaLogOutcome.ConfigApplied>(outcomes[6]);
        var accepted = Assert.IsType<SchemaLogOutcome.Registered>(outcomes[7]).Schema;
        Assert.Equal((8, 2), (accepted.Id, accepted.Version));
        Assert.IsType<SchemaLogOutcome.Invalid>(outcomes[8]);
        Assert.IsType<SchemaLogOutcome.Invalid>(outcomes[9]);
        Assert.Equal(2, state.SchemaCount);
        Assert.Equal((SchemaLog.LegacyIdBase, (Guid?)null, 10L), (state.IdBase, state.StoreId, state.Position));
    }

    [Fact]
    public void A_genesis_record_at_offset_0_names_the_store_and_the_id_base_and_records_of_another_store_are_not_applied()
    {
        var store = Guid.NewGuid();
        var other = Guid.NewGuid();
        var state = new SchemaLog();

        Assert.Equal(new SchemaLogOutcome.Genesis(true), state.Apply(0, SchemaLog.EncodeGenesis(store, 5_000_000)));
        Assert.Equal(new SchemaLogOutcome.Genesis(false), state.Apply(1, SchemaLog.EncodeGenesis(other, 7_000_000))); // a concurrent start: ignored
        Assert.Equal(5_000_002, Assert.IsType<SchemaLogOutcome.Registered>(state.Apply(2, SchemaLog.EncodeRegistration("a", Order()), store)).Schema.Id);
        Assert.Equal(new SchemaLogOutcome.Foreign(other), state.Apply(3, SchemaLog.EncodeRegistration("b", Order(""",{"name":"y","type":"int"}""")), other));
        Assert.Equal(new SchemaLogOutcome.Foreign(null), state.Apply(4, SchemaLog.EncodeConfig(null, CompatibilityLevel.None)));
        Assert.Empty(state.Versions("b"));
        Assert.Equal(CompatibilityLevel.Backward, state.LevelOf(null));
        Assert.Equal((5_000_000, (Guid?)store, 5L), (state.IdBase, state.StoreId, state.Position));
        Assert.Equal(store, SchemaLog.ReadGenesisStore(SchemaLog.EncodeGenesis(store, 1)));
        Assert.Null(SchemaLog.ReadGenesisStore(SchemaLog.EncodeRegistration("a", Order())));

        // Ids come from this store's range only, far from the small ids of a log without genesis.
        Assert.True(state.CouldHaveIssued(5_000_002));
        Assert.False(state.CouldHaveIssued(5_000_005));
        Assert.False(state.CouldHaveIssued(3));
        Assert.All(Enumerable.Range(0, 1000).Select(_ => SchemaLog.NewIdBase()), b => Assert.InRange(b, 1 << 20, 1 << 30));
    }

    [Fact]
    public void Missing_offsets_or_a_step_back_are_refused_naming_the_offsets()
    {
        var trimmed = new SchemaLog();
        var first = Assert.Throws<InvalidOperationException>(() => trimmed.Apply(3, SchemaLog.EncodeRegistration("a", Order())));
        Assert.StartsWith("the topic does not start at offset 0: offsets 0 to 2 are missing.", first.Message, StringComparison.Ordinal);
        Assert.Contains("5 MB per partition", first.Message, StringComparison.Ordinal);
        Assert.Contains("never compacted", first.Message, StringComparison.Ordinal);
        Assert.Equal(0, trimmed.Position);

        // Compaction keeps the last record of each key (here, of each subject): the offsets in between are gone.
        var compacted = new SchemaLog();
        compacted.Apply(0, SchemaLog.EncodeGenesis(Guid.NewGuid(), 1 << 20));
        compacted.Apply(1, SchemaLog.EncodeRegistration("a", Order()), compacted.StoreId);
        Assert.StartsWith("offset 2 is missing.", Assert.Throws<InvalidOperationException>(() => compacted.Apply(3, SchemaLog.EncodeRegistration("a", Order()), compacted.StoreId)).Message, StringComparison.Ordinal);
        Assert.StartsWith("offsets 2 to 6 are missing.", Assert.Throws<InvalidOperationException>(() => compacted.End(7)).Message, StringComparison.Ordinal);
        compacted.End(2);
        Assert.Contains("went back from offset 2 to 0", Assert.Throws<InvalidOperationException>(() => compacted.Apply(0, SchemaLog.EncodeGenesis(Guid.NewGuid(), 1 << 20))).Message, StringComparison.Ordinal);
        Assert.Equal(2, compacted.Position);
    }

    [Fact]
    public void Offsets_beyond_the_int32_id_space_are_refused()
    {
        var state = new SchemaLog();
        var store = Guid.NewGuid();
        state.Apply(0, SchemaLog.EncodeGenesis(store, int.MaxValue - 1));
        Assert.Equal(int.MaxValue, Assert.IsType<SchemaLogOutcome.Registered>(state.Apply(1, SchemaLog.EncodeRegistration("a", Order()), store)).Schema.Id);
        var outcome = state.Apply(2, SchemaLog.EncodeRegistration("b", Order(""",{"name":"y","type":"int"}""")), store);
        Assert.Contains("must fit in an int32", Assert.IsType<SchemaLogOutcome.Invalid>(outcome).Reason, StringComparison.Ordinal);
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
