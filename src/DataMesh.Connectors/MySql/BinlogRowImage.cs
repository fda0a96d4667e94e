using DataMesh.Avro;
using DataMesh.Connectors.MySql.Binlog;
using DataMesh.Sources;

namespace DataMesh.Connectors.MySql;

/// <summary>A row image of a rows event as the source runtime reads it: cells are ranges of the event's bytes, written by
/// <see cref="RowEncoder"/>; a column left out of the image (<c>binlog_row_image=MINIMAL</c>/<c>NOBLOB</c>) is
/// <see cref="ColumnValueState.Missing"/>.</summary>
internal readonly ref struct BinlogRowImage(ReadOnlySpan<byte> rows, RowImage? image, ColumnPlan[] columns, RowEncoder encoder) : IRowImage
{
    private readonly ReadOnlySpan<byte> _rows = rows;
    private readonly RowImage? _image = image;
    private readonly ColumnPlan[] _columns = columns;
    private readonly RowEncoder _encoder = encoder;

    public ColumnValueState State(int column) => _image!.State(column) switch
    {
        CellState.Null => ColumnValueState.Null,
        CellState.Missing => ColumnValueState.Missing,
        _ => ColumnValueState.Value,
    };

    public void WriteValue(ref AvroWriter writer, int column) => _encoder.WriteValue(ref writer, _rows, _image!, _columns[column], column);
}
