using System.Buffers;
using System.Buffers.Binary;
using System.Buffers.Text;
using System.Globalization;

namespace DataMesh.Connectors.MySql.Binlog;

/// <summary>
/// MySQL's binary JSON (the storage format of the <c>JSON</c> type, as the binlog carries it) turned into JSON text
/// the way MySQL prints it: <c>{"a": 1, "b": [true, null]}</c>. Opaque values (DECIMAL, DATE, TIME, DATETIME) print
/// as MySQL does; other opaque values as <c>"base64:typeN:..."</c>. MariaDB's JSON is text and never passes here.
/// </summary>
internal static class MySqlJsonBinary
{
    private const byte SmallObject = 0x00;
    private const byte LargeObject = 0x01;
    private const byte SmallArray = 0x02;
    private const byte LargeArray = 0x03;
    private const byte Literal = 0x04;
    private const byte Int16 = 0x05;
    private const byte UInt16 = 0x06;
    private const byte Int32 = 0x07;
    private const byte UInt32 = 0x08;
    private const byte Int64 = 0x09;
    private const byte UInt64 = 0x0A;
    private const byte Double = 0x0B;
    private const byte String = 0x0C;
    private const byte Opaque = 0x0F;
    private const int MaxDepth = 100;

    /// <summary>Writes the JSON text of a binary JSON document.</summary>
    /// <exception cref="FormatException">The bytes are not binary JSON.</exception>
    public static void ToText(ReadOnlySpan<byte> document, IBufferWriter<byte> output)
    {
        if (document.IsEmpty)
        {
            Write(output, "null"u8);
            return;
        }

        WriteValue(document[0], document[1..], 0, output, 0);
    }

    /// <summary>The JSON text of a binary JSON document (the object path).</summary>
    public static string ToText(ReadOnlySpan<byte> document)
    {
        var buffer = new ArrayBufferWriter<byte>(Math.Max(16, document.Length * 2));
        ToText(document, buffer);
        return System.Text.Encoding.UTF8.GetString(buffer.WrittenSpan);
    }

    private static void WriteValue(byte type, ReadOnlySpan<byte> data, int offset, IBufferWriter<byte> output, int depth)
    {
        if (depth > MaxDepth)
        {
            throw new FormatException($"binary JSON nests deeper than {MaxDepth} levels");
        }

        switch (type)
        {
            case SmallObject or LargeObject:
                WriteContainer(data[Check(data, offset, 0)..], type == LargeObject, isObject: true, output, depth);
                break;
            case SmallArray or LargeArray:
                WriteContainer(data[Check(data, offset, 0)..], type == LargeArray, isObject: false, output, depth);
                break;
            case Literal:
                var literal = data[Check(data, offset, 1)];
                Write(output, literal switch
                {
                    0 => "null"u8,
                    1 => "true"u8,
                    2 => "false"u8,
                    _ => throw new FormatException($"binary JSON literal {literal} is not null, true or false"),
                });
                break;
            case Int16: WriteNumber(output, BinaryPrimitives.ReadInt16LittleEndian(data[Check(data, offset, 2)..])); break;
            case UInt16: WriteNumber(output, BinaryPrimitives.ReadUInt16LittleEndian(data[Check(data, offset, 2)..])); break;
            case Int32: WriteNumber(output, BinaryPrimitives.ReadInt32LittleEndian(data[Check(data, offset, 4)..])); break;
            case UInt32: WriteNumber(output, BinaryPrimitives.ReadUInt32LittleEndian(data[Check(data, offset, 4)..])); break;
            case Int64: WriteNumber(output, BinaryPrimitives.ReadInt64LittleEndian(data[Check(data, offset, 8)..])); break;
            case UInt64:
                var u = BinaryPrimitives.ReadUInt64LittleEndian(data[Check(data, offset, 8)..]);
                var span = output.GetSpan(20);
                Utf8Formatter.TryFormat(u, span, out var written);
                output.Advance(written);
                break;
            case Double:
                var d = BinaryPrimitives.ReadDoubleLittleEndian(data[Check(data, offset, 8)..]);
                WriteAscii(output, FormatDouble(d));
                break;
            case String:
                var text = ReadVariable(data, Check(data, offset, 1), out var start);
                Check(data, start, text);
                WriteQuoted(output, data.Slice(start, text));
                break;
            case Opaque:
                WriteOpaque(data, Check(data, offset, 1), output);
                break;
            default:
                throw new FormatException($"binary JSON value type 0x{type:X2} is not known");
        }
    }

