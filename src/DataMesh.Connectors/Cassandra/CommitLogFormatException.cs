namespace DataMesh.Connectors.Cassandra;

/// <summary>What kind of problem a <see cref="CommitLogFormatException"/> reports.</summary>
public enum CommitLogError
{
    /// <summary>The bytes contradict themselves: a checksum that does not match, a length or flag that cannot be.</summary>
    Corrupt,

    /// <summary>The segment ends inside a section or an entry: a torn write, or a copy taken while the node wrote it.
    /// Reading the same segment again later may succeed.</summary>
    Truncated,

    /// <summary>Valid bytes this reader cannot decode: an unknown commit-log version, compressor, cipher, key alias or
    /// table.</summary>
    Unsupported,
}

/// <summary>
/// A Cassandra commit-log segment that cannot be read: a header, sync marker or entry whose CRC does not match, a
/// segment that ends inside a section or an entry, a mutation that does not fit its table, an unknown version or
/// compressor. The message names the segment file, the byte offset (a file offset; for compressed and encrypted
/// segments the logical offset of the entry, Cassandra's commit-log position) and what to do.
/// </summary>
public sealed class CommitLogFormatException : FormatException
{
    /// <summary>Creates an exception with a message only.</summary>
    public CommitLogFormatException()
        : this("The commit-log segment could not be read.")
    {
    }

    /// <summary>Creates an exception with a message.</summary>
    /// <param name="message">What was wrong.</param>
    public CommitLogFormatException(string message)
        : base(message)
    {
    }

    /// <summary>Creates an exception with a message and its cause.</summary>
    /// <param name="message">What was wrong.</param>
    /// <param name="innerException">The cause.</param>
    public CommitLogFormatException(string message, Exception innerException)
        : base(message, innerException)
    {
    }

    internal CommitLogFormatException(CommitLogError error, string segment, long offset, string detail, Exception? innerException = null)
        : base($"commit-log segment {segment}, byte {offset}: {detail}", innerException)
    {
        Error = error;
        Segment = segment;
        Offset = offset;
    }

    /// <summary>What kind of problem this is.</summary>
    public CommitLogError Error { get; }

    /// <summary>The segment's file name, or null when unknown.</summary>
    public string? Segment { get; }

    /// <summary>Where the problem is: a file offset, or for an entry of a compressed or encrypted segment its logical
    /// offset (see the message); -1 when unknown.</summary>
    public long Offset { get; } = -1;
}
