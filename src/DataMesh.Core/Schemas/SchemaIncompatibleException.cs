using System.Globalization;
using System.Text;

namespace DataMesh.Schemas;

/// <summary>
/// A schema was refused because it is not compatible, at the subject's <see cref="CompatibilityLevel"/>, with
/// earlier versions of the subject. The message names each field and the rule it breaks.
/// </summary>
public sealed class SchemaIncompatibleException : Exception
{
    /// <summary>Creates the exception for <paramref name="subject"/> with its <paramref name="problems"/>.</summary>
    /// <param name="subject">The subject the schema was registered under.</param>
    /// <param name="level">The subject's compatibility level.</param>
    /// <param name="problems">The problems, at least one.</param>
    public SchemaIncompatibleException(string subject, CompatibilityLevel level, IReadOnlyList<SchemaCompatibilityProblem> problems)
        : base(Describe(subject, level, problems))
    {
        Subject = subject;
        Level = level;
        Problems = problems;
    }

    /// <summary>Creates the exception with a message only.</summary>
    public SchemaIncompatibleException()
        : this("Schema is not compatible.")
    {
    }

    /// <summary>Creates the exception with a message only.</summary>
    /// <param name="message">The message.</param>
    public SchemaIncompatibleException(string message)
        : base(message)
    {
        Subject = string.Empty;
        Problems = [];
    }

    /// <summary>Creates the exception with a message and the exception that caused it.</summary>
    /// <param name="message">The message.</param>
    /// <param name="innerException">The cause.</param>
    public SchemaIncompatibleException(string message, Exception innerException)
        : base(message, innerException)
    {
        Subject = string.Empty;
        Problems = [];
    }

    /// <summary>The subject the schema was registered under.</summary>
    public string Subject { get; }

    /// <summary>The subject's compatibility level that was checked.</summary>
    public CompatibilityLevel Level { get; }

    /// <summary>Every problem found, by earlier version.</summary>
    public IReadOnlyList<SchemaCompatibilityProblem> Problems { get; }

    internal static string LevelName(CompatibilityLevel level) => level switch
    {
        CompatibilityLevel.None => "NONE",
        CompatibilityLevel.Backward => "BACKWARD",
        CompatibilityLevel.Forward => "FORWARD",
        CompatibilityLevel.Full => "FULL",
        CompatibilityLevel.BackwardTransitive => "BACKWARD_TRANSITIVE",
        CompatibilityLevel.ForwardTransitive => "FORWARD_TRANSITIVE",
        CompatibilityLevel.FullTransitive => "FULL_TRANSITIVE",
        _ => level.ToString(),
    };

    private static string Describe(string subject, CompatibilityLevel level, IReadOnlyList<SchemaCompatibilityProblem> problems)
    {
        ArgumentNullException.ThrowIfNull(problems);
        var text = new StringBuilder();
        text.Append(CultureInfo.InvariantCulture, $"Schema for subject '{subject}' is not {LevelName(level)} compatible");
        var first = true;
        foreach (var byVersion in problems.GroupBy(p => p.Version))
        {
            text.Append(first ? " " : "; and ");
            first = false;
            text.Append(CultureInfo.InvariantCulture, $"with version {byVersion.Key}: ");
            text.AppendJoin("; ", byVersion.Select(p => p.Message).Distinct());
        }

        return text.ToString();
    }
}
