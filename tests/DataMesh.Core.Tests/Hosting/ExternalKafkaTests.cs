using System.Net;
using System.Net.Sockets;
using Confluent.Kafka;
using Confluent.Kafka.Admin;
using DataMesh.Events;
using DataMesh.Hosting;
using DataMesh.Kafka;
using DataMesh.Schemas;
using DataMesh.Sources;
using DataMesh.Tests.Sources;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Xunit;

namespace DataMesh.Tests.Hosting;

/// <summary>
/// DataMesh on a Kafka cluster given by bootstrap servers. "Does not answer" is played by a TCP port where nothing listens
/// and by a <see cref="TcpListener"/> that accepts and never speaks (a firewall that drops packets, a TLS listener spoken
/// to in plaintext, a host that is not Kafka); a cluster whose admin API does not answer by the embedded cluster reached
/// through its address (librdkafka's mock answers metadata, produce and fetch, and never answers CreateTopics), which is
/// also the "external" cluster that works once the topics exist and DataMesh:Kafka:CreateTopics is off.
/// </summary>
public sealed class ExternalKafkaTests
{
    private const string Password = "pa55-w0rd-never-shown";
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(2);

    public static TheoryData<string> Silences() => new() { "nothing listens", "a listener that never speaks" };

    [Theory]
    [MemberData(nameof(Silences))]
    public async Task Creating_a_topic_where_no_Kafka_answers_fails_naming_the_servers_and_what_to_set_and_no_secret(string silence)
    {
        using var server = new SilentServer(listen: silence != "nothing listens");
        using var kafka = new KafkaConnection(Options(server.Address));

        var watch = System.Diagnostics.Stopwatch.StartNew();
        var error = await Assert.ThrowsAsync<TimeoutException>(() => kafka.EnsureTopicAsync("orders", 3, TopicRetention.Compacted, CancellationToken.None));

        // Within about the request timeout that the message names (it waited it twice: 60 s for a message saying 30 s).
        Assert.True(watch.Elapsed < Timeout * 1.8, $"the error came after {watch.Elapsed.TotalSeconds:0.0} s, the request timeout is {Timeout.TotalSeconds} s");
        AssertSaysWhatToSet(error.Message, server.Address);
        Assert.Contains("creating topic 'orders'", error.Message, StringComparison.Ordinal);
        Assert.Contains("no broker answered a metadata request", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Creating_a_topic_on_a_cluster_whose_admin_API_does_not_answer_says_to_create_it_beforehand_and_turn_CreateTopics_off()
    {
        using var cluster = EmbeddedKafkaCluster.Start();
        using var kafka = new KafkaConnection(Options(cluster.BootstrapServers));

        var error = await Assert.ThrowsAsync<TimeoutException>(() => kafka.EnsureTopicAsync("orders", 3, TopicRetention.Compacted, CancellationToken.None));

        foreach (var expected in new[]
        {
            cluster.BootstrapServers, "the admin API", "CreateTopics", "answer metadata requests",
            "create topic 'orders' beforehand (3 partitions, cleanup.policy=compact)", "DataMesh:Kafka:CreateTopics=false",
        })
        {
            Assert.Contains(expected, error.Message, StringComparison.Ordinal);
        }

        Assert.DoesNotContain(Password, error.Message, StringComparison.Ordinal);
        Assert.True(SourceErrors.IsTransient(error));
    }

    [Fact]
    public void A_cluster_that_refuses_to_create_a_topic_stops_a_source_while_one_that_did_not_answer_is_retried()
    {
        var refused = new CreateTopicsException([new CreateTopicReport { Topic = "t", Error = new Error(ErrorCode.TopicAuthorizationFailed) }]);
        var unanswered = new CreateTopicsException([new CreateTopicReport { Topic = "t", Error = new Error(ErrorCode.RequestTimedOut) }]);

        Assert.False(SourceErrors.IsTransient(new InvalidOperationException("Kafka refused to create topic 't'", refused)));
        Assert.True(SourceErrors.IsTransient(unanswered));
    }

    [Theory]
    [MemberData(nameof(Silences))]
    public async Task The_schema_store_on_bootstrap_servers_where_no_Kafka_answers_fails_naming_them_and_what_to_set(string silence)
    {
        using var server = new SilentServer(listen: silence != "nothing listens");
        var options = new KafkaSchemaStoreOptions { BootstrapServers = server.Address, Timeout = Timeout };
        options.ClientSettings["sasl.password"] = Password;

        var error = await Assert.ThrowsAsync<TimeoutException>(() => KafkaSchemaStore.CreateAsync(options));

        Assert.Contains(server.Address, error.Message, StringComparison.Ordinal);
        Assert.Contains($"topic '{options.Topic}'", error.Message, StringComparison.Ordinal);
        Assert.Contains("DataMesh:Kafka:BootstrapServers", error.Message, StringComparison.Ordinal);
        Assert.DoesNotContain(Password, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_source_whose_Kafka_does_not_answer_at_start_retries_with_a_warning_that_says_what_to_set()
    {
        using var server = new SilentServer(listen: true);
        using var kafka = new KafkaConnection(Options(server.Address));
        using var positions = new PositionStore(kafka, "positions");
        await using var schemas = new DeferredSchemaStore(Microsoft.Extensions.Options.Options.Create(new DataMeshOptions()), kafka);
        var logs = new LogRecorder();
        var monitor = new SourceMonitor();
        var connector = new SourceRuntimeTests.ScriptedConnector { Script = (_, _, _, cancellationToken) => Task.Delay(System.Threading.Timeout.Infinite, cancellationToken) };
        var options = new TestOptions { RetryDelay = TimeSpan.FromMilliseconds(50), MaxRetryDelay = TimeSpan.FromMilliseconds(100) };
        var runtime = new SourceRuntime<string>("src", connector, options, new ChangeEventOptions(), kafka, schemas, positions, monitor, logs.CreateLogger("DataMesh.Sources.src"));
        using var stop = new CancellationTokenSource();

        var run = runtime.RunAsync(stop.Token);
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (logs.WithId(7002).Count() < 2)
        {
            Assert.False(run.IsCompleted, $"The source ended instead of retrying: {runtime.FatalError?.Message}");
            Assert.True(DateTime.UtcNow < deadline, "No retry was logged within 60 s.");
            await Task.Delay(20);
        }

        var warning = logs.WithId(7002).First();
        Assert.Equal(LogLevel.Warning, warning.Level);
        AssertSaysWhatToSet(warning.Message, server.Address);
        Assert.Equal(SourceState.Retrying, monitor.Get("src")!.State);
        AssertSaysWhatToSet(monitor.Get("src")!.Message!, server.Address);

        await stop.CancelAsync();
        Assert.Equal(SourceOutcome.Stopped, await run);
        Assert.DoesNotContain(logs.Entries, e => e.Message.Contains(Password, StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_host_on_an_external_cluster_with_its_topics_created_beforehand_and_CreateTopics_off_runs_a_source()
    {
        using var cluster = EmbeddedKafkaCluster.Start();
        var id = Guid.NewGuid().ToString("N")[..8];
        var (schemaTopic, prefix) = ("schemas-" + id, "ext" + id);
        var tableTopic = $"{prefix}.src.s.t";
        cluster.CreateTopic(schemaTopic, 1);
        cluster.CreateTopic(PositionStore.DefaultTopic, 1);
        cluster.CreateTopic(tableTopic, 1);

        var builder = Host.CreateApplicationBuilder();
        builder.Logging.ClearProviders();
        var connector = new SourceRuntimeTests.ScriptedConnector
        {
            Script = async (context, start, attempt, cancellationToken) =>
            {
                var table = context.Table(new SourceTableInfo(new TableDescription("s", "t", [new("id", DataType.Of(DataTypeKind.Int32, "int"), false)], ["id"]), "db", "s"));
                for (var row = 1; row <= 5; row++)
                {
                    context.Insert(table, new SourceRuntimeTests.IdRow(row), new SourceRuntimeTests.Block());
                    context.Checkpoint(row.ToString(System.Globalization.CultureInfo.InvariantCulture));
                    await context.FlushAsync(cancellationToken);
                }

                await Task.Delay(System.Threading.Timeout.Infinite, cancellationToken);
            },
        };
        builder.Services.AddDataMesh(o =>
            {
                o.Kafka.BootstrapServers = cluster.BootstrapServers;
                o.Kafka.CreateTopics = false;
                o.SchemaStore.Topic = schemaTopic;
                o.Events.TopicPrefix = prefix;
            })
            .AddSource<TestOptions, string>("src", null, (_, _, _) => connector);
        using var host = builder.Build();
        await host.StartAsync();

        var kafka = host.Services.GetRequiredService<KafkaConnection>();
        Assert.False(kafka.IsEmbedded);
        var positions = host.Services.GetRequiredService<PositionStore>();
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (await positions.LoadAsync("src", CancellationToken.None) != "5")
        {
            Assert.True(DateTime.UtcNow < deadline, $"The source stored no position 5 within 60 s: {host.Services.GetRequiredService<SourceMonitor>().Get("src")}");
            await Task.Delay(50);
        }

        await host.StopAsync();
        using var consumer = new ConsumerBuilder<Ignore, Ignore>(new ConsumerConfig { BootstrapServers = cluster.BootstrapServers, GroupId = "check" }).Build();
        Assert.Equal(5, consumer.QueryWatermarkOffsets(new TopicPartition(tableTopic, 0), TimeSpan.FromSeconds(10)).High.Value);
    }

    private static KafkaOptions Options(string bootstrapServers)
    {
        var options = new KafkaOptions { BootstrapServers = bootstrapServers, RequestTimeout = Timeout };
        options.Settings["sasl.mechanism"] = "PLAIN";
        options.Settings["sasl.username"] = "datamesh";
        options.Settings["sasl.password"] = Password;
        return options;
    }

    private static void AssertSaysWhatToSet(string message, string bootstrapServers)
    {
        foreach (var expected in new[]
        {
            bootstrapServers, "did not answer", "DataMesh:Kafka:BootstrapServers", "DataMesh:Kafka:Settings", "security.protocol",
            "sasl.mechanism=PLAIN", "sasl.password",
        })
        {
            Assert.Contains(expected, message, StringComparison.Ordinal);
        }

        Assert.DoesNotContain(Password, message, StringComparison.Ordinal);
    }

    private sealed class TestOptions : SourceOptions;

    /// <summary>A port where nothing listens, or a listener that accepts connections and never sends a byte.</summary>
    private sealed class SilentServer : IDisposable
    {
        private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
        private readonly List<Socket> _accepted = [];
        private readonly CancellationTokenSource _stop = new();

        public SilentServer(bool listen)
        {
            _listener.Start();
            Address = "127.0.0.1:" + ((IPEndPoint)_listener.LocalEndpoint).Port.ToString(System.Globalization.CultureInfo.InvariantCulture);
            if (!listen)
            {
                _listener.Stop();
                return;
            }

            _ = Task.Run(async () =>
            {
                while (!_stop.IsCancellationRequested)
                {
                    var socket = await _listener.AcceptSocketAsync(_stop.Token);
                    lock (_accepted)
                    {
                        _accepted.Add(socket);
                    }
                }
            });
        }

        public string Address { get; }

        public void Dispose()
        {
            _stop.Cancel();
            _listener.Stop();
            lock (_accepted)
            {
                _accepted.ForEach(s => s.Dispose());
            }

            _stop.Dispose();
        }
    }
}
