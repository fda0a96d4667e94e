using System.Buffers;
using System.Text;
using DataMesh.Avro;
using DataMesh.Connectors.MySql.Binlog;
using DataMesh.Events;
using DataMesh.Sources;

namespace DataMesh.Connectors.MySql;

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

/// <summary>The per-event part of a MySQL envelope's source block (<see cref="MySqlSourceFields"/>).</summary>
internal readonly ref struct MySqlSourceBlock(TransactionState transaction, ReadOnlySpan<byte> fileUtf8, long position, long row, RowImage? before, RowImage? after, ColumnPlan[]? columns, ArrayBufferWriter<byte>? scratch) : ISourceBlock
{
    private readonly TransactionState _transaction = transaction;
    private readonly ReadOnlySpan<byte> _file = fileUtf8;
    private readonly long _position = position;
    private readonly long _row = row;
    private readonly RowImage? _before = before;
    private readonly RowImage? _after = after;
    private readonly ColumnPlan[]? _columns = columns;
    private readonly ArrayBufferWriter<byte>? _scratch = scratch;

    public long CommitTimestampMs => _transaction.TimestampMs;

    public long? TransactionId => _transaction.Sequence;

    public void WritePositionFields(ref AvroWriter writer)
    {
        writer.WriteStringUtf8(_file);
        writer.WriteLong(_position);
        writer.WriteLong(_row);
        writer.WriteLong(_transaction.ServerId);
        WriteNullableUtf8(ref writer, _transaction.GtidUtf8, _transaction.Gtid is not null);
        if (_transaction.ThreadId == 0)
        {
            writer.WriteUnionIndex(0);
        }
        else
        {
            writer.WriteUnionIndex(1);
            writer.WriteLong(_transaction.ThreadId);
        }

        WriteNullableUtf8(ref writer, _transaction.Query, _transaction.Query.Length > 0);
        WriteMissing(ref writer, _before);
        WriteMissing(ref writer, _after);
    }

    private void WriteMissing(ref AvroWriter writer, RowImage? image)
    {
        if (image is null || image.MissingCount == 0 || _columns is null || _scratch is null)
        {
            writer.WriteUnionIndex(0);
            return;
        }

        _scratch.ResetWrittenCount();
        for (var i = 0; i < _columns.Length; i++)
        {
            if (image.State(i) != CellState.Missing)
            {
                continue;
            }

            if (_scratch.WrittenCount > 0)
            {
                _scratch.Write(","u8);
            }

            Encoding.UTF8.GetBytes(_columns[i].Name, _scratch);
        }

        writer.WriteUnionIndex(1);
        writer.WriteStringUtf8(_scratch.WrittenSpan);
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
