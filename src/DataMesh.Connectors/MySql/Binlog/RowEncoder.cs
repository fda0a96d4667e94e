using System.Buffers;
using System.Buffers.Binary;
using System.Text.Unicode;
using DataMesh.Avro;
using DataMesh.Events;

namespace DataMesh.Connectors.MySql.Binlog;

/// <summary>
/// Writes the Avro row record (the <c>before</c> or <c>after</c> of an envelope) straight from a row image's
/// binlog bytes: no value object per column, no allocation per row in steady state (decimals of more than 38
/// digits and the multi-byte charsets ucs2/utf16/utf32 excepted). The bytes are those
/// <see cref="ChangeEventEncoder"/> writes for the same values.
/// </summary>
internal sealed class RowEncoder
{
    private readonly ArrayBufferWriter<byte> _scratch = new(256);
    private readonly bool _decimalsAsText;

    public RowEncoder(DecimalHandling decimals) => _decimalsAsText = decimals == DecimalHandling.String;

    /// <summary>Writes one column's value (no union branch) from a row image; the runtime has checked it is present and not NULL.</summary>
    /// <exception cref="FormatException">A value that is not valid for its column.</exception>
    public void WriteValue(ref AvroWriter writer, ReadOnlySpan<byte> rows, RowImage image, ColumnPlan plan, int index) =>
        WriteCell(ref writer, image.Cell(rows, index), plan);

    /// <summary>Writes the row record's fields for every column.</summary>
    /// <exception cref="BinlogFormatException">A value that is not valid for its column.</exception>
    public void WriteRow(ref AvroWriter writer, ReadOnlySpan<byte> rows, RowImage image, ColumnPlan[] columns)
    {
        for (var i = 0; i < columns.Length; i++)
        {
            WriteColumn(ref writer, rows, image, columns[i], i);
        }
    }

    /// <summary>Writes some columns (a key record) in the given order.</summary>
    public void WriteColumns(ref AvroWriter writer, ReadOnlySpan<byte> rows, RowImage image, ColumnPlan[] columns, IReadOnlyList<int> indexes)
    {
        for (var i = 0; i < indexes.Count; i++)
        {
            WriteColumn(ref writer, rows, image, columns[indexes[i]], indexes[i]);
        }
    }

    private void WriteColumn(ref AvroWriter writer, ReadOnlySpan<byte> rows, RowImage image, ColumnPlan plan, int index)
    {
        switch (image.State(index))
        {
            case CellState.Null:
                if (!plan.Nullable)
                {
                    throw new FormatException($"column '{plan.Name}' is NULL but NOT NULL in the tracked schema");
                }

                writer.WriteUnionIndex(0);
                return;
            case CellState.Missing:
                // Not in the image: null where the schema allows it, else the type's zero; the envelope's source block names it.
                if (plan.Nullable)
                {
                    writer.WriteUnionIndex(0);
                }
                else
                {
                    WritePlaceholder(ref writer, plan);
                }

                return;
        }

        if (plan.Nullable)
        {
            writer.WriteUnionIndex(1);
        }

        var cell = image.Cell(rows, index);
        try
        {
            WriteCell(ref writer, cell, plan);
        }
        catch (FormatException ex)
        {
            throw new FormatException($"column '{plan.Name}': {ex.Message}", ex);
        }
    }

