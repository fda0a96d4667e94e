namespace DataMesh;

/// <summary>A snapshot request names a table it cannot take: not an exact <c>schema.table</c> (a pattern, no schema).
/// The HTTP API answers it with 400, where a source that is not applied gets 404.</summary>
public sealed class SnapshotRequestException : ArgumentException
{
    /// <summary>Creates an error.</summary>
    public SnapshotRequestException()
    {
    }

    /// <summary>Creates an error.</summary>
    /// <param name="message">Which table, and why.</param>
    public SnapshotRequestException(string message)
        : base(message)
    {
    }

    /// <summary>Creates an error.</summary>
    /// <param name="message">Which table, and why.</param>
    /// <param name="innerException">The cause.</param>
    public SnapshotRequestException(string message, Exception? innerException)
        : base(message, innerException)
    {
    }
}
