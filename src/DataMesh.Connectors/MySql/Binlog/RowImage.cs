using System.Buffers.Binary;
using System.Runtime.CompilerServices;

namespace DataMesh.Connectors.MySql.Binlog;

/// <summary>The state of one column in a row image.</summary>
internal enum CellState : byte
{
    /// <summary>The column has a value.</summary>
    Value,

    /// <summary>The column is NULL.</summary>
    Null,

    /// <summary>The column is not in the image (<c>binlog_row_image=MINIMAL</c> or <c>NOBLOB</c>): its value is unknown.</summary>
    Missing,
}

/// <summary>
/// Where each column's value lies in one row image of a rows event: offsets and lengths into the rows bytes,
/// and whether the column is NULL or missing. One instance is reused for every row of a table (no allocation
/// per row); its contents are valid until the next <see cref="Read"/>.
/// </summary>
internal sealed class RowImage
{
    private int[] _offsets = new int[16];
    private int[] _lengths = new int[16];
    private CellState[] _states = new CellState[16];

    public int ColumnCount { get; private set; }

    public ReadOnlySpan<int> Offsets => _offsets.AsSpan(0, ColumnCount);

    public ReadOnlySpan<int> Lengths => _lengths.AsSpan(0, ColumnCount);

    public ReadOnlySpan<CellState> States => _states.AsSpan(0, ColumnCount);

    /// <summary>How many columns are missing from the image.</summary>
    public int MissingCount { get; private set; }

    /// <summary>Whether the image has every column (<c>binlog_row_image=FULL</c>).</summary>
    public bool IsComplete => MissingCount == 0;

