using System.Buffers.Binary;
using System.Text;

namespace DataMesh.Connectors.Cassandra.Native;

/// <summary>The type ids of an [option] in a ROWS result's metadata (spec section 4.2.5.2).</summary>
internal enum CqlTypeId : ushort
{
    Custom = 0x0000,
    Ascii = 0x0001,
    Bigint = 0x0002,
    Blob = 0x0003,
    Boolean = 0x0004,
    Counter = 0x0005,
    Decimal = 0x0006,
    Double = 0x0007,
    Float = 0x0008,
    Int = 0x0009,
    Timestamp = 0x000B,
    Uuid = 0x000C,
    Varchar = 0x000D,
    Varint = 0x000E,
    Timeuuid = 0x000F,
    Inet = 0x0010,
    Date = 0x0011,
    Time = 0x0012,
    Smallint = 0x0013,
    Tinyint = 0x0014,
    List = 0x0020,
    Map = 0x0021,
    Set = 0x0022,
    Udt = 0x0030,
    Tuple = 0x0031,
}

/// <summary>A column type as a ROWS result's metadata gives it: the id and, for collections, tuples and UDTs, the
/// types inside.</summary>
internal sealed record CqlColumnType(CqlTypeId Id, IReadOnlyList<CqlColumnType> Parameters, string? Name = null)
{
    public override string ToString() => Parameters.Count == 0 ? (Name ?? Id.ToString().ToLowerInvariant()) : $"{Id.ToString().ToLowerInvariant()}<{string.Join(", ", Parameters)}>";
}

