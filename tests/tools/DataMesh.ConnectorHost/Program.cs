// Runs one PostgreSQL source against an existing Kafka cluster until killed:
//   DataMesh.ConnectorHost <bootstrap servers> <source name> <slot> <table pattern> <connection string>
// The topics (schemas, positions, the table's) must exist: the embedded test cluster cannot create topics for
// another process.
using DataMesh;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

if (args.Length != 5)
{
    Console.Error.WriteLine("usage: DataMesh.ConnectorHost <bootstrap servers> <source name> <slot> <table pattern> <connection string>");
    return 2;
}

var builder = Host.CreateApplicationBuilder();
builder.Logging.ClearProviders();
builder.Logging.AddSimpleConsole().SetMinimumLevel(LogLevel.Warning);
builder.Services.AddDataMesh(o =>
{
    o.Kafka.BootstrapServers = args[0];
    o.Kafka.CreateTopics = false;
}).AddPostgresSource(args[1], o =>
{
    o.SlotName = args[2];
    o.IncludeTables.Add(args[3]);
    o.ConnectionString = args[4];
    o.CommitInterval = TimeSpan.FromMilliseconds(100);
    o.RetryDelay = TimeSpan.FromMilliseconds(200);
    o.MaxRetryDelay = TimeSpan.FromSeconds(2);
});
using var host = builder.Build();
await host.RunAsync();
return 0;
