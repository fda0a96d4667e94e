using System.Globalization;
using DataMesh.Hosting;
using DataMesh.IntegrationTests.Infrastructure;

namespace DataMesh.IntegrationTests.ControlPlane;

/// <summary>
/// <c>datamesh run FILE</c> processes on one test's embedded Kafka (hosted by the test process, so that no kill takes the
/// cluster with it): the definition file they share, the runners started and killed, and what their logs say about each
/// source's lease, line by line as it arrives. A runner's source logs "took its lease" when it starts reading and "lost
/// its lease" when it stops; a runner killed by the test ends its reading with the kill. <see cref="Overlaps"/> lists every
/// moment two runners read one source. Shared by the integration tests and the runner benchmark.
/// </summary>
internal sealed class RunnerFleet : IDisposable
{
    private readonly KafkaConnection _kafka;
    private readonly string _file;
    private readonly Dictionary<string, string> _environment;
    private readonly List<ConnectorProcess> _runners = [];
    private readonly HashSet<int> _killed = [];
    private readonly HashSet<int> _holders = [];
    private readonly HashSet<int> _standingBy = [];
    private readonly List<string> _overlaps = [];
    private readonly List<(int Runner, DateTime At)> _taken = [];
    private readonly List<(int Runner, string Line)> _lines = [];

    /// <summary>Writes the definition to a file of its own; <paramref name="environment"/> holds the values of its
    /// <c>${env:NAME}</c> references, given to the runners only.</summary>
    public RunnerFleet(KafkaConnection embedded, string definition, Dictionary<string, string> environment)
    {
        _kafka = embedded;
        _environment = environment;
        _file = Path.Combine(Path.GetTempPath(), UniqueName.Create("definition") + ".yaml");
        File.WriteAllText(_file, definition);
    }

    /// <summary>The controller's state topic the fleet's runners share (unique to the test).</summary>
    public string StateTopic { get; } = UniqueName.Create("controller");

    /// <summary>Every moment a runner took a source's lease while another, not killed, held it.</summary>
    public IReadOnlyList<string> Overlaps
    {
        get
        {
            lock (_holders)
            {
                return [.. _overlaps];
            }
        }
    }

    /// <summary>The last lines of the latest runners, for failure messages.</summary>
    public string Log
    {
        get
        {
            lock (_holders)
            {
                return string.Join('\n', _runners.TakeLast(4).Select(r => $"--- runner {r.Id}{(r.HasExited ? " (exited)" : string.Empty)}:\n{r.RecentLines}"));
            }
        }
    }

    /// <summary>
    /// Creates the state topics, then applies the definition in this process, on the embedded cluster (creating its
    /// topics, as <c>datamesh apply</c> would): runners reach the cluster over TCP, where it has no admin API.
    /// </summary>
    public async Task ApplyAsync(string definition, CancellationToken cancellationToken = default)
    {
        var cluster = _kafka.EmbeddedCluster ?? throw new InvalidOperationException("The fleet's cluster is the embedded one, hosted by this process.");
        cluster.EnsureTopic(StateTopic, 1);
        cluster.EnsureTopic(StateTopic + ".status", 1);
        var options = new DataMeshControllerOptions { StateTopic = StateTopic };
        options.AddConnectorTypes();

        await using var store = await DataMesh.Schemas.KafkaSchemaStore.CreateAsync(new DataMesh.Schemas.KafkaSchemaStoreOptions { EmbeddedCluster = cluster, CreateTopic = false });
        using var controller = new DataMeshController(_kafka, store, options);
        foreach (var (name, value) in _environment)
        {
            Environment.SetEnvironmentVariable(name, value);
        }

        try
        {
            await controller.ApplyAsync(definition, cancellationToken: cancellationToken);
        }
        finally
        {
            foreach (var name in _environment.Keys)
            {
                Environment.SetEnvironmentVariable(name, null);
            }
        }
    }

    /// <summary>Starts one more <c>datamesh run FILE --kafka ... --state-topic ...</c> process.</summary>
    public ConnectorProcess Start()
    {
        // The embedded cluster reached over TCP has no admin API: the runners create no topic (ApplyAsync and the
        // harness created them), as on a managed cluster that allows none.
        var environment = new Dictionary<string, string>(_environment) { ["DATAMESH__DataMesh__Kafka__CreateTopics"] = "false" };
        var runner = ConnectorProcess.StartRunner(_file, _kafka.BootstrapServers, environment, OnLine, ["--state-topic", StateTopic]);
        lock (_holders)
        {
            _runners.Add(runner);
        }

        return runner;
    }

