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
        if (prefix.Length > 0 && !IsPath(prefix))
        {
            failures.Add($"{Registry}PathPrefix must be empty or a path like '/registry' (a leading '/', no trailing '/', no spaces, '?', '#' or braces); it is '{prefix}'.");
        }

        if (options.SchemaRegistry.MaxRequestBytes is < 1024 or > 64 << 20)
        {
            failures.Add($"{Registry}MaxRequestBytes must be between 1024 and 67108864 (64 MiB); it is {options.SchemaRegistry.MaxRequestBytes}.");
        }

        if (options.Prometheus is null)
        {
            failures.Add($"{DataMeshServerOptions.SectionName}:Prometheus is required.");
        }
        else if (options.Prometheus.Enabled && !IsPath(options.Prometheus.Path ?? string.Empty))
        {
            failures.Add($"{DataMeshServerOptions.SectionName}:Prometheus:Path must be a path like '/metrics' (a leading '/', no trailing '/', no spaces, '?', '#' or braces); it is '{options.Prometheus.Path}'.");
        }

        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }

    private static bool IsPath(string path) =>
        path.Length > 1 && path.StartsWith('/') && !path.EndsWith('/') && !path.Contains("//", StringComparison.Ordinal) &&
        !path.Any(c => char.IsWhiteSpace(c) || c is '?' or '#' or '{' or '}');
}
