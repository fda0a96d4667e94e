using System.Buffers;
using System.Buffers.Binary;
using System.Globalization;
using System.Net;
using System.Numerics;
using System.Text.Json;
using DataMesh.Avro;
using DataMesh.Connectors.Cassandra.Schema;
using DataMesh.Events;

namespace DataMesh.Connectors.Cassandra;

/// <summary>
/// How CQL types travel in the change events (docs/cassandra.md, "Types"): each CQL type's neutral
/// <see cref="DataType"/>, and its serialized value written as that type's Avro value. Collections, tuples and UDTs (frozen
/// or not) travel as JSON text; <c>time</c> as nanoseconds of the day (a <c>long</c>: Avro's time-micros would round it);
/// <c>duration</c> as ISO-8601 text; <c>varint</c> and <c>decimal</c> as variable-scale decimals.
/// </summary>
internal static class CassandraValueWriter
{
    /// <summary>The neutral type of a CQL type.</summary>
    public static DataType TypeOf(CqlType type) => type.Kind switch
    {
        CqlKind.Ascii or CqlKind.Text => DataType.Of(DataTypeKind.String, type.ToString()),
        CqlKind.Bigint => DataType.Of(DataTypeKind.Int64, "bigint"),
        CqlKind.Int or CqlKind.Smallint or CqlKind.Tinyint => DataType.Of(DataTypeKind.Int32, type.ToString()),
        CqlKind.Varint or CqlKind.Decimal => DataType.Of(DataTypeKind.VariableDecimal, type.ToString()),
        CqlKind.Float => DataType.Of(DataTypeKind.Float32, "float"),
        CqlKind.Double => DataType.Of(DataTypeKind.Float64, "double"),
        CqlKind.Boolean => DataType.Of(DataTypeKind.Boolean, "boolean"),
        CqlKind.Blob => DataType.Of(DataTypeKind.Bytes, "blob"),
        CqlKind.Uuid or CqlKind.Timeuuid => DataType.Of(DataTypeKind.Uuid, type.ToString()),
        CqlKind.Timestamp => DataType.Of(DataTypeKind.Timestamp, "timestamp"),
        CqlKind.Date => DataType.Of(DataTypeKind.Date, "date"),
        CqlKind.Time => DataType.Of(DataTypeKind.Int64, "time"),
        CqlKind.Duration => DataType.Of(DataTypeKind.Interval, "duration"),
        CqlKind.Inet => DataType.Of(DataTypeKind.Text, "inet"),
        _ => DataType.Of(DataTypeKind.Json, type.ToString()),
    };

