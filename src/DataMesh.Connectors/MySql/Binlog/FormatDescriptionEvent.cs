using System.Globalization;

namespace DataMesh.Connectors.MySql.Binlog;

/// <summary>
/// FORMAT_DESCRIPTION (15), the first event of every binlog file: binlog version 4, the server version, the
/// common header length, the post-header length of each event type, and the checksum algorithm of the events
/// that follow (0 off, 1 CRC32).
/// </summary>
internal sealed class FormatDescriptionEvent
{
    public const byte ChecksumOff = 0;
    public const byte ChecksumCrc32 = 1;
    public const byte ChecksumUndefined = 255;

    private readonly byte[] _postHeaderLengths;

    private FormatDescriptionEvent(ushort binlogVersion, string serverVersion, byte headerLength, byte[] postHeaderLengths, byte checksumAlgorithm)
    {
        BinlogVersion = binlogVersion;
        ServerVersion = serverVersion;
        HeaderLength = headerLength;
        _postHeaderLengths = postHeaderLengths;
        ChecksumAlgorithm = checksumAlgorithm;
    }

    public ushort BinlogVersion { get; }

    public string ServerVersion { get; }

    public bool IsMariaDb => ServerVersion.Contains("MariaDB", StringComparison.OrdinalIgnoreCase);

    public byte HeaderLength { get; }

    /// <summary>The algorithm of the checksum that every event of this file ends with.</summary>
    public byte ChecksumAlgorithm { get; }

    /// <summary>The bytes of checksum at the end of each event.</summary>
    public int ChecksumLength => ChecksumAlgorithm == ChecksumCrc32 ? 4 : 0;

    /// <summary>The post-header length of an event type, or -1 when the server did not give one.</summary>
    public int PostHeaderLength(BinlogEventType type)
    {
        var index = (int)type - 1;
        return index >= 0 && index < _postHeaderLengths.Length ? _postHeaderLengths[index] : -1;
    }

    /// <summary>The format description for files that start with none of their own: a v4 default with CRC32 off.</summary>
    public static FormatDescriptionEvent Default { get; } = new(4, "5.7.0", BinlogEventHeader.Length, [], ChecksumOff);

    /// <summary>Parses a whole FORMAT_DESCRIPTION event (header included).</summary>
    public static FormatDescriptionEvent Parse(ReadOnlySpan<byte> data)
    {
        var reader = new Protocol.PayloadReader(data, "FORMAT_DESCRIPTION");
        reader.Skip(BinlogEventHeader.Length, "header");
        var version = reader.ReadUInt16("binlog_version");
        if (version != 4)
        {
            throw reader.Error("binlog_version", $"binlog version {version} is not supported (4 is, MySQL 5.0 and later)");
        }

        var serverVersionBytes = reader.ReadSpan(50, "server_version");
        var end = serverVersionBytes.IndexOf((byte)0);
        var serverVersion = System.Text.Encoding.ASCII.GetString(end < 0 ? serverVersionBytes : serverVersionBytes[..end]);
        reader.ReadUInt32("create_timestamp");
        var headerLength = reader.ReadByte("header_length");
        if (headerLength != BinlogEventHeader.Length)
        {
            throw reader.Error("header_length", $"event header length {headerLength} is not supported ({BinlogEventHeader.Length} is)");
        }

        var checksummed = SupportsChecksum(serverVersion);
        var lengths = reader.Remaining - (checksummed ? 5 : 0);
        if (lengths < 0)
        {
            throw reader.Error("post_header_lengths", "truncated: no room for the checksum algorithm and checksum");
        }

        var postHeaderLengths = reader.ReadSpan(lengths, "post_header_lengths").ToArray();
        var algorithm = checksummed ? reader.ReadByte("checksum_alg") : ChecksumOff;
        if (algorithm is not (ChecksumOff or ChecksumCrc32 or ChecksumUndefined))
        {
            throw new BinlogFormatException("FORMAT_DESCRIPTION", "checksum_alg", reader.Offset - 1, $"checksum algorithm {algorithm} is not known (0 off, 1 CRC32)");
        }

        return new FormatDescriptionEvent(version, serverVersion, headerLength, postHeaderLengths, algorithm == ChecksumUndefined ? ChecksumOff : algorithm);
    }

    // Checksums came with MySQL 5.6.1 and MariaDB 5.3; from then on FORMAT_DESCRIPTION ends with the algorithm and a CRC32.
    private static bool SupportsChecksum(string serverVersion)
    {
        var parts = serverVersion.Split('.', '-');
        if (parts.Length < 3 || !int.TryParse(parts[0], NumberStyles.None, CultureInfo.InvariantCulture, out var major)
            || !int.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out var minor))
        {
            return true;
        }

        var patch = int.TryParse(new string(parts[2].TakeWhile(char.IsAsciiDigit).ToArray()), NumberStyles.None, CultureInfo.InvariantCulture, out var p) ? p : 0;
        var isMariaDb = serverVersion.Contains("MariaDB", StringComparison.OrdinalIgnoreCase);
        return isMariaDb ? major > 5 || (major == 5 && minor >= 3) : major > 5 || (major == 5 && (minor > 6 || (minor == 6 && patch >= 1)));
    }
}
