using DataMesh.Tests.Cassandra;

namespace DataMesh.IntegrationTests.Cassandra;

/// <summary>
/// A Cassandra 4.0 node's commit log as its <c>cdc_raw</c> directory shows it (<c>cdc_enabled: true</c>), filled while a
/// source reads it: segments of commit-log version 7 (<c>CommitLog-7-&lt;id&gt;.log</c>, ids counting up from the wall clock
/// in milliseconds), pre-sized with zeros (memory-mapped segments) and linked into <c>cdc_raw</c> when created; each
/// <see cref="Sync"/> writes one section (a sync marker, then the entries: size, CRC, mutation, CRC; the layout of
/// shared/fixtures/cassandra/README.md, "Byte-level format", through <see cref="SegmentWriter"/>) and then rewrites the
/// segment's <c>_cdc.idx</c> with the durable offset, as <c>CommitLogSegment.writeCDCIndexFile</c> does (truncated, then
/// written: a reader may find it empty). A full segment gets <c>COMPLETED</c> on the index's second line and the next
/// one is created. A segment that never held a mutation of a CDC table has no index and is unlinked once full, as the
/// node discards it. Thread-safe: one log for every table of the node.
/// </summary>
internal sealed class CdcRawLog
{
    public const int Version = 7;

    /// <summary>The end marker's room: a section must leave 8 zero bytes after it, where the reader stops.</summary>
    private const int EndMarker = 8;

    private readonly string _directory;
    private readonly int _segmentSize;
    private readonly Lock _lock = new();
    private long _id;
    private string? _path;
    private int _position;
    private bool _holdsCdc;

    /// <param name="directory">The <c>cdc_raw</c> directory.</param>
    /// <param name="segmentSize"><c>commitlog_segment_size</c> (32 MiB by default on a node; smaller here so that tests
    /// cross segments).</param>
    public CdcRawLog(string directory, int segmentSize = 1 << 20)
    {
        _directory = directory;
        _segmentSize = segmentSize;
        _id = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
    }

    /// <summary>Segments created so far.</summary>
    public int Segments { get; private set; }

    /// <summary>Appends <paramref name="mutations"/> as one section and makes it durable; <paramref name="cdc"/> when any of
    /// them is of a table with <c>cdc = true</c>.</summary>
    public void Sync(IReadOnlyList<byte[]> mutations, bool cdc)
    {
        var entries = mutations.Select(m => SegmentWriter.Entry(m)).ToList();
        var length = entries.Sum(e => e.Length);
        lock (_lock)
        {
            if (_path is null || _position + 8 + length + EndMarker > _segmentSize)
            {
                Complete();
                Create();
                if (_position + 8 + length + EndMarker > _segmentSize)
                {
                    throw new InvalidOperationException($"A section of {length} bytes does not fit in a segment of {_segmentSize}.");
                }
            }

            var next = _position + 8 + length;
            using (var file = new FileStream(_path!, FileMode.Open, FileAccess.Write, FileShare.ReadWrite | FileShare.Delete))
            {
                file.Position = _position;
                file.Write(SegmentWriter.Marker(_id, _position, next));
                foreach (var entry in entries)
                {
                    file.Write(entry);
                }
            }

            _position = next;
            _holdsCdc |= cdc;
            if (_holdsCdc)
            {
                WriteIndex(completed: false);
            }
        }
    }

    /// <summary>The segment written last and its durable offset (the end of its last section).</summary>
    public (long Segment, int Offset) Durable
    {
        get
        {
            lock (_lock)
            {
                return (_id, _position);
            }
        }
    }

    /// <summary>Completes the segment being written (<c>COMPLETED</c> in its index), as a node's shutdown or the next
    /// segment does; the next <see cref="Sync"/> starts a new one.</summary>
    public void Close()
    {
        lock (_lock)
        {
            Complete();
            _path = null;
        }
    }

    private void Create()
    {
        _id++;
        Segments++;
        _path = Path.Combine(_directory, $"CommitLog-{Version}-{_id}.log");
        var header = SegmentWriter.Header(Version, _id, "{}");
        using (var file = new FileStream(_path, FileMode.CreateNew, FileAccess.Write, FileShare.ReadWrite | FileShare.Delete))
        {
            file.Write(header);
            file.SetLength(_segmentSize);
        }

        _position = header.Length;
        _holdsCdc = false;
    }

    private void Complete()
    {
        if (_path is null)
        {
            return;
        }

        if (_holdsCdc)
        {
            WriteIndex(completed: true);
        }
        else
        {
            File.Delete(_path);
        }
    }

    private void WriteIndex(bool completed) =>
        File.WriteAllText(Path.ChangeExtension(_path!, null) + "_cdc.idx", completed ? $"{_position}\nCOMPLETED" : $"{_position}");
}
