using DataMesh.Connectors.Cassandra.CommitLog;

namespace DataMesh.Connectors.Cassandra.Replicas;

/// <summary>What <see cref="ReplicaDeduplicator.Observe"/> decided for one copy of a partition update.</summary>
internal enum CopyDecision
{
    /// <summary>This copy brought the update to the consistency level: publish it (from this copy).</summary>
    Publish,

    /// <summary>Fewer copies than the level so far: wait for more; the copy holds its node's position.</summary>
    Hold,

    /// <summary>The update was published already: this copy is a duplicate, dropped.</summary>
    Duplicate,
}

/// <summary>
/// De-duplicates the copies of partition updates that the N replicas of a write each put in their commit log, after Apache
/// cassandra-analytics' CDC: copies are matched by a digest of the partition update's bytes (table id, partition key and
/// content with every timestamp), counted per node, published once <see cref="Required"/> nodes had one, and dropped after
/// that. An update is remembered for <see cref="Window"/> after its first copy arrived, and at most
/// <see cref="MaxEntries"/> updates are remembered (the oldest is forgotten first): a copy arriving later is taken for a
/// new update. The window runs only while the source reads: time between <see cref="Pause"/> and <see cref="Resume"/>
/// (the source waiting for the sink) does not count. docs/cassandra.md, "Replica de-duplication", says what that means for each level.
/// </summary>
/// <remarks>
/// Positions: a copy that is held (its update not yet at the level) must be read again after a restart, so its node's
/// position may not pass it: <see cref="SafePosition"/> is the node's read position or, when earlier, the start of its
/// oldest held copy. A held update that is forgotten (window or capacity) releases its holds and is counted as
/// <see cref="Expired"/>: fewer nodes than the level had it in time. Not thread-safe: one source loop owns it.
/// </remarks>
internal sealed class ReplicaDeduplicator
{
    private readonly Dictionary<UInt128, Update> _updates = [];
    private readonly LinkedList<Update> _byAge = [];
    private readonly SortedDictionary<CommitLogPosition, int>[] _holds;
    private readonly TimeProvider _time;
    private long _paused;
    private long _pausedAt = -1;

    /// <param name="nodes">How many nodes are read (node indexes 0 … nodes - 1; at most 64).</param>
    /// <param name="required">Copies needed to publish (1 for ONE, ⌊RF/2⌋ + 1 for QUORUM, RF for ALL).</param>
    /// <param name="window">How long an update is remembered after its first copy arrived.</param>
    /// <param name="maxEntries">How many updates are remembered at most.</param>
    /// <param name="time">The clock.</param>
    public ReplicaDeduplicator(int nodes, int required, TimeSpan window, int maxEntries, TimeProvider time)
    {
        if (nodes is < 1 or > 64)
        {
            throw new ArgumentOutOfRangeException(nameof(nodes), nodes, "between 1 and 64 nodes");
        }

        Required = required;
        Window = window;
        MaxEntries = maxEntries;
        _time = time;
        _holds = [.. Enumerable.Range(0, nodes).Select(_ => new SortedDictionary<CommitLogPosition, int>())];
    }

    public int Required { get; }

    public TimeSpan Window { get; }

    public int MaxEntries { get; }

    /// <summary>Updates remembered now.</summary>
    public int Count => _updates.Count;

    /// <summary>Copies dropped because their update was published already.</summary>
    public long Duplicates { get; private set; }

    /// <summary>Updates forgotten before enough copies arrived: their copies were dropped. Either nothing was published,
    /// or they were late copies of an update published before (after a restart, or after the window): the two cannot be
    /// told apart.</summary>
    public long Expired { get; private set; }

    /// <summary>Updates forgotten early because <see cref="MaxEntries"/> were remembered (their later copies count as new).</summary>
    public long Evicted { get; private set; }

