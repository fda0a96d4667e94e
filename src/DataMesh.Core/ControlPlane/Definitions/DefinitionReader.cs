using System.Globalization;
using YamlDotNet.Core;
using YamlDotNet.Core.Events;

namespace DataMesh.ControlPlane.Definitions;

/// <summary>A definition file that is not well-formed YAML (or JSON); <see cref="Line"/> and <see cref="Column"/> say where.</summary>
internal sealed class DefinitionSyntaxException(string reason, int line, int column) : FormatException(reason)
{
    public int Line { get; } = line;

    public int Column { get; } = column;
}

/// <summary>
/// Reads a definition file into <see cref="DefinitionNode"/>s with YamlDotNet's event parser. JSON is read by the same
/// parser (JSON is YAML's flow style), so both formats give the same lines and columns. Anchors and aliases are resolved;
/// duplicate keys are kept for the validator to report.
/// </summary>
internal sealed class DefinitionReader
{
    /// <summary>The most nodes a file may expand to through its aliases (a "billion laughs" file is refused, not expanded).</summary>
    internal const long MaxExpandedNodes = 1_000_000;

    /// <summary>
    /// The most sequences and mappings a file may nest inside one another. Reading recurses once per level, so deeper input
    /// (<c>[[[[...</c> thousands deep) is refused before it can exhaust the stack; a definition nests fewer than ten.
    /// </summary>
    internal const int MaxDepth = 64;

    private readonly Parser _parser;
    private readonly Dictionary<string, (DefinitionNode Node, long Weight, int Height)> _anchors = new(StringComparer.Ordinal);

    /// <summary>The height of the node <see cref="ReadNode"/> read last: 0 for a scalar, one more than its deepest child
    /// for a list or mapping (an alias counts as its anchored node, so that aliases cannot stack past <see cref="MaxDepth"/>).</summary>
    private int _height;

    /// <summary>The nodes read so far, each alias counting the nodes it stands for.</summary>
    private long _expanded;

    private DefinitionReader(string text) => _parser = new Parser(new StringReader(text));

    /// <summary>Reads the file's one document; null when the file holds none (it is empty or only comments).</summary>
    /// <exception cref="DefinitionSyntaxException">The text is not well-formed, or holds more than one document.</exception>
    public static DefinitionNode? Read(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var reader = new DefinitionReader(text);
        try
        {
            return reader.ReadStream();
        }
        catch (YamlException ex)
        {
            // Where the construct the scanner was reading began (an unclosed quote), except for a tab, which is where the
            // scanner found it: the construct may have begun at line 1.
            var mark = ex.Message.Contains("tab", StringComparison.OrdinalIgnoreCase) ? ex.End : ex.Start;
            throw new DefinitionSyntaxException(Reason(ex), (int)mark.Line, (int)mark.Column);
        }
    }

    private DefinitionNode? ReadStream()
    {
        _parser.Consume<StreamStart>();
        if (_parser.TryConsume<StreamEnd>(out _))
        {
            return null;
        }

        _parser.Consume<DocumentStart>();
        var root = ReadNode(0);
        _parser.Consume<DocumentEnd>();
        if (_parser.Accept<DocumentStart>(out var second))
        {
            throw new DefinitionSyntaxException("a definition file holds one document; remove the second '---' and what follows, or put it in its own file", (int)second.Start.Line, (int)second.Start.Column);
        }

        _parser.Consume<StreamEnd>();
        return root;
    }