    /// <summary>Writes one value (no union branch) from its cell in the binlog's form.</summary>
    /// <exception cref="FormatException">A value that is not valid for its column.</exception>
    public void WriteCell(ref AvroWriter writer, ReadOnlySpan<byte> cell, ColumnPlan plan)
    {
        var type = plan.Binlog.Type;
        switch (plan.Decoder)
        {
            case ValueDecoder.SignedInt:
                var signed = CellValues.ReadSigned(cell, type);
                if (plan.Kind == DataTypeKind.Int64)
                {
                    writer.WriteLong(signed);
                }
                else
                {
                    writer.WriteInt((int)signed);
                }

                break;
            case ValueDecoder.UnsignedInt:
                var unsigned = CellValues.ReadUnsigned(cell, type);
                if (plan.Kind == DataTypeKind.Int64)
                {
                    writer.WriteLong((long)unsigned);
                }
                else
                {
                    writer.WriteInt((int)unsigned);
                }

                break;
            case ValueDecoder.UnsignedInt64:
                WriteUnsigned64(ref writer, CellValues.ReadUnsigned(cell, type));
                break;
            case ValueDecoder.Float: writer.WriteFloat(BinaryPrimitives.ReadSingleLittleEndian(cell)); break;
            case ValueDecoder.Double: writer.WriteDouble(BinaryPrimitives.ReadDoubleLittleEndian(cell)); break;
            case ValueDecoder.Decimal: WriteDecimal(ref writer, cell, plan); break;
            case ValueDecoder.Boolean: writer.WriteBoolean((CellValues.ReadBits(cell) & 1) != 0); break;
            case ValueDecoder.Bits:
                Span<byte> bits = stackalloc byte[64];
                CellValues.FormatBits(CellValues.ReadBits(cell), plan.BitLength, bits);
                writer.WriteStringUtf8(bits[..plan.BitLength]);
                break;
            case ValueDecoder.Year: writer.WriteInt(CellValues.ReadYear(cell)); break;
            case ValueDecoder.Date: writer.WriteInt(CellValues.ReadDate(cell)); break;
            case ValueDecoder.Time: writer.WriteLong(CellValues.ReadTime(cell)); break;
            case ValueDecoder.Time2: writer.WriteLong(CellValues.ReadTime2(cell, plan.Binlog.Meta)); break;
            case ValueDecoder.DateTime: writer.WriteLong(CellValues.ReadDateTime(cell)); break;
            case ValueDecoder.DateTime2: writer.WriteLong(CellValues.ReadDateTime2(cell, plan.Binlog.Meta)); break;
            case ValueDecoder.Timestamp: writer.WriteLong(CellValues.ReadTimestamp(cell)); break;
            case ValueDecoder.Timestamp2: writer.WriteLong(CellValues.ReadTimestamp2(cell, plan.Binlog.Meta)); break;
            case ValueDecoder.Text: WriteText(ref writer, CellValues.Payload(cell, plan.LengthPrefix), plan.Charset); break;
            case ValueDecoder.JsonText:
                WriteText(ref writer, CellValues.Payload(cell, plan.LengthPrefix), plan.Charset == MySqlCharset.Binary ? MySqlCharset.Utf8 : plan.Charset);
                break;
            case ValueDecoder.Bytes when plan.BinaryText != BinaryText.None:
                Span<byte> text = stackalloc byte[CellValues.BinaryTextMaxLength];
                writer.WriteStringUtf8(text[..CellValues.FormatBinaryText(CellValues.Payload(cell, plan.LengthPrefix), plan.BinaryText, text)]);
                break;
            case ValueDecoder.Bytes:
                var bytes = CellValues.Payload(cell, plan.LengthPrefix);
                if (bytes.Length < plan.BinaryLength)
                {
                    WriteBinary(ref writer, bytes, plan.BinaryLength);
                }
                else
                {
                    writer.WriteBytes(bytes);
                }

                break;
            case ValueDecoder.JsonBinary:
                _scratch.ResetWrittenCount();
                MySqlJsonBinary.ToText(CellValues.Payload(cell, plan.LengthPrefix), _scratch);
                writer.WriteStringUtf8(_scratch.WrittenSpan);
                break;
            case ValueDecoder.Enum:
                var index = CellValues.ReadEnumIndex(cell);
                writer.WriteStringUtf8(index == 0 ? [] : CellValues.Label(plan, index - 1));
                break;
            case ValueDecoder.Set:
                WriteSet(ref writer, CellValues.ReadSetBits(cell), plan);
                break;
            case ValueDecoder.Geometry:
                var geometry = CellValues.Payload(cell, plan.LengthPrefix);
                if (geometry.Length < 4)
                {
                    throw new FormatException($"a geometry of {geometry.Length} bytes has no SRID");
                }

                writer.WriteBytes(geometry[4..]);
                writer.WriteUnionIndex(1);
                writer.WriteInt(BinaryPrimitives.ReadInt32LittleEndian(geometry));
                break;
            default:
                throw new FormatException($"no decoder for {plan.Decoder}");
        }
    }

