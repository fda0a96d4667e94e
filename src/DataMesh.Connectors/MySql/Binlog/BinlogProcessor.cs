using System.Globalization;
using System.Text;
using DataMesh.Connectors.MySql.Schema;

namespace DataMesh.Connectors.MySql.Binlog;

/// <summary>One row change: a row of a rows event with its before and after images. Valid during the callback.</summary>
internal readonly ref struct RowChange
{
    public RowChange(RowsKind kind, TableBinding binding, ReadOnlySpan<byte> rows, RowImage? before, RowImage? after, int row, long position)
    {
        Kind = kind;
        Binding = binding;
        Rows = rows;
        Before = before;
        After = after;
        Row = row;
        Position = position;
    }

    public RowsKind Kind { get; }

    public TableBinding Binding { get; }

    /// <summary>The rows bytes of the event; the images index into them.</summary>
    public ReadOnlySpan<byte> Rows { get; }

    public RowImage? Before { get; }

    public RowImage? After { get; }

    /// <summary>The row's index within its rows event.</summary>
    public int Row { get; }

    /// <summary>The rows event's start position.</summary>
    public long Position { get; }
}

/// <summary>The transaction being read: its GTID, start and the statement behind its rows. Reused between transactions.</summary>
internal sealed class TransactionState
{
    public bool Active { get; set; }

    /// <summary>The GTID's text (<c>0-1-42</c> or <c>uuid:42</c>), or null.</summary>
    public string? Gtid { get; set; }

    /// <summary>The GTID's UTF-8 bytes, or empty.</summary>
    public byte[] GtidUtf8 { get; set; } = [];

    /// <summary>The GTID's sequence number (the envelope's <c>txId</c>), or null.</summary>
    public long? Sequence { get; set; }

    public MariaDbGtid? MariaDbGtid { get; set; }

    public Guid? MySqlSource { get; set; }

    public bool Standalone { get; set; }

    public uint ServerId { get; set; }

    public uint ThreadId { get; set; }

    /// <summary>When the transaction began on the server, in milliseconds since the epoch (second precision).</summary>
    public long TimestampMs { get; set; }

    /// <summary>The statement of the rows that follow (MariaDB's ANNOTATE_ROWS), UTF-8, or empty.</summary>
    public byte[] Query { get; set; } = [];

    public string? BeginFile { get; set; }

    public long BeginPosition { get; set; }

    public long Rows { get; set; }

    public void Clear()
    {
        Active = false;
        Gtid = null;
        GtidUtf8 = [];
        Sequence = null;
        MariaDbGtid = null;
        MySqlSource = null;
        Standalone = false;
        ThreadId = 0;
        Query = [];
        Rows = 0;
    }
}

/// <summary>What a DDL statement did, for the schema history and the schema registry.</summary>
/// <param name="Statement">The statement's text.</param>
/// <param name="Database">The QUERY event's default database.</param>
/// <param name="Changes">The tables it changed.</param>
/// <param name="File">The binlog file of the QUERY event.</param>
/// <param name="Position">The QUERY event's start position.</param>
internal sealed record SchemaChange(string Statement, string? Database, IReadOnlyList<TableChange> Changes, string? File, long Position);

/// <summary>Receives what <see cref="BinlogProcessor"/> reads.</summary>
internal interface IBinlogHandler
{
    /// <summary>A row of a captured table changed.</summary>
    void OnRow(scoped in RowChange change, TransactionState transaction);

    /// <summary>A transaction (or a stand-alone DDL) committed; the decoder's file and next position are after it.</summary>
    void OnCommit(TransactionState transaction);

    /// <summary>A DDL statement changed tables (called before the commit of its event group).</summary>
    void OnSchemaChange(SchemaChange change);

    /// <summary>A DDL statement could not be parsed and the settings say to skip it.</summary>
    void OnDdlSkipped(string statement, string? file, long position, string reason);

    /// <summary>The server sent a heartbeat: nothing new to read.</summary>
    void OnHeartbeat();