    /// <summary>Reads one node; <paramref name="depth"/> is the number of sequences and mappings around it.</summary>
    private DefinitionNode ReadNode(int depth)
    {
        if (_parser.TryConsume<AnchorAlias>(out var alias))
        {
            if (!_anchors.TryGetValue(alias.Value.Value, out var anchored))
            {
                throw new DefinitionSyntaxException($"the alias *{alias.Value.Value} names no anchor before it", (int)alias.Start.Line, (int)alias.Start.Column);
            }

            Count(anchored.Weight, alias.Start);
            if (anchored.Height > 0)
            {
                CheckDepth(depth + anchored.Height - 1, alias.Start);
            }

            _height = anchored.Height;
            return anchored.Node;
        }

        var before = _expanded;
        Count(1, _parser.Current?.Start ?? Mark.Empty);

        DefinitionNode node;
        AnchorName anchor;
        if (_parser.TryConsume<Scalar>(out var scalar))
        {
            anchor = scalar.Anchor;
            var oneLine = scalar.Start.Line == scalar.End.Line && scalar.Style is ScalarStyle.Plain or ScalarStyle.SingleQuoted or ScalarStyle.DoubleQuoted;
            var textColumn = !oneLine ? 0 : (int)scalar.Start.Column + (scalar.Style == ScalarStyle.Plain ? 0 : 1);
            node = new ScalarNode(scalar.Value, scalar.Style == ScalarStyle.Plain, (int)scalar.Start.Line, (int)scalar.Start.Column, textColumn);
            _height = 0;
        }
        else if (_parser.TryConsume<SequenceStart>(out var sequenceStart))
        {
            anchor = sequenceStart.Anchor;
            CheckDepth(depth, sequenceStart.Start);
            var items = new List<DefinitionNode>();
            var height = 0;
            while (!_parser.TryConsume<SequenceEnd>(out _))
            {
                items.Add(ReadNode(depth + 1));
                height = Math.Max(height, _height);
            }

            _height = height + 1;

            node = new SequenceNode(items, (int)sequenceStart.Start.Line, (int)sequenceStart.Start.Column);
        }
        else if (_parser.TryConsume<MappingStart>(out var mappingStart))
        {
            anchor = mappingStart.Anchor;
            CheckDepth(depth, mappingStart.Start);
            var entries = new List<MappingEntry>();
            var height = 0;
            while (!_parser.TryConsume<MappingEnd>(out _))
            {
                var key = ReadNode(depth + 1);
                height = Math.Max(height, _height);
                var value = ReadNode(depth + 1);
                height = Math.Max(height, _height);
                if (key is not ScalarNode keyScalar)
                {
                    throw new DefinitionSyntaxException($"a key must be a name, not {key.Describe()}", key.Line, key.Column);
                }

                entries.Add(new MappingEntry(keyScalar.Text, keyScalar.Line, keyScalar.Column, value));
            }

            node = new MappingNode(entries, (int)mappingStart.Start.Line, (int)mappingStart.Start.Column);
            _height = height + 1;
        }
        else
        {
            var unexpected = _parser.Current;
            throw new DefinitionSyntaxException($"unexpected {unexpected?.GetType().Name ?? "end of file"}", (int)(unexpected?.Start.Line ?? 0), (int)(unexpected?.Start.Column ?? 0));
        }

        if (!anchor.IsEmpty)
        {
            _anchors[anchor.Value] = (node, _expanded - before, _height);
        }

        return node;
    }

    private void Count(long nodes, Mark at)
    {
        _expanded += nodes;
        if (_expanded > MaxExpandedNodes)
        {
            throw new DefinitionSyntaxException(
                string.Create(CultureInfo.InvariantCulture, $"the file expands to more than {MaxExpandedNodes:N0} values through its aliases; a definition needs far fewer"),
                (int)at.Line,
                (int)at.Column);
        }
    }

    private static void CheckDepth(int depth, Mark at)
    {
        if (depth >= MaxDepth)
        {
            throw new DefinitionSyntaxException(
                string.Create(CultureInfo.InvariantCulture, $"lists and mappings nest deeper than {MaxDepth} levels here; a definition needs far fewer"),
                (int)at.Line,
                (int)at.Column);
        }
    }

    /// <summary>YamlDotNet's message without the "(Line: 1, Col: 2, Idx: 3) - (...): " it starts with.</summary>
    private static string Reason(YamlException ex)
    {
        var message = ex.Message;
        var cut = message.IndexOf("): ", StringComparison.Ordinal);
        var reason = cut >= 0 && message.StartsWith("(Line", StringComparison.Ordinal) ? message[(cut + 3)..] : message;
        reason = reason.TrimEnd('.');
        return reason.Length > 0 ? char.ToLowerInvariant(reason[0]) + reason[1..] : "the file is not well-formed YAML or JSON";
    }
}
