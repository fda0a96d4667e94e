using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;

namespace DataMesh.IntegrationTests.Infrastructure;

/// <summary>
/// A source or pipeline in a process of its own (tests/tools/DataMesh.ConnectorHost), or a <c>datamesh run</c> runner
/// (src/DataMesh.Cli), so that a test can kill it (SIGKILL) anywhere and measure its memory apart from the test's.
/// </summary>
internal sealed class ConnectorProcess : IDisposable
{
    private static readonly ConcurrentQueue<string> Log = new();
    private readonly ConcurrentQueue<string> _log = new();
    private readonly Process _process;
    private readonly Action<ConnectorProcess, string>? _onLine;
    private MemoryReport? _memory;
    private string? _state;

    private ConnectorProcess(Process process, Action<ConnectorProcess, string>? onLine)
    {
        _process = process;
        _onLine = onLine;
        _process.ErrorDataReceived += (_, e) => Append(e.Data);
        _process.OutputDataReceived += (_, e) => Append(e.Data);
        _process.BeginErrorReadLine();
        _process.BeginOutputReadLine();
    }

    /// <summary>The last lines the connector processes wrote, for failure messages.</summary>
    public static string RecentLog => string.Join('\n', Log.TakeLast(40));

    /// <summary>The last lines this process wrote (DataMesh's from Information, the libraries' from Warning).</summary>
    public string RecentLines => string.Join('\n', _log.TakeLast(80));

    public int Id => _process.Id;

    public bool HasExited => _process.HasExited;

    /// <summary>The last memory report of a process started with <c>reportMemoryEvery</c>, or null before the first.</summary>
    public MemoryReport? LastMemoryReport => Volatile.Read(ref _memory);

    /// <summary>
    /// Starts source <paramref name="name"/> of <paramref name="kind"/> (<c>postgres</c>, <c>mysql</c>: see
    /// <c>ConnectorHostSources</c>) with its options as configuration keys; the topics it writes must exist.
    /// </summary>
    public static ConnectorProcess StartSource(string kind, string bootstrapServers, string name, IReadOnlyDictionary<string, string?> settings, TimeSpan? reportMemoryEvery = null, TimeSpan? reportStatusEvery = null) =>
        StartWith(["source", kind, bootstrapServers, name, .. settings.Select(s => $"{s.Key}={s.Value}")], reportMemoryEvery, reportStatusEvery);

    /// <summary>The state of the source in the last status report (a process started with <c>reportStatusEvery</c>), or
    /// null before the first.</summary>
    public string? LastState => Volatile.Read(ref _state);

    /// <summary>Starts the customers pipeline (<c>CustomersPipeline</c>) from <paramref name="sourceTopic"/> into a PostgreSQL table.</summary>
    public static ConnectorProcess StartPipeline(string bootstrapServers, string name, string sourceTopic, string sinkConnectionString, string sinkTable) =>
        StartWith(["pipeline", bootstrapServers, name, sourceTopic, sinkConnectionString, sinkTable], null, null);

    /// <summary>
    /// Starts <c>datamesh run <paramref name="definitionFile"/> --kafka <paramref name="bootstrapServers"/></c> (the tool
    /// built next to the tests) with <paramref name="environment"/> added to its environment (the definition's
    /// <c>${env:NAME}</c> secrets) and <paramref name="options"/> after the command's; <paramref name="onLine"/> sees each
    /// line it writes, as it arrives.
    /// </summary>
    public static ConnectorProcess StartRunner(string definitionFile, string bootstrapServers, IReadOnlyDictionary<string, string> environment, Action<ConnectorProcess, string>? onLine = null, IReadOnlyList<string>? options = null) =>
        StartWith("datamesh.dll", ["run", definitionFile, "--kafka", bootstrapServers, .. options ?? []], null, null, environment, onLine);

    private static ConnectorProcess StartWith(string[] arguments, TimeSpan? reportMemoryEvery, TimeSpan? reportStatusEvery) =>
        StartWith("DataMesh.ConnectorHost.dll", arguments, reportMemoryEvery, reportStatusEvery, null, null);

