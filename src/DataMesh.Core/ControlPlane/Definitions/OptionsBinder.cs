using System.Globalization;
using System.Reflection;
using System.Text.RegularExpressions;

namespace DataMesh.ControlPlane.Definitions;

/// <summary>
/// Binds a definition's mapping onto an options object (a source type's <see cref="SourceOptions"/>) by the snake_case
/// names of its public properties, reporting unknown keys (with the nearest name) and values of the wrong type, and then
/// turns the options' own validation messages (<c>PostgreSQL source 'shop': SlotName 'X' must be ...</c>) into problems at
/// the setting's path: the rules stay in one place, the options' <c>Validate</c>.
/// </summary>
internal sealed partial class OptionsBinder(ProblemList problems, SecretReferences secrets)
{
    /// <summary>Where each bound property was written: its path, line and column, by its options path (<c>Snapshot:ChunkSize</c>).</summary>
    private readonly Dictionary<string, (string Path, int Line, int Column)> _bound = new(StringComparer.Ordinal);

    /// <summary>Options paths whose value was already reported; the options' own messages about them are not repeated.</summary>
    private readonly HashSet<string> _failed = new(StringComparer.Ordinal);

    /// <summary>Every bindable property, by options path, with its snake_case path.</summary>
    private readonly Dictionary<string, string> _known = new(StringComparer.Ordinal);

    /// <summary>Whether keys that name no property are reported (else skipped: the options are only the settings every source has).</summary>
    private bool _reportUnknown = true;

    /// <summary>Binds the entries of <paramref name="mapping"/> (but <paramref name="reserved"/> keys) onto <paramref name="target"/>.</summary>
    public void Bind(object target, MappingNode mapping, string path, IReadOnlyCollection<string> reserved, string owner, bool reportUnknown = true)
    {
        _reportUnknown = reportUnknown;
        Catalogue(target.GetType(), string.Empty, string.Empty, 0);
        BindObject(target, mapping, path, string.Empty, reserved, owner);
    }

    /// <summary>Turns one of the options' validation messages into a problem at the setting it names.</summary>
    public void Report(string message, string sourceName, string path, DefinitionNode owner)
    {
        var marker = $"'{sourceName}': ";
        var at = message.IndexOf(marker, StringComparison.Ordinal);
        var reason = (at >= 0 ? message[(at + marker.Length)..] : message).TrimEnd('.');
        var match = LeadingSetting().Match(reason);
        var setting = match.Success ? match.Groups["setting"].Value.Replace('.', ':') : null;
        if (setting is not null && _known.TryGetValue(setting, out var snake))
        {
            if (_failed.Contains(setting))
            {
                return;
            }

            reason = reason[match.Length..].TrimStart(' ', ':');
            var place = _bound.TryGetValue(setting, out var bound) ? bound : (Path: path + "." + snake.Replace(':', '.'), owner.Line, owner.Column);
            problems.Add(place.Path, place.Line, place.Column, Rename(reason));
            return;
        }

        problems.Add(path, owner, Rename(reason));
    }

    /// <summary>The reason with the options' property names written as the definition writes them.</summary>
    private string Rename(string reason) =>
        PascalName().Replace(reason, m => _known.TryGetValue(m.Value.Replace('.', ':'), out var snake) ? snake.Replace(':', '.') : m.Value);

    private void Catalogue(Type type, string optionsPrefix, string snakePrefix, int depth)
    {
        foreach (var property in Bindable(type))
        {
            var optionsPath = optionsPrefix + property.Name;
            var snakePath = snakePrefix + ScalarConverter.SnakeCase(property.Name);
            _known[optionsPath] = snakePath;
            if (IsNested(property.PropertyType) && depth < 3)
            {
                Catalogue(property.PropertyType, optionsPath + ":", snakePath + ":", depth + 1);
            }
        }
    }

