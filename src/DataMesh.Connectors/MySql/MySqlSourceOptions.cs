using DataMesh.Events;
using MySqlConnector;

namespace DataMesh.Connectors.MySql;

/// <summary>Settings of one MySQL/MariaDB source connector (<c>AddMySqlSource</c>).</summary>
public sealed class MySqlSourceOptions
{
    internal const long DefaultMaxPreparedXaBytes = 64L << 20;

    /// <summary>The source's logical name: the second part of its topics and its key in the offsets topic. Required.</summary>
    public string Name { get; set; } = string.Empty;

    /// <summary>A MySqlConnector connection string (Server, Port, User ID, Password, SslMode, ServerRSAPublicKeyFile,
    /// AllowPublicKeyRetrieval, Connection Timeout). The user needs REPLICATION SLAVE, REPLICATION CLIENT (MariaDB:
    /// BINLOG MONITOR) and SELECT. Required.</summary>
    public string ConnectionString { get; set; } = string.Empty;

    /// <summary>The server id this client registers with, unique among the server's replicas. 0 (the default)
    /// derives one from <see cref="Name"/> in 1 000 000 .. 1 999 999.</summary>
    public uint ServerId { get; set; }

    /// <summary>Databases to capture; empty captures every database but the system ones.</summary>
    public IList<string> Databases { get; } = [];

    /// <summary>Tables to capture as <c>database.table</c>; empty captures every table of <see cref="Databases"/>.</summary>
    public IList<string> Tables { get; } = [];

    /// <summary>Whether to resume from GTID positions where the server has GTIDs (MariaDB always; MySQL with
    /// <c>gtid_mode=ON</c>), rather than from file and position. Default true.</summary>
    public bool UseGtid { get; set; } = true;

    /// <summary>How often the server sends a heartbeat when it has nothing to send; a connection silent for three
    /// intervals is treated as broken. Default 5 seconds.</summary>
    public TimeSpan HeartbeatInterval { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>The first wait before reconnecting after a broken connection; doubled up to <see cref="MaxReconnectDelay"/>. Default 200 ms.</summary>
    public TimeSpan ReconnectDelay { get; set; } = TimeSpan.FromMilliseconds(200);

    /// <summary>The longest wait between reconnection attempts. Default 30 seconds.</summary>
    public TimeSpan MaxReconnectDelay { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>How often acknowledged positions are saved to the offsets topic. Default 1 second.</summary>
    public TimeSpan PositionSaveInterval { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>Whether a DDL statement that cannot be parsed is skipped with a warning instead of stopping the
    /// connector. Default false: a wrong column mapping is worse than a stop.</summary>
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

    /// <summary>Partitions of each table topic when the connector creates it. Default 1.</summary>
    public int TopicPartitions { get; set; } = 1;

    /// <summary>The change-event contract's settings for this source; null to use <c>DataMeshOptions.Events</c>.</summary>
    public ChangeEventOptions? Events { get; set; }

    /// <summary>Checks the settings.</summary>
    /// <exception cref="ArgumentException">A setting is invalid; the message names it.</exception>
    public void Validate()
    {
        if (string.IsNullOrWhiteSpace(Name) || !TopicNames.IsValid(Name, out _) || Name.Contains('.', StringComparison.Ordinal))
        {
            throw new ArgumentException($"MySqlSourceOptions.{nameof(Name)} '{Name}' must be a non-empty topic name part (A-Z, a-z, 0-9, '_', '-').", nameof(Name));
        }

        if (string.IsNullOrWhiteSpace(ConnectionString))
        {
            throw new ArgumentException($"MySqlSourceOptions.{nameof(ConnectionString)} of source '{Name}' is required.", nameof(ConnectionString));
        }

        MySqlConnectionStringBuilder builder;
        try
        {
            builder = new MySqlConnectionStringBuilder(ConnectionString);
        }
        catch (ArgumentException ex)
        {
            throw new ArgumentException($"MySqlSourceOptions.{nameof(ConnectionString)} of source '{Name}' is not a valid connection string: {ex.Message}", nameof(ConnectionString), ex);
        }

        if (string.IsNullOrWhiteSpace(builder.Server) || string.IsNullOrWhiteSpace(builder.UserID))
        {
            throw new ArgumentException($"MySqlSourceOptions.{nameof(ConnectionString)} of source '{Name}' needs Server and User ID.", nameof(ConnectionString));
        }

        foreach (var table in Tables)
        {
            if (table.Split('.').Length != 2)
            {
                throw new ArgumentException($"MySqlSourceOptions.{nameof(Tables)} entry '{table}' of source '{Name}' must be 'database.table'.", nameof(Tables));
            }
        }

        if (HeartbeatInterval < TimeSpan.FromMilliseconds(100) || HeartbeatInterval > TimeSpan.FromHours(1))
        {
            throw new ArgumentException($"MySqlSourceOptions.{nameof(HeartbeatInterval)} of source '{Name}' must be between 100 ms and 1 hour.", nameof(HeartbeatInterval));
        }

        if (ReconnectDelay <= TimeSpan.Zero || MaxReconnectDelay < ReconnectDelay)
        {
            throw new ArgumentException($"MySqlSourceOptions.{nameof(ReconnectDelay)} of source '{Name}' must be positive and at most {nameof(MaxReconnectDelay)}.", nameof(ReconnectDelay));
        }

        if (PositionSaveInterval <= TimeSpan.Zero)
        {
            throw new ArgumentException($"MySqlSourceOptions.{nameof(PositionSaveInterval)} of source '{Name}' must be positive.", nameof(PositionSaveInterval));
        }

        if (string.IsNullOrWhiteSpace(HistoryTopic) || !TopicNames.IsValid(HistoryTopic, out _))
        {
            throw new ArgumentException($"MySqlSourceOptions.{nameof(HistoryTopic)} '{HistoryTopic}' of source '{Name}' is not a valid topic name.", nameof(HistoryTopic));
        }

        if (MaxPreparedXaBytes < 1 << 20)
        {
            throw new ArgumentException($"MySqlSourceOptions.{nameof(MaxPreparedXaBytes)} of source '{Name}' must be at least 1 MiB (1048576).", nameof(MaxPreparedXaBytes));
        }

        if (TopicPartitions < 1)
        {
            throw new ArgumentException($"MySqlSourceOptions.{nameof(TopicPartitions)} of source '{Name}' must be at least 1.", nameof(TopicPartitions));
        }

        Events?.Validate();
    }

    /// <summary>Whether a table is captured.</summary>
    internal bool Captures(string database, string table)
    {
        if (database is "mysql" or "information_schema" or "performance_schema" or "sys")
        {
            return false;
        }

        if (Tables.Count > 0)
        {
            foreach (var entry in Tables)
            {
                var dot = entry.IndexOf('.', StringComparison.Ordinal);
                if (entry.AsSpan(0, dot).Equals(database, StringComparison.Ordinal) && entry.AsSpan(dot + 1).Equals(table, StringComparison.Ordinal))
                {
                    return true;
                }
            }

            return false;
        }

        return Databases.Count == 0 || Databases.Contains(database, StringComparer.Ordinal);
    }

    /// <summary>The server id to register with.</summary>
    internal uint EffectiveServerId()
    {
        if (ServerId != 0)
        {
            return ServerId;
        }

        var hash = 2166136261u;
        foreach (var c in Name)
        {
            hash = (hash ^ c) * 16777619u;
        }

        return 1_000_000 + (hash % 1_000_000);
    }
}