    /// <summary>The names of the columns missing from the image, in column order.</summary>
    public IEnumerable<string> MissingColumns(ColumnPlan[] columns)
    {
        for (var i = 0; i < ColumnCount; i++)
        {
            if (_states[i] == CellState.Missing)
            {
                yield return columns[i].Name;
            }
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public CellState State(int column) => _states[column];

    /// <summary>The bytes of a column's value (its length prefix included for strings and blobs).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public ReadOnlySpan<byte> Cell(ReadOnlySpan<byte> rows, int column) => rows.Slice(_offsets[column], _lengths[column]);

    /// <summary>Reads the image that starts at <paramref name="offset"/> of <paramref name="rows"/>.</summary>
    /// <param name="rows">The rows bytes of the event.</param>
    /// <param name="offset">Where the image starts.</param>
    /// <param name="columns">The table map's columns.</param>
    /// <param name="present">The bitmap of the columns present in the image.</param>
    /// <param name="eventType">For error messages.</param>
    /// <param name="rowsOffset">The offset of <paramref name="rows"/> in the event, for error messages.</param>
    /// <returns>The offset after the image.</returns>
    public int Read(ReadOnlySpan<byte> rows, int offset, BinlogColumn[] columns, ReadOnlySpan<byte> present, string eventType, int rowsOffset)
    {
        var count = columns.Length;
        Ensure(count);
        ColumnCount = count;
        var presentCount = 0;
        for (var i = 0; i < count; i++)
        {
            if ((present[i >> 3] & (1 << (i & 7))) != 0)
            {
                presentCount++;
            }
        }

        var nullBytes = (presentCount + 7) >> 3;
        if (nullBytes > rows.Length - offset)
        {
            throw new BinlogFormatException(eventType, "null_bitmap", rowsOffset + offset, $"truncated: the row's NULL bitmap needs {nullBytes} bytes, {rows.Length - offset} left");
        }

        var nulls = rows.Slice(offset, nullBytes);
        offset += nullBytes;
        var nullIndex = 0;
        var missing = 0;
        for (var i = 0; i < count; i++)
        {
            if ((present[i >> 3] & (1 << (i & 7))) == 0)
            {
                _states[i] = CellState.Missing;
                _offsets[i] = offset;
                _lengths[i] = 0;
                missing++;
                continue;
            }

            var isNull = (nulls[nullIndex >> 3] & (1 << (nullIndex & 7))) != 0;
            nullIndex++;
            if (isNull)
            {
                _states[i] = CellState.Null;
                _offsets[i] = offset;
                _lengths[i] = 0;
                continue;
            }

            var length = CellLength(rows, offset, columns[i], eventType, rowsOffset, i);
            _states[i] = CellState.Value;
            _offsets[i] = offset;
            _lengths[i] = length;
            offset += length;
        }

        MissingCount = missing;
        return offset;
    }

    /// <summary>The length in bytes of a value of <paramref name="column"/>'s type at <paramref name="offset"/>.</summary>
    private static int CellLength(ReadOnlySpan<byte> rows, int offset, BinlogColumn column, string eventType, int rowsOffset, int index)
    {
        var left = rows.Length - offset;
        int length;
        switch (column.Type)
        {
            case MySqlColumnType.Tiny or MySqlColumnType.Year: length = 1; break;
            case MySqlColumnType.Short: length = 2; break;
            case MySqlColumnType.Int24 or MySqlColumnType.Date or MySqlColumnType.NewDate or MySqlColumnType.Time: length = 3; break;
            case MySqlColumnType.Long or MySqlColumnType.Timestamp: length = 4; break;
            case MySqlColumnType.LongLong or MySqlColumnType.DateTime: length = 8; break;
            case MySqlColumnType.Float or MySqlColumnType.Double: length = column.Meta; break;
            case MySqlColumnType.Timestamp2: length = 4 + ((column.Meta + 1) / 2); break;
            case MySqlColumnType.DateTime2: length = 5 + ((column.Meta + 1) / 2); break;
            case MySqlColumnType.Time2: length = 3 + ((column.Meta + 1) / 2); break;
            case MySqlColumnType.NewDecimal: length = BinaryDecimal.Size(column.Meta, column.Meta2); break;
            case MySqlColumnType.Bit: length = (column.Meta + 7) / 8; break;
            case MySqlColumnType.Enum or MySqlColumnType.Set: length = column.Meta; break;
            case MySqlColumnType.Null: length = 0; break;
            case MySqlColumnType.String or MySqlColumnType.VarChar or MySqlColumnType.VarString:
                if (column.Meta > 255)
                {
                    if (left < 2)
                    {
                        throw Truncated(eventType, rowsOffset + offset, index, 2, left);
                    }

                    length = 2 + BinaryPrimitives.ReadUInt16LittleEndian(rows[offset..]);
                }
                else
                {
                    if (left < 1)
                    {
                        throw Truncated(eventType, rowsOffset + offset, index, 1, left);
                    }

                    length = 1 + rows[offset];
                }

                break;
            default:
                // BLOB, TEXT, JSON, GEOMETRY: a little-endian length of Meta bytes (1 to 4).
                var prefix = column.Meta;
                if (left < prefix)
                {
                    throw Truncated(eventType, rowsOffset + offset, index, prefix, left);
                }

                long value = prefix switch
                {
                    1 => rows[offset],
                    2 => BinaryPrimitives.ReadUInt16LittleEndian(rows[offset..]),
                    3 => rows[offset] | (rows[offset + 1] << 8) | (rows[offset + 2] << 16),
                    _ => BinaryPrimitives.ReadUInt32LittleEndian(rows[offset..]),
                };
                if (value > int.MaxValue - prefix)
                {
                    throw new BinlogFormatException(eventType, "column " + (index + 1), rowsOffset + offset, $"a value of {value} bytes is too long");
                }

                length = prefix + (int)value;
                break;
        }

        if (length > left)
        {
            throw Truncated(eventType, rowsOffset + offset, index, length, left);
        }

        return length;
    }

    private static BinlogFormatException Truncated(string eventType, int offset, int index, int wanted, int left) =>
        new(eventType, "column " + (index + 1), offset, $"truncated: the value of column {index + 1} needs {wanted} bytes, {left} left in the rows (does the row match its TABLE_MAP?)");

    private void Ensure(int count)
    {
        if (_offsets.Length < count)
        {
            var size = Math.Max(count, _offsets.Length * 2);
            _offsets = new int[size];
            _lengths = new int[size];
            _states = new CellState[size];
        }
    }
}
