using MySqlConnector;

namespace DataMesh.IntegrationTests.Infrastructure;

/// <summary>
/// The throwaway MariaDB 10.11 that <c>./build.sh test</c> starts (ROW binlog with full row images and full row
/// metadata, GTID strict mode, server_id 1; user <c>datamesh</c> has every privilege, replication included). Use it
/// as a class fixture (<c>IClassFixture&lt;MariaDbServer&gt;</c>); without <c>DATAMESH_MARIADB_CONNECTION</c> every
/// test of the class fails. Tests own their objects: <see cref="CreateDatabaseAsync"/>,
/// <see cref="CreateTableAsync"/>, dropped when the test ends.
/// </summary>
public sealed class MariaDbServer
{
    private static readonly TimeSpan RestartTimeout = TimeSpan.FromSeconds(120);

    public MariaDbServer()
    {
        ConnectionString = ServerEnvironment.Require(ServerEnvironment.MariaDbConnection);
        var builder = new MySqlConnectionStringBuilder(ConnectionString);
        Host = builder.Server;
        Port = (int)builder.Port;
        User = builder.UserID;
        Password = builder.Password;
        Database = string.IsNullOrEmpty(builder.Database)
            ? throw new InvalidOperationException($"{ServerEnvironment.MariaDbConnection} names no Database")
            : builder.Database;
    }

    /// <summary>Connection string of database <c>datamesh</c> as user <c>datamesh</c>.</summary>
    public string ConnectionString { get; }

    public string Host { get; }

    public int Port { get; }

    public string User { get; }

    public string Password { get; }

    public string Database { get; }

    public static string DataDirectory => ServerEnvironment.Require(ServerEnvironment.MariaDbData);

    /// <summary>The folder of the binlog files (mariadb-bin.000001 ...) and their index.</summary>
    public static string BinlogDirectory => ServerEnvironment.Require(ServerEnvironment.MariaDbBinlogDirectory);

    /// <summary>The connection string of another database of this server.</summary>
    public string ConnectionStringFor(string database) =>
        new MySqlConnectionStringBuilder(ConnectionString) { Database = database }.ConnectionString;

    public Task<MySqlConnection> OpenConnectionAsync(CancellationToken cancellationToken = default) =>
        OpenConnectionAsync(ConnectionString, cancellationToken);

    public static async Task<MySqlConnection> OpenConnectionAsync(
        string connectionString, CancellationToken cancellationToken = default)
    {
        var connection = new MySqlConnection(connectionString);
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
        MySqlConnection connection, string sql, CancellationToken cancellationToken = default)
    {
        await using var command = new MySqlCommand(sql, connection);
        var value = await command.ExecuteScalarAsync(cancellationToken);
        return value is T typed
            ? typed
            : throw new InvalidOperationException($"'{sql}' returned {value ?? "null"} ({value?.GetType().Name}), not a {typeof(T).Name}");
    }

    public async Task ExecuteAsync(string sql, CancellationToken cancellationToken = default)
    {
        await using var connection = await OpenConnectionAsync(cancellationToken);
        await using var command = new MySqlCommand(sql, connection);
        await command.ExecuteNonQueryAsync(cancellationToken);
    }

    /// <summary>The current binlog file and position (<c>SHOW MASTER STATUS</c>).</summary>
    public async Task<(string File, long Position)> GetBinlogPositionAsync(CancellationToken cancellationToken = default)
    {
        await using var connection = await OpenConnectionAsync(cancellationToken);
        await using var command = new MySqlCommand("SHOW MASTER STATUS", connection);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        if (!await reader.ReadAsync(cancellationToken))
        {
            throw new InvalidOperationException("SHOW MASTER STATUS returned no row: is the binlog on?");
        }

        return (reader.GetString("File"), Convert.ToInt64(reader.GetValue(reader.GetOrdinal("Position")), System.Globalization.CultureInfo.InvariantCulture));
    }

    /// <summary>A new database <c>prefix_&lt;guid&gt;</c>; disposing drops it.</summary>
    public async Task<TemporaryMariaDbDatabase> CreateDatabaseAsync(
        string prefix = "db", CancellationToken cancellationToken = default)
    {
        var name = UniqueName.Create(prefix);
        await ExecuteAsync($"CREATE DATABASE `{name}`", cancellationToken);
        return new TemporaryMariaDbDatabase(this, name);
    }