    private static void WriteContainer(ReadOnlySpan<byte> data, bool large, bool isObject, IBufferWriter<byte> output, int depth)
    {
        var width = large ? 4 : 2;
        Check(data, 0, 2 * width);
        var count = ReadOffset(data, 0, large);
        var size = ReadOffset(data, width, large);
        if (size > data.Length || count > size)
        {
            throw new FormatException($"binary JSON container of {size} bytes and {count} elements does not fit {data.Length} bytes");
        }

        data = data[..size];
        var keyEntries = 2 * width;
        var valueEntries = keyEntries + (isObject ? count * (width + 2) : 0);
        var valueEntrySize = 1 + width;
        Check(data, valueEntries, count * valueEntrySize);
        Write(output, isObject ? "{"u8 : "["u8);
        for (var i = 0; i < count; i++)
        {
            if (i > 0)
            {
                Write(output, ", "u8);
            }

            if (isObject)
            {
                var keyEntry = keyEntries + (i * (width + 2));
                var keyOffset = ReadOffset(data, keyEntry, large);
                var keyLength = BinaryPrimitives.ReadUInt16LittleEndian(data[(keyEntry + width)..]);
                Check(data, keyOffset, keyLength);
                WriteQuoted(output, data.Slice(keyOffset, keyLength));
                Write(output, ": "u8);
            }

            var entry = valueEntries + (i * valueEntrySize);
            var type = data[entry];
            var inlined = type is Literal or Int16 or UInt16 || (large && type is Int32 or UInt32);
            if (inlined)
            {
                WriteValue(type, data, entry + 1, output, depth + 1);
            }
            else
            {
                WriteValue(type, data, ReadOffset(data, entry + 1, large), output, depth + 1);
            }
        }

        Write(output, isObject ? "}"u8 : "]"u8);
    }

    private static void WriteOpaque(ReadOnlySpan<byte> data, int offset, IBufferWriter<byte> output)
    {
        var fieldType = (MySqlColumnType)data[offset];
        var length = ReadVariable(data, offset + 1, out var start);
        Check(data, start, length);
        var value = data.Slice(start, length);
        switch (fieldType)
        {
            case MySqlColumnType.NewDecimal when value.Length >= 2:
                var precision = value[0];
                var scale = value[1];
                if (precision is < 1 or > 65 || scale > precision || BinaryDecimal.Size(precision, scale) > value.Length - 2)
                {
                    throw new FormatException($"binary JSON decimal({precision},{scale}) does not fit its {value.Length} bytes");
                }

                WriteAscii(output, BinaryDecimal.FormatText(BinaryDecimal.DecodeBig(value[2..], precision, scale), scale));
                break;
            case MySqlColumnType.Date or MySqlColumnType.DateTime or MySqlColumnType.Timestamp or MySqlColumnType.Time when value.Length >= 8:
                var packed = BinaryPrimitives.ReadInt64LittleEndian(value);
                WriteAscii(output, "\"" + FormatPackedTemporal(fieldType, packed) + "\"");
                break;
            default:
                WriteAscii(output, string.Create(CultureInfo.InvariantCulture, $"\"base64:type{(byte)fieldType}:{Convert.ToBase64String(value)}\""));
                break;
        }
    }

    /// <summary>MySQL's packed temporal value (<c>TIME_to_longlong_packed</c>) as text.</summary>
    private static string FormatPackedTemporal(MySqlColumnType type, long packed)
    {
        var negative = packed < 0;
        var magnitude = negative ? -packed : packed;
        var fraction = magnitude % (1L << 24);
        var intPart = magnitude >> 24;
        if (type == MySqlColumnType.Time)
        {
            var hour = (intPart >> 12) % (1 << 10);
            var minute = (intPart >> 6) % (1 << 6);
            var second = intPart % (1 << 6);
            return string.Create(CultureInfo.InvariantCulture, $"{(negative ? "-" : string.Empty)}{hour:00}:{minute:00}:{second:00}.{fraction:000000}");
        }

        var ymd = intPart >> 17;
        var ym = ymd >> 5;
        var hms = intPart % (1 << 17);
        var date = string.Create(CultureInfo.InvariantCulture, $"{ym / 13:0000}-{ym % 13:00}-{ymd % (1 << 5):00}");
        return type == MySqlColumnType.Date
            ? date
            : string.Create(CultureInfo.InvariantCulture, $"{date} {hms >> 12:00}:{(hms >> 6) % (1 << 6):00}:{hms % (1 << 6):00}.{fraction:000000}");
    }

