using System.Diagnostics;
using System.Reflection;
using System.Text;
using System.Text.RegularExpressions;
using System.Xml.Linq;
using Xunit;

namespace DataMesh.Tests.Docs;

/// <summary>
/// Builds every snippet of the documentation as a newcomer would: <c>dotnet pack</c> of the three packages into a folder
/// feed, one <c>dotnet new console</c> project per snippet referencing the packed packages (and Microsoft.Extensions.Hosting
/// for <c>Host</c>), all built by one <c>dotnet build</c>. Done once for all the tests of a class; the compiler's errors
/// are then looked up per snippet.
/// </summary>
public sealed partial class SnippetBuild : IAsyncLifetime
{
    /// <summary>The version the packages are packed with: a version no other feed or cache has, so a restore can only
    /// take these builds.</summary>
    public const string PackedVersion = "0.0.0-snippets";

    private static readonly string[] Packages = ["DataMesh.Core", "DataMesh.Connectors", "DataMesh.Producer"];
    private static readonly TimeSpan CommandTimeout = TimeSpan.FromMinutes(5);

    private readonly Dictionary<string, List<string>> _errors = new(StringComparer.Ordinal);
    private readonly string _work = Path.Combine(Path.GetTempPath(), "datamesh-snippets-" + Guid.NewGuid().ToString("N")[..8]);
    private bool _failed;

    /// <summary>The repository this test assembly was built from.</summary>
    public static string RepositoryRoot { get; } = Metadata("DataMesh.RepositoryRoot");

    /// <summary>Why nothing could be built (packing, the template, a restore error of no snippet), or null.</summary>
    public string? Failure { get; private set; }

    /// <summary>The snippets of README.md (every C# block) and docs/*.md (blocks with a snippet comment).</summary>
    public static IReadOnlyList<Snippet> All()
    {
        var snippets = new List<Snippet>(MarkdownSnippets.Extract("README.md", File.ReadAllText(Path.Combine(RepositoryRoot, "README.md")), everyBlock: true));
        foreach (var path in Directory.GetFiles(Path.Combine(RepositoryRoot, "docs"), "*.md").Order(StringComparer.Ordinal))
        {
            snippets.AddRange(MarkdownSnippets.Extract("docs/" + Path.GetFileName(path), File.ReadAllText(path), everyBlock: false));
        }

        return snippets;
    }

    /// <summary>The compiler's errors for one snippet, as <c>README.md:63:15: error CS0103: ...</c>.</summary>
    public IReadOnlyList<string> ErrorsOf(Snippet snippet) => _errors.TryGetValue(snippet.ProjectName, out var errors) ? errors : [];

    /// <summary>Where the projects are; kept when something failed.</summary>
    public string WorkDirectory => _work;

    /// <inheritdoc />
    public async Task InitializeAsync()
    {
        var snippets = All().Where(s => s.Kind != SnippetKind.Skip).ToList();
        try
        {
            Directory.CreateDirectory(_work);
            // Keep the repository's (or anyone's) Directory.Build.* and central package versions away from the projects.
            File.WriteAllText(Path.Combine(_work, "Directory.Build.props"), "<Project />\n");
            File.WriteAllText(Path.Combine(_work, "Directory.Build.targets"), "<Project />\n");

            var feed = Path.Combine(_work, "feed");
            await PackAsync(feed).ConfigureAwait(false);
            var csproj = await NewConsoleProjectAsync().ConfigureAwait(false);
            WriteNuGetConfig(feed);

            var solution = new StringBuilder("<Solution>\n");
            foreach (var snippet in snippets)
            {
                var folder = Path.Combine(_work, snippet.ProjectName);
                Directory.CreateDirectory(folder);
                File.WriteAllText(Path.Combine(folder, snippet.ProjectName + ".csproj"), csproj);
                File.WriteAllText(Path.Combine(folder, "Program.cs"), snippet.Text);
                solution.Append("  <Project Path=\"").Append(snippet.ProjectName).Append('/').Append(snippet.ProjectName).Append(".csproj\" />\n");
                _errors[snippet.ProjectName] = [];
            }

            File.WriteAllText(Path.Combine(_work, "snippets.slnx"), solution.Append("</Solution>\n").ToString());
            var build = await DotnetAsync(
                _work,
                keepArtifactsPath: false,
                "build", "snippets.slnx", "--nologo", "-v", "q", "-tl:off", "-clp:NoSummary", "-nodeReuse:false").ConfigureAwait(false);
            var unassigned = AssignErrors(build.Output, snippets);
            if (build.ExitCode != 0 && (unassigned.Count > 0 || _errors.Values.All(e => e.Count == 0)))
            {
                Failure = $"dotnet build of the snippets failed (exit code {build.ExitCode}) with errors that belong to no snippet:\n"
                    + (unassigned.Count > 0 ? string.Join('\n', unassigned) : build.Output);
            }
        }
        catch (Exception ex) when (ex is InvalidOperationException or IOException or TimeoutException)
        {
            Failure = ex.Message;
        }

        _failed = Failure is not null || _errors.Values.Any(e => e.Count > 0);
    }