    /// <summary>Writes a simple column's (or a frozen value's) bytes as the Avro value of <see cref="TypeOf"/>.</summary>
    /// <exception cref="FormatException">Bytes that are not a value of the type.</exception>
    public static void Write(ref AvroWriter writer, CqlType type, ReadOnlySpan<byte> value, DecimalHandling decimals, ArrayBufferWriter<byte> scratch)
    {
        switch (type.Kind)
        {
            case CqlKind.Ascii or CqlKind.Text:
                writer.WriteStringUtf8(value);
                break;
            case CqlKind.Bigint:
                writer.WriteLong(BinaryPrimitives.ReadInt64BigEndian(Fixed(value, 8, type)));
                break;
            case CqlKind.Int:
                writer.WriteInt(BinaryPrimitives.ReadInt32BigEndian(Fixed(value, 4, type)));
                break;
            case CqlKind.Smallint:
                writer.WriteInt(BinaryPrimitives.ReadInt16BigEndian(Fixed(value, 2, type)));
                break;
            case CqlKind.Tinyint:
                writer.WriteInt((sbyte)Fixed(value, 1, type)[0]);
                break;
            case CqlKind.Varint or CqlKind.Decimal:
                var scale = 0;
                var unscaled = value;
                if (type.Kind == CqlKind.Decimal)
                {
                    var parsed = CqlValues.ReadDecimal(value);
                    scale = parsed.Scale;
                    unscaled = value[4..];
                    if (decimals == DecimalHandling.String)
                    {
                        writer.WriteString(parsed.ToString());
                        break;
                    }
                }
                else if (value.IsEmpty)
                {
                    throw new FormatException("an empty varint");
                }
                else if (decimals == DecimalHandling.String)
                {
                    writer.WriteString(new BigInteger(value, isUnsigned: false, isBigEndian: true).ToString(CultureInfo.InvariantCulture));
                    break;
                }

                writer.WriteInt(scale);
                writer.WriteTwosComplement(unscaled);
                break;
            case CqlKind.Float:
                writer.WriteFloat(BinaryPrimitives.ReadSingleBigEndian(Fixed(value, 4, type)));
                break;
            case CqlKind.Double:
                writer.WriteDouble(BinaryPrimitives.ReadDoubleBigEndian(Fixed(value, 8, type)));
                break;
            case CqlKind.Boolean:
                writer.WriteBoolean(Fixed(value, 1, type)[0] != 0);
                break;
            case CqlKind.Blob:
                writer.WriteBytes(value);
                break;
            case CqlKind.Uuid or CqlKind.Timeuuid:
                writer.WriteUuid(CqlValues.ReadUuid(value));
                break;
            case CqlKind.Timestamp:
                var milliseconds = CqlValues.ReadTimestamp(value);
                writer.WriteTimestampMicros(milliseconds is > long.MaxValue / 1000 or < long.MinValue / 1000
                    ? throw new FormatException($"timestamp {milliseconds} ms does not fit in microseconds")
                    : milliseconds * 1000);
                break;
            case CqlKind.Date:
                writer.WriteInt(CqlValues.ReadDate(value));
                break;
            case CqlKind.Time:
                writer.WriteLong(CqlValues.ReadTime(value));
                break;
            case CqlKind.Duration:
                writer.WriteString(Iso(CqlValues.ReadDuration(value)));
                break;
            case CqlKind.Inet:
                writer.WriteString(value.Length is 4 or 16 ? new IPAddress(value).ToString() : throw new FormatException($"an inet of {value.Length} bytes (4 or 16 expected)"));
                break;
            default:
                scratch.ResetWrittenCount();
                using (var json = new Utf8JsonWriter(scratch))
                {
                    WriteJson(json, type, value);
                }

                writer.WriteStringUtf8(scratch.WrittenSpan);
                break;
        }
    }

    /// <summary>Writes a value as JSON: numbers as numbers (NaN and infinities as strings), text, blobs as base64, UUIDs,
    /// timestamps (ISO-8601, UTC), dates, times and durations as text (timestamps and dates outside years 1-9999 as their
    /// milliseconds or days since 1970-01-01), lists, sets and tuples as arrays, maps and UDTs as
    /// objects (map keys as their text).</summary>
    public static void WriteJson(Utf8JsonWriter json, CqlType type, ReadOnlySpan<byte> value)
    {
        if (IsEmptyNull(type, value))
        {
            json.WriteNullValue();
            return;
        }

        switch (type.Kind)
        {
            case CqlKind.List or CqlKind.Set:
            {
                var count = Count(ref value);
                json.WriteStartArray();
                for (var i = 0; i < count; i++)
                {
                    WriteElement(json, type.Parameters[0], ref value);
                }

                json.WriteEndArray();
                End(value);
                return;
            }

            case CqlKind.Map:
            {
                var count = Count(ref value);
                json.WriteStartObject();
                for (var i = 0; i < count; i++)
                {
                    var key = Element(ref value);
                    json.WritePropertyName(key.IsNull ? "null" : KeyText(type.Parameters[0], key.Bytes));
                    WriteElement(json, type.Parameters[1], ref value);
                }

                json.WriteEndObject();
                End(value);
                return;
            }

            case CqlKind.Tuple or CqlKind.Udt:
            {
                if (type.Kind == CqlKind.Tuple)
                {
                    json.WriteStartArray();
                }
                else
                {
                    json.WriteStartObject();
                }

                for (var i = 0; i < type.Parameters.Count; i++)
                {
                    if (type.Kind == CqlKind.Udt)
                    {
                        json.WritePropertyName(type.FieldNames[i]);
                    }

                    if (value.IsEmpty)
                    {
                        json.WriteNullValue(); // a field added after the value was written
                        continue;
                    }

                    WriteElement(json, type.Parameters[i], ref value);
                }

                if (type.Kind == CqlKind.Tuple)
                {
                    json.WriteEndArray();
                }
                else
                {
                    json.WriteEndObject();
                }

                End(value);
                return;
            }

            default:
                WriteScalar(json, type, value);
                return;
        }
    }