    private void WriteDecimal(ref AvroWriter writer, ReadOnlySpan<byte> cell, ColumnPlan plan)
    {
        if (plan.Precision <= 38)
        {
            if (!BinaryDecimal.TryDecode(cell, plan.Precision, plan.Scale, out var unscaled))
            {
                throw new FormatException("a DECIMAL digit group holds more digits than its size allows");
            }

            if (_decimalsAsText)
            {
                Span<char> text = stackalloc char[48];
                writer.WriteString(text[..BinaryDecimal.FormatText(unscaled, plan.Scale, text)]);
                return;
            }

            Span<byte> bytes = stackalloc byte[16];
            BinaryPrimitives.WriteInt128BigEndian(bytes, unscaled);
            writer.WriteTwosComplement(bytes);
            return;
        }

        var big = BinaryDecimal.DecodeBig(cell, plan.Precision, plan.Scale);
        if (_decimalsAsText)
        {
            writer.WriteString(BinaryDecimal.FormatText(big, plan.Scale));
        }
        else
        {
            writer.WriteDecimal(big, plan.Precision);
        }
    }

    /// <summary>A BINARY(n) value that the binlog shortened, with its trailing zero bytes back (n is at most 255).</summary>
    private static void WriteBinary(ref AvroWriter writer, ReadOnlySpan<byte> bytes, int length)
    {
        Span<byte> scratch = stackalloc byte[length];
        writer.WriteBytes(CellValues.PadBinary(bytes, length, scratch));
    }

    private static void WriteUnsigned64(ref AvroWriter writer, ulong value)
    {
        Span<byte> bytes = stackalloc byte[9];
        bytes[0] = 0;
        BinaryPrimitives.WriteUInt64BigEndian(bytes[1..], value);
        writer.WriteTwosComplement(bytes);
    }

    private void WriteText(ref AvroWriter writer, ReadOnlySpan<byte> payload, MySqlCharset charset)
    {
        if (charset == MySqlCharset.Utf8)
        {
            if (!Utf8.IsValid(payload))
            {
                throw new FormatException("a utf8 column holds bytes that are not valid UTF-8");
            }

            writer.WriteStringUtf8(payload);
            return;
        }

        var length = MySqlCharsets.MaxUtf8Length(charset, payload.Length);
        _scratch.ResetWrittenCount();
        var span = _scratch.GetSpan(length);
        var written = MySqlCharsets.ToUtf8(charset, payload, span);
        writer.WriteStringUtf8(span[..written]);
    }

    private void WriteSet(ref AvroWriter writer, ulong members, ColumnPlan plan)
    {
        _scratch.ResetWrittenCount();
        var first = true;
        for (var i = 0; i < 64 && members >> i != 0; i++)
        {
            if (((members >> i) & 1) == 0)
            {
                continue;
            }

            var label = CellValues.Label(plan, i);
            var span = _scratch.GetSpan(label.Length + 1);
            var at = 0;
            if (!first)
            {
                span[at++] = (byte)',';
            }

            label.CopyTo(span[at..]);
            _scratch.Advance(at + label.Length);
            first = false;
        }

        writer.WriteStringUtf8(_scratch.WrittenSpan);
    }

    private void WritePlaceholder(ref AvroWriter writer, ColumnPlan plan)
    {
        switch (plan.Kind)
        {
            case DataTypeKind.Boolean: writer.WriteBoolean(false); break;
            case DataTypeKind.Int32 or DataTypeKind.Date: writer.WriteInt(0); break;
            case DataTypeKind.Int64 or DataTypeKind.DurationMicros or DataTypeKind.LocalTimestamp or DataTypeKind.Timestamp: writer.WriteLong(0); break;
            case DataTypeKind.Float32: writer.WriteFloat(0); break;
            case DataTypeKind.Float64: writer.WriteDouble(0); break;
            case DataTypeKind.UInt64: writer.WriteBytes([0]); break;
            case DataTypeKind.Decimal when _decimalsAsText: writer.WriteStringUtf8("0"u8); break;
            case DataTypeKind.Decimal: writer.WriteBytes([0]); break;
            case DataTypeKind.Geometry:
                writer.WriteBytes([]);
                writer.WriteUnionIndex(0);
                break;
            default:
                // strings, bytes, text, JSON and decimals as text: empty.
                writer.WriteBytes([]);
                break;
        }
    }
}
