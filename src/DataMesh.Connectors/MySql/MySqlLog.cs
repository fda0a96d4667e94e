using Microsoft.Extensions.Logging;

namespace DataMesh.Connectors.MySql;

/// <summary>Log messages of the MySQL/MariaDB connector (event ids 2000-2099). No row content and no password is logged.</summary>
internal static partial class MySqlLog
{
    [LoggerMessage(EventId = 2000, Level = LogLevel.Information, Message = "MySQL source '{Source}' starting at {Position} (server {ServerVersion})")]
    public static partial void Starting(ILogger logger, string source, string position, string serverVersion);

    [LoggerMessage(EventId = 2001, Level = LogLevel.Warning, Message = "MySQL source '{Source}' has no stored position: starting at the server's current position {Position} with the schema of {Tables} tables from information_schema; changes made before now are not in the log it reads, the rows already there come from the initial snapshot unless Snapshot:Initial is None (on the embedded Kafka cluster positions are lost when the process ends)")]
    public static partial void FirstStart(ILogger logger, string source, string position, int tables);

    [LoggerMessage(EventId = 2002, Level = LogLevel.Information, Message = "MySQL source '{Source}' restored the schema of {Tables} tables as of {Position} from the schema history")]
    public static partial void SchemaRestored(ILogger logger, string source, int tables, string position);

    [LoggerMessage(EventId = 2003, Level = LogLevel.Information, Message = "MySQL source '{Source}' connected to {Host}:{Port} as replica {ServerId} ({AuthPlugin}, TLS {Tls}), dumping from {Position}")]
    public static partial void Connected(ILogger logger, string source, string host, int port, uint serverId, string authPlugin, string tls, string position);


    [LoggerMessage(EventId = 2005, Level = LogLevel.Information, Message = "MySQL source '{Source}': DDL at {File}:{Position} changed {Tables}")]
    public static partial void SchemaChanged(ILogger logger, string source, string? file, long position, string tables);

    [LoggerMessage(EventId = 2006, Level = LogLevel.Warning, Message = "MySQL source '{Source}' skipped a DDL statement at {File}:{Position} that it cannot apply ({Reason}); SkipUnparseableDdl is set")]
    public static partial void DdlSkipped(ILogger logger, string source, string? file, long position, string reason);





    [LoggerMessage(EventId = 2011, Level = LogLevel.Warning, Message = "MySQL source '{Source}': table `{Database}`.`{Table}` was not in the tracked schema; described it from its TABLE_MAP (binlog_row_metadata=FULL)")]
    public static partial void TableFromMap(ILogger logger, string source, string database, string table);

    [LoggerMessage(EventId = 2012, Level = LogLevel.Information, Message = "MySQL source '{Source}': table `{Database}`.`{Table}` truncated at {File}:{Position}")]
    public static partial void Truncated(ILogger logger, string source, string database, string table, string file, long position);

    [LoggerMessage(EventId = 2013, Level = LogLevel.Warning, Message = "MySQL source '{Source}': table `{Database}`.`{Table}` truncated at {File}:{Position}; no truncate event, because its topic is compacted (Events.Tombstones) and Kafka refuses records without a key there")]
    public static partial void TruncateNotEmitted(ILogger logger, string source, string database, string table, string file, long position);

    [LoggerMessage(EventId = 2014, Level = LogLevel.Warning, Message = "MySQL source '{Source}': XA COMMIT of {Xid} at {File}:{Position}, whose XA PREPARE came before the position the source started from; its row changes on captured tables, if any, are not in the stream")]
    public static partial void XaCommitWithoutPrepare(ILogger logger, string source, string xid, string? file, long position);

    [LoggerMessage(EventId = 2015, Level = LogLevel.Warning, Message = "MySQL source '{Source}': the server has binlog_row_image={RowImage}; rows logged without whole images stop the source. Run SET GLOBAL binlog_row_image=FULL and set it in the server's configuration (a session can still set its own; see docs/mysql.md)")]
    public static partial void RowImageNotFull(ILogger logger, string source, string rowImage);

    [LoggerMessage(EventId = 2016, Level = LogLevel.Warning, Message = "MySQL source '{Source}': the DEFAULT of column '{Column}' of `{Database}`.`{Table}` ({Literal}) is not carried into its Avro field's default, since the value the server gave the older rows cannot be told exactly from it (a TIMESTAMP, a form the server rounds or normalises, a non-ASCII or escaped string; see docs/mysql.md, Column defaults): a NOT NULL field without a default follows IncompatibleSchemaChange")]
    public static partial void DefaultNotCarried(ILogger logger, string source, string database, string table, string column, string literal);
}
