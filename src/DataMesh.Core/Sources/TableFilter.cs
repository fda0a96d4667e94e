using System.Text;
using System.Text.RegularExpressions;

namespace DataMesh.Sources;

/// <summary>
/// Which tables a source captures: <see cref="SourceOptions.IncludeTables"/> and <see cref="SourceOptions.ExcludeTables"/>
/// patterns of the form <c>schema.table</c> (MySQL: <c>database.table</c>), where <c>*</c> matches any run of characters
/// and <c>?</c> one character, compared exactly (case-sensitive). No include pattern selects every table; an exclude
/// pattern wins over an include pattern.
/// </summary>
public sealed class TableFilter
{
    private readonly Regex[] _include;
    private readonly Regex[] _exclude;
    private readonly HashSet<string> _systemSchemas;
    private readonly HashSet<string> _always;

    /// <summary>Creates a filter.</summary>
    /// <param name="options">The source's options.</param>
    /// <param name="systemSchemas">Schemas never captured (the database's own).</param>
    /// <param name="always"><c>schema.table</c> names captured whatever the patterns say (the snapshots' watermark and
    /// signal tables), or null.</param>
    public TableFilter(SourceOptions options, IEnumerable<string> systemSchemas, IEnumerable<string>? always = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(systemSchemas);
        _include = options.IncludeTables.Select(Compile).ToArray();
        _exclude = options.ExcludeTables.Select(Compile).ToArray();
        _systemSchemas = new HashSet<string>(systemSchemas, StringComparer.Ordinal);
        _always = new HashSet<string>(always ?? [], StringComparer.Ordinal);
    }

    /// <summary>Whether the filter selects a table.</summary>
    /// <param name="schema">The schema (MySQL: database).</param>
    /// <param name="table">The table.</param>
    public bool Captures(string schema, string table)
    {
        if (_systemSchemas.Contains(schema))
        {
            return false;
        }

        var name = schema + "." + table;
        if (_always.Contains(name))
        {
            return true;
        }

        return (_include.Length == 0 || _include.Any(r => r.IsMatch(name))) && !_exclude.Any(r => r.IsMatch(name));
    }

    /// <summary>What is wrong with a pattern, or null.</summary>
    /// <param name="pattern">The pattern.</param>
    public static string? Check(string? pattern) =>
        string.IsNullOrWhiteSpace(pattern) ? "is empty" :
        pattern.Count(c => c == '.') != 1 || pattern.StartsWith('.') || pattern.EndsWith('.') ? "must have the form schema.table (MySQL: database.table), wildcards * and ? allowed" :
        null;

    /// <summary>The pattern as a SQL <c>LIKE</c> pattern with <c>\</c> as the escape character.</summary>
    /// <param name="pattern">A <c>*</c>/<c>?</c> pattern (one part of it).</param>
    public static string ToLike(string pattern)
    {
        ArgumentNullException.ThrowIfNull(pattern);
        var like = new StringBuilder(pattern.Length + 4);
        foreach (var c in pattern)
        {
            like.Append(c switch
            {
                '*' => "%",
                '?' => "_",
                '%' or '_' or '\\' => "\\" + c,
                _ => c.ToString(),
            });
        }

        return like.ToString();
    }

    private static Regex Compile(string pattern) =>
        new("^" + Regex.Escape(pattern).Replace("\\*", ".*", StringComparison.Ordinal).Replace("\\?", ".", StringComparison.Ordinal) + "$",
            RegexOptions.CultureInvariant | RegexOptions.Singleline, TimeSpan.FromSeconds(1));
}
