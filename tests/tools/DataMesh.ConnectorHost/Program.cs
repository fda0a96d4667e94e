// Runs one source or pipeline against an existing Kafka cluster until killed (SIGKILL) or stopped (SIGTERM):
//   DataMesh.ConnectorHost source <postgres|mysql|cockroachdb> <bootstrap servers> <source name> [<option>=<value> ...]
//     (the options are the source's configuration keys, e.g. SlotName=s IncludeTables:0=public.kv, bound strictly:
//     a key the source's options do not have stops the host)
//   DataMesh.ConnectorHost pipeline <bootstrap servers> <pipeline name> <source topic> <sink connection string> <sink table>
//     (the customers pipeline of tests/DataMesh.IntegrationTests/Pipelines: filter, unwrap, mask, drop, into a PostgreSQL table)
// The topics (schemas, positions, history, the tables') must exist: the embedded test cluster cannot create topics
// for another process. With DATAMESH_HOST_MEMORY_REPORT_MS set, the host writes
// "memory managed=<bytes after a full GC> rss=<resident bytes>" to standard output at that interval.
// With DATAMESH_HOST_STATUS_MS set, it writes "status <source> <state>" for each source at that interval.
using System.Globalization;
using DataMesh;
using DataMesh.Connectors.Sinks;
using DataMesh.Hosting;
using DataMesh.Pipelines.Transforms;
using DataMesh.Sources;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

if (!(args is ["source", _, _, _, ..] || args is ["pipeline", _, _, _, _, _]))
{
    Console.Error.WriteLine("usage: DataMesh.ConnectorHost source <postgres|mysql|cockroachdb> <bootstrap servers> <source name> [<option>=<value> ...]");
    Console.Error.WriteLine("       DataMesh.ConnectorHost pipeline <bootstrap servers> <pipeline name> <source topic> <sink connection string> <sink table>");
    return 2;
}

var builder = Host.CreateApplicationBuilder();
builder.Logging.ClearProviders();
// DataMesh's own lines from Information (a failing test prints the last of them, each stamped with the time it arrived),
// one line each; the libraries' from Warning.
builder.Logging.AddSimpleConsole(o => o.SingleLine = true).SetMinimumLevel(LogLevel.Warning).AddFilter("DataMesh", LogLevel.Information);
var bootstrap = args[0] == "source" ? args[2] : args[1];
var dataMesh = builder.Services.AddDataMesh(o =>
{
    o.Kafka.BootstrapServers = bootstrap;
    o.Kafka.CreateTopics = false;
});
if (args[0] == "source")
{
    var settings = new Dictionary<string, string?>(StringComparer.Ordinal);
    foreach (var setting in args[4..])
    {
        var equals = setting.IndexOf('=', StringComparison.Ordinal);
        if (equals <= 0)
        {
            Console.Error.WriteLine($"'{setting}' is not <option>=<value>.");
            return 2;
        }

        settings[setting[..equals]] = setting[(equals + 1)..];
    }

    ConnectorHostSources.Add(dataMesh, args[1], args[3], settings);
}
else
{
    dataMesh.AddPipeline(p =>
    {
        p.Name = args[2];
        p.SourceTopics.Add(args[3]);
        p.CommitInterval = TimeSpan.FromMilliseconds(200);
        p.ConsumerSettings["session.timeout.ms"] = "6000";
        p.ConsumerSettings["heartbeat.interval.ms"] = "500";
        p.MaxBatchSize = 50;
        foreach (var transform in CustomersPipeline.Transforms())
        {
            p.Transforms.Add(transform);
        }

        p.Sink = new PostgresTableSink(new PostgresTableSinkOptions { ConnectionString = args[4], Table = args[5], SchemaEvolution = SchemaEvolution.CreateAndAddColumns });
    });
}

using var host = builder.Build();
using var stopReports = new CancellationTokenSource();
var reports = int.TryParse(Environment.GetEnvironmentVariable("DATAMESH_HOST_MEMORY_REPORT_MS"), CultureInfo.InvariantCulture, out var every) && every > 0
    ? ReportMemoryAsync(TimeSpan.FromMilliseconds(every), stopReports.Token)
    : Task.CompletedTask;
