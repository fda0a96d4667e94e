namespace DataMesh.IntegrationTests.Infrastructure;

/// <summary>
/// Every log line the integration tests' hosts and connector processes write, appended to a file of the folder
/// <c>DATAMESH_TEST_LOGS</c> names (one file per test process; nothing when it is not set). <c>./build.sh test</c> sets it
/// and, after the suite, greps every line of that folder for the test servers' passwords (<c>scripts/scan-secrets.py</c>).
/// </summary>
internal static class SuiteLog
{
    private static readonly object Gate = new();
    private static readonly StreamWriter? Writer = Open();

    /// <summary>Appends <paramref name="text"/> (a log line, with its exception when it has one).</summary>
    public static void Write(string? text)
    {
        if (Writer is null || text is null)
        {
            return;
        }

        lock (Gate)
        {
            Writer.WriteLine(text);
        }
    }

    private static StreamWriter? Open()
    {
        var folder = Environment.GetEnvironmentVariable("DATAMESH_TEST_LOGS");
        if (string.IsNullOrEmpty(folder))
        {
            return null;
        }

        Directory.CreateDirectory(folder);
        return new StreamWriter(Path.Combine(folder, $"integration-{Environment.ProcessId}.log"), append: true) { AutoFlush = true };
    }
}
