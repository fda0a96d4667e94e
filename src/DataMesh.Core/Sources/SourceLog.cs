using Microsoft.Extensions.Logging;

namespace DataMesh.Sources;

/// <summary>The source runtime's log messages (event ids 7000-7099). Never a row's content, never a connection string.</summary>
internal static partial class SourceLog
{
    [LoggerMessage(7000, LogLevel.Information, "Source '{Source}' ({Connector}) starting from {Position}")]
    public static partial void Starting(ILogger logger, string source, string connector, string position);

    [LoggerMessage(7001, LogLevel.Debug, "Source '{Source}' stored position {Position}")]
    public static partial void PositionStored(ILogger logger, string source, string position);

    [LoggerMessage(7002, LogLevel.Warning, "Source '{Source}' failed (attempt {Attempt}) and retries from {Position} in {Delay}: {Reason}")]
    public static partial void Retrying(ILogger logger, Exception exception, string source, int attempt, string reason, string position, TimeSpan delay);

    [LoggerMessage(7003, LogLevel.Critical, "Source '{Source}' stopped by a fatal error: {Reason} ({Outcome})")]
    public static partial void Fatal(ILogger logger, Exception exception, string source, string reason, string outcome);

    [LoggerMessage(7004, LogLevel.Information, "Source '{Source}' stopped at position {Position}")]
    public static partial void Stopped(ILogger logger, string source, string position);

    [LoggerMessage(7005, LogLevel.Warning, "Source '{Source}' stalled: {Reason}")]
    public static partial void Stalled(ILogger logger, string source, string reason);

    [LoggerMessage(7006, LogLevel.Information, "Source '{Source}' is no longer stalled")]
    public static partial void Unstalled(ILogger logger, string source);

    [LoggerMessage(7007, LogLevel.Information, "Source '{Source}' table {Table}: topic '{Topic}', key schema id {KeyId}, envelope schema id {ValueId}")]
    public static partial void TableRegistered(ILogger logger, string source, string table, string topic, int keyId, int valueId);

    [LoggerMessage(7008, LogLevel.Warning, "Source '{Source}' table {Table}: the new schema is incompatible with subject '{Subject}' ({Reason}); IncompatibleSchemaChange NewVersionWithNone set the subject to NONE and registered it")]
    public static partial void IncompatibleSchemaAccepted(ILogger logger, string source, string table, string subject, string reason);

    [LoggerMessage(7009, LogLevel.Warning, "Source '{Source}' stopping: {Count} records were not acknowledged within {Timeout}; they are read again at the next start")]
    public static partial void StopTimedOut(ILogger logger, string source, long count, TimeSpan timeout);

    [LoggerMessage(7010, LogLevel.Error, "Source '{Source}' could not store position {Position}; it is stored with the next one")]
    public static partial void StoreFailed(ILogger logger, Exception exception, string source, string position);

    [LoggerMessage(7011, LogLevel.Warning, "Source '{Source}' could not close its connections cleanly")]
    public static partial void DisposeFailed(ILogger logger, Exception exception, string source);

    [LoggerMessage(7012, LogLevel.Information, "Source '{Source}' standing by: another process holds its lease ({Lease}); it takes over when that one stops or dies")]
    public static partial void StandingBy(ILogger logger, string source, string lease);

    [LoggerMessage(7013, LogLevel.Information, "Source '{Source}' took its lease ({Lease}) after {Waited}")]
    public static partial void LeaseTaken(ILogger logger, string source, string lease, TimeSpan waited);

    [LoggerMessage(7014, LogLevel.Warning, "Source '{Source}' lost its lease ({Lease}): it stopped reading and stores no position until it holds the lease again")]
    public static partial void LeaseLost(ILogger logger, string source, string lease);

    [LoggerMessage(7015, LogLevel.Warning, "Source '{Source}' could not check or take its lease ({Lease}) and tries again: {Reason}")]
    public static partial void LeaseError(ILogger logger, Exception exception, string source, string lease, string reason);

    [LoggerMessage(7016, LogLevel.Information, "Source '{Source}' writes with fencing epoch {Epoch} while it holds its lease ({Lease})")]
    public static partial void EpochTaken(ILogger logger, string source, long epoch, string lease);

    [LoggerMessage(7017, LogLevel.Warning, "Source '{Source}' last confirmed its lease ({Lease}) {Since} ago, longer than the fence's {Validity} (the process may have been paused, or its checks stall): nothing is produced until the lease is confirmed again")]
    public static partial void LeaseConfirmationExpired(ILogger logger, string source, string lease, TimeSpan since, TimeSpan validity);
}
