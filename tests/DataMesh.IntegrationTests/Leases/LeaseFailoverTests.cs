using System.Diagnostics;
using DataMesh.IntegrationTests.Conformance;
using DataMesh.IntegrationTests.Infrastructure;
using Xunit;
using Xunit.Abstractions;

namespace DataMesh.IntegrationTests.Leases;

/// <summary>
/// Two connector processes run one source definition under load: the source's lease lets one read while the other stands
/// by; the reading one is killed (SIGKILL) ten times, each time a new standby process is started, and the standby takes over
/// from the stored position. No moment has two processes reading; every committed version of every key arrives, in commit
/// order per key (repeats allowed). The fail-over times (kill to the standby reading) are printed as median, min and max.
/// </summary>
[Collection(ServerRestartCollection.Name)]
public abstract class LeaseFailoverTests : HarnessTestBase
{
    private const string Table = "kv";
    private const int Kills = 10;
    private static readonly TimeSpan StatusEvery = TimeSpan.FromMilliseconds(50);
    private readonly ITestOutputHelper _output;

    private protected LeaseFailoverTests(ConformanceDriver driver, ITestOutputHelper output)
        : base(driver)
    {
        _output = output;
    }

    [Fact]
    public async Task Of_two_processes_one_reads_and_killing_it_ten_times_under_load_hands_over_with_nothing_lost()
    {
        var harness = Harness;
        await harness.CreateTableAsync(Table, VersionedWorkload.Columns, partitions: 4);
        var request = new SourceRequest(harness.Source) { TopicPartitions = 4 };
        var settings = new Dictionary<string, string?>(Driver.Settings(request), StringComparer.Ordinal) { ["LeaseCheckInterval"] = "00:00:00.250" };
        var processes = new List<ConnectorProcess>();
        ConnectorProcess Start()
        {
            var process = ConnectorProcess.StartSource(Driver.Kind, harness.Kafka.BootstrapServers, harness.Source, settings, reportStatusEvery: StatusEvery);
            processes.Add(process);
            return process;
        }

        var live = new List<ConnectorProcess> { Start(), Start() };
        var both = new List<string>();
        using var sampling = new CancellationTokenSource();
        try
        {
            await Driver.WaitUntilStreamingAsync(harness.Source, harness, TimeSpan.FromSeconds(60));
            var reader = await WaitForOneReaderAsync(live, TimeSpan.FromSeconds(60));

            // Never two readers: sampled all along from the processes' own status reports.
            var sampler = Task.Run(async () =>
            {
                while (!sampling.IsCancellationRequested)
                {
                    List<ConnectorProcess> snapshot;
                    lock (live)
                    {
                        snapshot = [.. live];
                    }

                    var reading = snapshot.Where(p => !p.HasExited && p.LastState == "Running").Select(p => p.Id).ToList();
                    if (reading.Count > 1)
                    {
                        both.Add($"{DateTime.UtcNow:HH:mm:ss.fff}: processes {string.Join(", ", reading)} both reading");
                    }

                    await Task.Delay(StatusEvery / 2);
                }
            });

            var workload = new VersionedWorkload(keys: 500, seed: 31);
            await using var writer = await Driver.OpenWriterAsync(Table);
            using var writingStop = new CancellationTokenSource();
            var writing = Task.Run(() => workload.RunAsync(writer, int.MaxValue, maxBatch: 10, pause: TimeSpan.FromMilliseconds(2), stop: writingStop.Token));
            var random = new Random(20261203);
            var failovers = new List<double>();
            for (var kill = 0; kill < Kills && !writing.IsFaulted; kill++)
            {
                await Task.Delay(random.Next(500, 2000));
                var clock = Stopwatch.StartNew();
                lock (live)
                {
                    live.Remove(reader);
                }

                reader.Kill();
                var standby = live.Single();
                reader = await WaitForOneReaderAsync([standby], TimeSpan.FromSeconds(60));
                failovers.Add(clock.Elapsed.TotalMilliseconds);
                var next = Start();
                lock (live)
                {
                    live.Add(next);
                }
            }

            await writingStop.CancelAsync();
            await writing;
            await sampling.CancelAsync();
            await sampler;
            failovers.Sort();
            _output.WriteLine($"{Driver.Kind}: {failovers.Count} kills of the reading process; fail-over (kill to the standby reading, status every {StatusEvery.TotalMilliseconds:0} ms, lease checked every 250 ms) " +
                $"median {failovers[failovers.Count / 2]:0} ms, min {failovers[0]:0} ms, max {failovers[^1]:0} ms; {workload.Changes} changes in {workload.Transactions} transactions");
            Assert.True(both.Count == 0, "two processes read the source at once: " + string.Join("; ", both.Take(10)));
            Assert.Equal(Kills, failovers.Count);
            await ConnectorConformanceTests.VerifyAsync(harness, Table, workload, TimeSpan.FromMinutes(2), $"{workload.Changes} changes committed across {Kills} fail-overs");
        }
        finally
        {
            await sampling.CancelAsync();
            foreach (var process in processes)
            {
                process.Dispose();
            }
        }
    }

