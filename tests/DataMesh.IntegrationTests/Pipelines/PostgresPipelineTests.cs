using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using DataMesh.Connectors.Sinks;
using DataMesh.IntegrationTests.Infrastructure;
using DataMesh.IntegrationTests.Postgres;
using DataMesh.Pipelines;
using DataMesh.Pipelines.Transforms;
using Npgsql;
using Xunit;

namespace DataMesh.IntegrationTests.Pipelines;

/// <summary>
/// End to end on real PostgreSQL: changes captured by the PostgreSQL source, through a pipeline (filter, unwrap, mask,
/// drop) into a PostgreSQL table sink; the sink table must equal the projection of the source table, exactly — also
/// with a column added mid-stream, and with the pipeline killed at random points.
/// </summary>
[Collection(ServerRestartCollection.Name)]
public sealed class PostgresPipelineTests(PostgresServer server) : IClassFixture<PostgresServer>
{
    private const string SourceTable = "CREATE TABLE customers (id int PRIMARY KEY, name text NOT NULL, email text, region text NOT NULL, balance numeric(12,2) NOT NULL);"
        + " ALTER TABLE customers REPLICA IDENTITY FULL";

    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(120);

    [Fact]
    public async Task The_sink_table_equals_the_projection_of_the_source_table_with_a_column_added_mid_stream()
    {
        await using var cdc = await PgCdc.CreateAsync(server, SourceTable);
        await using var sinkDatabase = await server.CreateDatabaseAsync("sink");
        var sinkConnection = server.ConnectionStringFor(sinkDatabase.Name);
        await cdc.StartAsync();

        var options = new PipelineOptions { Name = "customers-" + Guid.NewGuid().ToString("N")[..8], CommitInterval = TimeSpan.FromMilliseconds(200), MaxBatchSize = 100 };
        options.SourceTopics.Add(cdc.Topic("customers"));
        foreach (var transform in CustomersPipeline.Transforms())
        {
            options.Transforms.Add(transform);
        }

        await using var sink = new PostgresTableSink(new PostgresTableSinkOptions { ConnectionString = sinkConnection, Table = "customers_copy", SchemaEvolution = SchemaEvolution.CreateAndAddColumns });
        options.Sink = sink;
        using var stop = new CancellationTokenSource();
        var run = new KafkaPipeline(options, cdc.Kafka, cdc.Store).RunAsync(stop.Token);

        await WorkloadAsync(cdc.ConnectionString, operations: 1500, keys: 150, seed: 7, alterAt: 700);
        await WaitForConvergenceAsync(cdc.ConnectionString, sinkConnection, run);
        await stop.CancelAsync();
        await run;
    }

    [Fact]
    public async Task Killed_at_random_points_the_pipeline_still_converges()
    {
        await using var cdc = await PgCdc.CreateAsync(server, SourceTable);
        await using var sinkDatabase = await server.CreateDatabaseAsync("sink");
        var sinkConnection = server.ConnectionStringFor(sinkDatabase.Name);
        await cdc.StartAsync();
        var name = "killed-" + Guid.NewGuid().ToString("N")[..8];

        // Another process cannot create topics on the embedded cluster: the source topic and the dead-letter topic exist first.
        cdc.Kafka.EmbeddedCluster!.CreateTopic(cdc.Topic("customers"), 4);
        cdc.Kafka.EmbeddedCluster.CreateTopic(name + ".dlq", 1);
        var bootstrap = cdc.Kafka.BootstrapServers;
        var random = new Random(20261126);
        var process = ConnectorProcess.StartPipeline(bootstrap, name, cdc.Topic("customers"), sinkConnection, "customers_copy");
        try
        {
            // About 15 s of changes; six kills land while they flow.
            var workload = Task.Run(() => WorkloadAsync(cdc.ConnectionString, operations: 3000, keys: 200, seed: 11, alterAt: 1500, paceMs: 15));
            for (var kill = 0; kill < 6; kill++)
            {
                await Task.Delay(random.Next(500, 2500));
                process.Kill();
                process.Dispose();
                process = ConnectorProcess.StartPipeline(bootstrap, name, cdc.Topic("customers"), sinkConnection, "customers_copy");
            }

            await workload;
            await WaitForConvergenceAsync(cdc.ConnectionString, sinkConnection, null, () => ConnectorProcess.RecentLog);
        }
        finally
        {
            process.Kill();
            process.Dispose();
        }
    }

