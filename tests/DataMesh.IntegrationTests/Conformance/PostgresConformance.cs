using System.Data.Common;
using System.Globalization;
using DataMesh.Events;
using DataMesh.IntegrationTests.Infrastructure;
using Npgsql;
using Xunit;
using Xunit.Abstractions;

namespace DataMesh.IntegrationTests.Conformance;

/// <summary>The conformance suite against the PostgreSQL source (pgoutput) on PostgreSQL 15.</summary>
public sealed class PostgresConformanceTests(PostgresServer server, ITestOutputHelper output)
    : ConnectorConformanceTests(new PostgresConformance(server), output), IClassFixture<PostgresServer>;

/// <summary>
/// The PostgreSQL source's driver: a database and a replication slot of its own per test (dropped with the database),
/// every table of the database's <c>public</c> schema captured except those created as not captured.
/// </summary>
internal sealed class PostgresConformance(PostgresServer server) : SqlConformanceDriver
{
    private readonly List<string> _uncaptured = [];
    private TemporaryPostgresDatabase? _database;

    public override string Kind => "postgres";

    public string Slot { get; } = UniqueName.Create("slot");

    private string ConnectionString => _database?.ConnectionString ?? throw new InvalidOperationException("InitializeAsync first.");

    public override async Task InitializeAsync() => _database = await server.CreateDatabaseAsync("conf");

    public override string Topic(string source, string table) => TopicNames.ForTable("dm", source, "public", table);

    public override IReadOnlyDictionary<string, string?> Settings(SourceRequest request)
    {
        var settings = SourceSettings(ConnectionString, Slot, includeTables: []);
        for (var i = 0; i < _uncaptured.Count; i++)
        {
            settings[$"ExcludeTables:{i}"] = "public." + _uncaptured[i];
        }

        settings["TopicPartitions"] = request.TopicPartitions.ToString(CultureInfo.InvariantCulture);
        if (request.AcceptIncompatibleSchemaChanges)
        {
            settings["IncompatibleSchemaChange"] = "NewVersionWithNone";
        }

        // The suite checks what the log delivers, event by event: no initial snapshot (tests/.../Snapshots checks those).
        settings["Snapshot:Initial"] = "None";

        // Truncates need nothing: publications publish them by default, and the source writes them to partition 0 of
        // topics it creates without compaction.
        return settings;
    }

    /// <summary>
    /// The options of a PostgreSQL source on <paramref name="slot"/> with fast position saves and retries (the
    /// heartbeat keeps its default), for tests outside the suite too.
    /// </summary>
    public static Dictionary<string, string?> SourceSettings(string connectionString, string slot, IReadOnlyList<string> includeTables)
    {
        var settings = new Dictionary<string, string?>(StringComparer.Ordinal)
        {
            ["ConnectionString"] = connectionString,
            ["SlotName"] = slot,
            ["PositionSaveInterval"] = "00:00:00.100",
            ["RetryDelay"] = "00:00:00.200",
            ["MaxRetryDelay"] = "00:00:02",
        };
        for (var i = 0; i < includeTables.Count; i++)
        {
            settings[$"IncludeTables:{i}"] = includeTables[i];
        }

        return settings;
    }

    /// <summary>The first start creates the slot: what is committed before it is active is not in it.</summary>
    public override async Task WaitUntilStreamingAsync(string source, ConformanceHarness harness, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        await using var connection = await PostgresServer.OpenConnectionAsync(ConnectionString);
        while (true)
        {
            // Active and with a confirmed position: while CREATE_REPLICATION_SLOT waits for running transactions (other
            // tests') the slot is active with no consistent point yet, and a change committed then is not in it.
            await using var command = new NpgsqlCommand("SELECT active AND confirmed_flush_lsn IS NOT NULL FROM pg_replication_slots WHERE slot_name = @slot", connection);
            command.Parameters.AddWithValue("slot", Slot);
            if (await command.ExecuteScalarAsync() is true)
            {
                return;
            }

            Assert.True(DateTime.UtcNow < deadline, $"Source '{source}' did not stream from slot '{Slot}' within {timeout}; its log:\n{harness.SourceLog}");
            await Task.Delay(100);
        }
    }

    /// <summary>The slot, its walsender's progress against the server's WAL, and what every session of the test's database waits
    /// for.</summary>
    public override async Task<string> DescribeLogReaderAsync()
    {
        await using var connection = await PostgresServer.OpenConnectionAsync(ConnectionString);
        await using var command = new NpgsqlCommand(
            """
            SELECT format('server WAL at %s; slot %s active=%s (pid %s) restart %s confirmed %s', pg_current_wal_lsn(), s.slot_name, s.active, s.active_pid, s.restart_lsn, s.confirmed_flush_lsn)
                   || CASE WHEN r.pid IS NULL THEN '; no walsender' ELSE format('; walsender %s sent %s written %s flushed %s', r.state, r.sent_lsn, r.write_lsn, r.flush_lsn) END
              FROM pg_replication_slots s LEFT JOIN pg_stat_replication r ON r.pid = s.active_pid WHERE s.slot_name = @slot
            UNION ALL
            SELECT format('session %s (%s) %s, waits for %s/%s: %s', pid, application_name, state, wait_event_type, wait_event, left(query, 120))
              FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()
            """,
            connection);
        command.Parameters.AddWithValue("slot", Slot);
        var lines = new List<string>();
        await using var reader = await command.ExecuteReaderAsync();
        while (await reader.ReadAsync())
        {
            lines.Add(reader.GetString(0));
        }

        return string.Join('\n', lines);
    }

    public override async ValueTask DisposeAsync()
    {
        if (_database is not null)
        {
            await _database.DisposeAsync(); // drops the slot with the database
        }
    }

    protected override bool BatchReportsRecordsAffected => true;

    protected override string Quote(string identifier) => "\"" + identifier + "\"";

    protected override string TypeName(ColumnType type) => type switch
    {
        ColumnType.Int32 => "integer",
        ColumnType.Int64 => "bigint",
        _ => "text",
    };

    protected override string CreateTableSql(string table, string definition, bool keyed, bool captured)
    {
        if (!captured)
        {
            _uncaptured.Add(table);
        }

        // A keyless table in a publication needs REPLICA IDENTITY FULL for its updates and deletes.
        return $"CREATE TABLE {Quote(table)} ({definition}){(keyed ? string.Empty : $"; ALTER TABLE {Quote(table)} REPLICA IDENTITY FULL")}";
    }

    protected override string ChangeTypeSql(string table, string column, string type) =>
        $"ALTER TABLE {Quote(table)} ALTER COLUMN {Quote(column)} TYPE {type}";

    protected override string UpsertSql(string table, string keyColumn, string columns, string values, IEnumerable<string> updates) =>
        $"INSERT INTO {table} ({columns}) VALUES ({values}) ON CONFLICT ({keyColumn}) DO UPDATE SET {string.Join(", ", updates.Select(c => $"{c} = EXCLUDED.{c}"))}";

    protected override bool IsUncaptured(string table) => _uncaptured.Contains(table);

    protected override async Task<DbConnection> OpenAsync(bool captured) => await PostgresServer.OpenConnectionAsync(ConnectionString);
}
