using DataMesh.Pipelines.Filtering;
using Xunit;

namespace DataMesh.Tests.Pipelines;

public sealed class FilterParserTests
{
    [Theory]
    [InlineData("op != 'd'")]
    [InlineData("op = 'c' or op == 'u'")]
    [InlineData("not (quantity > 3 and quantity <= 10)")]
    [InlineData("source.table in ('orders', 'lines') and email is not null")]
    [InlineData("status not in ('NEW','PAID')")]
    [InlineData("email startswith 'anna' OR email ENDSWITH '.com' or email contains '@'")]
    [InlineData("is_gift and price >= -1.5e2")]
    [InlineData("country is null or country <> 'DE'")]
    [InlineData("true")]
    [InlineData("status = 'it''s'")]
    public void Valid_expressions_parse(string text)
    {
        var expression = FilterExpression.Parse(text);

        Assert.Equal(text, expression.Text);
    }

    [Theory]
    [InlineData("", 1, "empty")]
    [InlineData("op == ", 7, "expected a number")]
    [InlineData("op = 'd", 6, "not closed")]
    [InlineData("op = \"d\"", 6, "single quotes")]
    [InlineData("a = 1 b = 2", 7, "expected 'and', 'or'")]
    [InlineData("(a = 1", 7, "expected ')'")]
    [InlineData("a in 1, 2", 6, "'(' after 'in'")]
    [InlineData("a in (1 2)", 9, "',' or ')'")]
    [InlineData("a is nul", 6, "expected 'null'")]
    [InlineData("a not like 'x'", 7, "expected 'in'")]
    [InlineData("a = 1 and", 10, "expected a field name")]
    [InlineData("a.= 1", 3, "after '.'")]
    [InlineData("a = 1x", 5, "is not a number")]
    [InlineData("a # 1", 3, "unexpected character '#'")]
    [InlineData("a startswith 3", 14, "needs a 'string'")]
    [InlineData("and = 1", 1, "expected a field name")]
    public void Syntax_errors_give_the_column(string text, int column, string reason)
    {
        var e = Assert.Throws<FilterExpressionException>(() => FilterExpression.Parse(text));

        Assert.Equal(column, e.Column);
        Assert.Contains(reason, e.Reason, StringComparison.Ordinal);
        Assert.Contains($"column {column}", e.Message, StringComparison.Ordinal);
        Assert.IsAssignableFrom<FormatException>(e);
    }
}
