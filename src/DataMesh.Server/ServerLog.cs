using Microsoft.Extensions.Logging;

namespace DataMesh.Server;

/// <summary>Log messages of DataMesh's HTTP face (event ids 8000-8099). Never a request body, a schema's text or a credential.</summary>
internal static partial class ServerLog
{
    [LoggerMessage(EventId = 8000, Level = LogLevel.Information, Message = "Schema Registry API mapped at '{Prefix}/' over {Store}{Mode}")]
    public static partial void RegistryMapped(ILogger logger, string prefix, string store, string mode);

    [LoggerMessage(EventId = 8001, Level = LogLevel.Information, Message = "Schema Registry API: subject '{Subject}' registered schema id {Id}")]
    public static partial void Registered(ILogger logger, string subject, int id);

    [LoggerMessage(EventId = 8002, Level = LogLevel.Information, Message = "Schema Registry API: subject '{Subject}' version {Version} deleted")]
    public static partial void Deleted(ILogger logger, string subject, int version);

    [LoggerMessage(EventId = 8003, Level = LogLevel.Information, Message = "Schema Registry API: compatibility of {Scope} set to {Level}")]
    public static partial void CompatibilitySet(ILogger logger, string scope, string level);

    [LoggerMessage(EventId = 8004, Level = LogLevel.Error, Message = "Schema Registry API: {Method} {Route} failed in the schema store (error {ErrorCode})")]
    public static partial void StoreFailed(ILogger logger, string method, string route, int errorCode, Exception exception);

    [LoggerMessage(EventId = 8005, Level = LogLevel.Warning, Message = "Schema Registry API: {Method} {Route} refused: {Reason}")]
    public static partial void Refused(ILogger logger, string method, string route, string reason);

    [LoggerMessage(EventId = 8010, Level = LogLevel.Information, Message = "Controller API mapped at '{Prefix}/', web page at '{Page}': {Access}")]
    public static partial void ControllerMapped(ILogger logger, string prefix, string page, string access);

    [LoggerMessage(EventId = 8011, Level = LogLevel.Warning, Message = "Controller API: no bearer token or client certificate is configured and the server listens on {Addresses}: only requests over loopback are answered, others get 401; set DataMesh:Server:Controller:BearerToken or ClientCertificates:CaPaths to open it")]
    public static partial void ControllerLoopbackOnly(ILogger logger, string addresses);

    [LoggerMessage(EventId = 8012, Level = LogLevel.Information, Message = "Controller API not mapped: the host has no KafkaConnection (call services.AddDataMesh())")]
    public static partial void ControllerNotMapped(ILogger logger);

    [LoggerMessage(EventId = 8013, Level = LogLevel.Information, Message = "Controller API: {Change} ({What})")]
    public static partial void ControllerChanged(ILogger logger, string change, string what);

    [LoggerMessage(EventId = 8014, Level = LogLevel.Warning, Message = "Controller API: {Method} {Route} refused: {Reason}")]
    public static partial void ControllerRefused(ILogger logger, string method, string route, string reason);

    [LoggerMessage(EventId = 8015, Level = LogLevel.Error, Message = "Controller API: {Method} {Route} failed")]
    public static partial void ControllerFailed(ILogger logger, string method, string route, Exception exception);

    [LoggerMessage(EventId = 8016, Level = LogLevel.Warning, Message = "Controller API: {Method} {Route} refused the client certificate '{Subject}' (SHA-256 {Thumbprint}): {Reason}")]
    public static partial void ControllerCertificateRefused(ILogger logger, string method, string route, string subject, string thumbprint, string reason);

    [LoggerMessage(EventId = 8017, Level = LogLevel.Warning, Message = "Controller API: client certificates are required but the server listens on {Addresses}, none over HTTPS: no request can present one unless a proxy forwards it (UseCertificateForwarding)")]
    public static partial void ControllerCertificatesWithoutHttps(ILogger logger, string addresses);
}
