namespace DataMesh.Connectors.MySql.Binlog;

/// <summary>
/// QUERY (2): a statement (BEGIN, COMMIT, ROLLBACK, DDL, XA ...) with the default database; also EXECUTE_LOAD_QUERY (18),
/// the statement of a LOAD DATA logged as a statement, whose file's bytes came before it in BEGIN_LOAD_QUERY (17) and
/// APPEND_BLOCK (9) events. A <see langword="ref struct"/>
/// over the event's bytes so that the BEGIN and COMMIT of every transaction cost no allocation; valid while the
/// event's bytes are.
/// </summary>
internal readonly ref struct QueryEvent
{
    private QueryEvent(uint threadId, uint executionTime, ushort errorCode, ReadOnlySpan<byte> database, ReadOnlySpan<byte> query)
    {
        ThreadId = threadId;
        ExecutionTime = executionTime;
        ErrorCode = errorCode;
        Database = database;
        Query = query;
    }

    public uint ThreadId { get; }

    public uint ExecutionTime { get; }

    public ushort ErrorCode { get; }

    /// <summary>The default database (UTF-8), empty when none.</summary>
    public ReadOnlySpan<byte> Database { get; }

    /// <summary>The statement's text (the connection's character set; UTF-8 in practice).</summary>
    public ReadOnlySpan<byte> Query { get; }

    public bool IsBegin => Query.SequenceEqual("BEGIN"u8);

    public bool IsCommit => Query.SequenceEqual("COMMIT"u8);

    public bool IsRollback => Query.SequenceEqual("ROLLBACK"u8);

    /// <summary>Parses the event body (after the header, without the checksum).</summary>
    public static QueryEvent Parse(ReadOnlySpan<byte> body) => Parse(body, "QUERY", executeLoad: false);

    /// <summary>Parses an EXECUTE_LOAD_QUERY event's body (after the header, without the checksum): a QUERY's fields with
    /// <c>file_id</c>, <c>fn_pos_start</c>, <c>fn_pos_end</c> and <c>dup_handling</c> after <c>status_vars_length</c>;
    /// <see cref="Query"/> is the LOAD DATA statement.</summary>
    public static QueryEvent ParseExecuteLoadQuery(ReadOnlySpan<byte> body) => Parse(body, "EXECUTE_LOAD_QUERY", executeLoad: true);

    private static QueryEvent Parse(ReadOnlySpan<byte> body, string eventName, bool executeLoad)
    {
        var reader = new Protocol.PayloadReader(body, eventName, BinlogEventHeader.Length);
        var thread = reader.ReadUInt32("thread_id");
        var time = reader.ReadUInt32("execution_time");
        var databaseLength = reader.ReadByte("schema_length");
        var error = reader.ReadUInt16("error_code");
        var statusLength = reader.ReadUInt16("status_vars_length");
        if (executeLoad)
        {
            reader.ReadUInt32("file_id");
            reader.ReadUInt32("fn_pos_start");
            reader.ReadUInt32("fn_pos_end");
            reader.ReadByte("dup_handling");
        }

        reader.Skip(statusLength, "status_vars");
        var database = reader.ReadSpan(databaseLength, "schema");
        if (reader.ReadByte("schema_terminator") != 0)
        {
            throw new BinlogFormatException(eventName, "schema", BinlogEventHeader.Length + reader.Offset - 1, "the database name is not followed by a NUL byte");
        }

        return new QueryEvent(thread, time, error, database, reader.Rest);
    }
}
