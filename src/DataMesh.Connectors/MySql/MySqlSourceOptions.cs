using MySqlConnector;

namespace DataMesh.Connectors.MySql;

/// <summary>Settings of one MySQL/MariaDB source (<c>AddMySqlSource</c>). The settings every source has (tables as
/// <c>database.table</c> patterns, partitions, intervals, retries, policies) are in <see cref="SourceOptions"/>; the
/// server heartbeat (<see cref="SourceOptions.HeartbeatInterval"/>) defaults to 5 seconds here, and a connection silent
/// for three heartbeats is treated as broken.</summary>
public sealed class MySqlSourceOptions : SourceOptions
{
    /// <summary>System databases, never captured.</summary>
    internal static readonly IReadOnlyList<string> SystemDatabases = ["mysql", "information_schema", "performance_schema", "sys"];

    internal const long DefaultMaxPreparedXaBytes = 64L << 20;

    private Sources.TableFilter? _filter;
    private Dictionary<(string, string), bool>? _captures;
    private IReadOnlyList<string> _always = [];

    /// <summary>Creates options with the MySQL defaults.</summary>
    public MySqlSourceOptions() => HeartbeatInterval = TimeSpan.FromSeconds(5);

    /// <summary>A MySqlConnector connection string (Server, Port, User ID, Password, SslMode, SslCa, SslCert, SslKey,
    /// CertificateFile, CertificatePassword, ServerRSAPublicKeyFile, AllowPublicKeyRetrieval, Connection Timeout). The user
    /// needs REPLICATION SLAVE, REPLICATION CLIENT (MariaDB: BINLOG MONITOR) and SELECT. Required. For a server that is not
    /// on this machine, <c>SslMode=VerifyFull</c> (or <c>VerifyCA</c>) or <c>SslMode=None</c> must be set: <c>Preferred</c>
    /// (the default) and <c>Required</c> do not check the server's certificate and are refused (see docs/mysql.md, TLS).</summary>
    public string ConnectionString { get; set; } = string.Empty;

    /// <summary>The server id this client registers with, unique among the server's replicas. 0 (the default)
    /// derives one from the source's name in 1 000 000 .. 1 999 999.</summary>
    public uint ServerId { get; set; }

    /// <summary>Whether to resume from GTID positions where the server has GTIDs (MariaDB always; MySQL with
    /// <c>gtid_mode=ON</c>), rather than from file and position. Default true.</summary>
    public bool UseGtid { get; set; } = true;

    /// <summary>Whether a DDL statement that cannot be parsed is skipped with a warning instead of stopping the
    /// source. Default false: a wrong column mapping is worse than a stop.</summary>
    public bool SkipUnparseableDdl { get; set; }

    /// <summary>Whether the statement behind each row (MariaDB's ANNOTATE_ROWS, <c>binlog_annotate_row_events</c>) goes
    /// into <c>source.query</c>. Default false: statements may hold data that the table filters would hide.</summary>
    public bool IncludeQuery { get; set; }

    /// <summary>The most bytes of row events of prepared XA transactions held in memory from their XA PREPARE to their
    /// XA COMMIT or XA ROLLBACK (all such transactions together); more stops the source rather than deliver rows that
    /// may be rolled back. Default 64 MiB.</summary>
    public long MaxPreparedXaBytes { get; set; } = DefaultMaxPreparedXaBytes;

    /// <summary>The compacted topic of the schema history. Default <c>_datamesh_mysql_history</c>.</summary>
    public string HistoryTopic { get; set; } = "_datamesh_mysql_history";

