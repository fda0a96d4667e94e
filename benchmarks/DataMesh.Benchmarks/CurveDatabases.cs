using System.Globalization;
using DataMesh.Connectors.MySql;
using DataMesh.Connectors.MySql.Schema;
using DataMesh.Events;
using DataMesh.Hosting;
using DataMesh.Kafka;
using DataMesh.Sources;
using MySqlConnector;
using Npgsql;
using static System.FormattableString;

namespace DataMesh.Benchmarks;

/// <summary>
/// What the curves suite (<see cref="CurvesSuite"/>) does differently per database: the point's table and how its rows are
/// written, how each run's connector (<c>tests/tools/DataMesh.ConnectorHost</c>) is made to read exactly those rows, and
/// which server process reads the log for it. Everything else (the points, the runs, the count checks, the plots) is the
/// suite's, the same for every database.
/// </summary>
internal interface ICurveDatabase
{
    /// <summary>The database's name in headings and plot titles.</summary>
    string Title { get; }

    /// <summary>The prefix of the result lines and the tables' file: <c>curves</c> (PostgreSQL), <c>curves-mariadb</c>.</summary>
    string ResultPrefix { get; }

    /// <summary>The prefix of the PNGs: <c>curve</c> (PostgreSQL), <c>curve-mariadb</c>.</summary>
    string PlotPrefix { get; }

    /// <summary>The connector host's source kind (<c>postgres</c>, <c>mysql</c>).</summary>
    string Kind { get; }

    /// <summary>The server process whose CPU time is reported beside the connector's: <c>walsender</c> (the slot's),
    /// <c>mariadbd</c> (the whole server, whose binlog dump thread is the one busy during a run).</summary>
    string LogReader { get; }

    /// <summary>Creates the point's database and table <c>curve (id bigint PRIMARY KEY, c1 text, …)</c>, empty.</summary>
    Task<ICurveTable> CreateAsync(CurvePoint point);
}

/// <summary>A point's table: its rows, and what each run of the connector needs to read them.</summary>
internal interface ICurveTable : IAsyncDisposable
{
    /// <summary>The table's topic.</summary>
    string Topic { get; }

    /// <summary>Writes the point's rows in transactions of <see cref="CurvePoint.Transaction"/> rows, server-side; every
    /// run of the point reads them.</summary>
    Task WriteAsync(CurvePoint point);

    /// <summary>Readies run <paramref name="run"/> (a name unique in the point) so that the connector reads the point's
    /// rows and no others: a copy of the slot made before they were written (PostgreSQL); the position and the schema
    /// history before them, stored in the run's <paramref name="cluster"/> (MariaDB). Returns the source's settings.</summary>
    Task<IReadOnlyList<string>> PrepareRunAsync(string run, EmbeddedKafkaCluster cluster);

    /// <summary>The process id of <see cref="ICurveDatabase.LogReader"/> while run <paramref name="run"/> streams, or 0.</summary>
    Task<int> LogReaderAsync(string run);

    /// <summary>Cleans up after run <paramref name="run"/>, whether it succeeded or not.</summary>
    Task FinishRunAsync(string run);
}

/// <summary>The curves' PostgreSQL (<c>DATAMESH_PG_CONNECTION</c>): a database per point, a slot made before the rows were
/// written, copied for each run.</summary>
internal sealed class PgCurveDatabase(string admin) : ICurveDatabase
{
    public string Title => "PostgreSQL";

    public string ResultPrefix => "curves";

    public string PlotPrefix => "curve";

    public string Kind => "postgres";

    public string LogReader => "walsender";

    public async Task<ICurveTable> CreateAsync(CurvePoint point)
    {
        var table = new PgCurveTable(admin, "curves_" + Guid.NewGuid().ToString("N")[..8]);
        await PgSuite.ExecuteAsync(admin, $"CREATE DATABASE {table.Database}");
        try
        {
            var columns = string.Join(", ", Enumerable.Range(1, point.Columns - 1).Select(c => $"c{c} text NOT NULL"));
            await PgSuite.ExecuteAsync(table.Connection, $"CREATE TABLE curve (id bigint PRIMARY KEY, {columns}); CREATE PUBLICATION datamesh_bench FOR TABLE curve");
            await PgSuite.ExecuteAsync(table.Connection, $"SELECT pg_create_logical_replication_slot('{table.Template}', 'pgoutput')");
            return table;
        }
        catch
        {
            await table.DisposeAsync();
            throw;
        }
    }
}

/// <summary>A point's PostgreSQL database: the template slot made before the rows, a copy of it per run.</summary>
internal sealed class PgCurveTable(string admin, string database) : ICurveTable
{
    public string Database => database;

    public string Connection { get; } = new NpgsqlConnectionStringBuilder(admin) { Database = database }.ConnectionString;

    public string Template => database + "_template";

    public string Topic => TopicNames.ForTable("dm", "bench", "public", "curve");

    public Task WriteAsync(CurvePoint point) => PgSuite.ExecuteAsync(Connection, WriteSql(point));

