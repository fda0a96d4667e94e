using System.Text.RegularExpressions;

namespace DataMesh.Connectors;

/// <summary>
/// A driver's error about a connection string it cannot parse, without any part of the password: an unquoted password
/// with ';' or '=' parses as further keys and values, which MySqlConnector and Npgsql name in their errors.
/// </summary>
internal static partial class ConnectionStringErrors
{
    private const string Hidden = "***";

    /// <summary>The message with every key and value that follows the password in <paramref name="connectionString"/>
    /// (the password, and whatever may be the rest of it) replaced by ***.</summary>
    public static string Redact(string message, string? connectionString)
    {
        if (string.IsNullOrEmpty(connectionString) || PasswordKey().Match(connectionString) is not { Success: true } match)
        {
            return message;
        }

        var suspects = connectionString[(match.Index + match.Length)..]
            .Split([';', '='], StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Select(token => token.Trim('"', '\''))
            .Where(token => token.Length > 0)
            .OrderByDescending(token => token.Length);
        foreach (var token in suspects)
        {
            // Quoted as the drivers quote names ('key'), and any longer token wherever it appears.
            message = message.Replace($"'{token}'", $"'{Hidden}'", StringComparison.OrdinalIgnoreCase);
            if (token.Length >= 3)
            {
                message = message.Replace(token, Hidden, StringComparison.OrdinalIgnoreCase);
            }
        }

        return message;
    }

    /// <summary>Why <paramref name="connectionString"/> is missing or not a valid Npgsql connection string (the driver's
    /// error, redacted), or null when it parses; each reason starts with <paramref name="prefix"/>.</summary>
    public static string? CheckNpgsql(string prefix, string? connectionString) =>
        Check(prefix, connectionString, "Npgsql", static c => new Npgsql.NpgsqlConnectionStringBuilder(c));

    /// <summary>Why <paramref name="connectionString"/> is missing or not a valid MySqlConnector connection string (the
    /// driver's error, redacted), or null when it parses; each reason starts with <paramref name="prefix"/>.</summary>
    public static string? CheckMySql(string prefix, string? connectionString) =>
        Check(prefix, connectionString, "MySqlConnector", static c => new MySqlConnector.MySqlConnectionStringBuilder(c));

    private static string? Check(string prefix, string? connectionString, string driver, Func<string, object> parse)
    {
        if (string.IsNullOrWhiteSpace(connectionString))
        {
            return prefix + "ConnectionString is required.";
        }

        try
        {
            _ = parse(connectionString);
            return null;
        }
        catch (ArgumentException ex)
        {
            return prefix + $"ConnectionString is not a valid {driver} connection string: " + Redact(ex.Message, connectionString);
        }
    }

    // Password, Pwd, and the keys that end in Password (Npgsql's SSL Password, MySqlConnector's CertificatePassword).
    // Linear time (NonBacktracking): the spaces the key may hold would otherwise backtrack on a long run of them.
    [GeneratedRegex(@"(?:^|;)\s*(?:[\w ]*password|pwd|psw)\s*=", RegexOptions.IgnoreCase | RegexOptions.CultureInvariant | RegexOptions.NonBacktracking)]
    private static partial Regex PasswordKey();
}
