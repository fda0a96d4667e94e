using System.Data;
using System.Data.Common;
using System.Text;
using System.Text.Json;
using Confluent.Kafka;
using DataMesh.Hosting;
using DataMesh.Producer.Emitting;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace DataMesh.Producer.Outbox;

/// <summary>
/// Publishes the outbox table's rows: takes the table's lease (<see cref="OutboxLease"/>), reads a batch in <c>sequence</c>
/// order, hands the rows to an idempotent Kafka producer of its own (so order per key is kept), waits until Kafka acknowledged
/// or gave back every one of them, and deletes the acknowledged prefix in a transaction fenced by the lease.
/// </summary>
/// <remarks>
/// <para>One relay publishes a table at a time, and never two at once, whatever Kafka does: the relay's producer gives every
/// row back as failed after <see cref="OutboxOptions.DeliveryTimeout"/> (<c>message.timeout.ms</c>), and a row is handed over
/// only while the lease has that long left and a quarter of <see cref="OutboxOptions.LeaseDuration"/> more
/// (<see cref="HandOverFloor"/>; the lease is renewed first when it has less). So every row this relay handed over has been
/// acknowledged or has failed before another relay can take the lease, and a stalled row can never land after a newer row
/// that the next holder publishes. While it waits for Kafka the relay renews the lease, so that it keeps it as long as it
/// can reach the database; the delivery timeout is for when it cannot.</para>
/// <para>At-least-once: a row is deleted only after Kafka acknowledged it and every row before it, and only if the lease is
/// still this relay's (the delete's transaction renews it first, locking the lease row). A crash, a failure or a lost lease
/// between the acknowledgement and the delete publishes those rows again, with the same <c>ce_id</c>.</para>
/// </remarks>
internal sealed class OutboxRelay : BackgroundService
{
    private readonly EventEmitter _emitter;
    private readonly KafkaConnection _kafka;
    private readonly OutboxOptions _options;
    private readonly IServiceProvider _services;
    private readonly ILogger _logger;
    private readonly string _name = Environment.MachineName[..Math.Min(30, Environment.MachineName.Length)] + ":" + Guid.NewGuid().ToString("N")[..12];
    private volatile bool _kafkaFatal;

    public OutboxRelay(EventEmitter emitter, KafkaConnection kafka, IServiceProvider services, ILogger<OutboxRelay>? logger = null)
    {
        _emitter = emitter;
        _kafka = kafka;
        _options = emitter.Options.Outbox;
        _services = services;
        _logger = logger ?? NullLogger<OutboxRelay>.Instance;
    }

