// DataMesh quickstart: change data capture from PostgreSQL and MariaDB into Kafka, decoded back, a snapshot of the rows
// a table held before the source started, and a pipeline from the PostgreSQL topic (filter, unwrap, keep, mask) into a
// PostgreSQL table — the sources and the pipeline declared in quickstart.yaml, applied by the controller and run by the
// definition runner, as `datamesh run` does.
//
//   ./build.sh demo
//
// starts a throwaway PostgreSQL 15 and MariaDB 10.11 and runs this program with DATAMESH_PG_CONNECTION and
// DATAMESH_MARIADB_CONNECTION set. The program hosts a PostgreSQL source (logical replication, pgoutput) and a MariaDB
// source (binlog) on the embedded Kafka cluster. The PostgreSQL table customers holds 200,000 rows before the source
// starts: the source's initial snapshot reads them while it streams (DBLog: chunks in key order between watermarks, no
// locks; see docs/snapshots.md), and the program draws its progress from ISnapshotControl.Progress as a bar (in place
// on a terminal, a line a second when the output is redirected), then counts the records in the table's topic. Then it
// writes rows into a table of each database and prints the change events as a
// consumer reads them from the tables' topics, decoded by an independent decoder (Apache.Avro's generic reader) with
// the schemas fetched from the schema store by the id in each message. A pipeline reads the orders topic, drops test
// orders, flattens the envelope, keeps four columns, hashes the customer's name, and upserts the rows into the table
// orders_clean; the program prints the sink table until it equals that projection of the source table. Everything
// printed below happened.
using Avro.Generic;
using Avro.IO;
using Confluent.Kafka;
using System.Security.Cryptography;
using System.Text;
using DataMesh;
using DataMesh.Avro;
using DataMesh.Events;
using DataMesh.Hosting;
using DataMesh.Schemas;
using DataMesh.Sources;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using MySqlConnector;
using Npgsql;

var server = Environment.GetEnvironmentVariable("DATAMESH_PG_CONNECTION");
var mariaDb = Environment.GetEnvironmentVariable("DATAMESH_MARIADB_CONNECTION");
if (string.IsNullOrWhiteSpace(server) || string.IsNullOrWhiteSpace(mariaDb))
{
    Console.Error.WriteLine("DATAMESH_PG_CONNECTION and DATAMESH_MARIADB_CONNECTION must be set: run ./build.sh demo, which starts the servers and sets them.");
    return 2;
}

// A database of its own, so that the demo can run again and again.
const string Database = "datamesh_quickstart";
await ExecuteAsync(server, $"DROP DATABASE IF EXISTS {Database} WITH (FORCE)");
await ExecuteAsync(server, $"CREATE DATABASE {Database}");
var shop = new NpgsqlConnectionStringBuilder(server) { Database = Database }.ConnectionString;
await ExecuteAsync(shop, """
    CREATE TABLE orders (
        id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        customer text NOT NULL,
        total numeric(10,2),
        status text NOT NULL DEFAULT 'placed',
        placed_at timestamptz NOT NULL DEFAULT now());
    ALTER TABLE orders REPLICA IDENTITY FULL;
    """);
// Rows that are there before the source starts: its initial snapshot reads them. ANALYZE gives the table the statistics
// that the snapshot's estimated row count (and so the bar's percentage and time left) comes from.
const int Customers = 200_000;
const int CustomerPartitions = 12;
await ExecuteAsync(shop, $"""
    CREATE TABLE customers (id bigint PRIMARY KEY, name text NOT NULL, city text NOT NULL, since date NOT NULL);
    INSERT INTO customers
        SELECT n, 'customer ' || n, (ARRAY['Lisbon', 'Oslo', 'Quito', 'Hanoi'])[1 + n % 4], DATE '2020-01-01' + n % 1500
        FROM generate_series(1, {Customers}) n;
    ANALYZE customers;
    """);
await MySqlExecuteAsync(mariaDb, $"DROP DATABASE IF EXISTS {Database}");
await MySqlExecuteAsync(mariaDb, $"CREATE DATABASE {Database}");
var warehouse = new MySqlConnectionStringBuilder(mariaDb) { Database = Database }.ConnectionString;
await MySqlExecuteAsync(warehouse, "CREATE TABLE stock (sku VARCHAR(20) PRIMARY KEY, name VARCHAR(100) CHARACTER SET utf8mb4 NOT NULL, qty INT UNSIGNED NOT NULL, price DECIMAL(10,2))");

