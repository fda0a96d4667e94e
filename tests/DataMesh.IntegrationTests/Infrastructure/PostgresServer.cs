using Npgsql;

namespace DataMesh.IntegrationTests.Infrastructure;

/// <summary>
/// The throwaway PostgreSQL 15 that <c>./build.sh test</c> starts (wal_level=logical, 64 replication slots, user
/// <c>datamesh</c> is a superuser with REPLICATION). Use it as a class fixture
/// (<c>IClassFixture&lt;PostgresServer&gt;</c>); without <c>DATAMESH_PG_CONNECTION</c> every test of the class fails.
/// Tests own their objects: <see cref="CreateDatabaseAsync"/>, <see cref="CreateTableAsync"/> and
/// <see cref="UniqueName"/> for slots and publications, dropped when the test ends.
/// </summary>
public sealed class PostgresServer
{
    private static readonly TimeSpan RestartTimeout = TimeSpan.FromSeconds(120);

    public PostgresServer()
    {
        ConnectionString = ServerEnvironment.Require(ServerEnvironment.PostgresConnection);
        var builder = new NpgsqlConnectionStringBuilder(ConnectionString);
        Database = builder.Database ?? throw new InvalidOperationException(
            $"{ServerEnvironment.PostgresConnection} names no Database");
    }

    /// <summary>Connection string of database <c>datamesh</c> as user <c>datamesh</c>.</summary>
    public string ConnectionString { get; }

    public string Database { get; }

    /// <summary>/usr/lib/postgresql/15/bin (pg_recvlogical, pg_waldump ...).</summary>
    public static string BinDirectory => ServerEnvironment.Require(ServerEnvironment.PostgresBin);

    public static string DataDirectory => ServerEnvironment.Require(ServerEnvironment.PostgresData);

    /// <summary>The connection string of another database of this server.</summary>
    public string ConnectionStringFor(string database) =>
        new NpgsqlConnectionStringBuilder(ConnectionString) { Database = database }.ConnectionString;

    public Task<NpgsqlConnection> OpenConnectionAsync(CancellationToken cancellationToken = default) =>
        OpenConnectionAsync(ConnectionString, cancellationToken);

    public static async Task<NpgsqlConnection> OpenConnectionAsync(
        string connectionString, CancellationToken cancellationToken = default)
    {
        var connection = new NpgsqlConnection(connectionString);
        try
        {
            await connection.OpenAsync(cancellationToken);
            return connection;
        }
        catch
        {
            await connection.DisposeAsync();
            throw;
        }
    }

    public async Task<T> ScalarAsync<T>(string sql, CancellationToken cancellationToken = default)
    {
        await using var connection = await OpenConnectionAsync(cancellationToken);
        return await ScalarAsync<T>(connection, sql, cancellationToken);
    }

    public static async Task<T> ScalarAsync<T>(
        NpgsqlConnection connection, string sql, CancellationToken cancellationToken = default)
    {
        await using var command = new NpgsqlCommand(sql, connection);
        var value = await command.ExecuteScalarAsync(cancellationToken);
        return value is T typed
            ? typed
            : throw new InvalidOperationException($"'{sql}' returned {value ?? "null"} ({value?.GetType().Name}), not a {typeof(T).Name}");
    }

    public async Task ExecuteAsync(string sql, CancellationToken cancellationToken = default)
    {
        await using var connection = await OpenConnectionAsync(cancellationToken);
        await using var command = new NpgsqlCommand(sql, connection);
        await command.ExecuteNonQueryAsync(cancellationToken);
    }

    /// <summary>A new database <c>prefix_&lt;guid&gt;</c> owned by <c>datamesh</c>; disposing drops it.</summary>
    public async Task<TemporaryPostgresDatabase> CreateDatabaseAsync(
        string prefix = "db", CancellationToken cancellationToken = default)
    {
        var name = UniqueName.Create(prefix);
        await ExecuteAsync($"CREATE DATABASE \"{name}\"", cancellationToken);
        return new TemporaryPostgresDatabase(this, name);
    }

    /// <summary>
    /// A new table <c>prefix_&lt;guid&gt;</c> with the given column list (e.g. <c>"id int PRIMARY KEY, name text"</c>)
    /// in database <c>datamesh</c>, or in the database of <paramref name="connectionString"/>; disposing drops it.
    /// </summary>
    public async Task<TemporaryPostgresTable> CreateTableAsync(
        string columns,
        string prefix = "t",
        string? connectionString = null,
        CancellationToken cancellationToken = default)
    {
        var name = UniqueName.Create(prefix);
        connectionString ??= ConnectionString;
        await using var connection = await OpenConnectionAsync(connectionString, cancellationToken);
        await using var command = new NpgsqlCommand($"CREATE TABLE \"{name}\" ({columns})", connection);
        await command.ExecuteNonQueryAsync(cancellationToken);
        return new TemporaryPostgresTable(connectionString, name);
    }

    /// <summary>Drops a replication slot if it exists, ending the connection that streams from it first.</summary>
    public async Task DropReplicationSlotIfExistsAsync(string slot, CancellationToken cancellationToken = default)
    {
        await using var connection = await OpenConnectionAsync(cancellationToken);
        await DropReplicationSlotsAsync(connection, "slot_name = @slot", ("slot", slot), cancellationToken);
    }

