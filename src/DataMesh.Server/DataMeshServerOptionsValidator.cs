using DataMesh.Server.Controller;
using Microsoft.Extensions.Options;

namespace DataMesh.Server;

/// <summary>Checks <see cref="DataMeshServerOptions"/> at start; each failure names the setting by its configuration path.</summary>
internal sealed class DataMeshServerOptionsValidator : IValidateOptions<DataMeshServerOptions>
{
    /// <summary>The first segments of the Schema Registry API's paths (<see cref="SchemaRegistry.SchemaRegistryEndpoints"/>).</summary>
    private static readonly string[] RegistryRoots = ["/subjects", "/schemas", "/config", "/compatibility", "/mode", "/associations"];

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

        const string Controller = DataMeshServerOptions.SectionName + ":Controller:";
        if (options.Controller is null)
        {
            failures.Add($"{DataMeshServerOptions.SectionName}:Controller is required.");
        }
        else if (options.Controller.Enabled)
        {
            if (!IsPath(options.Controller.PathPrefix ?? string.Empty))
            {
                failures.Add($"{Controller}PathPrefix must be a path like '/api' (a leading '/', no trailing '/', no spaces, '?', '#' or braces); it is '{options.Controller.PathPrefix}'.");
            }

            if (!string.IsNullOrEmpty(options.Controller.PagePath) && !IsPath(options.Controller.PagePath))
            {
                failures.Add($"{Controller}PagePath must be empty or a path like '/ui' (a leading '/', no trailing '/', no spaces, '?', '#' or braces); it is '{options.Controller.PagePath}'.");
            }

            // Two endpoints for one path answer 500 (ambiguous routes): the page and the API stay off the registry's paths.
            foreach (var (setting, path) in new[] { ("PathPrefix", options.Controller.PathPrefix), ("PagePath", options.Controller.PagePath) })
            {
                if (options.SchemaRegistry.Enabled && !string.IsNullOrEmpty(path) && RegistryRoots.Select(r => prefix + r).FirstOrDefault(r => path == r || path.StartsWith(r + "/", StringComparison.Ordinal)) is { } taken)
                {
                    failures.Add($"{Controller}{setting} '{path}' is a path of the Schema Registry API ('{taken}'); choose another, or set {Registry}PathPrefix.");
                }
            }

            if (!string.IsNullOrEmpty(options.Controller.PagePath) && options.Controller.PagePath == options.Controller.PathPrefix)
            {
                failures.Add($"{Controller}PagePath and {Controller}PathPrefix must differ; both are '{options.Controller.PagePath}'.");
            }

            if (options.Controller.BearerToken is { } token && (token.Length < 16 || token.Any(c => char.IsWhiteSpace(c) || char.IsControl(c))))
            {
                // Never the token itself: it is a secret.
                failures.Add($"{Controller}BearerToken must be 16 characters or more, without spaces; the one set has {token.Length}.");
            }

            if (options.Controller.ClientCertificates is null)
            {
                failures.Add($"{Controller}ClientCertificates is required.");
            }
            else
            {
                failures.AddRange(ClientCertificateTrust.Problems(options.Controller.ClientCertificates));
            }

            if (options.Controller.MaxRequestBytes is < 1024 or > 64 << 20)
            {
                failures.Add($"{Controller}MaxRequestBytes must be between 1024 and 67108864 (64 MiB); it is {options.Controller.MaxRequestBytes}.");
            }

            if (options.Controller.Settings is null)
            {
                failures.Add($"{Controller}Settings is required.");
            }
            else
            {
                try
                {
                    options.Controller.Settings.Validate();
                }
                catch (ArgumentException ex)
                {
                    failures.Add($"{Controller}Settings: {ex.Message}");
                }
            }
        }

        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }

    private static bool IsPath(string path) =>
        path.Length > 1 && path.StartsWith('/') && !path.EndsWith('/') && !path.Contains("//", StringComparison.Ordinal) &&
        !path.Any(c => char.IsWhiteSpace(c) || c is '?' or '#' or '{' or '}');
}