var ordersTopic = TopicNames.ForTable("demo", "shop", "public", "orders");
var customersTopic = TopicNames.ForTable("demo", "shop", "public", "customers");
var hashKey = "quickstart-demo-key-not-a-secret"u8.ToArray();
// On a terminal the snapshot's progress bar stays on the last line while the program and the console logger write above it.
var console = Console.IsOutputRedirected ? null : new StatusLine(Console.Out);
if (console is not null)
{
    Console.SetOut(console);
}

// The sources and the pipeline are declared in quickstart.yaml; its secrets are references to these variables.
Environment.SetEnvironmentVariable("QUICKSTART_SHOP", shop);
Environment.SetEnvironmentVariable("QUICKSTART_WAREHOUSE", warehouse);
Environment.SetEnvironmentVariable("QUICKSTART_MASK_KEY", Encoding.UTF8.GetString(hashKey));
var controllerOptions = new DataMeshControllerOptions { StateTopic = "quickstart.controller" };
controllerOptions.AddConnectorTypes();

var builder = Host.CreateApplicationBuilder(args);
builder.Logging.SetMinimumLevel(LogLevel.Warning);
builder.Logging.AddFilter("DataMesh", LogLevel.Information);
builder.Logging.AddFilter("DataMesh.Schemas", LogLevel.Warning);
builder.Services.AddDataMesh(o => o.Events.TopicPrefix = "demo")
    .AddDefinitionRunner(o =>
    {
        o.StateTopic = controllerOptions.StateTopic;
        o.AddConnectorTypes();
    });
using var host = builder.Build();
var kafka = host.Services.GetRequiredService<KafkaConnection>();

// The pipeline subscribes to the orders topic: create it first, so that the subscription finds it at once. The embedded
// cluster keeps at most 5 MB per partition: the customers topic gets enough partitions for the snapshot's records.
await kafka.EnsureTopicAsync(ordersTopic, 1, TopicRetention.Compacted, CancellationToken.None);
await kafka.EnsureTopicAsync(customersTopic, CustomerPartitions, TopicRetention.Default, CancellationToken.None);
await host.StartAsync();
var store = host.Services.GetRequiredService<ISchemaStore>();
using (var controller = new DataMeshController(kafka, store, controllerOptions))
{
    // What `datamesh apply` does: the plan, then the definition recorded for the runner, which starts what it declares.
    var definition = await File.ReadAllTextAsync(Path.Combine(AppContext.BaseDirectory, "quickstart.yaml"));
    Console.WriteLine("Applying quickstart.yaml:");
    Console.WriteLine((await controller.ApplyAsync(definition)).ToString());
}

Console.WriteLine($"Kafka: {(kafka.IsEmbedded ? "embedded cluster" : "cluster")} at {kafka.BootstrapServers}");

// A new slot captures what happens after it exists: wait until the source streams.
while (await ScalarAsync(shop, "SELECT count(*) FROM pg_replication_slots WHERE slot_name = 'datamesh_quickstart' AND active") == 0)
{
    await Task.Delay(100);
}

// The initial snapshot (Snapshot:Initial = WhenNoPosition, the default) runs while the source streams: show it, and wait
// for it, so that the rows written below arrive as live changes after it.
var monitor = host.Services.GetRequiredService<SourceMonitor>();
var snapshotted = await ShowSnapshotAsync(monitor.Snapshots("shop")!, "public.customers", customersTopic, Customers);

Console.WriteLine("PostgreSQL source 'shop' is streaming; writing rows:");
string[] statements =
[
    "INSERT INTO orders (customer, total) VALUES ('Ada Lovelace', 12.50), ('Grace Hopper', 99.95)",
    "UPDATE orders SET status = 'shipped', total = 14.00 WHERE customer = 'Ada Lovelace'",
    "DELETE FROM orders WHERE customer = 'Grace Hopper'",
    "INSERT INTO orders (customer, total, status) VALUES ('QA robot', 1.00, 'test'), ('Alan Turing', 42.00, 'placed')",
];
foreach (var statement in statements)
{
    Console.WriteLine($"  SQL> {statement}");
    await ExecuteAsync(shop, statement);
}

// 2 creates, 1 update, 1 delete and its tombstone, 2 creates
var pgReceived = await ShowTopicAsync(ordersTopic, 7);
var pipelineCaughtUp = await ShowSinkAsync();

// The MariaDB source starts at the binlog's current position: wait until it streams (a Binlog Dump thread is open) and
// its initial snapshot (of the empty table stock) is done.
while (await MySqlScalarAsync(mariaDb, "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE COMMAND LIKE 'Binlog Dump%'") == 0
    || monitor.Snapshots("warehouse") is not { IsIdle: true })
{
    await Task.Delay(100);
}

