using Avro;
using DataMesh.Schemas;
using Xunit;

namespace DataMesh.Tests.Schemas;

public sealed class SchemaCompatibilityTests
{
    private const string Ok = "";

    /// <summary>A record "shop.Order" with the given fields (JSON).</summary>
    private static string Order(params string[] fields) =>
        $$"""{"type":"record","name":"Order","namespace":"shop","fields":[{{string.Join(",", fields)}}]}""";

    private static string Field(string name, string type, string? defaultJson = null, string? aliases = null) =>
        $$"""{"name":"{{name}}","type":{{type}}{{(defaultJson is null ? "" : ",\"default\":" + defaultJson)}}{{(aliases is null ? "" : ",\"aliases\":" + aliases)}}}""";

    private static string Enum(string symbols, string? defaultSymbol = null) =>
        $$"""{"type":"enum","name":"Status","symbols":{{symbols}}{{(defaultSymbol is null ? "" : ",\"default\":\"" + defaultSymbol + "\"")}}}""";

    private static readonly string Id = Field("id", "\"long\"");

    /// <summary>
    /// Each rule of Avro schema resolution, as (old schema, new schema, what BACKWARD says, what FORWARD says):
    /// "" means compatible, otherwise a fragment of the expected problem.
    /// </summary>
    public static TheoryData<string, string, string, string, string> Rules() => new()
    {
        { "field added without default", Order(Id), Order(Id, Field("total", "\"double\"")), "field 'total' was added without a default", Ok },
        { "field added with default", Order(Id), Order(Id, Field("total", "\"double\"", "0.0")), Ok, Ok },
        { "field removed without default", Order(Id, Field("note", "\"string\"")), Order(Id), Ok, "field 'note' was removed, and the old schema has no default for it" },
        { "field removed that had a default", Order(Id, Field("note", "\"string\"", "\"\"")), Order(Id), Ok, Ok },
        { "int to long", Order(Field("n", "\"int\"")), Order(Field("n", "\"long\"")), Ok, "field 'n' changed type from 'int' to 'long', and 'long' data cannot be read as 'int'" },
        { "int to float", Order(Field("n", "\"int\"")), Order(Field("n", "\"float\"")), Ok, "cannot be read as 'int'" },
        { "int to double", Order(Field("n", "\"int\"")), Order(Field("n", "\"double\"")), Ok, "cannot be read as 'int'" },
        { "long to float", Order(Field("n", "\"long\"")), Order(Field("n", "\"float\"")), Ok, "cannot be read as 'long'" },
        { "long to double", Order(Field("n", "\"long\"")), Order(Field("n", "\"double\"")), Ok, "cannot be read as 'long'" },
        { "float to double", Order(Field("n", "\"float\"")), Order(Field("n", "\"double\"")), Ok, "cannot be read as 'float'" },
        { "long to int", Order(Field("n", "\"long\"")), Order(Field("n", "\"int\"")), "field 'n' changed type from 'long' to 'int', and 'long' data cannot be read as 'int'", Ok },
        { "double to float", Order(Field("n", "\"double\"")), Order(Field("n", "\"float\"")), "cannot be read as 'float'", Ok },
        { "string to bytes", Order(Field("s", "\"string\"")), Order(Field("s", "\"bytes\"")), Ok, Ok },
        { "bytes to string", Order(Field("s", "\"bytes\"")), Order(Field("s", "\"string\"")), Ok, Ok },
        { "string to int", Order(Field("s", "\"string\"")), Order(Field("s", "\"int\"")), "field 's' changed type from 'string' to 'int'", "field 's' changed type from 'string' to 'int'" },
        { "boolean to int", Order(Field("b", "\"boolean\"")), Order(Field("b", "\"int\"")), "changed type from 'boolean' to 'int'", "changed type from 'boolean' to 'int'" },
        { "enum symbol removed", Order(Field("st", Enum("[\"A\",\"B\",\"C\"]"))), Order(Field("st", Enum("[\"A\",\"B\"]"))), "enum field 'st' removed symbol 'C' without an enum default", Ok },
        { "enum symbol removed with a default", Order(Field("st", Enum("[\"A\",\"B\",\"C\"]"))), Order(Field("st", Enum("[\"A\",\"B\"]", "A"))), Ok, Ok },
        { "enum symbol added", Order(Field("st", Enum("[\"A\",\"B\"]"))), Order(Field("st", Enum("[\"A\",\"B\",\"C\"]"))), Ok, "enum field 'st' added symbol 'C', which the old schema cannot read" },
        { "enum symbol added, old has a default", Order(Field("st", Enum("[\"A\",\"B\"]", "A"))), Order(Field("st", Enum("[\"A\",\"B\",\"C\"]", "A"))), Ok, Ok },
        { "nullable made required", Order(Field("s", "[\"null\",\"string\"]", "null")), Order(Field("s", "\"string\"")), "field 's' no longer accepts 'null'", Ok },
        { "required made nullable", Order(Field("s", "\"string\"")), Order(Field("s", "[\"null\",\"string\"]", "null")), Ok, "field 's' now accepts 'null', which the old schema cannot read" },
        { "union branch added", Order(Field("v", "[\"null\",\"string\"]")), Order(Field("v", "[\"null\",\"string\",\"int\"]")), Ok, "field 'v' now accepts 'int'" },
        { "union branch removed", Order(Field("v", "[\"null\",\"string\",\"int\"]")), Order(Field("v", "[\"null\",\"string\"]")), "field 'v' no longer accepts 'int'", Ok },
        { "union branch promoted", Order(Field("v", "[\"null\",\"int\"]")), Order(Field("v", "[\"null\",\"long\"]")), Ok, "field 'v' now accepts 'long'" },
        { "fixed size changed", Order(Field("h", """{"type":"fixed","name":"Hash","size":16}""")), Order(Field("h", """{"type":"fixed","name":"Hash","size":8}""")), "field 'h' changed fixed size from 16 to 8 bytes", "field 'h' changed fixed size from 16 to 8 bytes" },
        { "fixed renamed", Order(Field("h", """{"type":"fixed","name":"Hash","size":16}""")), Order(Field("h", """{"type":"fixed","name":"Digest","size":16}""")), "fixed 'shop.Hash' was renamed to 'shop.Digest'", "fixed 'shop.Hash' was renamed to 'shop.Digest'" },
        { "nested record renamed", Order(Field("c", """{"type":"record","name":"Customer","fields":[{"name":"n","type":"string"}]}""")), Order(Field("c", """{"type":"record","name":"Client","fields":[{"name":"n","type":"string"}]}""")), "record 'shop.Customer' was renamed to 'shop.Client'", "record 'shop.Customer' was renamed to 'shop.Client'" },
        { "nested record renamed with an alias", Order(Field("c", """{"type":"record","name":"Customer","fields":[{"name":"n","type":"string"}]}""")), Order(Field("c", """{"type":"record","name":"Client","aliases":["Customer"],"fields":[{"name":"n","type":"string"}]}""")), Ok, "record 'shop.Customer' was renamed to 'shop.Client'" },
        { "field renamed with an alias", Order(Id, Field("total", "\"double\"")), Order(Id, Field("amount", "\"double\"", aliases: "[\"total\"]")), Ok, "field 'total' was removed, and the old schema has no default for it" },
        { "nested field added without default", Order(Field("c", """{"type":"record","name":"Customer","fields":[{"name":"n","type":"string"}]}""")), Order(Field("c", """{"type":"record","name":"Customer","fields":[{"name":"n","type":"string"},{"name":"email","type":"string"}]}""")), "field 'c.email' was added without a default", Ok },
        { "array items changed", Order(Field("tags", """{"type":"array","items":"string"}""")), Order(Field("tags", """{"type":"array","items":"int"}""")), "field 'tags[]' changed type from 'string' to 'int'", "field 'tags[]' changed type from 'string' to 'int'" },
        { "array items promoted", Order(Field("ns", """{"type":"array","items":"int"}""")), Order(Field("ns", """{"type":"array","items":"long"}""")), Ok, "field 'ns[]' changed type from 'int' to 'long'" },
        { "map values promoted", Order(Field("m", """{"type":"map","values":"float"}""")), Order(Field("m", """{"type":"map","values":"double"}""")), Ok, "field 'm{}' changed type from 'float' to 'double'" },
        { "array of records gains a required field", Order(Field("lines", """{"type":"array","items":{"type":"record","name":"Line","fields":[{"name":"sku","type":"string"}]}}""")), Order(Field("lines", """{"type":"array","items":{"type":"record","name":"Line","fields":[{"name":"sku","type":"string"},{"name":"qty","type":"int"}]}}""")), "field 'lines[].qty' was added without a default", Ok },
        { "array became map", Order(Field("x", """{"type":"array","items":"string"}""")), Order(Field("x", """{"type":"map","values":"string"}""")), "field 'x' changed type from 'array' of 'string' to 'map' of 'string'", "changed type" },
        { "decimal scale changed", Order(Field("p", """{"type":"bytes","logicalType":"decimal","precision":10,"scale":2}""")), Order(Field("p", """{"type":"bytes","logicalType":"decimal","precision":10,"scale":3}""")), "field 'p' changed decimal scale from 2 to 3", "field 'p' changed decimal scale from 2 to 3" },
        { "timestamp logical type added on long", Order(Field("t", "\"long\"")), Order(Field("t", """{"type":"long","logicalType":"timestamp-micros"}""")), Ok, Ok },
        { "top-level type changed", "\"string\"", "\"int\"", "the schema changed type from 'string' to 'int'", "the schema changed type from 'string' to 'int'" },
        { "top-level record renamed", Order(Id), """{"type":"record","name":"Purchase","namespace":"shop","fields":[{"name":"id","type":"long"}]}""", "record 'shop.Order' was renamed to 'shop.Purchase'", "record 'shop.Order' was renamed" },
    };

