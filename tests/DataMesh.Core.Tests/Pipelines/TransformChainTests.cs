using System.Buffers;
using System.Text;
using DataMesh.Avro;
using DataMesh.Events;
using DataMesh.Pipelines.Transforms;
using Xunit;
using static DataMesh.Tests.Pipelines.PipelineTestData;

namespace DataMesh.Tests.Pipelines;

public sealed class TransformChainTests
{
    private static TransformChain BenchChain() => new(
    [
        Transform.Filter("op != 'd' and quantity > 0 and source.table == 'orders'"),
        Transform.Drop("discount", "is_gift"),
        Transform.Mask(new MaskOptions { Mode = MaskMode.Hash, HashKey = Encoding.UTF8.GetBytes("a-secret-of-16-bytes") }, "email"),
        Transform.Rename(("status", "state")),
    ]);

    [Fact]
    public void A_chain_runs_the_stages_in_order()
    {
        var chain = BenchChain().Plan(SchemasOf().EnvelopeSchema);

        var (outcome, record, _) = Run(chain, Envelope(ChangeOperation.Create, null, Row(1)));
        var dropped = Run(chain, Envelope(ChangeOperation.Create, null, Row(2, quantity: 0)));

        Assert.Equal(TransformOutcome.Emit, outcome);
        var after = After(record!);
        Assert.Equal("NEW", after["state"]);
        Assert.Equal(64, ((string)after["email"]).Length);
        Assert.False(after.Schema.TryGetField("discount", out _));
        Assert.Equal(TransformOutcome.Drop, dropped.Outcome);
        Assert.Equal(2, chain.Stages.Count); // the filter, then the three row rewrites fused into one pass
        Assert.Equal("drop(discount, is_gift) + mask-hash(email) + rename(status -> state)", chain.Stages[1].Transform.Name);
    }

    [Fact]
    public void A_chain_allocates_nothing_per_record()
    {
        var schemas = SchemasOf();
        var chain = BenchChain().Plan(schemas.EnvelopeSchema);
        var unwrapChain = new TransformChain([Transform.RouteByTable("t.{value}"), Transform.Unwrap(), Transform.Cast(("quantity", CastType.String)), Transform.AddConstant("x", 1L)]).Plan(schemas.EnvelopeSchema);
        var input = Envelope(ChangeOperation.Update, Row(1), Row(1, status: "PAID"));
        var output = new ArrayBufferWriter<byte>(4096);
        var context = default(RecordContext);
        Assert.Equal(0, PipelineTestData.AllocatedBytes(Once));
        Assert.Equal("t.orders", context.Topic);

        // No Assert inside the measured loop: xunit's comparers allocate.
        void Once()
        {
            output.ResetWrittenCount();
            var first = chain.Execute(input, output, ref context);
            output.ResetWrittenCount();
            var second = unwrapChain.Execute(input, output, ref context);
            if (first != TransformOutcome.Emit || second != TransformOutcome.Emit)
            {
                throw new InvalidOperationException("A record was not emitted.");
            }
        }
    }

    [Fact]
    public void A_new_schema_version_is_planned_and_old_records_keep_their_plan()
    {
        var v1 = SchemasOf();
        var v2Table = new TableDescription("public", "orders", [.. Orders.Columns, new ColumnDescription("vip", DataType.Of(DataTypeKind.Boolean, "boolean"), true)], ["id"]);
        var v2 = SchemasOf(v2Table);
        var chain = BenchChain();

        var plannedV1 = chain.Plan(v1.EnvelopeSchema);
        var plannedV2 = chain.Plan(v2.EnvelopeSchema);

        Assert.Equal("NEW", After(Run(plannedV1, Envelope(ChangeOperation.Create, null, Row(1))).Record!)["state"]);
        var after = After(Run(plannedV2, Envelope(ChangeOperation.Create, null, [.. Row(1), true], v2)).Record!);
        Assert.Equal(true, after["vip"]);
        Assert.Equal("NEW", after["state"]);
    }

    [Fact]
    public void Malformed_bytes_fail_with_the_stage()
    {
        var chain = BenchChain().Plan(SchemasOf().EnvelopeSchema);
        var input = Envelope(ChangeOperation.Create, null, Row(1));

        var e = Assert.Throws<TransformException>(() => Run(chain, input[..(input.Length / 2)]));

        Assert.StartsWith("filter(", e.Stage, StringComparison.Ordinal);
        Assert.IsType<AvroFormatException>(e.InnerException);
    }

    [Fact]
    public void An_empty_chain_copies_records()
    {
        var chain = new TransformChain([]).Plan(SchemasOf().EnvelopeSchema);
        var input = Envelope(ChangeOperation.Create, null, Row(1));
        var output = new ArrayBufferWriter<byte>();
        var context = default(RecordContext);

        Assert.Equal(TransformOutcome.Emit, chain.Execute(input, output, ref context));
        Assert.Equal(input, output.WrittenSpan.ToArray());
    }
}
