using System.Buffers;
using System.Text;
using DataMesh.Connectors.MySql.Binlog;
using DataMesh.Connectors.MySql.Schema;
using DataMesh.Sources;
using Microsoft.Extensions.Logging;

namespace DataMesh.Connectors.MySql;

/// <summary>
/// Hands what <see cref="BinlogProcessor"/> reads to the source runtime: each row change while the event's bytes are in
/// hand (the runtime writes key and envelope, keys updates and deletes by their before image, turns key changes into
/// delete + tombstone + create, and puts keyless tables on partition 0), truncates, transaction ends as checkpoints, and
/// DDL into the schema history in log order.
/// </summary>
internal sealed class BinlogEmitter : IBinlogHandler
{
    private readonly string _source;
    private readonly MySqlSourceOptions _options;
    private readonly SourceContext<MySqlPosition> _context;
    private readonly SchemaHistory _history;
    private readonly ILogger _logger;
    private readonly RowEncoder _rows;
    private readonly Dictionary<MySqlTable, SourceTable> _tables = new(ReferenceEqualityComparer.Instance);
    private readonly ArrayBufferWriter<byte> _missing = new(64);

    /// <summary>Columns whose DEFAULT was already named in warning 2016.</summary>
    private readonly HashSet<(string, string, string)> _uncarried = [];
    private string? _file;
    private byte[] _fileUtf8 = [];

    public BinlogEmitter(string source, MySqlSourceOptions options, SourceContext<MySqlPosition> context, SchemaHistory history, ILogger logger)
    {
        _source = source;
        _options = options;
        _context = context;
        _history = history;
        _logger = logger;
        _rows = new RowEncoder(context.Events.DecimalHandling);
    }

    /// <summary>The processor whose state gives the positions of commits.</summary>
    public BinlogProcessor? Processor { get; set; }

    /// <summary>The position after the last transaction read (not yet necessarily acknowledged).</summary>
    public MySqlPosition? LastCommitted { get; private set; }

    public void OnRow(scoped in RowChange change, TransactionState transaction)
    {
        var table = Table(change.Binding.Table);
        var columns = change.Binding.Columns;
        var block = new MySqlSourceBlock(transaction, FileUtf8(), change.Position, change.Row, change.Before, change.After, columns, _missing);
        switch (change.Kind)
        {
            case RowsKind.Insert:
                _context.Insert(table, new BinlogRowImage(change.Rows, change.After, columns, _rows), block);
                break;
            case RowsKind.Update:
                _context.Update(table, new BinlogRowImage(change.Rows, change.Before, columns, _rows), change.Before is not null, new BinlogRowImage(change.Rows, change.After, columns, _rows), block);
                break;
            default:
                _context.Delete(table, new BinlogRowImage(change.Rows, change.Before, columns, _rows), block);
                break;
        }
    }

    public void OnCommit(TransactionState transaction)
    {
        // After the transaction, or held back at an unresolved XA PREPARE (BinlogProcessor.RestartPosition).
        var position = Processor!.RestartPosition;
        LastCommitted = position;
        _context.Checkpoint(position);
    }

    public void OnSchemaChange(SchemaChange change)
    {
        if (change.Position < 0)
        {
            foreach (var table in change.Changes)
            {
                MySqlLog.TableFromMap(_logger, _source, table.Database, table.Name);
            }
        }
        else
        {
            MySqlLog.SchemaChanged(_logger, _source, change.File, change.Position, string.Join(", ", change.Changes.Select(c => $"`{c.Database}`.`{c.Name}`{(c.Table is null ? " (dropped)" : string.Empty)}")));
        }

        var record = new SchemaHistoryRecord
        {
            Source = _source,
            File = change.File ?? string.Empty,
            Position = change.Position < 0 ? Processor!.Decoder.NextPosition : change.Position,
            Ddl = change.Statement.Length == 0 ? null : change.Statement,
            Tables = change.Changes.Where(c => c.Table is not null).Select(c => c.Table!).ToList(),
            Dropped = change.Changes.Where(c => c.Table is null).Select(c => $"{c.Database}.{c.Name}").ToList(),
        };
        _context.InOrder(cancellationToken => _history.AppendAsync(record, cancellationToken));
    }

    public void OnTruncate(MySqlTable table, long position, TransactionState transaction)
    {
        var file = Processor?.Decoder.File ?? string.Empty;
        _context.Truncate(Table(table), new MySqlSourceBlock(transaction, FileUtf8(), position, 0, null, null, null, null));
        MySqlLog.Truncated(_logger, _source, table.Database, table.Name, file, position);
    }

    public void OnDdlSkipped(string statement, string? file, long position, string reason) =>
        MySqlLog.DdlSkipped(_logger, _source, file, position, reason);

    public void OnXaCommitWithoutPrepare(string xid, string? file, long position) =>
        MySqlLog.XaCommitWithoutPrepare(_logger, _source, xid, file, position);

    public void OnHeartbeat() => _context.ReportAlive();

    /// <summary>Describes every captured table of the tracked schema to the runtime and registers it (the first start and
    /// restarts), so that schemas and topics exist before the first change.</summary>
    public async Task RegisterAllAsync(SchemaTracker schema, CancellationToken cancellationToken)
    {
        var own = _context.SnapshotTables;
        var captured = schema.Tables
            .Where(t => _options.Captures(t.Database, t.Name))
            // the snapshots' own tables: read from the binlog, never produced
            .Where(t => own is null || t.Database != own.Schema || (t.Name != own.Watermark && t.Name != own.Signal))
            .Select(Table)
            .ToList();
        await _context.RegisterAllAsync(captured, cancellationToken).ConfigureAwait(false);
    }

    private SourceTable Table(MySqlTable table)
    {
        if (!_tables.TryGetValue(table, out var described))
        {
            if (_tables.Count > 4096)
            {
                _tables.Clear();
            }

            var info = MySqlBinlogConnector.TableInfo(table);
            for (var i = 0; i < table.Columns.Count; i++)
            {
                if (table.Columns[i] is { Nullable: false, Default: { Kind: not DefaultLiteralKind.Implicit } literal } column && info.Table.Columns[i].Default is null
                    && _uncarried.Add((table.Database, table.Name, column.Name)))
                {
                    MySqlLog.DefaultNotCarried(_logger, _source, table.Database, table.Name, column.Name, $"{literal.Kind} {literal.Text}");
                }
            }

            described = _context.Table(info);
            _tables[table] = described;
        }

        return described;
    }

    private ReadOnlySpan<byte> FileUtf8()
    {
        var file = Processor?.Decoder.File ?? string.Empty;
        if (!ReferenceEquals(file, _file))
        {
            _file = file;
            _fileUtf8 = Encoding.UTF8.GetBytes(file);
        }

        return _fileUtf8;
    }
}
