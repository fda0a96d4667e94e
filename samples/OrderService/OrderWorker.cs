using DataMesh.Hosting;
using DataMesh.Producer;
using DataMesh.Schemas;
using Microsoft.Extensions.Hosting;
using Npgsql;

namespace OrderService;

/// <summary>
/// The order service's work: emits events directly (EmitAsync, Emit with a callback) and, when PostgreSQL is available,
/// through the transactional outbox in the same transaction as the order row; then reads them back, decoded.
/// </summary>
internal sealed class OrderWorker(
    IEventEmitter events,
    KafkaConnection kafka,
    ISchemaStore schemas,
    IHostApplicationLifetime lifetime,
    DemoSettings settings,
    ProducerHealthCheck health,
    NpgsqlDataSource? database = null) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        Console.WriteLine($"Kafka: {(kafka.IsEmbedded ? "embedded cluster" : "cluster")} at {kafka.BootstrapServers}");
        var emitted = 0;

        // 1. Directly: completes when Kafka acknowledged the event.
        for (var i = 1; i <= 3; i++)
        {
            var order = new OrderPlaced(
                $"order-{i}",
                Guid.NewGuid(),
                19.90m * i,
                "EUR",
                [new OrderLine("book-42", i, 19.90m)],
                DateTimeOffset.UtcNow);
            await events.EmitAsync(order, stoppingToken);
            emitted++;
        }

        // 2. Fire and forget, with a delivery callback.
        var shipped = new TaskCompletionSource<EventDelivery>(TaskCreationOptions.RunContinuationsAsynchronously);
        events.Emit(new OrderShipped("order-1", Carrier.PostNl, "3SABCD1234", DateOnly.FromDateTime(DateTime.UtcNow)), d => shipped.TrySetResult(d));
        var delivery = await shipped.Task.WaitAsync(stoppingToken);
        Console.WriteLine($"OrderShipped {delivery.EventId}: {(delivery.Delivered ? $"partition {delivery.Partition}, offset {delivery.Offset}" : delivery.Error!.Message)}");
        emitted++;

        // 3. Through the outbox: the event leaves if, and only if, the order row commits.
        if (database is not null)
        {
            await using (var create = database.CreateCommand("CREATE TABLE IF NOT EXISTS demo_orders (id TEXT PRIMARY KEY, total NUMERIC(18, 2) NOT NULL)"))
            {
                await create.ExecuteNonQueryAsync(stoppingToken);
            }

            foreach (var (id, commit) in new[] { ($"order-{Guid.NewGuid():N}"[..14], true), ("order-never", false) })
            {
                await using var connection = await database.OpenConnectionAsync(stoppingToken);
                await using var transaction = await connection.BeginTransactionAsync(stoppingToken);
                await using (var insert = new NpgsqlCommand("INSERT INTO demo_orders (id, total) VALUES (@id, 42) ON CONFLICT (id) DO NOTHING", connection, transaction))
                {
                    insert.Parameters.AddWithValue("id", id);
                    await insert.ExecuteNonQueryAsync(stoppingToken);
                }

                var eventId = await events.EmitAsync(new OrderPlaced(id, Guid.NewGuid(), 42m, "EUR", [], DateTimeOffset.UtcNow), transaction, stoppingToken);
                if (commit)
                {
                    await transaction.CommitAsync(stoppingToken);
                    emitted++;
                    Console.WriteLine($"Outbox: {id} committed with event {eventId}; the relay publishes it.");
                }
                else
                {
                    await transaction.RollbackAsync(stoppingToken);
                    Console.WriteLine($"Outbox: {id} rolled back; its event {eventId} never leaves.");
                }
            }
        }
        else
        {
            Console.WriteLine("Outbox: skipped (set DATAMESH_PG_CONNECTION, e.g. from ./build.sh servers, to see it).");
        }

        // Read everything back, decoded with the schemas from the store: what any consumer sees.
        Console.WriteLine($"Reading the {emitted} events back:");
        var config = kafka.CreateConsumerConfig("order-service-demo-" + Guid.NewGuid().ToString("N"));
        await OrderConsumer.OrderEventReader.PrintAsync(config, schemas, ["dm.order-service.order-placed", "dm.order-service.order-shipped"], emitted, Console.Out, stoppingToken);

        var status = await health.CheckHealthAsync(new Microsoft.Extensions.Diagnostics.HealthChecks.HealthCheckContext(), stoppingToken);
        Console.WriteLine($"Producer health: {status.Status} ({status.Description})");
        if (!settings.Wait)
        {
            lifetime.StopApplication();
            return;
        }

        Console.WriteLine($"Waiting; from another shell: dotnet run --project samples/OrderConsumer -- {kafka.BootstrapServers}");
        Console.WriteLine("An order is placed every 2 seconds; Ctrl-C stops (queued events are flushed first).");
        for (var i = 100; !stoppingToken.IsCancellationRequested; i++)
        {
            await Task.Delay(TimeSpan.FromSeconds(2), stoppingToken);
            await events.EmitAsync(new OrderPlaced($"order-{i}", Guid.NewGuid(), i, "EUR", [], DateTimeOffset.UtcNow), stoppingToken);
        }
    }
}

internal sealed record DemoSettings(bool Wait);