    /// <summary>A map key as JSON object key text: the text of the key's JSON value (a string's content, a number's or a
    /// boolean's JSON text, a frozen collection's JSON), so a key reads as the same value does anywhere else.</summary>
    public static string KeyText(CqlType type, ReadOnlySpan<byte> value)
    {
        var text = JsonText(type, value);
        return text.StartsWith('"') ? System.Text.Json.JsonSerializer.Deserialize<string>(text)! : text;
    }

    /// <summary>A value's JSON text.</summary>
    public static string JsonText(CqlType type, ReadOnlySpan<byte> value)
    {
        var buffer = new ArrayBufferWriter<byte>();
        using (var json = new Utf8JsonWriter(buffer))
        {
            WriteJson(json, type, value);
        }

        return System.Text.Encoding.UTF8.GetString(buffer.WrittenSpan);
    }

    /// <summary>ISO-8601 text of a duration: <c>P14M3DT0.000000005S</c>, with a leading <c>-</c> when negative (CQL
    /// durations have one sign for all three parts; should they differ, each part carries its own).</summary>
    public static string Iso(CqlDuration duration)
    {
        var negative = duration.Months <= 0 && duration.Days <= 0 && duration.Nanoseconds <= 0;
        var sign = negative && (duration.Months < 0 || duration.Days < 0 || duration.Nanoseconds < 0) ? "-" : string.Empty;
        var months = negative ? -(long)duration.Months : duration.Months;
        var days = negative ? -(long)duration.Days : duration.Days;
        var nanos = negative ? -(BigInteger)duration.Nanoseconds : duration.Nanoseconds;
        var seconds = BigInteger.DivRem(BigInteger.Abs(nanos), 1_000_000_000, out var fraction);
        var secondsSign = nanos.Sign < 0 ? "-" : string.Empty;
        return string.Create(CultureInfo.InvariantCulture, $"{sign}P{months}M{days}DT{secondsSign}{seconds}.{fraction:D9}S");
    }