    /// <inheritdoc />
    public Task DisposeAsync()
    {
        if (!_failed)
        {
            try
            {
                Directory.Delete(_work, recursive: true);
            }
            catch (IOException)
            {
                // A leftover folder in the temporary directory is not a test failure.
            }
        }

        return Task.CompletedTask;
    }

    private async Task PackAsync(string feed)
    {
        // The test project builds the three packages first (ProjectReference without reference), in its configuration.
        var solution = new StringBuilder("<Solution>\n");
        foreach (var package in Packages)
        {
            solution.Append("  <Project Path=\"").Append(Path.Combine(RepositoryRoot, "src", package, package + ".csproj")).Append("\" />\n");
        }

        var packSolution = Path.Combine(_work, "pack.slnx");
        File.WriteAllText(packSolution, solution.Append("</Solution>\n").ToString());
        var pack = await DotnetAsync(
            _work,
            keepArtifactsPath: true,
            "pack", packSolution, "-c", Metadata("DataMesh.Configuration"), "--no-build", "-o", feed, "--nologo", "-v", "q", "-tl:off",
            "-nodeReuse:false", "-p:PackageVersion=" + PackedVersion).ConfigureAwait(false);
        if (pack.ExitCode != 0)
        {
            throw new InvalidOperationException($"dotnet pack of {string.Join(", ", Packages)} failed (exit code {pack.ExitCode}):\n{pack.Output}");
        }
    }

    /// <summary>Makes the project file of <c>dotnet new console</c> and adds the package references.</summary>
    private async Task<string> NewConsoleProjectAsync()
    {
        var result = await DotnetAsync(_work, keepArtifactsPath: false, "new", "console", "-n", "Template", "-o", "template", "-f", "net10.0", "--no-restore")
            .ConfigureAwait(false);
        var path = Path.Combine(_work, "template", "Template.csproj");
        if (result.ExitCode != 0 || !File.Exists(path))
        {
            throw new InvalidOperationException($"dotnet new console failed (exit code {result.ExitCode}):\n{result.Output}");
        }

        var project = XDocument.Load(path);
        var references = new XElement("ItemGroup");
        foreach (var package in Packages)
        {
            references.Add(new XElement("PackageReference", new XAttribute("Include", package), new XAttribute("Version", PackedVersion)));
        }

        references.Add(new XElement("PackageReference", new XAttribute("Include", "Microsoft.Extensions.Hosting"), new XAttribute("Version", HostingVersion())));
        project.Root!.Add(references);
        return project.ToString() + "\n";
    }

    /// <summary>The repository's version of Microsoft.Extensions.Hosting: one the machine's package cache already holds.</summary>
    private static string HostingVersion() =>
        XDocument.Load(Path.Combine(RepositoryRoot, "Directory.Packages.props")).Descendants("PackageVersion")
            .Single(e => (string?)e.Attribute("Include") == "Microsoft.Extensions.Hosting").Attribute("Version")!.Value;

