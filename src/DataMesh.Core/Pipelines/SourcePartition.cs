namespace DataMesh.Pipelines;

/// <summary>
/// A source partition a pipeline reads, shared by every record read from it, with its progress: the last offset read
/// (by the consumer) and the last offset done (written by the sink, dropped or dead-lettered, in order, by the one worker
/// that owns the partition). The committable offset is the last done + 1.
/// </summary>
internal sealed class SourcePartition(string topic, int partition)
{
    private long _lastRead = -1;
    private long _lastDone = -1;
    private long _committed = -1;

    public string Topic { get; } = topic;

    public int Partition { get; } = partition;

    /// <summary>The partition's index in the pipeline's table, carried in each frame.</summary>
    public int Slot { get; init; }

    /// <summary>The worker that processes this partition's records (fixed for the pipeline's life, so order is kept).</summary>
    public int Worker { get; init; }

    public long LastRead => Volatile.Read(ref _lastRead);

    /// <summary>Whether every record read has been done.</summary>
    public bool Drained => Volatile.Read(ref _lastDone) >= Volatile.Read(ref _lastRead);

    public void Read(long offset) => Volatile.Write(ref _lastRead, offset);

    /// <summary>Records that every record up to <paramref name="offset"/> is done (called in offset order).</summary>
    public void Done(long offset)
    {
        if (offset > Volatile.Read(ref _lastDone))
        {
            Volatile.Write(ref _lastDone, offset);
        }
    }

    /// <summary>The offset to commit (last done + 1) when it moved since the last commit.</summary>
    public bool TryTakeCommit(out long offset)
    {
        offset = Volatile.Read(ref _lastDone) + 1;
        if (offset <= 0 || offset <= _committed)
        {
            return false;
        }

        _committed = offset;
        return true;
    }

    /// <summary>Forgets the last commit, so that the next attempt commits again (after a failed commit).</summary>
    public void CommitFailed() => _committed = -1;

    /// <summary>Starts over after the partition was assigned again: the consumer resumes from the committed offset.</summary>
    public void Reset()
    {
        Volatile.Write(ref _lastRead, -1);
        Volatile.Write(ref _lastDone, -1);
        _committed = -1;
    }

    public override string ToString() => $"{Topic}[{Partition}]";
}
