using DataMesh.Avro;
using DataMesh.Events;
using DataMesh.Hosting;
using DataMesh.Schemas;
using DataMesh.Sources;
using Microsoft.Extensions.Logging.Abstractions;
using Xunit;

namespace DataMesh.Tests.Sources;

/// <summary>The source runtime with a scripted connector on the embedded cluster: retries from the acknowledged
/// position, fatal errors as an outcome (never an exception), and a graceful stop that stores the last acknowledged
/// position.</summary>
public sealed class SourceRuntimeTests
{
    [Fact]
    public async Task A_transient_failure_restarts_the_connector_from_the_last_acknowledged_position()
    {
        await using var fixture = await Fixture.CreateAsync();
        var connector = new ScriptedConnector
        {
            Script = async (context, start, attempt, cancellationToken) =>
            {
                if (attempt == 1)
                {
                    await fixture.WriteAsync(context, 1, 10, cancellationToken);
                    await WaitUntil(() => context.InFlight == 0);
                    throw new IOException("connection reset by peer");
                }

                Assert.Equal("10", start);
                await fixture.WriteAsync(context, 11, 20, cancellationToken);
                await Task.Delay(Timeout.Infinite, cancellationToken);
            },
        };
        var (runtime, monitor) = fixture.Runtime(connector);
        using var stop = new CancellationTokenSource();
        var run = runtime.RunAsync(stop.Token);
        await WaitUntil(() => runtime.StoredPosition == "20");
        Assert.Equal(1, monitor.Get("src")!.Retries);
        await stop.CancelAsync();
        Assert.Equal(SourceOutcome.Stopped, await run);
        Assert.Equal("20", await fixture.Positions.LoadAsync("src", CancellationToken.None));
    }

    [Fact]
    public async Task A_fatal_error_is_an_outcome_with_its_message_and_what_was_acknowledged_before_it_is_stored()
    {
        await using var fixture = await Fixture.CreateAsync();
        var connector = new ScriptedConnector
        {
            Script = async (context, start, attempt, cancellationToken) =>
            {
                await fixture.WriteAsync(context, 1, 5, cancellationToken);
                throw new SourceException("table t: what went wrong; what to do", isTransient: false);
            },
        };
        var (runtime, monitor) = fixture.Runtime(connector);
        Assert.Equal(SourceOutcome.Failed, await runtime.RunAsync(CancellationToken.None));
        var status = monitor.Get("src")!;
        Assert.Equal(SourceState.Failed, status.State);
        Assert.Equal("table t: what went wrong; what to do", status.Message);
        Assert.Equal("5", await fixture.Positions.LoadAsync("src", CancellationToken.None));
        var health = await new SourceHealthCheck(monitor).CheckHealthAsync(new Microsoft.Extensions.Diagnostics.HealthChecks.HealthCheckContext());
        Assert.Equal(Microsoft.Extensions.Diagnostics.HealthChecks.HealthStatus.Unhealthy, health.Status);
    }

    [Fact]
    public async Task A_stopped_source_still_reports_every_record_it_produced()
    {
        await using var fixture = await Fixture.CreateAsync();
        var connector = fixture.WriteThenIdle(1, 10);
        var (runtime, monitor) = fixture.Runtime(connector);
        using var stop = new CancellationTokenSource();
        var run = runtime.RunAsync(stop.Token);
        await WaitUntil(() => runtime.StoredPosition == "10");
        await stop.CancelAsync();
        Assert.Equal(SourceOutcome.Stopped, await run);
        Assert.Equal(10, runtime.Produced);
        Assert.Equal(10, monitor.Get("src")!.Produced);
    }

    [Fact]
    public async Task A_stop_while_Kafka_is_away_stores_only_what_was_acknowledged_and_a_restart_resumes_there()
    {
        await using var fixture = await Fixture.CreateAsync();
        string? stored = null;
        var connector = new ScriptedConnector
        {
            Script = async (context, start, attempt, cancellationToken) =>
            {
                await fixture.WriteAsync(context, 1, 3, cancellationToken);
                await WaitUntil(() => stored == "3");
                fixture.Kafka.EmbeddedCluster!.SetBrokerDown(1);
                await fixture.WriteAsync(context, 4, 6, cancellationToken);
                await Task.Delay(Timeout.Infinite, cancellationToken);
            },
        };
        var (runtime, _) = fixture.Runtime(connector, o => o.ShutdownTimeout = TimeSpan.FromSeconds(1));
        using var stop = new CancellationTokenSource();
        var run = runtime.RunAsync(stop.Token);
        await WaitUntil(() => (stored = runtime.StoredPosition) == "3");
        await Task.Delay(1000);
        await stop.CancelAsync();
        Assert.Equal(SourceOutcome.Stopped, await run);
        fixture.Kafka.EmbeddedCluster!.SetBrokerUp(1);
        Assert.Equal("3", await fixture.Positions.LoadAsync("src", CancellationToken.None));
    }

