using System.Buffers.Binary;
using System.Text;

namespace DataMesh.Connectors.Cassandra.Native;

/// <summary>
/// Reads the notations of a v4 frame body (spec section 3: [int], [short], [string], [long string], [bytes],
/// [string list], [string map], [uuid]) from a span, bounds-checked: a field that runs past the body throws a
/// <see cref="CqlProtocolException"/> that names the field and the offset.
/// </summary>
internal ref struct CqlBodyReader
{
    private readonly ReadOnlySpan<byte> _body;
    private readonly string _what;

    /// <summary>Creates a reader over <paramref name="body"/>; <paramref name="what"/> names the frame in errors.</summary>
    public CqlBodyReader(ReadOnlySpan<byte> body, string what)
    {
        _body = body;
        _what = what;
        Position = 0;
    }

    /// <summary>The offset of the next field in the body.</summary>
    public int Position { get; private set; }

    /// <summary>Bytes left in the body.</summary>
    public readonly int Remaining => _body.Length - Position;

    public int ReadInt(string field) => BinaryPrimitives.ReadInt32BigEndian(Take(4, field));

    public short ReadShort(string field) => BinaryPrimitives.ReadInt16BigEndian(Take(2, field));

    public ushort ReadUnsignedShort(string field) => BinaryPrimitives.ReadUInt16BigEndian(Take(2, field));

    public byte ReadByte(string field) => Take(1, field)[0];

    /// <summary>A [string]: a [short] length and that many UTF-8 bytes.</summary>
    public string ReadString(string field)
    {
        var length = ReadUnsignedShort(field + " length");
        return Utf8(Take(length, field), field);
    }

    /// <summary>A [long string]: an [int] length and that many UTF-8 bytes.</summary>
    public string ReadLongString(string field)
    {
        var length = ReadInt(field + " length");
        if (length < 0)
        {
            throw Error(field, $"a negative length {length}");
        }

        return Utf8(Take(length, field), field);
    }

    /// <summary>[bytes]: an [int] length and that many bytes; a negative length is null.</summary>
    public ReadOnlySpan<byte> ReadBytes(string field, out bool isNull)
    {
        var length = ReadInt(field + " length");
        isNull = length < 0;
        return isNull ? default : Take(length, field);
    }

    /// <summary>[short bytes]: a [short] length and that many bytes.</summary>
    public ReadOnlySpan<byte> ReadShortBytes(string field) => Take(ReadUnsignedShort(field + " length"), field);

    /// <summary>A [uuid]: 16 bytes.</summary>
    public Guid ReadUuid(string field) => new(Take(16, field), bigEndian: true);

    /// <summary>A [string list].</summary>
    public List<string> ReadStringList(string field)
    {
        var count = ReadUnsignedShort(field + " count");
        var list = new List<string>(Math.Min((int)count, Remaining / 2));
        for (var i = 0; i < count; i++)
        {
            list.Add(ReadString(field));
        }

        return list;
    }

    /// <summary>A [string multimap] or [bytes map] is skipped whole (warnings, custom payloads).</summary>
    public void SkipBytesMap(string field)
    {
        var count = ReadUnsignedShort(field + " count");
        for (var i = 0; i < count; i++)
        {
            ReadString(field + " key");
            ReadBytes(field + " value", out _);
        }
    }

    public ReadOnlySpan<byte> Take(int length, string field)
    {
        if (length < 0 || length > Remaining)
        {
            throw Error(field, $"{length} bytes wanted, {Remaining} left in the body");
        }

        var span = _body.Slice(Position, length);
        Position += length;
        return span;
    }

    public readonly CqlProtocolException Error(string field, string problem) =>
        new($"{_what}: field '{field}' at body offset {Position}: {problem}");

    private readonly string Utf8(ReadOnlySpan<byte> bytes, string field)
    {
        try
        {
            return CqlValueCodec.StrictUtf8.GetString(bytes);
        }
        catch (DecoderFallbackException ex)
        {
            throw new CqlProtocolException($"{_what}: field '{field}' is not UTF-8", ex);
        }
    }
}
