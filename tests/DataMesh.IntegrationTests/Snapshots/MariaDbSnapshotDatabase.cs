using System.Data.Common;
using DataMesh.Hosting;
using DataMesh.IntegrationTests.Conformance;
using DataMesh.IntegrationTests.Infrastructure;
using DataMesh.IntegrationTests.MySql;
using DataMesh.Schemas;
using DataMesh.Sources;
using Microsoft.Extensions.Hosting;

namespace DataMesh.IntegrationTests.Snapshots;

/// <summary>A MariaDB 10.11 database of its own (<see cref="MySqlCdc"/>: dropped at the end) for the snapshot tests.</summary>
internal sealed class MariaDbSnapshotDatabase : SnapshotDatabase
{
    private readonly MariaDbServer _server;

    private MariaDbSnapshotDatabase(MariaDbServer server, MySqlCdc cdc)
    {
        _server = server;
        Cdc = cdc;
    }

    /// <summary>The source and database, for what only MariaDB has.</summary>
    public MySqlCdc Cdc { get; }

    public override string Server => "MariaDB";

    public override string Kind => "mysql";

    public override string SourceName => Cdc.SourceName;

    public override string Schema => Cdc.Database;

    public override KafkaConnection Kafka => Cdc.Kafka;

    public override ISchemaStore Store => Cdc.Store;

    public override IHost Host => Cdc.Host;

    public override LogCollector Logs => Cdc.Logs;

    public override ISnapshotControl Snapshots => Cdc.Snapshots;

    public override IReadOnlyList<string> ServiceTopics => [.. base.ServiceTopics, "_datamesh_mysql_history"];

    public override string LockTimeoutSql => "SET SESSION innodb_lock_wait_timeout = 1, SESSION lock_wait_timeout = 1";

    public override string SessionIdSql => "SELECT CONNECTION_ID()";

    public static async Task<MariaDbSnapshotDatabase> CreateAsync(MariaDbServer server, string setupSql = "") =>
        new(server, await MySqlCdc.CreateAsync(server, setupSql));

    /// <summary>Starts the source; returns once it stored its first position (it streams from there), and with
    /// <paramref name="waitForSnapshot"/> once its initial snapshot is done.</summary>
    public override async Task StartAsync(Action<SourceOptions>? configure = null, bool waitForSnapshot = true)
    {
        await Cdc.StartAsync(o => configure?.Invoke(o), waitForSnapshot);
        if (!waitForSnapshot)
        {
            await Cdc.WaitForSavedPositionAsync();
        }
    }

    public override Dictionary<string, string?> ProcessSettings() => MariaDbConformance.SourceSettings(_server.ConnectionString, Cdc.Database);

    /// <summary>The signal table in the test's database, beside the watermark table (not in the shared <c>datamesh</c> database).</summary>
    public override void UseSignalTable(SourceOptions options, string table)
    {
        options.Snapshot.WatermarkTable = Qualified("datamesh_watermarks");
        options.Snapshot.SignalTable = table;
    }

    /// <summary>The source creates the signal table when it starts snapshots; the binlog brings every row from there on.</summary>
    public override Task WaitForSignalTableAsync(string table) =>
        SnapshotTestKit.WaitUntilAsync(
            () => ScalarAsync<long>($"SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = '{table}'").GetAwaiter().GetResult() == 1,
            TimeSpan.FromSeconds(20),
            () => $"the source did not create the signal table {table}");

    public override async Task<DbConnection> OpenConnectionAsync() => await Cdc.OpenConnectionAsync();

    public override string Series(int count) => $"(SELECT seq AS n FROM seq_1_to_{count}) AS s";

    public override string Hash60(string text) => $"CAST(CONV(LEFT(SHA2({text}, 256), 15), 16, 10) AS UNSIGNED)";

    public override ValueTask DisposeAsync() => Cdc.DisposeAsync();
}
