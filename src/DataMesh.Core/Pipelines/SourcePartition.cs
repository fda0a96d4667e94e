namespace DataMesh.Pipelines;

/// <summary>
/// A source partition a pipeline reads, shared by every record read from it, with its progress: the last offset read
/// (by the consumer) and the last offset done (written by the sink, dropped or dead-lettered, in order, by the one worker
/// that owns the partition). The committable offset is the last done + 1.
/// </summary>
/// <remarks>
/// Each assignment of the partition to this pipeline is a <see cref="Generation"/>: a revocation starts the next one.
/// Records are framed with the generation they were read in; the workers drop frames of an older generation instead
/// of handing them to the sink (the partition's new owner reads them again from the committed offset), and progress of
/// an older generation is ignored, so that a batch finished after the revocation never moves the committable offset.
/// </remarks>
internal sealed class SourcePartition(string topic, int partition)
{
    private readonly Lock _gate = new();
    private int _generation;
    private long _lastRead = -1;
    private long _lastDone = -1;
    private long _committed = -1;

    public string Topic { get; } = topic;

    public int Partition { get; } = partition;

    /// <summary>The partition's index in the pipeline's table, carried in each frame.</summary>
    public int Slot { get; init; }

    /// <summary>The worker that processes this partition's records (fixed for the pipeline's life, so order is kept).</summary>
    public int Worker { get; init; }

    /// <summary>The current assignment of the partition; frames and progress of an older one are stale.</summary>
    public int Generation => Volatile.Read(ref _generation);

    public long LastRead => Volatile.Read(ref _lastRead);

    /// <summary>Whether every record read has been done.</summary>
    public bool Drained => Volatile.Read(ref _lastDone) >= Volatile.Read(ref _lastRead);

    public void Read(long offset) => Volatile.Write(ref _lastRead, offset);

    /// <summary>The highest fencing epoch (<c>datamesh.epoch</c> header) read in this assignment, or 0; read and written by
    /// the consumer thread only.</summary>
    public long Epoch { get; set; }

    /// <summary>The epoch of the last record dropped as fenced (logged once per epoch); consumer thread only.</summary>
    public long FencedEpoch { get; set; }

    /// <summary>
    /// Records that every record up to <paramref name="offset"/> is done (called in offset order), unless it was read in
    /// an older <paramref name="generation"/> than the current one.
    /// </summary>
    public void Done(long offset, int generation)
    {
        lock (_gate)
        {
            if (generation == _generation && offset > _lastDone)
            {
                Volatile.Write(ref _lastDone, offset);
            }
        }
    }

    /// <summary>The offset to commit (last done + 1) when it moved since the last commit.</summary>
    public bool TryTakeCommit(out long offset)
    {
        lock (_gate)
        {
            offset = _lastDone + 1;
            if (offset <= 0 || offset <= _committed)
            {
                return false;
            }

            _committed = offset;
            return true;
        }
    }

    /// <summary>Forgets the last commit, so that the next attempt commits again (after a failed commit).</summary>
    public void CommitFailed()
    {
        lock (_gate)
        {
            _committed = -1;
        }
    }

    /// <summary>
    /// Ends the current generation after the partition was revoked (and drained as far as the drain timeout allowed): what
    /// is still read but not done is stale, and a later assignment starts over from the committed offset.
    /// </summary>
    public void Revoke()
    {
        lock (_gate)
        {
            Volatile.Write(ref _generation, _generation + 1);
            Epoch = 0;
            FencedEpoch = 0;
            Volatile.Write(ref _lastRead, -1);
            Volatile.Write(ref _lastDone, -1);
            _committed = -1;
        }
    }

    public override string ToString() => $"{Topic}[{Partition}]";
}
