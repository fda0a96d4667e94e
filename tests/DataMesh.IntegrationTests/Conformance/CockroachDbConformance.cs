using System.Globalization;
using System.Text.Json.Nodes;
using DataMesh.Events;
using DataMesh.IntegrationTests.CockroachDb;
using Xunit.Abstractions;

namespace DataMesh.IntegrationTests.Conformance;

/// <summary>The conformance suite against the CockroachDB source (sinkless changefeed) on <see cref="FakeCockroachServer"/>.</summary>
public sealed class CockroachDbConformanceTests(ITestOutputHelper output)
    : ConnectorConformanceTests(new CockroachDbConformance(), output);

/// <summary>
/// The CockroachDB source's driver: a fake CockroachDB node of its own per test (no CockroachDB server can be installed
/// here), which sends resolved timestamps at the changefeed's <c>resolved</c> interval and, like CockroachDB, repeats at a
/// restart every change after the cursor (at-least-once: the suite's checks allow repeats where the contract does).
/// Every table of the fake is captured except those created as not captured.
/// </summary>
internal sealed class CockroachDbConformance : ConformanceDriver
{
    private readonly List<string> _uncaptured = [];
    private FakeCockroachServer? _server;

    public override string Kind => "cockroachdb";

    public override IReadOnlyDictionary<Capability, string> Lacks { get; } = new Dictionary<Capability, string>
    {
        [Capability.Transactions] = "a changefeed shows each key once per transaction, in its state at the commit timestamp (one MVCC version), not each statement; each change is committed as its own transaction",
        [Capability.KeylessTables] = "every CockroachDB table has a primary key: one declared without is keyed by the hidden rowid, which its changefeed rows carry",
        [Capability.ChangeColumnType] = "ALTER COLUMN TYPE rewrites the table (a new column swapped in), which the source does not follow (docs/cockroachdb.md, Limits)",
        [Capability.Truncate] = "a changefeed has no truncate message: TRUNCATE of a watched table ends it with an error (create-and-configure-changefeeds, Considerations)",
    };

    private FakeCockroachServer Server => _server ?? throw new InvalidOperationException("InitializeAsync first.");

    public override Task InitializeAsync()
    {
        _server = new FakeCockroachServer { EmitResolved = true };
        return Task.CompletedTask;
    }

    public override string Topic(string source, string table) => TopicNames.ForTable("dm", source, "public", table);

    public override IReadOnlyDictionary<string, string?> Settings(SourceRequest request)
    {
        var settings = new Dictionary<string, string?>(StringComparer.Ordinal)
        {
            ["ConnectionString"] = Server.ConnectionString,
            ["ResolvedInterval"] = "00:00:00.100",
            ["PositionSaveInterval"] = "00:00:00.100",
            ["NewTablePollInterval"] = "00:00:00.200",
            ["RetryDelay"] = "00:00:00.200",
            ["MaxRetryDelay"] = "00:00:02",
            ["TopicPartitions"] = request.TopicPartitions.ToString(CultureInfo.InvariantCulture),
            // The suite checks what the log delivers, event by event: no initial scan.
            ["Snapshot:Initial"] = "None",
        };
        for (var i = 0; i < _uncaptured.Count; i++)
        {
            settings[$"ExcludeTables:{i}"] = "public." + _uncaptured[i];
        }

        if (request.AcceptIncompatibleSchemaChanges)
        {
            settings["IncompatibleSchemaChange"] = "NewVersionWithNone";
        }

        return settings;
    }

    /// <summary>The first start reads the cluster's clock and stores it as its position before it creates the changefeed
    /// with that cursor: from then on every change is captured, across restarts and kills.</summary>
    public override Task WaitUntilStreamingAsync(string source, ConformanceHarness harness, TimeSpan timeout) =>
        WaitForStoredPositionAsync(source, harness, timeout);

    public override Task CreateTableAsync(string table, IReadOnlyList<Column> columns, bool captured = true)
    {
        if (!captured)
        {
            _uncaptured.Add(table);
        }

        Server.CreateTable(new FakeTable("public", table, [.. columns.Select(ToFake)], [.. columns.Where(c => c.Key).Select(c => c.Name)]));
        return Task.CompletedTask;
    }

