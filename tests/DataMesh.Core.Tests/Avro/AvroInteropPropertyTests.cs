using System.Diagnostics;
using Avro;
using DataMesh.Avro;
using Xunit;
using Xunit.Abstractions;

namespace DataMesh.Tests.Avro;

/// <summary>
/// Randomized, deterministic proof that our writer and reader agree with Apache.Avro: 500 generated schemas (nested
/// records, enums, fixed, arrays, maps, unions, every logical type) x 20 generated values = 10,000 cases, each checked
/// in both directions and through the schema plan.
/// </summary>
public sealed class AvroInteropPropertyTests(ITestOutputHelper output)
{
    private const int SchemaCount = 500;
    private const int ValuesPerSchema = 20;

    [Fact]
    public void Ten_thousand_random_cases_round_trip_through_Apache_Avro_in_both_directions()
    {
        var stopwatch = Stopwatch.StartNew();
        var cases = 0;
        var corpus = new System.Text.StringBuilder();
        for (var schemaSeed = 1; schemaSeed <= SchemaCount; schemaSeed++)
        {
            var generator = new AvroRandom(schemaSeed);
            var json = generator.RecordSchema(maxDepth: 4);
            corpus.Append(json).Append('\n');
            Schema schema;
            try
            {
                schema = Schema.Parse(json);
            }
            catch (Exception e)
            {
                throw new InvalidOperationException($"Schema seed {schemaSeed} generated a schema Apache.Avro rejects: {json}", e);
            }

            var plan = AvroSchemaPlan.Compile(schema);
            for (var valueIndex = 0; valueIndex < ValuesPerSchema; valueIndex++)
            {
                var caseSeed = (schemaSeed * 1000) + valueIndex;
                try
                {
                    RunCase(schema, plan, caseSeed);
                }
                catch (Exception e)
                {
                    throw new InvalidOperationException($"Case failed: schema seed {schemaSeed}, value seed {caseSeed}. Schema: {json}{Environment.NewLine}{e.Message}", e);
                }

                cases++;
            }
        }

        output.WriteLine($"{cases} cases in {stopwatch.Elapsed.TotalSeconds:F1} s");

        // The generated schemas cover every logical type, logical types inside unions, unions inside records inside unions.
        var all = corpus.ToString();
        foreach (var logical in new[] { "decimal", "uuid", "date", "time-millis", "time-micros", "timestamp-millis", "timestamp-micros", "local-timestamp-millis", "local-timestamp-micros" })
        {
            Assert.Contains($"\"logicalType\":\"{logical}\"", all, StringComparison.Ordinal);
        }

        Assert.Contains("\"type\":\"fixed\",\"name\":\"uuidfixed", all, StringComparison.Ordinal);
        Assert.Contains("\"type\":\"fixed\",\"name\":\"D", all, StringComparison.Ordinal);
        Assert.Matches("\\[\"null\",\\{\"type\":\"(bytes|long|int|string)\",\"logicalType\"", all);
        Assert.Matches("\\[(\"null\",)?\\{\"type\":\"record\"[^\\n]*\"type\":\\[", all);
        Assert.Equal(SchemaCount * ValuesPerSchema, cases);
    }

    private static void RunCase(Schema schema, AvroSchemaPlan plan, int caseSeed)
    {
        var generator = new AvroRandom(caseSeed);
        var value = generator.Value(schema);
        var variants = new Random(caseSeed + 7);

        // Apache.Avro writes the value: our reader must read it back exactly, and the plan must walk it.
        var apacheBytes = AvroTestModel.ApacheWrite(schema, value);
        var ourRead = AvroTestModel.OurRead(schema, apacheBytes, variants, out var consumed);
        Assert.Equal(apacheBytes.Length, consumed);
        AssertSame(value, ourRead, "ours reading Apache's bytes");
        plan.Validate(apacheBytes);
        Assert.Equal(apacheBytes.Length, plan.Skip(apacheBytes));

        // Our writer in canonical form (one block an array) produces Apache's bytes exactly, and Apache reads it back.
        var ourBytes = AvroTestModel.OurWrite(schema, value, blocks: null, variants);
        if (!ourBytes.AsSpan().SequenceEqual(apacheBytes))
        {
            throw new InvalidOperationException($"Encodings differ.{Environment.NewLine}ours:   {Convert.ToHexString(ourBytes)}{Environment.NewLine}apache: {Convert.ToHexString(apacheBytes)}");
        }

        AssertSame(value, AvroTestModel.ApacheRead(schema, ourBytes), "Apache reading our bytes");

        // Our writer cutting arrays and maps into several blocks, some in the sized (negative count) form: Apache reads
        // it, our reader reads it, the plan validates it and skips it (jumping over sized blocks), and the field ranges tile it.
        var blocky = AvroTestModel.OurWrite(schema, value, new Random(caseSeed + 13), variants);
        AssertSame(value, AvroTestModel.ApacheRead(schema, blocky), "Apache reading our multi-block bytes");
        AssertSame(value, AvroTestModel.OurRead(schema, blocky, variants, out var blockyConsumed), "ours reading our multi-block bytes");
        Assert.Equal(blocky.Length, blockyConsumed);
        plan.Validate(blocky);
        Assert.Equal(blocky.Length, plan.Skip(blocky));

        Span<Range> ranges = stackalloc Range[plan.FieldCount];
        Assert.Equal(blocky.Length, plan.GetFieldRanges(blocky, ranges));
        var next = 0;
        foreach (var range in ranges)
        {
            Assert.Equal(next, range.Start.Value);
            next = range.End.Value;
        }

        Assert.Equal(blocky.Length, next);
    }

    private static void AssertSame(object? expected, object? actual, string direction)
    {
        var difference = AvroTestModel.Difference(expected, actual);
        if (difference is not null)
        {
            throw new InvalidOperationException($"{direction}: {difference}");
        }
    }
}
