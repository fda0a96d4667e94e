namespace DataMesh.Connectors.MySql.Binlog;

/// <summary>What a rows event does to its rows.</summary>
internal enum RowsKind
{
    Insert,
    Update,
    Delete,
}

/// <summary>
/// WRITE_ROWS, UPDATE_ROWS and DELETE_ROWS, v1 (23-25, MariaDB) and v2 (30-32, MySQL 5.6+): the table id, flags,
/// (v2) extra data, the column count, the bitmap of the columns present in each image (two for updates), then the
/// row images. A <see langword="ref struct"/> over the event's bytes; the rows are read with <see cref="RowImage"/>.
/// </summary>
internal readonly ref struct RowsEvent
{
    /// <summary>STMT_END_F: the last rows event of the statement.</summary>
    public const ushort StatementEndFlag = 1;

    private RowsEvent(BinlogEventType type, RowsKind kind, long tableId, ushort flags, int columnCount, ReadOnlySpan<byte> before, ReadOnlySpan<byte> after, ReadOnlySpan<byte> rows, int rowsOffset)
    {
        Type = type;
        Kind = kind;
        TableId = tableId;
        Flags = flags;
        ColumnCount = columnCount;
        PresentInBefore = before;
        PresentInAfter = after;
        Rows = rows;
        RowsOffset = rowsOffset;
    }

    public BinlogEventType Type { get; }

    public RowsKind Kind { get; }

    public long TableId { get; }

    public ushort Flags { get; }

    public int ColumnCount { get; }

    /// <summary>Columns present in the before image (deletes, updates); empty for inserts.</summary>
    public ReadOnlySpan<byte> PresentInBefore { get; }

    /// <summary>Columns present in the after image (inserts, updates); empty for deletes.</summary>
    public ReadOnlySpan<byte> PresentInAfter { get; }

    /// <summary>The row images, back to back.</summary>
    public ReadOnlySpan<byte> Rows { get; }

    /// <summary>The offset of <see cref="Rows"/> within the event, for error messages.</summary>
    public int RowsOffset { get; }

    public static bool IsRowsEvent(BinlogEventType type) => type is >= BinlogEventType.WriteRowsV1 and <= BinlogEventType.DeleteRowsV1
        or >= BinlogEventType.WriteRowsV2 and <= BinlogEventType.DeleteRowsV2;

    /// <summary>Parses the event body (after the header, without the checksum).</summary>
    /// <param name="body">The body.</param>
    /// <param name="type">The event type, one of the six rows events.</param>
    /// <param name="tableIdLength">4 or 6 (from FORMAT_DESCRIPTION's post-header lengths).</param>
    public static RowsEvent Parse(ReadOnlySpan<byte> body, BinlogEventType type, int tableIdLength = 6)
    {
        var name = BinlogEventTypes.Name((byte)type);
        var (kind, v2) = type switch
        {
            BinlogEventType.WriteRowsV1 => (RowsKind.Insert, false),
            BinlogEventType.UpdateRowsV1 => (RowsKind.Update, false),
            BinlogEventType.DeleteRowsV1 => (RowsKind.Delete, false),
            BinlogEventType.WriteRowsV2 => (RowsKind.Insert, true),
            BinlogEventType.UpdateRowsV2 => (RowsKind.Update, true),
            BinlogEventType.DeleteRowsV2 => (RowsKind.Delete, true),
            _ => throw new BinlogFormatException(name, "type", 4, "not a rows event"),
        };
        var reader = new Protocol.PayloadReader(body, name, BinlogEventHeader.Length);
        long tableId = tableIdLength == 4 ? reader.ReadUInt32("table_id") : reader.ReadUInt48("table_id");
        var flags = reader.ReadUInt16("flags");
        if (v2)
        {
            var extraLength = reader.ReadUInt16("extra_data_length");
            if (extraLength < 2)
            {
                throw new BinlogFormatException(name, "extra_data_length", BinlogEventHeader.Length + reader.Offset - 2, $"extra data length {extraLength} is less than its own 2 bytes");
            }

            reader.Skip(extraLength - 2, "extra_data");
        }

        var columns = reader.ReadLengthEncodedCount("column_count");
        if (columns is 0 or > 4096)
        {
            throw reader.Error("column_count", $"{columns} columns: a table has 1 to 4096");
        }

        var bitmapLength = (columns + 7) / 8;
        var first = reader.ReadSpan(bitmapLength, "columns_present_bitmap1");
        var second = kind == RowsKind.Update ? reader.ReadSpan(bitmapLength, "columns_present_bitmap2") : default;
        var rowsOffset = BinlogEventHeader.Length + reader.Offset;
        var rows = reader.Rest;
        return kind switch
        {
            RowsKind.Insert => new RowsEvent(type, kind, tableId, flags, columns, default, first, rows, rowsOffset),
            RowsKind.Delete => new RowsEvent(type, kind, tableId, flags, columns, first, default, rows, rowsOffset),
            _ => new RowsEvent(type, kind, tableId, flags, columns, first, second, rows, rowsOffset),
        };
    }
}