    private void BindObject(object target, MappingNode mapping, string path, string optionsPrefix, IReadOnlyCollection<string> reserved, string owner)
    {
        var properties = Bindable(target.GetType()).ToDictionary(p => ScalarConverter.SnakeCase(p.Name), StringComparer.Ordinal);
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var entry in mapping.Entries)
        {
            var entryPath = path + "." + entry.Key;
            if (reserved.Contains(entry.Key) && secrets.Options.StoredDefinition)
            {
                continue; // as read before a second name or type was refused (the first wins)
            }

            if (!seen.Add(entry.Key))
            {
                // The reserved keys too: a second name or type would otherwise be ignored (the first wins).
                problems.Add(entryPath, entry.Line, entry.Column, $"'{entry.Key}' is given twice in {owner}");
                continue;
            }

            if (reserved.Contains(entry.Key))
            {
                continue;
            }

            if (!properties.TryGetValue(entry.Key, out var property))
            {
                if (!_reportUnknown)
                {
                    continue;
                }

                var names = properties.Keys.Concat(reserved).Order(StringComparer.Ordinal).ToArray();
                var hint = NearestName.Hint(entry.Key, names);
                problems.Add(entryPath, entry.Line, entry.Column, hint.Length > 0
                    ? $"{owner} has no setting '{entry.Key}'{hint}"
                    : $"{owner} has no setting '{entry.Key}' (its settings: {string.Join(", ", names)})");
                continue;
            }

            var optionsPath = optionsPrefix + property.Name;
            _bound[optionsPath] = (entryPath, entry.Value.Line, entry.Value.Column);
            if (!BindProperty(target, property, entry, entryPath, optionsPath, owner))
            {
                _failed.Add(optionsPath);
            }
        }
    }

    private bool BindProperty(object target, PropertyInfo property, MappingEntry entry, string path, string optionsPath, string owner)
    {
        var type = property.PropertyType;
        var node = entry.Value;
        if (ScalarConverter.IsScalar(type))
        {
            if (node is not ScalarNode scalar)
            {
                problems.Add(path, node, $"must be {ScalarConverter.Expected(type)}, not {node.Describe()}");
                return false;
            }

            var text = scalar.IsNull ? scalar.Text : secrets.Resolve(scalar, path, entry.Key);
            if (text is null)
            {
                return false;
            }

            if (!ScalarConverter.TryConvert(text, scalar.IsNull, type, !SecretReferences.IsSensitive(entry.Key, scalar.Text), out var value, out var reason, secrets.Options.StoredDefinition))
            {
                problems.Add(path, node, reason);
                return false;
            }

            property.SetValue(target, value);
            return true;
        }

        if (type == typeof(IList<string>))
        {
            var list = (IList<string>)property.GetValue(target)!;
            list.Clear();
            return ReadStrings(node, path, entry.Key, list.Add);
        }

        if (type == typeof(IDictionary<string, string>))
        {
            var dictionary = (IDictionary<string, string>)property.GetValue(target)!;
            dictionary.Clear();
            if (node is not MappingNode map)
            {
                problems.Add(path, node, $"must be a mapping of names to values, not {node.Describe()}");
                return false;
            }

            var ok = true;
            foreach (var item in map.Entries)
            {
                var itemPath = path + "." + item.Key;
                if (item.Value is not ScalarNode { IsNull: false } scalar)
                {
                    problems.Add(itemPath, item.Value, $"must be a value, not {item.Value.Describe()}");
                    ok = false;
                    continue;
                }

                var secretKey = SecretReferences.IsSecretKey(entry.Key) ? entry.Key : item.Key;
                if (secrets.Resolve(scalar, itemPath, secretKey) is { } text)
                {
                    dictionary[item.Key] = text;
                }
                else
                {
                    ok = false;
                }
            }

            return ok;
        }

        if (type == typeof(IDictionary<string, IList<string>>))
        {
            var dictionary = (IDictionary<string, IList<string>>)property.GetValue(target)!;
            dictionary.Clear();
            if (node is not MappingNode map)
            {
                problems.Add(path, node, $"must be a mapping of names to lists, not {node.Describe()}");
                return false;
            }

            var ok = true;
            foreach (var item in map.Entries)
            {
                var list = new List<string>();
                ok &= ReadStrings(item.Value, path + "." + item.Key, item.Key, list.Add);
                dictionary[item.Key] = list;
            }

            return ok;
        }

        if (IsNested(type))
        {
            if (node is not MappingNode map)
            {
                problems.Add(path, node, $"must be a mapping of settings, not {node.Describe()}");
                return false;
            }

            var nested = property.GetValue(target);
            if (nested is null)
            {
                nested = Activator.CreateInstance(type)!;
                if (property.SetMethod?.IsPublic != true)
                {
                    throw new InvalidOperationException($"{property.DeclaringType}.{property.Name} is null and has no public setter: its owner must create it.");
                }

                property.SetValue(target, nested);
            }

            BindObject(nested, map, path, optionsPath + ":", [], $"{owner}'s {entry.Key}");
            return true;
        }

        throw new InvalidOperationException($"{property.DeclaringType}.{property.Name} is not a bindable setting.");
    }

    private bool ReadStrings(DefinitionNode node, string path, string key, Action<string> add)
    {
        if (node is not SequenceNode sequence)
        {
            problems.Add(path, node, $"must be a list, not {node.Describe()}");
            return false;
        }

        var ok = true;
        for (var i = 0; i < sequence.Items.Count; i++)
        {
            var itemPath = string.Create(CultureInfo.InvariantCulture, $"{path}[{i}]");
            if (sequence.Items[i] is not ScalarNode { IsNull: false } scalar)
            {
                problems.Add(itemPath, sequence.Items[i], $"must be a string, not {sequence.Items[i].Describe()}");
                ok = false;
                continue;
            }

            if (secrets.Resolve(scalar, itemPath, key) is { } text)
            {
                add(text);
            }
            else
            {
                ok = false;
            }
        }

        return ok;
    }

    /// <summary>The snake_case names of the settings an options type binds (for the JSON Schema's test).</summary>
    internal static IEnumerable<string> SettingNames(Type type) => Bindable(type).Select(p => ScalarConverter.SnakeCase(p.Name));

    private static bool IsNested(Type type) =>
        type.IsClass && type != typeof(string) && !type.IsAbstract && type.GetConstructor(Type.EmptyTypes) is not null
        && !typeof(System.Collections.IEnumerable).IsAssignableFrom(type);

    private static IEnumerable<PropertyInfo> Bindable(Type type) =>
        type.GetProperties(BindingFlags.Public | BindingFlags.Instance)
            .Where(p => p.CanRead && p.GetIndexParameters().Length == 0)
            .Where(p => ScalarConverter.IsScalar(p.PropertyType) ? p.SetMethod?.IsPublic == true
                // A nested settings object: settable, or made by its owner (a get-only property, bound into in place).
                : IsNested(p.PropertyType) || p.PropertyType == typeof(IList<string>) || p.PropertyType == typeof(IDictionary<string, string>) || p.PropertyType == typeof(IDictionary<string, IList<string>>));

    [GeneratedRegex(@"^(?<setting>[A-Z][A-Za-z0-9]*(?:[:.][A-Z][A-Za-z0-9]*)*)(?=[\s:;,.(]|$)", RegexOptions.CultureInvariant)]
    private static partial Regex LeadingSetting();

    [GeneratedRegex(@"\b(?:[A-Z][a-z0-9]+(?:[:.][A-Z][A-Za-z0-9]*)+|[A-Z][a-z0-9]+(?:[A-Z][a-z0-9]*)+(?:[:.][A-Z][A-Za-z0-9]*)*)\b", RegexOptions.CultureInvariant)]
    private static partial Regex PascalName();
}