    [Fact]
    public async Task An_update_of_another_column_leaves_TOASTed_values_intact_in_the_sink_table()
    {
        // REPLICA IDENTITY DEFAULT: PostgreSQL does not send the unchanged TOASTed body and data of an update of the title.
        await using var cdc = await PgCdc.CreateAsync(server, "CREATE TABLE docs (id int PRIMARY KEY, title text NOT NULL, body text, data bytea)");
        await using var sinkDatabase = await server.CreateDatabaseAsync("sink");
        var sinkConnection = server.ConnectionStringFor(sinkDatabase.Name);
        await cdc.StartAsync();

        // The same topic into two tables: after Transform.Unwrap (flat rows) and as the envelopes themselves.
        using var stop = new CancellationTokenSource();
        var runs = new List<Task>();
        var sinks = new List<PostgresTableSink>();
        foreach (var (table, unwrap) in new[] { ("docs_flat", true), ("docs_envelope", false) })
        {
            var options = new PipelineOptions { Name = table + "-" + Guid.NewGuid().ToString("N")[..8], CommitInterval = TimeSpan.FromMilliseconds(200) };
            options.SourceTopics.Add(cdc.Topic("docs"));
            if (unwrap)
            {
                options.Transforms.Add(Transform.Unwrap());
            }

            var sink = new PostgresTableSink(new PostgresTableSinkOptions { ConnectionString = sinkConnection, Table = table, SchemaEvolution = SchemaEvolution.CreateTable });
            sinks.Add(sink);
            options.Sink = sink;
            runs.Add(new KafkaPipeline(options, cdc.Kafka, cdc.Store).RunAsync(stop.Token));
        }

        try
        {
            // 20 KB of random hex and 10 KB of random bytes per row: both stored out of line (TOASTed).
            await cdc.ExecuteAsync("""
                INSERT INTO docs SELECT i, 'title ' || i, (SELECT string_agg(md5(random()::text || i || g), '') FROM generate_series(1, 640) g),
                    (SELECT decode(string_agg(md5(random()::text || i || g), ''), 'hex') FROM generate_series(1, 640) g)
                FROM generate_series(1, 3) i;
                """);
            await cdc.ExecuteAsync("UPDATE docs SET title = 'changed ' || id WHERE id IN (1, 2)");
            Assert.Equal(3L, await cdc.ScalarAsync<long>("SELECT count(*) FROM docs WHERE length(body) = 20480 AND length(data) = 10240"));

            var expected = await DocsAsync(cdc.ConnectionString, "docs");
            Assert.Equal(3, expected.Count);
            foreach (var table in new[] { "docs_flat", "docs_envelope" })
            {
                var deadline = DateTime.UtcNow + Patience;
                List<string> actual = [];
                while (DateTime.UtcNow < deadline)
                {
                    Assert.False(runs.Any(r => r.IsCompleted), "a pipeline stopped on its own");
                    actual = await DocsAsync(sinkConnection, table);
                    if (actual.Count == 3 && actual.Count(r => r.Contains("|changed ", StringComparison.Ordinal)) == 2)
                    {
                        break;
                    }

                    await Task.Delay(200);
                }

                Assert.Equal(expected, actual);
            }
        }
        finally
        {
            await stop.CancelAsync();
            foreach (var run in runs)
            {
                await run;
            }

            foreach (var sink in sinks)
            {
                await sink.DisposeAsync();
            }
        }
    }

