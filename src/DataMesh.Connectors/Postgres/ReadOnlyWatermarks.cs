namespace DataMesh.Connectors.Postgres;

/// <summary>
/// Read-only watermarks on PostgreSQL (<c>Snapshot:Watermarks = ReadOnly</c>): a chunk's window is recognised in the log
/// from what the database shows a plain reader, <c>pg_current_snapshot()</c> and <c>pg_current_wal_insert_lsn()</c>, so
/// nothing is written to it. This class is the state the log thread and the snapshot workers share: the transactions the
/// log delivered (by xid, from pgoutput's BEGIN) that may not yet be visible to new snapshots, and the high watermarks
/// (WAL positions) the log has still to pass. Thread-safe.
/// </summary>
/// <remarks>
/// <para><b>What a window must do.</b> A chunk's read sees the database as of its snapshot S. pgoutput delivers committed
/// transactions one at a time in commit (WAL) order, the xid in BEGIN, the commit record's position in BEGIN (final LSN)
/// and COMMIT (end LSN). The runtime drops a chunk row when any log event of its key falls inside the window, and emits the
/// other rows where the window closes. That is exact when (1) every transaction the log delivers before the window opens
/// is visible to S (the row already holds its changes) and (2) every transaction visible to S is delivered before the
/// window closes (its changes are not applied again after the row). A transaction delivered inside the window may be
/// visible or not: its keys are dropped either way, and its event carries the row's state.</para>
/// <para><b>Commit order is not visibility order.</b> PostgreSQL writes (and flushes) a commit record, then marks the
/// transaction committed, then, with synchronous replication, waits for the standby, and only then leaves the process array,
/// which is when new snapshots see it. Logical decoding sends a transaction once its commit record is flushed, so the log
/// can deliver a transaction that a snapshot taken later still cannot see: for microseconds normally, for as long as a
/// synchronous standby takes otherwise. Neither order can stand in for the other, so the window takes one rule from each.</para>
/// <para><b>Opening (1).</b> The runtime opens the window when it takes the low watermark, before the read: every log event
/// the log thread handles from then on is inside. The low watermark (<see cref="Mark"/>, then
/// <see cref="InvisibleBefore"/>) takes a snapshot L after that and returns only when every transaction the log delivered
/// before the mark is visible to L; the read's snapshot S is taken after L, so each of them is visible to S too. A
/// delivered transaction that L does not see (still in the process array, e.g. waiting for a synchronous standby) makes the
/// low watermark wait and take L again. The delivered transactions are remembered from the BEGINs (<see cref="Begin"/>)
/// until a snapshot shows them ended (<see cref="Forget"/>): a transaction ended before a snapshot is visible to every
/// later one, so forgetting it is safe at any time, and the set holds only transactions delivered since the last look plus
/// those delivered and still not visible. Across restarts of the source process the set is empty; when the server has
/// synchronous standbys, the transactions running at the first look (<see cref="Seed"/>) count as delivered before every
/// chunk until they end or the log delivers them in this run, since one of them may have been delivered before the
/// restart and still wait for its standby.</para>
/// <para><b>Closing (2).</b> The high watermark is H = <c>pg_current_wal_insert_lsn()</c> taken after the read. Every
/// transaction visible to S left the process array before S was taken, after its commit record was inserted, so that record
/// ends at or before H (as the WAL reader counts record ends, <see cref="RecordEnd"/>). The window closes (the chunk's rows
/// are emitted) at the first of: a BEGIN whose final LSN (the start of its commit record) is at or past H, before any of its
/// events (that transaction was not visible: its commit record did not end by H); a COMMIT whose end LSN is at or past H,
/// after it; or, on an idle database, when the server reports (in its keepalives, which Npgsql's
/// <c>LastReceivedLsn</c> follows) that it has decoded and sent the WAL up to H or beyond, and no transaction is open.
/// pgoutput sends transactions in that WAL order, so every transaction visible to S came before any of these. A keepalive's
/// position is where the walsender's decoding stands: everything committed before it was sent before it. A window
/// therefore closes without any other transaction, once the WAL up to H is flushed (PostgreSQL flushes a commit at once, and
/// other records within <c>wal_writer_delay</c>, or at the next running-transactions record, every 15 s at most).</para>
/// </remarks>
internal sealed class ReadOnlyWatermarks
{
    /// <summary>Size of a WAL page's header (<c>SizeOfXLogShortPHD</c>) and of a segment's first page's
    /// (<c>SizeOfXLogLongPHD</c>), on 64-bit builds.</summary>
    private const int ShortPageHeader = 24;
    private const int LongPageHeader = 40;

    private readonly object _lock = new();
    private readonly Dictionary<uint, long> _delivered = [];
    private readonly List<(string Watermark, ulong Position)> _high = [];
    private readonly Dictionary<uint, TaskCompletionSource> _commitWaits = [];
    private volatile int _commitWaitCount;
    private long _sequence;
    private volatile int _deliveredCount;
    private volatile int _highCount;

    /// <summary>Whether high watermarks wait for the log (the log thread then looks for them when idle).</summary>
    public bool HasHighWatermarks => _highCount > 0;

    /// <summary>How many delivered transactions are remembered (the log thread forgets the ended ones when many are).</summary>
    public int DeliveredCount => _deliveredCount;

