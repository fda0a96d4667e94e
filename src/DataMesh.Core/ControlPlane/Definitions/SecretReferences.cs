using System.Text;
using System.Text.RegularExpressions;

namespace DataMesh.ControlPlane.Definitions;

/// <summary>
/// Resolves the secret references in a setting's value: <c>${env:NAME}</c> (an environment variable) and
/// <c>${config:Key}</c> (an <c>IConfiguration</c> key, sections joined by <c>:</c>), anywhere in the value
/// (<c>Host=db;Password=${env:PG_PASSWORD}</c>). Every resolved value, every value of a password-like setting and the
/// password of a connection string are handed to <see cref="ProblemList.AddSecret"/>; messages name the setting and the
/// reference, never the value.
/// </summary>
internal sealed partial class SecretReferences(DefinitionValidationOptions options, ProblemList problems)
{
    private readonly List<DefinitionProblem> _literal = [];

    /// <summary>The validation's options (the validator's readers reach them through this).</summary>
    public DefinitionValidationOptions Options => options;

    /// <summary>The settings that hold a secret written in the file rather than referenced: a controller that keeps
    /// definitions in Kafka refuses them (<c>datamesh apply</c>).</summary>
    public IReadOnlyList<DefinitionProblem> LiteralSecrets => _literal;

    /// <summary>Whether <paramref name="key"/> names a setting whose value is a secret (<c>password</c>, <c>hash_key</c>,
    /// <c>sasl.password</c>, <c>encryption_keys</c> ...).</summary>
    public static bool IsSecretKey(string key) => SecretKey().IsMatch(key);

    /// <summary>Whether a value must not be quoted in messages: the setting is password-like or the value holds a reference.</summary>
    public static bool IsSensitive(string key, string text) => IsSecretKey(key) || text.Contains("${", StringComparison.Ordinal);

    /// <summary>The value with its references resolved, or null when one cannot be (the problem is added).</summary>
    public string? Resolve(ScalarNode node, string path, string key)
    {
        var text = node.Text;
        if (IsLiteralSecret(key, text))
        {
            _literal.Add(new DefinitionProblem(path,
                "holds a secret written in the file; the controller keeps applied definitions in Kafka, so a secret must be a reference: write ${env:NAME} or ${config:Key}",
                node.Line, node.Column));
        }

        if (!text.Contains("${", StringComparison.Ordinal))
        {
            Guard(key, text);
            return text;
        }

        var resolved = new StringBuilder();
        var at = 0;
        var failed = false;
        while (true)
        {
            var start = text.IndexOf("${", at, StringComparison.Ordinal);
            if (start < 0)
            {
                resolved.Append(text, at, text.Length - at);
                break;
            }

            resolved.Append(text, at, start - at);
            var end = text.IndexOf('}', start);
            if (end < 0)
            {
                problems.Add(path, node, "a reference '${' is not closed by '}'; write ${env:NAME} or ${config:Key}");
                return null;
            }

            var reference = text[(start + 2)..end];
            var colon = reference.IndexOf(':', StringComparison.Ordinal);
            var kind = colon < 0 ? reference : reference[..colon];
            var name = colon < 0 ? string.Empty : reference[(colon + 1)..];
            string? value = null;
            if (colon < 0 || name.Length == 0 || kind is not ("env" or "config"))
            {
                problems.Add(path, node, $"'${{{(kind.Length > 20 ? kind[..20] : kind)}:...}}' is not a reference; write ${{env:NAME}} for an environment variable or ${{config:Key}} for a configuration key");
                failed = true;
            }
            else if (kind == "env")
            {
                value = options.EnvironmentVariables(name);
                if (value is null)
                {
                    problems.Add(path, node, $"the environment variable {name} (from ${{env:{name}}}) is not set");
                    failed = true;
                }
            }
            else
            {
                value = options.Configuration?[name];
                if (value is null)
                {
                    problems.Add(path, node, options.Configuration is null
                        ? $"${{config:{name}}} needs a configuration, and none was given"
                        : $"the configuration key {name} (from ${{config:{name}}}) is not set");
                    failed = true;
                }
            }

            problems.AddSecret(value);
            resolved.Append(value);
            at = end + 1;
        }

        if (failed)
        {
            return null;
        }

        var result = resolved.ToString();
        Guard(key, result);
        return result;
    }

    /// <summary>Whether <paramref name="text"/> holds a secret as written rather than as a reference: a password-like
    /// setting, or a connection string's password, with anything outside its references.</summary>
    private static bool IsLiteralSecret(string key, string text) =>
        (IsSecretKey(key) && Reference().Replace(text, string.Empty).Trim().Length > 0)
        || ConnectionStringPassword().Matches(text).Any(m => Reference().Replace(m.Groups["value"].Value.Trim().Trim('"', '\''), string.Empty).Trim().Length > 0);

    /// <summary>Hands the secrets in a resolved value to the problem list.</summary>
    private void Guard(string key, string value)
    {
        if (IsSecretKey(key))
        {
            problems.AddSecret(value);
        }

        foreach (Match match in ConnectionStringPassword().Matches(value))
        {
            problems.AddSecret(match.Groups["value"].Value.Trim().Trim('"', '\''));
        }
    }

    [GeneratedRegex(@"pass(word)?|pwd|secret|token|credential|hash_key|encryption_key|user_info|api_key", RegexOptions.IgnoreCase | RegexOptions.CultureInvariant)]
    private static partial Regex SecretKey();

    // Password, Pwd, Psw, and the keys that end in Password (Npgsql's SSL Password, MySqlConnector's CertificatePassword).
    // Linear time (NonBacktracking): the spaces the key may hold would otherwise backtrack on a long run of them.
    [GeneratedRegex(@"(?:^|;)\s*(?:[\w ]*password|pwd|psw)\s*=\s*(?<value>""[^""]*""|'[^']*'|[^;]*)", RegexOptions.IgnoreCase | RegexOptions.CultureInvariant | RegexOptions.NonBacktracking)]
    private static partial Regex ConnectionStringPassword();

    [GeneratedRegex(@"\$\{[^}]*\}", RegexOptions.CultureInvariant)]
    private static partial Regex Reference();
}
