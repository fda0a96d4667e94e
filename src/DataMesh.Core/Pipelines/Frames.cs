using System.Buffers;
using System.Buffers.Binary;
using Confluent.Kafka;

namespace DataMesh.Pipelines;

/// <summary>
/// The frames that carry records from the consumer to a worker through its <see cref="System.IO.Pipelines.Pipe"/>:
/// <c>[int32 length of the rest][int32 partition slot][int32 partition generation][int64 offset][int32 key length or -1][key][int32 value length or -1][value]</c>,
/// little-endian. The generation is the partition's <see cref="SourcePartition.Generation"/> when the record was read: a
/// frame of an older generation was read before the partition was revoked, and is never handed to the sink. A key length
/// of -2 (and no value) marks a record dropped by the epoch fence (<see cref="WriteFenced"/>): the worker only marks it done.
/// </summary>
internal static class Frames
{
    /// <summary>The bytes of a frame besides its key and value.</summary>
    public const int Overhead = 4 + 4 + 4 + 8 + 4 + 4;

    private const int KeyAt = 4 + 4 + 4 + 8 + 4;

    private const int FencedKey = -2;

    public static void Write(IBufferWriter<byte> output, int slot, int generation, long offset, ReadOnlySpan<byte> key, bool hasKey, ReadOnlySpan<byte> value, bool hasValue)
    {
        var length = Overhead + key.Length + value.Length;
        var span = output.GetSpan(length);
        BinaryPrimitives.WriteInt32LittleEndian(span, length - 4);
        BinaryPrimitives.WriteInt32LittleEndian(span[4..], slot);
        BinaryPrimitives.WriteInt32LittleEndian(span[8..], generation);
        BinaryPrimitives.WriteInt64LittleEndian(span[12..], offset);
        BinaryPrimitives.WriteInt32LittleEndian(span[(KeyAt - 4)..], hasKey ? key.Length : -1);
        key.CopyTo(span[KeyAt..]);
        var at = KeyAt + key.Length;
        BinaryPrimitives.WriteInt32LittleEndian(span[at..], hasValue ? value.Length : -1);
        value.CopyTo(span[(at + 4)..]);
        output.Advance(length);
    }

    /// <summary>Writes the frame of a record the epoch fence drops: its offset only, so the worker marks it done in order.</summary>
    public static void WriteFenced(IBufferWriter<byte> output, int slot, int generation, long offset)
    {
        var span = output.GetSpan(Overhead);
        BinaryPrimitives.WriteInt32LittleEndian(span, Overhead - 4);
        BinaryPrimitives.WriteInt32LittleEndian(span[4..], slot);
        BinaryPrimitives.WriteInt32LittleEndian(span[8..], generation);
        BinaryPrimitives.WriteInt64LittleEndian(span[12..], offset);
        BinaryPrimitives.WriteInt32LittleEndian(span[(KeyAt - 4)..], FencedKey);
        BinaryPrimitives.WriteInt32LittleEndian(span[KeyAt..], -1);
        output.Advance(Overhead);
    }

    /// <summary>Whether the frame marks a record the epoch fence drops.</summary>
    public static bool IsFenced(ReadOnlySpan<byte> frame) => BinaryPrimitives.ReadInt32LittleEndian(frame[(KeyAt - 4)..]) == FencedKey;

    /// <summary>The whole length of the frame at the start of <paramref name="buffer"/>, or 0 when its length prefix is not complete yet.</summary>
    public static int PeekLength(in ReadOnlySequence<byte> buffer)
    {
        if (buffer.Length < 4)
        {
            return 0;
        }

        Span<byte> prefix = stackalloc byte[4];
        buffer.Slice(0, 4).CopyTo(prefix);
        return BinaryPrimitives.ReadInt32LittleEndian(prefix) + 4;
    }

    public static void Read(ReadOnlySpan<byte> frame, out int slot, out int generation, out long offset, out ReadOnlySpan<byte> key, out bool hasKey, out ReadOnlySpan<byte> value, out bool hasValue)
    {
        slot = BinaryPrimitives.ReadInt32LittleEndian(frame[4..]);
        generation = BinaryPrimitives.ReadInt32LittleEndian(frame[8..]);
        offset = BinaryPrimitives.ReadInt64LittleEndian(frame[12..]);
        var keyLength = BinaryPrimitives.ReadInt32LittleEndian(frame[(KeyAt - 4)..]);
        hasKey = keyLength >= 0;
        key = hasKey ? frame.Slice(KeyAt, keyLength) : default;
        var at = KeyAt + Math.Max(keyLength, 0);
        var valueLength = BinaryPrimitives.ReadInt32LittleEndian(frame[at..]);
        hasValue = valueLength >= 0;
        value = hasValue ? frame.Slice(at + 4, valueLength) : default;
    }
}

/// <summary>
/// A Kafka deserializer that copies the record's bytes into a buffer of the consumer's (no array per record) and
/// returns their length, or -1 for null; the consumer thread then frames them from there.
/// </summary>
internal sealed class StagingDeserializer : IDeserializer<int>
{
    private byte[] _buffer = new byte[1024];

    public ReadOnlySpan<byte> Staged(int length) => length < 0 ? default : _buffer.AsSpan(0, length);

    public int Deserialize(ReadOnlySpan<byte> data, bool isNull, SerializationContext context)
    {
        if (isNull)
        {
            return -1;
        }

        if (data.Length > _buffer.Length)
        {
            _buffer = new byte[Math.Max(data.Length, _buffer.Length * 2)];
        }

        data.CopyTo(_buffer);
        return data.Length;
    }
}