    [Theory]
    [MemberData(nameof(Rules))]
    public void Backward_and_forward_follow_the_avro_resolution_rules(string rule, string oldJson, string newJson, string backward, string forward)
    {
        var old = new RegisteredSchema("s", 1, 1, Schema.Parse(oldJson));
        var candidate = Schema.Parse(newJson);

        AssertOutcome(rule, "BACKWARD", SchemaCompatibility.Check(CompatibilityLevel.Backward, candidate, [old]), backward);
        AssertOutcome(rule, "FORWARD", SchemaCompatibility.Check(CompatibilityLevel.Forward, candidate, [old]), forward);

        var full = SchemaCompatibility.Check(CompatibilityLevel.Full, candidate, [old]);
        Assert.Equal(backward.Length == 0 && forward.Length == 0, full.Count == 0);
        Assert.Empty(SchemaCompatibility.Check(CompatibilityLevel.None, candidate, [old]));
    }

    private static void AssertOutcome(string rule, string level, IReadOnlyList<SchemaCompatibilityProblem> problems, string expected)
    {
        var all = string.Join(" | ", problems.Select(p => p.Message));
        if (expected.Length == 0)
        {
            Assert.True(problems.Count == 0, $"{rule}: expected {level} compatible, got: {all}");
        }
        else
        {
            Assert.True(problems.Any(p => p.Message.Contains(expected, StringComparison.Ordinal)), $"{rule}: expected {level} problem '{expected}', got: '{all}'");
        }
    }

