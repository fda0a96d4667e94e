namespace DataMesh.Sources;

/// <summary>
/// An error of a source that says whether it may clear by itself. The runtime retries a transient one with backoff and
/// stops the source on any other, logging its message, which says what happened and what to do.
/// </summary>
public class SourceException : Exception
{
    /// <summary>Creates an error.</summary>
    public SourceException()
    {
    }

    /// <summary>Creates an error.</summary>
    /// <param name="message">What happened and what to do.</param>
    public SourceException(string message)
        : base(message)
    {
    }

    /// <summary>Creates an error.</summary>
    /// <param name="message">What happened and what to do.</param>
    /// <param name="innerException">The cause.</param>
    public SourceException(string message, Exception? innerException)
        : base(message, innerException)
    {
    }

    /// <summary>Creates an error.</summary>
    /// <param name="message">What happened and what to do.</param>
    /// <param name="isTransient">Whether retrying may succeed.</param>
    /// <param name="innerException">The cause, or null.</param>
    public SourceException(string message, bool isTransient, Exception? innerException = null)
        : base(message, innerException)
    {
        IsTransient = isTransient;
    }

    /// <summary>Whether retrying may succeed (a server restarting, a slot still held by a connector that just died).</summary>
    public bool IsTransient { get; }
}

/// <summary>A column value that cannot be written as its Avro type (or that the log did not carry); fatal.</summary>
public class SourceValueException : SourceException
{
    /// <summary>Creates an error.</summary>
    /// <param name="table">The table.</param>
    /// <param name="column">The column's index.</param>
    /// <param name="reason">What is wrong and what to do.</param>
    /// <param name="innerException">The cause, or null.</param>
    public SourceValueException(SourceTable table, int column, string reason, Exception? innerException)
        : base(Describe(table, column, reason), isTransient: false, innerException)
    {
        Table = table;
        Column = table.Schemas.Table.Columns[column].Name;
    }

    /// <summary>The table.</summary>
    public SourceTable Table { get; }

    /// <summary>The column's name.</summary>
    public string Column { get; }

    private static string Describe(SourceTable table, int column, string reason)
    {
        var description = table.Schemas.Table.Columns[column];
        return $"table {table.QualifiedName}, column '{description.Name}' ({description.Type.DatabaseType}): {reason}";
    }
}

/// <summary>
/// A NULL in a column described as NOT NULL (a change older than a migration, say). A connector whose catalog may be
/// ahead of its log catches it, describes the table again with the column nullable (a compatible change) and writes the
/// change again; otherwise it is fatal.
/// </summary>
public sealed class SourceNullValueException : SourceValueException
{
    /// <summary>Creates an error.</summary>
    /// <param name="table">The table.</param>
    /// <param name="column">The column's index.</param>
    public SourceNullValueException(SourceTable table, int column)
        : base(table, column, "NULL in a column described as NOT NULL", null)
    {
    }
}