    /// <summary>id, title, an MD5 of the body and of the data (and their lengths), ordered by id; empty while the table is missing.</summary>
    private static async Task<List<string>> DocsAsync(string connectionString, string table)
    {
        var rows = new List<string>();
        await using var connection = new NpgsqlConnection(connectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(
            $"SELECT id || '|' || title || '|' || length(body) || ':' || md5(body) || '|' || length(data) || ':' || md5(data) FROM {table} ORDER BY id", connection);
        try
        {
            await using var reader = await command.ExecuteReaderAsync();
            while (await reader.ReadAsync())
            {
                rows.Add(reader.IsDBNull(0) ? "(a null column)" : reader.GetString(0));
            }
        }
        catch (PostgresException e) when (e.SqlState == PostgresErrorCodes.UndefinedTable)
        {
            // The sink has not created it yet.
        }

        return rows;
    }

    /// <summary>
    /// Random inserts, updates and deletes in transactions of 1 to 5 statements; region is set on insert and never
    /// changes. At <paramref name="alterAt"/> operations a column is added, and later updates fill it.
    /// </summary>
    private static async Task WorkloadAsync(string connectionString, int operations, int keys, int seed, int alterAt, int paceMs = 0)
    {
        var random = new Random(seed);
        string[] regions = ["eu", "us", "internal"];
        var live = new HashSet<int>();
        var altered = false;
        await using var connection = new NpgsqlConnection(connectionString);
        await connection.OpenAsync();
        var done = 0;
        while (done < operations)
        {
            if (!altered && done >= alterAt)
            {
                await using var alter = new NpgsqlCommand("ALTER TABLE customers ADD COLUMN note text", connection);
                await alter.ExecuteNonQueryAsync();
                altered = true;
            }

            await using var transaction = await connection.BeginTransactionAsync();
            for (var n = random.Next(1, 6); n > 0 && done < operations; n--, done++)
            {
                var id = random.Next(1, keys + 1);
                await using var command = new NpgsqlCommand { Connection = connection, Transaction = transaction };
                if (!live.Contains(id))
                {
                    command.CommandText = "INSERT INTO customers (id, name, email, region, balance) VALUES ($1, $2, $3, $4, $5)";
                    command.Parameters.Add(new() { Value = id });
                    command.Parameters.Add(new() { Value = $"Customer ü{id}-{done}" });
                    command.Parameters.Add(new() { Value = random.Next(5) == 0 ? DBNull.Value : $"c{id}.{done}@example.com" });
                    command.Parameters.Add(new() { Value = regions[random.Next(regions.Length)] });
                    command.Parameters.Add(new() { Value = Math.Round((decimal)random.NextDouble() * 100000m - 50000m, 2) });
                    live.Add(id);
                }
                else if (random.Next(4) == 0)
                {
                    command.CommandText = "DELETE FROM customers WHERE id = $1";
                    command.Parameters.Add(new() { Value = id });
                    live.Remove(id);
                }
                else
                {
                    command.CommandText = altered
                        ? "UPDATE customers SET balance = balance + $2, email = $3, note = $4 WHERE id = $1"
                        : "UPDATE customers SET balance = balance + $2, email = $3 WHERE id = $1";
                    command.Parameters.Add(new() { Value = id });
                    command.Parameters.Add(new() { Value = Math.Round((decimal)random.NextDouble() * 100m, 2) });
                    command.Parameters.Add(new() { Value = random.Next(5) == 0 ? DBNull.Value : $"u{id}.{done}@example.com" });
                    if (altered)
                    {
                        command.Parameters.Add(new() { Value = random.Next(3) == 0 ? DBNull.Value : $"note {done}" });
                    }
                }

                await command.ExecuteNonQueryAsync();
            }

            await transaction.CommitAsync();
            if (paceMs > 0)
            {
                await Task.Delay(paceMs);
            }
        }
    }

    /// <summary>Waits until the sink table holds exactly the expected projection of the source table.</summary>
    private static async Task WaitForConvergenceAsync(string sourceConnection, string sinkConnection, Task? run, Func<string>? log = null)
    {
        var expected = await ExpectedAsync(sourceConnection);
        var deadline = DateTime.UtcNow + Patience;
        List<string> actual = [];
        while (DateTime.UtcNow < deadline)
        {
            if (run is { IsCompleted: true })
            {
                await run;
                Assert.Fail("The pipeline stopped on its own.");
            }

            actual = await ActualAsync(sinkConnection);
            if (actual.SequenceEqual(expected))
            {
                return;
            }

            await Task.Delay(500);
        }

        var missing = expected.Except(actual).Take(5);
        var extra = actual.Except(expected).Take(5);
        Assert.Fail($"The sink table did not converge in {Patience}: {expected.Count} rows expected, {actual.Count} found; "
            + $"missing {string.Join(" | ", missing)}; unexpected {string.Join(" | ", extra)}\n{log?.Invoke()}");
    }

    /// <summary>The source rows a sink should hold: region not internal, e-mail as HMAC-SHA256 hex, region dropped.</summary>
    private static async Task<List<string>> ExpectedAsync(string connectionString)
    {
        var rows = new List<string>();
        await using var connection = new NpgsqlConnection(connectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand("SELECT id, name, email, balance, note FROM customers WHERE region <> 'internal' ORDER BY id", connection);
        await using var reader = await command.ExecuteReaderAsync();
        while (await reader.ReadAsync())
        {
            var email = reader.IsDBNull(2) ? null : Convert.ToHexStringLower(HMACSHA256.HashData(CustomersPipeline.HashKey, Encoding.UTF8.GetBytes(reader.GetString(2))));
            rows.Add(Row(reader.GetInt32(0), reader.GetString(1), email, reader.GetDecimal(3), reader.IsDBNull(4) ? null : reader.GetString(4)));
        }

        return rows;
    }

    private static async Task<List<string>> ActualAsync(string connectionString)
    {
        var rows = new List<string>();
        await using var connection = new NpgsqlConnection(connectionString);
        await connection.OpenAsync();
        if (!await TableExistsAsync(connection) || !await NoteExistsAsync(connection))
        {
            return rows;
        }

        await using var command = new NpgsqlCommand("SELECT id, name, email, balance, note FROM customers_copy ORDER BY id", connection);
        await using var reader = await command.ExecuteReaderAsync();
        while (await reader.ReadAsync())
        {
            rows.Add(Row(reader.GetInt32(0), reader.GetString(1), reader.IsDBNull(2) ? null : reader.GetString(2), reader.GetDecimal(3), reader.IsDBNull(4) ? null : reader.GetString(4)));
        }

        return rows;
    }

    private static async Task<bool> TableExistsAsync(NpgsqlConnection connection)
    {
        await using var command = new NpgsqlCommand("SELECT to_regclass('customers_copy') IS NOT NULL", connection);
        return (bool)(await command.ExecuteScalarAsync())!;
    }

    private static async Task<bool> NoteExistsAsync(NpgsqlConnection connection)
    {
        await using var command = new NpgsqlCommand("SELECT count(*) FROM information_schema.columns WHERE table_name = 'customers_copy' AND column_name = 'note'", connection);
        return (long)(await command.ExecuteScalarAsync())! == 1;
    }

    private static string Row(int id, string name, string? email, decimal balance, string? note) =>
        string.Create(CultureInfo.InvariantCulture, $"{id}|{name}|{email ?? "∅"}|{balance:0.00}|{note ?? "∅"}");
}