    internal static async Task DropReplicationSlotsAsync(
        NpgsqlConnection connection, string where, (string Name, object Value) parameter, CancellationToken cancellationToken)
    {
        // A slot in use cannot be dropped: end its walsender, then wait until the slot is released.
        await using var command = new NpgsqlCommand(
            $"""
            SELECT pg_terminate_backend(active_pid) FROM pg_replication_slots WHERE active AND {where};
            SELECT slot_name FROM pg_replication_slots WHERE {where};
            """,
            connection);
        command.Parameters.AddWithValue(parameter.Name, parameter.Value);
        var slots = new List<string>();
        await using (var reader = await command.ExecuteReaderAsync(cancellationToken))
        {
            await reader.NextResultAsync(cancellationToken);
            while (await reader.ReadAsync(cancellationToken))
            {
                slots.Add(reader.GetString(0));
            }
        }

        foreach (var slot in slots)
        {
            var deadline = DateTime.UtcNow.AddSeconds(30);
            while (true)
            {
                try
                {
                    await using var drop = new NpgsqlCommand("SELECT pg_drop_replication_slot(@slot)", connection);
                    drop.Parameters.AddWithValue("slot", slot);
                    await drop.ExecuteNonQueryAsync(cancellationToken);
                    break;
                }
                catch (PostgresException e) when (e.SqlState == PostgresErrorCodes.ObjectInUse && DateTime.UtcNow < deadline)
                {
                    await Task.Delay(100, cancellationToken);
                }
                catch (PostgresException e) when (e.SqlState == PostgresErrorCodes.UndefinedObject)
                {
                    break;
                }
            }
        }
    }

    /// <summary>
    /// Restarts the server cleanly (<c>scripts/pg-ctl.sh restart</c>, pg_ctl -m fast): open connections break,
    /// data and replication slots survive. Returns once a new connection succeeds.
    /// Run from a test in <see cref="ServerRestartCollection"/>.
    /// </summary>
    public Task RestartAsync(CancellationToken cancellationToken = default) =>
        ControlAsync("restart", cancellationToken);

    /// <summary>
    /// Stops the server as a crash would (immediate shutdown) and starts it: WAL recovery runs, committed
    /// transactions survive (synchronous_commit is on; fsync is off, so only an OS crash would lose them).
    /// </summary>
    public Task CrashRestartAsync(CancellationToken cancellationToken = default) =>
        ControlAsync("crash-restart", cancellationToken);

    private async Task ControlAsync(string action, CancellationToken cancellationToken)
    {
        var script = ServerEnvironment.Require(ServerEnvironment.PostgresControl);
        await ScriptRunner.RunAsync(script, [action], RestartTimeout, cancellationToken: cancellationToken);
        NpgsqlConnection.ClearAllPools();
        await WaitUntilAvailableAsync(cancellationToken);
    }

    private async Task WaitUntilAvailableAsync(CancellationToken cancellationToken)
    {
        var deadline = DateTime.UtcNow + RestartTimeout;
        while (true)
        {
            try
            {
                await ScalarAsync<int>("SELECT 1", cancellationToken);
                return;
            }
            catch (Exception e) when (e is NpgsqlException && DateTime.UtcNow < deadline)
            {
                NpgsqlConnection.ClearAllPools();
                await Task.Delay(100, cancellationToken);
            }
        }
    }
}

/// <summary>A database a test owns; disposing drops it with its replication slots.</summary>
public sealed class TemporaryPostgresDatabase : IAsyncDisposable
{
    private readonly PostgresServer _server;

    internal TemporaryPostgresDatabase(PostgresServer server, string name)
    {
        _server = server;
        Name = name;
        ConnectionString = server.ConnectionStringFor(name);
    }

    public string Name { get; }

    public string ConnectionString { get; }

    public Task<NpgsqlConnection> OpenConnectionAsync(CancellationToken cancellationToken = default) =>
        PostgresServer.OpenConnectionAsync(ConnectionString, cancellationToken);

    public async ValueTask DisposeAsync()
    {
        await using (var pooled = new NpgsqlConnection(ConnectionString))
        {
            NpgsqlConnection.ClearPool(pooled);
        }

        await using var connection = await _server.OpenConnectionAsync();
        await PostgresServer.DropReplicationSlotsAsync(connection, "database = @database", ("database", Name), default);
        await using var command = new NpgsqlCommand($"DROP DATABASE IF EXISTS \"{Name}\" WITH (FORCE)", connection);
        await command.ExecuteNonQueryAsync();
    }
}

/// <summary>A table a test owns; disposing drops it.</summary>
public sealed class TemporaryPostgresTable : IAsyncDisposable
{
    internal TemporaryPostgresTable(string connectionString, string name)
    {
        ConnectionString = connectionString;
        Name = name;
    }

    /// <summary>The table's name, unquoted (it needs no quotes).</summary>
    public string Name { get; }

    /// <summary>The connection string of the table's database.</summary>
    public string ConnectionString { get; }

    public async ValueTask DisposeAsync()
    {
        await using var connection = await PostgresServer.OpenConnectionAsync(ConnectionString);
        await using var command = new NpgsqlCommand($"DROP TABLE IF EXISTS \"{Name}\"", connection);
        await command.ExecuteNonQueryAsync();
    }
}
