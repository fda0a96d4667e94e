using System.Buffers;
using System.Buffers.Binary;
using System.Buffers.Text;
using DataMesh.Connectors.MySql.Binlog;
using MySqlConnector;

namespace DataMesh.Connectors.MySql;

/// <summary>
/// Rows of a SELECT (a snapshot chunk) in the binlog's row-image form, so that they go through the log's own decoding
/// (<see cref="RowImage"/>, <see cref="BinlogRowImage"/>, <see cref="RowEncoder"/>) and encode byte for byte like the
/// log's rows. Each column is selected in a form that maps exactly to its binlog bytes
/// (<see cref="SelectExpression"/>): integers and DOUBLE as they are, FLOAT widened to DOUBLE (exact), BIT, YEAR, ENUM
/// and SET as numbers (<c>+0</c>), everything else as <c>CAST(... AS BINARY)</c> (text and blobs in their own character
/// set, decimals and temporal values as the server's text, parsed by the inverse readers of <see cref="CellValues"/> and
/// <see cref="BinaryDecimal"/>). The session's time zone must be UTC (TIMESTAMP). Not thread-safe; the row is valid
/// until the next <see cref="Read"/>.
/// </summary>
internal sealed class SelectedRowImage
{
    private readonly ColumnPlan[] _plans;
    private readonly BinlogColumn[] _columns;
    private readonly byte[] _present;
    private readonly int[] _keys;
    private readonly int[] _keyStarts;
    private readonly int[] _keyLengths;
    private byte[] _row = new byte[1024];
    private int _length;
    private byte[] _keyText = new byte[256];
    private int _keyTextLength;

    /// <param name="plans">The table's plans (<see cref="TableBinding.PlanSelected(Schema.MySqlTable)"/>), in the order of the selected columns.</param>
    /// <param name="keys">The key columns, whose values each row keeps in their selected form (<see cref="KeyValue"/>).</param>
    public SelectedRowImage(ColumnPlan[] plans, int[] keys)
    {
        _plans = plans;
        _columns = plans.Select(p => p.Binlog).ToArray();
        _present = new byte[(plans.Length + 7) / 8];
        _present.AsSpan().Fill(0xFF);
        _keys = keys;
        _keyStarts = new int[keys.Length];
        _keyLengths = new int[keys.Length];
    }

    /// <summary>The image of the last row read.</summary>
    public RowImage Image { get; } = new();

    /// <summary>The bytes <see cref="Image"/> indexes into.</summary>
    public ReadOnlySpan<byte> Rows => _row.AsSpan(0, _length);

    /// <summary>The SELECT expression of a column (<paramref name="column"/> quoted and qualified) for its plan.</summary>
    public static string SelectExpression(ColumnPlan plan, string column) => plan.Decoder switch
    {
        ValueDecoder.SignedInt or ValueDecoder.UnsignedInt or ValueDecoder.UnsignedInt64 or ValueDecoder.Double => column,
        ValueDecoder.Float => $"CAST({column} AS DOUBLE)",
        ValueDecoder.Boolean or ValueDecoder.Bits or ValueDecoder.Year or ValueDecoder.Enum or ValueDecoder.Set => $"{column}+0",
        _ => $"CAST({column} AS BINARY)",
    };

    /// <summary>The 64 bits of a <c>col+0</c> value: MariaDB sends a SET or BIT value whose top bit is set as a negative
    /// signed BIGINT, the others as unsigned.</summary>
    private static ulong UnsignedBits(MySqlDataReader reader, int i) =>
        reader.GetFieldType(i) == typeof(long) ? unchecked((ulong)reader.GetInt64(i)) : reader.GetUInt64(i);

    /// <summary>Reads the reader's current row (its columns selected by <see cref="SelectExpression"/>, in plan order).</summary>
    /// <exception cref="FormatException">A value that does not fit its column's binlog form.</exception>
    public void Read(MySqlDataReader reader)
    {
        var count = _plans.Length;
        var nulls = (count + 7) / 8;
        _length = nulls;
        _keyTextLength = 0;
        Ensure(nulls);
        _row.AsSpan(0, nulls).Clear();
        for (var i = 0; i < count; i++)
        {
            if (reader.IsDBNull(i))
            {
                _row[i >> 3] |= (byte)(1 << (i & 7));
                continue;
            }

            var plan = _plans[i];
            try
            {
                _length += WriteCell(reader, i, plan);
            }
            catch (FormatException ex)
            {
                throw new FormatException($"column '{plan.Name}': {ex.Message}", ex);
            }
        }

        for (var k = 0; k < _keys.Length; k++)
        {
            KeepKey(k, reader);
        }

        Image.Read(_row.AsSpan(0, _length), 0, _columns, _present, "SELECT", 0);
    }

    /// <summary>A key column's value of the last row read, in the form <see cref="MySqlSnapshotDialect"/> passes back to the
    /// server: the selected bytes for text, blobs, decimals and temporal values, the number's text otherwise.</summary>
    public ReadOnlySpan<byte> KeyValue(int key) => _keyText.AsSpan(_keyStarts[key], _keyLengths[key]);

