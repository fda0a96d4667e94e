using DataMesh.Events;
using DataMesh.Pipelines.Transforms;
using Xunit;
using static DataMesh.Tests.Pipelines.PipelineTestData;

namespace DataMesh.Tests.Pipelines;

public sealed class UnwrapRouteTests
{
    private static readonly global::Avro.RecordSchema Envelope = SchemasOf().EnvelopeSchema;

    [Fact]
    public void Unwrap_gives_the_after_image_and_deletes_as_tombstones()
    {
        var planned = Transform.Unwrap().Plan(Envelope);

        var (outcome, record, _) = Run(planned, Envelope(ChangeOperation.Update, Row(1, status: "NEW"), Row(1, status: "PAID")));
        Assert.Equal(TransformOutcome.Emit, outcome);
        Assert.Equal("PAID", record!["status"]);
        Assert.Equal(SchemasOf().RowSchema.Fields.Select(f => f.Name), planned.OutputSchema.Fields.Select(f => f.Name));

        Assert.Equal(TransformOutcome.Tombstone, Run(planned, Envelope(ChangeOperation.Delete, Row(1), null)).Outcome);
        Assert.Equal(TransformOutcome.Drop, Run(planned, Envelope(ChangeOperation.Truncate, null, null)).Outcome);
        Assert.Equal(TransformOutcome.Drop, Run(Transform.Unwrap(DeleteHandling.Drop).Plan(Envelope), Envelope(ChangeOperation.Delete, Row(1), null)).Outcome);
    }

    [Fact]
    public void Unwrap_rewrite_flags_deletes()
    {
        var planned = Transform.Unwrap(DeleteHandling.Rewrite).Plan(Envelope);

        var created = Run(planned, Envelope(ChangeOperation.Create, null, Row(1))).Record!;
        var deleted = Run(planned, Envelope(ChangeOperation.Delete, Row(2, status: "GONE"), null)).Record!;

        Assert.Equal(false, created["__deleted"]);
        Assert.Equal(true, deleted["__deleted"]);
        Assert.Equal("GONE", deleted["status"]);
        Assert.Equal(2L, deleted["id"]);
    }

    [Fact]
    public void Unwrap_needs_an_envelope()
    {
        var row = SchemasOf().RowSchema;

        Assert.Throws<TransformPlanException>(() => Transform.Unwrap().Plan(row));
    }

    [Fact]
    public void Route_names_the_topic_from_a_field_and_leaves_nulls_on_the_default()
    {
        var chain = new TransformChain([Transform.RouteByTable("sink.{value}"), Transform.Route("country", "{value}.{value}")]).Plan(Envelope);
        var byTable = new TransformChain([Transform.RouteByTable("sink.{value}")]).Plan(Envelope);
        var byId = new TransformChain([Transform.Route("id", "orders-{value}")]).Plan(Envelope);

        Assert.Equal("sink.lines", Run(byTable, Envelope(ChangeOperation.Create, null, Row(1), table: "lines")).Context.Topic);
        Assert.Equal("sink.orders", Run(byTable, Envelope(ChangeOperation.Create, null, Row(1))).Context.Topic);
        Assert.Equal("orders-17", Run(byId, Envelope(ChangeOperation.Create, null, Row(17))).Context.Topic);
        Assert.Equal("DE.DE", Run(chain, Envelope(ChangeOperation.Create, null, Row(1))).Context.Topic);
        Assert.Equal("sink.orders", Run(chain, Envelope(ChangeOperation.Create, null, Row(1, country: null))).Context.Topic);
        Assert.Throws<ArgumentException>(() => Transform.Route("country", "fixed"));
        Assert.Throws<TransformPlanException>(() => { _ = Transform.Route("is_gift").Plan(Envelope); });
    }
}
