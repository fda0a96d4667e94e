using System.Text;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;

namespace DataMesh.Producer.Hosting;

/// <summary>Fills <see cref="ProducerOptions.Source"/> from the host's application name when it is not set.</summary>
internal sealed class ProducerOptionsDefaults(IServiceProvider services) : IPostConfigureOptions<ProducerOptions>
{
    public void PostConfigure(string? name, ProducerOptions options)
    {
        if (!string.IsNullOrWhiteSpace(options.Source))
        {
            return;
        }

        var application = (services.GetService(typeof(IHostEnvironment)) as IHostEnvironment)?.ApplicationName
            ?? System.Reflection.Assembly.GetEntryAssembly()?.GetName().Name
            ?? "app";
        options.Source = SourceName(application);
    }

    /// <summary>Lower-cased, with characters that a topic name cannot hold replaced by '-'.</summary>
    internal static string SourceName(string application)
    {
        var builder = new StringBuilder(application.Length);
        foreach (var c in application)
        {
            builder.Append(char.IsAsciiLetterOrDigit(c) || c is '.' or '_' or '-' ? char.ToLowerInvariant(c) : '-');
        }

        return builder.Length == 0 ? "app" : builder.ToString();
    }
}
