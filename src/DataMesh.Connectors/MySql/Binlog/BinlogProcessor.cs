using System.Buffers.Binary;
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

    /// <summary>Whether the transaction is an XA transaction being prepared (MariaDB's FL_PREPARED_XA, MySQL's
    /// <c>XA START</c>): its rows are held until its outcome.</summary>
    public bool Xa { get; set; }

    public void Clear()
    {
        Active = false;
        Xa = false;
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

    /// <summary>An XA COMMIT came for an XA transaction whose XA PREPARE was not read (it came before the position the
    /// source started from): its row changes, if it had any on captured tables, are not in the stream.</summary>
    /// <param name="xid">The XID.</param>
    /// <param name="file">The binlog file of the XA COMMIT.</param>
    /// <param name="position">Its position.</param>
    void OnXaCommitWithoutPrepare(string xid, string? file, long position)
    {
    }
}

/// <summary>
/// Turns binlog events into transactions, row changes and schema changes, the same for a server stream and a file:
/// GTIDs and BEGIN/COMMIT/XID mark transactions (their order is the binlog's, which is commit order), TABLE_MAPs are
/// bound to the tracked schema, rows are cut into images, DDL in QUERY events changes the tracked schema.
/// </summary>
/// <remarks>
/// An XA transaction reaches the binlog at its XA PREPARE, before its outcome: its rows events are held
/// (<see cref="PreparedXaTransactions"/>) and handed out at its XA COMMIT, in the commit's place and with the commit's
/// GTID, or dropped at its XA ROLLBACK. Until then <see cref="RestartPosition"/> does not move past the PREPARE.
/// A row image that lacks columns (<c>binlog_row_image=MINIMAL</c> or <c>NOBLOB</c>) stops the processor with a
/// <see cref="MySqlSchemaException"/> unless <see cref="AllowPartialRowImages"/> is set.
/// </remarks>
internal sealed class BinlogProcessor
{
    private readonly SchemaTracker _schema;
    private readonly IBinlogHandler _handler;
    private readonly Func<string, string, bool> _captured;
    private readonly Dictionary<TableMapEvent, (int Version, TableBinding Binding)> _bindings = new(ReferenceEqualityComparer.Instance);
    private readonly RowImage _before = new();
    private readonly RowImage _after = new();
    private readonly TransactionState _transaction = new();
    private readonly List<HeldRowsEvent> _xaEvents = [];
    private long _xaBytes;

    /// <summary>While a TRANSACTION_PAYLOAD's events are read: the next row's number. All its rows carry the payload
    /// event's position, so they are numbered through the transaction (as an XA COMMIT's held rows are), each change
    /// keeping a file, pos and row of its own, in order.</summary>
    private int? _payloadRow;

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

    /// <summary>Whether a row image that lacks columns (<c>binlog_row_image=MINIMAL</c> or <c>NOBLOB</c>) is handed out
    /// with them marked <see cref="CellState.Missing"/> (tools reading binlog files) instead of stopping with a
    /// <see cref="MySqlSchemaException"/> (the default: a change event needs whole rows).</summary>
    public bool AllowPartialRowImages { get; init; }

    /// <summary>The XA transactions prepared and not yet resolved, with their held rows.</summary>
    public PreparedXaTransactions PreparedXa { get; init; } = new();

    public TransactionState Transaction => _transaction;

    /// <summary>
    /// Where a restart may resume after what was read so far: after the last event read (the decoder's file and next
    /// position, the GTID state after the last committed transaction), unless an XA transaction with rows of captured
    /// tables is prepared and unresolved; then the start of the earliest such XA PREPARE's event group with the GTID
    /// state before it, so that a restart reads the PREPARE again (and delivers what came after it again: at least
    /// once). Positions stored must come from here.
    /// </summary>
    public MySqlPosition RestartPosition => PreparedXa.RestartPosition ?? PositionAt(Decoder.File ?? string.Empty, Decoder.NextPosition);

    /// <summary>Reads one event.</summary>
    /// <exception cref="BinlogFormatException">Bytes that cannot be decoded, with their position.</exception>
    /// <exception cref="MySqlSchemaException">A DDL statement that cannot be parsed or applied, with its position.</exception>
    public void Process(ReadOnlySpan<byte> data) => Handle(Decoder.Decode(data));

