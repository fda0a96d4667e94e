using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;

namespace DataMesh.ControlPlane.Definitions;

/// <summary>
/// Converts a definition's scalar values to the types of the options they are bound to, and names options the way
/// definitions write them: <c>snake_case</c> keys (<c>ConnectionString</c> is <c>connection_string</c>) and enum values
/// (<c>WhenNoPosition</c> is <c>when_no_position</c>). Durations are <c>500ms</c>, <c>30s</c>, <c>5m</c>, <c>2h</c>,
/// <c>1d</c> or <c>hh:mm:ss</c>.
/// </summary>
internal static partial class ScalarConverter
{
    /// <summary>The parsers of the scalar types other than enums.</summary>
    private static readonly Dictionary<Type, Func<string, (bool, object?)>> Parsers = new()
    {
        [typeof(string)] = text => (true, text),
        [typeof(bool)] = text => (bool.TryParse(text, out var b), b),
        [typeof(int)] = text => (int.TryParse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var i), i),
        [typeof(uint)] = text => (uint.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var u), u),
        [typeof(long)] = text => (long.TryParse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var l), l),
        [typeof(double)] = text => (double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var d), d),
        [typeof(TimeSpan)] = text => (TryParseDuration(text, out var t), t),
    };

    public static string SnakeCase(string pascal)
    {
        var builder = new StringBuilder(pascal.Length + 4);
        for (var i = 0; i < pascal.Length; i++)
        {
            var c = pascal[i];
            if (char.IsUpper(c) && i > 0
                && (char.IsLower(pascal[i - 1]) || char.IsDigit(pascal[i - 1]) || (i + 1 < pascal.Length && char.IsLower(pascal[i + 1]) && char.IsUpper(pascal[i - 1]))))
            {
                builder.Append('_');
            }

            builder.Append(char.ToLowerInvariant(c));
        }

        return builder.ToString();
    }

    public static string[] EnumNames(Type enumType) => Enum.GetNames(enumType).Select(SnakeCase).ToArray();

    /// <summary>Whether values of <paramref name="type"/> are written as one scalar.</summary>
    public static bool IsScalar(Type type)
    {
        type = Nullable.GetUnderlyingType(type) ?? type;
        return Parsers.ContainsKey(type) || type.IsEnum;
    }

    /// <summary>Converts <paramref name="text"/>; on failure <paramref name="reason"/> says what was expected (quoting the
    /// value only when <paramref name="quote"/>). <paramref name="storedDefinition"/>: see <see cref="TryParseDuration"/>.</summary>
    public static bool TryConvert(string text, bool isNull, Type type, bool quote, out object? value, out string reason, bool storedDefinition = false)
    {
        value = null;
        reason = string.Empty;
        var underlying = Nullable.GetUnderlyingType(type);
        if (isNull)
        {
            if (underlying is not null || type == typeof(string))
            {
                return true;
            }

            reason = $"must be {Expected(type)}, not null";
            return false;
        }

        type = underlying ?? type;
        bool ok;
        if (type.IsEnum)
        {
            var match = Enum.GetNames(type).FirstOrDefault(n => string.Equals(SnakeCase(n), text, StringComparison.Ordinal));
            if (match is null)
            {
                var snake = EnumNames(type);
                reason = $"must be one of {string.Join(", ", snake)}{(quote ? $", not '{text}'" + NearestName.Hint(text, snake) : string.Empty)}";
                return false;
            }

            value = Enum.Parse(type, match);
            ok = true;
        }
        else if (type == typeof(TimeSpan))
        {
            ok = TryParseDuration(text, out var duration, storedDefinition);
            value = duration;
        }
        else if (Parsers.TryGetValue(type, out var parse))
        {
            (ok, value) = parse(text);
        }
        else
        {
            throw new InvalidOperationException($"{type} is not a scalar setting type.");
        }

        if (!ok)
        {
            value = null;
            reason = $"must be {Expected(type)}{(quote ? $", not '{text}'" : string.Empty)}";
        }

        return ok;
    }

    /// <summary>What a value of <paramref name="type"/> looks like, for messages.</summary>
    public static string Expected(Type type)
    {
        type = Nullable.GetUnderlyingType(type) ?? type;
        return type == typeof(string) ? "a string"
            : type == typeof(bool) ? "true or false"
            : type == typeof(int) || type == typeof(long) ? "a whole number"
            : type == typeof(uint) ? "a whole number from 0 to 4294967295"
            : type == typeof(double) ? "a number"
            : type == typeof(TimeSpan) ? "a duration such as 500ms, 30s, 5m, 2h, 1d or 00:00:30"
            : type.IsEnum ? "one of " + string.Join(", ", EnumNames(type))
            : type.Name;
    }

    /// <summary>A duration: <c>500ms</c>, <c>30s</c>, <c>5m</c>, <c>2h</c>, <c>1d</c> or <c>[d.]hh:mm:ss[.fffffff]</c>, not negative.
    /// With <paramref name="storedDefinition"/> (a definition applied before, read back) also a bare number, as days: how
    /// such a definition was read when applied.</summary>
    public static bool TryParseDuration(string text, out TimeSpan value, bool storedDefinition = false)
    {
        if (Duration().Match(text) is { Success: true } match)
        {
            var number = double.Parse(match.Groups["n"].Value, CultureInfo.InvariantCulture);
            var milliseconds = match.Groups["u"].Value switch
            {
                "ms" => number,
                "s" => number * 1_000,
                "m" => number * 60_000,
                "h" => number * 3_600_000,
                _ => number * 86_400_000,
            };
            // Longer than TimeSpan holds (about 29,000 years, 99999999999d) is not a duration either.
            value = milliseconds < TimeSpan.MaxValue.TotalMilliseconds ? TimeSpan.FromMilliseconds(milliseconds) : default;
            return milliseconds < TimeSpan.MaxValue.TotalMilliseconds;
        }

        // hh:mm:ss (with d. and .fffffff); not a bare number, which TimeSpan reads as days (5 would be 5 days), nor a
        // negative duration.
        value = default;
        text = text.Trim(); // TimeSpan's own parse skips spaces: " -00:00:05" is negative too
        return (storedDefinition || text.Contains(':', StringComparison.Ordinal))
            && TimeSpan.TryParseExact(text, "c", CultureInfo.InvariantCulture, out value) && (storedDefinition || value >= TimeSpan.Zero);
    }

    [GeneratedRegex(@"^(?<n>[0-9]+(\.[0-9]+)?)(?<u>ms|s|m|h|d)$", RegexOptions.CultureInvariant)]
    private static partial Regex Duration();
}
