using System.Buffers;
using System.Buffers.Binary;
using System.Runtime.InteropServices;
using System.Text;

namespace DataMesh.Connectors.Cassandra.Native;

/// <summary>Writes a request frame: the header (its body length patched in by <see cref="Complete"/>) and the body's
/// notations (spec section 3).</summary>
internal sealed class CqlBodyWriter
{
    private readonly ArrayBufferWriter<byte> _buffer = new(256);

    /// <summary>Starts a frame of <paramref name="opcode"/> on <paramref name="stream"/>.</summary>
    public CqlBodyWriter(CqlOpcode opcode, short stream)
    {
        var header = _buffer.GetSpan(CqlFrame.HeaderLength);
        header[0] = CqlFrame.RequestVersion;
        header[1] = 0;
        BinaryPrimitives.WriteInt16BigEndian(header[2..], stream);
        header[4] = (byte)opcode;
        BinaryPrimitives.WriteInt32BigEndian(header[5..], 0);
        _buffer.Advance(CqlFrame.HeaderLength);
    }

    public void WriteByte(byte value)
    {
        _buffer.GetSpan(1)[0] = value;
        _buffer.Advance(1);
    }

    public void WriteShort(ushort value)
    {
        BinaryPrimitives.WriteUInt16BigEndian(_buffer.GetSpan(2), value);
        _buffer.Advance(2);
    }

    public void WriteInt(int value)
    {
        BinaryPrimitives.WriteInt32BigEndian(_buffer.GetSpan(4), value);
        _buffer.Advance(4);
    }

    /// <summary>A [string] (at most 65535 UTF-8 bytes).</summary>
    public void WriteString(string value)
    {
        var length = Encoding.UTF8.GetByteCount(value);
        if (length > ushort.MaxValue)
        {
            throw new ArgumentException("a [string] holds at most 65535 bytes", nameof(value));
        }

        WriteShort((ushort)length);
        _buffer.Advance(Encoding.UTF8.GetBytes(value, _buffer.GetSpan(length)));
    }

    /// <summary>A [long string].</summary>
    public void WriteLongString(string value)
    {
        var length = Encoding.UTF8.GetByteCount(value);
        WriteInt(length);
        _buffer.Advance(Encoding.UTF8.GetBytes(value, _buffer.GetSpan(length)));
    }

    /// <summary>[bytes]; null writes length -1.</summary>
    public void WriteBytes(ReadOnlySpan<byte> value, bool isNull = false)
    {
        if (isNull)
        {
            WriteInt(-1);
            return;
        }

        WriteInt(value.Length);
        value.CopyTo(_buffer.GetSpan(value.Length));
        _buffer.Advance(value.Length);
    }

    /// <summary>A [string map].</summary>
    public void WriteStringMap(IReadOnlyCollection<KeyValuePair<string, string>> map)
    {
        WriteShort(checked((ushort)map.Count));
        foreach (var (key, value) in map)
        {
            WriteString(key);
            WriteString(value);
        }
    }

    /// <summary>Patches the body length into the header; returns the whole frame. The writer's buffer is cleared on
    /// <see cref="Clear"/>: call it once the frame was sent when it held a secret.</summary>
    public ReadOnlyMemory<byte> Complete()
    {
        var frame = _buffer.WrittenMemory;
        BinaryPrimitives.WriteInt32BigEndian(MemoryMarshal.AsMemory(frame).Span.Slice(5, 4), frame.Length - CqlFrame.HeaderLength);
        return frame;
    }

    /// <summary>Zeroes what was written (an AUTH_RESPONSE holds the password).</summary>
    public void Clear() => _buffer.Clear();
}
