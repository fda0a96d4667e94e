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
