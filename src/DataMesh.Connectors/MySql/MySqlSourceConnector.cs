using System.Globalization;
using System.Net.Sockets;
using DataMesh.Connectors.MySql.Binlog;
using DataMesh.Connectors.MySql.Protocol;
using DataMesh.Connectors.MySql.Schema;
using DataMesh.Events;
using DataMesh.Hosting;
using DataMesh.Schemas;
using DataMesh.Sources;
using Microsoft.Extensions.Logging;
using MySqlConnector;

namespace DataMesh.Connectors.MySql;

/// <summary>
/// One MySQL/MariaDB source: finds where to start (the stored position and the schema history, or the server's
/// current position and <c>information_schema</c>), streams the binlog with <see cref="ReplicationConnection"/>,
/// produces change events, saves positions that Kafka acknowledged, and reconnects with backoff when the
/// connection breaks (a server restart included).
/// </summary>
internal sealed class MySqlSourceConnector : IDisposable
{
    private readonly MySqlSourceOptions _options;
    private readonly ChangeEventOptions _events;
    private readonly KafkaConnection _kafka;
    private readonly ISchemaStore _schemas;
    private readonly ILogger _logger;
    private readonly MySqlMetrics _metrics;
    private readonly PositionStore _positions;
    private readonly SchemaHistory _history;
    private readonly SchemaTracker _schema = new();
    private readonly ReplicationConnectionSettings _settings;
    private readonly string _connectionString;
    private Task? _saving;
    private MySqlPosition? _unsaved;

    public MySqlSourceConnector(MySqlSourceOptions options, ChangeEventOptions events, KafkaConnection kafka, ISchemaStore schemas, ILogger logger)
    {
        options.Validate();
        _options = options;
        _events = options.Events ?? events;
        _kafka = kafka;
        _schemas = schemas;
        _logger = logger;
        _metrics = new MySqlMetrics(options.Name);
        _positions = new PositionStore(kafka);
        _history = new SchemaHistory(kafka, options.HistoryTopic);
        var builder = new MySqlConnectionStringBuilder(options.ConnectionString);
        _connectionString = builder.ConnectionString;
        _settings = new ReplicationConnectionSettings(builder.Server.Split(',')[0].Trim(), (int)builder.Port, builder.UserID, builder.Password)
        {
            Tls = builder.SslMode switch
            {
                MySqlSslMode.None => TlsMode.None,
                MySqlSslMode.Preferred => TlsMode.Preferred,
                MySqlSslMode.Required => TlsMode.Required,
                MySqlSslMode.VerifyCA => TlsMode.VerifyCA,
                _ => TlsMode.VerifyFull,
            },
            ServerRsaPublicKey = string.IsNullOrEmpty(builder.ServerRsaPublicKeyFile) ? null : File.ReadAllText(builder.ServerRsaPublicKeyFile),
            AllowPublicKeyRetrieval = builder.AllowPublicKeyRetrieval,
            ConnectTimeout = TimeSpan.FromSeconds(Math.Max(1, builder.ConnectionTimeout)),
        };
    }

    /// <summary>The position after the last transaction read (null before the first).</summary>
    public MySqlPosition? Position { get; private set; }

    /// <summary>The last position saved to the offsets topic.</summary>
    public MySqlPosition? SavedPosition { get; private set; }

    /// <summary>Row changes handed to Kafka so far.</summary>
    public long Produced { get; private set; }

