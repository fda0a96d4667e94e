using System.Globalization;
using DataMesh.Connectors.MySql;
using DataMesh.Connectors.Postgres;
using DataMesh.Events;
using DataMesh.Hosting;
using DataMesh.Sources;
using Microsoft.Extensions.Logging;
using MySqlConnector;
using Npgsql;

namespace DataMesh.Benchmarks;

/// <summary>One database of the snapshot and latency suites: its <c>orders</c> table, its raw read, its source, its writers.</summary>
/// <typeparam name="TPosition">The source's position.</typeparam>
internal interface IBenchDatabase<TPosition> : IAsyncDisposable
    where TPosition : class
{
    /// <summary>The label of the result line (<c>pg</c>, <c>mysql</c>).</summary>
    string Label { get; }

    /// <summary>The topic of the table.</summary>
    string Topic { get; }

    /// <summary>Creates the database, the table with <paramref name="rows"/> rows and the writer's table.</summary>
    Task LoadAsync(int rows);

    /// <summary>Reads every row of the table raw; returns how many.</summary>
    Task<long> ReadRawAsync();

    /// <summary>The source (connector and options) of the table, with the product's defaults but for these.</summary>
    /// <param name="kafka">The cluster.</param>
    /// <param name="partitions">The table topic's partitions.</param>
    /// <param name="chunkSize">The snapshot's chunk size, or null for the default.</param>
    /// <param name="snapshot">Whether it snapshots the table on its first start (else it streams the log only).</param>
    /// <param name="logger">Its logger.</param>
    (SourceConnector<TPosition> Connector, SourceOptions Options) CreateSource(KafkaConnection kafka, int partitions, int? chunkSize, bool snapshot, ILogger logger);

    /// <summary>Cleans up after a run of the source (its replication slot).</summary>
    Task AfterSourceAsync();

    /// <summary>Inserts rows into the writer's table, one per transaction, until cancelled; returns how many.</summary>
    Task<long> WriteAsync(CancellationToken cancellationToken);

    /// <summary>A connection that inserts rows into <c>orders</c>.</summary>
    Task<IOrdersWriter> OpenOrdersWriterAsync();
}

/// <summary>Inserts rows into <c>orders</c>.</summary>
internal interface IOrdersWriter : IAsyncDisposable
{
    /// <summary>Inserts the orders <paramref name="firstId"/> to <paramref name="firstId"/> + <paramref name="count"/> - 1
    /// in one statement, committed on its own.</summary>
    Task InsertAsync(long firstId, int count);
}


/// <summary>The snapshot and latency suites' PostgreSQL: a database of its own with <c>orders</c> and the writer's table.</summary>
internal sealed class PgBenchDatabase : IBenchDatabase<PostgresPosition>
{
    private const string Slot = "snapbench";
    private const string Columns = "id, customer, status, amount, created, note";

    private readonly string _admin;
    private readonly string _database = "snapbench_" + Guid.NewGuid().ToString("N")[..8];
    private readonly string _connection;
    private bool _created;

    public PgBenchDatabase(string admin)
    {
        _admin = admin;
        _connection = new NpgsqlConnectionStringBuilder(admin) { Database = _database }.ConnectionString;
    }

    public string Label => "pg";

    public string Topic => TopicNames.ForTable("dm", "bench", "public", "orders");

