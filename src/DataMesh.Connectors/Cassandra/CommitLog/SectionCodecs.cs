using System.Buffers.Binary;
using DataMesh.Connectors.Compression;
using K4os.Compression.LZ4;

namespace DataMesh.Connectors.Cassandra.CommitLog;

/// <summary>
/// Cassandra's <c>ICompressor</c> outputs, undone: <c>LZ4Compressor</c> (a 4-byte little-endian length, then an LZ4
/// block), <c>SnappyCompressor</c> (a raw Snappy block), <c>DeflateCompressor</c> (a zlib stream, as
/// <c>java.util.zip.Deflater</c> writes it), <c>ZstdCompressor</c> (a Zstandard frame) and <c>NoopCompressor</c>.
/// </summary>
internal static class SectionCodecs
{
    public enum Codec
    {
        Lz4,
        Snappy,
        Deflate,
        Zstd,
        Noop,
    }

    /// <summary>The codec of a compressor class (<c>LZ4Compressor</c> or <c>org.apache.cassandra.io.compress.LZ4Compressor</c>).</summary>
    /// <returns>False for a compressor this reader does not know.</returns>
    public static bool TryGet(string compressorClass, out Codec codec)
    {
        var name = compressorClass[(compressorClass.LastIndexOf('.') + 1)..];
        codec = name switch
        {
            "LZ4Compressor" => Codec.Lz4,
            "SnappyCompressor" => Codec.Snappy,
            "DeflateCompressor" => Codec.Deflate,
            "ZstdCompressor" => Codec.Zstd,
            "NoopCompressor" => Codec.Noop,
            _ => (Codec)(-1),
        };
        return codec >= 0;
    }

    /// <summary>Decompresses <paramref name="input"/> into exactly <paramref name="output"/>.</summary>
    /// <returns>Null on success, else what was wrong.</returns>
    public static string? Decompress(Codec codec, ReadOnlySpan<byte> input, Span<byte> output)
    {
        if (codec is Codec.Deflate or Codec.Zstd)
        {
            return codec == Codec.Deflate ? ExactDecompression.Zlib(input, output) : ExactDecompression.Zstd(input, output);
        }

        try
        {
            var length = codec switch
            {
                Codec.Lz4 => Lz4(input, output),
                Codec.Snappy => Snappier.Snappy.GetUncompressedLength(input) == output.Length ? Snappier.Snappy.Decompress(input, output) : -2,
                _ => input.TryCopyTo(output) ? input.Length : -1,
            };
            return length == output.Length ? null : $"the {codec} data decompress to {(length < 0 ? "nothing readable" : length + " bytes")}, not the {output.Length} the section declares";
        }
        catch (Exception ex) when (ex is InvalidDataException or ArgumentException or IndexOutOfRangeException or InvalidOperationException)
        {
            return $"the {codec} data are corrupt: {ex.Message}";
        }
    }

    private static int Lz4(ReadOnlySpan<byte> input, Span<byte> output)
    {
        if (input.Length < 4 || BinaryPrimitives.ReadInt32LittleEndian(input) != output.Length)
        {
            return -1;
        }

        return LZ4Codec.Decode(input[4..], output);
    }
}
