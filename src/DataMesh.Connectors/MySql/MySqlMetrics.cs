using System.Diagnostics.Metrics;

namespace DataMesh.Connectors.MySql;

/// <summary>The connector's instruments on the Meter <c>DataMesh.Connectors.MySql</c>, tagged with the source name.</summary>
internal sealed class MySqlMetrics : IDisposable
{
    /// <summary>The meter's name.</summary>
    public const string MeterName = "DataMesh.Connectors.MySql";

    private readonly Meter _meter;
    private readonly KeyValuePair<string, object?> _source;
    private readonly Counter<long> _events;
    private readonly Counter<long> _bytes;
    private readonly Counter<long> _rows;
    private readonly Counter<long> _transactions;
    private readonly Counter<long> _unknown;
    private readonly Counter<long> _reconnects;
    private readonly Counter<long> _ddl;
    private long _lastEventMs;

    public MySqlMetrics(string source)
    {
        _meter = new Meter(MeterName);
        _source = new("datamesh.source", source);
        _events = _meter.CreateCounter<long>("datamesh.mysql.binlog.events", "{event}", "Binlog events read");
        _bytes = _meter.CreateCounter<long>("datamesh.mysql.binlog.bytes", "By", "Binlog bytes read");
        _rows = _meter.CreateCounter<long>("datamesh.mysql.rows", "{row}", "Row changes produced");
        _transactions = _meter.CreateCounter<long>("datamesh.mysql.transactions", "{transaction}", "Transactions read");
        _unknown = _meter.CreateCounter<long>("datamesh.mysql.binlog.unknown_events", "{event}", "Events of unknown types, skipped");
        _reconnects = _meter.CreateCounter<long>("datamesh.mysql.reconnects", "{reconnect}", "Reconnections to the server");
        _ddl = _meter.CreateCounter<long>("datamesh.mysql.ddl", "{statement}", "DDL statements applied");
        _meter.CreateObservableGauge("datamesh.mysql.lag", () =>
        {
            var last = Interlocked.Read(ref _lastEventMs);
            return new Measurement<long>(last == 0 ? 0 : Math.Max(0, DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() - last), _source);
        }, "ms", "Time between the last event's commit on the server and now");
    }

    public void Event(int bytes, long timestampMs)
    {
        _events.Add(1, _source);
        _bytes.Add(bytes, _source);
        if (timestampMs > 0)
        {
            Interlocked.Exchange(ref _lastEventMs, timestampMs);
        }
    }

    public void Rows(long count) => _rows.Add(count, _source);

    public void Transaction() => _transactions.Add(1, _source);

    public void Unknown(long count) => _unknown.Add(count, _source);

    public void Reconnect() => _reconnects.Add(1, _source);

    public void Ddl() => _ddl.Add(1, _source);

    public void Dispose() => _meter.Dispose();
}