    private static void WriteScalar(Utf8JsonWriter json, CqlType type, ReadOnlySpan<byte> value)
    {
        switch (type.Kind)
        {
            case CqlKind.Varint:
                json.WriteRawValue(new BigInteger(value, isUnsigned: false, isBigEndian: true).ToString(CultureInfo.InvariantCulture));
                return;
            case CqlKind.Decimal:
                json.WriteRawValue(CqlValues.ReadDecimal(value).ToString());
                return;
            case CqlKind.Duration:
                json.WriteStringValue(Iso(CqlValues.ReadDuration(value)));
                return;
            case CqlKind.Timestamp or CqlKind.Date when !CqlValues.IsInCalendarRange(type, value):
                // Cassandra takes any 64-bit milliseconds (any 32-bit day): outside years 1-9999, the number itself.
                json.WriteNumberValue(type.Kind == CqlKind.Timestamp ? CqlValues.ReadTimestamp(value) : CqlValues.ReadDate(value));
                return;
            case CqlKind.Time:
                var nanos = CqlValues.ReadTime(value);
                json.WriteStringValue(string.Create(CultureInfo.InvariantCulture, $"{nanos / 3_600_000_000_000:D2}:{nanos / 60_000_000_000 % 60:D2}:{nanos / 1_000_000_000 % 60:D2}.{nanos % 1_000_000_000:D9}"));
                return;
        }

        switch (CqlValues.ToObject(type, value))
        {
            case string s: json.WriteStringValue(s); break;
            case byte[] b: json.WriteBase64StringValue(b); break;
            case bool b: json.WriteBooleanValue(b); break;
            case long l: json.WriteNumberValue(l); break;
            case int i: json.WriteNumberValue(i); break;
            case short s: json.WriteNumberValue(s); break;
            case sbyte s: json.WriteNumberValue(s); break;
            case float f when float.IsFinite(f): json.WriteNumberValue(f); break;
            case double d when double.IsFinite(d): json.WriteNumberValue(d); break;
            case float f: json.WriteStringValue(f.ToString(CultureInfo.InvariantCulture)); break;
            case double d: json.WriteStringValue(d.ToString(CultureInfo.InvariantCulture)); break;
            case Guid g: json.WriteStringValue(g); break;
            case DateTimeOffset t: json.WriteStringValue(t.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z'", CultureInfo.InvariantCulture)); break;
            case DateOnly d: json.WriteStringValue(d.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture)); break;
            case var other: json.WriteStringValue(other?.ToString()); break;
        }
    }

    private static void WriteElement(Utf8JsonWriter json, CqlType type, ref ReadOnlySpan<byte> value)
    {
        var element = Element(ref value);
        if (element.IsNull)
        {
            json.WriteNullValue();
        }
        else
        {
            WriteJson(json, type, element.Bytes);
        }
    }

    private readonly ref struct ElementBytes(ReadOnlySpan<byte> bytes, bool isNull)
    {
        public ReadOnlySpan<byte> Bytes { get; } = bytes;

        public bool IsNull { get; } = isNull;
    }

    private static ElementBytes Element(ref ReadOnlySpan<byte> value)
    {
        if (value.Length < 4)
        {
            throw new FormatException("an element without its int32 length");
        }

        var length = BinaryPrimitives.ReadInt32BigEndian(value);
        value = value[4..];
        if (length < 0)
        {
            return new ElementBytes(default, isNull: true);
        }

        if (length > value.Length)
        {
            throw new FormatException($"an element of {length} bytes, {value.Length} left");
        }

        var bytes = value[..length];
        value = value[length..];
        return new ElementBytes(bytes, isNull: false);
    }

    private static int Count(ref ReadOnlySpan<byte> value)
    {
        if (value.Length < 4)
        {
            throw new FormatException("a collection without its int32 element count");
        }

        var count = BinaryPrimitives.ReadInt32BigEndian(value);
        value = value[4..];
        return count < 0 || count > value.Length / 4 ? throw new FormatException($"a collection of {count} elements cannot fit in {value.Length} bytes") : count;
    }

    private static void End(ReadOnlySpan<byte> rest)
    {
        if (!rest.IsEmpty)
        {
            throw new FormatException($"{rest.Length} bytes follow the last element");
        }
    }

    /// <summary>Whether a value is empty and its type has no empty value of its own: Cassandra accepts an empty value of
    /// every type (<c>blobAsInt(0x)</c>), which CQL drivers read as null, and so do we (docs/cassandra.md).</summary>
    public static bool IsEmptyNull(CqlType type, ReadOnlySpan<byte> value) =>
        value.IsEmpty && type.Kind is not (CqlKind.Ascii or CqlKind.Text or CqlKind.Blob);

    private static ReadOnlySpan<byte> Fixed(ReadOnlySpan<byte> value, int length, CqlType type) =>
        value.Length == length ? value
        : value.IsEmpty ? throw new FormatException($"an empty {type} value (Cassandra allows one, e.g. blobAs{type}(0x)), which a key column cannot carry: a key has no null of its own")
        : throw new FormatException($"a {type} has {length} bytes, not {value.Length}");
}
