using Avro;
using DataMesh.Avro;
using Xunit;

namespace DataMesh.Tests.Avro;

/// <summary>Mutated valid encodings (<see cref="Fuzz"/>): only <see cref="AvroFormatException"/> may escape the plan, and nothing may hang.</summary>
public sealed class AvroFuzzTests
{
    [Fact]
    public void Mutated_encodings_only_ever_throw_AvroFormatException()
    {
        var corpus = new List<(AvroSchemaPlan Plan, byte[] Data, int Seed)>();
        for (var seed = 1; seed <= 100; seed++)
        {
            var generator = new AvroRandom(10_000 + seed);
            var schema = Schema.Parse(generator.RecordSchema(maxDepth: 4));
            var plan = AvroSchemaPlan.Compile(schema);
            for (var i = 0; i < 3; i++)
            {
                var value = generator.Value(schema);
                corpus.Add((plan, AvroTestModel.OurWrite(schema, value, new Random(seed + i), new Random(seed)), seed));
            }
        }

        var run = Fuzz.Run(
            "Avro schema plans",
            seed: 4242,
            iterations: 20_000,
            random =>
            {
                var (plan, original, seed) = corpus[random.Next(corpus.Count)];
                return (Plan: plan, Data: Fuzz.Mutate(original, random), Seed: seed);
            },
            input =>
            {
                try
                {
                    input.Plan.Skip(input.Data);
                    input.Plan.GetFieldRanges(input.Data, new Range[input.Plan.FieldCount]);
                }
                catch (AvroFormatException)
                {
                }

                input.Plan.Validate(input.Data);
                Assert.Equal(input.Data.Length, input.Plan.Skip(input.Data));
            },
            input => $"a datum of schema seed {10_000 + input.Seed}: {Convert.ToHexString(input.Data)}",
            typeof(AvroFormatException));

        Assert.True(run.Refused > run.Iterations / 10, $"only {run.Refused} of {run.Iterations} mutations were rejected");
    }
}