Console.WriteLine("MariaDB source 'warehouse' is streaming; writing rows:");
string[] mariaStatements =
[
    "INSERT INTO stock VALUES ('PEN-1', 'Füller ✒', 120, 4.99), ('INK-7', 'Tinte', 40, NULL)",
    "UPDATE stock SET qty = qty - 20, price = 5.49 WHERE sku = 'PEN-1'",
    "DELETE FROM stock WHERE sku = 'INK-7'",
];
foreach (var statement in mariaStatements)
{
    Console.WriteLine($"  SQL> {statement}");
    await MySqlExecuteAsync(warehouse, statement);
}

var mariaReceived = await ShowTopicAsync(TopicNames.ForTable("demo", "warehouse", Database, "stock"), 5);

await host.StopAsync();
NpgsqlConnection.ClearAllPools();
await ExecuteAsync(server, "SELECT pg_drop_replication_slot('datamesh_quickstart')");
await ExecuteAsync(server, $"DROP DATABASE IF EXISTS {Database} WITH (FORCE)");
await MySqlExecuteAsync(mariaDb, $"DROP DATABASE IF EXISTS {Database}");
var done = snapshotted && pgReceived == 7 && mariaReceived == 5 && pipelineCaughtUp;
Console.WriteLine(done
    ? "Quickstart done: every change of both databases arrived and decoded, and the pipeline's sink table equals its projection of the source."
    : $"Only {pgReceived} of 7 PostgreSQL and {mariaReceived} of 5 MariaDB records arrived within 60 s, or the sink table did not catch up (caught up: {pipelineCaughtUp}), or the snapshot did not read every row (read: {snapshotted}).");
return done ? 0 : 1;

// Draws the progress of a source's snapshot of one table (ISnapshotControl.Progress: rows done, the estimated rows, the
// rate, the time left) until the snapshot is idle, then counts the records in the table's topic: one per row.
async Task<bool> ShowSnapshotAsync(ISnapshotControl snapshots, string table, string topic, long rows)
{
    Console.WriteLine($"PostgreSQL source 'shop' is streaming and snapshots the {rows:N0} rows already in {table} (ISnapshotControl.Progress):");
    var started = DateTime.UtcNow;
    var nextLine = started;
    while (!snapshots.IsIdle && DateTime.UtcNow - started < TimeSpan.FromMinutes(5))
    {
        if (snapshots.Progress.FirstOrDefault(t => t.Table == table) is { } status)
        {
            var line = Bar(status.Table, status.Rows, status.EstimatedRows,
                $"{status.RowsPerSecond:N0} rows/s{(status.TimeLeft is { } left ? $", {Math.Ceiling(left.TotalSeconds):N0} s left" : "")}");
            if (console is not null)
            {
                console.Status = line;
            }
            else if (status.Rows > 0 && DateTime.UtcNow >= nextLine)
            {
                Console.WriteLine(line);
                nextLine = DateTime.UtcNow.AddSeconds(1);
            }
        }

        await Task.Delay(100);
    }

    // The table left Progress: its last chunk was emitted. Kafka acknowledges its records shortly after.
    var elapsed = DateTime.UtcNow - started;
    using var consumer = new ConsumerBuilder<byte[]?, byte[]?>(kafka.CreateConsumerConfig(groupId: "quickstart")).Build();
    var partitions = Enumerable.Range(0, CustomerPartitions).Select(p => new TopicPartition(topic, p)).ToList();
    List<WatermarkOffsets> marks;
    var deadline = DateTime.UtcNow.AddSeconds(30);
    while ((marks = partitions.Select(p => consumer.QueryWatermarkOffsets(p, TimeSpan.FromSeconds(5))).ToList()).Sum(m => m.High - m.Low) != rows
        && DateTime.UtcNow < deadline)
    {
        await Task.Delay(200);
    }

    var records = marks.Sum(m => m.High - m.Low);
    var complete = records == rows && marks.All(m => m.Low == 0);
    if (console is not null)
    {
        console.Status = null;
    }

    Console.WriteLine(Bar(table, records, rows, $"in {elapsed.TotalSeconds:N1} s, {records / elapsed.TotalSeconds:N0} rows/s"));
    Console.WriteLine(complete
        ? $"  topic {topic}: {records:N0} records in {partitions.Count} partitions, each from offset 0, for the table's {rows:N0} rows"
        : $"  topic {topic}: {records:N0} records for the table's {rows:N0} rows within 30 s of the snapshot's end (first offsets: {string.Join(", ", marks.Select(m => m.Low.Value))})");
    return complete;
}

