using System.Globalization;
using System.Text;

namespace DataMesh.Events;

/// <summary>
/// Names of the Kafka topics and schema subjects of the change-event contract:
/// <c>&lt;prefix&gt;.&lt;source name&gt;.&lt;schema or database&gt;.&lt;table&gt;</c>, subjects <c>&lt;topic&gt;-key</c>
/// and <c>&lt;topic&gt;-value</c> (Confluent's TopicNameStrategy).
/// </summary>
/// <remarks>
/// Kafka topic names allow <c>[A-Za-z0-9._-]</c> up to 249 characters. A part that holds any other character
/// (or a dot, which would blur the parts) has those characters replaced by <c>_</c> and gets <c>_</c> plus
/// eight hex digits of a stable hash of the original part appended, so that <c>order items</c> and
/// <c>order_items</c> never share a topic. A name longer than 249 characters is cut and ends with the hash of
/// the whole name.
/// </remarks>
public static class TopicNames
{
    /// <summary>The longest topic name Kafka accepts.</summary>
    public const int MaxLength = 249;

    /// <summary>The topic of a table's change events.</summary>
    /// <param name="prefix">The deployment's prefix, e.g. <c>dm</c>; may be empty to leave it out.</param>
    /// <param name="sourceName">The source connector's logical name.</param>
    /// <param name="schemaOrDatabase">The PostgreSQL schema or the MySQL database.</param>
    /// <param name="table">The table.</param>
    public static string ForTable(string prefix, string sourceName, string schemaOrDatabase, string table)
    {
        ArgumentNullException.ThrowIfNull(prefix);
        ArgumentException.ThrowIfNullOrEmpty(sourceName);
        ArgumentException.ThrowIfNullOrEmpty(schemaOrDatabase);
        ArgumentException.ThrowIfNullOrEmpty(table);
        var builder = SourcePart(prefix, sourceName);
        AppendPart(builder, schemaOrDatabase);
        AppendPart(builder, table);
        return Limit(builder.ToString());
    }

    /// <summary>Whether a topic name could be one of a source's table topics: <c>&lt;prefix&gt;.&lt;source name&gt;.</c>
    /// followed by two parts (a part's own dots are replaced, so a table topic always has both), or a name cut to
    /// <see cref="MaxLength"/> there. <c>&lt;prefix&gt;.&lt;source name&gt;.big-orders</c> is no table's topic.</summary>
    /// <param name="topic">The topic.</param>
    /// <param name="prefix">The source's prefix.</param>
    /// <param name="sourceName">The source's name.</param>
    /// <param name="space">What its topics start with.</param>
    internal static bool IsOfSource(string topic, string prefix, string sourceName, out string space)
    {
        space = ForSource(prefix, sourceName);
        return topic.StartsWith(space, StringComparison.Ordinal)
            && (topic.AsSpan(space.Length).Contains('.') || topic.Length == MaxLength);
    }

    /// <summary>What every table topic of a source starts with: <c>&lt;prefix&gt;.&lt;source name&gt;.</c> (its parts as
    /// <see cref="ForTable"/> writes them).</summary>
    /// <param name="prefix">The source's prefix.</param>
    /// <param name="sourceName">The source's name.</param>
    internal static string ForSource(string prefix, string sourceName) => SourcePart(prefix, sourceName).Append('.').ToString();

    private static StringBuilder SourcePart(string prefix, string sourceName)
    {
        var builder = new StringBuilder();
        if (prefix.Length > 0)
        {
            // The prefix may itself be dotted (e.g. "prod.cdc"); each dotted part is a part.
            foreach (var part in prefix.Split('.'))
            {
                AppendPart(builder, part);
            }
        }

        AppendPart(builder, sourceName);
        return builder;
    }

    /// <summary>The schema subject of a topic's keys.</summary>
    /// <param name="topic">The topic.</param>
    public static string KeySubject(string topic) => topic + "-key";

    /// <summary>The schema subject of a topic's values.</summary>
    /// <param name="topic">The topic.</param>
    public static string ValueSubject(string topic) => topic + "-value";

    /// <summary>Checks a topic name against Kafka's rules.</summary>
    /// <param name="topic">The name.</param>
    /// <param name="reason">Why it is invalid, or null.</param>
    public static bool IsValid(string topic, out string? reason)
    {
        ArgumentNullException.ThrowIfNull(topic);
        reason = topic switch
        {
            "" => "a topic name cannot be empty",
            "." or ".." => $"'{topic}' is not a valid topic name",
            { Length: > MaxLength } => $"topic name is {topic.Length} characters long; Kafka allows at most {MaxLength}",
            _ => null,
        };
        if (reason is null)
        {
            for (var i = 0; i < topic.Length; i++)
            {
                if (!IsLegal(topic[i]))
                {
                    reason = $"character '{topic[i]}' at index {i} is not allowed in a topic name (only A-Z, a-z, 0-9, '.', '_' and '-')";
                    break;
                }
            }
        }

        return reason is null;
    }

    private static void AppendPart(StringBuilder builder, string part)
    {
        if (builder.Length > 0)
        {
            builder.Append('.');
        }

        var clean = part.Length > 0;
        foreach (var c in part)
        {
            clean &= IsLegal(c) && c != '.';
        }

        if (clean)
        {
            builder.Append(part);
            return;
        }

        foreach (var c in part)
        {
            builder.Append(IsLegal(c) && c != '.' ? c : '_');
        }

        builder.Append('_').Append(Hash(part));
    }

    private static string Limit(string topic)
    {
        if (topic.Length <= MaxLength)
        {
            return topic;
        }

        var hash = Hash(topic);
        return string.Concat(topic.AsSpan(0, MaxLength - hash.Length - 1), "_", hash);
    }

    private static bool IsLegal(char c) => c is (>= 'A' and <= 'Z') or (>= 'a' and <= 'z') or (>= '0' and <= '9') or '.' or '_' or '-';

    // FNV-1a over UTF-16 code units: stable across processes and runtimes (string.GetHashCode is not).
    private static string Hash(string value)
    {
        var hash = 2166136261u;
        foreach (var c in value)
        {
            hash = (hash ^ c) * 16777619u;
        }

        return hash.ToString("x8", CultureInfo.InvariantCulture);
    }
}
