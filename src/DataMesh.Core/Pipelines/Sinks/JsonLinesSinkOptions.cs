namespace DataMesh.Pipelines.Sinks;

/// <summary>Settings of a <see cref="JsonLinesSink"/>.</summary>
public sealed class JsonLinesSinkOptions
{
    /// <summary>The placeholder in <see cref="Path"/> that is replaced by the record's topic.</summary>
    public const string TopicPlaceholder = "{topic}";

    /// <summary>
    /// The file the lines are appended to, for example <c>/var/data/orders.jsonl</c>; or a template with
    /// <see cref="TopicPlaceholder"/> (in the file name or a directory), for example <c>/var/data/{topic}.jsonl</c>, so
    /// that each topic gets its own file. Missing directories are created. A relative path is resolved against the
    /// current directory when the sink is created.
    /// </summary>
    public string Path { get; set; } = string.Empty;

    /// <summary>Checks the settings.</summary>
    /// <exception cref="ArgumentException">A setting is invalid; the message names it.</exception>
    internal void Validate()
    {
        if (string.IsNullOrWhiteSpace(Path))
        {
            throw new ArgumentException($"JsonLinesSinkOptions.Path must name a file (a path, or a template with {TopicPlaceholder}); it is empty.");
        }

        var invalid = Path.IndexOfAny(System.IO.Path.GetInvalidPathChars());
        if (invalid >= 0)
        {
            throw new ArgumentException($"JsonLinesSinkOptions.Path '{Path}' has a character that is not allowed in a path (U+{(int)Path[invalid]:X4}) at index {invalid}.");
        }

        var withoutPlaceholders = Path.Replace(TopicPlaceholder, "t", StringComparison.Ordinal);
        if (withoutPlaceholders.IndexOfAny(['{', '}']) >= 0)
        {
            throw new ArgumentException($"JsonLinesSinkOptions.Path '{Path}' has a placeholder other than {TopicPlaceholder}, the only one that is replaced.");
        }

        if (Path.EndsWith(System.IO.Path.DirectorySeparatorChar) || Path.EndsWith(System.IO.Path.AltDirectorySeparatorChar)
            || System.IO.Path.GetFileName(Path) is "." or ".." || Directory.Exists(withoutPlaceholders))
        {
            throw new ArgumentException($"JsonLinesSinkOptions.Path '{Path}' names a directory; it must name a file.");
        }
    }
}