    /// <summary>When the server ends the lease's session under a reading source (as an operator's kill, a lost connection or
    /// a server-side idle timeout would), the source stops reading at once, stores nothing more, takes the free lease again
    /// and goes on from its stored position: nothing is lost.</summary>
    [Fact]
    public async Task A_source_whose_lease_session_is_killed_stops_reading_takes_the_lease_again_and_loses_nothing()
    {
        var harness = Harness;
        await harness.CreateTableAsync(Table, VersionedWorkload.Columns);
        await harness.StartInProcessAsync(new SourceRequest(harness.Source));
        await Driver.WaitUntilStreamingAsync(harness.Source, harness, TimeSpan.FromSeconds(60));
        var workload = new VersionedWorkload(keys: 200, seed: 37);
        await using var writer = await Driver.OpenWriterAsync(Table);
        using var writingStop = new CancellationTokenSource();
        var writing = Task.Run(() => workload.RunAsync(writer, int.MaxValue, maxBatch: 10, pause: TimeSpan.FromMilliseconds(2), stop: writingStop.Token));
        var retaken = new List<double>();
        for (var kill = 0; kill < 3; kill++)
        {
            await Task.Delay(1000);
            // The source takes the lease again once its term ended (the connector stopped): wait for its new session.
            var clock = Stopwatch.StartNew();
            while (!await KillLeaseSessionAsync(harness.Source))
            {
                Assert.True(clock.Elapsed < TimeSpan.FromSeconds(30), $"no lease session of source {harness.Source} within 30 s; log:\n{harness.SourceLog}");
                await Task.Delay(20);
            }

            retaken.Add(clock.Elapsed.TotalMilliseconds);
        }

        _output.WriteLine($"{Driver.Kind}: the lease's session killed 3 times; a new one existed, 1 s after each kill, within {string.Join(", ", retaken.Select(ms => $"{ms:0} ms"))} more");

        await Task.Delay(1000);
        await writingStop.CancelAsync();
        await writing;
        await ConnectorConformanceTests.VerifyAsync(harness, Table, workload, TimeSpan.FromMinutes(1), $"{workload.Changes} changes committed across 3 kills of the lease's session");
        var log = harness.SourceLog;
        Assert.True(log.Split('\n').Count(l => l.Contains("lost its lease", StringComparison.Ordinal)) >= 3, $"the source did not say it lost its lease 3 times; log:\n{log}");
        Assert.True(log.Split('\n').Count(l => l.Contains("took its lease", StringComparison.Ordinal)) >= 4, $"the source did not take its lease again after each loss; log:\n{log}");
    }

    /// <summary>Ends, on the server, the session that holds the source's lease; false when there is none.</summary>
    private protected abstract Task<bool> KillLeaseSessionAsync(string source);

    /// <summary>Waits until exactly one of <paramref name="candidates"/> reports it reads (state Running) and every other
    /// one stands by; returns the reading one.</summary>
    private static async Task<ConnectorProcess> WaitForOneReaderAsync(IReadOnlyList<ConnectorProcess> candidates, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (true)
        {
            var reading = candidates.Where(p => !p.HasExited && p.LastState == "Running").ToList();
            if (reading.Count == 1)
            {
                return reading[0];
            }

            Assert.True(DateTime.UtcNow < deadline, $"after {timeout} no single process reads the source; states: " +
                string.Join(", ", candidates.Select(p => $"{p.Id} {(p.HasExited ? "exited" : p.LastState ?? "no report")}")) + $"; log:\n{ConnectorProcess.RecentLog}");
            await Task.Delay(10);
        }
    }
}

/// <summary><see cref="LeaseFailoverTests"/> on MariaDB: the lease is a <c>GET_LOCK</c> lock; the binlog would let both read.</summary>
public sealed class MariaDbLeaseFailoverTests(MariaDbServer server, ITestOutputHelper output)
    : LeaseFailoverTests(new MariaDbConformance(server), output), IClassFixture<MariaDbServer>
{
    private protected override async Task<bool> KillLeaseSessionAsync(string source)
    {
        var holder = await server.ScalarAsync<object?>($"SELECT IS_USED_LOCK('{DataMesh.Connectors.Leases.SessionLockLease.NameFor(source, hashed: true)}')");
        if (holder is null or DBNull)
        {
            return false;
        }

        await server.ExecuteAsync($"KILL {holder}");
        return true;
    }
}

/// <summary><see cref="LeaseFailoverTests"/> on PostgreSQL: the lease is an advisory lock; the slot would refuse a second
/// reader, which would then retry instead of standing by.</summary>
public sealed class PostgresLeaseFailoverTests(PostgresServer server, ITestOutputHelper output)
    : LeaseFailoverTests(new PostgresConformance(server), output), IClassFixture<PostgresServer>
{
    private protected override async Task<bool> KillLeaseSessionAsync(string source) =>
        await server.ScalarAsync<long>($"SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = 'datamesh-{source}-lease'") > 0;
}
