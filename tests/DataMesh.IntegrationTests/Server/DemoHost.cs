using Confluent.Kafka;
using DataMesh.Events;
using DataMesh.Hosting;
using DataMesh.IntegrationTests.Infrastructure;
using DataMesh.Sources;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using MySqlConnector;
using Npgsql;

namespace DataMesh.IntegrationTests.Server;

/// <summary>
/// The demo (samples/Quickstart) as a test host: its PostgreSQL source <c>shop</c> (tables orders and customers, the
/// customers snapshotted) and MariaDB source <c>warehouse</c> (table stock) with topic prefix <c>demo</c> into the
/// embedded Kafka cluster, the demo's statements written to both databases, and DataMesh's HTTP face
/// (<c>AddDataMeshServer()</c>, <c>MapDataMesh()</c>) on Kestrel at 127.0.0.1. Its own databases, slot and server id.
/// </summary>
internal sealed class DemoHost : IAsyncDisposable
{
    /// <summary>Rows of customers before the source starts (the demo has 200,000; the snapshot is the same code).</summary>
    public const int Customers = 300;

    /// <summary>Records of the demo's statements: orders 2 creates, 1 update, 1 delete and its tombstone, 2 creates; stock 2 creates, 1 update, 1 delete and its tombstone.</summary>
    public const int Expected = Customers + 7 + 5;

    private readonly PostgresServer _postgres;
    private readonly TemporaryPostgresDatabase _shop;
    private readonly TemporaryMariaDbDatabase _warehouse;
    private readonly string _slot = UniqueName.Create("demo");
    private WebApplication? _app;

    private DemoHost(PostgresServer postgres, TemporaryPostgresDatabase shop, TemporaryMariaDbDatabase warehouse)
    {
        _postgres = postgres;
        _shop = shop;
        _warehouse = warehouse;
    }

    /// <summary>What the host logged.</summary>
    public LogCollector Logs { get; } = new();

    /// <summary>The server's base URL, e.g. <c>http://127.0.0.1:41234</c>.</summary>
    public string Url { get; private set; } = string.Empty;

    public KafkaConnection Kafka => _app!.Services.GetRequiredService<KafkaConnection>();

    public DataMesh.Schemas.ISchemaStore Store => _app!.Services.GetRequiredService<DataMesh.Schemas.ISchemaStore>();

    /// <summary>The demo's three topics.</summary>
    public IReadOnlyList<string> Topics =>
    [
        TopicNames.ForTable("demo", "shop", "public", "orders"),
        TopicNames.ForTable("demo", "shop", "public", "customers"),
        TopicNames.ForTable("demo", "warehouse", _warehouse.Name, "stock"),
    ];

    public static async Task<DemoHost> CreateAsync(PostgresServer postgres, MariaDbServer mariaDb)
    {
        var shop = await postgres.CreateDatabaseAsync("demo");
        var warehouse = await mariaDb.CreateDatabaseAsync("demo");
        await PostgresAsync(shop.ConnectionString, $"""
            CREATE TABLE orders (
                id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                customer text NOT NULL,
                total numeric(10,2),
                status text NOT NULL DEFAULT 'placed',
                placed_at timestamptz NOT NULL DEFAULT now());
            ALTER TABLE orders REPLICA IDENTITY FULL;
            CREATE TABLE customers (id bigint PRIMARY KEY, name text NOT NULL, city text NOT NULL, since date NOT NULL);
            INSERT INTO customers
                SELECT n, 'customer ' || n, (ARRAY['Lisbon', 'Oslo', 'Quito', 'Hanoi'])[1 + n % 4], DATE '2020-01-01' + n % 1500
                FROM generate_series(1, {Customers}) n;
            ANALYZE customers;
            """);
        await MariaDbAsync(warehouse.ConnectionString, "CREATE TABLE stock (sku VARCHAR(20) PRIMARY KEY, name VARCHAR(100) CHARACTER SET utf8mb4 NOT NULL, qty INT UNSIGNED NOT NULL, price DECIMAL(10,2))");
        return new DemoHost(postgres, shop, warehouse);
    }