    [Fact]
    public void Exception_message_names_subject_level_version_and_field_path_through_a_nullable_envelope()
    {
        static string Envelope(string rowFields) => $$"""
            {"type":"record","name":"Envelope","namespace":"pg.shop.public.orders","fields":[
              {"name":"before","type":["null",{"type":"record","name":"Value","fields":[{{rowFields}}]}],"default":null},
              {"name":"after","type":["null","Value"],"default":null},
              {"name":"op","type":"string"}]}
            """;
        var v1 = Schema.Parse(Envelope("""{"name":"id","type":"long"}"""));
        var v3 = Schema.Parse(Envelope("""{"name":"id","type":"long"},{"name":"status","type":"string","default":"new"}"""));
        var candidate = Schema.Parse(Envelope("""{"name":"id","type":"long"},{"name":"status","type":"string","default":"new"},{"name":"total","type":"double"}"""));
        RegisteredSchema[] versions = [new("pg.shop.public.orders-value", 1, 10, v1), new("pg.shop.public.orders-value", 3, 12, v3)];

        var error = Assert.Throws<SchemaIncompatibleException>(() =>
            SchemaCompatibility.EnsureCompatible("pg.shop.public.orders-value", CompatibilityLevel.Backward, candidate, versions));

        Assert.StartsWith(
            "Schema for subject 'pg.shop.public.orders-value' is not BACKWARD compatible with version 3: field 'before.total' was added without a default",
            error.Message,
            StringComparison.Ordinal);
        Assert.Contains("field 'after.total' was added without a default", error.Message, StringComparison.Ordinal);
        Assert.All(error.Problems, p => Assert.Equal(3, p.Version));
        Assert.Contains(error.Problems, p => p.Path == "after.total" && p.Direction == CompatibilityLevel.Backward);
        Assert.Equal(CompatibilityLevel.Backward, error.Level);
        Assert.Equal("pg.shop.public.orders-value", error.Subject);
    }

