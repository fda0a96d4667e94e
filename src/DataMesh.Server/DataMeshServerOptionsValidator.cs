using Microsoft.Extensions.Options;

namespace DataMesh.Server;

/// <summary>Checks <see cref="DataMeshServerOptions"/> at start; each failure names the setting by its configuration path.</summary>
internal sealed class DataMeshServerOptionsValidator : IValidateOptions<DataMeshServerOptions>
{
    public ValidateOptionsResult Validate(string? name, DataMeshServerOptions options)
    {
        const string Registry = DataMeshServerOptions.SectionName + ":SchemaRegistry:";
        var failures = new List<string>();
        if (options.SchemaRegistry is null)
        {
            failures.Add($"{DataMeshServerOptions.SectionName}:SchemaRegistry is required.");
            return ValidateOptionsResult.Fail(failures);
        }

        var prefix = options.SchemaRegistry.PathPrefix ?? string.Empty;
        if (prefix.Length > 0 && (!prefix.StartsWith('/') || prefix.EndsWith('/') || prefix.Contains("//", StringComparison.Ordinal) ||
            prefix.Any(c => char.IsWhiteSpace(c) || c is '?' or '#' or '{' or '}')))
        {
            failures.Add($"{Registry}PathPrefix must be empty or a path like '/registry' (a leading '/', no trailing '/', no spaces, '?', '#' or braces); it is '{prefix}'.");
        }

        if (options.SchemaRegistry.MaxRequestBytes is < 1024 or > 64 << 20)
        {
            failures.Add($"{Registry}MaxRequestBytes must be between 1024 and 67108864 (64 MiB); it is {options.SchemaRegistry.MaxRequestBytes}.");
        }

        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }
}