    /// <summary>A captured table was truncated (TRUNCATE TABLE, logged as a statement; called before the commit of its
    /// event group). Its schema is unchanged.</summary>
    /// <param name="table">The table, as tracked.</param>
    /// <param name="position">The QUERY event's start position.</param>
    /// <param name="transaction">The statement's transaction (its GTID, server and thread).</param>
    void OnTruncate(MySqlTable table, long position, TransactionState transaction)
    {
    }
}

/// <summary>
/// Turns binlog events into transactions, row changes and schema changes, the same for a server stream and a file:
/// GTIDs and BEGIN/COMMIT/XID mark transactions (their order is the binlog's, which is commit order), TABLE_MAPs are
/// bound to the tracked schema, rows are cut into images, DDL in QUERY events changes the tracked schema.
/// </summary>
internal sealed class BinlogProcessor
{
    private readonly SchemaTracker _schema;
    private readonly IBinlogHandler _handler;
    private readonly Func<string, string, bool> _captured;
    private readonly Dictionary<TableMapEvent, (int Version, TableBinding Binding)> _bindings = new(ReferenceEqualityComparer.Instance);
    private readonly RowImage _before = new();
    private readonly RowImage _after = new();
    private readonly TransactionState _transaction = new();

    public BinlogProcessor(BinlogDecoder decoder, SchemaTracker schema, IBinlogHandler handler, Func<string, string, bool> captured)
    {
        Decoder = decoder;
        _schema = schema;
        _handler = handler;
        _captured = captured;
    }

    public BinlogDecoder Decoder { get; }

    /// <summary>Whether the server is MariaDB (its FORMAT_DESCRIPTION says so).</summary>
    public bool IsMariaDb => Decoder.Format.IsMariaDb;

    /// <summary>MariaDB's GTID position after the last committed transaction.</summary>
    public MariaDbGtidPosition MariaDbPosition { get; set; } = new();

    /// <summary>MySQL's executed GTID set after the last committed transaction.</summary>
    public MySqlGtidSet MySqlGtids { get; set; } = new();

    /// <summary>Whether DDL that cannot be parsed is skipped (with a warning) instead of stopping.</summary>
    public bool SkipUnparseableDdl { get; init; }

    /// <summary>Whether ANNOTATE_ROWS statements are kept for the envelope's <c>query</c>.</summary>
    public bool KeepQueries { get; init; }

    public TransactionState Transaction => _transaction;

    /// <summary>Reads one event.</summary>
    /// <exception cref="BinlogFormatException">Bytes that cannot be decoded, with their position.</exception>
    /// <exception cref="MySqlSchemaException">A DDL statement that cannot be parsed or applied, with its position.</exception>
    public void Process(ReadOnlySpan<byte> data)
    {
        var e = Decoder.Decode(data);
        try
        {
            switch (e.Type)
            {
                case BinlogEventType.MariaDbGtid:
                    var gtid = MariaDbGtidEvent.Parse(e.Body, e.Header.ServerId);
                    Begin(e);
                    _transaction.MariaDbGtid = gtid.Gtid;
                    _transaction.Sequence = (long)gtid.Sequence;
                    _transaction.Standalone = gtid.IsStandalone;
                    _transaction.Gtid = gtid.Gtid.ToString();
                    _transaction.GtidUtf8 = Encoding.ASCII.GetBytes(_transaction.Gtid);
                    break;
                case BinlogEventType.MySqlGtid or BinlogEventType.MySqlAnonymousGtid:
                    var mysqlGtid = MySqlGtidEvent.Parse(e.Body);
                    Begin(e);
                    if (e.Type == BinlogEventType.MySqlGtid)
                    {
                        _transaction.MySqlSource = mysqlGtid.SourceId;
                        _transaction.Sequence = mysqlGtid.Sequence;
                        _transaction.Gtid = string.Create(CultureInfo.InvariantCulture, $"{mysqlGtid.SourceId:D}:{mysqlGtid.Sequence}");
                        _transaction.GtidUtf8 = Encoding.ASCII.GetBytes(_transaction.Gtid);
                    }

                    break;
                case BinlogEventType.Query:
                    ProcessQuery(e);
                    break;
                case BinlogEventType.Xid:
                    XidEvent.Parse(e.Body);
                    Commit();
                    break;
                case BinlogEventType.WriteRowsV1 or BinlogEventType.UpdateRowsV1 or BinlogEventType.DeleteRowsV1
                    or BinlogEventType.WriteRowsV2 or BinlogEventType.UpdateRowsV2 or BinlogEventType.DeleteRowsV2:
                    ProcessRows(e);
                    break;
                case BinlogEventType.AnnotateRows:
                    if (KeepQueries)
                    {
                        _transaction.Query = AnnotateRowsEvent.Parse(e.Body).Query.ToArray();
                    }

                    break;
                case BinlogEventType.Heartbeat or BinlogEventType.HeartbeatV2:
                    _handler.OnHeartbeat();
                    break;
                case BinlogEventType.GtidList:
                    GtidListEvent.Parse(e.Body);
                    break;
                case BinlogEventType.BinlogCheckpoint:
                    BinlogCheckpointEvent.Parse(e.Body);
                    break;
                case BinlogEventType.Incident:
                    throw new BinlogFormatException("INCIDENT", "type", 4, "the server logged an incident: changes may be missing from the binlog after this point; a new snapshot is needed");
            }
        }
        catch (BinlogFormatException ex)
        {
            throw BinlogFormatException.At(ex, Decoder.File, e.Position);
        }
        catch (NotSupportedException ex)
        {
            throw new MySqlSchemaException($"Binlog {Decoder.File}:{e.Position}: {ex.Message}", ex) { File = Decoder.File, Position = e.Position };
        }
        catch (FormatException ex) when (ex is not DdlParseException)
        {
            throw BinlogFormatException.At(new BinlogFormatException($"{BinlogEventTypes.Name(e.Header.Type)} event: {ex.Message}", ex), Decoder.File, e.Position);
        }
    }

