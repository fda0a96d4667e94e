using System.Text.RegularExpressions;

namespace DataMesh.Tests.Docs;

/// <summary>How a code block of the documentation is compiled.</summary>
public enum SnippetKind
{
    /// <summary>The block is a whole <c>Program.cs</c> (top-level statements, then types).</summary>
    Program,

    /// <summary>The block is compiled inside hidden code given in the HTML comment above it.</summary>
    Fragment,

    /// <summary>The block is not compiled.</summary>
    Skip,
}

/// <summary>One line of a program made from a Markdown file, and the Markdown line it came from.</summary>
/// <param name="Text">The C# text.</param>
/// <param name="MarkdownLine">Its 1-based line in the Markdown file.</param>
public readonly record struct SourceLine(string Text, int MarkdownLine);

/// <summary>A C# code block of a Markdown file, as the program it is compiled as.</summary>
/// <param name="File">The Markdown file, relative to the repository (<c>README.md</c>, <c>docs/mysql.md</c>).</param>
/// <param name="Line">The 1-based line of the block's opening fence.</param>
/// <param name="Kind">How it is compiled.</param>
/// <param name="Program">The lines of its <c>Program.cs</c>, each with the Markdown line it came from.</param>
public sealed record Snippet(string File, int Line, SnippetKind Kind, IReadOnlyList<SourceLine> Program)
{
    /// <summary>The snippet's name in test results: <c>README.md:62</c>.</summary>
    public string Id => $"{File}:{Line}";

    /// <summary>A project name for it: <c>README_L62</c>, <c>docs_mysql_L8</c>.</summary>
    public string ProjectName => Regex.Replace(Path.ChangeExtension(File, null), "[^A-Za-z0-9]", "_") + "_L" + Line;

    /// <summary>The program's text.</summary>
    public string Text => string.Join('\n', Program.Select(l => l.Text)) + "\n";
}

/// <summary>
/// Finds the C# code blocks of a Markdown file and makes each into a program, by the convention that README.md's
/// "Repository" section documents:
/// <list type="bullet">
/// <item>In README.md every <c>```csharp</c> block is compiled; in docs/*.md only blocks with a snippet comment.</item>
/// <item>A block is a whole <c>Program.cs</c> (<c>&lt;!-- snippet: program --&gt;</c>, the default).</item>
/// <item><c>&lt;!-- snippet: fragment</c>, lines of hidden C#, <c>--&gt;</c> directly above a block: the block is compiled
/// inside the hidden lines, where a line <c>{snippet}</c> stands (at their end when there is none).</item>
/// <item><c>&lt;!-- snippet: skip (why) --&gt;</c>: the block is not compiled.</item>
/// <item><c>using</c> directives, of the block or the hidden lines, are moved to the top of the program.</item>
/// </list>
/// </summary>
public static partial class MarkdownSnippets
{
    /// <summary>The line of a fragment's hidden code where the block goes.</summary>
    public const string Placeholder = "{snippet}";

    private static readonly string[] CSharpInfoStrings = ["csharp", "cs", "c#"];

    /// <summary>Finds the snippets of one Markdown file.</summary>
    /// <param name="file">The file's name, for <see cref="Snippet.File"/>.</param>
    /// <param name="markdown">Its text.</param>
    /// <param name="everyBlock">True to compile every C# block (README.md); false for only the marked ones (docs).</param>
    /// <returns>The snippets in file order, skipped ones included.</returns>
    /// <exception cref="FormatException">A snippet comment is malformed; the message names the file and line.</exception>
    public static IReadOnlyList<Snippet> Extract(string file, string markdown, bool everyBlock)
    {
        var lines = markdown.ReplaceLineEndings("\n").Split('\n');
        var snippets = new List<Snippet>();
        for (var i = 0; i < lines.Length; i++)
        {
            var open = Fence().Match(lines[i]);
            if (!open.Success)
            {
                continue;
            }

            var fence = open.Groups["fence"].Value;
            var start = i;
            var body = new List<SourceLine>();
            for (i++; i < lines.Length && !IsClosingFence(lines[i], fence); i++)
            {
                body.Add(new SourceLine(lines[i], i + 1));
            }

            if (!CSharpInfoStrings.Contains(open.Groups["info"].Value, StringComparer.OrdinalIgnoreCase))
            {
                continue;
            }

            var marker = ReadMarker(file, lines, start);
            if (marker is null && !everyBlock)
            {
                continue;
            }

            var kind = marker?.Kind ?? SnippetKind.Program;
            var program = kind == SnippetKind.Fragment ? Compose(marker!.Hidden, body) : body;
            snippets.Add(new Snippet(file, start + 1, kind, HoistUsings(program)));
        }

        return snippets;
    }

