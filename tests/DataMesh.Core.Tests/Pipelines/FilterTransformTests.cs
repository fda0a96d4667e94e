using DataMesh.Events;
using DataMesh.Pipelines.Filtering;
using DataMesh.Pipelines.Transforms;
using Xunit;
using static DataMesh.Tests.Pipelines.PipelineTestData;

namespace DataMesh.Tests.Pipelines;

public sealed class FilterTransformTests
{
    private static readonly global::Avro.RecordSchema Envelope = SchemasOf().EnvelopeSchema;

    private static bool Keeps(string expression, byte[] record)
    {
        var planned = Transform.Filter(expression).Plan(Envelope);
        var (outcome, result, _) = Run(planned, record);
        if (outcome == TransformOutcome.Emit)
        {
            Assert.NotNull(result);
            Assert.True(planned.PassesBytesThrough);
        }

        return outcome == TransformOutcome.Emit;
    }

    public static TheoryData<string, bool> Cases() => new()
    {
        { "op == 'c'", true },
        { "op != 'c'", false },
        { "op in ('u', 'd')", false },
        { "op not in ('u', 'd')", true },
        { "source.table == 'orders'", true },
        { "source.table startswith 'ord' and source.db == 'shop'", true },
        { "source.lsn == 42", true },
        { "ts_ms > 1764150615999", true },
        { "after.quantity == 3", true },
        { "quantity >= 3 and quantity < 4", true },
        { "quantity > 3", false },
        { "quantity = 3.0", true },
        { "quantity < 3.5", true },
        { "price == 12.5", true },
        { "price > 12.49 and price < 12.51", true },
        { "price >= 12.51", false },
        { "discount < 0.2", true },
        { "is_gift", false },
        { "not is_gift", true },
        { "is_gift == false", true },
        { "is_gift != false", false },
        { "email contains '@example.'", true },
        { "email endswith '.org'", false },
        { "email == 'anna@example.com'", true },
        { "email > 'anna'", true },
        { "email < 'anna'", false },
        { "country is null", false },
        { "country is not null", true },
        { "country == null", false },
        { "country != null", true },
        { "before is null", true },
        { "before.quantity == 3", false },
        { "status in ('NEW', 'PAID')", true },
        { "(op == 'd' or quantity == 3) and not (status == 'PAID')", true },
        { "created_at > 0", true },
        { "id == 1", true },
        { "id == -1", false },
        { "false or true", true },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void Conditions_over_envelope_and_row_fields(string expression, bool expected)
    {
        var create = Envelope(ChangeOperation.Create, null, Row(1));

        Assert.Equal(expected, Keeps(expression, create));
    }

    [Fact]
    public void Null_values_fail_comparisons_and_bare_columns_read_the_before_image_of_deletes()
    {
        var noEmail = Envelope(ChangeOperation.Create, null, Row(2, email: null, country: null, price: null));
        Assert.False(Keeps("email == 'x'", noEmail));
        Assert.False(Keeps("email != 'x'", noEmail));
        Assert.True(Keeps("not (email == 'x')", noEmail));
        Assert.True(Keeps("email is null and price is null", noEmail));
        Assert.False(Keeps("price > 0", noEmail));

        var delete = Envelope(ChangeOperation.Delete, Row(3, status: "PAID"), null);
        Assert.True(Keeps("status == 'PAID'", delete));
        Assert.False(Keeps("after.status == 'PAID'", delete));
        Assert.True(Keeps("after is null and before.id == 3", delete));
    }

    [Fact]
    public void Filters_run_on_flat_records_after_unwrap()
    {
        var chain = new TransformChain([Transform.Unwrap(), Transform.Filter("quantity > 2 and status == 'NEW'")]).Plan(Envelope);

        Assert.Equal(TransformOutcome.Emit, Run(chain, Envelope(ChangeOperation.Create, null, Row(1))).Outcome);
        Assert.Equal(TransformOutcome.Drop, Run(chain, Envelope(ChangeOperation.Create, null, Row(1, quantity: 1))).Outcome);
    }

    [Theory]
    [InlineData("nope == 1", 1, "'nope' is not a field")]
    [InlineData("op == 'c' and source.nope == 1", 15, "'source.nope' is not a field")]
    [InlineData("quantity == 'three'", 13, "compare it with a number")]
    [InlineData("status > 3", 10, "compare it with a 'string'")]
    [InlineData("is_gift == 1", 12, "boolean")]
    [InlineData("quantity", 1, "not a boolean")]
    [InlineData("quantity startswith '1'", 21, "need a string field")]
    [InlineData("quantity > null", 12, "null can only be compared")]
    [InlineData("quantity.x == 1", 1, "has no fields")]
    [InlineData("source == 1", 1, "cannot compare")]
    public void Planning_errors_give_the_column(string expression, int column, string reason)
    {
        var transform = Transform.Filter(expression);

        var e = Assert.Throws<FilterExpressionException>(() => transform.Plan(Envelope));

        Assert.Equal(column, e.Column);
        Assert.Contains(reason, e.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void Filter_expressions_parse_once_and_plan_per_schema()
    {
        var transform = Transform.Filter("email is not null");
        var v2Table = new TableDescription("public", "orders", [.. Orders.Columns, new ColumnDescription("vip", DataType.Of(DataTypeKind.Boolean, "boolean"), true)], ["id"]);
        var v2 = SchemasOf(v2Table);

        var plannedV1 = transform.Plan(Envelope);
        var plannedV2 = transform.Plan(v2.EnvelopeSchema);

        Assert.Equal(TransformOutcome.Emit, Run(plannedV1, Envelope(ChangeOperation.Create, null, Row(1))).Outcome);
        Assert.Equal(TransformOutcome.Emit, Run(plannedV2, Envelope(ChangeOperation.Create, null, [.. Row(1), true], v2)).Outcome);
        Assert.Equal(TransformOutcome.Drop, Run(plannedV2, Envelope(ChangeOperation.Create, null, [.. Row(1, email: null), null], v2)).Outcome);
    }
}
