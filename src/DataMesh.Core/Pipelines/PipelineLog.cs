using Microsoft.Extensions.Logging;

namespace DataMesh.Pipelines;

/// <summary>The pipeline runtime's log messages (event ids 5000-5099). Never a record's content.</summary>
internal static partial class PipelineLog
{
    [LoggerMessage(EventId = 5000, Level = LogLevel.Information, Message = "Pipeline '{Pipeline}' started: {Sources} -> {Target} via sink '{Sink}', group '{Group}', {Workers} workers")]
    public static partial void Started(ILogger logger, string pipeline, string sources, string target, string sink, string group, int workers);

    [LoggerMessage(EventId = 5001, Level = LogLevel.Information, Message = "Pipeline '{Pipeline}' stopped after {Records} records")]
    public static partial void Stopped(ILogger logger, string pipeline, long records);

    [LoggerMessage(EventId = 5002, Level = LogLevel.Information, Message = "Pipeline '{Pipeline}' planned schema {SchemaId} ({Schema}): {Stages} stages, output schema {OutputSchema}")]
    public static partial void Planned(ILogger logger, string pipeline, int schemaId, string schema, int stages, string outputSchema);

    [LoggerMessage(EventId = 5003, Level = LogLevel.Warning, Message = "Pipeline '{Pipeline}' dead-lettered {Topic}[{Partition}]@{Offset} at stage '{Stage}': {Reason}")]
    public static partial void DeadLettered(ILogger logger, string pipeline, string topic, int partition, long offset, string stage, string reason);

    [LoggerMessage(EventId = 5004, Level = LogLevel.Error, Message = "Pipeline '{Pipeline}' stopped on {Topic}[{Partition}]@{Offset} at stage '{Stage}': {Reason}")]
    public static partial void StoppedOnError(ILogger logger, string pipeline, string topic, int partition, long offset, string stage, string reason);

    [LoggerMessage(EventId = 5005, Level = LogLevel.Debug, Message = "Pipeline '{Pipeline}' committed {Count} partition offsets")]
    public static partial void Committed(ILogger logger, string pipeline, int count);

    [LoggerMessage(EventId = 5006, Level = LogLevel.Warning, Message = "Pipeline '{Pipeline}' could not commit offsets: {Reason}")]
    public static partial void CommitFailed(ILogger logger, string pipeline, string reason);

    [LoggerMessage(EventId = 5007, Level = LogLevel.Information, Message = "Pipeline '{Pipeline}' partitions revoked: {Partitions}")]
    public static partial void Revoked(ILogger logger, string pipeline, string partitions);

    [LoggerMessage(EventId = 5008, Level = LogLevel.Warning, Message = "Pipeline '{Pipeline}' Kafka consumer error: {Reason}")]
    public static partial void ConsumerError(ILogger logger, string pipeline, string reason);

    [LoggerMessage(EventId = 5009, Level = LogLevel.Warning, Message = "Pipeline '{Pipeline}': sink '{Sink}' failed a batch of {Count} records (attempt {Attempt}), trying again in {DelayMs} ms: {Reason}")]
    public static partial void SinkRetry(ILogger logger, string pipeline, string sink, int count, int attempt, double delayMs, string reason);

    [LoggerMessage(EventId = 5010, Level = LogLevel.Warning, Message = "Pipeline '{Pipeline}' could not read schema {SchemaId} (attempt {Attempt}), trying again: {Reason}")]
    public static partial void SchemaRetry(ILogger logger, string pipeline, int schemaId, int attempt, string reason);

    [LoggerMessage(EventId = 5011, Level = LogLevel.Error, Message = "Pipeline '{Pipeline}' lost records of {Topic}[{Partition}] and stops: {Reason}")]
    public static partial void RecordsLost(ILogger logger, string pipeline, string topic, int partition, string reason);

    [LoggerMessage(EventId = 5012, Level = LogLevel.Information, Message = "Pipeline '{Pipeline}' partitions assigned: {Partitions}")]
    public static partial void Assigned(ILogger logger, string pipeline, string partitions);

    [LoggerMessage(EventId = 5013, Level = LogLevel.Warning, Message = "Pipeline '{Pipeline}': revoked partitions {Partitions} were not written within the {Seconds} s drain; what was read of them and not handed to the sink is dropped, and their next owner reads it again from the committed offset")]
    public static partial void DrainTimedOut(ILogger logger, string pipeline, string partitions, double seconds);

    [LoggerMessage(EventId = 5016, Level = LogLevel.Warning, Message = "Pipeline '{Pipeline}': revoked partitions {Partitions} were not written, as the pipeline stopped on an error; what was read of them and not handed to the sink is dropped, and their next owner reads it again from the committed offset")]
    public static partial void DrainStoppedByError(ILogger logger, string pipeline, string partitions);

    [LoggerMessage(EventId = 5014, Level = LogLevel.Critical, Message = "Pipeline '{Pipeline}' stopped by an error, stopping the host with exit code 1: {Reason}")]
    public static partial void Fatal(ILogger logger, Exception exception, string pipeline, string reason);

    [LoggerMessage(EventId = 5015, Level = LogLevel.Warning, Message = "Pipeline '{Pipeline}' drops records of {Partition} from offset {Offset}: they carry fencing epoch {Epoch}, written by a source process that had lost its lease to the writer of epoch {Latest}, whose records came first (the new holder writes those changes again)")]
    public static partial void Fenced(ILogger logger, string pipeline, string partition, long offset, long epoch, long latest);
}
