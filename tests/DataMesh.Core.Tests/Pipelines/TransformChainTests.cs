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

    [Theory]
    [InlineData("op != 'd' and quantity > 0 and source.table == 'orders'")]
    [InlineData("id > 0")]
    [InlineData("source.table == 'orders'")]
    [InlineData("op == 'c' or op == 'u' or op == 'd'")]
    [InlineData("country is null or quantity >= 0")]
    [InlineData("before.quantity >= 0 or after.quantity >= 0 or op == 'c'")]
    public void A_filter_shares_the_row_ranges_with_the_rewrite_that_follows(string filter)
    {
        var schemas = SchemasOf();
        var key = Encoding.UTF8.GetBytes("a-secret-of-16-bytes");
        TransformChain[] chains =
        [
            new([Transform.Filter(filter), Transform.Drop("discount", "is_gift"), Transform.Mask(new MaskOptions { Mode = MaskMode.Hash, HashKey = key }, "email"), Transform.Rename(("status", "state"))]),
            new([Transform.Filter(filter), Transform.Keep("country", "id", "email")]),
            new([Transform.Filter(filter), Transform.Cast(("quantity", CastType.String)), Transform.Filter("quantity != ''")]),
            new([Transform.Filter(filter), Transform.Mask(new MaskOptions { Mode = MaskMode.Redact }, "country"), Transform.Unwrap()]),
        ];
        var random = new Random(filter.Length);
        var envelopeFinder = new FieldRangeFinder(schemas.EnvelopeSchema);
        foreach (var chain in chains)
        {
            var planned = chain.Plan(schemas.EnvelopeSchema);
            for (var n = 0; n < 300; n++)
            {
                object?[] RandomRow() => Row(random.Next(-3, 1000), email: random.Next(3) == 0 ? null : new string('e', random.Next(0, 200)),
                    quantity: random.Next(-1, 3), price: random.Next(2) == 0 ? null : 1.5m, discount: random.Next(2) == 0 ? null : 0.5,
                    country: random.Next(2) == 0 ? null : new string('c', random.Next(0, 100)));
                var op = (ChangeOperation)random.Next(3);
                var input = op switch
                {
                    ChangeOperation.Create => Envelope(op, null, RandomRow(), schemas),
                    ChangeOperation.Delete => Envelope(op, RandomRow(), null, schemas),
                    _ => Envelope(ChangeOperation.Update, RandomRow(), RandomRow(), schemas),
                };

                // Union indexes of an image in the two-byte form are read, but not shared.
                if (random.Next(4) == 0)
                {
                    var ranges = new Range[envelopeFinder.FieldCount];
                    envelopeFinder.GetFieldRanges(input, ranges);
                    var at = ranges[random.Next(2)].Start.Value;
                    input = [.. input.AsSpan(0, at), (byte)(input[at] | 0x80), 0, .. input.AsSpan(at + 1)];
                }

                var expected = new ArrayBufferWriter<byte>();
                var expectedOutcome = RunStageByStage(planned, input, expected);
                var actual = new ArrayBufferWriter<byte>();
                var context = default(RecordContext);
                var outcome = planned.Execute(input, actual, ref context);

                Assert.Equal(expectedOutcome, outcome);
                Assert.Equal(expected.WrittenSpan.ToArray(), actual.WrittenSpan.ToArray());
            }
        }
    }

    /// <summary>Runs each stage alone, through its public <see cref="PlannedTransform.Execute"/> (which shares nothing).</summary>
    private static TransformOutcome RunStageByStage(PlannedChain planned, byte[] input, ArrayBufferWriter<byte> output)
    {
        var current = input;
        foreach (var stage in planned.Stages)
        {
            var next = new ArrayBufferWriter<byte>();
            var context = default(RecordContext);
            var outcome = stage.Execute(current, next, ref context);
            if (outcome != TransformOutcome.Emit)
            {
                return outcome;
            }

            current = next.WrittenSpan.ToArray();
        }

        output.Write(current);
        return TransformOutcome.Emit;
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