    /// <inheritdoc />
    public override IEnumerable<string> Validate(string sourceName)
    {
        foreach (var problem in base.Validate(sourceName))
        {
            yield return problem;
        }

        var prefix = $"MySQL source '{sourceName}': ";
        if (Snapshot is { Watermarks: SnapshotWatermarks.ReadOnly })
        {
            yield return prefix + "Snapshot:Watermarks is ReadOnly, which MySQL and MariaDB do not have (read-only watermarks need PostgreSQL 13 or later). " +
                $"Set it to Table (the default): chunks are marked by rows of Snapshot:WatermarkTable ({Snapshot.WatermarkTable}).";
        }

        if (string.IsNullOrWhiteSpace(ConnectionString))
        {
            yield return prefix + $"{nameof(ConnectionString)} is required.";
        }
        else
        {
            string? problem = null;
            List<string> tlsProblems = [];
            try
            {
                var builder = new MySqlConnectionStringBuilder(ConnectionString);
                if (string.IsNullOrWhiteSpace(builder.Server) || string.IsNullOrWhiteSpace(builder.UserID))
                {
                    problem = prefix + $"{nameof(ConnectionString)} needs Server and User ID.";
                }
                else
                {
                    tlsProblems = [.. MySqlTls.Problems(builder).Select(p => prefix + p)];
                }
            }
            catch (ArgumentException ex)
            {
                problem = prefix + $"{nameof(ConnectionString)} is not a valid connection string: {ConnectionStringErrors.Redact(ex.Message, ConnectionString)}";
            }

            if (problem is not null)
            {
                yield return problem;
            }

            foreach (var tls in tlsProblems)
            {
                yield return tls;
            }
        }

        if (HeartbeatInterval < TimeSpan.FromMilliseconds(100) || HeartbeatInterval > TimeSpan.FromHours(1))
        {
            yield return prefix + $"{nameof(HeartbeatInterval)} must be between 100 ms and 1 hour; it is {HeartbeatInterval}.";
        }

        if (string.IsNullOrWhiteSpace(HistoryTopic) || !DataMesh.Events.TopicNames.IsValid(HistoryTopic, out _))
        {
            yield return prefix + $"{nameof(HistoryTopic)} '{HistoryTopic}' is not a valid topic name.";
        }

        if (MaxPreparedXaBytes < 1 << 20)
        {
            yield return prefix + $"{nameof(MaxPreparedXaBytes)} must be at least 1 MiB (1048576); it is {MaxPreparedXaBytes}.";
        }
    }

    /// <summary>Whether a table is captured (remembered per table: asked for every rows event).</summary>
    internal bool Captures(string database, string table)
    {
        _captures ??= [];
        if (!_captures.TryGetValue((database, table), out var captured))
        {
            captured = (_filter ??= new Sources.TableFilter(this, SystemDatabases, _always)).Captures(database, table);
            if (_captures.Count > 65_536)
            {
                _captures.Clear();
            }

            _captures[(database, table)] = captured;
        }

        return captured;
    }

    /// <summary>Captures <paramref name="tables"/> (<c>database.table</c>: the snapshots' watermark and signal tables)
    /// whatever the patterns say.</summary>
    internal void CaptureAlways(IReadOnlyList<string> tables)
    {
        _always = tables;
        _filter = null;
        _captures = null;
    }

    /// <inheritdoc/>
    protected override IEnumerable<(string Setting, string Resource)> ExclusiveResources(string sourceName)
    {
        MySqlConnectionStringBuilder builder;
        try
        {
            builder = new MySqlConnectionStringBuilder(ConnectionString);
        }
        catch (ArgumentException)
        {
            yield break; // Validate says why
        }

        // The server ends an older replica connection when another registers with the same id.
        yield return ("server_id", string.Create(System.Globalization.CultureInfo.InvariantCulture,
            $"server_id {EffectiveServerId(sourceName)} on {builder.Server.ToLowerInvariant()}:{builder.Port}"));
    }

    /// <summary>The server id to register with.</summary>
    internal uint EffectiveServerId(string sourceName)
    {
        if (ServerId != 0)
        {
            return ServerId;
        }

        var hash = 2166136261u;
        foreach (var c in sourceName)
        {
            hash = (hash ^ c) * 16777619u;
        }

        return 1_000_000 + (hash % 1_000_000);
    }
}