    public async Task LoadAsync(int rows)
    {
        await ExecuteAsync(_admin, $"CREATE DATABASE {_database}");
        _created = true;
        await ExecuteAsync(_connection, "CREATE TABLE orders (id bigint NOT NULL, customer int NOT NULL, status text NOT NULL, amount numeric(12,2) NOT NULL, created timestamp(6) NOT NULL, note text)");
        await ExecuteAsync(_connection, $"""
            INSERT INTO orders SELECT g, g % 9973, (ARRAY['NEW', 'PAID', 'SHIPPED', 'DELIVERED'])[1 + g % 4], (g % 100000) / 100.0,
                   timestamp '2024-01-01' + g * interval '1 second' + (g % 1000000) * interval '1 microsecond',
                   CASE WHEN g % 2 = 0 THEN NULL ELSE 'order note ' || g END
            FROM generate_series(1, {rows}) g
            """);
        await ExecuteAsync(_connection, "ALTER TABLE orders ADD PRIMARY KEY (id)");
        await ExecuteAsync(_connection, "VACUUM (ANALYZE) orders");
        await ExecuteAsync(_connection, "CREATE TABLE writes (id bigserial PRIMARY KEY, customer int NOT NULL, status text NOT NULL, amount numeric(12,2) NOT NULL, created timestamp(6) NOT NULL, note text)");
    }

    public Task<long> ReadRawAsync() => Task.Run(() =>
    {
        using var connection = new NpgsqlConnection(_connection);
        connection.Open();
        using var export = connection.BeginBinaryExport($"COPY (SELECT {Columns} FROM orders) TO STDOUT (FORMAT binary)");
        long rows = 0;
        while (export.StartRow() is var columns and not -1)
        {
            for (var column = 0; column < columns; column++)
            {
                export.Skip(); // the values are skipped unread
            }

            rows++;
        }

        return rows;
    });

    public (SourceConnector<PostgresPosition> Connector, SourceOptions Options) CreateSource(KafkaConnection kafka, int partitions, int? chunkSize, bool snapshot, ILogger logger)
    {
        var options = new PostgresSourceOptions { ConnectionString = _connection, SlotName = Slot, TopicPartitions = partitions };
        options.IncludeTables.Add("public.orders");
        options.Snapshot.ChunkSize = chunkSize ?? options.Snapshot.ChunkSize;
        options.Snapshot.Initial = snapshot ? InitialSnapshot.WhenNoPosition : InitialSnapshot.None;

        return (new PostgresConnector("bench", options, logger), options);
    }

    public async Task AfterSourceAsync()
    {
        // The slot stays active for a moment after the connection closed.
        for (var attempt = 0; attempt < 100; attempt++)
        {
            try
            {
                await ExecuteAsync(_connection, $"SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = '{Slot}'");
                return;
            }
            catch (PostgresException ex) when (ex.SqlState == PostgresErrorCodes.ObjectInUse)
            {
                await Task.Delay(100);
            }
        }
    }

    public async Task<long> WriteAsync(CancellationToken cancellationToken)
    {
        await using var connection = new NpgsqlConnection(_connection);
        await connection.OpenAsync(CancellationToken.None);
        await using var command = new NpgsqlCommand("INSERT INTO writes (customer, status, amount, created, note) VALUES ($1, 'NEW', $2, now(), 'written while measured')", connection);
        var customer = command.Parameters.Add(new NpgsqlParameter<int> { Value = 0 });
        var amount = command.Parameters.Add(new NpgsqlParameter<decimal> { Value = 0m });
        await command.PrepareAsync(CancellationToken.None);
        return await WriteLoop.RunAsync(command, customer, amount, cancellationToken);
    }

    public async Task<IOrdersWriter> OpenOrdersWriterAsync()
    {
        var connection = new NpgsqlConnection(_connection);
        await connection.OpenAsync();
        var command = new NpgsqlCommand(
            "INSERT INTO orders SELECT g, g % 9973, 'NEW', (g % 100000) / 100.0, localtimestamp, 'latency' FROM generate_series($1::bigint, $2::bigint) g", connection);
        command.Parameters.Add(new NpgsqlParameter<long> { TypedValue = 0 });
        command.Parameters.Add(new NpgsqlParameter<long> { TypedValue = 0 });
        await command.PrepareAsync();
        return new PgOrdersWriter(connection, command);
    }

    public async ValueTask DisposeAsync()
    {
        if (_created)
        {
            await AfterSourceAsync();
            await ExecuteAsync(_admin, $"DROP DATABASE IF EXISTS {_database} WITH (FORCE)");
        }
    }

