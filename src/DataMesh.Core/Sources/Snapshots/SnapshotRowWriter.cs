using System.Buffers;
using DataMesh.Avro;
using DataMesh.Events;

namespace DataMesh.Sources;

/// <summary>
/// Takes the rows of one snapshot chunk from a <see cref="ISnapshotDialect"/> and encodes each (its key for the window's
/// matching, its Kafka key, its envelope with <c>op = r</c>) into the chunk's buffer, where it waits for the chunk's high
/// watermark. Not thread-safe: one chunk read at a time.
/// </summary>
public sealed class SnapshotRowWriter
{
    private readonly SnapshotChunk _chunk;

    internal SnapshotRowWriter(SnapshotChunk chunk) => _chunk = chunk;

    /// <summary>Whether <paramref name="current"/> (the table as the dialect describes it now, under the read's lock)
    /// has the shape this chunk's rows are encoded with: same columns, types, nullability and key. When not, the dialect
    /// reads nothing and returns <see cref="SnapshotChunkRead.Changed"/>.</summary>
    /// <param name="current">The table now.</param>
    public bool Matches(SourceTableInfo current)
    {
        ArgumentNullException.ThrowIfNull(current);
        return SourceTable.SameShape(_chunk.Table.Info, current);
    }

    /// <summary>Whether the chunk's encoded rows reached its byte budget (<see cref="SnapshotOptions.MaxChunkBytes"/>): the
    /// dialect stops reading after the row it just handed over and returns what it read (that row's key is the chunk's
    /// last), and the range goes on in the next chunk. Always false for a chunk that reads keys again
    /// (<see cref="SnapshotChunkRequest.Keys"/>), which must read every key it was given (at most 256 keys).</summary>
    public bool IsFull => _chunk.Request is { Keys: null } request && _chunk.Buffer.Written >= request.MaxBytes;

    /// <summary>Encodes one row of the chunk.</summary>
    /// <typeparam name="TImage">The dialect's row image.</typeparam>
    /// <param name="row">The row, every column present.</param>
    /// <param name="key">The row's key in the dialect's form (what <see cref="SnapshotChunkRequest.After"/> and
    /// <see cref="SnapshotChunkRequest.Keys"/> take), as UTF-8: kept (copied) in case the row has to be read again.</param>
    public void Row<TImage>(scoped in TImage row, ReadOnlySpan<byte> key)
        where TImage : IRowImage, allows ref struct
    {
        var chunk = _chunk;
        var table = chunk.Table;
        var buffer = chunk.Buffer;
        var matchStart = buffer.Written;
        var writer = new AvroWriter(buffer);
        foreach (var index in chunk.MatchIndexes)
        {
            EnvelopeWriter.WriteColumn(ref writer, table, index, row, row, hasFallback: false);
        }

        writer.Flush();
        var keyStart = buffer.Written;
        var keyLength = -1;
        if (table.HasKey)
        {
            ConfluentWireFormat.WriteHeader(buffer, 0);
            var keyWriter = new AvroWriter(buffer);
            EnvelopeWriter.WriteKey(ref keyWriter, table, row, row, hasFallback: false);
            keyWriter.Flush();
            keyLength = buffer.Written - keyStart;
        }

        var valueStart = buffer.Written;
        ConfluentWireFormat.WriteHeader(buffer, 0);
        writer = new AvroWriter(buffer);
        EnvelopeWriter.WriteRow(ref writer, table, false, row, row, hasFallback: false);
        EnvelopeWriter.WriteRow(ref writer, table, true, row, row, hasFallback: false);
        var block = new SnapshotBlock(chunk.ReadAtMs, chunk.Dialect);
        EnvelopeWriter.WriteSource(ref writer, table, block, chunk.Marker);
        EnvelopeWriter.WriteTail(ref writer, ChangeOperation.Read, chunk.ReadAtMs);
        writer.Flush();
        var dialectKeyStart = buffer.Written;
        buffer.Write(key);
        chunk.Rows.Add(new SnapshotChunk.Row(matchStart, keyStart - matchStart, keyStart, keyLength, valueStart, dialectKeyStart - valueStart, dialectKeyStart, key.Length));
    }

    /// <summary>The source block of a snapshot row: read time as the commit time, no transaction, the dialect's zero position.</summary>
    private readonly ref struct SnapshotBlock(long readAtMs, ISnapshotDialect dialect) : ISourceBlock
    {
        private readonly ISnapshotDialect _dialect = dialect;

        public long CommitTimestampMs { get; } = readAtMs;

        public long? TransactionId => null;

        public void WritePositionFields(ref AvroWriter writer) => _dialect.WritePositionFields(ref writer);
    }
}
