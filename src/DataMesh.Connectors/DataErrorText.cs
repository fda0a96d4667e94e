namespace DataMesh.Connectors;

/// <summary>
/// A database's error text without the row's values it quotes, for logs, dead-letter reasons and refused snapshot
/// conditions, which never carry a value (a column that is not masked may still hold what no log should:
/// docs/pipelines.md). First each value the statement sent is removed wherever the text quotes it (the databases insert
/// a value as it is, quotes inside it included); then any quoted text where the databases put values: after a colon,
/// "entry" or "value", or first (<c>invalid input syntax for type integer: "20.50"</c>, <c>value "99999999999" is out
/// of range</c>, <c>Incorrect integer value: '20.50' for column 'bal'</c>, <c>Duplicate entry '5' for key
/// 'PRIMARY'</c>). The names they quote (columns, relations, constraints, keys) follow other words and stay.
/// </summary>
internal static partial class DataErrorText
{
    /// <summary>The text with each quoted value replaced by <c>"…"</c> (or <c>'…'</c>).</summary>
    /// <param name="message">The database's message.</param>
    /// <param name="values">The values the failed statement sent (its parameters), or none.</param>
    public static string WithoutValues(string message, IEnumerable<object?>? values = null)
    {
        foreach (var value in values ?? [])
        {
            var text = value switch
            {
                null or byte[] => null,
                string s => s,
                IFormattable formattable => formattable.ToString(null, System.Globalization.CultureInfo.InvariantCulture),
                _ => value.ToString(),
            };
            if (!string.IsNullOrEmpty(text))
            {
                message = message.Replace("\"" + text + "\"", "\"…\"", StringComparison.Ordinal).Replace("'" + text + "'", "'…'", StringComparison.Ordinal);
            }
        }

        return QuotedValue().Replace(message, match => match.Value[0] == '"' ? "\"…\"" : "'…'");
    }

    [System.Text.RegularExpressions.GeneratedRegex("""(?<=(?:^|: |entry |value ))(?:"[^"]*"|'[^']*')""")]
    private static partial System.Text.RegularExpressions.Regex QuotedValue();
}
