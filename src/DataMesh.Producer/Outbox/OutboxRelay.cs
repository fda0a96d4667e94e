using System.Data;
using System.Data.Common;
using System.Text;
using System.Text.Json;
using Confluent.Kafka;
using DataMesh.Producer.Emitting;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace DataMesh.Producer.Outbox;

/// <summary>
/// Publishes the outbox table's rows: reads a batch in <c>sequence</c> order, produces each row through the emitter
/// (same idempotent producer, so order per key is kept), waits until Kafka acknowledged them and only then deletes them.
/// At-least-once: a crash between the acknowledgement and the delete publishes those rows again, with the same
/// <c>ce_id</c>. One relay works at a time on a table: on PostgreSQL the batch's transaction holds an advisory lock and
/// reads with <c>FOR UPDATE SKIP LOCKED</c>; on MySQL/MariaDB a lease row, renewed with every batch, names the holder.
/// </summary>
internal sealed class OutboxRelay : BackgroundService
{
    private readonly EventEmitter _emitter;
    private readonly OutboxOptions _options;
    private readonly IServiceProvider _services;
    private readonly ILogger _logger;
    private readonly string _owner = Environment.MachineName + ":" + Guid.NewGuid().ToString("N")[..12];
    private bool _leaseHeld;

    public OutboxRelay(EventEmitter emitter, IServiceProvider services, ILogger<OutboxRelay>? logger = null)
    {
        _emitter = emitter;
        _options = emitter.Options.Outbox;
        _services = services;
        _logger = logger ?? NullLogger<OutboxRelay>.Instance;
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (!_options.RelayEnabled)
        {
            return;
        }

        await _emitter.WaitStartedAsync(stoppingToken).ConfigureAwait(false);
        var dataSource = _options.DataSource?.Invoke(_services)
            ?? throw new InvalidOperationException("The outbox relay needs DataMesh:Producer:Outbox:DataSource (o.Outbox.UseRelay(...)).");
        var sql = new OutboxSql(OutboxSql.Detect(_options.Dialect, dataSource), _options.Table);
        ProducerLog.RelayStarted(_logger, sql.Table, sql.Dialect, _owner);
        var failures = 0;
        try
        {
            while (!stoppingToken.IsCancellationRequested)
            {
                int relayed;
                try
                {
                    relayed = sql.Dialect == OutboxDialect.PostgreSql
                        ? await RelayPostgresAsync(dataSource, sql, stoppingToken).ConfigureAwait(false)
                        : await RelayMySqlAsync(dataSource, sql, stoppingToken).ConfigureAwait(false);
                    failures = 0;
                }
                catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
                {
                    break;
                }
                catch (Exception ex) when (ex is DbException or EventDeliveryException or InvalidOperationException or TimeoutException)
                {
                    var delay = TimeSpan.FromMilliseconds(Math.Min(30_000, 250 * Math.Pow(2, Math.Min(failures++, 10))));
                    ProducerLog.RelayFailed(_logger, sql.Table, delay, ex);
                    await Task.Delay(delay, stoppingToken).ConfigureAwait(false);
                    continue;
                }

                if (relayed < _options.BatchSize)
                {
                    await Task.Delay(_options.PollInterval, stoppingToken).ConfigureAwait(false);
                }
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
            // Stopping.
        }
        finally
        {
            if (sql.Dialect == OutboxDialect.MySql && _leaseHeld)
            {
                await ReleaseLeaseAsync(dataSource, sql).ConfigureAwait(false);
            }
        }
    }

    private async Task<int> RelayPostgresAsync(DbDataSource dataSource, OutboxSql sql, CancellationToken cancellationToken)
    {
        var connection = await dataSource.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        await using (connection.ConfigureAwait(false))
        {
            var transaction = await connection.BeginTransactionAsync(System.Data.IsolationLevel.ReadCommitted, cancellationToken).ConfigureAwait(false);
            await using (transaction.ConfigureAwait(false))
            {
                var locked = await ScalarAsync(connection, transaction, sql.TryLock, null, cancellationToken).ConfigureAwait(false);
                if (locked is not true)
                {
                    await transaction.CommitAsync(cancellationToken).ConfigureAwait(false);
                    return 0;
                }

                var (published, failure) = await PublishBatchAsync(connection, transaction, sql, cancellationToken).ConfigureAwait(false);
                // The deletes of what was acknowledged are committed even when a later row failed.
                await transaction.CommitAsync(cancellationToken).ConfigureAwait(false);
                return failure is null ? published : throw failure;
            }
        }
    }

    private async Task<int> RelayMySqlAsync(DbDataSource dataSource, OutboxSql sql, CancellationToken cancellationToken)
    {
        var connection = await dataSource.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        await using (connection.ConfigureAwait(false))
        {
            if (!await RenewLeaseAsync(connection, sql, cancellationToken).ConfigureAwait(false))
            {
                return 0;
            }

            var (published, failure) = await PublishBatchAsync(connection, null, sql, cancellationToken).ConfigureAwait(false);
            return failure is null ? published : throw failure;
        }
    }

    private async Task<bool> RenewLeaseAsync(DbConnection connection, OutboxSql sql, CancellationToken cancellationToken)
    {
        var command = connection.CreateCommand();
        await using (command.ConfigureAwait(false))
        {
            command.CommandText = sql.AcquireLease;
            OutboxSql.Parameter(command, "@owner", _owner, DbType.String);
            OutboxSql.Parameter(command, "@micros", (long)_options.LeaseDuration.TotalMicroseconds, DbType.Int64);
            var held = await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false) == 1;
            if (held && !_leaseHeld)
            {
                ProducerLog.LeaseAcquired(_logger, _owner, sql.Table);
            }
            else if (!held && _leaseHeld)
            {
                ProducerLog.LeaseLost(_logger, _owner, sql.Table);
            }

            _leaseHeld = held;
            return held;
        }
    }

