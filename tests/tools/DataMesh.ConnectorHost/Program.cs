// Runs one source against an existing Kafka cluster until killed:
//   DataMesh.ConnectorHost [pg] <bootstrap servers> <source name> <slot> <table pattern> <connection string>
//   DataMesh.ConnectorHost mysql <bootstrap servers> <source name> <database> <connection string>
//   DataMesh.ConnectorHost pipeline <bootstrap servers> <pipeline name> <source topic> <sink connection string> <sink table>
//     (the customers pipeline of tests/DataMesh.IntegrationTests/Pipelines: filter, unwrap, mask, drop, into a PostgreSQL table)
// The topics (schemas, positions, history, the tables') must exist: the embedded test cluster cannot create topics
// for another process.
using DataMesh;
using DataMesh.Connectors.Sinks;
using DataMesh.Hosting;
using DataMesh.Pipelines.Transforms;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

var kind = args.Length > 0 && args[0] is "pg" or "mysql" or "pipeline" ? args[0] : "pg";
var rest = args.Length > 0 && args[0] is "pg" or "mysql" or "pipeline" ? args[1..] : args;
if ((kind is "pg" or "pipeline" && rest.Length != 5) || (kind == "mysql" && rest.Length != 4))
{
    Console.Error.WriteLine("usage: DataMesh.ConnectorHost [pg] <bootstrap servers> <source name> <slot> <table pattern> <connection string>");
    Console.Error.WriteLine("       DataMesh.ConnectorHost mysql <bootstrap servers> <source name> <database> <connection string>");
    return 2;
}

var builder = Host.CreateApplicationBuilder();
builder.Logging.ClearProviders();
builder.Logging.AddSimpleConsole().SetMinimumLevel(LogLevel.Warning);
var dataMesh = builder.Services.AddDataMesh(o =>
{
    o.Kafka.BootstrapServers = rest[0];
    o.Kafka.CreateTopics = false;
});
if (kind == "pg")
{
    dataMesh.AddPostgresSource(rest[1], o =>
    {
        o.SlotName = rest[2];
        o.IncludeTables.Add(rest[3]);
        o.ConnectionString = rest[4];
        o.PositionSaveInterval = TimeSpan.FromMilliseconds(100);
        o.RetryDelay = TimeSpan.FromMilliseconds(200);
        o.MaxRetryDelay = TimeSpan.FromSeconds(2);
    });
}
else if (kind == "pipeline")
{
    dataMesh.AddPipeline(p =>
    {
        p.Name = rest[1];
        p.SourceTopics.Add(rest[2]);
        p.CommitInterval = TimeSpan.FromMilliseconds(200);
        p.ConsumerSettings["session.timeout.ms"] = "6000";
        p.ConsumerSettings["heartbeat.interval.ms"] = "500";
        p.MaxBatchSize = 50;
        foreach (var transform in CustomersPipeline.Transforms())
        {
            p.Transforms.Add(transform);
        }

        p.Sink = new PostgresTableSink(new PostgresTableSinkOptions { ConnectionString = rest[3], Table = rest[4], SchemaEvolution = SchemaEvolution.CreateAndAddColumns });
    });
}
else
{
    dataMesh.AddMySqlSource(rest[1], o =>
    {
        o.IncludeTables.Add(rest[2] + ".*");
        o.ConnectionString = rest[3];
        o.PositionSaveInterval = TimeSpan.FromMilliseconds(100);
        o.RetryDelay = TimeSpan.FromMilliseconds(200);
        o.MaxRetryDelay = TimeSpan.FromSeconds(2);
    });
}

using var host = builder.Build();
await host.RunAsync();
return 0;

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
