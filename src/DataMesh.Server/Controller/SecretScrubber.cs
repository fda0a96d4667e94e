using System.Text.RegularExpressions;

namespace DataMesh.Server.Controller;

/// <summary>
/// A last guard on the messages the API answers: the value of a password-like <c>key=value</c> setting (a connection
/// string's) and the user information of a URL become <c>***</c>. The controller's own messages hold no secret; this is for
/// a driver's message that found its way into one.
/// </summary>
internal static partial class SecretScrubber
{
    public static string Scrub(string message) =>
        UserInfo().Replace(PasswordSetting().Replace(message, "$1=***"), "$1***@");

    [GeneratedRegex(@"(?i)\b(password|pwd|secret|token|credential|api[_ ]?key|hash_key|encryption_keys|user_info|sasl\.password)\s*=\s*(""[^""]*""|'[^']*'|[^;,\s]*)")]
    private static partial Regex PasswordSetting();

    [GeneratedRegex(@"(\b[a-zA-Z][a-zA-Z0-9+.-]*://)[^/@\s]+@")]
    private static partial Regex UserInfo();
}
