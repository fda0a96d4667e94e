using System.Text;
using DataMesh.Events;
using DataMesh.Pipelines.Transforms;
using Xunit;
using static DataMesh.Tests.Pipelines.PipelineTestData;

namespace DataMesh.Tests.Pipelines;

/// <summary>Which source columns a chain masks (for keys and dead letters), and what a chain may not do with them.</summary>
public sealed class MaskLineageTests
{
    private static readonly byte[] Secret = Encoding.UTF8.GetBytes("a-secret-of-16-bytes");

    [Fact]
    public void Masked_columns_are_followed_back_through_renames_and_added_fields_mask_no_column()
    {
        var chain = new TransformChain(
        [
            Transform.Rename(("email", "mail"), ("status", "email")),
            Transform.Mask(new MaskOptions { Mode = MaskMode.Hash, HashKey = Secret }, "mail"),
            Transform.AddConstant("region", "eu"),
            Transform.Mask(new MaskOptions(), "region", "country"),
        ]);

        Assert.Equal(["email", "country"], chain.MaskedColumns.Select(m => m.Column));
        Assert.Equal(MaskMode.Hash, chain.MaskedColumns[0].Options.Mode);
        Assert.Equal("mask-redact(region, country)", chain.MaskedColumns[1].Transform);
    }

    [Fact]
    public void A_route_on_a_column_masked_after_it_is_refused_because_the_topic_names_would_carry_the_values()
    {
        var mask = Transform.Mask(new MaskOptions { Mode = MaskMode.Hash, HashKey = Secret }, "email");

        var e = Assert.Throws<ArgumentException>(() => new TransformChain([Transform.Route("after.email", "mail.{value}"), Transform.Unwrap(), mask]));
        Assert.Contains("route(after.email -> mail.{value})", e.Message, StringComparison.Ordinal);
        Assert.Contains("mask-hash(email)", e.Message, StringComparison.Ordinal);
        Assert.Contains("Put the mask before the route", e.Message, StringComparison.Ordinal);
        Assert.Throws<ArgumentException>(() => new TransformChain([Transform.Rename(("email", "mail")), Transform.Route("mail", "t.{value}"), Transform.Mask(new MaskOptions(), "mail")]));

        // A new user's pass: a column e-mail is the field e_mail; the route named it one way and the mask the other.
        Assert.Throws<ArgumentException>(() => new TransformChain([Transform.Unwrap(), Transform.Route("e_mail", "people.{value}"), Transform.Mask(new MaskOptions(), "e-mail")]));

        // A route after the mask names topics after the masked values; a route on another column is no concern.
        Assert.Single(new TransformChain([mask, Transform.Route("email", "mail.{value}")]).MaskedColumns);
        Assert.Single(new TransformChain([Transform.RouteByTable("t.{value}"), Transform.Route("country", "c.{value}"), mask]).MaskedColumns);
    }

    [Fact]
    public void A_redacted_key_column_is_hashed_in_the_key_under_the_hash_key_and_refused_without_one()
    {
        var key = SchemasOf().KeySchema!;
        var withoutKey = new TransformChain([Transform.Mask(new MaskOptions(), "id")]);
        var withKey = new TransformChain([Transform.Mask(new MaskOptions { HashKey = Secret }, "id")]);
        var other = new TransformChain([Transform.Mask(new MaskOptions(), "email")]);

        var refused = RecordMasking.Plan(withoutKey.MaskedColumns, key, isKey: true);
        Assert.Null(refused.Chain);
        Assert.Contains("MaskOptions.HashKey", refused.Error, StringComparison.Ordinal);
        Assert.Contains("mask-redact(id)", refused.Error, StringComparison.Ordinal);

        var hashed = RecordMasking.Plan(withKey.MaskedColumns, key, isKey: true);
        Assert.Equal(global::Avro.Schema.Type.String, hashed.Chain!.OutputSchema["id"].Schema.Tag);
        Assert.Same(RecordMasking.AsRead, RecordMasking.Plan(other.MaskedColumns, key, isKey: true));

        // In a dead letter's value a column is masked as the chain masks it.
        var value = RecordMasking.Plan(other.MaskedColumns, SchemasOf().EnvelopeSchema, isKey: false);
        var row = After(Decode(value.Chain!.OutputSchema, Masked(value, Envelope(ChangeOperation.Create, null, Row(7)))));
        Assert.Equal("***", row["email"]);
        Assert.Equal(7L, row["id"]);
    }

    [Fact]
    public void A_hash_key_shorter_than_16_bytes_is_refused_in_either_mode()
    {
        Assert.Contains("16 bytes", Assert.Throws<ArgumentException>(() => Transform.Mask(new MaskOptions { HashKey = new byte[8] }, "email")).Message, StringComparison.Ordinal);
        Assert.Contains("16 bytes", Assert.Throws<ArgumentException>(() => Transform.Mask(new MaskOptions { Mode = MaskMode.Hash, HashKey = new byte[8] }, "email")).Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_cast_that_fails_names_the_field_but_never_the_value()
    {
        // Transform errors reach logs, dead-letter headers and pipeline errors, where a masked value must not.
        var chain = new TransformChain([Transform.Cast(("id", CastType.Int)), Transform.Mask(new MaskOptions { Mode = MaskMode.Hash, HashKey = Secret }, "id")]).Plan(SchemasOf().EnvelopeSchema);

        var e = Assert.Throws<TransformException>(() => Run(chain, Envelope(ChangeOperation.Create, null, Row(3_000_000_123))));

        Assert.Contains("cast of field 'id' to int", e.Message, StringComparison.Ordinal);
        Assert.Contains("does not fit an int", e.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("3000000123", e.Message, StringComparison.Ordinal);
    }

    private static byte[] Masked(RecordMasking masking, byte[] datum)
    {
        var output = new System.Buffers.ArrayBufferWriter<byte>();
        Assert.True(masking.TryWrite(datum, 42, output, out _));
        return output.WrittenSpan[DataMesh.Avro.ConfluentWireFormat.HeaderLength..].ToArray();
    }
}
