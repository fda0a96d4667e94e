using System.Buffers.Binary;
using System.Globalization;
using System.Text;

namespace DataMesh.Connectors.Postgres;

/// <summary>Bounds-checked big-endian reads over one pgoutput message; every error names the message, field and byte offset.</summary>
internal ref struct PgOutputReader
{
    private readonly ReadOnlySpan<byte> _data;
    private readonly string _message;
    private int _position;

    public PgOutputReader(ReadOnlySpan<byte> data, string message)
    {
        _data = data;
        _message = message;
        _position = 0;
    }

    public readonly int Position => _position;

    public readonly int Remaining => _data.Length - _position;

    public void ExpectKind(PgOutputKind kind)
    {
        var b = ReadByte("message type");
        if (b != (byte)kind)
        {
            _position--;
            throw Error($"expected a {kind} message ('{(char)kind}'), found 0x{b:x2}");
        }
    }

    public readonly void ExpectEnd()
    {
        if (Remaining != 0)
        {
            throw Error($"{Remaining} unexpected bytes after the message");
        }
    }

    public byte ReadByte(string field)
    {
        Need(1, field);
        return _data[_position++];
    }

    public short ReadInt16(string field)
    {
        Need(2, field);
        var value = BinaryPrimitives.ReadInt16BigEndian(_data[_position..]);
        _position += 2;
        return value;
    }

    public int ReadInt32(string field)
    {
        Need(4, field);
        var value = BinaryPrimitives.ReadInt32BigEndian(_data[_position..]);
        _position += 4;
        return value;
    }

    public uint ReadUInt32(string field) => unchecked((uint)ReadInt32(field));

    public long ReadInt64(string field)
    {
        Need(8, field);
        var value = BinaryPrimitives.ReadInt64BigEndian(_data[_position..]);
        _position += 8;
        return value;
    }

    public ulong ReadUInt64(string field) => unchecked((ulong)ReadInt64(field));

    public string ReadCString(string field)
    {
        var end = _data[_position..].IndexOf((byte)0);
        if (end < 0)
        {
            throw Error($"{field} is not terminated by a zero byte");
        }

        var value = Encoding.UTF8.GetString(_data.Slice(_position, end));
        _position += end + 1;
        return value;
    }

    public void Skip(int count)
    {
        Need(count, "value");
        _position += count;
    }

    public readonly FormatException Error(string reason) =>
        new(string.Create(CultureInfo.InvariantCulture, $"Malformed pgoutput {_message} message at byte {_position} of {_data.Length}: {reason}."));

    private readonly void Need(int count, string field)
    {
        if (Remaining < count)
        {
            throw Error($"{field} needs {count} bytes, {Remaining} remain");
        }
    }
}
