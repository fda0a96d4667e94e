using Microsoft.Extensions.Logging;

namespace DataMesh.Hosting;

/// <summary>Log messages of DataMesh's hosting and Kafka connection (event ids 4000-4099).</summary>
internal static partial class HostingLog
{
    [LoggerMessage(EventId = 4000, Level = LogLevel.Warning, Message =
        "DataMesh runs on the embedded Kafka cluster ({Brokers} broker(s) at {BootstrapServers}, librdkafka's in-process mock), " +
        "which keeps nothing beyond this process: topics, schemas, source positions and consumer offsets are in memory and lost when the process ends, " +
        "and each partition keeps at most 5 MB (its oldest records are dropped past that). It is meant for demos, tests and development; " +
        "in production set DataMesh:Kafka:BootstrapServers to a real Kafka cluster")]
    public static partial void EmbeddedClusterStarted(ILogger logger, int brokers, string bootstrapServers);

    [LoggerMessage(EventId = 4001, Level = LogLevel.Debug, Message = "Kafka admin client ({Facility}): {Message}")]
    public static partial void AdminClient(ILogger logger, string facility, string message);
}