    private void Begin(BinlogEvent e)
    {
        _transaction.Clear();
        _transaction.Active = true;
        _transaction.ServerId = e.Header.ServerId;
        _transaction.TimestampMs = e.Header.Timestamp * 1000L;
        _transaction.BeginFile = Decoder.File;
        _transaction.BeginPosition = e.Position;
    }

    private void ProcessQuery(BinlogEvent e)
    {
        var query = QueryEvent.Parse(e.Body);
        if (query.IsBegin)
        {
            if (!_transaction.Active)
            {
                Begin(e);
            }

            _transaction.ThreadId = query.ThreadId;
            return;
        }

        if (query.IsCommit)
        {
            Commit();
            return;
        }

        if (query.IsRollback)
        {
            _transaction.Clear();
            return;
        }

        var sql = Encoding.UTF8.GetString(query.Query);
        var database = query.Database.IsEmpty ? null : Encoding.UTF8.GetString(query.Database);
        if (!_transaction.Active)
        {
            Begin(e);
        }

        _transaction.ThreadId = query.ThreadId;
        ApplyDdl(sql, database, e.Position);
        if (_transaction.Standalone || !IsInsideTransaction(sql))
        {
            Commit();
        }
    }

    // DDL commits implicitly; XA and savepoint statements and DML logged as statements stay inside their transaction.
    private static bool IsInsideTransaction(string sql)
    {
        var trimmed = sql.AsSpan().TrimStart();
        return trimmed.StartsWith("XA ", StringComparison.OrdinalIgnoreCase) || trimmed.StartsWith("SAVEPOINT", StringComparison.OrdinalIgnoreCase)
            || trimmed.StartsWith("INSERT", StringComparison.OrdinalIgnoreCase) || trimmed.StartsWith("UPDATE", StringComparison.OrdinalIgnoreCase)
            || trimmed.StartsWith("DELETE", StringComparison.OrdinalIgnoreCase) || trimmed.StartsWith("REPLACE", StringComparison.OrdinalIgnoreCase)
            || trimmed.StartsWith("ROLLBACK", StringComparison.OrdinalIgnoreCase) || trimmed.StartsWith("RELEASE", StringComparison.OrdinalIgnoreCase);
    }

