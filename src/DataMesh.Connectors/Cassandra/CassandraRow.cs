using System.Buffers;
using System.Buffers.Binary;
using System.Text.Json;
using DataMesh.Avro;
using DataMesh.Connectors.Cassandra.Mutations;
using DataMesh.Connectors.Cassandra.Schema;
using DataMesh.Events;
using DataMesh.Sources;

namespace DataMesh.Connectors.Cassandra;

/// <summary>
/// One row of a partition update as the mutation wrote it, copied out of the mutation while it is decoded (cells arrive
/// one by one): the key columns' values and, per other column, the cell or the cells of a multi-cell column. Reused from
/// row to row; read through <see cref="CassandraRowImage"/>.
/// </summary>
internal sealed class CassandraRow
{
    private readonly ArrayBufferWriter<byte> _json = new();
    private byte[] _data = new byte[4096];
    private int _used;
    private ColumnSlot[] _slots = [];
    private readonly List<CellSlot> _cells = [];
    private byte[]? _rangeStart;
    private byte[]? _rangeEnd;

    /// <summary>The table whose row this is.</summary>
    public CassandraTable? Table { get; private set; }

    /// <summary>The contract's decimal handling.</summary>
    public DecimalHandling Decimals { get; set; }

    /// <summary>Starts a row of <paramref name="table"/>: every column unwritten.</summary>
    public void Reset(CassandraTable table)
    {
        Table = table;
        if (_slots.Length < table.Columns.Count)
        {
            _slots = new ColumnSlot[table.Columns.Count];
        }

        Array.Clear(_slots);
        _cells.Clear();
        _used = 0;
        ClearRange();
    }

    /// <summary>Starts the next row of the same partition: the partition-key values stay, the rest is unwritten.</summary>
    public void NextRow()
    {
        var table = Table!;
        var keep = 0;
        for (var i = 0; i < table.PartitionKey.Count; i++)
        {
            keep = Math.Max(keep, _slots[i].Start + _slots[i].Length);
        }

        for (var i = table.PartitionKey.Count; i < table.Columns.Count; i++)
        {
            _slots[i] = default;
        }

        _cells.Clear();
        _used = keep;
        ClearRange();
    }

    /// <summary>Makes this row a copy of <paramref name="other"/> (a row held back while a range deletion is open).</summary>
    public void CopyFrom(CassandraRow other)
    {
        Table = other.Table;
        Decimals = other.Decimals;
        if (_data.Length < other._used)
        {
            _data = new byte[other._used];
        }

        other._data.AsSpan(0, other._used).CopyTo(_data);
        _used = other._used;
        if (_slots.Length < other._slots.Length)
        {
            _slots = new ColumnSlot[other._slots.Length];
        }

        Array.Clear(_slots);
        other._slots.AsSpan().CopyTo(_slots);
        _cells.Clear();
        _cells.AddRange(other._cells);
        HasCells = other.HasCells;
        _rangeStart = other._rangeStart;
        _rangeEnd = other._rangeEnd;
    }

    /// <summary>Sets the bounds of a range deletion (<see cref="CassandraConnector.RangeStartColumn"/>, JSON).</summary>
    public void SetRange(byte[] start, byte[] end)
    {
        _rangeStart = start;
        _rangeEnd = end;
    }

    /// <summary>Clears the bounds of a range deletion.</summary>
    public void ClearRange()
    {
        _rangeStart = null;
        _rangeEnd = null;
    }

    /// <summary>Whether any non-key column was written.</summary>
    public bool HasCells { get; private set; }

    /// <summary>Sets a key column's value (null for a clustering column of a static row or a partition-level event).</summary>
    public void SetKey(int column, ReadOnlySpan<byte> value, bool isNull)
    {
        _slots[column] = isNull ? new ColumnSlot(SlotState.Null, 0, 0) : new ColumnSlot(SlotState.Value, Copy(value), value.Length);
    }

    /// <summary>Clears the written-cells flag for a new row.</summary>
    public void ClearCells() => HasCells = false;

    /// <summary>Records a cell.</summary>
    public void Add(in Cell cell)
    {
        var column = cell.Column.Position;
        HasCells = true;
        if (!cell.Column.Type.IsMultiCell)
        {
            _slots[column] = cell.IsTombstone || CassandraValueWriter.IsEmptyNull(cell.Column.Type, cell.Value)
                ? new ColumnSlot(SlotState.Null, 0, 0)
                : new ColumnSlot(SlotState.Value, Copy(cell.Value), cell.Value.Length);
            return;
        }

        var path = Copy(cell.Path);
        var value = Copy(cell.Value);
        _cells.Add(new CellSlot(column, path, cell.Path.Length, value, cell.Value.Length, cell.IsTombstone));
        _slots[column] = new ColumnSlot(SlotState.Value, 0, 0);
    }

    /// <summary>A multi-cell column was deleted as a whole (it is replaced by the cells that follow, if any).</summary>
    public void Replace(CassandraColumn column)
    {
        HasCells = true;
        _slots[column.Position] = new ColumnSlot(SlotState.Null, 0, 0);
    }

