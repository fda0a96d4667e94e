namespace DataMesh.Connectors.MySql.Protocol;

/// <summary>An ERR packet: 0xFF, a 2-byte error code, with protocol 4.1 '#' and a 5-character SQL state, then the message.</summary>
internal sealed class ErrorPacket
{
    private ErrorPacket(int errorCode, string? sqlState, string message)
    {
        ErrorCode = errorCode;
        SqlState = sqlState;
        Message = message;
    }

    public int ErrorCode { get; }

    public string? SqlState { get; }

    public string Message { get; }

    public static bool IsError(ReadOnlySpan<byte> payload) => payload.Length > 0 && payload[0] == 0xFF;

    public static ErrorPacket Create(ReadOnlySpan<byte> payload)
    {
        var reader = new PayloadReader(payload, "ERR packet");
        if (reader.ReadByte("header") != 0xFF)
        {
            throw reader.Error("header", "not an ERR packet");
        }

        var code = reader.ReadUInt16("error_code");
        string? state = null;
        if (reader.Remaining > 0 && reader.Rest[0] == (byte)'#')
        {
            reader.Skip(1, "sql_state_marker");
            state = reader.ReadString(5, "sql_state");
        }

        return new ErrorPacket(code, state, reader.ReadRestString());
    }

    /// <summary>The exception this error stands for; binlog read errors that mean "purged" are flagged.</summary>
    /// <param name="context">What the client was doing, for the message.</param>
    public MySqlReplicationException ToException(string context)
    {
        // 1236 ER_MASTER_FATAL_ERROR_READING_BINLOG covers "Could not find first log file name in binary log index
        // file", "...purged binary logs..." and MariaDB's "Could not find GTID state requested by slave in any binlog files".
        var purged = ErrorCode == 1236 && (Message.Contains("purged", StringComparison.OrdinalIgnoreCase)
            || Message.Contains("Could not find first log file", StringComparison.OrdinalIgnoreCase)
            || Message.Contains("Could not find GTID state", StringComparison.OrdinalIgnoreCase)
            || Message.Contains("could not find next log", StringComparison.OrdinalIgnoreCase));
        var text = purged
            ? $"{context}: the server no longer has the binlog at the requested position (error {ErrorCode}: {Message}). The binlog was purged past the stored position; a new snapshot is needed (reset the stored position and take a snapshot)."
            : $"{context}: server error {ErrorCode}{(SqlState is null ? string.Empty : " (" + SqlState + ")")}: {Message}";
        return new MySqlReplicationException(ErrorCode, SqlState, text) { IsPositionPurged = purged };
    }
}