    private static bool IsClosingFence(string line, string fence)
    {
        var trimmed = line.Trim();
        return trimmed.Length >= fence.Length && trimmed.All(c => c == fence[0]) && line.Length - line.TrimStart().Length <= 3;
    }

    private sealed record Marker(SnippetKind Kind, IReadOnlyList<SourceLine> Hidden);

    /// <summary>Reads the snippet comment that ends on the line above the fence at <paramref name="fence"/>, if any.</summary>
    private static Marker? ReadMarker(string file, string[] lines, int fence)
    {
        var end = fence - 1;
        if (end < 0 || !lines[end].TrimEnd().EndsWith("-->", StringComparison.Ordinal))
        {
            return null;
        }

        var begin = end;
        while (begin >= 0 && !lines[begin].TrimStart().StartsWith("<!--", StringComparison.Ordinal))
        {
            begin--;
        }

        if (begin < 0)
        {
            return null;
        }

        var head = lines[begin].TrimStart()["<!--".Length..];
        if (begin == end)
        {
            head = head[..head.LastIndexOf("-->", StringComparison.Ordinal)];
        }

        head = head.Trim();
        if (!head.StartsWith("snippet:", StringComparison.Ordinal))
        {
            return null;
        }

        var word = WordAfterColon().Match(head).Groups["word"].Value;
        var kind = word switch
        {
            "program" => SnippetKind.Program,
            "fragment" => SnippetKind.Fragment,
            "skip" => SnippetKind.Skip,
            _ => throw new FormatException(
                $"{file}:{begin + 1}: '<!-- snippet: {word}' is not a snippet comment: use 'snippet: program', 'snippet: fragment' " +
                "(hidden C# lines follow, up to '-->') or 'snippet: skip (why)'."),
        };
        if (kind != SnippetKind.Fragment && begin != end)
        {
            throw new FormatException($"{file}:{begin + 1}: only 'snippet: fragment' comments may hold lines of code; end this one on its line with '-->'.");
        }

        var hidden = new List<SourceLine>();
        for (var i = begin + 1; i < end; i++)
        {
            hidden.Add(new SourceLine(lines[i], i + 1));
        }

        if (lines[end].Trim() != "-->" && begin != end)
        {
            throw new FormatException($"{file}:{end + 1}: end a 'snippet: fragment' comment with '-->' alone on its line.");
        }

        return new Marker(kind, hidden);
    }

    private static List<SourceLine> Compose(IReadOnlyList<SourceLine> hidden, IReadOnlyList<SourceLine> body)
    {
        var at = hidden.Count;
        for (var i = 0; i < hidden.Count; i++)
        {
            if (hidden[i].Text.Trim() == Placeholder)
            {
                at = i;
                break;
            }
        }

        return [.. hidden.Take(at), .. body, .. hidden.Skip(at + 1)];
    }

    /// <summary>Moves <c>using</c> directives (not <c>using var</c> statements) to the top, keeping their order.</summary>
    private static List<SourceLine> HoistUsings(IReadOnlyList<SourceLine> program) =>
        [.. program.Where(l => UsingDirective().IsMatch(l.Text)), .. program.Where(l => !UsingDirective().IsMatch(l.Text))];

    [GeneratedRegex(@"^ {0,3}(?<fence>`{3,}|~{3,})\s*(?<info>[^\s`]*)")]
    private static partial Regex Fence();

    [GeneratedRegex(@"^snippet:\s*(?<word>[A-Za-z]*)")]
    private static partial Regex WordAfterColon();

    [GeneratedRegex(@"^\s*(global\s+)?using\s+(static\s+)?[A-Za-z_][\w.]*\s*(=\s*[\w.<>, ]+)?;\s*(//.*)?$")]
    private static partial Regex UsingDirective();
}
