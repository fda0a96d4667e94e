using System.Buffers;

namespace DataMesh.Sources;

/// <summary>A growable buffer that can be rewound to a mark (an encoding that failed half-way leaves nothing behind).</summary>
internal sealed class RecordBuffer : IBufferWriter<byte>
{
    private const int ShrinkAbove = 4 * 1024 * 1024;
    private byte[] _buffer = new byte[64 * 1024];

    public int Written { get; private set; }

    public ReadOnlySpan<byte> WrittenSpan => _buffer.AsSpan(0, Written);

    public void Advance(int count) => Written += count;

    public Memory<byte> GetMemory(int sizeHint = 0)
    {
        Ensure(sizeHint);
        return _buffer.AsMemory(Written);
    }

    public Span<byte> GetSpan(int sizeHint = 0)
    {
        Ensure(sizeHint);
        return _buffer.AsSpan(Written);
    }

    public void Rewind(int mark) => Written = mark;

    /// <summary>Empties the buffer. One that grew past 4 MiB goes back to its first size once a use filled less than a
    /// quarter of it (the huge record, or the burst, that grew it is gone); one that every batch fills keeps its size, or
    /// each batch would grow it again, doubling and copying from 64 KiB (a Cassandra poll of 20,000 events writes about
    /// 5 MB).</summary>
    public void Clear()
    {
        if (_buffer.Length > ShrinkAbove && Written < _buffer.Length / 4)
        {
            _buffer = new byte[64 * 1024];
        }

        Written = 0;
    }

    private void Ensure(int sizeHint)
    {
        var needed = Written + Math.Max(sizeHint, 256);
        if (needed > _buffer.Length)
        {
            var larger = new byte[Math.Max(needed, (int)Math.Min(Array.MaxLength, _buffer.Length * 2L))];
            _buffer.AsSpan(0, Written).CopyTo(larger);
            _buffer = larger;
        }
    }
}
