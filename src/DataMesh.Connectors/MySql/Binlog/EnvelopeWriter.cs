using System.Buffers;
using System.Text;
using DataMesh.Avro;
using DataMesh.Events;

namespace DataMesh.Connectors.MySql.Binlog;

/// <summary>
/// The MySQL connector's fields of the envelope's <c>source</c> block, after the common ones: binlog file and
/// position of the rows event, the row's index in it, the server id, the transaction's GTID, the client thread,
/// the statement (MariaDB's ANNOTATE_ROWS, when kept), and the columns missing from each image
/// (<c>binlog_row_image=MINIMAL</c>/<c>NOBLOB</c>), comma-separated.
/// </summary>
internal static class MySqlSourceFields
{
    public static IReadOnlyList<SourceField> Fields { get; } =
    [
        new("file", SourceFieldType.String),
        new("pos", SourceFieldType.Long),
        new("row", SourceFieldType.Long),
        new("server_id", SourceFieldType.Long),
        new("gtid", SourceFieldType.NullableString),
        new("thread", SourceFieldType.NullableLong),
        new("query", SourceFieldType.NullableString),
        new("before_missing", SourceFieldType.NullableString),
        new("after_missing", SourceFieldType.NullableString),
    ];

    public static SourceDescription Describe(string sourceName) => new("mysql", sourceName, Fields);
}

/// <summary>
/// Writes keys and envelopes of one table version in the Confluent wire format straight from binlog rows, in the
/// byte layout of <see cref="ChangeEventEncoder"/> (before union, columns, after union, columns, source block, op,
/// ts_ms union): the connector's hot path, allocation-free per row in steady state.
/// </summary>
internal sealed class EnvelopeWriter
{
    private static readonly byte[] VersionUtf8 = Encoding.UTF8.GetBytes(ChangeEventSchemas.LibraryVersion);
    private static readonly byte[] ConnectorUtf8 = "mysql"u8.ToArray();
    private static readonly byte[] SnapshotFalse = "false"u8.ToArray();

    private readonly byte[] _nameUtf8;
    private readonly byte[] _databaseUtf8;
    private readonly byte[] _tableUtf8;
    private readonly byte[][] _columnNames;
    private readonly RowEncoder _rows;
    private readonly ArrayBufferWriter<byte> _missing = new(64);
    private string? _file;
    private byte[] _fileUtf8 = [];

    public EnvelopeWriter(ChangeEventSchemas schemas, RowEncoder rows)
    {
        Schemas = schemas;
        _rows = rows;
        _nameUtf8 = Encoding.UTF8.GetBytes(schemas.Source.Name);
        _databaseUtf8 = Encoding.UTF8.GetBytes(schemas.Table.Schema);
        _tableUtf8 = Encoding.UTF8.GetBytes(schemas.Table.Name);
        _columnNames = schemas.Table.Columns.Select(c => Encoding.UTF8.GetBytes(c.Name)).ToArray();
        KeyColumns = schemas.KeyColumnIndexes;
    }

    public ChangeEventSchemas Schemas { get; }

    public IReadOnlyList<int> KeyColumns { get; }

    public bool HasKey => Schemas.KeySchema is not null;

    /// <summary>Writes the key record (framed) of a row's image; false, writing nothing, for a table without a key.</summary>
    public bool WriteKey(IBufferWriter<byte> output, int keySchemaId, scoped in RowChange change)
    {
        if (!HasKey)
        {
            return false;
        }

        var image = change.After ?? change.Before!;
        ConfluentWireFormat.WriteHeader(output, keySchemaId);
        var writer = new AvroWriter(output);
        _rows.WriteColumns(ref writer, change.Rows, image, change.Binding.Columns, KeyColumns);
        writer.Flush();
        return true;
    }

    /// <summary>Writes the envelope (framed).</summary>
    public void WriteEnvelope(IBufferWriter<byte> output, int valueSchemaId, scoped in RowChange change, TransactionState transaction, string file, long timestampMs)
    {
        ConfluentWireFormat.WriteHeader(output, valueSchemaId);
        var writer = new AvroWriter(output);
        var columns = change.Binding.Columns;
        WriteImage(ref writer, change.Rows, change.Before, columns);
        WriteImage(ref writer, change.Rows, change.After, columns);

        WriteSource(ref writer, transaction, file, change.Position, change.Row);
        WriteMissing(ref writer, change.Before);
        WriteMissing(ref writer, change.After);

        writer.WriteStringUtf8(change.Kind switch
        {
            RowsKind.Insert => "c"u8,
            RowsKind.Update => "u"u8,
            _ => "d"u8,
        });
        writer.WriteUnionIndex(1);
        writer.WriteLong(timestampMs);
        writer.Flush();
    }

