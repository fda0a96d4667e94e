namespace DataMesh.ControlPlane.Definitions;

/// <summary>
/// The problems found in one definition file, and the secrets met while finding them. <see cref="Result"/> orders the
/// problems by their place in the file and replaces every secret in them by <c>***</c>: a message names a setting, never
/// its value, and this is the last guard against one that would.
/// </summary>
internal sealed class ProblemList
{
    /// <summary>Secrets shorter than this are not searched for in messages (they would mask ordinary words); the
    /// messages never quote the values of password-like settings or references in the first place.</summary>
    private const int ShortestRedacted = 3;

    private readonly List<DefinitionProblem> _problems = [];
    private readonly HashSet<string> _secrets = new(StringComparer.Ordinal);

    public int Count => _problems.Count;

    public void Add(string path, int line, int column, string reason) => _problems.Add(new DefinitionProblem(path, reason, line, column));

    public void Add(string path, DefinitionNode node, string reason) => Add(path, node.Line, node.Column, reason);

    public void AddSecret(string? value)
    {
        if (!string.IsNullOrEmpty(value) && value.Length >= ShortestRedacted)
        {
            _secrets.Add(value);
        }
    }

    /// <summary>The secrets met, longest first (the order <see cref="Redact"/> needs).</summary>
    public IReadOnlyList<string> Secrets => _secrets.OrderByDescending(s => s.Length).ToArray();

    public IReadOnlyList<DefinitionProblem> Result()
    {
        var secrets = Secrets;
        return _problems
            .Select(p => secrets.Any(s => p.Reason.Contains(s, StringComparison.Ordinal) || p.Path.Contains(s, StringComparison.Ordinal))
                ? p with { Reason = Redact(p.Reason, secrets), Path = Redact(p.Path, secrets) }
                : p)
            .OrderBy(p => p.Line)
            .ThenBy(p => p.Column)
            .ToArray();
    }

    /// <summary><paramref name="text"/> with every one of <paramref name="secrets"/> (longest first) replaced by <c>***</c>.</summary>
    public static string Redact(string text, IReadOnlyList<string> secrets)
    {
        foreach (var secret in secrets)
        {
            text = text.Replace(secret, "***", StringComparison.Ordinal);
        }

        return text;
    }
}
