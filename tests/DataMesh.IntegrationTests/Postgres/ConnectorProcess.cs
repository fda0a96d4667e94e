using System.Diagnostics;

namespace DataMesh.IntegrationTests.Postgres;

/// <summary>A PostgreSQL source in a process of its own (tests/tools/DataMesh.ConnectorHost), so that a test can kill it anywhere.</summary>
internal sealed class ConnectorProcess : IDisposable
{
    private static readonly System.Collections.Concurrent.ConcurrentQueue<string> Log = new();
    private readonly Process _process;

    private ConnectorProcess(Process process)
    {
        _process = process;
        _process.ErrorDataReceived += (_, e) => Append(e.Data);
        _process.OutputDataReceived += (_, e) => Append(e.Data);
        _process.BeginErrorReadLine();
        _process.BeginOutputReadLine();
    }

    /// <summary>The last lines the connector processes wrote (warnings and errors), for failure messages.</summary>
    public static string RecentLog => string.Join('\n', Log.TakeLast(40));

    private void Append(string? line)
    {
        if (line is not null)
        {
            Log.Enqueue($"[{_process.Id}] {line}");
            while (Log.Count > 400)
            {
                Log.TryDequeue(out _);
            }
        }
    }

    public int Id => _process.Id;

    public bool HasExited => _process.HasExited;

    public static ConnectorProcess Start(string bootstrapServers, string sourceName, string slot, string tablePattern, string connectionString) =>
        StartWith(["pg", bootstrapServers, sourceName, slot, tablePattern, connectionString]);

    /// <summary>Starts a MySQL/MariaDB source capturing <paramref name="database"/>.</summary>
    public static ConnectorProcess StartMySql(string bootstrapServers, string sourceName, string database, string connectionString) =>
        StartWith(["mysql", bootstrapServers, sourceName, database, connectionString]);

    /// <summary>Starts the customers pipeline (<c>CustomersPipeline</c>) from <paramref name="sourceTopic"/> into a PostgreSQL table.</summary>
    public static ConnectorProcess StartPipeline(string bootstrapServers, string name, string sourceTopic, string sinkConnectionString, string sinkTable) =>
        StartWith(["pipeline", bootstrapServers, name, sourceTopic, sinkConnectionString, sinkTable]);

    private static ConnectorProcess StartWith(string[] arguments)
    {
        var host = Path.Combine(AppContext.BaseDirectory, "DataMesh.ConnectorHost.dll");
        if (!File.Exists(host))
        {
            throw new FileNotFoundException($"The connector host was not built next to the tests: {host}");
        }

        var start = new ProcessStartInfo("dotnet") { UseShellExecute = false, RedirectStandardError = true, RedirectStandardOutput = true };
        start.ArgumentList.Add(host);
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        return new ConnectorProcess(Process.Start(start) ?? throw new InvalidOperationException("Could not start the connector host."));
    }

    /// <summary>Kills the process at once (SIGKILL): no flush, no graceful stop, as a crash would.</summary>
    public void Kill()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            _process.WaitForExit();
        }
    }

    /// <summary>The process's peak resident memory so far (VmHWM), in bytes.</summary>
    public long PeakResidentBytes()
    {
        foreach (var line in File.ReadLines($"/proc/{_process.Id}/status"))
        {
            if (line.StartsWith("VmHWM:", StringComparison.Ordinal))
            {
                return long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], System.Globalization.CultureInfo.InvariantCulture) * 1024;
            }
        }

        throw new InvalidOperationException("VmHWM not found.");
    }

    public void Dispose()
    {
        Kill();
        _process.Dispose();
    }
}
