using System.Diagnostics;
using System.Globalization;
using DataMesh.IntegrationTests.Conformance;
using DataMesh.IntegrationTests.Infrastructure;
using DataMesh.Schemas;
using Xunit;
using Xunit.Abstractions;

namespace DataMesh.IntegrationTests.ControlPlane;

/// <summary>
/// <c>datamesh run FILE</c> as real processes sharing one definition of a PostgreSQL source (and a pipeline), on an
/// embedded Kafka hosted by the test: runners killed with SIGKILL under load hand the source over through its lease and
/// the pipeline's partitions through its consumer group, with every change delivered once or more, in order per key.
/// </summary>
[Collection(ServerRestartCollection.Name)]
public sealed class RunnerScaleTests(PostgresServer server, ITestOutputHelper output)
    : HarnessTestBase(new PostgresConformance(server)), IClassFixture<PostgresServer>
{
    private const string Table = "kv";
    private const int Partitions = 4;

    [Fact]
    public async Task Of_two_runners_of_one_definition_one_reads_and_killing_it_ten_times_under_load_loses_nothing()
    {
        const int kills = 10;
        var harness = Harness;
        await harness.CreateTableAsync(Table, VersionedWorkload.Columns, partitions: Partitions);
        var (definition, environment) = Definition(harness, pipelineTopic: null);
        using var fleet = new RunnerFleet(harness.Kafka, definition, environment);
        await fleet.ApplyAsync(definition);
        var started = new[] { fleet.Start(), fleet.Start() };
        var reader = await fleet.WaitForHolderAsync(TimeSpan.FromSeconds(60));
        var standby = started.Single(r => r != reader);
        await fleet.WaitForStandbyAsync(standby, TimeSpan.FromSeconds(60));
        await WaitUntilStreamingAsync(fleet);

        var workload = new VersionedWorkload(keys: 500, seed: 41);
        await using var writer = await Driver.OpenWriterAsync(Table);
        using var writingStop = new CancellationTokenSource();
        var writing = Task.Run(() => workload.RunAsync(writer, int.MaxValue, maxBatch: 10, pause: TimeSpan.FromMilliseconds(2), stop: writingStop.Token));
        var random = new Random(20261204);
        var failovers = new List<double>();
        for (var kill = 0; kill < kills && !writing.IsFaulted; kill++)
        {
            await Task.Delay(random.Next(500, 1500));
            var killedAt = DateTime.UtcNow;
            var clock = Stopwatch.StartNew();
            fleet.Kill(reader);
            var next = await fleet.WaitForHolderAsync(TimeSpan.FromSeconds(60));
            failovers.Add(clock.Elapsed.TotalMilliseconds);
            Assert.Same(standby, next);
            Assert.NotNull(fleet.TakenAfter(killedAt));
            reader = next;
            standby = fleet.Start();
            await fleet.WaitForStandbyAsync(standby, TimeSpan.FromSeconds(60));
        }

        await writingStop.CancelAsync();
        await writing;
        failovers.Sort();
        output.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"datamesh run, postgres source: {failovers.Count} kills of the reading runner; fail-over (SIGKILL to the standby's \"took its lease\", lease_check_interval 250ms) " +
            $"median {failovers[failovers.Count / 2]:0} ms, min {failovers[0]:0} ms, max {failovers[^1]:0} ms; {workload.Changes} changes in {workload.Transactions} transactions"));
        Assert.True(fleet.Overlaps.Count == 0, "two runners read the source at once: " + string.Join("; ", fleet.Overlaps));
        Assert.Equal(kills, failovers.Count);
        await ConnectorConformanceTests.VerifyAsync(harness, Table, workload, TimeSpan.FromMinutes(2), $"{workload.Changes} changes committed across {kills} kills of the reading runner");
    }

    [Fact]
    public async Task A_pipeline_on_three_runners_with_one_killed_and_one_added_under_load_fills_its_sink_with_every_change_in_order_per_key()
    {
        var harness = Harness;
        await harness.CreateTableAsync(Table, VersionedWorkload.Columns, partitions: Partitions);
        var sinkTopic = UniqueName.Create("sink");
        var (definition, environment) = Definition(harness, sinkTopic);
        using var fleet = new RunnerFleet(harness.Kafka, definition, environment);
        await fleet.ApplyAsync(definition);
        var runners = new List<ConnectorProcess> { fleet.Start(), fleet.Start(), fleet.Start() };
        var holder = await fleet.WaitForHolderAsync(TimeSpan.FromSeconds(60));
        foreach (var runner in runners.Where(r => r != holder))
        {
            await fleet.WaitForStandbyAsync(runner, TimeSpan.FromSeconds(60));
        }

        await WaitUntilStreamingAsync(fleet);
        var workload = new VersionedWorkload(keys: 300, seed: 43);
        await using var writer = await Driver.OpenWriterAsync(Table);
        using var writingStop = new CancellationTokenSource();
        var writing = Task.Run(() => workload.RunAsync(writer, int.MaxValue, maxBatch: 10, pause: TimeSpan.FromMilliseconds(2), stop: writingStop.Token));

        // The group's member on a runner that does not read the source: the kill moves only partitions of the pipeline.
        var timeline = new List<string>();
        void Note(string what) => timeline.Add(string.Create(CultureInfo.InvariantCulture, $"{DateTime.UtcNow:HH:mm:ss.fff} {what}"));
        Note("writing started");
        await Task.Delay(3000);
        var killed = runners.First(r => r != holder);
        fleet.Kill(killed);
        Note($"runner {killed.Id} killed");
        await Task.Delay(3000);
        var added = fleet.Start();
        await fleet.WaitForStandbyAsync(added, TimeSpan.FromSeconds(60));
        Note($"runner {added.Id} added and standing by");
        await Task.Delay(3000);
        await writingStop.CancelAsync();
        await writing;
        Note("writing stopped");

        await using var store = await KafkaSchemaStore.CreateAsync(new KafkaSchemaStoreOptions { EmbeddedCluster = harness.Cluster, CreateTopic = false });
        using var tail = new TopicTail(harness.Kafka, store, sinkTopic, Partitions);
        var check = new VersionedWorkload.Check(workload);
        var deadline = DateTime.UtcNow + TimeSpan.FromMinutes(2);
        var sinkRead = new long[Partitions];
        while (check.Problem() is { } problem)
        {
            if (DateTime.UtcNow >= deadline)
            {
                Assert.Fail($"sink topic after {check.Records} records for {workload.Changes} committed changes: {problem}; " +
                    $"sink records read per partition [{string.Join(", ", sinkRead)}]; {await DescribeAsync(harness, store, sinkTopic, workload)}; " +
                    $"test: {string.Join("; ", timeline)}; runners' logs:\n{fleet.Log}");
            }

            foreach (var record in await tail.PollAsync(TimeSpan.FromMilliseconds(200)))
            {
                check.Add(record);
                sinkRead[record.Partition]++;
            }
        }

        // The sink's table (the last record per key) is the source's table.
        var sink = new Dictionary<int, long>();
        foreach (var (key, committed) in workload.Committed.Where(k => k.Value[^1] > 0))
        {
            sink[key] = committed[^1];
        }

        var source = new Dictionary<int, long>();
        await using (var connection = await PostgresServer.OpenConnectionAsync(ConnectionString()))
        await using (var command = new Npgsql.NpgsqlCommand($"SELECT id, v FROM {Table}", connection))
        await using (var rows = await command.ExecuteReaderAsync())
        {
            while (await rows.ReadAsync())
            {
                source[rows.GetInt32(0)] = rows.GetInt64(1);
            }
        }

        Assert.Equal(source.OrderBy(r => r.Key), sink.OrderBy(r => r.Key));
        Assert.True(fleet.Overlaps.Count == 0, "two runners read the source at once: " + string.Join("; ", fleet.Overlaps));
        output.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"pipeline on 3 runners, one killed and one added: {workload.Changes} changes, {check.Records} sink records ({check.Repeats} repeats), {source.Count} rows equal, complete at {DateTime.UtcNow:HH:mm:ss.fff}"));
        output.WriteLine($"test: {string.Join("; ", timeline)}; the group's assignments:");
        output.WriteLine(string.Join('\n', fleet.Log.Split('\n').Where(l => l.Contains("partitions assigned", StringComparison.Ordinal) || l.Contains("partitions revoked", StringComparison.Ordinal))));
    }

    /// <summary>Where records went missing: the source topic checked like the sink, and per partition of both what was
    /// read, the high watermarks and the pipeline group's committed offsets.</summary>
    private static async Task<string> DescribeAsync(ConformanceHarness harness, ISchemaStore store, string sinkTopic, VersionedWorkload workload)
    {
        var sourceTopic = harness.Topic(Table);
        using var tail = new TopicTail(harness.Kafka, store, sourceTopic, Partitions);
        var check = new VersionedWorkload.Check(workload);
        var read = new long[Partitions];
        List<CdcRecord> batch;
        while ((batch = await tail.PollAsync(TimeSpan.FromSeconds(2))).Count > 0)
        {
            foreach (var record in batch)
            {
                check.Add(record);
                read[record.Partition]++;
            }
        }

        var text = new System.Text.StringBuilder();
        text.Append(CultureInfo.InvariantCulture, $"source topic {sourceTopic}: {check.Records} records, {check.Problem() ?? "complete"}; read per partition [{string.Join(", ", read)}]");
        var config = harness.Kafka.CreateConsumerConfig("datamesh-pipeline-copy-" + harness.Source);
        using var consumer = new Confluent.Kafka.ConsumerBuilder<byte[], byte[]>(config).Build();
        foreach (var topic in new[] { sourceTopic, sinkTopic })
        {
            var partitions = Enumerable.Range(0, Partitions).Select(p => new Confluent.Kafka.TopicPartition(topic, p)).ToList();
            var committed = consumer.Committed(partitions, TimeSpan.FromSeconds(10));
            text.Append(CultureInfo.InvariantCulture, $"; {topic}: ");
            text.AppendJoin(", ", partitions.Select((p, i) =>
            {
                var marks = consumer.QueryWatermarkOffsets(p, TimeSpan.FromSeconds(10));
                return $"[{i}] {marks.Low.Value}..{marks.High.Value} committed {committed[i].Offset.Value}";
            }));
        }

        return text.ToString();
    }

    private async Task WaitUntilStreamingAsync(RunnerFleet fleet)
    {
        try
        {
            await Driver.WaitUntilStreamingAsync(Harness.Source, Harness, TimeSpan.FromSeconds(60));
        }
        catch (Exception)
        {
            output.WriteLine("runners' logs:\n" + fleet.Log);
            throw;
        }
    }

    private string ConnectionString() => Driver.Settings(new SourceRequest(Harness.Source))["ConnectionString"]!;

    /// <summary>A definition of the test's source (its connection string a <c>${env:NAME}</c> reference) and, with
    /// <paramref name="pipelineTopic"/>, a pipeline copying its table to that topic.</summary>
    private (string Definition, Dictionary<string, string> Environment) Definition(ConformanceHarness harness, string? pipelineTopic)
    {
        var variable = "DM_TEST_PG_" + Guid.NewGuid().ToString("N")[..8].ToUpperInvariant();
        var definition = $$"""
            settings:
              topic_prefix: dm
              topic_partitions: {{Partitions}}
            sources:
              - name: {{harness.Source}}
                type: postgres
                connection_string: "${env:{{variable}}}"
                slot_name: {{((PostgresConformance)Driver).Slot}}
                include_tables: [public.{{Table}}]
                position_save_interval: 100ms
                retry_delay: 200ms
                max_retry_delay: 2s
                lease_check_interval: 250ms
                snapshot:
                  initial: none
            """;
        if (pipelineTopic is not null)
        {
            definition += $$"""

                pipelines:
                  - name: copy-{{harness.Source}}
                    source: {{harness.Source}}
                    tables: [public.{{Table}}]
                    sink:
                      kafka: {topic: {{pipelineTopic}}, partitions: {{Partitions}}}
                    commit_interval: 200ms
                """;
        }

        return (definition + "\n", new Dictionary<string, string> { [variable] = ConnectionString() });
    }
}