    /// <summary>Kills <paramref name="runner"/> (SIGKILL); from now on it holds no lease.</summary>
    public void Kill(ConnectorProcess runner)
    {
        lock (_holders)
        {
            // Marked first: the standby may take the lease the instant the kill ends the holder's session.
            _killed.Add(runner.Id);
            _holders.Remove(runner.Id);
            _standingBy.Remove(runner.Id);
        }

        runner.Kill();
    }

    /// <summary>The runners started and not killed.</summary>
    public IReadOnlyList<ConnectorProcess> Live
    {
        get
        {
            lock (_holders)
            {
                return [.. _runners.Where(r => !_killed.Contains(r.Id))];
            }
        }
    }

    /// <summary>Waits until one live runner holds the source's lease and returns it.</summary>
    public Task<ConnectorProcess> WaitForHolderAsync(TimeSpan timeout) =>
        WaitAsync(() => Live.Where(r => _holders.Contains(r.Id)).ToList() is [var holder] ? holder : null, "one runner holding the source's lease", timeout);

    /// <summary>Waits until <paramref name="runner"/> stands by for the source's lease.</summary>
    public Task WaitForStandbyAsync(ConnectorProcess runner, TimeSpan timeout) =>
        WaitAsync(() => _standingBy.Contains(runner.Id) ? runner : null, $"runner {runner.Id} standing by", timeout);

    /// <summary>Waits until <paramref name="runner"/> writes a line that contains <paramref name="text"/>.</summary>
    public Task WaitForLineAsync(ConnectorProcess runner, string text, TimeSpan timeout) =>
        WaitAsync(() => _lines.Any(l => l.Runner == runner.Id && l.Line.Contains(text, StringComparison.Ordinal)) ? runner : null, $"line '{text}' from runner {runner.Id}", timeout);

    /// <summary>When a runner first took the source's lease after <paramref name="after"/>, or null.</summary>
    public DateTime? TakenAfter(DateTime after)
    {
        lock (_holders)
        {
            return _taken.Where(t => t.At > after).Select(t => (DateTime?)t.At).FirstOrDefault();
        }
    }

    public void Dispose()
    {
        // Outside the lock: a kill waits for the runner's last lines, whose handler (OnLine) takes it.
        List<ConnectorProcess> runners;
        lock (_holders)
        {
            runners = [.. _runners];
        }

        foreach (var runner in runners)
        {
            runner.Dispose();
        }

        File.Delete(_file);
    }

    private async Task<ConnectorProcess> WaitAsync(Func<ConnectorProcess?> found, string what, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (true)
        {
            ConnectorProcess? result;
            lock (_holders)
            {
                result = found();
            }

            if (result is not null)
            {
                return result;
            }

            if (DateTime.UtcNow >= deadline)
            {
                throw new TimeoutException($"no {what} within {timeout}; runners' logs:\n{Log}");
            }

            await Task.Delay(10);
        }
    }

    private void OnLine(ConnectorProcess runner, string line)
    {
        var now = DateTime.UtcNow;
        lock (_holders)
        {
            if (_killed.Contains(runner.Id))
            {
                return;
            }

            _lines.Add((runner.Id, line));

            if (line.Contains("took its lease", StringComparison.Ordinal))
            {
                if (_holders.Count > 0)
                {
                    _overlaps.Add(string.Create(CultureInfo.InvariantCulture, $"{now:HH:mm:ss.fff}: runner {runner.Id} took the lease while runner {string.Join(", ", _holders)} held it"));
                }

                _holders.Add(runner.Id);
                _standingBy.Remove(runner.Id);
                _taken.Add((runner.Id, now));
            }
            else if (line.Contains("lost its lease", StringComparison.Ordinal))
            {
                _holders.Remove(runner.Id);
            }
            else if (line.Contains("standing by", StringComparison.Ordinal))
            {
                _standingBy.Add(runner.Id);
            }
        }
    }
}
