using System.Data.Common;
using System.Globalization;
using DataMesh.Events;
using DataMesh.IntegrationTests.Infrastructure;
using Xunit;
using Xunit.Abstractions;

namespace DataMesh.IntegrationTests.Conformance;

/// <summary>The conformance suite against the MySQL source (binlog) on MariaDB 10.11.</summary>
public sealed class MariaDbConformanceTests(MariaDbServer server, ITestOutputHelper output)
    : ConnectorConformanceTests(new MariaDbConformance(server), output), IClassFixture<MariaDbServer>;

/// <summary>
/// The MySQL source's driver: a database of its own per test, captured whole; tables created as not captured go to a
/// second database (the binlog is the server's, so their transactions still pass through the source).
/// </summary>
internal sealed class MariaDbConformance(MariaDbServer server) : SqlConformanceDriver
{
    private const string HistoryTopic = "_datamesh_mysql_history";
    private readonly HashSet<string> _uncaptured = [];
    private TemporaryMariaDbDatabase? _database;
    private TemporaryMariaDbDatabase? _other;

    public override string Kind => "mysql";

    public override IReadOnlyList<string> ServiceTopics => [.. base.ServiceTopics, HistoryTopic];

    private TemporaryMariaDbDatabase Database => _database ?? throw new InvalidOperationException("InitializeAsync first.");

    public override async Task InitializeAsync() => _database = await server.CreateDatabaseAsync("conf");

    public override string Topic(string source, string table) => TopicNames.ForTable("dm", source, Database.Name, table);

    public override IReadOnlyDictionary<string, string?> Settings(SourceRequest request)
    {
        var settings = SourceSettings(server.ConnectionString, Database.Name);
        settings["TopicPartitions"] = request.TopicPartitions.ToString(CultureInfo.InvariantCulture);
        if (request.AcceptIncompatibleSchemaChanges)
        {
            settings["IncompatibleSchemaChange"] = "NewVersionWithNone";
        }

        // The suite checks what the log delivers, event by event: no initial snapshot (tests/.../Snapshots checks those).
        settings["Snapshot:Initial"] = "None";
        return settings;
    }

    /// <summary>The options of a MySQL source capturing <paramref name="database"/>, with fast position saves and reconnects, for tests outside the suite too.</summary>
    public static Dictionary<string, string?> SourceSettings(string connectionString, string database) => new(StringComparer.Ordinal)
    {
        ["ConnectionString"] = connectionString,
        ["IncludeTables:0"] = database + ".*",
        ["PositionSaveInterval"] = "00:00:00.100",
        ["RetryDelay"] = "00:00:00.200",
        ["MaxRetryDelay"] = "00:00:02",
    };

    /// <summary>The first start stores the server's position before it streams: everything committed after that is captured.</summary>
    public override Task WaitUntilStreamingAsync(string source, ConformanceHarness harness, TimeSpan timeout) =>
        WaitForStoredPositionAsync(source, harness, timeout);

    public override async ValueTask DisposeAsync()
    {
        if (_other is not null)
        {
            await _other.DisposeAsync();
        }

        if (_database is not null)
        {
            await _database.DisposeAsync();
        }
    }

    protected override bool BatchReportsRecordsAffected => false;

    protected override string Quote(string identifier) => "`" + identifier + "`";

    protected override string TypeName(ColumnType type) => type switch
    {
        ColumnType.Int32 => "INT",
        ColumnType.Int64 => "BIGINT",
        _ => "VARCHAR(200)",
    };

    protected override string CreateTableSql(string table, string definition, bool keyed, bool captured)
    {
        if (!captured)
        {
            _uncaptured.Add(table);
        }

        return $"CREATE TABLE {Quote(table)} ({definition}) ENGINE=InnoDB";
    }

    protected override string ChangeTypeSql(string table, string column, string type) =>
        $"ALTER TABLE {Quote(table)} MODIFY COLUMN {Quote(column)} {type}";

    protected override string UpsertSql(string table, string keyColumn, string columns, string values, IEnumerable<string> updates) =>
        $"INSERT INTO {table} ({columns}) VALUES ({values}) ON DUPLICATE KEY UPDATE {string.Join(", ", updates.Select(c => $"{c} = VALUES({c})"))}";

    protected override bool IsUncaptured(string table) => _uncaptured.Contains(table);

    protected override async Task<DbConnection> OpenAsync(bool captured)
    {
        if (captured)
        {
            return await Database.OpenConnectionAsync();
        }

        _other ??= await server.CreateDatabaseAsync("confx");
        return await _other.OpenConnectionAsync();
    }
}
