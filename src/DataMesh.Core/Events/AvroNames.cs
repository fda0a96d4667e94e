using System.Text;

namespace DataMesh.Events;

/// <summary>
/// Turns database identifiers into valid Avro names, reversibly. Avro names match <c>[A-Za-z_][A-Za-z0-9_]*</c>;
/// a column called <c>order-id</c>, <c>1st</c> or <c>größe</c> does not. Such a name is rewritten (each character
/// outside the set becomes <c>_</c>, a leading digit gets a <c>_</c> in front, a clash with another field gets
/// a <c>_2</c>, <c>_3</c> ... suffix), and the original is kept in the field's <see cref="OriginalNameProperty"/>
/// property, so the schema alone recovers it. Names that are already valid, reserved words included
/// (<c>type</c>, <c>namespace</c>, <c>record</c> are valid Avro field names), are kept as they are.
/// </summary>
public static class AvroNames
{
    /// <summary>The Avro field property that holds a column's original name when its Avro name differs.</summary>
    public const string OriginalNameProperty = "dm.name";

    /// <summary>Whether <paramref name="name"/> is a valid Avro name (not a dotted full name).</summary>
    /// <param name="name">The candidate.</param>
    public static bool IsValid(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        if (name.Length == 0 || !IsStart(name[0]))
        {
            return false;
        }

        for (var i = 1; i < name.Length; i++)
        {
            if (!IsPart(name[i]))
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>Rewrites an identifier into a valid Avro name, keeping valid names as they are.</summary>
    /// <param name="name">Any identifier, possibly empty.</param>
    /// <returns>A valid Avro name.</returns>
    public static string Sanitize(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        if (IsValid(name))
        {
            return name;
        }

        var builder = new StringBuilder(name.Length + 1);
        if (name.Length == 0 || !IsStart(name[0]))
        {
            builder.Append('_');
        }

        foreach (var rune in name.EnumerateRunes())
        {
            builder.Append(rune.IsAscii && IsPart((char)rune.Value) ? (char)rune.Value : '_');
        }

        return builder.ToString();
    }

    /// <summary>
    /// Assigns a distinct valid Avro name to each identifier of one record, in order: valid names first keep
    /// themselves, then rewritten names take the first free of <c>name</c>, <c>name_2</c>, <c>name_3</c> ...
    /// </summary>
    /// <param name="names">The identifiers, distinct as the database guarantees.</param>
    /// <returns>The Avro names, one per identifier in the same order.</returns>
    public static string[] AssignFieldNames(IReadOnlyList<string> names)
    {
        ArgumentNullException.ThrowIfNull(names);
        var result = new string[names.Count];
        var taken = new HashSet<string>(StringComparer.Ordinal);
        for (var i = 0; i < names.Count; i++)
        {
            if (IsValid(names[i]))
            {
                result[i] = names[i];
                taken.Add(names[i]);
            }
        }

        for (var i = 0; i < names.Count; i++)
        {
            if (result[i] is not null)
            {
                continue;
            }

            var candidate = Sanitize(names[i]);
            for (var suffix = 2; !taken.Add(candidate); suffix++)
            {
                candidate = string.Create(System.Globalization.CultureInfo.InvariantCulture, $"{Sanitize(names[i])}_{suffix}");
            }

            result[i] = candidate;
        }

        return result;
    }

    /// <summary>Recovers a column's original name from a field of a schema this library built.</summary>
    /// <param name="field">A field of a row or key record.</param>
    /// <returns>The <see cref="OriginalNameProperty"/> when present, else the field's name.</returns>
    public static string OriginalName(global::Avro.Field field)
    {
        ArgumentNullException.ThrowIfNull(field);
        var original = field.GetProperty(OriginalNameProperty);
        return original is null ? field.Name : System.Text.Json.JsonSerializer.Deserialize<string>(original)!;
    }

    /// <summary>Rewrites a dotted namespace so every part is a valid Avro name.</summary>
    /// <param name="parts">The namespace's parts.</param>
    internal static string Namespace(params ReadOnlySpan<string> parts)
    {
        var builder = new StringBuilder();
        foreach (var part in parts)
        {
            foreach (var piece in part.Split('.'))
            {
                if (builder.Length > 0)
                {
                    builder.Append('.');
                }

                builder.Append(Sanitize(piece));
            }
        }

        return builder.ToString();
    }

    private static bool IsStart(char c) => c is (>= 'A' and <= 'Z') or (>= 'a' and <= 'z') or '_';

    private static bool IsPart(char c) => IsStart(c) || c is >= '0' and <= '9';
}