    private static string FormatDouble(double value)
    {
        var text = value.ToString("R", CultureInfo.InvariantCulture);
        return text.Replace("E+", "e", StringComparison.Ordinal).Replace("E-", "e-", StringComparison.Ordinal);
    }

    private static int ReadOffset(ReadOnlySpan<byte> data, int at, bool large)
    {
        Check(data, at, large ? 4 : 2);
        var value = large ? BinaryPrimitives.ReadUInt32LittleEndian(data[at..]) : BinaryPrimitives.ReadUInt16LittleEndian(data[at..]);
        return value > int.MaxValue ? throw new FormatException($"binary JSON offset {value} is too large") : (int)value;
    }

    private static int ReadVariable(ReadOnlySpan<byte> data, int at, out int end)
    {
        var value = 0;
        for (var i = 0; i < 5; i++)
        {
            Check(data, at + i, 1);
            var b = data[at + i];
            value |= (b & 0x7F) << (7 * i);
            if ((b & 0x80) == 0)
            {
                end = at + i + 1;
                return value < 0 ? throw new FormatException("binary JSON length is negative") : value;
            }
        }

        throw new FormatException("binary JSON variable-length integer is longer than 5 bytes");
    }

    private static int Check(ReadOnlySpan<byte> data, int offset, int length)
    {
        if (offset < 0 || length < 0 || offset > data.Length - length)
        {
            throw new FormatException($"binary JSON reads {length} bytes at offset {offset} of {data.Length}");
        }

        return offset;
    }

    private static void WriteNumber(IBufferWriter<byte> output, long value)
    {
        var span = output.GetSpan(20);
        Utf8Formatter.TryFormat(value, span, out var written);
        output.Advance(written);
    }

    private static void Write(IBufferWriter<byte> output, ReadOnlySpan<byte> bytes)
    {
        var span = output.GetSpan(bytes.Length);
        bytes.CopyTo(span);
        output.Advance(bytes.Length);
    }

    private static void WriteAscii(IBufferWriter<byte> output, string text)
    {
        var span = output.GetSpan(text.Length);
        for (var i = 0; i < text.Length; i++)
        {
            span[i] = (byte)text[i];
        }

        output.Advance(text.Length);
    }

    private static void WriteQuoted(IBufferWriter<byte> output, ReadOnlySpan<byte> utf8)
    {
        if (!System.Text.Unicode.Utf8.IsValid(utf8))
        {
            throw new FormatException("a binary JSON string is not valid UTF-8");
        }

        var span = output.GetSpan((utf8.Length * 6) + 2);
        var at = 0;
        span[at++] = (byte)'"';
        foreach (var b in utf8)
        {
            switch (b)
            {
                case (byte)'"': span[at++] = (byte)'\\'; span[at++] = (byte)'"'; break;
                case (byte)'\\': span[at++] = (byte)'\\'; span[at++] = (byte)'\\'; break;
                case (byte)'\n': span[at++] = (byte)'\\'; span[at++] = (byte)'n'; break;
                case (byte)'\r': span[at++] = (byte)'\\'; span[at++] = (byte)'r'; break;
                case (byte)'\t': span[at++] = (byte)'\\'; span[at++] = (byte)'t'; break;
                case (byte)'\b': span[at++] = (byte)'\\'; span[at++] = (byte)'b'; break;
                case (byte)'\f': span[at++] = (byte)'\\'; span[at++] = (byte)'f'; break;
                case < 0x20:
                    "\\u00"u8.CopyTo(span[at..]);
                    at += 4;
                    span[at++] = (byte)"0123456789abcdef"[b >> 4];
                    span[at++] = (byte)"0123456789abcdef"[b & 15];
                    break;
                default: span[at++] = b; break;
            }
        }

        span[at++] = (byte)'"';
        output.Advance(at);
    }
}