/// <summary>
/// Reads [option] types and decodes the values of a ROWS result (spec section 6) into .NET values: text and ascii as
/// <see cref="string"/>, int/smallint/tinyint as <see cref="int"/>, bigint and counter as <see cref="long"/>, timestamp as
/// <see cref="DateTimeOffset"/>, uuid and timeuuid as <see cref="Guid"/>, boolean, float, double, blob as
/// <c>byte[]</c>, lists and sets as <c>List&lt;object?&gt;</c>, maps as <c>List&lt;KeyValuePair&lt;object, object?&gt;&gt;</c>
/// (in the server's order); what <c>system_schema</c> does not use (decimal, varint, inet, date, time, duration, tuples,
/// UDTs, custom types) stays <c>byte[]</c>.
/// </summary>
internal static class CqlValueCodec
{
    /// <summary>UTF-8 that throws on invalid bytes.</summary>
    public static readonly Encoding StrictUtf8 = new UTF8Encoding(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    /// <summary>Reads an [option], with its parameters; at most 16 levels deep.</summary>
    public static CqlColumnType ReadType(ref CqlBodyReader reader, string field, int depth = 0)
    {
        if (depth > 16)
        {
            throw reader.Error(field, "types nested more than 16 deep");
        }

        var id = (CqlTypeId)reader.ReadUnsignedShort(field + " type id");
        switch (id)
        {
            case CqlTypeId.Custom:
                return new CqlColumnType(id, [], reader.ReadString(field + " custom class"));
            case CqlTypeId.List or CqlTypeId.Set:
                return new CqlColumnType(id, [ReadType(ref reader, field, depth + 1)]);
            case CqlTypeId.Map:
                return new CqlColumnType(id, [ReadType(ref reader, field, depth + 1), ReadType(ref reader, field, depth + 1)]);
            case CqlTypeId.Udt:
            {
                var keyspace = reader.ReadString(field + " udt keyspace");
                var name = reader.ReadString(field + " udt name");
                var count = reader.ReadUnsignedShort(field + " udt field count");
                List<CqlColumnType> fields = [];
                for (var i = 0; i < count; i++)
                {
                    reader.ReadString(field + " udt field name");
                    fields.Add(ReadType(ref reader, field, depth + 1));
                }

                return new CqlColumnType(id, fields, $"{keyspace}.{name}");
            }

            case CqlTypeId.Tuple:
            {
                var count = reader.ReadUnsignedShort(field + " tuple field count");
                List<CqlColumnType> fields = [];
                for (var i = 0; i < count; i++)
                {
                    fields.Add(ReadType(ref reader, field, depth + 1));
                }

                return new CqlColumnType(id, fields);
            }

            case CqlTypeId.Ascii or CqlTypeId.Bigint or CqlTypeId.Blob or CqlTypeId.Boolean or CqlTypeId.Counter or CqlTypeId.Decimal
                or CqlTypeId.Double or CqlTypeId.Float or CqlTypeId.Int or CqlTypeId.Timestamp or CqlTypeId.Uuid or CqlTypeId.Varchar
                or CqlTypeId.Varint or CqlTypeId.Timeuuid or CqlTypeId.Inet or CqlTypeId.Date or CqlTypeId.Time or CqlTypeId.Smallint
                or CqlTypeId.Tinyint:
                return new CqlColumnType(id, []);
            default:
                throw reader.Error(field, $"unknown type id 0x{(ushort)id:X4}");
        }
    }

    /// <summary>Decodes one value of <paramref name="type"/>.</summary>
    /// <exception cref="CqlProtocolException">A value whose length does not fit its type; the message names the
    /// column.</exception>
    public static object Decode(CqlColumnType type, ReadOnlySpan<byte> value, string column)
    {
        var reader = new CqlBodyReader(value, $"value of column '{column}' ({type})");
        var decoded = Decode(type, ref reader, value.Length, column);
        if (reader.Remaining != 0)
        {
            throw reader.Error(column, $"{reader.Remaining} bytes follow the value");
        }

        return decoded;
    }

    private static object Decode(CqlColumnType type, ref CqlBodyReader reader, int length, string column)
    {
        switch (type.Id)
        {
            case CqlTypeId.Ascii or CqlTypeId.Varchar:
                return StrictUtf8.GetString(reader.Take(length, column));
            case CqlTypeId.Boolean:
                return Fixed(ref reader, length, 1, column)[0] != 0;
            case CqlTypeId.Int:
                return BinaryPrimitives.ReadInt32BigEndian(Fixed(ref reader, length, 4, column));
            case CqlTypeId.Smallint:
                return (int)BinaryPrimitives.ReadInt16BigEndian(Fixed(ref reader, length, 2, column));
            case CqlTypeId.Tinyint:
                return (int)(sbyte)Fixed(ref reader, length, 1, column)[0];
            case CqlTypeId.Bigint or CqlTypeId.Counter:
                return BinaryPrimitives.ReadInt64BigEndian(Fixed(ref reader, length, 8, column));
            case CqlTypeId.Timestamp:
            {
                var milliseconds = BinaryPrimitives.ReadInt64BigEndian(Fixed(ref reader, length, 8, column));
                return milliseconds is >= -62_135_596_800_000 and <= 253_402_300_799_999
                    ? DateTimeOffset.FromUnixTimeMilliseconds(milliseconds)
                    : throw reader.Error(column, $"timestamp {milliseconds} ms is outside years 1-9999");
            }
            case CqlTypeId.Double:
                return BinaryPrimitives.ReadDoubleBigEndian(Fixed(ref reader, length, 8, column));
            case CqlTypeId.Float:
                return BinaryPrimitives.ReadSingleBigEndian(Fixed(ref reader, length, 4, column));
            case CqlTypeId.Uuid or CqlTypeId.Timeuuid:
                return new Guid(Fixed(ref reader, length, 16, column), bigEndian: true);
            case CqlTypeId.List or CqlTypeId.Set:
            {
                var start = reader.Position;
                var count = reader.ReadInt(column + " element count");
                if (count < 0 || count > length / 4)
                {
                    throw reader.Error(column, $"{count} elements cannot fit in {length} bytes");
                }

                var list = new List<object?>(count);
                for (var i = 0; i < count; i++)
                {
                    list.Add(Element(type.Parameters[0], ref reader, column));
                }

                Consumed(ref reader, start, length, column);
                return list;
            }

            case CqlTypeId.Map:
            {
                var start = reader.Position;
                var count = reader.ReadInt(column + " entry count");
                if (count < 0 || count > length / 8)
                {
                    throw reader.Error(column, $"{count} entries cannot fit in {length} bytes");
                }

                var map = new List<KeyValuePair<object, object?>>(count);
                for (var i = 0; i < count; i++)
                {
                    var key = Element(type.Parameters[0], ref reader, column) ?? throw reader.Error(column, "a null map key");
                    map.Add(new KeyValuePair<object, object?>(key, Element(type.Parameters[1], ref reader, column)));
                }

                Consumed(ref reader, start, length, column);
                return map;
            }

            default:
                return reader.Take(length, column).ToArray();
        }
    }

    private static object? Element(CqlColumnType type, ref CqlBodyReader reader, string column)
    {
        var bytes = reader.ReadBytes(column + " element", out var isNull);
        if (isNull)
        {
            return null;
        }

        var inner = new CqlBodyReader(bytes, $"element of column '{column}'");
        var value = Decode(type, ref inner, bytes.Length, column);
        if (inner.Remaining != 0)
        {
            throw reader.Error(column, $"{inner.Remaining} bytes follow an element");
        }

        return value;
    }

    private static void Consumed(ref CqlBodyReader reader, int start, int length, string column)
    {
        if (reader.Position - start != length)
        {
            throw reader.Error(column, $"the collection's elements take {reader.Position - start} bytes, not {length}");
        }
    }

    private static ReadOnlySpan<byte> Fixed(ref CqlBodyReader reader, int length, int expected, string column) =>
        length == expected ? reader.Take(length, column) : throw reader.Error(column, $"{length} bytes, not the {expected} of the type");
}
