using Microsoft.Extensions.Logging;

namespace DataMesh.ControlPlane.Controller;

/// <summary>The definition runner's logs (event ids 9000-9099).</summary>
internal static partial class ControllerLog
{
    [LoggerMessage(EventId = 9000, Level = LogLevel.Information, Message = "Runner {Runner}: running generation {Generation} of the applied definition ({Components} components)")]
    public static partial void Generation(ILogger logger, string runner, long generation, int components);

    [LoggerMessage(EventId = 9001, Level = LogLevel.Information, Message = "Runner {Runner}: {Component} {Action}")]
    public static partial void Component(ILogger logger, string runner, string component, string action);

    [LoggerMessage(EventId = 9002, Level = LogLevel.Error, Message = "Runner {Runner}: {Component} failed and stays stopped until the definition changes or 'datamesh resume' restarts it: {Reason}")]
    public static partial void ComponentFailed(ILogger logger, Exception? exception, string runner, string component, string reason);

    [LoggerMessage(EventId = 9003, Level = LogLevel.Error, Message = "Runner {Runner}: generation {Generation} of the applied definition cannot run here; this runner stops what it runs until a version it can run is applied: {Reason}")]
    public static partial void DefinitionRefused(ILogger logger, string runner, long generation, string reason);

    [LoggerMessage(EventId = 9004, Level = LogLevel.Warning, Message = "Runner {Runner}: the controller's state could not be read ({Reason}); trying again")]
    public static partial void StateUnreadable(ILogger logger, string runner, string reason);

    [LoggerMessage(EventId = 9005, Level = LogLevel.Information, Message = "Runner {Runner}: snapshot {Id} of source {Source} handed to the source ({Tables})")]
    public static partial void SnapshotRequested(ILogger logger, string runner, string id, string source, string tables);

    [LoggerMessage(EventId = 9007, Level = LogLevel.Warning, Message = "Runner {Runner}: snapshot {Id} of source {Source} was refused and the source goes on: {Reason}")]
    public static partial void SnapshotRefused(ILogger logger, string runner, string id, string source, string reason);

    [LoggerMessage(EventId = 9006, Level = LogLevel.Warning, Message = "Runner {Runner}: the status of {Component} could not be reported ({Reason})")]
    public static partial void StatusUnwritten(ILogger logger, string runner, string component, string reason);
}
