namespace DataMesh.Connectors.Cassandra.CommitLog;

/// <summary>One entry of a segment whose two CRCs matched: a serialized mutation and where it is. Valid until the
/// reader reads the next section.</summary>
internal readonly ref struct CommitLogEntry
{
    public CommitLogEntry(ReadOnlySpan<byte> mutation, long segmentId, long offset)
    {
        Mutation = mutation;
        SegmentId = segmentId;
        Offset = offset;
    }

    /// <summary>The serialized mutation (without the entry's size and CRCs).</summary>
    public ReadOnlySpan<byte> Mutation { get; }

    public long SegmentId { get; }

    /// <summary>The entry's offset (its size field) in the segment's uncompressed layout.</summary>
    public long Offset { get; }

    /// <summary>The offset just after the entry.</summary>
    public long End => Offset + Mutation.Length + CommitLogSegmentReader.EntryOverhead;

    /// <summary>The position Cassandra gives the entry's mutation (its end): replaying from here skips the entry, so it is
    /// the position to store once the entry's events are acknowledged.</summary>
    public CommitLogPosition Position => new(SegmentId, End);
}

/// <summary>One section of a segment: the sync marker that opened it and what it held.</summary>
/// <param name="MarkerOffset">The sync marker's file offset.</param>
/// <param name="Next">The next marker's file offset (the section's end in the file).</param>
/// <param name="LogicalStart">The marker's offset in the uncompressed layout (equal to <paramref name="MarkerOffset"/>
/// for plain segments).</param>
/// <param name="Length">The entries' bytes: the payload of a plain section, the plaintext of a compressed or encrypted
/// one.</param>
/// <param name="Entries">The entries read from it so far.</param>
internal readonly record struct CommitLogSection(int MarkerOffset, int Next, long LogicalStart, int Length, int Entries);

/// <summary>Why a segment's data ended.</summary>
internal enum CommitLogEnd
{
    /// <summary>Not yet.</summary>
    None,

    /// <summary>A zeroed sync marker: the rest of a pre-allocated (memory-mapped) segment is unwritten.</summary>
    ZeroedMarker,

    /// <summary>Fewer than a marker's 8 bytes remain (compressed and encrypted segments end so).</summary>
    FileEnd,

    /// <summary>An entry of size 0: the rest of the section is unwritten.</summary>
    ZeroSize,

    /// <summary>The next section ends beyond the durable offset the reader was given.</summary>
    DurableOffset,

    /// <summary>The file ends inside the last section of a compressed or encrypted segment that will not grow (read as
    /// complete): a section written at a crash whose bytes did not all reach the file. Cassandra's replay ends the last
    /// segment there too.</summary>
    TornSection,
}