    [Fact]
    public async Task A_source_whose_records_Kafka_does_not_acknowledge_is_reported_stalled_then_running_again()
    {
        await using var fixture = await Fixture.CreateAsync();
        var connector = new ScriptedConnector
        {
            Script = async (context, start, attempt, cancellationToken) =>
            {
                await fixture.WriteAsync(context, 1, 1, cancellationToken);
                await WaitUntil(() => context.InFlight == 0);
                fixture.Kafka.EmbeddedCluster!.SetBrokerDown(1);
                await fixture.WriteAsync(context, 2, 2, cancellationToken);
                while (true)
                {
                    context.ReportAlive();
                    await Task.Delay(100, cancellationToken);
                }
            },
        };
        var (runtime, monitor) = fixture.Runtime(connector, o =>
        {
            o.HeartbeatInterval = TimeSpan.FromMilliseconds(100);
            o.StallTimeout = TimeSpan.FromSeconds(1);
        });
        using var stop = new CancellationTokenSource();
        var run = runtime.RunAsync(stop.Token);
        await WaitUntil(() => monitor.Get("src")!.State == SourceState.Stalled);
        Assert.Contains("Kafka has acknowledged nothing", monitor.Get("src")!.Message, StringComparison.Ordinal);
        var health = await new SourceHealthCheck(monitor).CheckHealthAsync(new Microsoft.Extensions.Diagnostics.HealthChecks.HealthCheckContext());
        Assert.Equal(Microsoft.Extensions.Diagnostics.HealthChecks.HealthStatus.Degraded, health.Status);

        fixture.Kafka.EmbeddedCluster!.SetBrokerUp(1);
        await WaitUntil(() => monitor.Get("src")!.State == SourceState.Running);
        await stop.CancelAsync();
        Assert.Equal(SourceOutcome.Stopped, await run);
    }

