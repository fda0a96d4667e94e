using Microsoft.Extensions.Logging;

namespace DataMesh.Pipelines.Sinks;

/// <summary>The JSON Lines sink's log messages (event ids 5100-5149). Never a record's content.</summary>
internal static partial class JsonLinesSinkLog
{
    [LoggerMessage(EventId = 5100, Level = LogLevel.Information, Message = "Pipeline '{Pipeline}' writes JSON Lines to {Path}")]
    public static partial void Started(ILogger logger, string pipeline, string path);

    [LoggerMessage(EventId = 5101, Level = LogLevel.Debug, Message = "Pipeline '{Pipeline}' opened {File} for appending")]
    public static partial void Opened(ILogger logger, string pipeline, string file);

    [LoggerMessage(EventId = 5102, Level = LogLevel.Warning, Message = "Pipeline '{Pipeline}': the schema store has no key schema with id {SchemaId}; keys framed with it are written as base64")]
    public static partial void UnknownKeySchema(ILogger logger, string pipeline, int schemaId);

    [LoggerMessage(EventId = 5103, Level = LogLevel.Warning, Message = "Pipeline '{Pipeline}' could not append to {File}; the batch fails and the file is reopened for the next one: {Reason}")]
    public static partial void AppendFailed(ILogger logger, string pipeline, string file, string reason);

    [LoggerMessage(EventId = 5104, Level = LogLevel.Information, Message = "Pipeline '{Pipeline}' found {File} ending in the middle of a line (an interrupted write); the next line starts on a new line")]
    public static partial void TornLine(ILogger logger, string pipeline, string file);
}
