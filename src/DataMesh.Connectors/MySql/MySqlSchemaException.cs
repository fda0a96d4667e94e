namespace DataMesh.Connectors.MySql;

/// <summary>
/// A DDL statement in the binlog that the connector cannot apply to the table schemas it tracks (a statement it
/// cannot parse, or one about a table or column it does not know), or a row whose image lacks columns
/// (<c>binlog_row_image=MINIMAL</c> or <c>NOBLOB</c>). The connector stops rather than map columns wrongly or fill
/// them in; the message gives the binlog position and what to do.
/// </summary>
public sealed class MySqlSchemaException : Exception
{
    /// <summary>Creates an exception.</summary>
    public MySqlSchemaException()
    {
    }

    /// <summary>Creates an exception with a message.</summary>
    /// <param name="message">What happened.</param>
    public MySqlSchemaException(string message)
        : base(message)
    {
    }

    /// <summary>Creates an exception with a message and its cause.</summary>
    /// <param name="message">What happened.</param>
    /// <param name="innerException">The cause.</param>
    public MySqlSchemaException(string message, Exception innerException)
        : base(message, innerException)
    {
    }

    /// <summary>The statement, or null.</summary>
    public string? Statement { get; init; }

    /// <summary>The binlog file of the statement, or null.</summary>
    public string? File { get; init; }

    /// <summary>The statement's position in <see cref="File"/>, or -1.</summary>
    public long Position { get; init; } = -1;
}