    /// <summary>A column's state: a column the mutation did not write is null (docs/cassandra.md).</summary>
    public ColumnValueState State(int column)
    {
        var count = Table!.Columns.Count;
        if (column >= count)
        {
            // The range columns after the table's (tables with clustering columns only).
            return (column == count ? _rangeStart : _rangeEnd) is null ? ColumnValueState.Null : ColumnValueState.Value;
        }

        return _slots[column].State == SlotState.Value ? ColumnValueState.Value : ColumnValueState.Null;
    }

    public void WriteValue(ref AvroWriter writer, int column)
    {
        var table = Table!;
        if (column >= table.Columns.Count)
        {
            writer.WriteStringUtf8(column == table.Columns.Count ? _rangeStart : _rangeEnd);
            return;
        }

        var type = table.Columns[column].Type;
        var slot = _slots[column];
        if (!type.IsMultiCell)
        {
            CassandraValueWriter.Write(ref writer, type, _data.AsSpan(slot.Start, slot.Length), Decimals, _json);
            return;
        }

        _json.ResetWrittenCount();
        using (var json = new Utf8JsonWriter(_json))
        {
            WriteCells(json, type, column);
        }

        writer.WriteStringUtf8(_json.WrittenSpan);
    }

    /// <summary>A multi-cell column as JSON: the elements this row's cells wrote (docs/cassandra.md, "Collections").</summary>
    private void WriteCells(Utf8JsonWriter json, CqlType type, int column)
    {
        var isObject = type.Kind is CqlKind.Map or CqlKind.Udt;
        if (isObject)
        {
            json.WriteStartObject();
        }
        else
        {
            json.WriteStartArray();
        }

        foreach (var cell in _cells)
        {
            if (cell.Column != column)
            {
                continue;
            }

            var path = _data.AsSpan(cell.PathStart, cell.PathLength);
            var value = _data.AsSpan(cell.ValueStart, cell.ValueLength);
            switch (type.Kind)
            {
                case CqlKind.List when !cell.Tombstone:
                    CassandraValueWriter.WriteJson(json, type.Parameters[0], value);
                    break;
                case CqlKind.Set when !cell.Tombstone:
                    CassandraValueWriter.WriteJson(json, type.Parameters[0], path);
                    break;
                case CqlKind.Map:
                    json.WritePropertyName(CassandraValueWriter.KeyText(type.Parameters[0], path));
                    WriteOrNull(json, type.Parameters[1], value, cell.Tombstone);
                    break;
                case CqlKind.Udt:
                    var field = BinaryPrimitives.ReadUInt16BigEndian(path);
                    json.WritePropertyName(type.FieldNames[field]);
                    WriteOrNull(json, type.Parameters[field], value, cell.Tombstone);
                    break;
            }
        }

        if (isObject)
        {
            json.WriteEndObject();
        }
        else
        {
            json.WriteEndArray();
        }
    }

    private static void WriteOrNull(Utf8JsonWriter json, CqlType type, ReadOnlySpan<byte> value, bool tombstone)
    {
        if (tombstone)
        {
            json.WriteNullValue();
        }
        else
        {
            CassandraValueWriter.WriteJson(json, type, value);
        }
    }

    private int Copy(ReadOnlySpan<byte> value)
    {
        if (_used + value.Length > _data.Length)
        {
            Array.Resize(ref _data, Math.Max(_data.Length * 2, _used + value.Length));
        }

        var start = _used;
        value.CopyTo(_data.AsSpan(_used));
        _used += value.Length;
        return start;
    }

    /// <summary>What a row holds for a column: nothing written (the default), a tombstone or deleted collection, a value.</summary>
    private enum SlotState : byte
    {
        Unwritten,
        Null,
        Value,
    }

    private readonly record struct ColumnSlot(SlotState State, int Start, int Length);

    private readonly record struct CellSlot(int Column, int PathStart, int PathLength, int ValueStart, int ValueLength, bool Tombstone);
}

/// <summary>A <see cref="CassandraRow"/> as the runtime reads it: columns the mutation did not write are null
/// (docs/cassandra.md: a commit log holds what a write wrote, not the row).</summary>
/// <param name="row">The row.</param>
/// <param name="keyOnly">Only the key columns (the image that keys a delete): the others are missing. A range deletion's
/// image is whole (its range columns set, the other columns null), so that the delete's <c>before</c> carries the range.</param>
internal readonly struct CassandraRowImage(CassandraRow row, bool keyOnly) : IRowImage
{
    public ColumnValueState State(int column)
    {
        var table = row.Table!;
        var isKey = column < table.PartitionKey.Count + table.Clustering.Count;
        return keyOnly && !isKey ? ColumnValueState.Missing : row.State(column);
    }

    public void WriteValue(ref AvroWriter writer, int column) => row.WriteValue(ref writer, column);
}