    /// <summary>Starts the host: the demo's sources, <paramref name="configure"/>'s changes to the server, then <c>MapDataMesh()</c>.</summary>
    public async Task StartAsync(Action<DataMeshServerOptions>? configure = null)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseKestrel().UseUrls("http://127.0.0.1:0");
        builder.Logging.ClearProviders();
        builder.Logging.AddProvider(Logs);
        builder.Logging.SetMinimumLevel(LogLevel.Debug);
        builder.Services.AddDataMesh(o => o.Events.TopicPrefix = "demo")
            .AddPostgresSource("shop", o =>
            {
                o.ConnectionString = _shop.ConnectionString;
                o.SlotName = _slot;
                o.IncludeTables.Add("public.orders");
                o.IncludeTables.Add("public.customers");
            })
            .AddMySqlSource("warehouse", o =>
            {
                o.ConnectionString = _warehouse.ConnectionString;
                o.IncludeTables.Add(_warehouse.Name + ".*");
                // Not the server id derived from the name: another test's source named warehouse would be disconnected.
                o.ServerId = (uint)Random.Shared.Next(1_000_000, int.MaxValue);
            });
        builder.Services.AddDataMeshServer(configure);
        _app = builder.Build();
        _app.MapDataMesh();
        // As the demo: orders in one compacted partition (its events in order), customers in 12 (the snapshot's records spread).
        await Kafka.EnsureTopicAsync(Topics[0], 1, TopicRetention.Compacted, CancellationToken.None);
        await Kafka.EnsureTopicAsync(Topics[1], 12, TopicRetention.Default, CancellationToken.None);
        await _app.StartAsync();
        Url = _app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.Single();
    }

    /// <summary>The demo's statements, each database's once its source streams and its snapshot is done.</summary>
    public async Task WriteDemoChangesAsync()
    {
        var monitor = _app!.Services.GetRequiredService<SourceMonitor>();
        await WaitAsync("PostgreSQL source 'shop' to stream and snapshot", async () =>
            await PostgresScalarAsync(_postgres.ConnectionString, $"SELECT count(*) FROM pg_replication_slots WHERE slot_name = '{_slot}' AND active AND confirmed_flush_lsn IS NOT NULL") > 0
            && monitor.Snapshots("shop") is { IsIdle: true });
        await PostgresAsync(_shop.ConnectionString, """
            INSERT INTO orders (customer, total) VALUES ('Ada Lovelace', 12.50), ('Grace Hopper', 99.95);
            UPDATE orders SET status = 'shipped', total = 14.00 WHERE customer = 'Ada Lovelace';
            DELETE FROM orders WHERE customer = 'Grace Hopper';
            INSERT INTO orders (customer, total, status) VALUES ('QA robot', 1.00, 'test'), ('Alan Turing', 42.00, 'placed');
            """);
        await WaitAsync("MariaDB source 'warehouse' to stream and snapshot", async () =>
            monitor.Get("warehouse") is { State: SourceState.Running } && monitor.Snapshots("warehouse") is { IsIdle: true }
            && await MariaDbScalarAsync(_warehouse.ConnectionString, "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE COMMAND LIKE 'Binlog Dump%'") > 0);
        foreach (var statement in new[]
        {
            "INSERT INTO stock VALUES ('PEN-1', 'Füller ✒', 120, 4.99), ('INK-7', 'Tinte', 40, NULL)",
            "UPDATE stock SET qty = qty - 20, price = 5.49 WHERE sku = 'PEN-1'",
            "DELETE FROM stock WHERE sku = 'INK-7'",
        })
        {
            await MariaDbAsync(_warehouse.ConnectionString, statement);
        }
    }

    /// <summary>Every record of the demo's topics, read from the beginning of every partition until <see cref="Expected"/> arrived.</summary>
    public Task<List<ConsumeResult<byte[]?, byte[]?>>> ReadAllAsync() => Task.Run(() =>
    {
        using var consumer = new ConsumerBuilder<byte[]?, byte[]?>(Kafka.CreateConsumerConfig(null)).Build();
        using var admin = new AdminClientBuilder(new AdminClientConfig { BootstrapServers = Kafka.BootstrapServers }).Build();
        var partitions = Topics
            .SelectMany(t => admin.GetMetadata(t, TimeSpan.FromSeconds(10)).Topics.Single().Partitions.Select(p => new TopicPartitionOffset(t, p.PartitionId, Offset.Beginning)))
            .ToList();
        consumer.Assign(partitions);
        var records = new List<ConsumeResult<byte[]?, byte[]?>>();
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (records.Count < Expected)
        {
            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"The demo's topics gave {records.Count} of {Expected} records within 60 s: {string.Join(", ", records.GroupBy(r => r.Topic).Select(g => $"{g.Key} {g.Count()}"))}.");
            }

            if (consumer.Consume(TimeSpan.FromMilliseconds(200)) is { IsPartitionEOF: false } result)
            {
                records.Add(result);
            }
        }

        return records;
    });

    public async ValueTask DisposeAsync()
    {
        if (_app is not null)
        {
            await _app.StopAsync();
            await _app.DisposeAsync();
        }

        NpgsqlConnection.ClearAllPools();
        await _postgres.DropReplicationSlotIfExistsAsync(_slot);
        await _shop.DisposeAsync();
        await _warehouse.DisposeAsync();
    }

    private static async Task WaitAsync(string what, Func<Task<bool>> done)
    {
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (!await done())
        {
            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"Waited 60 s for {what}.");
            }

            await Task.Delay(100);
        }
    }

    private static async Task PostgresAsync(string connectionString, string sql)
    {
        await using var connection = new NpgsqlConnection(connectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(sql, connection);
        await command.ExecuteNonQueryAsync();
    }

    private static async Task<long> PostgresScalarAsync(string connectionString, string sql)
    {
        await using var connection = new NpgsqlConnection(connectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(sql, connection);
        return Convert.ToInt64(await command.ExecuteScalarAsync(), System.Globalization.CultureInfo.InvariantCulture);
    }

    private static async Task MariaDbAsync(string connectionString, string sql)
    {
        await using var connection = new MySqlConnection(connectionString);
        await connection.OpenAsync();
        await using var command = new MySqlCommand(sql, connection);
        await command.ExecuteNonQueryAsync();
    }

    private static async Task<long> MariaDbScalarAsync(string connectionString, string sql)
    {
        await using var connection = new MySqlConnection(connectionString);
        await connection.OpenAsync();
        await using var command = new MySqlCommand(sql, connection);
        return Convert.ToInt64(await command.ExecuteScalarAsync(), System.Globalization.CultureInfo.InvariantCulture);
    }
}
