namespace DataMesh.Pipelines.Filtering;

/// <summary>
/// A parsed filter expression, such as <c>op != 'd' and source.table in ('orders', 'lines') and amount &gt;= 100</c>.
/// Parse once; the expression is planned per input schema by the filter transform (<see cref="Transforms.Transform.Filter(FilterExpression)"/>).
/// <c>docs/pipelines.md</c> documents the syntax and the semantics.
/// </summary>
public sealed class FilterExpression
{
    private FilterExpression(string text, FilterNode root)
    {
        Text = text;
        Root = root;
    }

    /// <summary>The expression text.</summary>
    public string Text { get; }

    internal FilterNode Root { get; }

    /// <summary>Parses <paramref name="text"/>.</summary>
    /// <param name="text">The expression.</param>
    /// <returns>The parsed expression.</returns>
    /// <exception cref="FilterExpressionException">The text is not a valid expression; <see cref="FilterExpressionException.Column"/> says where.</exception>
    public static FilterExpression Parse(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        return new FilterExpression(text, FilterParser.Parse(text));
    }

    /// <inheritdoc />
    public override string ToString() => Text;
}