    /// <summary>Runs until cancelled or until an error that a reconnect cannot fix.</summary>
    public async Task RunAsync(CancellationToken cancellationToken)
    {
        var (serverVersion, mariaDb) = await CheckServerAsync(cancellationToken).ConfigureAwait(false);
        var start = await StartPositionAsync(mariaDb, cancellationToken).ConfigureAwait(false);
        Position = start;
        MySqlLog.Starting(_logger, _options.Name, start.ToString(), serverVersion);
        using var sink = new ChangeEventSink<MySqlPosition>(_kafka);
        var emitter = new KafkaChangeEmitter(_options, _events, _schemas, _kafka, sink, _history, _logger, _metrics);
        await emitter.RegisterAllAsync(_schema, cancellationToken).ConfigureAwait(false);
        if (SavedPosition is null)
        {
            // Nothing comes before the first start's position: store it at once, so that a restart before the first
            // transaction resumes here with the schema snapshot taken for it.
            await _positions.SaveAsync(_options.Name, start.ToJson(), cancellationToken).ConfigureAwait(false);
            SavedPosition = start;
        }
        var delay = _options.ReconnectDelay;
        try
        {
            while (true)
            {
                cancellationToken.ThrowIfCancellationRequested();
                var from = Position!;
                var progressed = false;
                try
                {
                    await StreamAsync(from, emitter, sink, () => progressed = true, cancellationToken).ConfigureAwait(false);
                }
                catch (Exception ex) when (IsTransient(ex) && !cancellationToken.IsCancellationRequested)
                {
                    emitter.DiscardPending();
                    Position = emitter.LastCommitted ?? from;
                    if (progressed)
                    {
                        delay = _options.ReconnectDelay;
                    }

                    _metrics.Reconnect();
                    MySqlLog.Reconnecting(_logger, _options.Name, ex.Message, delay, Position.ToString(), ex);
                    await Task.Delay(delay, cancellationToken).ConfigureAwait(false);
                    delay = TimeSpan.FromTicks(Math.Min(delay.Ticks * 2, _options.MaxReconnectDelay.Ticks));
                }
            }
        }
        catch (Exception ex) when (cancellationToken.IsCancellationRequested)
        {
            // A stop, whatever the cancelled read or write threw: store what Kafka acknowledged before leaving.
            await StopAsync(sink).ConfigureAwait(false);
            if (ex is OperationCanceledException)
            {
                throw;
            }

            throw new OperationCanceledException($"MySQL source '{_options.Name}' stopped.", ex, cancellationToken);
        }
        catch (Exception ex)
        {
            MySqlLog.Failed(_logger, _options.Name, ex);
            throw;
        }
    }

    public void Dispose()
    {
        _positions.Dispose();
        _history.Dispose();
        _metrics.Dispose();
    }

    private static bool IsTransient(Exception ex) => ex switch
    {
        MySqlReplicationException replication => !replication.IsPositionPurged && replication.ErrorCode is 1040 or 1053 or 1159 or 1161 or 2002 or 2003 or 2006 or 2013 or 1927 or 4031,
        IOException or SocketException or TimeoutException or EndOfStreamException => true,
        MySqlException mysql => mysql.IsTransient || mysql.ErrorCode is MySqlErrorCode.UnableToConnectToHost,
        _ => false,
    };

