using System.Buffers;
using System.Buffers.Binary;
using System.IO.Pipelines;
using System.Runtime.CompilerServices;
using DataMesh.Connectors.MySql.Binlog;
using DataMesh.Connectors.MySql.Schema;

namespace DataMesh.Connectors.MySql;

/// <summary>One row change read from a binlog file.</summary>
/// <param name="Database">The table's database.</param>
/// <param name="Table">The table.</param>
/// <param name="Operation"><c>c</c> insert, <c>u</c> update, <c>d</c> delete.</param>
/// <param name="Columns">The column names (from DDL in the file, or the TABLE_MAP's <c>binlog_row_metadata=FULL</c>
/// names; <c>@1</c>, <c>@2</c> ... without them).</param>
/// <param name="ColumnTypes">Each column's type as <c>"dm.dbtype"</c> spells it (<c>int unsigned</c>, <c>time(6)</c>, <c>enum('a','b')</c>).</param>
/// <param name="Before">The values before the change (updates, deletes), or null.</param>
/// <param name="After">The values after the change (inserts, updates), or null.</param>
/// <param name="File">The binlog file.</param>
/// <param name="Position">The rows event's start position.</param>
/// <param name="Row">The row's index within the rows event.</param>
/// <param name="Gtid">The transaction's GTID, or null.</param>
/// <remarks>Values are the change-event contract's (<c>docs/type-mapping.md</c>): <see cref="int"/>, <see cref="long"/>,
/// <see cref="ulong"/>, <see cref="float"/>, <see cref="double"/>, <see cref="System.Numerics.BigInteger"/> (a DECIMAL's
/// unscaled value), <see cref="bool"/>, <see cref="string"/>, <see cref="byte"/>[], <see cref="DataMesh.Events.GeometryValue"/>,
/// days since 1970 for DATE, microseconds for TIME, DATETIME and TIMESTAMP; null for NULL; <see cref="MissingValue.Instance"/>
/// for a column not in the row image.</remarks>
public sealed record BinlogRowChange(
    string Database,
    string Table,
    char Operation,
    IReadOnlyList<string> Columns,
    IReadOnlyList<string> ColumnTypes,
    IReadOnlyList<object?>? Before,
    IReadOnlyList<object?>? After,
    string File,
    long Position,
    int Row,
    string? Gtid);

/// <summary>
/// Reads row changes from binlog files on disk with the same parser as the connector (CRC32 checked, every column
/// type decoded): for tests, recovery and tooling. Table schemas come from the DDL in the files and, for tables
/// created before them, from the TABLE_MAP's optional metadata (<c>binlog_row_metadata=FULL</c>). Unlike the
/// connector, it hands out rows logged with <c>binlog_row_image=MINIMAL</c> or <c>NOBLOB</c>, their absent columns
/// <see cref="MissingValue.Instance"/>. The rows of an XA transaction come at its XA COMMIT (none if it was rolled back
/// or its outcome is not in the files).
/// </summary>
public static class BinlogFileReader
{
    private static ReadOnlySpan<byte> Magic => [0xFE, (byte)'b', (byte)'i', (byte)'n'];

