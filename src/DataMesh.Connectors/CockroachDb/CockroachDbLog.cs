using Microsoft.Extensions.Logging;

namespace DataMesh.Connectors.CockroachDb;

/// <summary>The CockroachDB source's log messages (event ids 1400-1499). No password and no row value is ever logged.</summary>
internal static partial class CockroachDbLog
{
    [LoggerMessage(1400, LogLevel.Information, "CockroachDB source '{Source}' connecting to {Host}:{Port}/{Database} as '{User}' (SSL Mode {SslMode})")]
    public static partial void Connecting(ILogger logger, string source, string? host, int port, string? database, string? user, string sslMode);

    [LoggerMessage(1401, LogLevel.Information, "CockroachDB source '{Source}' connected to {Version}")]
    public static partial void Connected(ILogger logger, string source, string version);

    [LoggerMessage(1402, LogLevel.Information, "CockroachDB source '{Source}' starting a changefeed on {Count} tables from cursor {Cursor} ({From}, initial scan {InitialScan})")]
    public static partial void Starting(ILogger logger, string source, int count, string cursor, string from, bool initialScan);

    [LoggerMessage(1403, LogLevel.Debug, "CockroachDB source '{Source}' resolved timestamp {Resolved}")]
    public static partial void Resolved(ILogger logger, string source, string resolved);

    [LoggerMessage(1404, LogLevel.Information, "CockroachDB source '{Source}': table {Table} changed shape at {Hlc} (schema_change_policy backfill re-emits its rows as updates); registering its new schema")]
    public static partial void SchemaChanged(ILogger logger, string source, string table, string hlc);

    [LoggerMessage(1405, LogLevel.Warning, "CockroachDB source '{Source}': the stored position {Cursor} is older than the garbage-collection threshold ({Reason}); ExpiredCursor is Rescan, so a new initial scan starts now. Rows deleted since {Cursor} are not seen as deletes")]
    public static partial void Rescanning(ILogger logger, string source, string cursor, string reason);

    [LoggerMessage(1406, LogLevel.Information, "CockroachDB source '{Source}': initial scan done at {Resolved}")]
    public static partial void ScanDone(ILogger logger, string source, string resolved);

    [LoggerMessage(1407, LogLevel.Debug, "CockroachDB source '{Source}': waiting for its start position {Position} to be stored before the changefeed starts")]
    public static partial void StoringStart(ILogger logger, string source, string position);

    [LoggerMessage(1408, LogLevel.Information, "CockroachDB source '{Source}' found new tables {Tables} at {Hlc}; its changefeed ends at the next resolved timestamp to add them")]
    public static partial void TablesFound(ILogger logger, string source, string tables, string hlc);

    [LoggerMessage(1409, LogLevel.Information, "CockroachDB source '{Source}' adding tables {Tables}: their rows as of {Cursor} (as creates), then one changefeed of every table from {Cursor}")]
    public static partial void AddingTables(ILogger logger, string source, string tables, string cursor);

    [LoggerMessage(1410, LogLevel.Information, "CockroachDB source '{Source}' stopping: waiting up to {Wait} for a resolved timestamp past the changes it handed over, so that a restart repeats none of them")]
    public static partial void StopWaitsForResolved(ILogger logger, string source, TimeSpan wait);

    [LoggerMessage(1411, LogLevel.Information, "CockroachDB source '{Source}' stopping at resolved timestamp {Resolved}, past every change it handed over")]
    public static partial void StoppedAtResolved(ILogger logger, string source, string resolved);

    [LoggerMessage(1412, LogLevel.Warning, "CockroachDB source '{Source}': table {Table} was dropped, and CockroachDB ended the changefeed; the other tables go on from resolved timestamp {Resolved}. The dropped table is no longer captured (its topic is kept; a table created again with its name is added as a new table); changes to it after {Resolved} that had not arrived before the drop may be missing: a changefeed cannot target a dropped table")]
    public static partial void TableDropped(ILogger logger, string source, string table, string resolved);

    [LoggerMessage(1413, LogLevel.Warning, "CockroachDB source '{Source}': table {Table} of the position it resumes from ({Resolved}) no longer exists (dropped, or no longer matched by the table settings) and is no longer captured (its topic is kept); changes to it after {Resolved} may be missing")]
    public static partial void TableGone(ILogger logger, string source, string table, string resolved);

    [LoggerMessage(1414, LogLevel.Information, "CockroachDB source '{Source}': table {Table}'s computed columns {Columns} are not in its changefeed's rows (VIRTUAL columns, which a changefeed leaves out) and are not captured; the table is registered without them")]
    public static partial void VirtualColumnsLeftOut(ILogger logger, string source, string table, string columns);

    [LoggerMessage(1415, LogLevel.Information, "CockroachDB source '{Source}': table {Table}'s rows at {Hlc} are keyed by other columns than its primary key as the source knew it (ALTER PRIMARY KEY); registering the table with the key of that time")]
    public static partial void KeyChanged(ILogger logger, string source, string table, string hlc);

    [LoggerMessage(1416, LogLevel.Warning, "CockroachDB source '{Source}': CockroachDB refused the changefeed's cursor {Cursor} as in the future ({Reason}): the clock of the node planning the changefeed is behind the one the cursor was read from; creating it again shortly")]
    public static partial void CursorInFuture(ILogger logger, string source, string cursor, string reason);
}