    private async Task StreamAsync(MySqlPosition from, KafkaChangeEmitter emitter, ChangeEventSink<MySqlPosition> sink, Action progressed, CancellationToken cancellationToken)
    {
        var serverId = _options.EffectiveServerId();
        var connection = await ReplicationConnection.OpenAsync(_settings, cancellationToken).ConfigureAwait(false);
        await using var disposeConnection = connection.ConfigureAwait(false);
        var checksum = (await connection.QueryAsync("SELECT @@global.binlog_checksum", cancellationToken).ConfigureAwait(false))[0][0];
        await connection.QueryAsync("SET @master_binlog_checksum = @@global.binlog_checksum", cancellationToken).ConfigureAwait(false);
        var heartbeatNanos = (long)_options.HeartbeatInterval.TotalMilliseconds * 1_000_000;
        await connection.QueryAsync(string.Create(CultureInfo.InvariantCulture, $"SET @master_heartbeat_period = {heartbeatNanos}"), cancellationToken).ConfigureAwait(false);
        var useGtid = _options.UseGtid && !string.IsNullOrEmpty(from.Gtid);
        if (connection.IsMariaDb)
        {
            await connection.QueryAsync("SET @mariadb_slave_capability = 4", cancellationToken).ConfigureAwait(false);
            if (useGtid)
            {
                var state = MariaDbGtidPosition.Parse(from.Gtid).ToString();
                await connection.QueryAsync($"SET @slave_connect_state = '{state}'", cancellationToken).ConfigureAwait(false);
                await connection.QueryAsync("SET @slave_gtid_strict_mode = 0", cancellationToken).ConfigureAwait(false);
                await connection.QueryAsync("SET @slave_gtid_ignore_duplicates = 0", cancellationToken).ConfigureAwait(false);
            }
        }

        await connection.RegisterReplicaAsync(serverId, Environment.MachineName, cancellationToken).ConfigureAwait(false);
        if (useGtid && connection.IsMariaDb)
        {
            await connection.StartBinlogDumpAsync(string.Empty, 4, serverId, nonBlocking: false, cancellationToken).ConfigureAwait(false);
        }
        else if (useGtid)
        {
            await connection.StartBinlogDumpGtidAsync(serverId, string.Empty, 4, MySqlGtidSet.Parse(from.Gtid).Encode(), nonBlocking: false, cancellationToken).ConfigureAwait(false);
        }
        else
        {
            await connection.StartBinlogDumpAsync(from.File, from.Position, serverId, nonBlocking: false, cancellationToken).ConfigureAwait(false);
        }

        MySqlLog.Connected(_logger, _options.Name, _settings.Host, _settings.Port, serverId, connection.AuthPlugin, connection.IsEncrypted, from.ToString());
        var decoder = new BinlogDecoder(from.File, checksum is "CRC32" ? 4 : 0);
        decoder.Reset(from.File, from.Position, checksum is "CRC32" ? 4 : 0);
        var processor = new BinlogProcessor(decoder, _schema, emitter, _options.Captures)
        {
            SkipUnparseableDdl = _options.SkipUnparseableDdl,
            KeepQueries = _options.IncludeQuery,
            PreparedXa = new PreparedXaTransactions { MaxBytes = _options.MaxPreparedXaBytes },
            MariaDbPosition = from.MariaDb ? MariaDbGtidPosition.Parse(from.Gtid) : new MariaDbGtidPosition(),
            MySqlGtids = !from.MariaDb && from.Gtid is not null ? MySqlGtidSet.Parse(from.Gtid) : new MySqlGtidSet(),
        };
        emitter.Processor = processor;
        using var silence = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var lastSave = DateTime.UtcNow;
        var unknown = 0L;
        while (true)
        {
            silence.CancelAfter(_options.HeartbeatInterval * 3);
            ReadOnlyMemory<byte> data;
            try
            {
                var read = connection.ReadEventAsync(silence.Token);
                if (read.IsCompletedSuccessfully)
                {
                    // Already completed: reading the result does not block (the fast path of a buffered event).
                    data = read.Result;
                }
                else
                {
                    // Nothing buffered: while waiting for the server, keep saving what Kafka acknowledges meanwhile.
                    var waiting = read.AsTask();
                    while (!waiting.IsCompleted)
                    {
                        await SaveAcknowledgedAsync(sink, cancellationToken).ConfigureAwait(false);
                        await Task.WhenAny(waiting, Task.Delay(_options.PositionSaveInterval, cancellationToken)).ConfigureAwait(false);
                    }

                    data = await waiting.ConfigureAwait(false);
                }
            }
            catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
            {
                throw new TimeoutException($"The server sent nothing, not even a heartbeat, for {_options.HeartbeatInterval * 3}.");
            }

            if (data.IsEmpty)
            {
                throw new EndOfStreamException("The server ended the binlog stream.");
            }

            processor.Process(data.Span);
            _metrics.Event(data.Length, processor.Transaction.TimestampMs);
            if (decoder.UnknownEvents != unknown)
            {
                _metrics.Unknown(decoder.UnknownEvents - unknown);
                unknown = decoder.UnknownEvents;
            }

            if (emitter.HasPending)
            {
                await emitter.FlushAsync(cancellationToken).ConfigureAwait(false);
                progressed();
            }

            if (emitter.LastCommitted is { } committed)
            {
                Position = committed;
            }

            Produced = sink.Produced;
            if (DateTime.UtcNow - lastSave >= _options.PositionSaveInterval)
            {
                lastSave = DateTime.UtcNow;
                await SaveAcknowledgedAsync(sink, cancellationToken).ConfigureAwait(false);
            }
        }
    }

