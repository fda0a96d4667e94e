using System.Security.Cryptography;
using DataMesh.Pipelines.Transforms;
using Xunit;

namespace DataMesh.Tests.Pipelines;

public sealed class KeyedHashTests
{
    [Theory]
    [InlineData(16)]
    [InlineData(32)]
    [InlineData(64)]
    [InlineData(100)]
    public void A_keyed_hash_matches_the_framework_for_every_length(int keyLength)
    {
        var random = new Random(keyLength);
        var key = new byte[keyLength];
        random.NextBytes(key);
        var hmac = new KeyedHash(key);
        var actual = new byte[32];
        for (var length = 0; length <= 300; length++)
        {
            var message = new byte[length];
            random.NextBytes(message);

            hmac.Hash(message, actual);

            Assert.Equal(HMACSHA256.HashData(key, message), actual);
        }
    }

    [Fact]
    public void Threads_hashing_with_one_key_at_once_each_get_the_framework_hash()
    {
        var key = "0123456789abcdef"u8.ToArray();
        var hmac = new KeyedHash(key);
        var messages = Enumerable.Range(0, 2_000).Select(i => System.Text.Encoding.UTF8.GetBytes($"customer-{i}@example.com")).ToArray();
        var expected = messages.Select(m => HMACSHA256.HashData(key, m)).ToArray();
        using var start = new Barrier(4);

        var wrong = Enumerable.Range(0, 4).Select(_ => Task.Factory.StartNew(() =>
        {
            start.SignalAndWait();
            var count = 0;
            Span<byte> actual = stackalloc byte[32];
            for (var i = 0; i < messages.Length; i++)
            {
                hmac.Hash(messages[i], actual);
                count += actual.SequenceEqual(expected[i]) ? 0 : 1;
            }

            return count;
        }, TaskCreationOptions.LongRunning)).ToArray();

        Assert.All(wrong, t => Assert.Equal(0, t.GetAwaiter().GetResult()));
    }

    [Fact]
    public void Hashing_a_new_value_allocates_nothing_per_record()
    {
        var chain = new TransformChain([Transform.Mask(new MaskOptions { Mode = MaskMode.Hash, HashKey = "0123456789abcdef"u8.ToArray() }, "email")])
            .Plan(PipelineTestData.SchemasOf().EnvelopeSchema);
        var inputs = new[] { "anna@example.com", "bob@example.com" }
            .Select(email => PipelineTestData.Envelope(DataMesh.Events.ChangeOperation.Create, null, PipelineTestData.Row(1, email: email)))
            .ToArray();
        var output = new System.Buffers.ArrayBufferWriter<byte>(4096);
        var context = default(RecordContext);
        var n = 0;

        // Two values in turn, so that no record's value is the one hashed just before it.
        Assert.Equal(0, PipelineTestData.AllocatedBytes(Once));

        // No Assert inside the measured loop: xunit's comparers allocate.
        void Once()
        {
            output.ResetWrittenCount();
            if (chain.Execute(inputs[n++ % 2], output, ref context) != TransformOutcome.Emit)
            {
                throw new InvalidOperationException("A record was not emitted.");
            }
        }
    }

    [Fact]
    public void Fused_row_transforms_write_the_bytes_of_the_separate_stages()
    {
        var key = "0123456789abcdef"u8.ToArray();
        var schema = PipelineTestData.SchemasOf().EnvelopeSchema;
        var transforms = new Transform[]
        {
            Transform.Rename(("email", "mail")),
            Transform.Mask(new MaskOptions { Mode = MaskMode.Hash, HashKey = key }, "mail"),
            Transform.Drop("country"),
            Transform.Cast(("quantity", CastType.String)),
            Transform.Cast(("quantity", CastType.Long)),
            Transform.AddFromEnvelope("table", "source.table"),
        };
        var input = PipelineTestData.Envelope(DataMesh.Events.ChangeOperation.Update, PipelineTestData.Row(1, email: "old@example.com"), PipelineTestData.Row(1));

        var step = schema;
        var bytes = input;
        foreach (var transform in transforms)
        {
            var planned = transform.Plan(step);
            var output = new System.Buffers.ArrayBufferWriter<byte>();
            var context = default(RecordContext);
            Assert.Equal(TransformOutcome.Emit, planned.Execute(bytes, output, ref context));
            bytes = output.WrittenSpan.ToArray();
            step = planned.OutputSchema;
        }

        var fused = new TransformChain(transforms).Plan(schema);
        var fusedOutput = new System.Buffers.ArrayBufferWriter<byte>();
        var fusedContext = default(RecordContext);
        Assert.Equal(TransformOutcome.Emit, fused.Execute(input, fusedOutput, ref fusedContext));

        // The second cast reads a value the first one made, so it starts a second pass.
        Assert.Equal(2, fused.Stages.Count);
        Assert.Equal(bytes, fusedOutput.WrittenSpan.ToArray());
        var record = PipelineTestData.Decode(fused.OutputSchema, bytes);
        Assert.Equal(Convert.ToHexStringLower(HMACSHA256.HashData(key, "anna@example.com"u8)), PipelineTestData.After(record)["mail"]);
        Assert.Equal(Convert.ToHexStringLower(HMACSHA256.HashData(key, "old@example.com"u8)), ((global::Avro.Generic.GenericRecord)record["before"])["mail"]);
        Assert.Equal(3L, PipelineTestData.After(record)["quantity"]);
        Assert.Equal("orders", PipelineTestData.After(record)["table"]);
    }
}
