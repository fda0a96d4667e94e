using DataMesh.Hosting;
using DataMesh.Schemas;
using Microsoft.Extensions.Logging;

namespace DataMesh.Pipelines.Sinks;

/// <summary>What a sink gets from its pipeline when it starts.</summary>
/// <param name="PipelineName">The pipeline's name.</param>
/// <param name="Schemas">The schema store: key and value schemas by id, and registration of output schemas.</param>
/// <param name="Kafka">The pipeline's Kafka connection.</param>
/// <param name="LoggerFactory">Creates the sink's logger.</param>
public sealed record SinkContext(string PipelineName, ISchemaStore Schemas, KafkaConnection Kafka, ILoggerFactory LoggerFactory);