    /// <summary>Reads the row changes of one or more binlog files, in order.</summary>
    /// <param name="paths">The files (e.g. <c>mariadb-bin.000001</c>, <c>mariadb-bin.000002</c>).</param>
    /// <param name="cancellationToken">Stops reading.</param>
    /// <exception cref="BinlogFormatException">A file that is not a binlog, or an event that cannot be decoded, with its position.</exception>
    public static async IAsyncEnumerable<BinlogRowChange> ReadAsync(IEnumerable<string> paths, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(paths);
        var schema = new SchemaTracker();
        var collector = new Collector();
        // One processor for every file: an XA transaction prepared in one file may commit in a later one.
        var decoder = new BinlogDecoder(null, 0);
        var processor = new BinlogProcessor(decoder, schema, collector, static (_, _) => true) { SkipUnparseableDdl = true, AllowPartialRowImages = true };
        collector.Processor = processor;
        foreach (var path in paths)
        {
            var name = Path.GetFileName(path);
            decoder.Reset(name, 4, 0);
            var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite, 1, FileOptions.Asynchronous | FileOptions.SequentialScan);
            await using (stream.ConfigureAwait(false))
            {
                var reader = PipeReader.Create(stream, new StreamPipeReaderOptions(bufferSize: 1 << 16));
                try
                {
                    await foreach (var change in ReadFileAsync(reader, processor, collector, name, cancellationToken).ConfigureAwait(false))
                    {
                        yield return change;
                    }
                }
                finally
                {
                    await reader.CompleteAsync().ConfigureAwait(false);
                }
            }
        }
    }

    private static async IAsyncEnumerable<BinlogRowChange> ReadFileAsync(PipeReader reader, BinlogProcessor processor, Collector collector, string name, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        var magicChecked = false;
        byte[] scratch = [];
        while (true)
        {
            var result = await reader.ReadAsync(cancellationToken).ConfigureAwait(false);
            var buffer = result.Buffer;
            var consumed = buffer.Start;
            try
            {
                if (!magicChecked)
                {
                    if (buffer.Length < 4)
                    {
                        if (result.IsCompleted)
                        {
                            throw new BinlogFormatException($"{name} is not a binlog file: it has fewer than 4 bytes");
                        }

                        continue;
                    }

                    if (!StartsWithMagic(buffer))
                    {
                        throw new BinlogFormatException($"{name} is not a binlog file: it does not start with 0xFE 'bin'");
                    }

                    magicChecked = true;
                    buffer = buffer.Slice(4);
                    consumed = buffer.Start;
                }

                while (TryReadEvent(ref buffer, out var eventBytes, name, processor.Decoder.NextPosition))
                {
                    if (eventBytes.IsSingleSegment)
                    {
                        processor.Process(eventBytes.FirstSpan);
                    }
                    else
                    {
                        var length = (int)eventBytes.Length;
                        if (scratch.Length < length)
                        {
                            scratch = new byte[Math.Max(length, scratch.Length * 2)];
                        }

                        eventBytes.CopyTo(scratch);
                        processor.Process(scratch.AsSpan(0, length));
                    }

                    consumed = buffer.Start;
                    while (collector.Changes.TryDequeue(out var change))
                    {
                        yield return change;
                    }
                }

                if (result.IsCompleted)
                {
                    if (buffer.Length > 0)
                    {
                        throw new BinlogFormatException($"{name} ends with a truncated event: {buffer.Length} bytes at position {processor.Decoder.NextPosition}");
                    }

                    yield break;
                }
            }
            finally
            {
                reader.AdvanceTo(consumed, buffer.End);
            }
        }
    }

    private static bool StartsWithMagic(ReadOnlySequence<byte> buffer)
    {
        Span<byte> magic = stackalloc byte[4];
        buffer.Slice(0, 4).CopyTo(magic);
        return magic.SequenceEqual(Magic);
    }

    private static bool TryReadEvent(ref ReadOnlySequence<byte> buffer, out ReadOnlySequence<byte> eventBytes, string name, long position)
    {
        eventBytes = default;
        if (buffer.Length < BinlogEventHeader.Length)
        {
            return false;
        }

        Span<byte> header = stackalloc byte[BinlogEventHeader.Length];
        buffer.Slice(0, BinlogEventHeader.Length).CopyTo(header);
        var size = BinaryPrimitives.ReadUInt32LittleEndian(header[9..]);
        if (size < BinlogEventHeader.Length || size > int.MaxValue)
        {
            throw new BinlogFormatException($"{name}:{position}: event size {size} is not valid");
        }

        if (buffer.Length < size)
        {
            return false;
        }

        eventBytes = buffer.Slice(0, size);
        buffer = buffer.Slice(size);
        return true;
    }

    private sealed class Collector : IBinlogHandler
    {
        public Queue<BinlogRowChange> Changes { get; } = new();

        public BinlogProcessor? Processor { get; set; }

        public void OnRow(scoped in RowChange change, TransactionState transaction)
        {
            var binding = change.Binding;
            var names = binding.Columns.Select(c => c.Name).ToArray();
            Changes.Enqueue(new BinlogRowChange(
                binding.Map.Database,
                binding.Map.Table,
                change.Kind switch { RowsKind.Insert => 'c', RowsKind.Update => 'u', _ => 'd' },
                names,
                binding.Table.Columns.Select(c => c.DatabaseType).ToArray(),
                change.Before is { } before ? Values(change.Rows, before, binding) : null,
                change.After is { } after ? Values(change.Rows, after, binding) : null,
                Processor?.Decoder.File ?? string.Empty,
                change.Position,
                change.Row,
                transaction.Gtid));
        }

        public void OnCommit(TransactionState transaction)
        {
        }

        public void OnSchemaChange(SchemaChange change)
        {
        }

        public void OnDdlSkipped(string statement, string? file, long position, string reason)
        {
        }

        public void OnHeartbeat()
        {
        }

        private static object?[] Values(ReadOnlySpan<byte> rows, RowImage image, TableBinding binding)
        {
            var values = new object?[binding.Columns.Length];
            for (var i = 0; i < values.Length; i++)
            {
                values[i] = image.State(i) switch
                {
                    CellState.Null => null,
                    CellState.Missing => MissingValue.Instance,
                    _ => CellValues.ToObject(image.Cell(rows, i), binding.Columns[i]),
                };
            }

            return values;
        }
    }
}
