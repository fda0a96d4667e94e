using System.Security.Cryptography;
using System.Text;
using Avro.Generic;
using DataMesh.Events;
using DataMesh.Pipelines.Transforms;
using Xunit;
using static DataMesh.Tests.Pipelines.PipelineTestData;

namespace DataMesh.Tests.Pipelines;

public sealed class RowTransformTests
{
    private static readonly byte[] Key = Encoding.UTF8.GetBytes("0123456789abcdef-secret");
    private static readonly global::Avro.RecordSchema Envelope = SchemasOf().EnvelopeSchema;

    private static string[] FieldNames(global::Avro.RecordSchema schema) => schema.Fields.Select(f => f.Name).ToArray();

    [Fact]
    public void Keep_rewrites_both_images_and_copies_the_rest_of_the_envelope()
    {
        var planned = Transform.Keep("status", "id").Plan(Envelope);
        var (_, record, _) = Run(planned, Envelope(ChangeOperation.Update, Row(1, status: "NEW"), Row(1, status: "PAID")));

        var before = (GenericRecord)record!["before"];
        var after = After(record);
        Assert.Equal(["status", "id"], FieldNames(after.Schema));
        Assert.Equal("NEW", before["status"]);
        Assert.Equal("PAID", after["status"]);
        Assert.Equal(1L, after["id"]);
        Assert.Equal("u", record["op"]);
        Assert.Equal("orders", ((GenericRecord)record["source"])["table"]);
        Assert.Equal(1_764_150_616_000L, record["ts_ms"]);
    }

    [Fact]
    public void Drop_keeps_null_images_null()
    {
        var planned = Transform.Drop("email", "price").Plan(Envelope);
        var (_, record, _) = Run(planned, Envelope(ChangeOperation.Create, null, Row(5)));

        Assert.Null(record!["before"]);
        Assert.Equal(["id", "status", "quantity", "discount", "is_gift", "created_at", "country"], FieldNames(After(record).Schema));
        Assert.Equal(3, After(record)["quantity"]);
        Assert.Equal("DE", After(record)["country"]);
    }

    [Fact]
    public void Rename_changes_names_not_values()
    {
        var planned = Transform.Rename(("status", "state"), ("email", "mail")).Plan(Envelope);
        var after = After(Run(planned, Envelope(ChangeOperation.Create, null, Row(5)))!.Record!);

        Assert.Equal("NEW", after["state"]);
        Assert.Equal("anna@example.com", after["mail"]);
        Assert.False(after.Schema.TryGetField("status", out _));
    }

    [Fact]
    public void Redact_replaces_strings_and_nulls_other_nullable_values()
    {
        var planned = Transform.Mask(new MaskOptions { Replacement = "xxx" }, "email", "status", "price").Plan(Envelope);
        var after = After(Run(planned, Envelope(ChangeOperation.Create, null, Row(5)))!.Record!);
        var withNull = After(Run(planned, Envelope(ChangeOperation.Create, null, Row(6, email: null)))!.Record!);

        Assert.Equal("xxx", after["email"]);
        Assert.Equal("xxx", after["status"]);
        Assert.Null(after["price"]);
        Assert.Null(withNull["email"]);
        Assert.Equal(3, after["quantity"]);
    }

    [Fact]
    public void Keyed_hash_is_the_HMAC_of_the_text_in_hex_or_base64()
    {
        var hex = Transform.Mask(new MaskOptions { Mode = MaskMode.Hash, HashKey = Key }, "email").Plan(Envelope);
        var b64 = Transform.Mask(new MaskOptions { Mode = MaskMode.Hash, HashKey = Key, HashFormat = HashFormat.Base64 }, "email").Plan(Envelope);
        var input = Envelope(ChangeOperation.Create, null, Row(5));

        var expected = HMACSHA256.HashData(Key, Encoding.UTF8.GetBytes("anna@example.com"));
        Assert.Equal(Convert.ToHexStringLower(expected), After(Run(hex, input).Record!)["email"]);
        Assert.Equal(Convert.ToBase64String(expected), After(Run(b64, input).Record!)["email"]);
        Assert.Null(After(Run(hex, Envelope(ChangeOperation.Create, null, Row(6, email: null))).Record!)["email"]);
        var otherKey = Transform.Mask(new MaskOptions { Mode = MaskMode.Hash, HashKey = new byte[32] }, "email").Plan(Envelope);
        Assert.NotEqual(After(Run(hex, input).Record!)["email"], After(Run(otherKey, input).Record!)["email"]);
    }

    [Fact]
    public void Hash_of_a_number_hashes_its_Avro_encoding()
    {
        var planned = Transform.Mask(new MaskOptions { Mode = MaskMode.Hash, HashKey = Key }, "id").Plan(Envelope);

        var after = After(Run(planned, Envelope(ChangeOperation.Create, null, Row(5)))!.Record!);

        Assert.Equal(Convert.ToHexStringLower(HMACSHA256.HashData(Key, new byte[] { 10 })), after["id"]);
    }

