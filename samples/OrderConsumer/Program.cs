using Confluent.Kafka;
using DataMesh.Schemas;
using OrderConsumer;

// Reads the order service's events back, decoded, from another process:
//   dotnet run --project samples/OrderConsumer -- <bootstrap servers> [topic ...]
// The bootstrap servers are printed by `dotnet run --project samples/OrderService -- --wait`.
if (args.Length == 0)
{
    Console.Error.WriteLine("usage: OrderConsumer <bootstrap servers> [topic ...]  (OrderService --wait prints the servers)");
    return 2;
}

var bootstrap = args[0];
string[] topics = args.Length > 1 ? args[1..] : ["dm.order-service.order-placed", "dm.order-service.order-shipped"];
using var stop = new CancellationTokenSource();
Console.CancelKeyPress += (_, e) =>
{
    e.Cancel = true;
    stop.Cancel();
};

// The schema store is a topic of the same cluster; it exists already (the producer created it), so it is not created here.
await using var schemas = await KafkaSchemaStore.CreateAsync(
    new KafkaSchemaStoreOptions { BootstrapServers = bootstrap, CreateTopic = false, Timeout = TimeSpan.FromSeconds(10) },
    cancellationToken: stop.Token);
var config = new ConsumerConfig
{
    BootstrapServers = bootstrap,
    GroupId = "order-consumer-" + Guid.NewGuid().ToString("N"),
    AutoOffsetReset = AutoOffsetReset.Earliest,
    EnableAutoCommit = false,
};
Console.WriteLine($"Reading {string.Join(", ", topics)} from {bootstrap}; Ctrl-C to stop.");
try
{
    await OrderEventReader.PrintAsync(config, schemas, topics, count: null, Console.Out, stop.Token);
}
catch (OperationCanceledException) when (stop.IsCancellationRequested)
{
    // Ctrl-C.
}

return 0;