    /// <summary>Writes the envelope (framed) of a truncate: no before or after image, <c>op</c> <c>t</c>, the source block at
    /// the TRUNCATE statement's QUERY event (row 0, no missing columns).</summary>
    public void WriteTruncate(IBufferWriter<byte> output, int valueSchemaId, TransactionState transaction, string file, long position, long timestampMs)
    {
        ConfluentWireFormat.WriteHeader(output, valueSchemaId);
        var writer = new AvroWriter(output);
        writer.WriteUnionIndex(0);
        writer.WriteUnionIndex(0);
        WriteSource(ref writer, transaction, file, position, 0);
        writer.WriteUnionIndex(0);
        writer.WriteUnionIndex(0);
        writer.WriteStringUtf8(ChangeOperation.Truncate.ToUtf8Code());
        writer.WriteUnionIndex(1);
        writer.WriteLong(timestampMs);
        writer.Flush();
    }

    /// <summary>The names of the columns missing from an image, comma-separated, or null when none is.</summary>
    public string? MissingColumns(RowImage? image)
    {
        if (image is null || image.MissingCount == 0)
        {
            return null;
        }

        return string.Join(",", Schemas.Table.Columns.Where((_, i) => image.State(i) == CellState.Missing).Select(c => c.Name));
    }

    /// <summary>The source block up to (not including) the missing-column fields.</summary>
    private void WriteSource(ref AvroWriter writer, TransactionState transaction, string file, long position, long row)
    {
        writer.WriteStringUtf8(VersionUtf8);
        writer.WriteStringUtf8(ConnectorUtf8);
        writer.WriteStringUtf8(_nameUtf8);
        writer.WriteLong(transaction.TimestampMs);
        writer.WriteStringUtf8(SnapshotFalse);
        writer.WriteStringUtf8(_databaseUtf8);
        writer.WriteUnionIndex(0);
        writer.WriteUnionIndex(1);
        writer.WriteStringUtf8(_tableUtf8);
        WriteNullableLong(ref writer, transaction.Sequence);
        if (!ReferenceEquals(file, _file))
        {
            _file = file;
            _fileUtf8 = Encoding.UTF8.GetBytes(file);
        }

        writer.WriteStringUtf8(_fileUtf8);
        writer.WriteLong(position);
        writer.WriteLong(row);
        writer.WriteLong(transaction.ServerId);
        WriteNullableUtf8(ref writer, transaction.GtidUtf8, transaction.Gtid is not null);
        WriteNullableLong(ref writer, transaction.ThreadId == 0 ? null : transaction.ThreadId);
        WriteNullableUtf8(ref writer, transaction.Query, transaction.Query.Length > 0);
    }

    private void WriteImage(ref AvroWriter writer, ReadOnlySpan<byte> rows, RowImage? image, ColumnPlan[] columns)
    {
        if (image is null)
        {
            writer.WriteUnionIndex(0);
            return;
        }

        writer.WriteUnionIndex(1);
        _rows.WriteRow(ref writer, rows, image, columns);
    }

    private void WriteMissing(ref AvroWriter writer, RowImage? image)
    {
        if (image is null || image.MissingCount == 0)
        {
            writer.WriteUnionIndex(0);
            return;
        }

        _missing.ResetWrittenCount();
        var first = true;
        for (var i = 0; i < _columnNames.Length; i++)
        {
            if (image.State(i) != CellState.Missing)
            {
                continue;
            }

            var name = _columnNames[i];
            var span = _missing.GetSpan(name.Length + 1);
            var at = 0;
            if (!first)
            {
                span[at++] = (byte)',';
            }

            name.CopyTo(span[at..]);
            _missing.Advance(at + name.Length);
            first = false;
        }

        writer.WriteUnionIndex(1);
        writer.WriteStringUtf8(_missing.WrittenSpan);
    }

    private static void WriteNullableLong(ref AvroWriter writer, long? value)
    {
        if (value is { } v)
        {
            writer.WriteUnionIndex(1);
            writer.WriteLong(v);
        }
        else
        {
            writer.WriteUnionIndex(0);
        }
    }

    private static void WriteNullableUtf8(ref AvroWriter writer, ReadOnlySpan<byte> value, bool present)
    {
        if (present)
        {
            writer.WriteUnionIndex(1);
            writer.WriteStringUtf8(value);
        }
        else
        {
            writer.WriteUnionIndex(0);
        }
    }
}