    private int WriteCell(MySqlDataReader reader, int i, ColumnPlan plan)
    {
        var type = plan.Binlog.Type;
        switch (plan.Decoder)
        {
            case ValueDecoder.SignedInt:
                return WriteInteger((ulong)reader.GetInt64(i), IntegerSize(type));
            case ValueDecoder.UnsignedInt or ValueDecoder.UnsignedInt64:
                return WriteInteger(reader.GetUInt64(i), IntegerSize(type));
            case ValueDecoder.Float:
                Ensure(_length + 4);
                BinaryPrimitives.WriteSingleLittleEndian(_row.AsSpan(_length), (float)reader.GetDouble(i));
                return 4;
            case ValueDecoder.Double:
                Ensure(_length + 8);
                BinaryPrimitives.WriteDoubleLittleEndian(_row.AsSpan(_length), reader.GetDouble(i));
                return 8;
            case ValueDecoder.Boolean or ValueDecoder.Bits:
                var bits = (plan.Binlog.Meta + 7) / 8;
                Ensure(_length + bits);
                CellValues.WriteBits(UnsignedBits(reader, i), _row.AsSpan(_length, bits));
                return bits;
            case ValueDecoder.Year:
                var year = reader.GetInt32(i);
                return WriteInteger(year == 0 ? 0 : (ulong)(year - 1900), 1);
            case ValueDecoder.Enum or ValueDecoder.Set:
                return WriteInteger(UnsignedBits(reader, i), plan.Binlog.Meta);
        }

        // The rest is selected AS BINARY. Text and blobs: the bytes after their length prefix, as they are.
        var length = (int)reader.GetBytes(i, 0, null, 0, 0);
        if (plan.Decoder is ValueDecoder.Text or ValueDecoder.JsonText or ValueDecoder.Bytes or ValueDecoder.Geometry)
        {
            var prefix = plan.LengthPrefix;
            if (prefix < 4 && length >= 1 << (8 * prefix))
            {
                throw new FormatException($"a value of {length} bytes is longer than the column's type holds");
            }

            Ensure(_length + prefix + length);
            CellValues.WriteLittleEndian((ulong)length, _row.AsSpan(_length, prefix));
            reader.GetBytes(i, 0, _row, _length + prefix, length);
            return prefix + length;
        }

        // Decimals and temporal values: their text, read past the room their binlog form takes (30 bytes at most), parsed
        // into it.
        const int Room = 32;
        Ensure(_length + Room + length);
        reader.GetBytes(i, 0, _row, _length + Room, length);
        var text = _row.AsSpan(_length + Room, length);
        var cell = _row.AsSpan(_length, Room);
        return plan.Decoder switch
        {
            ValueDecoder.Decimal => BinaryDecimal.Encode(text, plan.Precision, plan.Scale, cell),
            ValueDecoder.Date => CellValues.WriteDate(text, cell),
            ValueDecoder.Time2 => CellValues.WriteTime2(text, plan.Binlog.Meta, cell),
            ValueDecoder.DateTime2 => CellValues.WriteDateTime2(text, plan.Binlog.Meta, cell),
            ValueDecoder.Timestamp2 => CellValues.WriteTimestamp2(text, plan.Binlog.Meta, cell),
            _ => throw new FormatException($"no SELECT form for {plan.Decoder}"),
        };
    }

    /// <summary>Keeps a key column's value of this row in its selected form.</summary>
    private void KeepKey(int k, MySqlDataReader reader)
    {
        var column = _keys[k];
        var plan = _plans[column];
        var start = _keyTextLength;
        EnsureKeyText(start + 32);
        var destination = _keyText.AsSpan(start);
        int written;
        switch (plan.Decoder)
        {
            case ValueDecoder.SignedInt:
                Utf8Formatter.TryFormat(reader.GetInt64(column), destination, out written);
                break;
            case ValueDecoder.Year:
                // Four digits: '0000' is the zero year, where '0' would be 2000.
                Utf8Formatter.TryFormat(reader.GetInt64(column), destination, out written, new StandardFormat('D', 4));
                break;
            case ValueDecoder.UnsignedInt or ValueDecoder.UnsignedInt64 or ValueDecoder.Boolean or ValueDecoder.Bits or ValueDecoder.Enum or ValueDecoder.Set:
                Utf8Formatter.TryFormat(reader.GetUInt64(column), destination, out written);
                break;
            case ValueDecoder.Float or ValueDecoder.Double:
                // The exact double (a FLOAT widened), in a form that parses back to it.
                written = System.Text.Encoding.ASCII.GetBytes(reader.GetDouble(column).ToString("R", System.Globalization.CultureInfo.InvariantCulture), destination);
                break;
            default:
                var length = (int)reader.GetBytes(column, 0, null, 0, 0);
                EnsureKeyText(start + length);
                written = (int)reader.GetBytes(column, 0, _keyText, start, length);
                break;
        }

        _keyStarts[k] = start;
        _keyLengths[k] = written;
        _keyTextLength = start + written;
    }

    private int WriteInteger(ulong value, int size)
    {
        Ensure(_length + size);
        CellValues.WriteLittleEndian(value, _row.AsSpan(_length, size));
        return size;
    }

    private static int IntegerSize(MySqlColumnType type) => type switch
    {
        MySqlColumnType.Tiny => 1,
        MySqlColumnType.Short => 2,
        MySqlColumnType.Int24 => 3,
        MySqlColumnType.Long => 4,
        _ => 8,
    };

    private void Ensure(int size)
    {
        if (size > _row.Length)
        {
            Array.Resize(ref _row, Math.Max(size, _row.Length * 2));
        }
    }

    private void EnsureKeyText(int size)
    {
        if (size > _keyText.Length)
        {
            Array.Resize(ref _keyText, Math.Max(size, _keyText.Length * 2));
        }
    }
}
