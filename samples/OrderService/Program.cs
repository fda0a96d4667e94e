using DataMesh;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Npgsql;
using OrderService;

// The order service: `dotnet run --project samples/OrderService` (embedded Kafka, in this process).
//   --wait   keep running after the demo, so that samples/OrderConsumer can read from another process.
// With DATAMESH_PG_CONNECTION set (./build.sh servers prints it), events also go through the transactional outbox.
var builder = Host.CreateApplicationBuilder(args);
builder.Logging.SetMinimumLevel(LogLevel.Warning);
builder.Logging.AddFilter("DataMesh", LogLevel.Information);
var postgres = Environment.GetEnvironmentVariable("DATAMESH_PG_CONNECTION");

builder.Services.AddDataMeshProducer(builder.Configuration.GetSection("DataMesh"), o =>
{
    o.Source = "order-service";
    o.AddEvent<OrderPlaced>().AddEvent<OrderShipped>();
    if (!string.IsNullOrEmpty(postgres))
    {
        o.Outbox.UseRelay(sp => sp.GetRequiredService<NpgsqlDataSource>());
    }
});
if (!string.IsNullOrEmpty(postgres))
{
    builder.Services.AddSingleton(_ => NpgsqlDataSource.Create(postgres));
}

builder.Services.AddSingleton(new DemoSettings(args.Contains("--wait")));
builder.Services.AddHostedService<OrderWorker>();
await builder.Build().RunAsync();
