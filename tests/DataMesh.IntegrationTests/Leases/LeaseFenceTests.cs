using DataMesh.IntegrationTests.Conformance;
using DataMesh.IntegrationTests.Infrastructure;
using Xunit;
using Xunit.Abstractions;

namespace DataMesh.IntegrationTests.Leases;

/// <summary>
/// The fencing epoch on MariaDB, whose binlog lets any number of processes read it (PostgreSQL's slot admits one reader, so
/// a paused holder there blocks its successor instead): the reading process is frozen (SIGSTOP) while it holds the lease,
/// the server ends its lease session, the standby takes over and changes go on; then the frozen process wakes up with
/// those changes waiting in its socket. It must hand none of them to Kafka: every record stamped with its epoch carries a
/// change committed before it was frozen, the new holder's records carry a higher epoch, and every change arrives.
/// </summary>
[Collection(ServerRestartCollection.Name)]
public sealed class MariaDbLeaseFenceTests(MariaDbServer server, ITestOutputHelper output)
    : HarnessTestBase(new MariaDbConformance(server)), IClassFixture<MariaDbServer>
{
    private const string Table = "kv";

    [Fact]
    public async Task A_holder_frozen_past_its_lease_writes_nothing_it_read_after_the_freeze_and_its_successor_writes_a_higher_epoch()
    {
        var harness = Harness;
        await harness.CreateTableAsync(Table, VersionedWorkload.Columns, partitions: 4);
        var settings = new Dictionary<string, string?>(Driver.Settings(new SourceRequest(harness.Source) { TopicPartitions = 4 }), StringComparer.Ordinal)
        {
            ["LeaseCheckInterval"] = "00:00:00.250",
            ["EpochHeader"] = "true",
        };
        using var frozen = ConnectorProcess.StartSource(Driver.Kind, harness.Kafka.BootstrapServers, harness.Source, settings, reportStatusEvery: TimeSpan.FromMilliseconds(50));
        await Driver.WaitUntilStreamingAsync(harness.Source, harness, TimeSpan.FromSeconds(60));
        await WaitForStateAsync(frozen, "Running");
        using var successor = ConnectorProcess.StartSource(Driver.Kind, harness.Kafka.BootstrapServers, harness.Source, settings, reportStatusEvery: TimeSpan.FromMilliseconds(50));
        await WaitForStateAsync(successor, "Standby");

        var workload = new VersionedWorkload(keys: 200, seed: 41);
        await using var writer = await Driver.OpenWriterAsync(Table);
        await workload.RunAsync(writer, 300, maxBatch: 5);
        await Task.Delay(500);

        // Frozen while it holds the lease: what it hands Kafka from now on can only be what it handed the client before.
        var beforeFreeze = MaxVersion(workload);
        var frozenFor = System.Diagnostics.Stopwatch.StartNew();
        frozen.Pause();
        try
        {
            await workload.RunAsync(writer, 50, maxBatch: 5);

            // The server ends the frozen holder's lease session (as its idle timeout would, later): the standby takes over.
            var holder = await server.ScalarAsync<object?>($"SELECT IS_USED_LOCK('{DataMesh.Connectors.Leases.SessionLockLease.NameFor(harness.Source, hashed: true)}')");
            Assert.False(holder is null or DBNull, "no session holds the source's lease while its holder is frozen");
            await server.ExecuteAsync($"KILL {holder}");
            await WaitForStateAsync(successor, "Running");

            // Changes the frozen process's binlog stream now holds unread, in its socket.
            await workload.RunAsync(writer, 300, maxBatch: 5);

            // Frozen longer than its fence's validity (a check's 5 s timeout plus the 250 ms interval), as a holder whose
            // session ended on its own would be; a shorter freeze after an operator's kill is what the gate does not cover.
            await Task.Delay(TimeSpan.FromSeconds(7) - frozenFor.Elapsed is { Ticks: > 0 } rest ? rest : TimeSpan.Zero);
            frozen.Resume();
            await Task.Delay(3000);
            await workload.RunAsync(writer, 100, maxBatch: 5);

            await ConnectorConformanceTests.VerifyAsync(harness, Table, workload, TimeSpan.FromMinutes(2), $"{workload.Changes} changes across a frozen holder's takeover");
            var records = await harness.ReadAsync(Table, _ => false, TimeSpan.FromSeconds(3));
            var epochs = records.Where(r => r.Epoch is not null).Select(r => r.Epoch!.Value).Distinct().Order().ToList();
            output.WriteLine($"{records.Count} records for {workload.Changes} changes; epochs {string.Join(", ", epochs)}; {records.Count(r => r.Epoch is null)} without one");
            Assert.True(records.All(r => r.Epoch is not null), "a record of a leased source has no epoch header");
            Assert.True(epochs.Count >= 2, $"expected the frozen holder's epoch and a higher one of its successor, got {string.Join(", ", epochs)}");

            // The frozen holder took the lower epoch; its records carry only changes committed before the freeze, none of
            // what it read after waking up.
            var first = epochs[0];
            var late = records.Where(r => r.Epoch == first && Version(r) > beforeFreeze).ToList();
            Assert.True(late.Count == 0, $"the frozen holder (epoch {first}) wrote {late.Count} changes committed after it was frozen, e.g. versions {string.Join(", ", late.Take(5).Select(Version))} (> {beforeFreeze}); log:\n{frozen.RecentLines}");
            Assert.Contains(records, r => r.Epoch > first && Version(r) > beforeFreeze);
            Assert.Contains("lost its lease", frozen.RecentLines, StringComparison.Ordinal);

            // It lost its lease, not its life: it stands by (a failed source would have stopped the host).
            await WaitForStateAsync(frozen, "Standby");
            Assert.False(frozen.HasExited, $"the frozen holder exited after it woke up; log:\n{frozen.RecentLines}");
        }
        finally
        {
            frozen.Resume();
        }
    }

    private static long MaxVersion(VersionedWorkload workload) => workload.Committed.Values.SelectMany(v => v).Select(Math.Abs).DefaultIfEmpty(0).Max();

    /// <summary>The version a record carries (after image, or before image of a delete); 0 for a tombstone.</summary>
    private static long Version(CdcRecord record) => (record.After ?? record.Before)?["v"] is long v ? v : 0;

    private static async Task WaitForStateAsync(ConnectorProcess process, string state)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(60);
        while (process.LastState != state)
        {
            Assert.True(DateTime.UtcNow < deadline, $"process {process.Id} is {process.LastState ?? "silent"}, not {state}, after 60 s; log:\n{process.RecentLines}");
            await Task.Delay(20);
        }
    }
}