    /// <summary>
    /// A new InnoDB table <c>prefix_&lt;guid&gt;</c> with the given column list (e.g. <c>"id INT PRIMARY KEY, name
    /// VARCHAR(100)"</c>) in database <c>datamesh</c>, or in <paramref name="database"/>; disposing drops it.
    /// </summary>
    public async Task<TemporaryMariaDbTable> CreateTableAsync(
        string columns,
        string prefix = "t",
        string? database = null,
        CancellationToken cancellationToken = default)
    {
        var name = UniqueName.Create(prefix);
        database ??= Database;
        await ExecuteAsync($"CREATE TABLE `{database}`.`{name}` ({columns}) ENGINE=InnoDB", cancellationToken);
        return new TemporaryMariaDbTable(this, database, name);
    }

    /// <summary>
    /// Restarts the server cleanly (<c>scripts/mariadb-ctl.sh restart</c>, SIGTERM then start): open connections
    /// break, the server opens a new binlog file and GTIDs continue. Returns once a new connection succeeds.
    /// Run from a test in <see cref="ServerRestartCollection"/>.
    /// </summary>
    public Task RestartAsync(CancellationToken cancellationToken = default) =>
        ControlAsync("restart", cancellationToken);

    /// <summary>Kills the server (SIGKILL) and starts it: InnoDB and binlog crash recovery run.</summary>
    public Task CrashRestartAsync(CancellationToken cancellationToken = default) =>
        ControlAsync("crash-restart", cancellationToken);

    private async Task ControlAsync(string action, CancellationToken cancellationToken)
    {
        var script = ServerEnvironment.Require(ServerEnvironment.MariaDbControl);
        await ScriptRunner.RunAsync(script, [action], RestartTimeout, cancellationToken: cancellationToken);
        await MySqlConnection.ClearAllPoolsAsync(cancellationToken);
        var deadline = DateTime.UtcNow + RestartTimeout;
        while (true)
        {
            try
            {
                await ScalarAsync<int>("SELECT 1", cancellationToken);
                return;
            }
            catch (MySqlException) when (DateTime.UtcNow < deadline)
            {
                await MySqlConnection.ClearAllPoolsAsync(cancellationToken);
                await Task.Delay(100, cancellationToken);
            }
        }
    }
}

/// <summary>A database a test owns; disposing drops it.</summary>
public sealed class TemporaryMariaDbDatabase : IAsyncDisposable
{
    private readonly MariaDbServer _server;

    internal TemporaryMariaDbDatabase(MariaDbServer server, string name)
    {
        _server = server;
        Name = name;
        ConnectionString = server.ConnectionStringFor(name);
    }

    public string Name { get; }

    public string ConnectionString { get; }

    public Task<MySqlConnection> OpenConnectionAsync(CancellationToken cancellationToken = default) =>
        MariaDbServer.OpenConnectionAsync(ConnectionString, cancellationToken);

    /// <summary>Runs statements (several may be separated by ';') on one connection to this database.</summary>
    public async Task ExecuteAsync(string sql, CancellationToken cancellationToken = default)
    {
        await using var connection = await OpenConnectionAsync(cancellationToken);
        await using var command = new MySqlCommand(sql, connection);
        await command.ExecuteNonQueryAsync(cancellationToken);
    }

    public async ValueTask DisposeAsync()
    {
        await using (var pooled = new MySqlConnection(ConnectionString))
        {
            MySqlConnection.ClearPool(pooled);
        }

        await _server.ExecuteAsync($"DROP DATABASE IF EXISTS `{Name}`");
    }
}

/// <summary>A table a test owns; disposing drops it.</summary>
public sealed class TemporaryMariaDbTable : IAsyncDisposable
{
    private readonly MariaDbServer _server;

    internal TemporaryMariaDbTable(MariaDbServer server, string database, string name)
    {
        _server = server;
        Database = database;
        Name = name;
    }

    public string Database { get; }

    /// <summary>The table's name, unquoted (it needs no quotes).</summary>
    public string Name { get; }

    /// <summary><c>`database`.`name`</c>, for SQL.</summary>
    public string QualifiedName => $"`{Database}`.`{Name}`";

    public async ValueTask DisposeAsync() => await _server.ExecuteAsync($"DROP TABLE IF EXISTS {QualifiedName}");
}
