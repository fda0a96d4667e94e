using Avro;
using DataMesh.Avro;
using Xunit;

namespace DataMesh.Tests.Avro;

/// <summary>Mutated valid encodings: only <see cref="AvroFormatException"/> may escape the plan, and nothing may hang.</summary>
public sealed class AvroFuzzTests
{
    private const int Mutations = 20_000;

    [Fact]
    public void Mutated_encodings_only_ever_throw_AvroFormatException()
    {
        var seeds = Enumerable.Range(1, 100).ToArray();
        var corpus = new List<(AvroSchemaPlan Plan, byte[] Data, int Seed)>();
        foreach (var seed in seeds)
        {
            var generator = new AvroRandom(10_000 + seed);
            var schema = Schema.Parse(generator.RecordSchema(maxDepth: 4));
            var plan = AvroSchemaPlan.Compile(schema);
            for (var i = 0; i < 3; i++)
            {
                var value = generator.Value(schema);
                var data = AvroTestModel.OurWrite(schema, value, new Random(seed + i), new Random(seed));
                corpus.Add((plan, data, seed));
            }
        }

        var rng = new Random(4242);
        var rejected = 0;
        for (var m = 0; m < Mutations; m++)
        {
            var (plan, original, seed) = corpus[rng.Next(corpus.Count)];
            var data = Mutate(original, rng);
            try
            {
                plan.Validate(data);
                Assert.Equal(data.Length, plan.Skip(data));
            }
            catch (AvroFormatException)
            {
                rejected++;
            }
            catch (Exception e)
            {
                throw new InvalidOperationException($"Mutation {m} of a datum of schema seed {10_000 + seed} threw {e.GetType().Name}; data {Convert.ToHexString(data)}", e);
            }

            try
            {
                plan.Skip(data);
                plan.GetFieldRanges(data, new Range[plan.FieldCount]);
            }
            catch (AvroFormatException)
            {
            }
            catch (Exception e)
            {
                throw new InvalidOperationException($"Mutation {m} (skip) of a datum of schema seed {10_000 + seed} threw {e.GetType().Name}; data {Convert.ToHexString(data)}", e);
            }
        }

        Assert.True(rejected > Mutations / 10, $"only {rejected} of {Mutations} mutations were rejected");
    }

    private static byte[] Mutate(byte[] original, Random rng)
    {
        var data = new List<byte>(original);
        var edits = rng.Next(1, 4);
        for (var e = 0; e < edits; e++)
        {
            switch (rng.Next(6))
            {
                case 0 when data.Count > 0:
                    data[rng.Next(data.Count)] ^= (byte)(1 << rng.Next(8));
                    break;
                case 1 when data.Count > 0:
                    data[rng.Next(data.Count)] = (byte)rng.Next(256);
                    break;
                case 2 when data.Count > 0:
                {
                    var cut = rng.Next(data.Count);
                    data.RemoveRange(cut, data.Count - cut);
                    break;
                }

                case 3:
                    data.Insert(rng.Next(data.Count + 1), (byte)rng.Next(256));
                    break;
                case 4 when data.Count > 0:
                    data.RemoveAt(rng.Next(data.Count));
                    break;
                default:
                    // A maximal varint or a large length dropped in somewhere.
                    byte[] big = rng.Next(2) == 0 ? [0xFE, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01] : [0x80, 0xE8, 0xED, 0xB3, 0x0E];
                    data.InsertRange(rng.Next(data.Count + 1), big);
                    break;
            }
        }

        return [.. data];
    }
}