    public async Task<IReadOnlyList<string>> PrepareRunAsync(string run, EmbeddedKafkaCluster cluster)
    {
        await PgSuite.ExecuteAsync(Connection, $"SELECT pg_copy_logical_replication_slot('{Template}', '{Slot(run)}')");
        return ["SlotName=" + Slot(run), "IncludeTables:0=public.curve", "ConnectionString=" + Connection, "Snapshot:Initial=None"];
    }

    public async Task<int> LogReaderAsync(string run) =>
        (int)await PgSuite.ScalarAsync(Connection, $"SELECT coalesce(active_pid, 0) FROM pg_replication_slots WHERE slot_name = '{Slot(run)}'");

    public Task FinishRunAsync(string run) => DropSlotAsync(Slot(run));

    public async ValueTask DisposeAsync()
    {
        await DropSlotAsync(Template);
        await PgSuite.ExecuteAsync(admin, $"DROP DATABASE IF EXISTS {database} WITH (FORCE)");
    }

    /// <summary>One <c>DO</c> block inserting the point's rows, committing every <see cref="CurvePoint.Transaction"/> rows.
    /// A row's values are windows of one string of md5 sums (hex), at a different offset per column.</summary>
    private static string WriteSql(CurvePoint point)
    {
        var values = string.Join(", ", Enumerable.Range(1, point.Columns - 1).Select(c => Invariant($"substr(b, {CurveValues.Offset(c)}, {point.Value})")));
        return Invariant($"""
            DO $$
            DECLARE lo bigint := 0;
            BEGIN
              WHILE lo < {point.Rows} LOOP
                INSERT INTO curve
                SELECT g, {values}
                FROM (SELECT g, (SELECT string_agg(md5((g * 1000003 + i)::text), '') FROM generate_series(1, {CurveValues.Sums(point)}) i) AS b
                      FROM generate_series(lo, LEAST(lo + {point.Transaction}, {point.Rows}) - 1) g) s;
                COMMIT;
                lo := lo + {point.Transaction};
              END LOOP;
            END $$
            """);
    }

    private string Slot(string run) => $"{database}_{run}";

    /// <summary>Drops a slot once its walsender let go of it (a killed connector's walsender notices a moment later).</summary>
    private async Task DropSlotAsync(string slot)
    {
        for (var wait = 0; wait < 100 && await PgSuite.ScalarAsync(Connection, $"SELECT count(*) FROM pg_replication_slots WHERE slot_name = '{slot}' AND active") > 0; wait++)
        {
            await Task.Delay(100);
        }

        await PgSuite.ExecuteAsync(Connection, $"SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = '{slot}'");
    }
}

/// <summary>The curves' MariaDB (<c>DATAMESH_MARIADB_CONNECTION</c>, the MySQL source): a database per point; the binlog's
/// position (file, offset and GTID position) and the tables' schema taken after the table was created and before its rows
/// were written, stored as the source's position and schema history in each run's cluster as the source's own first start
/// stores them, so that every run reads the point's rows from the first and no earlier ones.</summary>
internal sealed class MariaDbCurveDatabase(string admin) : ICurveDatabase
{
    public string Title => "MariaDB";

    public string ResultPrefix => "curves-mariadb";

    public string PlotPrefix => "curve-mariadb";

    public string Kind => "mysql";

    public string LogReader => "mariadbd";

    public async Task<ICurveTable> CreateAsync(CurvePoint point)
    {
        var table = new MariaDbCurveTable(admin, "curves_" + Guid.NewGuid().ToString("N")[..8]);
        await MariaDbCurveTable.ExecuteAsync(admin, $"CREATE DATABASE `{table.Database}`");
        try
        {
            // MEDIUMTEXT: TEXT holds 64 KB, less than the largest values.
            var columns = string.Join(", ", Enumerable.Range(1, point.Columns - 1).Select(c => $"c{c} MEDIUMTEXT NOT NULL"));
            await MariaDbCurveTable.ExecuteAsync(table.Connection, $"CREATE TABLE curve (id BIGINT NOT NULL PRIMARY KEY, {columns}) DEFAULT CHARSET utf8mb4");
            return table;
        }
        catch
        {
            await table.DisposeAsync();
            throw;
        }
    }
}

/// <summary>A point's MariaDB database, the binlog position before its rows and the schema there.</summary>
internal sealed class MariaDbCurveTable(string admin, string database) : ICurveTable
{
    private const string Source = "bench";
    private MySqlPosition? _start;
    private (List<MySqlTable> Tables, Dictionary<string, string> Databases, string ServerCharset) _schema;
    private int _server;

    public string Database => database;

    public string Connection { get; } = new MySqlConnectionStringBuilder(admin) { Database = database }.ConnectionString;

    public string Topic => TopicNames.ForTable("dm", Source, database, "curve");