    private static async Task ExecuteAsync(string connectionString, string sql)
    {
        await using var connection = new NpgsqlConnection(connectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(sql, connection) { CommandTimeout = 1800 };
        await command.ExecuteNonQueryAsync();
    }
}

/// <summary>Inserts orders with one prepared statement.</summary>
internal sealed class PgOrdersWriter(NpgsqlConnection connection, NpgsqlCommand command) : IOrdersWriter
{
    public async Task InsertAsync(long firstId, int count)
    {
        ((NpgsqlParameter<long>)command.Parameters[0]).TypedValue = firstId;
        ((NpgsqlParameter<long>)command.Parameters[1]).TypedValue = firstId + count - 1;
        await command.ExecuteNonQueryAsync();
    }

    public async ValueTask DisposeAsync()
    {
        await command.DisposeAsync();
        await connection.DisposeAsync();
    }
}

/// <summary>The snapshot and latency suites' MariaDB: a database of its own with <c>orders</c> and the writer's table.</summary>
internal sealed class MySqlBenchDatabase(string admin) : IBenchDatabase<MySqlPosition>
{
    private const string Columns = "id, customer, status, amount, created, note";

    private readonly string _database = "snapbench_" + Guid.NewGuid().ToString("N")[..8];
    private bool _created;

    public string Label => "mysql";

    public string Topic => TopicNames.ForTable("dm", "bench", _database, "orders");

    public async Task LoadAsync(int rows)
    {
        await using var connection = new MySqlConnection(admin);
        await connection.OpenAsync();
        await ExecuteAsync(connection, $"CREATE DATABASE `{_database}`");
        _created = true;
        await ExecuteAsync(connection, $"CREATE TABLE `{_database}`.orders (id BIGINT NOT NULL, customer INT NOT NULL, status VARCHAR(20) NOT NULL, amount DECIMAL(12,2) NOT NULL, " +
            "created DATETIME(6) NOT NULL, note VARCHAR(100) NULL, PRIMARY KEY (id)) ENGINE=InnoDB DEFAULT CHARSET utf8mb4");
        await ExecuteAsync(connection, $"CREATE TABLE `{_database}`.writes (id BIGINT NOT NULL AUTO_INCREMENT, customer INT NOT NULL, status VARCHAR(20) NOT NULL, amount DECIMAL(12,2) NOT NULL, " +
            "created DATETIME(6) NOT NULL, note VARCHAR(100) NULL, PRIMARY KEY (id)) ENGINE=InnoDB DEFAULT CHARSET utf8mb4");
        try
        {
            // The load need not be in the binlog: the source starts after it.
            await ExecuteAsync(connection, "SET SESSION sql_log_bin = 0");
        }
        catch (MySqlException)
        {
            // Not allowed: the load goes to the binlog too, before the source's start.
        }

        const int Batch = 250_000;
        for (var start = 0; start < rows; start += Batch)
        {
            var count = Math.Min(Batch, rows - start);
            await ExecuteAsync(connection, $"INSERT INTO `{_database}`.orders SELECT seq, seq % 9973, ELT(1 + seq % 4, 'NEW', 'PAID', 'SHIPPED', 'DELIVERED'), (seq % 100000) / 100, " +
                "TIMESTAMP('2024-01-01') + INTERVAL seq SECOND + INTERVAL seq % 1000000 MICROSECOND, IF(seq % 2 = 0, NULL, CONCAT('order note ', seq)) " +
                $"FROM seq_{(start + 1).ToString(CultureInfo.InvariantCulture)}_to_{(start + count).ToString(CultureInfo.InvariantCulture)}");
        }

        await ExecuteAsync(connection, $"ANALYZE TABLE `{_database}`.orders");
    }