// One line of the progress bar: the table, the bar and the percentage (when the database estimates the table's size),
// the rows done, and more.
static string Bar(string table, long done, long? estimated, string more)
{
    const int Width = 20;
    if (estimated is not > 0)
    {
        return $"  {table} [{new string('?', Width)}] {done:N0} rows, {more}";
    }

    var fraction = Math.Min(1, (double)done / estimated.Value);
    var filled = (int)(fraction * Width);
    return $"  {table} [{new string('#', filled)}{new string('.', Width - filled)}] {fraction * 100,3:F0}% {done:N0} of {estimated:N0} rows, {more}";
}

// Prints the pipeline's sink table until it equals the projection of the source table: test orders filtered out,
// four columns, customer as HMAC-SHA256 hex.
async Task<bool> ShowSinkAsync()
{
    Console.WriteLine("Pipeline 'orders-clean': orders topic -> filter(status != 'test') -> unwrap -> keep(id, customer, total, status) -> mask(customer, HMAC-SHA256) -> PostgreSQL table orders_clean");
    var expected = new List<string>();
    foreach (var row in await QueryAsync(shop, "SELECT id, customer, total, status FROM orders WHERE status <> 'test' ORDER BY id"))
    {
        expected.Add($"{row[0]} | {Convert.ToHexStringLower(HMACSHA256.HashData(hashKey, Encoding.UTF8.GetBytes((string)row[1]!)))} | {row[2]} | {row[3]}");
    }

    var deadline = DateTime.UtcNow.AddSeconds(60);
    var shown = -1;
    while (DateTime.UtcNow < deadline)
    {
        var actual = await ScalarAsync(shop, "SELECT count(*) FROM pg_tables WHERE tablename = 'orders_clean'") == 0
            ? []
            : (await QueryAsync(shop, "SELECT id, customer, total, status FROM orders_clean ORDER BY id")).Select(r => $"{r[0]} | {r[1]} | {r[2]} | {r[3]}").ToList();
        if (actual.Count != shown)
        {
            Console.WriteLine($"  sink table orders_clean: {actual.Count} rows");
            shown = actual.Count;
        }

        if (actual.SequenceEqual(expected))
        {
            Console.WriteLine($"  caught up: orders_clean equals the source's projection ({actual.Count} rows; the test order was filtered out, the deleted order removed):");
            actual.ForEach(r => Console.WriteLine($"    {r}"));
            return true;
        }

        await Task.Delay(200);
    }

    Console.WriteLine($"  orders_clean did not catch up within 60 s; expected:\n    {string.Join("\n    ", expected)}");
    return false;
}

async Task<int> ShowTopicAsync(string topic, int expected)
{
    Console.WriteLine($"Reading topic {topic}:");
    using var consumer = new ConsumerBuilder<byte[]?, byte[]?>(kafka.CreateConsumerConfig(groupId: "quickstart")).Build();
    consumer.Assign(new TopicPartitionOffset(topic, 0, Offset.Beginning));
    var received = 0;
    var deadline = DateTime.UtcNow.AddSeconds(60);
    while (received < expected && DateTime.UtcNow < deadline)
    {
        var result = consumer.Consume(TimeSpan.FromMilliseconds(250));
        if (result is null)
        {
            continue;
        }

        received++;
        var key = await DecodeAsync(result.Message.Key);
        if (result.Message.Value is null)
        {
            Console.WriteLine($"  offset {result.Offset.Value}: key {Show(key)} -> tombstone (compaction drops the row)");
            continue;
        }

        var envelope = (await DecodeAsync(result.Message.Value))!;
        var source = (GenericRecord)envelope["source"];
        var position = source.Schema.Fields.Any(f => f.Name == "lsn")
            ? $"lsn={new NpgsqlTypes.NpgsqlLogSequenceNumber((ulong)(long)source["lsn"])}"
            : string.Join(' ', source.Schema.Fields.Where(f => f.Name is "file" or "pos" or "gtid").Select(f => $"{f.Name}={source[f.Name]}"));
        Console.WriteLine($"  offset {result.Offset.Value}: op={envelope["op"]} key {Show(key)} txId={source["txId"]} {position}");
        Console.WriteLine($"      before: {Show(envelope["before"])}");
        Console.WriteLine($"      after:  {Show(envelope["after"])}");
    }

    return received;
}

