namespace DataMesh.Pipelines.Filtering;

/// <summary>
/// A parsed filter expression, such as <c>op != 'd' and source.table in ('orders', 'lines') and amount &gt;= 100</c>.
/// Parse once; the expression is planned per input schema by the filter transform (<see cref="Transforms.Transform.Filter(FilterExpression)"/>).
/// <c>docs/pipelines.md</c> documents the syntax and the semantics.
/// </summary>
public sealed class FilterExpression
{
    /// <summary>The longest expression <see cref="Parse"/> accepts, in characters: 65,536.</summary>
    public const int MaxLength = 65_536;

    /// <summary>
    /// The deepest nesting <see cref="Parse"/> accepts: 64 levels of parentheses and <c>not</c> (each counts one level). A
    /// chain of <c>and</c>/<c>or</c> terms is one level however long it is.
    /// </summary>
    public const int MaxDepth = 64;

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