    private async Task ReleaseLeaseAsync(DbDataSource dataSource, OutboxSql sql)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(5));
        try
        {
            var connection = await dataSource.OpenConnectionAsync(timeout.Token).ConfigureAwait(false);
            await using (connection.ConfigureAwait(false))
            {
                var command = connection.CreateCommand();
                await using (command.ConfigureAwait(false))
                {
                    command.CommandText = sql.ReleaseLease;
                    OutboxSql.Parameter(command, "@owner", _owner, DbType.String);
                    await command.ExecuteNonQueryAsync(timeout.Token).ConfigureAwait(false);
                }
            }
        }
        catch (Exception ex) when (ex is DbException or OperationCanceledException)
        {
            // The lease expires by itself after LeaseDuration.
            ProducerLog.RelayFailed(_logger, sql.Table, _options.LeaseDuration, ex);
        }
    }

    /// <summary>Reads a batch, publishes it in sequence order, waits for every acknowledgement, deletes what was acknowledged.</summary>
    private async Task<(int Rows, Exception? Failure)> PublishBatchAsync(DbConnection connection, DbTransaction? transaction, OutboxSql sql, CancellationToken cancellationToken)
    {
        var rows = new List<(long Sequence, Guid Id, RawMessage Message)>();
        var select = connection.CreateCommand();
        await using (select.ConfigureAwait(false))
        {
            select.Transaction = transaction;
            select.CommandText = sql.Select;
            OutboxSql.Parameter(select, "@limit", _options.BatchSize, DbType.Int32);
            var reader = await select.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
            await using (reader.ConfigureAwait(false))
            {
                while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
                {
                    var id = reader.GetValue(1) switch
                    {
                        Guid guid => guid,
                        var other => Guid.Parse(Convert.ToString(other, System.Globalization.CultureInfo.InvariantCulture)!),
                    };
                    var key = reader.IsDBNull(3) ? null : (byte[])reader.GetValue(3);
                    var created = DateTime.SpecifyKind(reader.GetDateTime(6), DateTimeKind.Utc);
                    rows.Add((reader.GetInt64(0), id, new RawMessage(reader.GetString(2), key, (byte[])reader.GetValue(4), ParseHeaders(reader.GetString(5)), created)));
                }
            }
        }

        if (rows.Count == 0)
        {
            return (0, null);
        }

        // Hand every row to the producer first (in order), then wait: the batch travels together.
        var sends = new List<Task>(rows.Count);
        foreach (var (_, id, message) in rows)
        {
            sends.Add(_emitter.EmitRawAsync(message, id, cancellationToken).AsTask());
        }

        var acknowledged = 0;
        Exception? failure = null;
        foreach (var send in sends)
        {
            try
            {
                await send.WaitAsync(cancellationToken).ConfigureAwait(false);
                acknowledged++;
            }
            catch (EventDeliveryException ex)
            {
                failure = ex;
                break;
            }
        }

        if (sql.Dialect == OutboxDialect.MySql && acknowledged > 0 && !await RenewLeaseAsync(connection, sql, cancellationToken).ConfigureAwait(false))
        {
            // Another relay took over while this batch was in flight; it may send these rows again (same ce_id).
            ProducerLog.LeaseLost(_logger, _owner, sql.Table);
        }

        // Only the acknowledged prefix is deleted, so that the rest is published again in order.
        if (acknowledged > 0)
        {
            var delete = connection.CreateCommand();
            await using (delete.ConfigureAwait(false))
            {
                delete.Transaction = transaction;
                delete.CommandText = sql.Delete(acknowledged);
                for (var i = 0; i < acknowledged; i++)
                {
                    OutboxSql.Parameter(delete, $"@s{i}", rows[i].Sequence, DbType.Int64);
                }

                await delete.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
            }

            _emitter.Metrics.Relayed.Add(acknowledged);
            ProducerLog.Relayed(_logger, acknowledged, sql.Table, rows[0].Sequence, rows[acknowledged - 1].Sequence);
        }

        return (rows.Count, failure);
    }

    private static async Task<object?> ScalarAsync(DbConnection connection, DbTransaction? transaction, string text, Action<DbCommand>? parameters, CancellationToken cancellationToken)
    {
        var command = connection.CreateCommand();
        await using (command.ConfigureAwait(false))
        {
            command.Transaction = transaction;
            command.CommandText = text;
            parameters?.Invoke(command);
            return await command.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    private static Headers ParseHeaders(string json)
    {
        var headers = new Headers();
        using var document = JsonDocument.Parse(json);
        foreach (var property in document.RootElement.EnumerateObject())
        {
            headers.Add(property.Name, Encoding.UTF8.GetBytes(property.Value.GetString() ?? string.Empty));
        }

        return headers;
    }
}
