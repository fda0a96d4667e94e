using System.Globalization;

namespace DataMesh.ControlPlane.Definitions;

/// <summary>
/// Reads the fixed fields of one mapping of a definition (a pipeline, a sink, a transform, <c>settings</c>): reports keys it
/// does not have (with the nearest name) and keys given twice when created, then converts each field on request,
/// reporting a missing or mistyped one at its path. Settings bound to options objects use <see cref="OptionsBinder"/>.
/// </summary>
internal sealed class FieldReader
{
    private readonly ProblemList _problems;
    private readonly SecretReferences _secrets;

    public FieldReader(MappingNode mapping, string path, string owner, IReadOnlyList<string> fields, ProblemList problems, SecretReferences secrets)
    {
        Mapping = mapping;
        Path = path;
        _problems = problems;
        _secrets = secrets;
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var entry in mapping.Entries)
        {
            if (!fields.Contains(entry.Key))
            {
                var hint = NearestName.Hint(entry.Key, fields);
                problems.Add(Join(path, entry.Key), entry.Line, entry.Column, hint.Length > 0
                    ? $"{owner} has no field '{entry.Key}'{hint}"
                    : $"{owner} has no field '{entry.Key}' (its fields: {string.Join(", ", fields)})");
            }
            else if (!seen.Add(entry.Key))
            {
                problems.Add(Join(path, entry.Key), entry.Line, entry.Column, $"'{entry.Key}' is given twice in {owner}");
            }
        }
    }

    public MappingNode Mapping { get; }

    public string Path { get; }

    public string PathOf(string key) => Join(Path, key);

    /// <summary>A field's path below <paramref name="path"/>; at the top of the file, the field's name alone.</summary>
    public static string Join(string path, string key) => path.Length == 0 ? key : path + "." + key;

    public MappingEntry? Entry(string key) => Mapping.Entries.FirstOrDefault(e => e.Key == key);

    public void Missing(string key, string reason) => _problems.Add(PathOf(key), Mapping, reason);

    /// <summary>The field's entry, or null when it is absent or null (reported as missing when <paramref name="required"/> says why it is needed).</summary>
    private MappingEntry? Present(string key, string? required)
    {
        if (Entry(key) is { Value: not ScalarNode { IsNull: true } } entry)
        {
            return entry;
        }

        if (required is not null)
        {
            Missing(key, required);
        }

        return null;
    }

    /// <summary>A string field with its references resolved; null when absent (reported when <paramref name="required"/>) or wrong.</summary>
    public string? String(string key, string? required = null)
    {
        if (Present(key, required) is not { } entry)
        {
            return null;
        }

        if (entry.Value is not ScalarNode scalar)
        {
            _problems.Add(PathOf(key), entry.Value, $"must be a string, not {entry.Value.Describe()}");
            return null;
        }

        return _secrets.Resolve(scalar, PathOf(key), key);
    }

    /// <summary>The raw text of a string field (references unresolved), for the model.</summary>
    public string? Raw(string key) => Entry(key)?.Value is ScalarNode { IsNull: false } scalar ? scalar.Text : null;

    /// <summary>A scalar field converted to <typeparamref name="T"/> (int, bool, TimeSpan, an enum); null when absent or wrong.</summary>
    public T? Value<T>(string key)
        where T : struct
    {
        if (Present(key, null) is not { } entry)
        {
            return null;
        }

        if (entry.Value is not ScalarNode scalar)
        {
            _problems.Add(PathOf(key), entry.Value, $"must be {ScalarConverter.Expected(typeof(T))}, not {entry.Value.Describe()}");
            return null;
        }

        if (_secrets.Resolve(scalar, PathOf(key), key) is not { } text)
        {
            return null;
        }

        if (!ScalarConverter.TryConvert(text, false, typeof(T), !SecretReferences.IsSensitive(key, scalar.Text), out var value, out var reason, _secrets.Options.StoredDefinition))
        {
            _problems.Add(PathOf(key), scalar, reason);
            return null;
        }

        return (T)value!;
    }

    /// <summary>An int field that must be at least <paramref name="minimum"/> (and at most <paramref name="maximum"/>).</summary>
    public int? Number(string key, int minimum, int maximum = int.MaxValue)
    {
        var value = Value<int>(key);
        if (value is { } number && (number < minimum || number > maximum))
        {
            _problems.Add(PathOf(key), Entry(key)!.Value, maximum == int.MaxValue
                ? string.Create(CultureInfo.InvariantCulture, $"must be at least {minimum}, not {number}")
                : string.Create(CultureInfo.InvariantCulture, $"must be between {minimum} and {maximum}, not {number}"));
            return null;
        }

        return value;
    }

    /// <summary>A list of strings, with each item's node and path; null when absent or not a list.</summary>
    public List<(string Text, ScalarNode Node, string Path)>? Strings(string key, string? required = null)
    {
        if (Present(key, required) is not { } entry)
        {
            return null;
        }

        if (entry.Value is not SequenceNode sequence)
        {
            _problems.Add(PathOf(key), entry.Value, $"must be a list, not {entry.Value.Describe()}");
            return null;
        }

        var items = new List<(string, ScalarNode, string)>();
        for (var i = 0; i < sequence.Items.Count; i++)
        {
            var itemPath = string.Create(CultureInfo.InvariantCulture, $"{PathOf(key)}[{i}]");
            if (sequence.Items[i] is not ScalarNode { IsNull: false } scalar)
            {
                _problems.Add(itemPath, sequence.Items[i], $"must be a string, not {sequence.Items[i].Describe()}");
                continue;
            }

            if (_secrets.Resolve(scalar, itemPath, key) is { } text)
            {
                items.Add((text, scalar, itemPath));
            }
        }

        return items;
    }
}