    public async Task WriteAsync(CurvePoint point)
    {
        await using var connection = new MySqlConnection(Connection);
        await connection.OpenAsync();
        _schema = await InformationSchemaLoader.LoadAsync(connection, CancellationToken.None);
        _start = await PositionAsync(connection);
        await using (var write = new MySqlCommand(WriteSql(point), connection) { CommandTimeout = 0 })
        {
            await write.ExecuteNonQueryAsync();
        }

        await using var pidFile = new MySqlCommand("SELECT @@pid_file", connection);
        _server = int.Parse((await File.ReadAllTextAsync((string)(await pidFile.ExecuteScalarAsync())!)).Trim(), CultureInfo.InvariantCulture);
    }

    public async Task<IReadOnlyList<string>> PrepareRunAsync(string run, EmbeddedKafkaCluster cluster)
    {
        var start = _start ?? throw new InvalidOperationException("curves: WriteAsync first");
        var historyTopic = new MySqlSourceOptions().HistoryTopic;
        cluster.CreateTopic(historyTopic, 1);
        using var kafka = new KafkaConnection(new KafkaOptions { BootstrapServers = cluster.BootstrapServers, CreateTopics = false });
        using (var history = new SchemaHistory(kafka, historyTopic))
        {
            await history.AppendSnapshotAsync(Source, start.File, start.Position, _schema.Tables, _schema.Databases, _schema.ServerCharset, CancellationToken.None);
        }

        using (var positions = new PositionStore(kafka))
        {
            await positions.SaveAsync(Source, start.ToJson(), CancellationToken.None);
        }

        return ["IncludeTables:0=" + database + ".curve", "ConnectionString=" + admin, "Snapshot:Initial=None"];
    }

    public Task<int> LogReaderAsync(string run) => Task.FromResult(_server);

    public Task FinishRunAsync(string run) => Task.CompletedTask;

    public ValueTask DisposeAsync() => new(ExecuteAsync(admin, $"DROP DATABASE IF EXISTS `{database}`"));

    internal static async Task ExecuteAsync(string connectionString, string sql)
    {
        await using var connection = new MySqlConnection(connectionString);
        await connection.OpenAsync();
        await using var command = new MySqlCommand(sql, connection) { CommandTimeout = 600 };
        await command.ExecuteNonQueryAsync();
    }

    /// <summary>The binlog's current file, offset and GTID position, read as the source's first start reads them.</summary>
    private static async Task<MySqlPosition> PositionAsync(MySqlConnection connection)
    {
        string file;
        long offset;
        await using (var status = new MySqlCommand("SHOW MASTER STATUS", connection))
        await using (var reader = await status.ExecuteReaderAsync())
        {
            if (!await reader.ReadAsync())
            {
                throw new InvalidOperationException("curves: SHOW MASTER STATUS returned nothing: is MariaDB's binlog on?");
            }

            file = reader.GetString(0);
            offset = Convert.ToInt64(reader.GetValue(1), CultureInfo.InvariantCulture);
        }

        await using var gtid = new MySqlCommand("SELECT BINLOG_GTID_POS(@file, @position)", connection);
        gtid.Parameters.AddWithValue("@file", file);
        gtid.Parameters.AddWithValue("@position", offset);
        var at = await gtid.ExecuteScalarAsync() as string;
        return new MySqlPosition { File = file, Position = offset, Gtid = string.IsNullOrWhiteSpace(at) ? null : at, MariaDb = true };
    }

    /// <summary>One anonymous block (<c>BEGIN NOT ATOMIC</c>) inserting the point's rows, committing every
    /// <see cref="CurvePoint.Transaction"/> rows; the values are PostgreSQL's (<see cref="CurveValues"/>), the md5 sums
    /// from the sequence engine's tables.</summary>
    private static string WriteSql(CurvePoint point)
    {
        var values = string.Join(", ", Enumerable.Range(1, point.Columns - 1).Select(c => Invariant($"SUBSTR(b, {CurveValues.Offset(c)}, {point.Value})")));
        return Invariant($"""
            BEGIN NOT ATOMIC
              DECLARE lo BIGINT DEFAULT 0;
              WHILE lo < {point.Rows} DO
                START TRANSACTION;
                INSERT INTO curve
                SELECT g, {values}
                FROM (SELECT s.seq AS g, (SELECT GROUP_CONCAT(MD5(s.seq * 1000003 + i.seq) ORDER BY i.seq SEPARATOR '') FROM seq_1_to_{CurveValues.Sums(point)} i) AS b
                      FROM seq_0_to_{point.Rows - 1} s WHERE s.seq >= lo AND s.seq < LEAST(lo + {point.Transaction}, {point.Rows})) t;
                COMMIT;
                SET lo = lo + {point.Transaction};
              END WHILE;
            END
            """);
    }
}

/// <summary>The rows' values, the same in every database: windows of one string of md5 sums (hex, which PostgreSQL's pglz
/// does not shrink), at a different offset per column.</summary>
internal static class CurveValues
{
    /// <summary>The md5 sums per row: enough for the value at any offset up to 32.</summary>
    public static int Sums(CurvePoint point) => (point.Value / 32) + 2;

    /// <summary>The 1-based offset of column <paramref name="column"/>'s value in the row's string.</summary>
    public static int Offset(int column) => 1 + ((column * 7) % 32);
}
