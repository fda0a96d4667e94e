using System.Buffers;
using DataMesh.Events;
using DataMesh.Pipelines.Filtering;
using DataMesh.Pipelines.Transforms;
using Xunit;
using static DataMesh.Tests.Pipelines.PipelineTestData;

namespace DataMesh.Tests.Pipelines;

/// <summary>
/// Mutated filter expressions through parsing, planning and evaluation (<see cref="Fuzz"/>): a bad expression is refused
/// with a <see cref="FilterExpressionException"/> (at parse or plan time); one that plans evaluates every record without
/// an exception, and a malformed record only with a <see cref="TransformException"/>.
/// </summary>
public sealed class FilterFuzzTests
{
    private static readonly string[] Expressions =
    [
        "op != 'd' and source.table in ('orders', 'order_lines') and (quantity >= 1 or is_gift) and email is not null",
        "not (quantity > 3 and quantity <= 10) or price >= 12.5",
        "email startswith 'anna' or email endswith '.com' or email contains '@'",
        "before.status == 'NEW' and after.status <> 'NEW'",
        "country is null or country = 'DE' or discount < 0.2",
        "source.lsn > 41 and ts_ms >= 0 and created_at > 1704067200000000",
        "status not in ('PAID', 'it''s') and not is_gift",
        "true",
    ];

    private static readonly string[] Pieces =
    [
        "(", ")", " and ", " or ", "not ", " == ", " != ", " <> ", " < ", " >= ", " in (", ", ", " is null", " is not null", " startswith ",
        " contains ", "'x'", "''", "'", "42", "-1.5e3", "1e400", "9223372036854775808", ".5", "true", "false", "null", "op", "source.table",
        "after.quantity", "before.email", "quantity", "email", "is_gift", "price", "created_at", "source", "after", ".", "\"", "#", "é",
        new string('(', 70), new string(')', 70), string.Concat(Enumerable.Repeat("not ", 70)),
    ];

    [Fact]
    public void Mutated_expressions_are_refused_with_FilterExpressionException_or_evaluated_without_errors()
    {
        var schema = SchemasOf().EnvelopeSchema;
        byte[][] records =
        [
            Envelope(ChangeOperation.Create, null, Row(1)),
            Envelope(ChangeOperation.Update, Row(2, status: "NEW"), Row(2, status: "PAID", email: null, price: null, country: null)),
            Envelope(ChangeOperation.Delete, Row(3, discount: null), null),
        ];
        var planned = 0;

        var run = Fuzz.Run(
            "filter expressions",
            seed: 17,
            iterations: 20_000,
            random =>
            {
                // A third are valid combinations, which reach planning and evaluation; the rest are mutations.
                string Pick() => Expressions[random.Next(Expressions.Length)];
                var text = random.Next(3) == 0
                    ? $"{(random.Next(2) == 0 ? "not " : string.Empty)}({Pick()}) {(random.Next(2) == 0 ? "and" : "or")} ({Pick()})"
                    : Fuzz.Mutate(Pick(), random, Pieces);
                return (Text: text, Record: Fuzz.Mutate(records[random.Next(records.Length)], random));
            },
            input =>
            {
                var chain = new TransformChain([Transform.Filter(input.Text)]).Plan(schema);
                planned++;
                var output = new ArrayBufferWriter<byte>();
                foreach (var record in records)
                {
                    var context = default(RecordContext);
                    chain.Execute(record, output, ref context);
                }

                try
                {
                    var context = default(RecordContext);
                    chain.Execute(input.Record, output, ref context);
                }
                catch (TransformException)
                {
                }
            },
            input => $"\"{input.Text}\" on {Convert.ToHexString(input.Record)}",
            typeof(FilterExpressionException));

        Assert.True(run.Refused > run.Iterations / 10, $"only {run.Refused} of {run.Iterations} mutated expressions were refused");
        Assert.True(planned > run.Iterations / 4, $"only {planned} of {run.Iterations} expressions planned");
    }
}
