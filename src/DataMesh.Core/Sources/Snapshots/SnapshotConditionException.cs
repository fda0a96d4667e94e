namespace DataMesh.Sources;

/// <summary>
/// Thrown by an <see cref="ISnapshotDialect"/> when the database refuses a snapshot request's condition (not valid SQL, an
/// unknown column or function). The engine ends that table's snapshot with error 7103 naming the condition, and the source
/// goes on: a typo in a signal row must not stop the source, nor stop it again after every restart.
/// </summary>
public sealed class SnapshotConditionException : SourceException
{
    /// <summary>Creates an error.</summary>
    public SnapshotConditionException()
    {
    }

    /// <summary>Creates an error.</summary>
    /// <param name="message">Which condition, on which table, and what the database said.</param>
    public SnapshotConditionException(string message)
        : base(message, isTransient: false)
    {
    }

    /// <summary>Creates an error.</summary>
    /// <param name="message">Which condition, on which table, and what the database said.</param>
    /// <param name="innerException">The database's error.</param>
    public SnapshotConditionException(string message, Exception? innerException)
        : base(message, isTransient: false, innerException)
    {
    }
}
