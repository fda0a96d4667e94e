namespace DataMesh.Connectors.MySql;

/// <summary>
/// The server answered the replication client with an error (ERR packet), or refused what the connector needs:
/// authentication failed, the binlog position was purged, the user lacks <c>REPLICATION SLAVE</c>.
/// </summary>
public sealed class MySqlReplicationException : Exception
{
    /// <summary>Creates an exception with a message.</summary>
    public MySqlReplicationException()
        : this("The MySQL/MariaDB server refused the replication client.")
    {
    }

    /// <summary>Creates an exception with a message.</summary>
    /// <param name="message">What happened.</param>
    public MySqlReplicationException(string message)
        : base(message)
    {
    }

    /// <summary>Creates an exception with a message and its cause.</summary>
    /// <param name="message">What happened.</param>
    /// <param name="innerException">The cause.</param>
    public MySqlReplicationException(string message, Exception innerException)
        : base(message, innerException)
    {
    }

    /// <summary>Creates an exception for a server error.</summary>
    /// <param name="errorCode">The server's error number (e.g. 1236 for a binlog read error).</param>
    /// <param name="sqlState">The five-character SQL state, or null.</param>
    /// <param name="message">The message.</param>
    public MySqlReplicationException(int errorCode, string? sqlState, string message)
        : base(message)
    {
        ErrorCode = errorCode;
        SqlState = sqlState;
    }

    /// <summary>The server's error number, or 0 when the error did not come from the server.</summary>
    public int ErrorCode { get; }

    /// <summary>The SQL state, or null.</summary>
    public string? SqlState { get; }

    /// <summary>Whether the error says the requested binlog position no longer exists on the server (purged
    /// binlog files, or a GTID position older than the oldest binlog): a new snapshot is needed.</summary>
    public bool IsPositionPurged { get; init; }
}
