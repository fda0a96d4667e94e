using System.Buffers.Binary;
using System.IO.Compression;
using System.IO.Hashing;
using System.Security.Cryptography;
using K4os.Compression.LZ4;

namespace DataMesh.Tests.Cassandra;

/// <summary>
/// Writes commit-log segments the way Cassandra lays them out (fixture README, "Byte-level format"), for what the real
/// fixtures lack: compressed segments, torn and corrupt ones, unknown versions. Plain segments are pre-sized and end in
/// a zeroed marker; compressed and encrypted ones end after their last section.
/// </summary>
internal static class SegmentWriter
{
    public static byte[] Header(int version, long id, string parameters)
    {
        var json = System.Text.Encoding.UTF8.GetBytes(parameters);
        var header = new byte[18 + json.Length];
        BinaryPrimitives.WriteInt32BigEndian(header, version);
        BinaryPrimitives.WriteInt64BigEndian(header.AsSpan(4), id);
        BinaryPrimitives.WriteUInt16BigEndian(header.AsSpan(12), (ushort)json.Length);
        json.CopyTo(header, 14);
        var crc = new Crc32();
        Span<byte> four = stackalloc byte[4];
        foreach (var value in new[] { version, (int)(id & 0xFFFFFFFF), (int)(id >>> 32), json.Length })
        {
            BinaryPrimitives.WriteInt32BigEndian(four, value);
            crc.Append(four);
        }

        crc.Append(json);
        BinaryPrimitives.WriteUInt32BigEndian(header.AsSpan(14 + json.Length), crc.GetCurrentHashAsUInt32());
        return header;
    }

    /// <summary>An entry: size, CRC of the size, the mutation, CRC of size and mutation.</summary>
    public static byte[] Entry(ReadOnlySpan<byte> mutation)
    {
        var entry = new byte[mutation.Length + 12];
        BinaryPrimitives.WriteInt32BigEndian(entry, mutation.Length);
        BinaryPrimitives.WriteUInt32BigEndian(entry.AsSpan(4), Crc32.HashToUInt32(entry.AsSpan(0, 4)));
        mutation.CopyTo(entry.AsSpan(8));
        var crc = new Crc32();
        crc.Append(entry.AsSpan(0, 4));
        crc.Append(mutation);
        BinaryPrimitives.WriteUInt32BigEndian(entry.AsSpan(8 + mutation.Length), crc.GetCurrentHashAsUInt32());
        return entry;
    }

    /// <summary>A plain (memory-mapped) segment: header, one section per list of mutations, a zeroed marker, zeros up
    /// to <paramref name="size"/>.</summary>
    public static byte[] Plain(int version, long id, IEnumerable<IEnumerable<byte[]>> sections, int size = 1 << 20)
    {
        var file = new MemoryStream();
        file.Write(Header(version, id, "{}"));
        foreach (var section in sections)
        {
            var payload = Concat(section.Select(m => Entry(m)));
            WriteMarker(file, id, (int)file.Length + 8 + payload.Length);
            file.Write(payload);
        }

        file.Write(new byte[8]);
        file.SetLength(Math.Max(size, file.Length));
        return file.ToArray();
    }

    /// <summary>A compressed segment, as Cassandra's CompressedSegment writes it.</summary>
    public static byte[] Compressed(int version, long id, string compressor, IEnumerable<IEnumerable<byte[]>> sections)
    {
        var file = new MemoryStream();
        file.Write(Header(version, id, $"{{\"compressionClass\":\"{compressor}\",\"compressionParameters\":{{}}}}"));
        foreach (var section in sections.Append([]))
        {
            var plain = Concat(section.Select(m => Entry(m)));
            var compressed = Compress(compressor, plain);
            WriteMarker(file, id, (int)file.Length + 12 + compressed.Length);
            WriteInt(file, plain.Length);
            file.Write(compressed);
        }

        return file.ToArray();
    }