    private void Handle(BinlogEvent e)
    {
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
                    _transaction.Xa = gtid.IsPreparedXa;
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
                case BinlogEventType.ExecuteLoadQuery:
                    ProcessExecuteLoadQuery(e);
                    break;
                case BinlogEventType.Xid:
                    XidEvent.Parse(e.Body);
                    Commit();
                    break;
                case BinlogEventType.XaPrepare:
                    ProcessXaPrepare(e);
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
                case BinlogEventType.TransactionPayload:
                    ProcessPayload(e);
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

    /// <summary>A MySQL compressed transaction (TRANSACTION_PAYLOAD): its events, read as if they stood in the binlog
    /// one after another at the payload event's position.</summary>
    private void ProcessPayload(BinlogEvent payload)
    {
        var events = Decoder.UnpackPayload(payload);
        // Framed whole before any event is handled: a payload that does not split into events hands out no row.
        var end = 0;
        while (end < events.Length)
        {
            end += EmbeddedSize(events, end);
        }

        _payloadRow = 0;
        try
        {
            for (var offset = 0; offset < events.Length;)
            {
                var size = EmbeddedSize(events, offset);
                Handle(Decoder.DecodeEmbedded(events.Slice(offset, size), payload.Position));
                offset += size;
            }
        }
        finally
        {
            _payloadRow = null;
        }
    }

    private static int EmbeddedSize(ReadOnlySpan<byte> events, int offset)
    {
        var size = events.Length - offset >= BinlogEventHeader.Length ? BinaryPrimitives.ReadUInt32LittleEndian(events[(offset + 9)..]) : 0;
        return size >= BinlogEventHeader.Length && size <= events.Length - offset
            ? (int)size
            : throw new BinlogFormatException("TRANSACTION_PAYLOAD", "payload", BinlogEventHeader.Length, $"the event at byte {offset} of the uncompressed payload ({events.Length} bytes) gives its size as {size}");
    }

    private void Begin(BinlogEvent e)
    {
        ClearTransaction();
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
            ClearTransaction();
            return;
        }

        var xa = XaStatement.Parse(query.Query, out var xid);
        switch (xa)
        {
            case XaStatementKind.Start:
                if (!_transaction.Active)
                {
                    Begin(e);
                }

                _transaction.ThreadId = query.ThreadId;
                _transaction.Xa = true;
                return;
            case XaStatementKind.Commit or XaStatementKind.Rollback:
                // The outcome of a prepared XA transaction, in an event group of its own.
                if (!_transaction.Active)
                {
                    Begin(e);
                }

                _transaction.ThreadId = query.ThreadId;
                ResolveXa(xid!, xa == XaStatementKind.Commit, e.Position);
                Commit();
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
        if (_transaction.MariaDbGtid is not null && !_transaction.Standalone)
        {
            // A MariaDB event group without FL_STANDALONE ends with its own XID or COMMIT: a DDL inside it (CREATE TABLE
            // ... SELECT, whose rows follow) does not end it. Committing here would store a position inside the group with
            // its GTID counted as done, and a restart would skip the rest of its rows.
            return;
        }

        if (_transaction.Standalone || !IsInsideTransaction(sql))
        {
            Commit();
        }
    }

    /// <summary>A LOAD DATA logged as a statement: its rows are the file's bytes (BEGIN_LOAD_QUERY and APPEND_BLOCK, passed
    /// over) read by the statement. Into a captured table it stops the source, as any row change logged as a statement
    /// does; so does one whose table cannot be read from it. It stays inside its transaction, which ends with its own XID
    /// or COMMIT.</summary>
    private void ProcessExecuteLoadQuery(BinlogEvent e)
    {
        var query = QueryEvent.ParseExecuteLoadQuery(e.Body);
        var sql = Encoding.UTF8.GetString(query.Query);
        var database = query.Database.IsEmpty ? null : Encoding.UTF8.GetString(query.Database);
        if (!_transaction.Active)
        {
            Begin(e);
        }

        _transaction.ThreadId = query.ThreadId;
        DdlStatement? statement;
        try
        {
            statement = DdlParser.Parse(sql);
        }
        catch (DdlParseException)
        {
            statement = null;
        }

        // A statement not read as a LOAD DATA is one whose table is unknown: it stops the source.
        var load = statement is LoggedRowChangeStatement { Verb: "LOAD" } read ? read : new LoggedRowChangeStatement("LOAD", null);
        ThrowIfCaptured(load, database, e.Position);
    }

    private bool Captured(TableName name) => name.Database is not null && _captured(name.Database, name.Name);

    /// <summary>Whether a CREATE or ALTER that could not be read is of a table this source does not capture, whatever the
    /// case of its name (and the tracked table it names, if any); a statement that renames is never taken for one.</summary>
    private bool IsOfUncapturedTable(TableName? table, string? database, string sql, out MySqlTable? tracked)
    {
        tracked = null;
        if (table?.Qualify(database) is not { Database: { Length: > 0 } db } qualified || sql.Contains("RENAME", StringComparison.OrdinalIgnoreCase))
        {
            return false;
        }

        tracked = _schema.Resolve(qualified, database);
        return !Captured(qualified) && !_captured(db.ToLowerInvariant(), qualified.Name.ToLowerInvariant())
            && (tracked is null || !_captured(tracked.Database, tracked.Name));
    }

    /// <summary>Whether the statement creates or renames a table into one this source captures.</summary>
    private bool ProducesCaptured(DdlStatement statement, string? database) => statement switch
    {
        CreateTableLikeStatement like => Captured(like.Table.Qualify(database)),
        RenameTablesStatement rename => rename.Renames.Any(r => Captured(r.To.Qualify(database))),
        AlterTableStatement alter => alter.Actions.OfType<RenameTableAction>().Any(r => Captured(r.NewName.Qualify(database))),
        _ => false,
    };

    // DDL commits implicitly; XA and savepoint statements and DML logged as statements stay inside their transaction. The
    // statement is logged as the client sent it: comments before it (/* app */ UPDATE ...) are passed over, or a DML logged
    // as a statement would commit its transaction halfway (its GTID counted as done before its later rows).
    internal static bool IsInsideTransaction(string sql)
    {
        var trimmed = SkipLeadingComments(sql.AsSpan());
        return trimmed.StartsWith("XA ", StringComparison.OrdinalIgnoreCase) || trimmed.StartsWith("SAVEPOINT", StringComparison.OrdinalIgnoreCase)
            || trimmed.StartsWith("INSERT", StringComparison.OrdinalIgnoreCase) || trimmed.StartsWith("UPDATE", StringComparison.OrdinalIgnoreCase)
            || trimmed.StartsWith("DELETE", StringComparison.OrdinalIgnoreCase) || trimmed.StartsWith("REPLACE", StringComparison.OrdinalIgnoreCase)
            || trimmed.StartsWith("WITH", StringComparison.OrdinalIgnoreCase)
            || trimmed.StartsWith("ROLLBACK", StringComparison.OrdinalIgnoreCase) || trimmed.StartsWith("RELEASE", StringComparison.OrdinalIgnoreCase);
    }

    /// <summary>The statement after its leading white space and comments (<c>/* */</c>, <c>-- </c>, <c>#</c>), not the
    /// versioned ones (<c>/*!50100 ... */</c>, <c>/*M!...*/</c>), whose text is SQL.</summary>
    private static ReadOnlySpan<char> SkipLeadingComments(ReadOnlySpan<char> sql)
    {
        while (true)
        {
            sql = sql.TrimStart();
            if (sql.StartsWith("/*", StringComparison.Ordinal) && !sql.StartsWith("/*!", StringComparison.Ordinal) && !sql.StartsWith("/*M!", StringComparison.Ordinal))
            {
                var end = sql[2..].IndexOf("*/", StringComparison.Ordinal);
                if (end < 0)
                {
                    return sql;
                }

                sql = sql[(end + 4)..];
            }
            else if (sql.StartsWith("#", StringComparison.Ordinal) || (sql.StartsWith("--", StringComparison.Ordinal) && (sql.Length == 2 || char.IsWhiteSpace(sql[2]) || char.IsControl(sql[2]))))
            {
                var end = sql.IndexOf('\n');
                if (end < 0)
                {
                    return [];
                }

                sql = sql[(end + 1)..];
            }
            else
            {
                return sql;
            }
        }
    }

    private void ApplyDdl(string sql, string? database, long position)
    {
        DdlStatement? statement = null;
        IReadOnlyList<TableChange> changes;
        try
        {
            statement = DdlParser.Parse(sql);
            if (statement is LoggedRowChangeStatement rowChange)
            {
                ThrowIfCaptured(rowChange, database, position);
                return;
            }

            changes = _schema.Apply(statement, database);
        }
        catch (DdlParseException ex) when (ex.UnknownTable is { } unknown && !Captured(unknown) && statement is not null && !ProducesCaptured(statement, database))
        {
            // A table the tracked schema never had (one the user may not see, e.g. without SELECT on its database) and that
            // this source does not capture, nor makes a captured one: nothing of it is ever decoded.
            return;
        }
        catch (DdlParseException ex) when (statement is null && IsOfUncapturedTable(ex.Table, database, sql, out var tracked))
        {
            // A CREATE TABLE or ALTER TABLE of a table this source does not capture that cannot be read (a type without a
            // mapping, such as MariaDB's INET6): nothing of that table is ever decoded. It is no longer tracked, and the
            // schema history records it so (a restart must not bring its old definition back), so that a later statement
            // making it a captured table (a RENAME into the captured set) stops the source as unknown.
            if (tracked is not null)
            {
                _schema.Remove(tracked.Database, tracked.Name);
                _handler.OnSchemaChange(new SchemaChange(string.Empty, database, [new TableChange(tracked.Database, tracked.Name, null)], Decoder.File, position));
            }

            return;
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

    /// <summary>A change of a captured table logged as a statement has no rows to read: it stops the source (as a row image
    /// that lacks columns does) rather than be passed over; so does one whose tables cannot be read from it. A table only read
    /// by it (a multi-table UPDATE or DELETE, a subquery) does not stop it.</summary>
    private void ThrowIfCaptured(LoggedRowChangeStatement statement, string? database, long position)
    {
        var what = statement.Verb switch { "INSERT" or "UPDATE" => "an " + statement.Verb, "LOAD" => "a LOAD DATA", var verb => "a " + verb };
        if (statement.Tables is null)
        {
            throw StatementLoggedError($"{what} whose tables could not be read from its statement", position);
        }

        foreach (var name in statement.Tables)
        {
            ThrowIfCaptured(name, database, what, position, static _ => true);
        }

        foreach (var name in statement.ColumnTables)
        {
            // A column set without its table's name changes that table when the table has it; a table whose columns are not
            // tracked may have it.
            ThrowIfCaptured(name, database, what, position, table => table is null || statement.Columns.Any(c => table.IndexOf(c) >= 0));
        }
    }

    private void ThrowIfCaptured(TableName name, string? database, string what, long position, Func<MySqlTable?, bool> changes)
    {
        var qualified = name.Qualify(database);
        var table = _schema.Resolve(qualified, database);
        if ((Captured(qualified) || (table is not null && _captured(table.Database, table.Name))) && changes(table))
        {
            var shown = $"`{table?.Database ?? qualified.Database}`.`{table?.Name ?? qualified.Name}`";
            throw StatementLoggedError($"{what} of {shown}", position, what == "a DELETE"
                ? $" If {shown} is a MEMORY table, the server itself logs DELETE FROM it, whatever binlog_format is, when it first opens the table after a restart (its rows were lost with the restart): "
                  + "capture no MEMORY table (they lose their rows at every restart), or convert it to InnoDB."
                : string.Empty);
        }
    }

    /// <summary>The error that stops the source at a row change logged as a statement (<paramref name="what"/>: "an INSERT
    /// of `db`.`t`"); no statement text, which holds row values.</summary>
    private MySqlSchemaException StatementLoggedError(string what, long position, string also = "") => new(
        $"Binlog {Decoder.File}:{position}: {what} was logged as a statement, without its rows: "
        + "the session that ran it had binlog_format=STATEMENT or MIXED, and a change event needs the rows. "
        + "Run SET GLOBAL binlog_format=ROW and set binlog_format=ROW in the server's configuration; a session can set its own binlog_format too (with SUPER or BINLOG ADMIN), "
        + "so make sure no application sets it. The change cannot be read from the binlog: after the fix, reset this source's stored position and take a snapshot to go on." + also)
    {
        File = Decoder.File,
        Position = position,
    };

    private void Commit()
    {
        AdvanceGtidState();
        _handler.OnCommit(_transaction);
        ClearTransaction();
    }

    private void AdvanceGtidState()
    {
        if (_transaction.MariaDbGtid is { } mariaDb)
        {
            MariaDbPosition.Set(mariaDb);
        }
        else if (_transaction.MySqlSource is { } source && _transaction.Sequence is { } gno)
        {
            MySqlGtids.Add(source, gno);
        }
    }

    private void ClearTransaction()
    {
        _transaction.Clear();
        _xaEvents.Clear();
        _xaBytes = 0;
    }

    /// <summary>A position with the GTID state after the last committed transaction.</summary>
    private MySqlPosition PositionAt(string file, long position)
    {
        var gtid = IsMariaDb ? MariaDbPosition.ToString() : MySqlGtids.ToString();
        return new MySqlPosition { File = file, Position = position, Gtid = gtid.Length == 0 ? null : gtid, MariaDb = IsMariaDb };
    }

    private void ProcessXaPrepare(BinlogEvent e)
    {
        var prepare = XaPrepareEvent.Parse(e.Body);
        if (prepare.OnePhase)
        {
            // MySQL's XA COMMIT ... ONE PHASE: an ordinary commit.
            DeliverHeld(_xaEvents, e.Position);
            Commit();
            return;
        }

        // The GTID state is still the one before this group: a restart from the group's start reads it again.
        var start = PositionAt(_transaction.BeginFile ?? Decoder.File ?? string.Empty, _transaction.BeginPosition);
        PreparedXa.Add(new PreparedXa(prepare.Xid, [.. _xaEvents], start));
        AdvanceGtidState();
        ClearTransaction();
    }

    private void ResolveXa(string xid, bool commit, long position)
    {
        if (!PreparedXa.TryTake(xid, out var prepared))
        {
            if (commit)
            {
                _handler.OnXaCommitWithoutPrepare(xid, Decoder.File, position);
            }

            return;
        }

        if (commit)
        {
            DeliverHeld(prepared.Events, position);
        }
    }

    /// <summary>Hands out held rows events as the current transaction's, at <paramref name="position"/> (the event that
    /// commits them), rows numbered through the whole transaction.</summary>
    private void DeliverHeld(List<HeldRowsEvent> events, long position)
    {
        var query = _transaction.Query;
        var row = 0;
        foreach (var held in events)
        {
            var rows = RowsEvent.Parse(held.Body, held.Type, held.TableIdLength);
            if (KeepQueries)
            {
                _transaction.Query = held.Query;
            }

            DeliverRows(rows, held.Map, BinlogEventTypes.Name((byte)held.Type), position, ref row);
        }

        _transaction.Query = query;
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

        if (_transaction.Xa)
        {
            // Not committed yet: held as bytes until the XA COMMIT (or dropped at the XA ROLLBACK).
            var held = new HeldRowsEvent(map, e.Type, Decoder.TableIdLength, e.Body.ToArray(), KeepQueries ? _transaction.Query : []);
            PreparedXa.EnsureRoom(_xaBytes, held.Size, Decoder.File, e.Position);
            _xaEvents.Add(held);
            _xaBytes += held.Size;
            return;
        }

        var row = _payloadRow ?? 0;
        DeliverRows(rows, map, name, e.Position, ref row);
        if (_payloadRow is not null)
        {
            _payloadRow = row;
        }
    }

    private void DeliverRows(RowsEvent rows, TableMapEvent map, string name, long position, ref int row)
    {
        var binding = Bind(map);
        var data = rows.Rows;
        var offset = 0;
        var first = row;
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

            if (!AllowPartialRowImages && ((before?.MissingCount ?? 0) + (after?.MissingCount ?? 0)) > 0)
            {
                throw PartialImage(rows.Kind, binding, before, after, position);
            }

            _transaction.Rows++;
            _handler.OnRow(new RowChange(rows.Kind, binding, data, before, after, row++, position), _transaction);
        }

        if (row == first)
        {
            throw new BinlogFormatException(name, "rows", rows.RowsOffset, "the rows event has no rows");
        }
    }

    private MySqlSchemaException PartialImage(RowsKind kind, TableBinding binding, RowImage? before, RowImage? after, long position)
    {
        var lacks = new List<string>(2);
        if (before is { IsComplete: false })
        {
            lacks.Add($"{string.Join(", ", before.MissingColumns(binding.Columns))} in its before image");
        }

        if (after is { IsComplete: false })
        {
            lacks.Add($"{string.Join(", ", after.MissingColumns(binding.Columns))} in its after image");
        }

        var statement = kind switch { RowsKind.Insert => "an INSERT", RowsKind.Update => "an UPDATE", _ => "a DELETE" };
        return new MySqlSchemaException(
            $"Binlog {Decoder.File}:{position}: {statement} of `{binding.Map.Database}`.`{binding.Map.Table}` lacks columns {string.Join(" and ", lacks)}: "
            + "the server logged it with binlog_row_image=MINIMAL or NOBLOB, and a change event needs whole rows (its key comes from the before image, its values from both). "
            + "Run SET GLOBAL binlog_row_image=FULL and set binlog_row_image=FULL in the server's configuration; a session can set its own binlog_row_image too, "
            + "so make sure no application sets it. Rows already logged without whole images cannot be completed from the binlog: "
            + "after the change, reset this source's stored position (start afresh) to go on.")
        {
            File = Decoder.File,
            Position = position,
        };
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
                throw new BinlogFormatException("TABLE_MAP", "table", BinlogEventHeader.Length, $"table `{map.Database}`.`{map.Table}` is not in the tracked schema and its TABLE_MAP has no column names (binlog_row_metadata=FULL). " +
                    "A table with a MariaDB UUID, INET6 or INET4 column that an earlier DataMesh left out of this source's schema history is one: capture it with a new source (a new name starts a new history; see docs/mysql.md)");
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