    [Theory]
    [InlineData(CompatibilityLevel.Backward, false)]
    [InlineData(CompatibilityLevel.BackwardTransitive, true)]
    [InlineData(CompatibilityLevel.Full, false)]
    [InlineData(CompatibilityLevel.FullTransitive, true)]
    public void Transitive_levels_check_every_earlier_version(CompatibilityLevel level, bool failsAgainstVersion1)
    {
        // v1 has no 'b'; v2 adds it with a default; the candidate keeps 'b' but drops the default.
        var v1 = Schema.Parse(Order(Id));
        var v2 = Schema.Parse(Order(Id, Field("b", "\"string\"", "\"x\"")));
        var candidate = Schema.Parse(Order(Id, Field("b", "\"string\"")));

        var problems = SchemaCompatibility.Check(level, candidate, [new("s", 1, 1, v1), new("s", 2, 2, v2)]);

        Assert.Equal(failsAgainstVersion1, problems.Any(p => p.Version == 1 && p.Message == "field 'b' was added without a default"));
        Assert.DoesNotContain(problems, p => p.Version == 2);
    }

    [Fact]
    public void Forward_transitive_checks_that_every_earlier_version_reads_the_new_schema()
    {
        var v1 = Schema.Parse(Order(Id, Field("n", "\"int\"")));
        var v2 = Schema.Parse(Order(Id, Field("n", "\"long\"")));
        var candidate = Schema.Parse(Order(Id, Field("n", "\"long\""), Field("x", "\"string\"", "\"\"")));

        Assert.Empty(SchemaCompatibility.Check(CompatibilityLevel.Forward, candidate, [new("s", 1, 1, v1), new("s", 2, 2, v2)]));
        var problems = SchemaCompatibility.Check(CompatibilityLevel.ForwardTransitive, candidate, [new("s", 1, 1, v1), new("s", 2, 2, v2)]);
        var problem = Assert.Single(problems);
        Assert.Equal(1, problem.Version);
        Assert.Equal(CompatibilityLevel.Forward, problem.Direction);
        Assert.Equal("n", problem.Path);
    }

    [Fact]
    public void Recursive_records_are_checked_without_looping()
    {
        const string Node = """{"type":"record","name":"Node","fields":[{"name":"v","type":"int"},{"name":"next","type":["null","Node"],"default":null}]}""";
        const string Node2 = """{"type":"record","name":"Node","fields":[{"name":"v","type":"long"},{"name":"next","type":["null","Node"],"default":null},{"name":"w","type":"int"}]}""";

        Assert.Empty(SchemaCompatibility.CanRead(Schema.Parse(Node), Schema.Parse(Node)));
        var problems = SchemaCompatibility.CanRead(Schema.Parse(Node2), Schema.Parse(Node));
        Assert.Equal(["field 'w' was added without a default"], problems);
    }

    [Fact]
    public void No_earlier_version_means_compatible()
    {
        Assert.Empty(SchemaCompatibility.Check(CompatibilityLevel.FullTransitive, Schema.Parse(Order(Id)), []));
    }
}
