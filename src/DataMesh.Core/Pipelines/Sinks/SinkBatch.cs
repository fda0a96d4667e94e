using System.Buffers;

namespace DataMesh.Pipelines.Sinks;

/// <summary>
/// Records handed to a <see cref="PipelineSink"/> in one call, in source order. The batch and its buffer are reused by
/// the runtime after <see cref="PipelineSink.WriteAsync"/> returns: a sink must copy what it keeps.
/// </summary>
public sealed class SinkBatch
{
    private const int KeptCapacity = 1024 * 1024;
    private ArrayBufferWriter<byte> _buffer = new(64 * 1024);
    private Entry[] _entries = new Entry[256];
    private string?[] _rejections = new string?[256];
    private int _rejected;

    /// <summary>The number of records.</summary>
    public int Count { get; private set; }

    /// <summary>The number of records rejected so far by <see cref="Reject"/>.</summary>
    public int RejectedCount => _rejected;

    /// <summary>The record at <paramref name="index"/>.</summary>
    /// <param name="index">0 to <see cref="Count"/> - 1.</param>
    public SinkRecord this[int index]
    {
        get
        {
            ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual((uint)index, (uint)Count, nameof(index));
            return new SinkRecord(in _entries[index], _buffer.WrittenSpan);
        }
    }

    /// <summary>
    /// Refuses one record on its own merits (a value that does not fit, a missing key). The runtime dead-letters it with
    /// <paramref name="reason"/> and the sink's name as the stage, or stops the pipeline; the other records count as written.
    /// </summary>
    /// <param name="index">The record.</param>
    /// <param name="reason">Why, naming the field or column: it goes to the <c>dm.dlq.reason</c> header and the log.</param>
    public void Reject(int index, string reason)
    {
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual((uint)index, (uint)Count, nameof(index));
        ArgumentException.ThrowIfNullOrEmpty(reason);
        if (_rejections[index] is null)
        {
            _rejected++;
        }

        _rejections[index] = reason;
    }

    /// <summary>Why the record at <paramref name="index"/> was rejected, or null.</summary>
    /// <param name="index">The record.</param>
    /// <returns>The reason given to <see cref="Reject"/>, or null.</returns>
    public string? GetRejection(int index)
    {
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual((uint)index, (uint)Count, nameof(index));
        return _rejections[index];
    }

    /// <summary>The buffer the runtime writes record bytes to.</summary>
    internal ArrayBufferWriter<byte> Buffer => _buffer;

    internal ref Entry EntryAt(int index) => ref _entries[index];

    /// <summary>The last offset taken into this batch per source partition and generation, including records dropped or dead-lettered.</summary>
    internal List<(SourcePartition Partition, int Generation, long Offset)> Progress { get; } = [];

    /// <summary>Dead letters sent for this batch's records, to be acknowledged before its offsets count as done.</summary>
    internal DeliveryCounter DeadLetters { get; } = new();

    /// <summary>The position in the worker's pipe of the batch's first frame.</summary>
    internal long StartPosition { get; set; }

    /// <summary>Records dropped by a filter, tombstones and dead letters, for the metrics.</summary>
    internal int Dropped { get; set; }

    /// <summary>Records dropped by the epoch fence (written after their writer lost its source's lease), for the metrics.</summary>
    internal int Fenced { get; set; }

    internal int DeadLettered { get; set; }

    internal int Tombstones { get; set; }

    /// <summary>Time spent in the transform chain for this batch, in <see cref="System.Diagnostics.Stopwatch"/> ticks.</summary>
    internal long TransformTicks { get; set; }

    /// <summary>
    /// Notes that every record of <paramref name="partition"/> (read in <paramref name="generation"/>) up to
    /// <paramref name="offset"/> is in this batch (written, dropped or dead-lettered); the first one taken gives the batch
    /// its <see cref="StartPosition"/> in the pipe.
    /// </summary>
    internal void Taken(SourcePartition partition, int generation, long offset, long framePosition)
    {
        if (Progress.Count == 0)
        {
            StartPosition = framePosition;
        }

        var progress = System.Runtime.InteropServices.CollectionsMarshal.AsSpan(Progress);
        for (var i = progress.Length - 1; i >= 0; i--)
        {
            if (ReferenceEquals(progress[i].Partition, partition) && progress[i].Generation == generation)
            {
                progress[i].Offset = offset;
                return;
            }
        }

        Progress.Add((partition, generation, offset));
    }

