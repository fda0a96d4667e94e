namespace DataMesh.Sources;

/// <summary>
/// One chunk of a DBLog snapshot: its table, its low and high watermarks, the rows read between them (encoded, in key
/// order) and the keys the log changed inside the window. The worker reads the rows; the log thread opens the window
/// at the low watermark, records keys, and at the high watermark emits the rows whose keys the log did not change.
/// </summary>
internal sealed class SnapshotChunk
{
    private readonly TaskCompletionSource<ChunkOutcome> _completed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private volatile bool _ready;
    private SourceTable? _shapeChecked;
    private bool _sameShape;

    /// <param name="table">The table, as described for the chunk.</param>
    /// <param name="matchIndexes">The snapshot key's columns.</param>
    /// <param name="dialect">The dialect.</param>
    /// <param name="marker">The <c>snapshot</c> field of its rows.</param>
    /// <param name="progress">The table's progress before it.</param>
    /// <param name="storage">The memory its rows are encoded into (empty).</param>
    public SnapshotChunk(SourceTable table, int[] matchIndexes, ISnapshotDialect dialect, SnapshotMarker marker, SnapshotTableProgress progress, SnapshotChunkStorage storage)
    {
        Storage = storage;
        Table = table;
        MatchIndexes = matchIndexes;
        Dialect = dialect;
        Marker = marker;
        Progress = progress;
        LowWatermark = "L-" + Guid.NewGuid().ToString("N");
        HighWatermark = "H-" + Guid.NewGuid().ToString("N");
        ReadAtMs = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        Writer = new SnapshotRowWriter(this);
    }

    public SourceTable Table { get; }

    /// <summary>The columns a log event's row is matched by (the snapshot key).</summary>
    public int[] MatchIndexes { get; }

    public ISnapshotDialect Dialect { get; }

    public SnapshotMarker Marker { get; }

    /// <summary>The table's progress before this chunk.</summary>
    public SnapshotTableProgress Progress { get; }

    public string LowWatermark { get; }

    public string HighWatermark { get; }

    public long ReadAtMs { get; }

    public SnapshotRowWriter Writer { get; }

    /// <summary>The memory of its rows (<see cref="Buffer"/>, <see cref="Rows"/>), given back to the engine when they were
    /// handed to Kafka or are not emitted.</summary>
    public SnapshotChunkStorage Storage { get; }

    public RecordBuffer Buffer => Storage.Buffer;

    public List<Row> Rows => Storage.Rows;

    /// <summary>Keys (match bytes) the log changed inside the window.</summary>
    public HashSet<byte[]> Seen { get; } = new(ByteArrayComparer.Instance);

    /// <summary>Keys (match bytes) whose log events inside the window lacked a column (an unchanged TOASTed value): their
    /// rows are read again later, so that the real value arrives after those events.</summary>
    public HashSet<byte[]> Incomplete { get; } = new(ByteArrayComparer.Instance);

    /// <summary>The request this chunk read.</summary>
    public SnapshotChunkRequest? Request { get; set; }

    /// <summary>The log truncated the table inside the window: every row of the chunk is stale.</summary>
    public bool Truncated { get; set; }

    /// <summary>The log changed the table's definition inside the window (an event of another shape): the rows were read
    /// under a definition the log has left, and their keys may not compare; the chunk is read again.</summary>
    public bool Stale { get; set; }

    /// <summary>Whether the log thread saw the low watermark.</summary>
    public bool WindowOpen { get; set; }

    public SnapshotChunkRead Read { get; private set; }

    /// <summary>Whether the read ended at the chunk's byte budget (<see cref="SnapshotRowWriter.IsFull"/>): the table's
    /// range is not done even if fewer rows than the limit were read.</summary>
    public bool Full { get; private set; }

    public bool IsReady => _ready;

    /// <summary>Completes when the chunk's rows were emitted at its high watermark, when it must be read again, or when abandoned.</summary>
    public Task<ChunkOutcome> Completed => _completed.Task;

