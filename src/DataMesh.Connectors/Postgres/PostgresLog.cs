using Microsoft.Extensions.Logging;

namespace DataMesh.Connectors.Postgres;

/// <summary>The PostgreSQL source's log messages (event ids 1000-1099). No password and no row value is ever logged.</summary>
internal static partial class PostgresLog
{
    [LoggerMessage(1000, LogLevel.Information, "PostgreSQL source '{Source}' connecting to {Host}:{Port}/{Database} as '{User}' (SSL Mode {SslMode}, slot '{Slot}', publication '{Publication}')")]
    public static partial void Connecting(ILogger logger, string source, string? host, int port, string? database, string? user, string sslMode, string slot, string publication);

    [LoggerMessage(1001, LogLevel.Information, "PostgreSQL source '{Source}' created replication slot '{Slot}' (consistent at {Lsn})")]
    public static partial void SlotCreated(ILogger logger, string source, string slot, string lsn);

    [LoggerMessage(1002, LogLevel.Information, "PostgreSQL source '{Source}' set publication '{Publication}' to {Count} tables")]
    public static partial void PublicationSet(ILogger logger, string source, string publication, int count);

    [LoggerMessage(1003, LogLevel.Information, "PostgreSQL source '{Source}' streaming from {Lsn} ({From})")]
    public static partial void Streaming(ILogger logger, string source, string lsn, string from);







    [LoggerMessage(1010, LogLevel.Debug, "PostgreSQL source '{Source}' heartbeat: idle, slot moved to {Lsn}")]
    public static partial void Heartbeat(ILogger logger, string source, string lsn);

    [LoggerMessage(1011, LogLevel.Warning, "PostgreSQL source '{Source}': replication slot '{Slot}' is active for PID {Pid}; waiting for it to be released")]
    public static partial void SlotBusy(ILogger logger, string source, string slot, int pid);

    [LoggerMessage(1013, LogLevel.Warning, "PostgreSQL source '{Source}' added new tables to its publication: {Tables}; their changes are captured from now on (earlier rows need a snapshot)")]
    public static partial void TablesAdded(ILogger logger, string source, string tables);

    [LoggerMessage(1021, LogLevel.Information, "PostgreSQL source '{Source}' added its own tables to its publication: {Tables} (snapshot watermarks and signals, read from the log and never produced)")]
    public static partial void OwnTablesAdded(ILogger logger, string source, string tables);

    [LoggerMessage(1022, LogLevel.Warning, "PostgreSQL source '{Source}': an UPDATE of table {Table} that leaves a large (TOASTed, over about 2 kB) value of column(s) {Columns} unchanged will stop the source, since PostgreSQL does not send that value and these types have no placeholder for it. {Hint}")]
    public static partial void UnplaceableToast(ILogger logger, string source, string table, string columns, string hint);

    [LoggerMessage(1014, LogLevel.Warning, "PostgreSQL source '{Source}' does not capture table {Table}: {Reason} (looked at again every {Interval})")]
    public static partial void TableNotCaptured(ILogger logger, string source, string table, string reason, TimeSpan interval);

    [LoggerMessage(1015, LogLevel.Information, "PostgreSQL source '{Source}' installed event trigger '{Trigger}' (function {Function}): new tables that match its patterns join publication '{Publication}' as they are created, and are captured from their first row")]
    public static partial void EventTriggerInstalled(ILogger logger, string source, string trigger, string function, string publication);

    [LoggerMessage(EventId = 1016, Message = "PostgreSQL source '{Source}' looks for new tables every {Interval}: changes made to a new table before it joins publication '{Publication}' are not captured. {Advice}")]
    public static partial void PollingForNewTables(ILogger logger, LogLevel level, string source, TimeSpan interval, string publication, string advice);

    [LoggerMessage(1017, LogLevel.Information, "PostgreSQL source '{Source}': tables {Tables} joined publication '{Publication}' when they were created (event trigger)")]
    public static partial void TablesJoined(ILogger logger, string source, string tables, string publication);

    [LoggerMessage(1018, LogLevel.Information, "PostgreSQL source '{Source}' removed its event trigger '{Trigger}' of publication '{Publication}' (NewTables is Poll, or the publication is not managed by the source)")]
    public static partial void EventTriggerRemoved(ILogger logger, string source, string trigger, string publication);

    [LoggerMessage(1019, LogLevel.Warning, "PostgreSQL source '{Source}' snapshot: transactions {Xids} reached the log but are still not visible to new snapshots after {Waited} (is a commit waiting for a synchronous standby?); the next chunk waits for them")]
    public static partial void DeliveredNotVisible(ILogger logger, string source, string xids, TimeSpan waited);

    [LoggerMessage(1020, LogLevel.Warning, "PostgreSQL source '{Source}' snapshot: the log has not reached a low watermark row after {Waited}; the chunk waits for it (is the watermark table {Table} in the publication, and is the log reader behind?)")]
    public static partial void LowWatermarkLate(ILogger logger, string source, TimeSpan waited, string table);

    [LoggerMessage(1012, LogLevel.Debug, "PostgreSQL source '{Source}' truncate of {Table}")]
    public static partial void Truncated(ILogger logger, string source, string table);
}
