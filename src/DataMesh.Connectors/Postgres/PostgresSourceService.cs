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
                var progress = metrics.AcknowledgedLsn;
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
                catch (Exception ex) when (IsTransient(ex))
                {
                    // An attempt that moved the position forward starts the backoff over.
                    attempt = metrics.AcknowledgedLsn > progress ? 1 : attempt + 1;
                    var delay = Backoff(settings, attempt);
                    PostgresLog.Retrying(_logger, ex, name, attempt, delay);
                    await Task.Delay(delay, stoppingToken).ConfigureAwait(false);
                }
                catch (Exception ex)
                {
                    PostgresLog.Fatal(_logger, ex, name, ex.Message);
                    throw;
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

    /// <summary>Whether a failure may clear by itself, so that reconnecting with backoff is the right answer.</summary>
    internal static bool IsTransient(Exception ex) => ex switch
    {
        PostgresSourceException source => source.IsTransient,
        PostgresException pg => pg.SqlState.StartsWith("08", StringComparison.Ordinal) || pg.SqlState is "57P01" or "57P02" or "57P03" or "53300" or "55006" or "40001" or "40P01",
        Confluent.Kafka.KafkaException kafka => !kafka.Error.IsFatal && kafka.Error.Code is not (
            Confluent.Kafka.ErrorCode.MsgSizeTooLarge or
            Confluent.Kafka.ErrorCode.TopicAuthorizationFailed or Confluent.Kafka.ErrorCode.ClusterAuthorizationFailed or
            Confluent.Kafka.ErrorCode.TopicException or Confluent.Kafka.ErrorCode.InvalidRecord or Confluent.Kafka.ErrorCode.RecordListTooLarge or
            Confluent.Kafka.ErrorCode.SaslAuthenticationFailed or Confluent.Kafka.ErrorCode.Local_Authentication),
        NpgsqlException or IOException or SocketException or TimeoutException => true,
        _ => ex.InnerException is { } inner && IsTransient(inner),
    };

    private static TimeSpan Backoff(PostgresSourceOptions settings, int attempt)
    {
        var delay = settings.RetryDelay * Math.Pow(2, Math.Min(attempt - 1, 16));
        var capped = delay > settings.MaxRetryDelay ? settings.MaxRetryDelay : delay;
        return capped * (0.8 + (Random.Shared.NextDouble() * 0.4));
    }
}
