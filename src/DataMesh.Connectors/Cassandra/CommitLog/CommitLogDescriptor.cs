using System.Buffers.Binary;
using System.IO.Hashing;
using System.Text;
using System.Text.Json;

namespace DataMesh.Connectors.Cassandra.CommitLog;

/// <summary>
/// The header of a commit-log segment: version, id, parameters (compression, encryption) and the CRC over them.
/// Layout: int32 version, int64 id, uint16 P, P bytes of JSON parameters, int32 CRC over the version, the id's low and
/// high halves, P as an int32 and the parameter bytes.
/// </summary>
internal sealed class CommitLogDescriptor
{
    /// <summary>Cassandra 3.0–3.11: mutations in messaging version 10 (3.0) or 11 (3.x).</summary>
    public const int Version30 = 6;

    /// <summary>Cassandra 4.0–4.1: mutations in messaging version 12.</summary>
    public const int Version40 = 7;

    private const int FixedLength = 4 + 8 + 2 + 4;

    private CommitLogDescriptor(int version, long id, string parameters, int headerLength)
    {
        Version = version;
        Id = id;
        Parameters = parameters;
        HeaderLength = headerLength;
    }

    public int Version { get; }

    public long Id { get; }

    /// <summary>The parameters as written: a JSON object, <c>{}</c> for a plain segment.</summary>
    public string Parameters { get; }

    /// <summary>The header's length: where the first sync marker is.</summary>
    public int HeaderLength { get; }

    /// <summary>The compressor's class name (<c>LZ4Compressor</c>, ...), or null.</summary>
    public string? CompressionClass { get; private init; }

    /// <summary>The cipher transformation (<c>AES/CBC/PKCS5Padding</c>), or null for an unencrypted segment.</summary>
    public string? Cipher { get; private init; }

    /// <summary>The initialisation vector of every encrypted chunk, or null.</summary>
    public byte[]? CipherIv { get; private init; }

    /// <summary>The alias of the key in the node's keystore, or null.</summary>
    public string? KeyAlias { get; private init; }

    public bool IsEncrypted => Cipher is not null;

    public bool IsCompressed => CompressionClass is not null;

    /// <summary>The messaging version of the segment's mutations: 10 for commit-log version 6, 12 for 7.</summary>
    public int MessagingVersion => Version == Version40 ? 12 : 10;

    /// <summary>Reads and checks the header at the start of a segment.</summary>
    /// <param name="data">The segment's bytes (at least the header).</param>
    /// <param name="segment">The segment's name, for errors.</param>
    /// <exception cref="CommitLogFormatException">A truncated header, a CRC mismatch, an unknown version, unreadable
    /// parameters.</exception>
    public static CommitLogDescriptor Read(ReadOnlySpan<byte> data, string segment)
    {
        if (data.Length < FixedLength)
        {
            throw new CommitLogFormatException(CommitLogError.Truncated, segment, 0, $"the segment has {data.Length} bytes, fewer than a header's {FixedLength}");
        }

        var version = BinaryPrimitives.ReadInt32BigEndian(data);
        var id = BinaryPrimitives.ReadInt64BigEndian(data[4..]);
        var parametersLength = BinaryPrimitives.ReadUInt16BigEndian(data[12..]);
        var headerLength = FixedLength + parametersLength;
        if (data.Length < headerLength)
        {
            throw new CommitLogFormatException(CommitLogError.Truncated, segment, 12, $"the header's parameters need {parametersLength} bytes, the segment ends first");
        }

        var parameters = data.Slice(14, parametersLength);
        var crc = new Crc32();
        crc.AppendInt(version);
        crc.AppendInt((int)(id & 0xFFFFFFFF));
        crc.AppendInt((int)(id >>> 32));
        crc.AppendInt(parametersLength);
        crc.Append(parameters);
        var expected = BinaryPrimitives.ReadUInt32BigEndian(data[(14 + parametersLength)..]);
        var actual = crc.GetCurrentHashAsUInt32();
        if (expected != actual)
        {
            throw new CommitLogFormatException(CommitLogError.Corrupt, segment, 14 + parametersLength, $"header CRC mismatch: the header says 0x{expected:X8}, its bytes give 0x{actual:X8} (not a commit-log segment, or a corrupt one)");
        }

        if (version is not (Version30 or Version40))
        {
            throw new CommitLogFormatException(CommitLogError.Unsupported, segment, 0, $"commit-log version {version} is not supported: this reader knows versions 6 (Cassandra 3.0–3.11) and 7 (4.0–4.1)");
        }

        return Parse(version, id, parameters, headerLength, segment);
    }

    private static CommitLogDescriptor Parse(int version, long id, ReadOnlySpan<byte> parameters, int headerLength, string segment)
    {
        string text;
        string? compression = null, cipher = null, iv = null, alias = null;
        try
        {
            text = new UTF8Encoding(false, true).GetString(parameters);
            using var document = JsonDocument.Parse(text);
            if (document.RootElement.ValueKind != JsonValueKind.Object)
            {
                throw new JsonException("not a JSON object");
            }

            foreach (var property in document.RootElement.EnumerateObject())
            {
                switch (property.Name)
                {
                    case "compressionClass":
                        compression = property.Value.GetString();
                        break;
                    case "encCipher":
                        cipher = property.Value.GetString();
                        break;
                    case "encIV":
                        iv = property.Value.GetString();
                        break;
                    case "encKeyAlias":
                        alias = property.Value.GetString();
                        break;
                }
            }
        }
        catch (Exception ex) when (ex is JsonException or DecoderFallbackException or InvalidOperationException)
        {
            throw new CommitLogFormatException(CommitLogError.Corrupt, segment, 14, $"the header's parameters are not a JSON object: {ex.Message}", ex);
        }

        byte[]? ivBytes = null;
        if (cipher is not null)
        {
            if (alias is null || iv is null)
            {
                throw new CommitLogFormatException(CommitLogError.Corrupt, segment, 14, $"the header names cipher '{cipher}' but not both encIV and encKeyAlias");
            }

            try
            {
                ivBytes = Convert.FromHexString(iv);
            }
            catch (FormatException ex)
            {
                throw new CommitLogFormatException(CommitLogError.Corrupt, segment, 14, $"the header's encIV '{iv}' is not hexadecimal", ex);
            }
        }

        return new CommitLogDescriptor(version, id, text, headerLength)
        {
            CompressionClass = compression,
            Cipher = cipher,
            CipherIv = ivBytes,
            KeyAlias = alias,
        };
    }
}
