using System.Text;
using DataMesh.Events;
using DataMesh.Pipelines.Filtering;
using DataMesh.Pipelines.Transforms;
using Xunit;
using static DataMesh.Tests.Pipelines.PipelineTestData;

namespace DataMesh.Tests.Pipelines;

/// <summary>
/// Hostile filter expressions: each is refused at parse time with the limit it broke, or planned and evaluated within a
/// small stack — never a stack overflow, which no handler can catch and which ends the process.
/// </summary>
public sealed class FilterLimitTests
{
    /// <summary>The stack the tests give parsing, planning and evaluation: a fraction of a thread-pool thread's.</summary>
    private const int SmallStack = 256 * 1024;

    private static readonly global::Avro.RecordSchema Schema = SchemasOf().EnvelopeSchema;

    [Fact]
    public void Eight_thousand_nested_parentheses_are_refused_with_the_depth_limit_instead_of_overflowing_the_stack()
    {
        var text = new string('(', 8000) + "quantity > 1" + new string(')', 8000);

        var e = OnSmallStack(() => Assert.Throws<FilterExpressionException>(() => FilterExpression.Parse(text)));

        Assert.Equal(FilterExpression.MaxDepth + 1, e.Column);
        Assert.Contains($"FilterExpression.MaxDepth ({FilterExpression.MaxDepth})", e.Reason, StringComparison.Ordinal);
        Assert.Equal(text, e.Expression);
        Assert.True(e.Message.Length < 600, $"the message quotes {e.Message.Length} characters");
    }

    [Fact]
    public void Two_hundred_thousand_nots_are_refused_with_the_length_limit_and_sixty_five_with_the_depth_limit()
    {
        var huge = new StringBuilder().Insert(0, "not ", 200_000).Append("is_gift").ToString();
        var tooLong = OnSmallStack(() => Assert.Throws<FilterExpressionException>(() => FilterExpression.Parse(huge)));
        Assert.Contains($"FilterExpression.MaxLength ({FilterExpression.MaxLength:N0} characters)", tooLong.Reason, StringComparison.Ordinal);
        Assert.Contains($"{huge.Length:N0}", tooLong.Reason, StringComparison.Ordinal);
        Assert.True(tooLong.Message.Length < 600, $"the message quotes {tooLong.Message.Length} characters");

        var deep = new StringBuilder().Insert(0, "not ", FilterExpression.MaxDepth + 1).Append("is_gift").ToString();
        var tooDeep = OnSmallStack(() => Assert.Throws<FilterExpressionException>(() => FilterExpression.Parse(deep)));
        Assert.Contains("FilterExpression.MaxDepth", tooDeep.Reason, StringComparison.Ordinal);

        // At the limit it parses, plans and evaluates: an even number of nots keeps the value.
        var deepest = new StringBuilder().Insert(0, "not ", FilterExpression.MaxDepth).Append("is_gift").ToString();
        Assert.False(OnSmallStack(() => Keeps(deepest, Envelope(ChangeOperation.Create, null, Row(1)))));
    }

    [Fact]
    public void A_twenty_thousand_term_or_is_refused_with_the_length_limit()
    {
        var text = string.Join(" or ", Enumerable.Range(0, 20_000).Select(i => $"quantity == {i}"));

        var e = OnSmallStack(() => Assert.Throws<FilterExpressionException>(() => FilterExpression.Parse(text)));

        Assert.Contains("FilterExpression.MaxLength", e.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void The_longest_or_and_in_the_length_limit_allows_are_planned_and_evaluated_on_a_small_stack()
    {
        // About 5,900 terms of 'is_gift or ': as many as fit in FilterExpression.MaxLength.
        const string Term = "is_gift or ";
        var terms = (FilterExpression.MaxLength - "quantity == 3".Length) / Term.Length;
        var or = new StringBuilder().Insert(0, Term, terms).Append("quantity == 3").ToString();
        const string AndTerm = "not is_gift and ";
        var and = new StringBuilder().Insert(0, AndTerm, (FilterExpression.MaxLength - "quantity == 3".Length) / AndTerm.Length).Append("quantity == 3").ToString();
        var list = "quantity in (" + string.Join(", ", Enumerable.Range(100, 9_000)) + ", 3)";
        var record = Envelope(ChangeOperation.Create, null, Row(1, quantity: 3));
        var other = Envelope(ChangeOperation.Create, null, Row(1, quantity: 4));

        Assert.All([or, and, list], text => Assert.InRange(text.Length, 30_000, FilterExpression.MaxLength));
        Assert.True(OnSmallStack(() => Keeps(or, record)));
        Assert.False(OnSmallStack(() => Keeps(or, other)));
        Assert.True(OnSmallStack(() => Keeps(and, record)));
        Assert.False(OnSmallStack(() => Keeps(and, other)));
        Assert.True(OnSmallStack(() => Keeps(list, record)));
        Assert.False(OnSmallStack(() => Keeps(list, other)));
        Assert.True(OnSmallStack(() => Keeps("not (" + list + ")", other)));
    }

    [Fact]
    public void Expressions_within_the_limits_still_mean_what_they_meant()
    {
        var record = Envelope(ChangeOperation.Create, null, Row(1, quantity: 3));

        Assert.True(Keeps("op == 'c' and (quantity == 1 or quantity == 3) and not is_gift", record));
        Assert.False(Keeps("op == 'c' and (quantity == 1 or quantity == 2) and not is_gift", record));
        Assert.True(Keeps("quantity == 1 or quantity == 2 or op == 'c' and quantity == 3", record));
        Assert.False(Keeps("(quantity == 1 or quantity == 2 or op == 'c') and quantity == 4", record));
        Assert.True(Keeps("not not not is_gift", record));
        Assert.True(Keeps(new string('(', FilterExpression.MaxDepth) + "quantity == 3" + new string(')', FilterExpression.MaxDepth), record));
    }

    private static bool Keeps(string expression, byte[] record)
    {
        var planned = Transform.Filter(expression).Plan(Schema);
        return Run(planned, record).Outcome == TransformOutcome.Emit;
    }

    /// <summary>Runs <paramref name="body"/> on a thread with a <see cref="SmallStack"/> stack and returns its result (or rethrows).</summary>
    private static T OnSmallStack<T>(Func<T> body)
    {
        T result = default!;
        Exception? failure = null;
        var thread = new Thread(
            () =>
            {
                try
                {
                    result = body();
                }
                catch (Exception e)
                {
                    failure = e;
                }
            },
            SmallStack);
        thread.Start();
        thread.Join();
        return failure is null ? result : throw new InvalidOperationException("The body failed on the small stack.", failure);
    }
}