    [Fact]
    public async Task A_stop_while_a_position_store_waits_for_an_absent_Kafka_ends_within_its_timeouts()
    {
        await using var fixture = await Fixture.CreateAsync();
        var connector = fixture.WriteThenIdle(1, 3);
        var (runtime, _) = fixture.Runtime(connector, o =>
        {
            o.PositionSaveInterval = TimeSpan.FromSeconds(2);
            o.ShutdownTimeout = TimeSpan.FromSeconds(1);
        });
        using var stop = new CancellationTokenSource();
        var run = runtime.RunAsync(stop.Token);
        await WaitUntil(() => runtime.StoredPosition is not null);
        // Kafka goes away while the keeper's next store (of "3") is due: that store waits for it.
        fixture.Kafka.EmbeddedCluster!.SetBrokerDown(1);
        await Task.Delay(2500);
        var clock = System.Diagnostics.Stopwatch.StartNew();
        await stop.CancelAsync();
        var finished = await Task.WhenAny(run, Task.Delay(TimeSpan.FromSeconds(20)));
        Assert.Same(run, finished);
        Assert.Equal(SourceOutcome.Stopped, await run);
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(15), $"the stop took {clock.Elapsed}");
        fixture.Kafka.EmbeddedCluster!.SetBrokerUp(1);
    }

    [Fact]
    public async Task A_delivery_Kafka_refuses_stops_the_source_even_while_its_log_is_idle()
    {
        await using var fixture = await Fixture.CreateAsync();
        SourceRuntime<string>? started = null;
        var connector = new ScriptedConnector
        {
            Script = async (context, start, attempt, cancellationToken) =>
            {
                await fixture.WriteAsync(context, 1, 1, cancellationToken);
                // The position store produces too: the pushed error must meet the data record, not the store of "1".
                await WaitUntil(() => context.InFlight == 0 && started?.StoredPosition == "1");
                fixture.Kafka.EmbeddedCluster!.PushRequestErrors(DataMesh.Kafka.KafkaApiKey.Produce, Confluent.Kafka.ErrorCode.TopicAuthorizationFailed);
                await fixture.WriteAsync(context, 2, 2, cancellationToken);
                await Task.Delay(Timeout.Infinite, cancellationToken); // an idle log: no further produce would report it
            },
        };
        var (runtime, monitor) = fixture.Runtime(connector);
        started = runtime;
        var run = runtime.RunAsync(CancellationToken.None);
        var finished = await Task.WhenAny(run, Task.Delay(TimeSpan.FromSeconds(30)));
        Assert.Same(run, finished);
        Assert.Equal(SourceOutcome.Failed, await run);
        Assert.Contains("Kafka refused a record for topic", monitor.Get("src")!.Message, StringComparison.Ordinal);
        Assert.Equal("1", await fixture.Positions.LoadAsync("src", CancellationToken.None));
    }

    [Fact]
    public async Task The_status_lists_each_registered_table_with_its_topic_and_schema_ids_and_a_schema_change_replaces_its_entry()
    {
        await using var fixture = await Fixture.CreateAsync();
        var keyless = new TableDescription("s", "log", [new("id", DataType.Of(DataTypeKind.Int32, "int"), false)], []);
        var wider = new TableDescription("s", "t", [new("id", DataType.Of(DataTypeKind.Int32, "int"), false), new("note", DataType.Of(DataTypeKind.String, "text"), true)], ["id"]);
        var alter = new TaskCompletionSource();
        var connector = new ScriptedConnector
        {
            Script = async (context, start, attempt, cancellationToken) =>
            {
                await fixture.WriteAsync(context, 1, 1, cancellationToken);
                var log = context.Table(new SourceTableInfo(keyless, "db", "s"));
                context.Insert(log, new IdRow(2), new Block());
                context.Checkpoint("2");
                await context.FlushAsync(cancellationToken);
                await alter.Task.WaitAsync(cancellationToken);

                // The table gains a column (ALTER TABLE ... ADD COLUMN): its next event registers the new schema.
                var t = context.Table(new SourceTableInfo(wider, "db", "s"));
                context.Insert(t, new IdThenNulls(3), new Block());
                context.Checkpoint("3");
                await context.FlushAsync(cancellationToken);
                await Task.Delay(Timeout.Infinite, cancellationToken);
            },
        };
        var (runtime, monitor) = fixture.Runtime(connector);
        using var stop = new CancellationTokenSource();
        var run = runtime.RunAsync(stop.Token);
        await WaitUntil(() => monitor.Get("src")!.Tables.Count == 2);

        var tables = monitor.Get("src")!.Tables;
        Assert.Same(tables, monitor.Get("src")!.Tables);
        Assert.Equal(["s.log", "s.t"], tables.Select(t => t.Table));
        var topic = tables[1].Topic;
        Assert.EndsWith(".src.s.t", topic, StringComparison.Ordinal);
        Assert.Equal((await fixture.Schemas.GetLatestAsync(topic + "-key"))!.Id, tables[1].KeySchemaId);
        var first = (await fixture.Schemas.GetLatestAsync(topic + "-value"))!;
        Assert.Equal(first.Id, tables[1].ValueSchemaId);
        Assert.Null(tables[0].KeySchemaId);
        Assert.Equal((await fixture.Schemas.GetLatestAsync(tables[0].Topic + "-value"))!.Id, tables[0].ValueSchemaId);

        alter.SetResult();
        await WaitUntil(() => monitor.Get("src")!.Tables[1].ValueSchemaId != first.Id);
        var changed = monitor.Get("src")!.Tables;
        Assert.Equal(["s.log", "s.t"], changed.Select(t => t.Table));
        var second = (await fixture.Schemas.GetLatestAsync(topic + "-value"))!;
        Assert.Equal((2, second.Id), (second.Version, changed[1].ValueSchemaId));
        Assert.Equal(tables[1].KeySchemaId, changed[1].KeySchemaId);
        Assert.Equal(tables[0], changed[0]);

        await stop.CancelAsync();
        Assert.Equal(SourceOutcome.Stopped, await run);
        Assert.Equal(changed, monitor.Get("src")!.Tables);
    }

    private static async Task WaitUntil(Func<bool> condition)
    {
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (!condition())
        {
            Assert.True(DateTime.UtcNow < deadline, "timed out");
            await Task.Delay(20);
        }
    }

    private sealed class Fixture : IAsyncDisposable
    {
        private static readonly TableDescription Table = new("s", "t", [new("id", DataType.Of(DataTypeKind.Int32, "int"), false)], ["id"]);

        private Fixture(KafkaConnection kafka, KafkaSchemaStore schemas)
        {
            Kafka = kafka;
            Schemas = schemas;
            Positions = new PositionStore(kafka, "positions-" + Guid.NewGuid().ToString("N"));
        }

        public KafkaConnection Kafka { get; }

        public KafkaSchemaStore Schemas { get; }

        public PositionStore Positions { get; }

        public static async Task<Fixture> CreateAsync()
        {
            var kafka = new KafkaConnection(new KafkaOptions { RequestTimeout = TimeSpan.FromSeconds(5) });
            var schemas = await KafkaSchemaStore.CreateAsync(new KafkaSchemaStoreOptions { EmbeddedCluster = kafka.EmbeddedCluster, Topic = "schemas-" + Guid.NewGuid().ToString("N") });
            return new Fixture(kafka, schemas);
        }

        public (SourceRuntime<string> Runtime, SourceMonitor Monitor) Runtime(ScriptedConnector connector, Action<TestOptions>? configure = null)
        {
            var options = new TestOptions { PositionSaveInterval = TimeSpan.FromMilliseconds(50), RetryDelay = TimeSpan.FromMilliseconds(50), MaxRetryDelay = TimeSpan.FromMilliseconds(100) };
            configure?.Invoke(options);
            var monitor = new SourceMonitor();
            return (new SourceRuntime<string>("src", connector, options, new ChangeEventOptions { TopicPrefix = "rt" + Guid.NewGuid().ToString("N")[..8] }, Kafka, Schemas, Positions, monitor, NullLogger.Instance), monitor);
        }

        /// <summary>Inserts ids <paramref name="from"/>..<paramref name="to"/>, a transaction each, checkpointed by the id.</summary>
        /// <summary>A connector that writes rows <paramref name="from"/> to <paramref name="to"/>, then idles until stopped.</summary>
        public ScriptedConnector WriteThenIdle(int from, int to) => new()
        {
            Script = async (context, start, attempt, cancellationToken) =>
            {
                await WriteAsync(context, from, to, cancellationToken);
                await Task.Delay(Timeout.Infinite, cancellationToken);
            },
        };

        public async Task WriteAsync(SourceContext<string> context, int from, int to, CancellationToken cancellationToken)
        {
            var table = context.Table(new SourceTableInfo(Table, "db", "s"));
            for (var id = from; id <= to; id++)
            {
                context.Insert(table, new IdRow(id), new Block());
                context.Checkpoint(id.ToString(System.Globalization.CultureInfo.InvariantCulture));
                await context.FlushAsync(cancellationToken);
            }
        }

        public async ValueTask DisposeAsync()
        {
            Positions.Dispose();
            await Schemas.DisposeAsync();
            Kafka.Dispose();
        }
    }

    private sealed class TestOptions : SourceOptions;

    internal sealed class ScriptedConnector : SourceConnector<string>
    {
        private int _attempt;

        public required Func<SourceContext<string>, string?, int, CancellationToken, Task> Script { get; init; }

        public override string Kind => "test";

        public override IReadOnlyList<SourceField> PositionFields { get; } = [];

        public override Task RunAsync(SourceContext<string> context, string? start, CancellationToken cancellationToken) =>
            Script(context, start, ++_attempt, cancellationToken);

        public override string FormatPosition(string position) => position;

        public override string ParsePosition(string text) => text;
    }

    internal readonly struct IdRow(int id) : IRowImage
    {
        public ColumnValueState State(int column) => ColumnValueState.Value;

        public void WriteValue(ref AvroWriter writer, int column) => writer.WriteInt(id);
    }

    /// <summary>A row whose first column is an int and whose other columns are NULL.</summary>
    internal readonly struct IdThenNulls(int id) : IRowImage
    {
        public ColumnValueState State(int column) => column == 0 ? ColumnValueState.Value : ColumnValueState.Null;

        public void WriteValue(ref AvroWriter writer, int column) => writer.WriteInt(id);
    }

    internal readonly struct Block : ISourceBlock
    {
        public long CommitTimestampMs => 1;

        public long? TransactionId => null;

        public void WritePositionFields(ref AvroWriter writer)
        {
        }
    }
}