    public Task<long> ReadRawAsync() => Task.Run(() =>
    {
        using var connection = new MySqlConnection(admin);
        connection.Open();
        using var command = new MySqlCommand($"SELECT {Columns} FROM `{_database}`.orders", connection) { CommandTimeout = 0 };
        using var reader = command.ExecuteReader();
        long rows = 0;
        while (reader.Read())
        {
            rows++; // streamed (MySqlConnector never buffers a result set); the row's values are left unread
        }

        return rows;
    });

    public (SourceConnector<MySqlPosition> Connector, SourceOptions Options) CreateSource(KafkaConnection kafka, int partitions, int? chunkSize, bool snapshot, ILogger logger)
    {
        var options = new MySqlSourceOptions { ConnectionString = admin, TopicPartitions = partitions };
        options.IncludeTables.Add(_database + ".orders");
        options.Snapshot.ChunkSize = chunkSize ?? options.Snapshot.ChunkSize;
        options.Snapshot.Initial = snapshot ? InitialSnapshot.WhenNoPosition : InitialSnapshot.None;

        return (new MySqlBinlogConnector("bench", options, kafka, logger), options);
    }

    public Task AfterSourceAsync() => Task.CompletedTask;

    public async Task<long> WriteAsync(CancellationToken cancellationToken)
    {
        await using var connection = new MySqlConnection(admin);
        await connection.OpenAsync(CancellationToken.None);
        await using var command = new MySqlCommand($"INSERT INTO `{_database}`.writes (customer, status, amount, created, note) VALUES (@customer, 'NEW', @amount, NOW(6), 'written while measured')", connection);
        var customer = command.Parameters.AddWithValue("@customer", 0);
        var amount = command.Parameters.AddWithValue("@amount", 0m);
        await command.PrepareAsync(CancellationToken.None);
        return await WriteLoop.RunAsync(command, customer, amount, cancellationToken);
    }

    public async Task<IOrdersWriter> OpenOrdersWriterAsync()
    {
        var connection = new MySqlConnection(admin);
        await connection.OpenAsync();
        return new MySqlOrdersWriter(connection, _database);
    }

    public async ValueTask DisposeAsync()
    {
        if (_created)
        {
            await using var connection = new MySqlConnection(admin);
            await connection.OpenAsync();
            await ExecuteAsync(connection, $"DROP DATABASE IF EXISTS `{_database}`");
        }
    }

    private static async Task ExecuteAsync(MySqlConnection connection, string sql)
    {
        await using var command = new MySqlCommand(sql, connection) { CommandTimeout = 1800 };
        await command.ExecuteNonQueryAsync();
    }
}

/// <summary>Inserts orders with MariaDB's sequence engine (a statement per call: the range is in the table's name).</summary>
internal sealed class MySqlOrdersWriter(MySqlConnection connection, string database) : IOrdersWriter
{
    public async Task InsertAsync(long firstId, int count)
    {
        await using var command = new MySqlCommand(
            string.Create(CultureInfo.InvariantCulture, $"INSERT INTO `{database}`.orders SELECT seq, seq % 9973, 'NEW', (seq % 100000) / 100, NOW(6), 'latency' FROM seq_{firstId}_to_{firstId + count - 1}"),
            connection);
        await command.ExecuteNonQueryAsync();
    }

    public ValueTask DisposeAsync() => connection.DisposeAsync();
}

/// <summary>The writer's loop of both databases: single-row inserts with a prepared command until cancelled.</summary>
internal static class WriteLoop
{
    public static async Task<long> RunAsync(System.Data.Common.DbCommand command, System.Data.Common.DbParameter customer, System.Data.Common.DbParameter amount, CancellationToken cancellationToken)
    {
        long written = 0;
        while (!cancellationToken.IsCancellationRequested)
        {
            customer.Value = (int)(written % 9973);
            amount.Value = written % 100000 / 100m;
            await command.ExecuteNonQueryAsync(CancellationToken.None);
            written++;
        }

        return written;
    }
}