    /// <summary>An encrypted segment, as Cassandra's EncryptedSegment writes it: 64 KiB pieces, each LZ4-compressed and
    /// AES-CBC-encrypted from the header's IV.</summary>
    public static byte[] Encrypted(int version, long id, byte[] key, byte[] iv, string alias, IEnumerable<IEnumerable<byte[]>> sections, int chunk = 65536)
    {
        using var aes = Aes.Create();
        aes.Key = key;
        var file = new MemoryStream();
        file.Write(Header(version, id, $"{{\"encCipher\":\"AES\\/CBC\\/PKCS5Padding\",\"encIV\":\"{Convert.ToHexStringLower(iv)}\",\"encKeyAlias\":\"{alias}\"}}"));
        foreach (var section in sections.Append([]))
        {
            var plain = Concat(section.Select(m => Entry(m)));
            var body = new MemoryStream();
            for (var at = 0; at < plain.Length; at += chunk)
            {
                var piece = plain.AsSpan(at, Math.Min(chunk, plain.Length - at));
                var lz4 = Compress("LZ4Compressor", piece.ToArray());
                var decrypted = new byte[4 + lz4.Length];
                BinaryPrimitives.WriteInt32BigEndian(decrypted, piece.Length);
                lz4.CopyTo(decrypted, 4);
                var encrypted = aes.EncryptCbc(decrypted, iv, PaddingMode.PKCS7);
                WriteInt(body, encrypted.Length);
                WriteInt(body, decrypted.Length);
                body.Write(encrypted);
            }

            WriteMarker(file, id, (int)file.Length + 12 + (int)body.Length);
            WriteInt(file, plain.Length);
            body.WriteTo(file);
        }

        return file.ToArray();
    }

    public static byte[] Compress(string compressor, byte[] plain)
    {
        switch (compressor[(compressor.LastIndexOf('.') + 1)..])
        {
            case "LZ4Compressor":
                var block = new byte[LZ4Codec.MaximumOutputSize(plain.Length)];
                var length = LZ4Codec.Encode(plain, block);
                var lz4 = new byte[4 + length];
                BinaryPrimitives.WriteInt32LittleEndian(lz4, plain.Length);
                block.AsSpan(0, length).CopyTo(lz4.AsSpan(4));
                return lz4;
            case "SnappyCompressor":
                return Snappier.Snappy.CompressToArray(plain);
            case "ZstdCompressor":
                using (var zstd = new ZstdSharp.Compressor())
                {
                    return zstd.Wrap(plain).ToArray();
                }

            case "DeflateCompressor":
                var output = new MemoryStream();
                using (var deflate = new ZLibStream(output, CompressionLevel.Optimal, leaveOpen: true))
                {
                    deflate.Write(plain);
                }

                return output.ToArray();
            default:
                throw new ArgumentException(compressor, nameof(compressor));
        }
    }

    /// <summary>The mutations of a segment, copied out.</summary>
    public static List<byte[]> Mutations(string name, byte[] segment, DataMesh.Connectors.Cassandra.CommitLog.CommitLogReaderOptions? options = null)
    {
        using var reader = new DataMesh.Connectors.Cassandra.CommitLog.CommitLogSegmentReader(name, segment, options);
        List<byte[]> mutations = [];
        while (reader.TryReadEntry(out var entry))
        {
            mutations.Add(entry.Mutation.ToArray());
        }

        return mutations;
    }

    /// <summary>A sync marker at offset <paramref name="marker"/> of segment <paramref name="id"/>: the offset of the next
    /// marker, then the CRC of the segment id (low, then high 32 bits) and the marker's offset.</summary>
    public static byte[] Marker(long id, int marker, int next)
    {
        var bytes = new byte[8];
        Span<byte> covered = stackalloc byte[12];
        BinaryPrimitives.WriteInt32BigEndian(covered, (int)(id & 0xFFFFFFFF));
        BinaryPrimitives.WriteInt32BigEndian(covered[4..], (int)(id >>> 32));
        BinaryPrimitives.WriteInt32BigEndian(covered[8..], marker);
        BinaryPrimitives.WriteInt32BigEndian(bytes, next);
        BinaryPrimitives.WriteUInt32BigEndian(bytes.AsSpan(4), Crc32.HashToUInt32(covered));
        return bytes;
    }

    private static void WriteMarker(Stream file, long id, int next) => file.Write(Marker(id, (int)file.Length, next));

    private static void WriteInt(Stream stream, int value)
    {
        Span<byte> bytes = stackalloc byte[4];
        BinaryPrimitives.WriteInt32BigEndian(bytes, value);
        stream.Write(bytes);
    }

    private static byte[] Concat(IEnumerable<byte[]> parts) => [.. parts.SelectMany(p => p)];
}