    /// <summary>
    /// Takes out the records of partitions revoked since they were read (an older <see cref="SourcePartition.Generation"/>),
    /// with their progress: they are not handed to the sink and not committed; the partition's new owner reads them again.
    /// Called before each hand-over to the sink, so it is cheap when nothing was revoked.
    /// </summary>
    /// <returns>The number of records taken out.</returns>
    internal int RemoveRevoked()
    {
        var stale = false;
        foreach (var (partition, generation, _) in System.Runtime.InteropServices.CollectionsMarshal.AsSpan(Progress))
        {
            stale |= generation != partition.Generation;
        }

        if (!stale)
        {
            return 0;
        }

        Progress.RemoveAll(static p => p.Generation != p.Partition.Generation);
        var kept = 0;
        _rejected = 0;
        for (var i = 0; i < Count; i++)
        {
            ref var entry = ref _entries[i];
            if (entry.Generation != entry.Source.Generation)
            {
                if (entry.ValueLength < 0)
                {
                    Tombstones--;
                }

                continue;
            }

            _entries[kept] = entry;
            _rejections[kept] = _rejections[i];
            _rejected += _rejections[kept] is null ? 0 : 1;
            kept++;
        }

        var removed = Count - kept;
        Array.Clear(_entries, kept, removed);
        Array.Clear(_rejections, kept, removed);
        Count = kept;
        return removed;
    }

    internal void Clear()
    {
        Progress.Clear();
        DeadLetters.Reset();
        Dropped = 0;
        Fenced = 0;
        DeadLettered = 0;
        Tombstones = 0;
        TransformTicks = 0;
        if (_buffer.Capacity > KeptCapacity)
        {
            // A burst of large records: do not keep its buffer in every spare batch.
            _buffer = new ArrayBufferWriter<byte>(64 * 1024);
        }
        else
        {
            _buffer.ResetWrittenCount();
        }
        Array.Clear(_entries, 0, Count);
        ClearRejections();
        Count = 0;
    }

    internal void ClearRejections()
    {
        if (_rejected > 0)
        {
            Array.Clear(_rejections, 0, Count);
            _rejected = 0;
        }
    }

    /// <summary>Appends a record whose bytes were already written to <see cref="Buffer"/> at the positions in <paramref name="entry"/>.</summary>
    internal void Add(in Entry entry)
    {
        if (Count == _entries.Length)
        {
            Array.Resize(ref _entries, Count * 2);
            Array.Resize(ref _rejections, Count * 2);
        }

        _entries[Count++] = entry;
    }

    /// <summary>Appends a record, copying its bytes (for tests and tools).</summary>
    internal void Add(string topic, ReadOnlySpan<byte> key, bool hasKey, ReadOnlySpan<byte> value, global::Avro.RecordSchema? valueSchema, SourcePartition source, long sourceOffset, int valueSchemaId = 0)
    {
        var entry = new Entry { Topic = topic, Source = source, Generation = source.Generation, SourceOffset = sourceOffset, KeyLength = -1, ValueLength = -1, ValueSchema = valueSchema, ValueSchemaId = valueSchemaId };
        if (hasKey)
        {
            entry.KeyStart = _buffer.WrittenCount;
            entry.KeyLength = key.Length;
            _buffer.Write(key);
        }

        if (valueSchema is not null)
        {
            entry.ValueStart = _buffer.WrittenCount;
            entry.ValueLength = value.Length;
            _buffer.Write(value);
        }

        Add(in entry);
    }

    /// <summary>Where a record of the batch lives and what it is.</summary>
    internal struct Entry
    {
        public string Topic;
        public int KeyStart;
        public int KeyLength; // -1: no key
        public int ValueStart;
        public int ValueLength; // -1: tombstone
        public int HeadersStart;
        public int HeadersLength;
        public global::Avro.RecordSchema? ValueSchema;
        public int ValueSchemaId;
        public SourcePartition Source;
        public int Generation; // the generation of Source the record was read in
        public long SourceOffset;
        public long FramePosition; // where the source record's frame is in the worker's pipe, for dead letters
        public int FrameLength;
    }
}
