using Microsoft.Extensions.Logging;

namespace DataMesh.Connectors.Cassandra.Schema;

/// <summary>Log messages of reading schemas from <c>system_schema</c> (event ids 2480-2489 of the Cassandra connector's
/// 2400-2499). No password and no cell value is logged.</summary>
internal static partial class CassandraSchemaLog
{
    [LoggerMessage(EventId = 2480, Level = LogLevel.Information, Message = "Cassandra source '{Source}' read the schema from system_schema at {Server} ({Authenticator}): {Tables} table(s) captured of {All} in the cluster")]
    public static partial void Read(ILogger logger, string source, string server, string authenticator, int tables, int all);

    [LoggerMessage(EventId = 2481, Level = LogLevel.Warning, Message = "Cassandra source '{Source}': table {Table} is selected but has cdc = false in system_schema, so its mutations never reach cdc_raw; run ALTER TABLE {Table} WITH cdc = true to capture it")]
    public static partial void CdcOff(ILogger logger, string source, string table);

    [LoggerMessage(EventId = 2482, Level = LogLevel.Information, Message = "Cassandra source '{Source}' reads system_schema again: {Reason}")]
    public static partial void Rereading(ILogger logger, string source, string reason);
}