    private static ConnectorProcess StartWith(string program, string[] arguments, TimeSpan? reportMemoryEvery, TimeSpan? reportStatusEvery,
        IReadOnlyDictionary<string, string>? environment, Action<ConnectorProcess, string>? onLine)
    {
        var host = Path.Combine(AppContext.BaseDirectory, program);
        if (!File.Exists(host))
        {
            throw new FileNotFoundException($"{program} was not built next to the tests: {host}");
        }

        var start = new ProcessStartInfo("dotnet") { UseShellExecute = false, RedirectStandardError = true, RedirectStandardOutput = true };
        start.ArgumentList.Add(host);
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        if (reportMemoryEvery is { } every)
        {
            start.Environment["DATAMESH_HOST_MEMORY_REPORT_MS"] = ((int)every.TotalMilliseconds).ToString(CultureInfo.InvariantCulture);
        }

        if (reportStatusEvery is { } status)
        {
            start.Environment["DATAMESH_HOST_STATUS_MS"] = ((int)status.TotalMilliseconds).ToString(CultureInfo.InvariantCulture);
        }

        foreach (var (name, value) in environment ?? new Dictionary<string, string>())
        {
            start.Environment[name] = value;
        }

        return new ConnectorProcess(Process.Start(start) ?? throw new InvalidOperationException($"Could not start {program}."), onLine);
    }

    /// <summary>Waits for the process to end on its own; returns its exit code.</summary>
    public async Task<int> WaitForExitAsync(TimeSpan timeout)
    {
        using var cancel = new CancellationTokenSource(timeout);
        await _process.WaitForExitAsync(cancel.Token);
        _process.WaitForExit(); // the output of a process that ended is read to its end
        return _process.ExitCode;
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

    /// <summary>Freezes the process (SIGSTOP), as a long GC pause, a frozen VM or a debugger would: its sockets stay open.</summary>
    public void Pause() => Signal("STOP");

    /// <summary>Lets a paused process go on (SIGCONT).</summary>
    public void Resume() => Signal("CONT");

    private void Signal(string signal)
    {
        using var kill = Process.Start(new ProcessStartInfo("kill") { ArgumentList = { "-" + signal, _process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture) }, UseShellExecute = false })!;
        kill.WaitForExit();
        if (kill.ExitCode != 0)
        {
            throw new InvalidOperationException($"kill -{signal} {_process.Id} exited with {kill.ExitCode}.");
        }
    }

    /// <summary>The process's peak resident memory so far (VmHWM), in bytes.</summary>
    public long PeakResidentBytes() => ProcStatus("VmHWM:");

    /// <summary>The process's resident memory now (VmRSS), in bytes.</summary>
    public long ResidentBytes() => ProcStatus("VmRSS:");

    /// <summary>Waits for the next memory report after now (the host takes it after a full garbage collection).</summary>
    public async Task<MemoryReport> NextMemoryReportAsync(TimeSpan timeout)
    {
        var after = DateTime.UtcNow;
        var deadline = after + timeout;
        while (LastMemoryReport is not { } report || report.At <= after)
        {
            if (DateTime.UtcNow > deadline || HasExited)
            {
                throw new TimeoutException($"The connector process sent no memory report within {timeout} (exited: {HasExited}); its log:\n{RecentLog}");
            }

            await Task.Delay(50);
        }

        return LastMemoryReport!;
    }

    public void Dispose()
    {
        Kill();
        _process.Dispose();
    }

    private long ProcStatus(string field)
    {
        foreach (var line in File.ReadLines($"/proc/{_process.Id}/status"))
        {
            if (line.StartsWith(field, StringComparison.Ordinal))
            {
                return long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture) * 1024;
            }
        }

        throw new InvalidOperationException($"{field} not found in /proc/{_process.Id}/status.");
    }

    private void Append(string? line)
    {
        if (line is null)
        {
            return;
        }

        SuiteLog.Write(line);
        _onLine?.Invoke(this, line);
        if (line.StartsWith("memory managed=", StringComparison.Ordinal))
        {
            var parts = line.Split(' ');
            Volatile.Write(ref _memory, new MemoryReport(
                long.Parse(parts[1]["managed=".Length..], CultureInfo.InvariantCulture),
                long.Parse(parts[2]["rss=".Length..], CultureInfo.InvariantCulture),
                DateTime.UtcNow));
            return;
        }

        if (line.StartsWith("status ", StringComparison.Ordinal))
        {
            Volatile.Write(ref _state, line[(line.LastIndexOf(' ') + 1)..]);
            return;
        }

        foreach (var log in (ReadOnlySpan<ConcurrentQueue<string>>)[Log, _log])
        {
            log.Enqueue(string.Create(CultureInfo.InvariantCulture, $"{DateTime.UtcNow:HH:mm:ss.fff} [{_process.Id}] {line}"));
            while (log.Count > 400)
            {
                log.TryDequeue(out _);
            }
        }
    }
}

/// <summary>A connector process's memory: managed heap after a full collection, and resident set, at a time.</summary>
internal sealed record MemoryReport(long ManagedBytes, long ResidentBytes, DateTime At);
