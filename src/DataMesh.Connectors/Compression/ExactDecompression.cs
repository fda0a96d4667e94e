using System.IO.Compression;
using ZstdSharp;

namespace DataMesh.Connectors.Compression;

/// <summary>
/// Decompression into a buffer of exactly the length the container states (a Cassandra commit-log section, a MariaDB
/// compressed event's record, a MySQL transaction payload): data that decompress to fewer or more bytes, or that are not
/// of the format, are refused with what was wrong, never returned in part.
/// </summary>
internal static class ExactDecompression
{
    /// <summary>The most deflate can expand its input (a run of one byte: 258 bytes per 2 bits, about 1,032 to 1), rounded up.</summary>
    private const long MaxZlibRatio = 1040;

    /// <summary>The most zstd can expand its input: a block of at most 128 KiB from 4 bytes (an RLE block's 3-byte header
    /// and its byte), frame headers aside.</summary>
    private const long MaxZstdRatio = 128 * 1024 / 4;

    private const int ShrinkAbove = 16 * 1024 * 1024;

    /// <summary>Whether <paramref name="compressedLength"/> bytes of zlib data can inflate to <paramref name="stated"/>
    /// bytes: checked before a buffer of the stated size is allocated, so a broken length cannot make the host allocate
    /// up to what the container allows.</summary>
    public static bool ZlibCanHold(int compressedLength, long stated) => stated <= (compressedLength * MaxZlibRatio) + 64;

    /// <summary>Whether <paramref name="compressedLength"/> bytes of zstd frames can decompress to <paramref name="stated"/>
    /// bytes (see <see cref="ZlibCanHold"/>).</summary>
    public static bool ZstdCanHold(int compressedLength, long stated) => stated <= (compressedLength * MaxZstdRatio) + 64;

    /// <summary>Makes a buffer reused across calls hold at least <paramref name="size"/> bytes: grown (doubling) to the
    /// largest size so far, and given back for a smaller one once sizes far below a large one follow.</summary>
    public static void Fit(ref byte[] buffer, int size)
    {
        if (buffer.Length < size)
        {
            buffer = new byte[Math.Max(size, (int)Math.Min(Array.MaxLength, buffer.Length * 2L))];
        }
        else if (buffer.Length > ShrinkAbove && size < buffer.Length / 4)
        {
            buffer = new byte[Math.Max(size, 64 * 1024)];
        }
    }

    /// <summary>Inflates a zlib stream (RFC 1950: header, deflate data, Adler-32) into exactly <paramref name="output"/>.</summary>
    /// <returns>Null on success, else what was wrong.</returns>
    public static string? Zlib(ReadOnlySpan<byte> input, Span<byte> output)
    {
        var compressed = System.Buffers.ArrayPool<byte>.Shared.Rent(input.Length);
        try
        {
            input.CopyTo(compressed);
            using var stream = new ZLibStream(new MemoryStream(compressed, 0, input.Length, writable: false), CompressionMode.Decompress);
            var read = stream.ReadAtLeast(output, output.Length, throwOnEndOfStream: false);
            if (read < output.Length)
            {
                return $"the zlib data inflate to {read} bytes, not the {output.Length} stated";
            }

            return stream.Read(stackalloc byte[1]) > 0 ? $"the zlib data inflate to more than the {output.Length} bytes stated" : null;
        }
        catch (Exception ex) when (ex is InvalidDataException or IOException)
        {
            // IOException: .NET's ZLibException for what inflate answers other than a data error, such as Z_NEED_DICT for a
            // header asking for a preset dictionary (FDICT), which no writer here uses.
            return $"the data are not a valid zlib stream ({ex.Message})";
        }
        finally
        {
            System.Buffers.ArrayPool<byte>.Shared.Return(compressed);
        }
    }

    /// <summary>Decompresses Zstandard frames into exactly <paramref name="output"/>.</summary>
    /// <returns>Null on success, else what was wrong.</returns>
    public static string? Zstd(ReadOnlySpan<byte> input, Span<byte> output)
    {
        try
        {
            using var decompressor = new Decompressor();
            var read = decompressor.Unwrap(input, output);
            return read == output.Length ? null : $"the zstd data decompress to {read} bytes, not the {output.Length} stated";
        }
        catch (ZstdException ex)
        {
            return $"the data are not valid zstd frames of {output.Length} bytes ({ex.Message})";
        }
    }
}
