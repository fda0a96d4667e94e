using DataMesh.Hosting;
using DataMesh.Schemas;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace DataMesh.Connectors.MySql;

/// <summary>Runs one MySQL/MariaDB source connector as a hosted service; an error it cannot recover from stops the host.</summary>
internal sealed class MySqlSourceService : BackgroundService
{
    private readonly MySqlSourceOptions _options;
    private readonly IOptions<DataMeshOptions> _dataMesh;
    private readonly KafkaConnection _kafka;
    private readonly ISchemaStore _schemas;
    private readonly ILogger _logger;

    public MySqlSourceService(MySqlSourceOptions options, IOptions<DataMeshOptions> dataMesh, KafkaConnection kafka, ISchemaStore schemas, ILoggerFactory loggers)
    {
        _options = options;
        _dataMesh = dataMesh;
        _kafka = kafka;
        _schemas = schemas;
        _logger = loggers.CreateLogger("DataMesh.Connectors.MySql." + options.Name);
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        // Let the host finish starting before the connector's first (blocking) Kafka reads.
        await Task.Yield();
        using var connector = new MySqlSourceConnector(_options, _dataMesh.Value.Events, _kafka, _schemas, _logger);
        try
        {
            await connector.RunAsync(stoppingToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
            // stopping
        }
    }
}
