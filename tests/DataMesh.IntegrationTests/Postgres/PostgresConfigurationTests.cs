using System.Net;
using System.Net.Sockets;
using DataMesh.Connectors.Postgres;
using DataMesh.IntegrationTests.Infrastructure;
using DataMesh.Sources;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Npgsql;
using Xunit;

namespace DataMesh.IntegrationTests.Postgres;

/// <summary>Each bad configuration of the database or the source is refused with a message that says what to do.</summary>
public sealed class PostgresConfigurationTests(PostgresServer server) : IClassFixture<PostgresServer>
{
    [Fact]
    public async Task A_user_without_REPLICATION_is_told_the_ALTER_ROLE_to_run()
    {
        await using var cdc = await PgCdc.CreateAsync(server, "CREATE TABLE t (id int PRIMARY KEY)");
        var role = UniqueName.Create("norepl");
        await cdc.ExecuteAsync($"CREATE ROLE {role} LOGIN PASSWORD 'pw'; GRANT SELECT ON t TO {role}");
        try
        {
            var ex = await FailAsync(cdc, UserConnection(cdc, role));
            Assert.Contains($"user '{role}' lacks the REPLICATION attribute", ex.Message, StringComparison.Ordinal);
            Assert.Contains($"ALTER ROLE \"{role}\" WITH REPLICATION;", ex.Message, StringComparison.Ordinal);
        }
        finally
        {
            await cdc.ExecuteAsync($"DROP OWNED BY {role}; DROP ROLE {role}");
        }
    }

    [Fact]
    public async Task A_user_without_SELECT_is_told_the_GRANT_to_run()
    {
        await using var cdc = await PgCdc.CreateAsync(server, "CREATE TABLE secret (id int PRIMARY KEY)");
        var role = UniqueName.Create("nosel");
        await cdc.ExecuteAsync($"CREATE ROLE {role} LOGIN REPLICATION PASSWORD 'pw'");
        try
        {
            var ex = await FailAsync(cdc, UserConnection(cdc, role));
            Assert.Contains($"user '{role}' lacks SELECT on \"public\".\"secret\"", ex.Message, StringComparison.Ordinal);
            Assert.Contains($"GRANT SELECT ON \"public\".\"secret\" TO \"{role}\";", ex.Message, StringComparison.Ordinal);
        }
        finally
        {
            await cdc.ExecuteAsync($"DROP OWNED BY {role}; DROP ROLE {role}");
        }
    }

