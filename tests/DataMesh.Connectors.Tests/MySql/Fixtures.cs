using System.Runtime.CompilerServices;

namespace DataMesh.Tests.MySql;

/// <summary>Finds the recorded MySQL fixtures (tests/DataMesh.Connectors.Tests/Fixtures/MySql): beside this source
/// file when built here, else above the test's output folder.</summary>
internal static class Fixtures
{
    private static readonly Lazy<string> Folder = new(() =>
    {
        var besideSource = System.IO.Path.GetFullPath(System.IO.Path.Combine(SourceDirectory(), "..", "Fixtures", "MySql"));
        if (Directory.Exists(besideSource))
        {
            return besideSource;
        }

        for (var directory = new DirectoryInfo(AppContext.BaseDirectory); directory is not null; directory = directory.Parent)
        {
            var candidate = System.IO.Path.Combine(directory.FullName, "tests", "DataMesh.Connectors.Tests", "Fixtures", "MySql");
            if (Directory.Exists(candidate))
            {
                return candidate;
            }
        }

        throw new DirectoryNotFoundException($"tests/DataMesh.Connectors.Tests/Fixtures/MySql was found neither at {besideSource} nor above {AppContext.BaseDirectory}");
    });

    public static string Path(string name) => System.IO.Path.Combine(Folder.Value, name);

    public static byte[] Read(string name) => File.ReadAllBytes(Path(name));

    private static string SourceDirectory([CallerFilePath] string path = "") => System.IO.Path.GetDirectoryName(path)!;
}