    [Fact]
    public void Cast_converts_and_rejects_values_that_do_not_convert()
    {
        var planned = Transform.Cast(("quantity", CastType.String), ("price", CastType.Double), ("id", CastType.Int), ("is_gift", CastType.String), ("discount", CastType.String)).Plan(Envelope);
        var after = After(Run(planned, Envelope(ChangeOperation.Create, null, Row(5)))!.Record!);

        Assert.Equal("3", after["quantity"]);
        Assert.Equal(12.5, after["price"]);
        Assert.Equal(5, after["id"]);
        Assert.Equal("false", after["is_gift"]);
        Assert.Equal("0.1", after["discount"]);

        var chain = new TransformChain([Transform.Cast(("id", CastType.Int))]).Plan(Envelope);
        var e = Assert.Throws<TransformException>(() => Run(chain, Envelope(ChangeOperation.Create, null, Row(long.MaxValue))));
        Assert.Equal("cast(id as int)", e.Stage);
        Assert.Contains("does not fit an int", e.Message, StringComparison.Ordinal);

        var back = new TransformChain([Transform.Cast(("status", CastType.Long))]).Plan(Envelope);
        Assert.Throws<TransformException>(() => Run(back, Envelope(ChangeOperation.Create, null, Row(5, status: "NEW"))));
        Assert.Equal(42L, After(Run(back, Envelope(ChangeOperation.Create, null, Row(5, status: "42"))).Record!)["status"]);
    }

    [Fact]
    public void Add_field_from_a_constant_or_the_envelope()
    {
        var chain = new TransformChain(
        [
            Transform.AddConstant("origin", "eu"),
            Transform.AddFromEnvelope("table", "source.table"),
            Transform.AddFromEnvelope("operation", "op"),
            Transform.AddFromEnvelope("lsn", "source.lsn"),
        ]).Plan(Envelope);

        var after = After(Run(chain, Envelope(ChangeOperation.Create, null, Row(5), table: "orders")).Record!);

        Assert.Equal("eu", after["origin"]);
        Assert.Equal("orders", after["table"]);
        Assert.Equal("c", after["operation"]);
        Assert.Equal(42L, after["lsn"]);
    }

    [Fact]
    public void Row_transforms_apply_to_flat_records()
    {
        var chain = new TransformChain([Transform.Unwrap(), Transform.Keep("id", "email"), Transform.Rename(("email", "mail"))]).Plan(Envelope);

        var (_, record, _) = Run(chain, Envelope(ChangeOperation.Create, null, Row(9)));

        Assert.Equal(["id", "mail"], FieldNames(chain.OutputSchema));
        Assert.Equal(9L, record!["id"]);
        Assert.Equal("anna@example.com", record["mail"]);
    }

    [Fact]
    public void Bad_specifications_are_rejected()
    {
        Assert.Contains("has no field 'nope'", Assert.Throws<TransformPlanException>(() => Transform.Keep("nope").Plan(Envelope)).Message, StringComparison.Ordinal);
        Assert.Contains("two fields named 'status'", Assert.Throws<TransformPlanException>(() => Transform.Rename(("email", "status")).Plan(Envelope)).Message, StringComparison.Ordinal);
        Assert.Contains("not a valid Avro field name", Assert.Throws<TransformPlanException>(() => Transform.Rename(("email", "e-mail")).Plan(Envelope)).Message, StringComparison.Ordinal);
        Assert.Contains("non-null", Assert.Throws<TransformPlanException>(() => Transform.Mask(new MaskOptions(), "quantity").Plan(Envelope)).Message, StringComparison.Ordinal);
        Assert.Contains("cannot be cast", Assert.Throws<TransformPlanException>(() => Transform.Cast(("is_gift", CastType.Int)).Plan(Envelope)).Message, StringComparison.Ordinal);
        Assert.Contains("no field 'source.nope'", Assert.Throws<TransformPlanException>(() => Transform.AddFromEnvelope("x", "source.nope").Plan(Envelope)).Message, StringComparison.Ordinal);
        Assert.Contains("not a change-event envelope", Assert.Throws<TransformPlanException>(() => Transform.AddFromEnvelope("x", "op").Plan(SchemasOf().RowSchema)).Message, StringComparison.Ordinal);
        Assert.Throws<ArgumentException>(() => Transform.Mask(new MaskOptions { Mode = MaskMode.Hash, HashKey = new byte[8] }, "email"));
        Assert.Throws<ArgumentException>(() => Transform.Keep());
        Assert.Throws<ArgumentException>(() => Transform.AddConstant("x", DateTime.UnixEpoch));
        Assert.Throws<ArgumentException>(() => Transform.AddConstant("1x", 1));
    }
}
