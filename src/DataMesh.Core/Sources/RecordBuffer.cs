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

    /// <summary>Empties the buffer; one that grew past 4 MiB for a huge record goes back to its first size.</summary>
    public void Clear()
    {
        Written = 0;
        if (_buffer.Length > ShrinkAbove)
        {
            _buffer = new byte[64 * 1024];
        }
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
