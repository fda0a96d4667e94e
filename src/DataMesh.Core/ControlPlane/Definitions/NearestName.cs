namespace DataMesh;

/// <summary>
/// The valid name nearest to a mistyped one, for "did you mean" hints in messages (definitions, filters, transforms):
/// the candidate with the smallest edit distance (case-insensitive, a swap of neighbours counting one), if it is close
/// enough to be a likely typo.
/// </summary>
internal static class NearestName
{
    /// <summary>The nearest candidate within a third of the name's length (at least 1, at most 4 edits), or null.</summary>
    /// <param name="name">The name as written.</param>
    /// <param name="candidates">The valid names.</param>
    public static string? Find(string name, IEnumerable<string> candidates)
    {
        ArgumentNullException.ThrowIfNull(name);
        ArgumentNullException.ThrowIfNull(candidates);
        var limit = Math.Clamp(name.Length / 3, 1, 4);
        string? best = null;
        var bestDistance = int.MaxValue;
        foreach (var candidate in candidates)
        {
            var distance = Distance(name, candidate);
            if (distance <= limit && distance < bestDistance && !string.Equals(candidate, name, StringComparison.Ordinal))
            {
                best = candidate;
                bestDistance = distance;
            }
        }

        return best;
    }

    /// <summary>"; did you mean 'x'?" for the nearest candidate, or an empty string.</summary>
    /// <param name="name">The name as written.</param>
    /// <param name="candidates">The valid names.</param>
    public static string Hint(string name, IEnumerable<string> candidates) =>
        Find(name, candidates) is { } nearest ? $"; did you mean '{nearest}'?" : string.Empty;

    /// <summary>The edit distance between two names, ignoring case: insertions, deletions, substitutions and swaps of two
    /// neighbouring characters (<c>emial</c> is one edit from <c>email</c>), each counting one.</summary>
    internal static int Distance(string a, string b)
    {
        var beforePrevious = new int[b.Length + 1];
        var previous = new int[b.Length + 1];
        var current = new int[b.Length + 1];
        for (var j = 0; j <= b.Length; j++)
        {
            previous[j] = j;
        }

        for (var i = 1; i <= a.Length; i++)
        {
            current[0] = i;
            for (var j = 1; j <= b.Length; j++)
            {
                var cost = Same(a[i - 1], b[j - 1]) ? 0 : 1;
                current[j] = Math.Min(Math.Min(current[j - 1] + 1, previous[j] + 1), previous[j - 1] + cost);
                if (i > 1 && j > 1 && Same(a[i - 1], b[j - 2]) && Same(a[i - 2], b[j - 1]))
                {
                    current[j] = Math.Min(current[j], beforePrevious[j - 2] + 1);
                }
            }

            (beforePrevious, previous, current) = (previous, current, beforePrevious);
        }

        return previous[b.Length];
    }

    private static bool Same(char x, char y) => char.ToLowerInvariant(x) == char.ToLowerInvariant(y);
}