    /// <summary>Saves the latest acknowledged position without waiting for the save itself: the next call waits for the
    /// previous save, so saves never overlap and the stream never waits on one. A position taken from the sink stays due
    /// until a save of it (or a later one) succeeded.</summary>
    private async Task SaveAcknowledgedAsync(ChangeEventSink<MySqlPosition> sink, CancellationToken cancellationToken, bool wait = false)
    {
        sink.ThrowIfFaulted();
        if (_saving is { } saving)
        {
            if (!saving.IsCompleted && !wait)
            {
                return;
            }

            _saving = null;
            await saving.ConfigureAwait(false);
        }

        if (sink.TryTakeAcknowledged(out var position))
        {
            _unsaved = position;
        }

        if (_unsaved is { } due)
        {
            _saving = SaveAsync(due, cancellationToken);
            if (wait)
            {
                saving = _saving;
                _saving = null;
                await saving.ConfigureAwait(false);
            }
        }
    }

    private async Task SaveAsync(MySqlPosition position, CancellationToken cancellationToken)
    {
        await _positions.SaveAsync(_options.Name, position.ToJson(), cancellationToken).ConfigureAwait(false);
        SavedPosition = position;
        if (ReferenceEquals(_unsaved, position))
        {
            _unsaved = null;
        }

        MySqlLog.PositionSaved(_logger, _options.Name, position.ToString());
    }

    /// <summary>On a stop: waits (bounded by the Kafka request timeout) until Kafka acknowledged or failed every event
    /// handed to it, then stores the position after the last transaction whose events, and all before them, were
    /// acknowledged. A save in flight when the stop came (its token is the cancelled one) is replaced by a new one.</summary>
    private async Task StopAsync(ChangeEventSink<MySqlPosition> sink)
    {
        using var timeout = new CancellationTokenSource(_kafka.Options.RequestTimeout);
        if (_saving is { } saving)
        {
            _saving = null;
            try
            {
                await saving.ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is OperationCanceledException or Confluent.Kafka.KafkaException)
            {
                // Its position is still due (_unsaved): saved below.
            }
        }

        try
        {
            try
            {
                await sink.FlushAsync(timeout.Token).ConfigureAwait(false);
            }
            catch (Confluent.Kafka.ProduceException<byte[]?, byte[]?>)
            {
                // A failed delivery: what was acknowledged before it can still be stored.
            }

            if (sink.TryTakeAcknowledged(out var position))
            {
                _unsaved = position;
            }

            if (_unsaved is { } due)
            {
                await SaveAsync(due, timeout.Token).ConfigureAwait(false);
            }
        }
        catch (Exception ex) when (ex is OperationCanceledException or Confluent.Kafka.KafkaException)
        {
            // Whatever was not acknowledged or stored in time is read again on the next start.
        }

        MySqlLog.Stopped(_logger, _options.Name, SavedPosition?.ToString() ?? "(none saved)");
    }

