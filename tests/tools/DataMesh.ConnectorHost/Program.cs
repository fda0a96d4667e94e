// Runs one source against an existing Kafka cluster until killed:
//   DataMesh.ConnectorHost [pg] <bootstrap servers> <source name> <slot> <table pattern> <connection string>
//   DataMesh.ConnectorHost mysql <bootstrap servers> <source name> <database> <connection string>
// The topics (schemas, positions, history, the tables') must exist: the embedded test cluster cannot create topics
// for another process.
using DataMesh;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

var kind = args.Length > 0 && args[0] is "pg" or "mysql" ? args[0] : "pg";
var rest = args.Length > 0 && args[0] is "pg" or "mysql" ? args[1..] : args;
if ((kind == "pg" && rest.Length != 5) || (kind == "mysql" && rest.Length != 4))
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
        o.CommitInterval = TimeSpan.FromMilliseconds(100);
        o.RetryDelay = TimeSpan.FromMilliseconds(200);
        o.MaxRetryDelay = TimeSpan.FromSeconds(2);
    });
}
else
{
    dataMesh.AddMySqlSource(rest[1], o =>
    {
        o.Databases.Add(rest[2]);
        o.ConnectionString = rest[3];
        o.PositionSaveInterval = TimeSpan.FromMilliseconds(100);
        o.ReconnectDelay = TimeSpan.FromMilliseconds(200);
        o.MaxReconnectDelay = TimeSpan.FromSeconds(2);
    });
}

using var host = builder.Build();
await host.RunAsync();
return 0;
