using Microsoft.Extensions.Logging;

namespace DataMesh.Connectors.Sinks;

/// <summary>The table sinks' log messages (event ids 6000-6099). No password and no row value is ever logged.</summary>
internal static partial class SinkLog
{
    [LoggerMessage(6000, LogLevel.Information, "Table sink '{Sink}' of pipeline '{Pipeline}' started: {Database}, table {Table}, schema evolution {Evolution}")]
    public static partial void Started(ILogger logger, string sink, string pipeline, string database, string table, SchemaEvolution evolution);

    [LoggerMessage(6001, LogLevel.Information, "Table sink '{Sink}' created table {Table} ({Columns} columns, primary key {Key})")]
    public static partial void TableCreated(ILogger logger, string sink, string table, int columns, string key);

    [LoggerMessage(6002, LogLevel.Information, "Table sink '{Sink}' added columns to {Table}: {Columns}")]
    public static partial void ColumnsAdded(ILogger logger, string sink, string table, string columns);

    [LoggerMessage(6003, LogLevel.Warning, "Table sink '{Sink}' skipped a truncate of {Table} ({Topic}[{Partition}]@{Offset}): truncates are not applied to the target")]
    public static partial void TruncateSkipped(ILogger logger, string sink, string table, string topic, int partition, long offset);

    [LoggerMessage(6004, LogLevel.Warning, "Table sink '{Sink}': a batch of {Count} rows failed on a data error ({Reason}); writing it row by row to find the rows at fault")]
    public static partial void RetryingRowByRow(ILogger logger, string sink, int count, string reason);

    [LoggerMessage(6005, LogLevel.Warning, "Table sink '{Sink}' rejected {Topic}[{Partition}]@{Offset}: {Reason}")]
    public static partial void Rejected(ILogger logger, string sink, string topic, int partition, long offset, string reason);

    [LoggerMessage(6006, LogLevel.Debug, "Table sink '{Sink}' wrote a batch of {Records} records: {Upserted} rows upserted, {Deleted} deleted, {Rejected} rejected")]
    public static partial void BatchWritten(ILogger logger, string sink, int records, int upserted, int deleted, int rejected);

    [LoggerMessage(6007, LogLevel.Warning, "Table sink '{Sink}' failed to write a batch (the runtime retries it): {Reason}")]
    public static partial void BatchFailed(ILogger logger, Exception exception, string sink, string reason);
}