    /// <summary>The least lease time left at which a row may still be handed to Kafka: the delivery timeout, within which the
    /// producer acknowledges the row or gives it back, and a quarter of the lease for the report to arrive (librdkafka scans for
    /// timed-out messages about once a second), for the clocks' drift and for pauses of this process.</summary>
    private TimeSpan HandOverFloor => _options.DeliveryTimeout + (_options.LeaseDuration / 4);

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
        var lease = new OutboxLease(sql, _options.LeaseDuration, _name, _logger);
        ProducerLog.RelayStarted(_logger, sql.Table, sql.Dialect, _name);
        IProducer<byte[], byte[]>? producer = null;
        var failures = 0;
        try
        {
            while (!stoppingToken.IsCancellationRequested)
            {
                int relayed;
                try
                {
                    if (producer is null || _kafkaFatal)
                    {
                        // Between batches nothing is in flight: a producer that had a fatal error can be replaced.
                        producer?.Dispose();
                        _kafkaFatal = false;
                        producer = CreateProducer();
                    }

                    relayed = await RelayBatchAsync(dataSource, sql, lease, producer, stoppingToken).ConfigureAwait(false);
                    failures = 0;
                }
                catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
                {
                    break;
                }
                catch (Exception ex) when (ex is not OutOfMemoryException)
                {
                    // Any failure of a batch (the database, Kafka, a row the producer refuses or cannot read) is logged and
                    // tried again with a backoff: the relay never ends, and never takes the host down with it.
                    var delay = TimeSpan.FromMilliseconds(Math.Min(30_000, 250 * Math.Pow(2, Math.Min(failures++, 10))));
                    ProducerLog.RelayFailed(_logger, sql.Table, ex.Message, delay, ex);
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
            // A batch returns only once every row it handed over was acknowledged or given back: the lease can be freed.
            await ReleaseLeaseAsync(dataSource, sql, lease).ConfigureAwait(false);
            producer?.Dispose();
        }
    }

    private IProducer<byte[], byte[]> CreateProducer()
    {
        var config = _kafka.CreateProducerConfig();
        foreach (var (key, value) in _emitter.Options.KafkaSettings)
        {
            config.Set(key, value);
        }

        // Every row is acknowledged or given back within DeliveryTimeout, before the lease can pass (see HandOverFloor).
        config.MessageTimeoutMs = (int)Math.Clamp(_options.DeliveryTimeout.TotalMilliseconds, 1, int.MaxValue);
        config.QueueBufferingMaxMessages = Math.Max(config.QueueBufferingMaxMessages ?? 100_000, _options.BatchSize + 1);
        config.DeliveryReportFields = "none";
        return new ProducerBuilder<byte[], byte[]>(config)
            .SetErrorHandler((_, error) => _kafkaFatal |= error.IsFatal)
            .SetLogHandler((_, message) => ProducerLog.Client(_logger, message.Facility, message.Message))
            .Build();
    }

    /// <summary>One batch: returns the number of rows published, or throws the first failure once every row handed over was
    /// acknowledged or given back and the acknowledged prefix deleted.</summary>
    private async Task<int> RelayBatchAsync(DbDataSource dataSource, OutboxSql sql, OutboxLease lease, IProducer<byte[], byte[]> producer, CancellationToken stoppingToken)
    {
        var connection = await dataSource.OpenConnectionAsync(stoppingToken).ConfigureAwait(false);
        await using (connection.ConfigureAwait(false))
        {
            if (!await lease.AcquireOrRenewAsync(connection, stoppingToken).ConfigureAwait(false))
            {
                return 0;
            }

            var rows = await ReadBatchAsync(connection, sql, stoppingToken).ConfigureAwait(false);
            if (rows.Count == 0)
            {
                return 0;
            }

            var deliveries = new List<Task<Error>>(rows.Count);
            Exception? failure = null;
            try
            {
                await HandOverAsync(connection, sql, lease, producer, rows, deliveries, stoppingToken).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is KafkaException or ArgumentException)
            {
                // The producer refused a row (a bad topic name, a message larger than message.max.bytes ...): the rows
                // before it are waited for all the same. It is refused again at every try, and every later row waits.
                var row = rows[Math.Min(deliveries.Count, rows.Count - 1)];
                failure = new EventDeliveryException(
                    row.Id,
                    row.Topic,
                    EventDeliveryFailure.Kafka,
                    $"the Kafka producer refuses row {row.Sequence} of outbox table {sql.Table} (event {row.Id}, topic '{row.Topic}'): {ex.Message}. " +
                    "It stays in the table, and the rows after it wait behind it until it is corrected or deleted " +
                    "(a message larger than the producer's and the topic's limits: raise message.max.bytes and max.message.bytes, or delete the row).",
                    ex);
            }

            // Whatever happened, and even when stopping, wait for what was handed over: it may still reach Kafka until then.
            await WaitForDeliveriesAsync(connection, sql, lease, deliveries).ConfigureAwait(false);
            var acknowledged = 0;
            // Every delivery task has completed (awaited just above): .Result reads it without blocking.
            while (acknowledged < deliveries.Count && !deliveries[acknowledged].Result.IsError)
            {
                acknowledged++;
            }

            if (acknowledged < deliveries.Count)
            {
                var row = rows[acknowledged];
                var error = deliveries[acknowledged].Result;
                failure ??= new EventDeliveryException(
                    row.Id,
                    row.Topic,
                    EventDeliveryFailure.Kafka,
                    $"Kafka did not acknowledge row {row.Sequence} of outbox table {sql.Table} (event {row.Id}, topic '{row.Topic}'): " +
                    $"{error.Code}: {error.Reason} (DataMesh:Producer:Outbox:DeliveryTimeout is {_options.DeliveryTimeout}). " +
                    "It stays in the table and is published again, with the rows after it.",
                    new KafkaException(error));
            }

            // Only the acknowledged prefix is deleted, so that the rest is published again in order.
            if (acknowledged > 0)
            {
                await DeleteAsync(connection, sql, lease, rows, acknowledged).ConfigureAwait(false);
            }

            return failure is null ? acknowledged : throw failure;
        }
    }

    private async Task<List<Row>> ReadBatchAsync(DbConnection connection, OutboxSql sql, CancellationToken cancellationToken)
    {
        var rows = new List<Row>();
        var select = connection.CreateCommand();
        await using (select.ConfigureAwait(false))
        {
            select.CommandText = sql.Select;
            OutboxSql.Parameter(select, "@limit", _options.BatchSize, DbType.Int32);
            var reader = await select.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
            await using (reader.ConfigureAwait(false))
            {
                while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
                {
                    var sequence = reader.GetInt64(0);
                    try
                    {
                        var id = reader.GetValue(1) switch
                        {
                            Guid guid => guid,
                            var other => Guid.Parse(Convert.ToString(other, System.Globalization.CultureInfo.InvariantCulture)!),
                        };
                        var message = new Message<byte[], byte[]>
                        {
                            Key = reader.IsDBNull(3) ? null! : (byte[])reader.GetValue(3),
                            Value = (byte[])reader.GetValue(4),
                            Headers = ParseHeaders(reader.GetString(5)),
                            Timestamp = new Timestamp(DateTime.SpecifyKind(reader.GetDateTime(6), DateTimeKind.Utc)),
                        };
                        rows.Add(new Row(sequence, id, reader.GetString(2), message));
                    }
                    catch (Exception ex) when (ex is FormatException or JsonException or InvalidOperationException or InvalidCastException)
                    {
                        // A row another writer put in the table against its documented layout: named, and left in place.
                        throw new InvalidOperationException(
                            $"Row {sequence} of outbox table {sql.Table} cannot be published: {ex.Message} (id must be a UUID, headers a JSON object of strings). Fix or delete the row; the relay stops at it and tries again with a backoff.", ex);
                    }
                }
            }
        }

        return rows;
    }

    /// <summary>Hands rows to the producer in sequence order while the lease leaves <see cref="HandOverFloor"/> for each, renewing
    /// it when it has less. Stops at the first row it cannot hand over: when stopping, or when the lease cannot be renewed.</summary>
    private async Task HandOverAsync(DbConnection connection, OutboxSql sql, OutboxLease lease, IProducer<byte[], byte[]> producer, List<Row> rows, List<Task<Error>> deliveries, CancellationToken stoppingToken)
    {
        foreach (var row in rows)
        {
            if (stoppingToken.IsCancellationRequested)
            {
                return;
            }

            if (lease.Remaining < HandOverFloor
                && (!await TryRenewAsync(connection, sql, lease).ConfigureAwait(false) || lease.Remaining < HandOverFloor))
            {
                return;
            }

            var delivery = new TaskCompletionSource<Error>(TaskCreationOptions.RunContinuationsAsynchronously);
            producer.Produce(row.Topic, row.Message, report => delivery.TrySetResult(report.Error));
            deliveries.Add(delivery.Task);
        }
    }

    /// <summary>Waits until every row handed over was acknowledged or given back (within <see cref="OutboxOptions.DeliveryTimeout"/>),
    /// renewing the lease meanwhile, so that no other relay starts while a row of this one may still reach Kafka.</summary>
    private async Task WaitForDeliveriesAsync(DbConnection connection, OutboxSql sql, OutboxLease lease, List<Task<Error>> deliveries)
    {
        var all = Task.WhenAll(deliveries);
        while (await Task.WhenAny(all, Task.Delay(_options.LeaseDuration / 4)).ConfigureAwait(false) != all)
        {
            // If the database cannot be reached, the delivery timeout ends the wait before the lease runs out.
            await TryRenewAsync(connection, sql, lease).ConfigureAwait(false);
        }
    }

    /// <summary>Renews the lease, giving up after a quarter of it; false when it was lost or could not be renewed.</summary>
    private async Task<bool> TryRenewAsync(DbConnection connection, OutboxSql sql, OutboxLease lease)
    {
        var patience = _options.LeaseDuration / 4;
        using var timeout = new CancellationTokenSource(patience);
        try
        {
            return await lease.RenewAsync(connection, null, timeout.Token).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is DbException or OperationCanceledException)
        {
            ProducerLog.RelayFailed(_logger, sql.Table, ex.Message, patience, ex);
            return false;
        }
    }

    /// <summary>Deletes the acknowledged rows in a transaction that first renews the lease, locking its row: if another relay
    /// has taken the lease, nothing is deleted (the new holder publishes those rows again, with the same <c>ce_id</c>).</summary>
    private async Task DeleteAsync(DbConnection connection, OutboxSql sql, OutboxLease lease, List<Row> rows, int count)
    {
        // Not the stopping token: what Kafka acknowledged is deleted even when the host stops.
        using var timeout = new CancellationTokenSource(_options.LeaseDuration);
        try
        {
            var transaction = await connection.BeginTransactionAsync(System.Data.IsolationLevel.ReadCommitted, timeout.Token).ConfigureAwait(false);
            await using (transaction.ConfigureAwait(false))
            {
                if (!await lease.RenewAsync(connection, transaction, timeout.Token).ConfigureAwait(false))
                {
                    await transaction.RollbackAsync(timeout.Token).ConfigureAwait(false);
                    return;
                }

                var delete = connection.CreateCommand();
                await using (delete.ConfigureAwait(false))
                {
                    delete.Transaction = transaction;
                    delete.CommandText = sql.Delete(count);
                    for (var i = 0; i < count; i++)
                    {
                        OutboxSql.Parameter(delete, $"@s{i}", rows[i].Sequence, DbType.Int64);
                    }

                    await delete.ExecuteNonQueryAsync(timeout.Token).ConfigureAwait(false);
                }

                await transaction.CommitAsync(timeout.Token).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException ex) when (timeout.IsCancellationRequested)
        {
            throw new TimeoutException(
                $"Deleting the published rows {rows[0].Sequence}-{rows[count - 1].Sequence} of outbox table {sql.Table} took longer than " +
                $"DataMesh:Producer:Outbox:LeaseDuration ({_options.LeaseDuration}); they stay in the table and are published again.",
                ex);
        }

        _emitter.Metrics.Relayed.Add(count);
        ProducerLog.Relayed(_logger, count, sql.Table, rows[0].Sequence, rows[count - 1].Sequence);
    }

    private async Task ReleaseLeaseAsync(DbDataSource dataSource, OutboxSql sql, OutboxLease lease)
    {
        if (lease.Token is null)
        {
            return;
        }

        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(5));
        try
        {
            var connection = await dataSource.OpenConnectionAsync(timeout.Token).ConfigureAwait(false);
            await using (connection.ConfigureAwait(false))
            {
                await lease.ReleaseAsync(connection, timeout.Token).ConfigureAwait(false);
            }
        }
        catch (Exception ex) when (ex is DbException or OperationCanceledException)
        {
            // The lease expires by itself after LeaseDuration.
            ProducerLog.RelayFailed(_logger, sql.Table, ex.Message, _options.LeaseDuration, ex);
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

    /// <summary>A row read from the outbox table, as the message to produce.</summary>
    private sealed record Row(long Sequence, Guid Id, string Topic, Message<byte[], byte[]> Message);
}
