using System.Data.Common;
using DataMesh.Hosting;
using DataMesh.IntegrationTests.Conformance;
using DataMesh.IntegrationTests.Infrastructure;
using DataMesh.IntegrationTests.Postgres;
using DataMesh.Schemas;
using DataMesh.Sources;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace DataMesh.IntegrationTests.Snapshots;

/// <summary>A PostgreSQL 15 database of its own (<see cref="PgCdc"/>: its slot dropped at the end) for the snapshot tests.</summary>
internal sealed class PostgresSnapshotDatabase : SnapshotDatabase
{
    private PostgresSnapshotDatabase(PgCdc cdc) => Cdc = cdc;

    /// <summary>The source and database, for what only PostgreSQL has.</summary>
    public PgCdc Cdc { get; }

    public override string Server => "PostgreSQL";

    public override string Kind => "postgres";

    public override string SourceName => Cdc.SourceName;

    public override string Schema => "public";

    public override KafkaConnection Kafka => Cdc.Kafka;

    public override ISchemaStore Store => Cdc.Store;

    public override IHost Host => Cdc.Host;

    public override LogCollector Logs => Cdc.Logs;

    public override ISnapshotControl Snapshots =>
        Host.Services.GetRequiredService<SourceMonitor>().Snapshots(SourceName) ?? throw new InvalidOperationException($"Source '{SourceName}' has no snapshots.");

    public override string LockTimeoutSql => "SET lock_timeout = '1s'";

    public override string SessionIdSql => "SELECT pg_backend_pid()";

    public static async Task<PostgresSnapshotDatabase> CreateAsync(PostgresServer server, string setupSql = "") =>
        new(await PgCdc.CreateAsync(server, setupSql));

    public override Task StartAsync(Action<SourceOptions>? configure = null, bool waitForSnapshot = true) =>
        Cdc.StartAsync(o => configure?.Invoke(o), waitForSnapshot: waitForSnapshot);

    public override Dictionary<string, string?> ProcessSettings() => PostgresConformance.SourceSettings(Cdc.ConnectionString, Cdc.Slot, includeTables: []);

    public override void UseSignalTable(SourceOptions options, string table) => options.Snapshot.SignalTable = table;

    /// <summary>The slot is active from its creation on: the signal table is created and published just after.</summary>
    public override Task WaitForSignalTableAsync(string table) =>
        SnapshotTestKit.WaitUntilAsync(
            () => Cdc.ScalarAsync<long>($"SELECT count(*) FROM pg_publication_tables WHERE tablename = '{table}'").GetAwaiter().GetResult() == 1,
            TimeSpan.FromSeconds(20),
            () => $"the signal table {table} is not in the source's publication");

    public override async Task<DbConnection> OpenConnectionAsync() => await PostgresServer.OpenConnectionAsync(Cdc.ConnectionString);

    public override string Series(int count) => $"generate_series(1, {count}) AS s(n)";

    public override string Hash60(string text) => $"('x' || lpad(left(encode(sha256(convert_to({text}, 'UTF8')), 'hex'), 15), 16, '0'))::bit(64)::bigint";

    public override ValueTask DisposeAsync() => Cdc.DisposeAsync();
}