    /// <summary>A column added or dropped as CockroachDB's <c>schema_change_policy = 'backfill'</c> follows it: every row
    /// emitted again in its new shape (an added column NULL).</summary>
    public override Task AlterTableAsync(string table, SchemaChange change)
    {
        switch (change)
        {
            case SchemaChange.AddColumn add:
                Server.AlterTable(table, t => t with { Columns = [.. t.Columns, ToFake(add.Column)] }, row =>
                {
                    row[add.Column.Name] = null;
                    return row;
                });
                break;
            case SchemaChange.DropColumn drop:
                Server.AlterTable(table, t => t with { Columns = [.. t.Columns.Where(c => c.Name != drop.Name)] }, row =>
                {
                    row.Remove(drop.Name);
                    return row;
                });
                break;
            default:
                throw new NotSupportedException($"{change} (the driver lacks {Capability.ChangeColumnType})");
        }

        return Task.CompletedTask;
    }

    public override Task TruncateAsync(string table) => throw new NotSupportedException($"TRUNCATE (the driver lacks {Capability.Truncate})");

    protected override Task<IChangeWriter> OpenTableWriterAsync(string table) => Task.FromResult<IChangeWriter>(new Writer(Server, table));

    public override async ValueTask DisposeAsync()
    {
        if (_server is not null)
        {
            await _server.DisposeAsync();
        }
    }

    private static FakeColumn ToFake(Column column) => column.Type switch
    {
        ColumnType.Int32 => new FakeColumn(column.Name, "integer", "int4", "INT4", Nullable: !column.Key),
        ColumnType.Int64 => new FakeColumn(column.Name, "bigint", "int8", "INT8", Nullable: !column.Key),
        _ => new FakeColumn(column.Name, "text", "text", "STRING", Nullable: !column.Key),
    };

    /// <summary>Commits each change as the fake's own transaction (one HLC): an UPDATE or DELETE affects the rows its WHERE finds.</summary>
    private sealed class Writer(FakeCockroachServer server, string table) : IChangeWriter
    {
        public Task<int[]> CommitAsync(IReadOnlyList<RowChange> changes)
        {
            if (changes.Count != 1)
            {
                throw new InvalidOperationException("The CockroachDB driver commits one change per transaction (it lacks Capability.Transactions).");
            }

            return Task.FromResult<int[]>([Commit(changes[0])]);
        }

        public ValueTask DisposeAsync() => ValueTask.CompletedTask;

        private int Commit(RowChange change)
        {
            switch (change)
            {
                case RowChange.Insert insert:
                    server.Upsert(table, Row(insert.Values).ToJsonString());
                    return 1;
                case RowChange.Upsert upsert:
                    var existing = Find(upsert.KeyColumn, upsert.Values.First(v => v.Column == upsert.KeyColumn).Value).FirstOrDefault().Row;
                    var merged = existing ?? Row([]);
                    foreach (var (column, value) in upsert.Values)
                    {
                        merged[column] = Json(value);
                    }

                    server.Upsert(table, merged.ToJsonString());
                    return 1;
                case RowChange.Update update:
                    var found = Find(update.WhereColumn, update.WhereValue);
                    foreach (var (key, row) in found)
                    {
                        foreach (var (column, value) in update.Set)
                        {
                            row[column] = Json(value);
                        }

                        var newKey = KeyOf(row);
                        if (newKey == key)
                        {
                            server.Upsert(table, row.ToJsonString());
                        }
                        else
                        {
                            server.ChangeKey(table, key, row.ToJsonString());
                        }
                    }

                    return found.Count;
                case RowChange.Delete delete:
                    var doomed = Find(delete.WhereColumn, delete.WhereValue);
                    foreach (var (key, _) in doomed)
                    {
                        server.Delete(table, key);
                    }

                    return doomed.Count;
                default:
                    throw new ArgumentOutOfRangeException(nameof(change), change, null);
            }
        }

        /// <summary>A row with every column of the table (CockroachDB's <c>after</c> lists them all), those not given NULL.</summary>
        private JsonObject Row(IEnumerable<(string Column, object? Value)> values)
        {
            var row = new JsonObject();
            foreach (var column in server.ColumnsOf(table))
            {
                row[column] = null;
            }

            foreach (var (column, value) in values)
            {
                row[column] = Json(value);
            }

            return row;
        }

        private string KeyOf(JsonObject row) => new JsonArray([.. server.KeyOf(table).Select(k => row[k]?.DeepClone())]).ToJsonString();

        private List<(string Key, JsonObject Row)> Find(string column, object? value)
        {
            var wanted = Json(value)?.ToJsonString();
            return [.. server.RowsOf(table).Where(r => r.Value[column]?.ToJsonString() == wanted).Select(r => (r.Key, r.Value))];
        }

        private static JsonNode? Json(object? value) => value switch
        {
            null => null,
            int i => JsonValue.Create(i),
            long l => JsonValue.Create(l),
            string text => JsonValue.Create(text),
            _ => throw new ArgumentOutOfRangeException(nameof(value), value, "int, long or text"),
        };
    }
}
