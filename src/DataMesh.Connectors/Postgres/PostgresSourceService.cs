using System.Net.Sockets;
using DataMesh.Hosting;
using DataMesh.Schemas;
using DataMesh.Sources;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Npgsql;

namespace DataMesh.Connectors.Postgres;

/// <summary>
/// Runs one PostgreSQL source as a hosted service: streams until the host stops, reconnects with exponential backoff
/// after transient failures (a PostgreSQL restart, a network error, Kafka errors), and stops the host with a critical log
/// when the configuration or the data makes going on impossible (<see cref="PostgresSourceException"/>).
/// </summary>
internal sealed class PostgresSourceService(
    string name,
    IOptionsMonitor<PostgresSourceOptions> options,
    IOptions<DataMeshOptions> dataMesh,
    KafkaConnection kafka,
    ISchemaStore schemas,
    PositionStore positions,
    ILoggerFactory loggers) : BackgroundService
{
    private readonly ILogger _logger = loggers.CreateLogger("DataMesh.Connectors.Postgres." + name);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var settings = options.Get(name);
        var metrics = new PostgresMetrics(name);
        var attempt = 0;
        try
        {
            while (true)
            {
                var source = new PostgresSource(name, settings, dataMesh.Value.Events, kafka, schemas, positions, _logger, metrics);
                var streamed = false;
                try
                {
                    await using (source.ConfigureAwait(false))
                    {
                        await source.RunAsync(stoppingToken).ConfigureAwait(false);
                    }

                    return;
                }
                catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
                {
                    return;
                }
                catch (PostgresSourceException ex)
                {
                    PostgresLog.Fatal(_logger, ex, name, ex.Message);
                    throw;
                }
                catch (Exception ex) when (IsTransient(ex))
                {
                    streamed = metrics.AcknowledgedLsn > 0;
                    attempt = streamed && attempt > 3 ? 1 : attempt + 1;
                    var delay = Backoff(settings, attempt);
                    PostgresLog.Retrying(_logger, ex, name, attempt, delay);
                    await Task.Delay(delay, stoppingToken).ConfigureAwait(false);
                }
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
        finally
        {
            metrics.Remove(name);
        }
    }

    internal static bool IsTransient(Exception ex) => ex switch
    {
        PostgresException pg => pg.SqlState.StartsWith("08", StringComparison.Ordinal) || pg.SqlState is "57P01" or "57P02" or "57P03" or "53300" or "55006" or "40001" or "40P01",
        NpgsqlException or IOException or SocketException or TimeoutException or Confluent.Kafka.KafkaException => true,
        _ => ex.InnerException is { } inner && IsTransient(inner),
    };

    private static TimeSpan Backoff(PostgresSourceOptions settings, int attempt)
    {
        var delay = settings.RetryDelay * Math.Pow(2, Math.Min(attempt - 1, 16));
        var capped = delay > settings.MaxRetryDelay ? settings.MaxRetryDelay : delay;
        return capped * (0.8 + (Random.Shared.NextDouble() * 0.4));
    }
}
