using Microsoft.Extensions.Logging;

namespace DataMesh.Sources;

/// <summary>The snapshots' log messages (event ids 7100-7199).</summary>
internal static partial class SnapshotLog
{
    [LoggerMessage(7100, LogLevel.Information, "Source '{Source}' snapshot of {Table} requested ({Rows})")]
    public static partial void TableRequested(ILogger logger, string source, string table, string rows);

    [LoggerMessage(7101, LogLevel.Information, "Source '{Source}' snapshot of {Table}: {Done} rows of about {Estimate}, {Rate:F0} rows/s, {Left} left")]
    public static partial void Progress(ILogger logger, string source, string table, long done, long? estimate, double rate, TimeSpan? left);

    [LoggerMessage(7102, LogLevel.Information, "Source '{Source}' snapshot of {Table} done: {Rows} rows")]
    public static partial void TableDone(ILogger logger, string source, string table, long rows);

    [LoggerMessage(7103, LogLevel.Error, "Source '{Source}' cannot snapshot {Table}: {Reason}")]
    public static partial void TableSkipped(ILogger logger, string source, string table, string reason);

    [LoggerMessage(7104, LogLevel.Information, "Source '{Source}' snapshot {What}")]
    public static partial void Control(ILogger logger, string source, string what);

    [LoggerMessage(7105, LogLevel.Information, "Source '{Source}' signal {Id}: {Type}")]
    public static partial void Signal(ILogger logger, string source, string id, string type);

    [LoggerMessage(7106, LogLevel.Warning, "Source '{Source}' signal {Id} refused: {Reason}")]
    public static partial void SignalRefused(ILogger logger, string source, string id, string reason);

    [LoggerMessage(7107, LogLevel.Warning, "Source '{Source}' snapshot of {Table}: the log has not reached the chunk's high watermark after {Waited} (low watermark seen: {LowSeen}); {Question}")]
    public static partial void WatermarkLate(ILogger logger, string source, string table, TimeSpan waited, bool lowSeen, string question);

    // No key values: a key may hold data a mask transform hides downstream.
    [LoggerMessage(7108, LogLevel.Debug, "Source '{Source}' snapshot of {Table}: chunk read {Read} rows, emitted {Emitted} (the log changed the others inside the window)")]
    public static partial void Chunk(ILogger logger, string source, string table, int read, int emitted);

    [LoggerMessage(7109, LogLevel.Information, "Source '{Source}' snapshot of {Table}: the table's definition changed while a chunk was read; describing it again and reading the chunk again")]
    public static partial void TableChanged(ILogger logger, string source, string table);
}