    /// <summary>The log delivered a transaction (its BEGIN; the log thread).</summary>
    public void Begin(uint xid)
    {
        lock (_lock)
        {
            _delivered[xid] = ++_sequence;
            _deliveredCount = _delivered.Count;
        }
    }

    /// <summary>Registers a wait for the log to handle the COMMIT of transaction <paramref name="xid"/> (a low watermark
    /// row's, registered before its commit): the returned task completes then, when every transaction committed before it
    /// has been delivered.</summary>
    public Task WaitCommitAsync(uint xid)
    {
        lock (_lock)
        {
            var handled = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            _commitWaits[xid] = handled;
            _commitWaitCount = _commitWaits.Count;
            return handled.Task;
        }
    }

    /// <summary>Forgets the wait for <paramref name="xid"/> (its transaction did not commit, or the low watermark no longer
    /// needs the log: every transaction running after its commit had ended).</summary>
    public void ForgetCommitWait(uint xid)
    {
        lock (_lock)
        {
            _commitWaits.Remove(xid);
            _commitWaitCount = _commitWaits.Count;
        }
    }

    /// <summary>The log handled the COMMIT of transaction <paramref name="xid"/> (the log thread).</summary>
    public void Committed(uint xid)
    {
        if (_commitWaitCount == 0)
        {
            return;
        }

        lock (_lock)
        {
            if (_commitWaits.Remove(xid, out var handled))
            {
                _commitWaitCount = _commitWaits.Count;
                handled.TrySetResult();
            }
        }
    }

    /// <summary>Counts every running transaction of <paramref name="snapshot"/> as delivered before every chunk (see the
    /// remarks: a restart while synchronous standbys are configured).</summary>
    public void Seed(PgSnapshot snapshot)
    {
        lock (_lock)
        {
            foreach (var xid in snapshot.InProgress)
            {
                _delivered.TryAdd(unchecked((uint)xid), 0);
            }

            _deliveredCount = _delivered.Count;
        }
    }

    /// <summary>The transactions delivered so far (taken by a chunk's low watermark after its window opened).</summary>
    public long Mark()
    {
        lock (_lock)
        {
            return _sequence;
        }
    }

    /// <summary>Forgets the delivered transactions that had ended when <paramref name="snapshot"/> was taken, and returns
    /// those delivered up to <paramref name="mark"/> that it does not see.</summary>
    public List<uint> InvisibleBefore(PgSnapshot snapshot, long mark)
    {
        var invisible = new List<uint>();
        lock (_lock)
        {
            Forget(snapshot);
            foreach (var (xid, sequence) in _delivered)
            {
                if (sequence <= mark)
                {
                    invisible.Add(xid);
                }
            }
        }

        return invisible;
    }

    /// <summary>Forgets the delivered transactions that had ended when <paramref name="snapshot"/> was taken (visible to
    /// every later snapshot).</summary>
    public void Forget(PgSnapshot snapshot)
    {
        lock (_lock)
        {
            foreach (var xid in _delivered.Keys)
            {
                if (snapshot.HasEnded(xid))
                {
                    _delivered.Remove(xid);
                }
            }

            _deliveredCount = _delivered.Count;
        }
    }

    /// <summary>A chunk's high watermark: the window closes once the log is past <paramref name="position"/> (a WAL
    /// record end, <see cref="RecordEnd"/>).</summary>
    public void AddHigh(string watermark, ulong position)
    {
        lock (_lock)
        {
            _high.Add((watermark, position));
            _highCount = _high.Count;
        }
    }

    /// <summary>Removes and returns the high watermarks at or before <paramref name="position"/>: the log thread has handled
    /// every transaction whose commit record ends there or before.</summary>
    public List<string>? Passed(ulong position)
    {
        if (_highCount == 0)
        {
            return null;
        }

        List<string>? passed = null;
        lock (_lock)
        {
            for (var i = 0; i < _high.Count; i++)
            {
                if (_high[i].Position <= position)
                {
                    (passed ??= []).Add(_high[i].Watermark);
                    _high.RemoveAt(i--);
                }
            }

            _highCount = _high.Count;
        }

        return passed;
    }

    /// <summary>Forgets the high watermarks (a new attempt: the runtime abandoned their chunks).</summary>
    public void ClearHigh()
    {
        lock (_lock)
        {
            _high.Clear();
            _highCount = 0;
        }
    }

    /// <summary>
    /// <paramref name="insert"/> (what <c>pg_current_wal_insert_lsn()</c> returns: where the next record goes) as the end of
    /// the records before it, which is how the WAL reader, and the walsender's positions, count: right after a page header
    /// the next record starts past the header, while the previous one ended at the page's start.
    /// </summary>
    /// <param name="insert">The insert position.</param>
    /// <param name="blockSize">The server's <c>wal_block_size</c>.</param>
    /// <param name="segmentSize">The server's <c>wal_segment_size</c> in bytes.</param>
    public static ulong RecordEnd(ulong insert, int blockSize, long segmentSize)
    {
        var inSegment = insert % (ulong)segmentSize;
        if (inSegment == LongPageHeader)
        {
            return insert - LongPageHeader;
        }

        return inSegment >= (ulong)blockSize && insert % (ulong)blockSize == ShortPageHeader ? insert - ShortPageHeader : insert;
    }
}
