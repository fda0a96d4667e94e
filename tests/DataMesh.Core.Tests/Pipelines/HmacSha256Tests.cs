using System.Security.Cryptography;
using DataMesh.Pipelines.Transforms;
using Xunit;

namespace DataMesh.Tests.Pipelines;

public sealed class HmacSha256Tests
{
    [Theory]
    [InlineData(16, false)]
    [InlineData(32, false)]
    [InlineData(64, false)]
    [InlineData(100, false)]
    [InlineData(16, true)]
    [InlineData(32, true)]
    [InlineData(64, true)]
    [InlineData(100, true)]
    public void Matches_the_framework_for_every_length(int keyLength, bool native)
    {
        // This machine (Debian, libcrypto 3) has OpenSSL's SHA256_Transform: the native path must be tested, not skipped.
        Assert.True(NativeSha256.IsAvailable, "OpenSSL's SHA256_Transform did not load");
        var random = new Random(keyLength);
        var key = new byte[keyLength];
        random.NextBytes(key);
        var hmac = new HmacSha256(key, native);
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