var statuses = int.TryParse(Environment.GetEnvironmentVariable("DATAMESH_HOST_STATUS_MS"), CultureInfo.InvariantCulture, out var statusEvery) && statusEvery > 0
    ? ReportStatusAsync(host.Services.GetRequiredService<SourceMonitor>(), TimeSpan.FromMilliseconds(statusEvery), stopReports.Token)
    : Task.CompletedTask;
await host.RunAsync();
await stopReports.CancelAsync();
await reports;
await statuses;
return Environment.ExitCode; // 1 when a source or pipeline stopped the host with a fatal error

static async Task ReportMemoryAsync(TimeSpan every, CancellationToken cancellationToken)
{
    try
    {
        while (true)
        {
            await Task.Delay(every, cancellationToken);
            var managed = GC.GetTotalMemory(forceFullCollection: true);
            Console.Out.WriteLine(string.Create(CultureInfo.InvariantCulture, $"memory managed={managed} rss={Environment.WorkingSet}"));
        }
    }
    catch (OperationCanceledException)
    {
    }
}

static async Task ReportStatusAsync(SourceMonitor monitor, TimeSpan every, CancellationToken cancellationToken)
{
    try
    {
        while (true)
        {
            await Task.Delay(every, cancellationToken);
            foreach (var source in monitor.Sources)
            {
                Console.Out.WriteLine($"status {source.Name} {source.State}");
            }
        }
    }
    catch (OperationCanceledException)
    {
    }
}

/// <summary>
/// Adds a source with options given as configuration keys (<c>SlotName</c>, <c>IncludeTables:0</c> ...), bound strictly:
/// the one place where the connector host, and the conformance suite's in-process hosts, register a source.
/// </summary>
public static class ConnectorHostSources
{
    /// <summary>The kinds of source: <c>postgres</c> (<c>AddPostgresSource</c>), <c>mysql</c> (<c>AddMySqlSource</c>),
    /// <c>cassandra</c> (<c>AddCassandraSource</c>), <c>cockroachdb</c> (<c>AddCockroachDbSource</c>).</summary>
    public static IReadOnlyList<string> Kinds { get; } = ["postgres", "mysql", "cassandra", "cockroachdb"];

    /// <summary>Adds source <paramref name="name"/> of <paramref name="kind"/>; a key its options do not have fails the host's start.</summary>
    public static DataMeshBuilder Add(DataMeshBuilder builder, string kind, string name, IReadOnlyDictionary<string, string?> settings)
    {
        ArgumentNullException.ThrowIfNull(builder);
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(settings).Build();
        static void Strict(BinderOptions o) => o.ErrorOnUnknownConfiguration = true;
        return kind switch
        {
            "postgres" => builder.AddPostgresSource(name, o => configuration.Bind(o, Strict)),
            "mysql" => builder.AddMySqlSource(name, o => configuration.Bind(o, Strict)),
            "cassandra" => builder.AddCassandraSource(name, o => configuration.Bind(o, Strict)),
            "cockroachdb" => builder.AddCockroachDbSource(name, o => configuration.Bind(o, Strict)),
            _ => throw new ArgumentException($"Unknown source kind '{kind}'; known: {string.Join(", ", Kinds)}.", nameof(kind)),
        };
    }
}

/// <summary>The pipeline the integration tests check: internal customers filtered out, the flat row, e-mail hashed, region dropped.</summary>
public static class CustomersPipeline
{
    /// <summary>The HMAC key of the e-mail mask (a test key; real keys come from secrets).</summary>
    public static readonly byte[] HashKey = "datamesh-test-key-0123456789"u8.ToArray();

    public static IEnumerable<Transform> Transforms() =>
    [
        Transform.Filter("region != 'internal'"),
        Transform.Unwrap(),
        Transform.Mask(new MaskOptions { Mode = MaskMode.Hash, HashKey = HashKey }, "email"),
        Transform.Drop("region"),
    ];
}
