namespace DataMesh.Pipelines;

/// <summary>
/// The offsets of one source partition that are read but not yet done, in read order. The committable offset is the first
/// one not done: every record before it has been acknowledged by the target, dropped or dead-lettered.
/// </summary>
internal sealed class PartitionTracker
{
    private readonly Queue<long> _pending = new();
    private readonly HashSet<long> _done = [];
    private long _committable = -1;
    private long _committed = -1;

    public void Read(long offset)
    {
        lock (_pending)
        {
            _pending.Enqueue(offset);
        }
    }

    public void Done(long offset)
    {
        lock (_pending)
        {
            _done.Add(offset);
            while (_pending.Count > 0 && _done.Remove(_pending.Peek()))
            {
                _committable = _pending.Dequeue() + 1;
            }
        }
    }

    /// <summary>The offset to commit when it moved since the last commit.</summary>
    public bool TryTakeCommit(out long offset)
    {
        lock (_pending)
        {
            offset = _committable;
            if (_committable <= _committed)
            {
                return false;
            }

            _committed = _committable;
            return true;
        }
    }

    /// <summary>Puts back an offset whose commit failed, so that the next attempt commits it again.</summary>
    public void CommitFailed()
    {
        lock (_pending)
        {
            _committed = -1;
        }
    }
}
