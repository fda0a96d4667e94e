using Microsoft.Extensions.Logging;

namespace DataMesh.Schemas;

/// <summary>Log messages of the schema stores (event ids 4100-4199).</summary>
internal static partial class SchemaStoreLog
{
    [LoggerMessage(EventId = 4100, Level = LogLevel.Information, Message = "Schema store reading topic '{Topic}' from offset 0")]
    public static partial void Started(ILogger logger, string topic);

    [LoggerMessage(EventId = 4101, Level = LogLevel.Debug, Message = "Schema log offset {Offset}: subject '{Subject}' version {Version} has id {Id}")]
    public static partial void Registered(ILogger logger, long offset, string subject, int version, int id);

    [LoggerMessage(EventId = 4102, Level = LogLevel.Debug, Message = "Schema log offset {Offset}: registration for subject '{Subject}' rejected as incompatible")]
    public static partial void Rejected(ILogger logger, long offset, string subject);

    [LoggerMessage(EventId = 4103, Level = LogLevel.Warning, Message = "Schema log offset {Offset} skipped: {Reason}")]
    public static partial void Skipped(ILogger logger, long offset, string reason);

    [LoggerMessage(EventId = 4104, Level = LogLevel.Warning, Message = "Schema store consumer error on topic '{Topic}': {Reason}")]
    public static partial void ConsumeError(ILogger logger, string topic, string reason);

    [LoggerMessage(EventId = 4105, Level = LogLevel.Error, Message = "Schema store reader of topic '{Topic}' stopped")]
    public static partial void ReaderFailed(ILogger logger, string topic, Exception exception);

    [LoggerMessage(EventId = 4106, Level = LogLevel.Debug, Message = "Kafka client ({Facility}): {Message}")]
    public static partial void Client(ILogger logger, string facility, string message);

    [LoggerMessage(EventId = 4107, Level = LogLevel.Information, Message = "Schema topic '{Topic}' created")]
    public static partial void TopicCreated(ILogger logger, string topic);

    [LoggerMessage(EventId = 4108, Level = LogLevel.Information, Message = "Schema topic '{Topic}' is store {Store}: ids from {IdBase}, {Records} records read")]
    public static partial void Loaded(ILogger logger, string topic, Guid store, int idBase, long records);

    [LoggerMessage(EventId = 4109, Level = LogLevel.Warning, Message = "Schema topic '{Topic}' ({Records} records) was written by an earlier DataMesh, without a store identity: its ids are offset + 1, so a copy of the topic deleted and created again would give the same ids to other schemas")]
    public static partial void LoadedLegacy(ILogger logger, string topic, long records);

    [LoggerMessage(EventId = 4110, Level = LogLevel.Information, Message = "Schema log offset {Offset}: subject '{Subject}' version {Version} deleted")]
    public static partial void Deleted(ILogger logger, long offset, string subject, int version);
}
