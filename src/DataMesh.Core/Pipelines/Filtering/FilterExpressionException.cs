using System.Globalization;

namespace DataMesh.Pipelines.Filtering;

/// <summary>
/// A filter expression is wrong: a syntax error found when it is parsed, or a field or type error found when it is planned
/// for a schema. <see cref="Column"/> is the 1-based position in the expression text where the mistake is.
/// </summary>
public sealed class FilterExpressionException : FormatException
{
    /// <summary>Creates an exception.</summary>
    public FilterExpressionException()
    {
    }

    /// <summary>Creates an exception with a message.</summary>
    /// <param name="message">The message.</param>
    public FilterExpressionException(string message)
        : base(message)
    {
    }

    /// <summary>Creates an exception with a message and a cause.</summary>
    /// <param name="message">The message.</param>
    /// <param name="innerException">The cause.</param>
    public FilterExpressionException(string message, Exception? innerException)
        : base(message, innerException)
    {
    }

    /// <summary>Creates an exception for a mistake at <paramref name="column"/>.</summary>
    /// <param name="reason">What is wrong.</param>
    /// <param name="column">The 1-based column of the mistake.</param>
    /// <param name="expression">The expression text.</param>
    public FilterExpressionException(string reason, int column, string expression)
        : base(Format(reason, column, expression))
    {
        Reason = reason;
        Column = column;
        Expression = expression;
    }

    /// <summary>What is wrong, without the position.</summary>
    public string Reason { get; } = string.Empty;

    /// <summary>The 1-based column of the mistake in <see cref="Expression"/>; 0 when unknown.</summary>
    public int Column { get; }

    /// <summary>The expression text.</summary>
    public string Expression { get; } = string.Empty;

    /// <summary>The message: the expression is quoted whole up to 200 characters, else 200 characters around <paramref name="column"/>, with its length.</summary>
    private static string Format(string reason, int column, string expression)
    {
        const int Quoted = 200;
        if (expression.Length <= Quoted)
        {
            return string.Create(CultureInfo.InvariantCulture, $"Filter expression, column {column}: {reason} (in \"{expression}\")");
        }

        var start = Math.Clamp(column - 1 - (Quoted / 2), 0, expression.Length - Quoted);
        var before = start > 0 ? "…" : string.Empty;
        var after = start + Quoted < expression.Length ? "…" : string.Empty;
        return string.Create(CultureInfo.InvariantCulture, $"Filter expression, column {column}: {reason} (in \"{before}{expression.AsSpan(start, Quoted)}{after}\", {expression.Length:N0} characters)");
    }
}