    /// <summary>Takes one copy of a partition update, read from node <paramref name="node"/> in the entry that starts at
    /// <paramref name="entryStart"/>.</summary>
    public CopyDecision Observe(UInt128 digest, int node, CommitLogPosition entryStart)
    {
        var now = Now();
        Expire(now);
        if (!_updates.TryGetValue(digest, out var update))
        {
            if (_updates.Count >= MaxEntries)
            {
                Evicted++;
                Forget(_byAge.First!.Value);
            }

            update = new Update(digest, now);
            update.Age = _byAge.AddLast(update);
            _updates.Add(digest, update);
        }

        var bit = 1UL << node;
        if (update.Published)
        {
            Duplicates++;
            return CopyDecision.Duplicate;
        }

        if ((update.Nodes & bit) != 0)
        {
            // The same node's second copy of an identical update (an identical write, same timestamp): not another replica.
            Duplicates++;
            return CopyDecision.Duplicate;
        }

        update.Nodes |= bit;
        if (BitCount(update.Nodes) >= Required)
        {
            update.Published = true;
            ReleaseHolds(update);
            return CopyDecision.Publish;
        }

        (update.Holds ??= []).Add((node, entryStart));
        Hold(node, entryStart, 1);
        return CopyDecision.Hold;
    }

    /// <summary>Forgets the updates whose window has passed.</summary>
    public void Expire() => Expire(Now());

    /// <summary>The source stops reading (it waits for the sink to take its events): the window stands still until
    /// <see cref="Resume"/>, so that copies read before and after a stall are still matched.</summary>
    public void Pause()
    {
        if (_pausedAt < 0)
        {
            _pausedAt = _time.GetTimestamp();
        }
    }

    /// <summary>The source reads again: the window moves on from where <see cref="Pause"/> stopped it.</summary>
    public void Resume()
    {
        if (_pausedAt >= 0)
        {
            _paused += _time.GetTimestamp() - _pausedAt;
            _pausedAt = -1;
        }
    }

    /// <summary>The clock's time less the time the source was paused.</summary>
    private long Now() => (_pausedAt >= 0 ? _pausedAt : _time.GetTimestamp()) - _paused;

    /// <summary>The position node <paramref name="node"/> may be stored at: <paramref name="read"/>, or the start of its
    /// oldest held copy when that is earlier.</summary>
    public CommitLogPosition SafePosition(int node, CommitLogPosition read)
    {
        var holds = _holds[node];
        if (holds.Count == 0)
        {
            return read;
        }

        var oldest = holds.Keys.First();
        return oldest < read ? oldest : read;
    }

    private void Expire(long now)
    {
        while (_byAge.First is { } first && _time.GetElapsedTime(first.Value.FirstSeen, now) >= Window)
        {
            Forget(first.Value);
        }
    }

    private void Forget(Update update)
    {
        if (!update.Published)
        {
            Expired++;
            ReleaseHolds(update);
        }

        _byAge.Remove(update.Age!);
        _updates.Remove(update.Digest);
    }

    private void ReleaseHolds(Update update)
    {
        if (update.Holds is null)
        {
            return;
        }

        foreach (var (node, at) in update.Holds)
        {
            Hold(node, at, -1);
        }

        update.Holds = null;
    }

    private void Hold(int node, CommitLogPosition at, int change)
    {
        var holds = _holds[node];
        holds.TryGetValue(at, out var count);
        count += change;
        if (count == 0)
        {
            holds.Remove(at);
        }
        else
        {
            holds[at] = count;
        }
    }

    private static int BitCount(ulong value) => System.Numerics.BitOperations.PopCount(value);

    private sealed class Update(UInt128 digest, long firstSeen)
    {
        public UInt128 Digest { get; } = digest;

        public long FirstSeen { get; } = firstSeen;

        public ulong Nodes { get; set; }

        public bool Published { get; set; }

        public LinkedListNode<Update>? Age { get; set; }

        /// <summary>The copies that hold a node's position while the update waits for more (none under ONE).</summary>
        public List<(int Node, CommitLogPosition At)>? Holds { get; set; }
    }
}