    /// <summary>The read is done (called by the worker before it takes the high watermark).</summary>
    public void SetReady(SnapshotChunkRead read)
    {
        Read = read;
        Full = Writer.IsFull;
        _ready = true;
    }

    public void Complete() => _completed.TrySetResult(ChunkOutcome.Emitted);

    /// <summary>Read the chunk again (the same progress), e.g. after <see cref="Stale"/>.</summary>
    public void Retry() => _completed.TrySetResult(ChunkOutcome.ReadAgain);

    public void Abandon() => _completed.TrySetResult(ChunkOutcome.Abandoned);

    /// <summary>Whether the log's description of the table (on the log thread) has the shape the rows were read with;
    /// compared once per description instance.</summary>
    public bool SameShapeAs(SourceTable logTable)
    {
        if (!ReferenceEquals(logTable, _shapeChecked))
        {
            _sameShape = ReferenceEquals(logTable, Table) || SourceTable.SameShape(logTable.Info, Table.Info);
            _shapeChecked = logTable;
        }

        return _sameShape;
    }

    /// <summary>A row's ranges in <see cref="Buffer"/>: the match key, the Kafka key (length -1: none), the envelope, the
    /// dialect's key (UTF-8).</summary>
    public readonly record struct Row(int MatchStart, int MatchLength, int KeyStart, int KeyLength, int ValueStart, int ValueLength, int DialectKeyStart, int DialectKeyLength)
    {
        /// <summary>The row's key in the dialect's form (what <see cref="SnapshotChunkRequest.Keys"/> takes).</summary>
        public string DialectKey(ReadOnlySpan<byte> buffer) => System.Text.Encoding.UTF8.GetString(buffer.Slice(DialectKeyStart, DialectKeyLength));
    }

    /// <summary>Compares byte arrays by content.</summary>
    public sealed class ByteArrayComparer : IEqualityComparer<byte[]>, IAlternateEqualityComparer<ReadOnlySpan<byte>, byte[]>
    {
        public static readonly ByteArrayComparer Instance = new();

        public bool Equals(byte[]? x, byte[]? y) => x.AsSpan().SequenceEqual(y);

        public int GetHashCode(byte[] obj) => GetHashCode(obj.AsSpan());

        public bool Equals(ReadOnlySpan<byte> alternate, byte[] other) => alternate.SequenceEqual(other);

        public int GetHashCode(ReadOnlySpan<byte> alternate)
        {
            var hash = new HashCode();
            hash.AddBytes(alternate);
            return hash.ToHashCode();
        }

        public byte[] Create(ReadOnlySpan<byte> alternate) => alternate.ToArray();
    }
}

/// <summary>How a chunk ended.</summary>
internal enum ChunkOutcome
{
    /// <summary>Its rows were emitted at its high watermark; the table's progress moved on.</summary>
    Emitted,

    /// <summary>Not emitted: read it again from the same progress.</summary>
    ReadAgain,

    /// <summary>The attempt ended (or the snapshot was cancelled): the worker stops.</summary>
    Abandoned,
}

/// <summary>
/// The memory of one chunk's rows: the encoded rows and their ranges. A worker takes one from the engine for each chunk
/// (<see cref="SnapshotEngine.RentStorage"/>); it goes back (<see cref="SnapshotEngine.Return"/>) when the chunk's rows were
/// handed to Kafka (the context produces them from this buffer, without a copy), or when they are not emitted. So a
/// snapshot holds a few chunks' worth of memory, not a new one for every chunk.
/// </summary>
internal sealed class SnapshotChunkStorage
{
    public RecordBuffer Buffer { get; } = new();

    public List<SnapshotChunk.Row> Rows { get; } = [];

    /// <summary>Empties it for the next chunk.</summary>
    public void Clear()
    {
        Buffer.Rewind(0);
        Rows.Clear();
    }
}