    private async Task<(string Version, bool MariaDb)> CheckServerAsync(CancellationToken cancellationToken)
    {
        var connection = new MySqlConnection(_connectionString);
        await using var disposeConnection = connection.ConfigureAwait(false);
        await connection.OpenAsync(cancellationToken).ConfigureAwait(false);
        using var command = new MySqlCommand("SELECT VERSION(), @@log_bin, @@binlog_format, @@global.binlog_row_image", connection);
        using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        await reader.ReadAsync(cancellationToken).ConfigureAwait(false);
        var version = reader.GetString(0);
        if (Convert.ToInt64(reader.GetValue(1), CultureInfo.InvariantCulture) != 1)
        {
            throw new MySqlReplicationException($"The server of MySQL source '{_options.Name}' has no binlog: start it with log_bin (see docs/mysql.md).");
        }

        if (!string.Equals(reader.GetString(2), "ROW", StringComparison.OrdinalIgnoreCase))
        {
            throw new MySqlReplicationException($"The server of MySQL source '{_options.Name}' has binlog_format={reader.GetString(2)}; the connector needs ROW (see docs/mysql.md).");
        }

        if (!string.Equals(reader.GetString(3), "FULL", StringComparison.OrdinalIgnoreCase))
        {
            MySqlLog.RowImageNotFull(_logger, _options.Name, reader.GetString(3));
        }

        return (version, version.Contains("MariaDB", StringComparison.OrdinalIgnoreCase));
    }

    private async Task<MySqlPosition> StartPositionAsync(bool mariaDb, CancellationToken cancellationToken)
    {
        var stored = await _positions.LoadAsync(_options.Name, cancellationToken).ConfigureAwait(false);
        if (stored is not null)
        {
            var position = MySqlPosition.FromJson(stored);
            var records = await _history.LoadAsync(_options.Name, cancellationToken).ConfigureAwait(false);
            if (!SchemaHistory.TryRestore(records, position, _schema))
            {
                throw new MySqlSchemaException($"MySQL source '{_options.Name}' has a stored position {position} but the schema history topic '{_options.HistoryTopic}' has no snapshot at or before it; the table schemas as of that position cannot be known. Reset the stored position to start afresh.");
            }

            SavedPosition = position;
            MySqlLog.SchemaRestored(_logger, _options.Name, _schema.Tables.Count(), position.ToString());
            return position;
        }

        var connection = new MySqlConnection(_connectionString);
        await using var disposeConnection = connection.ConfigureAwait(false);
        await connection.OpenAsync(cancellationToken).ConfigureAwait(false);
        var (tables, databases, serverCharset) = await InformationSchemaLoader.LoadAsync(connection, cancellationToken).ConfigureAwait(false);
        string file;
        long offset;
        using (var command = new MySqlCommand("SHOW MASTER STATUS", connection))
        using (var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false))
        {
            if (!await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
            {
                throw new MySqlReplicationException($"SHOW MASTER STATUS returned nothing for MySQL source '{_options.Name}': is the binlog on?");
            }

            file = reader.GetString(0);
            offset = Convert.ToInt64(reader.GetValue(1), CultureInfo.InvariantCulture);
        }

        string? gtid;
        using (var command = new MySqlCommand(mariaDb ? "SELECT @@gtid_binlog_pos" : "SELECT IF(@@gtid_mode = 'ON', @@gtid_executed, NULL)", connection))
        {
            gtid = await command.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false) as string;
        }

        var start = new MySqlPosition { File = file, Position = offset, Gtid = string.IsNullOrWhiteSpace(gtid) ? null : gtid.Replace("\n", string.Empty, StringComparison.Ordinal), MariaDb = mariaDb };
        _schema.ServerCharset = serverCharset;
        _schema.Reset(tables, databases);
        await _history.AppendAsync(new SchemaHistoryRecord
        {
            Source = _options.Name,
            File = file,
            Position = offset,
            Snapshot = true,
            Tables = tables,
            DatabaseCharsets = databases,
            ServerCharset = serverCharset,
        }, cancellationToken).ConfigureAwait(false);
        MySqlLog.FirstStart(_logger, _options.Name, start.ToString(), tables.Count);
        return start;
    }
}