    [Fact]
    public async Task A_table_without_replica_identity_is_refused_with_the_fix()
    {
        await using var cdc = await PgCdc.CreateAsync(server, "CREATE TABLE nokey (a int, b text)");
        var ex = await FailAsync(cdc, cdc.ConnectionString);
        Assert.Contains("\"public\".\"nokey\" has no replica identity", ex.Message, StringComparison.Ordinal);
        Assert.Contains("ALTER TABLE \"public\".\"nokey\" REPLICA IDENTITY FULL;", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Patterns_that_match_no_table_are_refused_naming_them()
    {
        await using var cdc = await PgCdc.CreateAsync(server, "CREATE TABLE t (id int PRIMARY KEY)");
        var ex = await FailAsync(cdc, cdc.ConnectionString, o => o.IncludeTables.Add("sales.*"));
        Assert.Contains("no table matches IncludeTables [sales.*]", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_slot_active_elsewhere_is_refused_naming_the_process()
    {
        await using var cdc = await PgCdc.CreateAsync(server, "CREATE TABLE t (id int PRIMARY KEY)");
        await cdc.StartAsync();
        var pid = await cdc.ScalarAsync<int>($"SELECT active_pid FROM pg_replication_slots WHERE slot_name = '{cdc.Slot}'");
        // Without its lease (UseLease), as a process of another deployment, or anything else holding the slot, would be: with
        // it, a second process of the same source stands by instead (tests/.../Leases).
        var ex = await FailAsync(cdc, cdc.ConnectionString, o =>
        {
            o.SlotBusyTimeout = TimeSpan.FromSeconds(1);
            o.UseLease = false;
        });
        Assert.Contains($"replication slot '{cdc.Slot}' is active for PID {pid}", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_missing_slot_with_a_stored_position_is_refused_rather_than_skipping_changes()
    {
        await using var cdc = await PgCdc.CreateAsync(server, "CREATE TABLE t (id int PRIMARY KEY)");
        using var provider = Services();
        await provider.GetRequiredService<PositionStore>().SaveAsync(cdc.SourceName, new PostgresPosition(0x1_0000_0000).ToJson(), CancellationToken.None);
        var ex = await FailAsync(cdc, cdc.ConnectionString, provider: provider);
        Assert.Contains($"replication slot '{cdc.Slot}' does not exist, but position 1/0 is stored", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_server_without_logical_wal_is_told_to_set_wal_level()
    {
        await using var instance = await ReplicaLevelServer.StartAsync();
        await using var cdc = await PgCdc.CreateAsync(server, "CREATE TABLE t (id int PRIMARY KEY)");
        var ex = await FailAsync(cdc, instance.ConnectionString);
        Assert.Contains("wal_level is 'replica'", ex.Message, StringComparison.Ordinal);
        Assert.Contains("ALTER SYSTEM SET wal_level = logical;", ex.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("", "ConnectionString is required")]
    [InlineData("Host=x;Bogus Key=1", "ConnectionString is not a valid Npgsql connection string")]
    public async Task Invalid_options_stop_the_host_at_start_naming_the_setting(string connectionString, string expected)
    {
        var builder = Host.CreateApplicationBuilder();
        builder.Services.AddDataMesh().AddPostgresSource("bad", o =>
        {
            o.ConnectionString = connectionString;
            o.SlotName = "Not-Valid";
            o.TopicPartitions = 0;
        });
        using var host = builder.Build();
        var ex = await Assert.ThrowsAsync<OptionsValidationException>(() => host.StartAsync());
        Assert.Contains($"PostgreSQL source 'bad': {expected}", ex.Message, StringComparison.Ordinal);
        Assert.Contains("SlotName 'Not-Valid' must be 1 to 63 characters", ex.Message, StringComparison.Ordinal);
        Assert.Contains("TopicPartitions must be between 1 and 10000", ex.Message, StringComparison.Ordinal);
    }

    private static string UserConnection(PgCdc cdc, string role) =>
        new NpgsqlConnectionStringBuilder(cdc.ConnectionString) { Username = role, Password = "pw" }.ConnectionString;

    private static ServiceProvider Services()
    {
        var services = new ServiceCollection();
        services.AddLogging();
        services.AddDataMesh();
        return services.BuildServiceProvider();
    }

    private static async Task<SourceStatus> FailAsync(PgCdc cdc, string connectionString, Action<PostgresSourceOptions>? configure = null, ServiceProvider? provider = null)
    {
        using var owned = provider is null ? Services() : null;
        var services = provider ?? owned!;
        var options = new PostgresSourceOptions { ConnectionString = connectionString, SlotName = cdc.Slot };
        configure?.Invoke(options);
        var connector = new PostgresConnector(cdc.SourceName, options, NullLogger.Instance);
        await using (connector)
        {
            return await SourceRunner.RunUntilStoppedOrRetryingAsync(cdc.SourceName, connector, options, services);
        }
    }

    /// <summary>A second, throwaway PostgreSQL 15 with wal_level = replica, to see the connector refuse it.</summary>
    private sealed class ReplicaLevelServer : IAsyncDisposable
    {
        private readonly string _root;
        private readonly string _bin;

        private ReplicaLevelServer(string root, string bin, int port)
        {
            _root = root;
            _bin = bin;
            ConnectionString = $"Host=127.0.0.1;Port={port};Username=postgres;Database=postgres;Pooling=false";
        }

        public string ConnectionString { get; }

        public static async Task<ReplicaLevelServer> StartAsync()
        {
            var bin = PostgresServer.BinDirectory;
            var root = Directory.CreateTempSubdirectory("dm-walreplica-").FullName;
            var port = FreePort();
            await RunAsync("chown", "postgres", root);
            await AsPostgresAsync(Path.Combine(bin, "initdb"), "-D", Path.Combine(root, "data"), "-U", "postgres", "-A", "trust", "--no-sync");
            await AsPostgresAsync(Path.Combine(bin, "pg_ctl"), "-D", Path.Combine(root, "data"), "-l", Path.Combine(root, "log"), "-w", "-o",
                $"-c wal_level=replica -c port={port} -c listen_addresses=127.0.0.1 -c unix_socket_directories={root}", "start");
            return new ReplicaLevelServer(root, bin, port);
        }

        public async ValueTask DisposeAsync()
        {
            await AsPostgresAsync(Path.Combine(_bin, "pg_ctl"), "-D", Path.Combine(_root, "data"), "-m", "immediate", "-w", "stop");
            Directory.Delete(_root, recursive: true);
        }

        private static Task AsPostgresAsync(params string[] command) =>
            Environment.UserName == "postgres" ? RunAsync(command[0], command[1..]) : RunAsync("runuser", ["-u", "postgres", "--", .. command]);

        private static Task RunAsync(string file, params string[] arguments) => ScriptRunner.RunAsync(file, arguments, TimeSpan.FromSeconds(60));

        private static int FreePort()
        {
            using var listener = new TcpListener(IPAddress.Loopback, 0);
            listener.Start();
            return ((IPEndPoint)listener.LocalEndpoint).Port;
        }
    }
}