    private void ApplyDdl(string sql, string? database, long position)
    {
        DdlStatement statement;
        IReadOnlyList<TableChange> changes;
        try
        {
            statement = DdlParser.Parse(sql);
            changes = _schema.Apply(statement, database);
        }
        catch (DdlParseException ex)
        {
            if (SkipUnparseableDdl)
            {
                _handler.OnDdlSkipped(sql, Decoder.File, position, ex.Message);
                return;
            }

            throw new MySqlSchemaException(
                $"The DDL statement at binlog {Decoder.File}:{position} cannot be applied to the tracked schema: {ex.Message}. The connector stopped rather than map columns wrongly; set MySqlSourceOptions.SkipUnparseableDdl to skip such statements.",
                ex) { Statement = sql, File = Decoder.File, Position = position };
        }

        if (changes.Count > 0)
        {
            _handler.OnSchemaChange(new SchemaChange(sql, database, changes, Decoder.File, position));
        }

        if (statement is TruncateTableStatement truncate && _schema.Resolve(truncate.Table, database) is { } table && _captured(table.Database, table.Name))
        {
            if (KeepQueries)
            {
                _transaction.Query = Encoding.UTF8.GetBytes(sql);
            }

            _handler.OnTruncate(table, position, _transaction);
        }
    }

    private void Commit()
    {
        if (_transaction.MariaDbGtid is { } mariaDb)
        {
            MariaDbPosition.Set(mariaDb);
        }
        else if (_transaction.MySqlSource is { } source && _transaction.Sequence is { } gno)
        {
            MySqlGtids.Add(source, gno);
        }

        _handler.OnCommit(_transaction);
        _transaction.Clear();
    }

    private void ProcessRows(BinlogEvent e)
    {
        var rows = RowsEvent.Parse(e.Body, e.Type, Decoder.TableIdLength);
        var name = BinlogEventTypes.Name(e.Header.Type);
        var map = Decoder.GetTableMap(rows.TableId, name, e.Position);
        if (!_captured(map.Database, map.Table))
        {
            return;
        }

        if (rows.ColumnCount != map.Columns.Length)
        {
            throw new BinlogFormatException(name, "column_count", BinlogEventHeader.Length, $"the rows event has {rows.ColumnCount} columns but the TABLE_MAP of `{map.Database}`.`{map.Table}` has {map.Columns.Length}");
        }

        var binding = Bind(map);
        var data = rows.Rows;
        var offset = 0;
        var index = 0;
        while (offset < data.Length)
        {
            RowImage? before = null;
            RowImage? after = null;
            if (rows.Kind != RowsKind.Insert)
            {
                offset = _before.Read(data, offset, map.Columns, rows.PresentInBefore, name, rows.RowsOffset);
                before = _before;
            }

            if (rows.Kind != RowsKind.Delete)
            {
                offset = _after.Read(data, offset, map.Columns, rows.PresentInAfter, name, rows.RowsOffset);
                after = _after;
            }

            _transaction.Rows++;
            _handler.OnRow(new RowChange(rows.Kind, binding, data, before, after, index++, e.Position), _transaction);
        }

        if (index == 0)
        {
            throw new BinlogFormatException(name, "rows", rows.RowsOffset, "the rows event has no rows");
        }
    }

    private TableBinding Bind(TableMapEvent map)
    {
        if (_bindings.TryGetValue(map, out var cached) && cached.Version == _schema.Version)
        {
            return cached.Binding;
        }

        var table = _schema.Find(map.Database, map.Table);
        if (table is null)
        {
            if (map.ColumnNames is null)
            {
                throw new BinlogFormatException("TABLE_MAP", "table", BinlogEventHeader.Length, $"table `{map.Database}`.`{map.Table}` is not in the tracked schema and its TABLE_MAP has no column names (binlog_row_metadata=FULL)");
            }

            table = TableBinding.DescribeFromMap(map, IsMariaDb);
            _schema.Put(table);
            _handler.OnSchemaChange(new SchemaChange(string.Empty, map.Database, [new TableChange(table.Database, table.Name, table)], Decoder.File, -1));
        }

        if (_bindings.Count > 1024)
        {
            _bindings.Clear();
        }

        var binding = TableBinding.Create(map, table, IsMariaDb);
        _bindings[map] = (_schema.Version, binding);
        return binding;
    }
}
