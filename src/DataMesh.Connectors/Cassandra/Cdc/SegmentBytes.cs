using System.Buffers;

namespace DataMesh.Connectors.Cassandra.Cdc;

/// <summary>
/// A segment's bytes as a store read them, owned by the reader that decodes them: read from a file into an array rented
/// from <see cref="ArrayPool{T}.Shared"/> and returned on <see cref="Dispose"/> (a node's segments are 32 MiB each: a new
/// array per segment would be a large-object allocation whose pages the kernel zeroes on every first touch), or an array
/// received whole (an agent's answer), which is not pooled.
/// </summary>
internal sealed class SegmentBytes : IMemoryOwner<byte>
{
    private readonly int _length;
    private readonly bool _pooled;
    private byte[]? _array;

    private SegmentBytes(byte[] array, int length, bool pooled)
    {
        _array = array;
        _length = length;
        _pooled = pooled;
    }

    /// <summary>The bytes (empty once disposed).</summary>
    public Memory<byte> Memory => _array is { } array ? array.AsMemory(0, _length) : Memory<byte>.Empty;

    /// <summary>Bytes this instance does not own in a pool (an agent's answer, a test's array).</summary>
    public static SegmentBytes Of(byte[] bytes) => new(bytes, bytes.Length, pooled: false);

    /// <summary>Reads a whole file, as far as it reaches when opened, into a pooled array.</summary>
    /// <param name="path">The file.</param>
    /// <exception cref="FileNotFoundException">The file is gone (deleted by an operator, say).</exception>
    /// <exception cref="IOException">It cannot be read, or it is larger than an array can hold.</exception>
    public static SegmentBytes ReadFile(string path)
    {
        // The sharing File.ReadAllBytes uses: the node may still append to the segment (its index says how far is durable).
        using var handle = File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.Read, FileOptions.SequentialScan);
        var fileLength = RandomAccess.GetLength(handle);
        if (fileLength > Array.MaxLength)
        {
            throw new IOException($"{path} holds {fileLength} bytes, more than one read can hold ({Array.MaxLength}); a commit-log segment is 32 MiB unless commitlog_segment_size says otherwise");
        }

        var array = ArrayPool<byte>.Shared.Rent(Math.Max((int)fileLength, 1));
        try
        {
            var length = 0;
            while (length < fileLength)
            {
                var read = RandomAccess.Read(handle, array.AsSpan(length, (int)fileLength - length), length);
                if (read == 0)
                {
                    // Shorter than when opened (truncated meanwhile): what is there.
                    break;
                }

                length += read;
            }

            return new SegmentBytes(array, length, pooled: true);
        }
        catch
        {
            ArrayPool<byte>.Shared.Return(array);
            throw;
        }
    }

    /// <summary>Returns a pooled array (once; the bytes must not be used after).</summary>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _array, null) is { } array && _pooled)
        {
            ArrayPool<byte>.Shared.Return(array);
        }
    }
}