async Task<GenericRecord?> DecodeAsync(byte[]? message)
{
    if (message is null)
    {
        return null;
    }

    ConfluentWireFormat.ReadHeader(message, out var schemaId, out _);
    var schema = await store.GetByIdAsync(schemaId);
    var reader = new GenericDatumReader<GenericRecord>(schema, schema);
    return reader.Read(null!, new BinaryDecoder(new MemoryStream(message, ConfluentWireFormat.HeaderLength, message.Length - ConfluentWireFormat.HeaderLength)));
}

static async Task<List<object?[]>> QueryAsync(string connectionString, string sql)
{
    await using var connection = new NpgsqlConnection(connectionString);
    await connection.OpenAsync();
    await using var command = new NpgsqlCommand(sql, connection);
    await using var reader = await command.ExecuteReaderAsync();
    var rows = new List<object?[]>();
    while (await reader.ReadAsync())
    {
        var row = new object?[reader.FieldCount];
        for (var i = 0; i < row.Length; i++)
        {
            row[i] = reader.IsDBNull(i) ? null : reader.GetValue(i);
        }

        rows.Add(row);
    }

    return rows;
}

static string Show(object? value) => value switch
{
    null => "null",
    GenericRecord record => "{" + string.Join(", ", record.Schema.Fields.Select(f => $"{AvroNames.OriginalName(f)}: {Show(record[f.Name])}")) + "}",
    Avro.AvroDecimal d => d.ToString(),
    DateTime dt => dt.ToString("yyyy-MM-dd HH:mm:ss'Z'", System.Globalization.CultureInfo.InvariantCulture),
    string s => $"\"{s}\"",
    _ => Convert.ToString(value, System.Globalization.CultureInfo.InvariantCulture) ?? string.Empty,
};

static async Task ExecuteAsync(string connectionString, string sql)
{
    await using var connection = new NpgsqlConnection(connectionString);
    await connection.OpenAsync();
    await using var command = new NpgsqlCommand(sql, connection);
    await command.ExecuteNonQueryAsync();
}

static async Task<long> ScalarAsync(string connectionString, string sql)
{
    await using var connection = new NpgsqlConnection(connectionString);
    await connection.OpenAsync();
    await using var command = new NpgsqlCommand(sql, connection);
    return (long)(await command.ExecuteScalarAsync())!;
}

static async Task MySqlExecuteAsync(string connectionString, string sql)
{
    await using var connection = new MySqlConnection(connectionString);
    await connection.OpenAsync();
    await using var command = new MySqlCommand(sql, connection);
    await command.ExecuteNonQueryAsync();
}

static async Task<long> MySqlScalarAsync(string connectionString, string sql)
{
    await using var connection = new MySqlConnection(connectionString);
    await connection.OpenAsync();
    await using var command = new MySqlCommand(sql, connection);
    return Convert.ToInt64(await command.ExecuteScalarAsync(), System.Globalization.CultureInfo.InvariantCulture);
}

/// <summary>The console on a terminal, with a status line (the progress bar) kept below everything written: each write
/// (the program's, the console logger's) clears the status line first and draws it again once a line is complete.</summary>
internal sealed class StatusLine(TextWriter terminal) : TextWriter
{
    private readonly Lock _gate = new();
    private string? _status;
    private bool _atLineStart = true;

    public override Encoding Encoding => terminal.Encoding;

    /// <summary>The status line drawn in place (null: none).</summary>
    public string? Status
    {
        set
        {
            lock (_gate)
            {
                // One line, never wrapped: a wrapped line would not be cleared by the next draw.
                if (value is not null && Console.WindowWidth is > 1 and var width && value.Length >= width)
                {
                    value = value[..(width - 1)];
                }

                if (value == _status)
                {
                    return;
                }

                if (_atLineStart)
                {
                    terminal.Write("\r\e[K" + value);
                    terminal.Flush();
                }

                _status = value;
            }
        }
    }

    public override void Write(char value) => Write(value.ToString());

    public override void Write(char[] buffer, int index, int count) => Write(new string(buffer, index, count));

    public override void WriteLine(string? value) => Write(value + NewLine);

    public override void Write(string? value)
    {
        if (string.IsNullOrEmpty(value))
        {
            return;
        }

        lock (_gate)
        {
            terminal.Write(_atLineStart && _status is not null ? "\r\e[K" + value : value);
            _atLineStart = value[^1] == '\n';
            if (_atLineStart && _status is not null)
            {
                terminal.Write(_status);
            }

            terminal.Flush();
        }
    }
}