    /// <summary>
    /// The folder feed beside the sources the machine already uses (its own NuGet.Config), and a package folder of this
    /// run's own (so the packed packages never land in the machine's cache) that falls back to the machine's cache for
    /// every other package.
    /// </summary>
    private void WriteNuGetConfig(string feed)
    {
        var machineCache = Environment.GetEnvironmentVariable("NUGET_PACKAGES") is { Length: > 0 } cache
            ? cache
            : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".nuget", "packages");
        var config = new XDocument(new XElement(
            "configuration",
            new XElement("config", new XElement("add", new XAttribute("key", "globalPackagesFolder"), new XAttribute("value", Path.Combine(_work, "packages")))),
            new XElement("packageSources", new XElement("add", new XAttribute("key", "datamesh-packed"), new XAttribute("value", feed))),
            new XElement("fallbackPackageFolders", new XElement("add", new XAttribute("key", "machine"), new XAttribute("value", machineCache)))));
        config.Save(Path.Combine(_work, "NuGet.config"));
    }

    /// <summary>Files each error line under its snippet, with the Markdown line of the code; returns the others.</summary>
    private List<string> AssignErrors(string output, IReadOnlyList<Snippet> snippets)
    {
        var byProject = snippets.ToDictionary(s => s.ProjectName, StringComparer.Ordinal);
        var unassigned = new List<string>();
        foreach (var line in output.ReplaceLineEndings("\n").Split('\n').Distinct(StringComparer.Ordinal))
        {
            var match = ErrorLine().Match(line);
            if (!match.Success)
            {
                continue;
            }

            var project = match.Groups["project"].Success ? match.Groups["project"].Value : match.Groups["path"].Value;
            var snippet = byProject.GetValueOrDefault(Path.GetFileNameWithoutExtension(project))
                ?? byProject.GetValueOrDefault(Path.GetFileName(Path.GetDirectoryName(match.Groups["path"].Value)) ?? string.Empty);
            if (snippet is null)
            {
                unassigned.Add(line);
                continue;
            }

            var message = $"error {match.Groups["code"].Value}: {match.Groups["message"].Value}";
            if (match.Groups["line"].Success && Path.GetFileName(match.Groups["path"].Value) == "Program.cs")
            {
                var programLine = int.Parse(match.Groups["line"].Value, System.Globalization.CultureInfo.InvariantCulture);
                var origin = programLine >= 1 && programLine <= snippet.Program.Count ? snippet.Program[programLine - 1].MarkdownLine : 0;
                message = $"{snippet.File}:{origin}:{match.Groups["column"].Value}: {message}";
            }
            else
            {
                message = $"{snippet.File}:{snippet.Line}: {message}";
            }

            _errors[snippet.ProjectName].Add(message);
        }

        return unassigned;
    }

    private static async Task<(int ExitCode, string Output)> DotnetAsync(string directory, bool keepArtifactsPath, params string[] arguments)
    {
        var start = new ProcessStartInfo(Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } host ? host : "dotnet")
        {
            WorkingDirectory = directory,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        // The MSBuild of `dotnet test` leaves its own variables behind; a build started from here must not inherit them.
        foreach (var name in start.Environment.Keys.Where(k => k.StartsWith("MSBUILD", StringComparison.OrdinalIgnoreCase)).ToList())
        {
            start.Environment.Remove(name);
        }

        if (!keepArtifactsPath)
        {
            start.Environment.Remove("ArtifactsPath");
        }

        start.Environment["MSBUILDDISABLENODEREUSE"] = "1";
        start.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        start.Environment["DOTNET_NOLOGO"] = "1";

        using var process = Process.Start(start) ?? throw new InvalidOperationException("dotnet did not start.");
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(CommandTimeout);
        try
        {
            await process.WaitForExitAsync(timeout.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"dotnet {string.Join(' ', arguments)} did not finish in {CommandTimeout.TotalMinutes} minutes (in {directory}).");
        }

        return (process.ExitCode, await stdout.ConfigureAwait(false) + await stderr.ConfigureAwait(false));
    }

    private static string Metadata(string key) =>
        typeof(SnippetBuild).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>().Single(a => a.Key == key).Value!;

    [GeneratedRegex(@"^\s*(?<path>[^\s(:][^(:]*?)(\((?<line>\d+),(?<column>\d+)\))?\s*:\s+error\s+(?<code>[A-Z]+\d+)\s*:\s*(?<message>.*?)(\s+\[(?<project>[^\]]+)\])?\s*$")]
    private static partial Regex ErrorLine();
}
