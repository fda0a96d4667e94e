using System.Text;

namespace DataMesh.Connectors.MySql.Binlog;

/// <summary>The character sets the connector decodes text columns from.</summary>
internal enum MySqlCharset : byte
{
    /// <summary>Not a character column.</summary>
    None,

    /// <summary>utf8mb4, utf8mb3 (utf8): the bytes are UTF-8 already.</summary>
    Utf8,

    /// <summary>MySQL's latin1, which is Windows-1252 with the five undefined bytes mapped to C1 controls.</summary>
    Latin1,

    /// <summary>ASCII.</summary>
    Ascii,

    /// <summary>binary: bytes, not text.</summary>
    Binary,

    /// <summary>ucs2 (big-endian UCS-2).</summary>
    Ucs2,

    /// <summary>utf16 (big-endian).</summary>
    Utf16,

    /// <summary>utf16le.</summary>
    Utf16Le,

    /// <summary>utf32 (big-endian).</summary>
    Utf32,
}

/// <summary>Character set names and ids, and transcoding to UTF-8 without allocation for the single-byte sets.</summary>
internal static class MySqlCharsets
{
    private static readonly char[] Latin1Map = BuildLatin1();
    private static readonly Encoding Utf32BigEndian = new UTF32Encoding(bigEndian: true, byteOrderMark: false, throwOnInvalidCharacters: true);
    private static readonly Encoding Utf16BigEndian = new UnicodeEncoding(bigEndian: true, byteOrderMark: false, throwOnInvalidBytes: true);
    private static readonly Encoding Utf16LittleEndian = new UnicodeEncoding(bigEndian: false, byteOrderMark: false, throwOnInvalidBytes: true);

    /// <summary>The charset of a name as <c>information_schema</c> or DDL spells it, or null when not supported.</summary>
    public static MySqlCharset? FromName(string? name) => name?.ToLowerInvariant() switch
    {
        null => null,
        "utf8mb4" or "utf8mb3" or "utf8" => MySqlCharset.Utf8,
        "latin1" => MySqlCharset.Latin1,
        "ascii" => MySqlCharset.Ascii,
        "binary" => MySqlCharset.Binary,
        "ucs2" => MySqlCharset.Ucs2,
        "utf16" => MySqlCharset.Utf16,
        "utf16le" => MySqlCharset.Utf16Le,
        "utf32" => MySqlCharset.Utf32,
        _ => null,
    };

    /// <summary>The charset of a collation id (TABLE_MAP charset metadata), for the common collations, or null.</summary>
    public static MySqlCharset? FromCollationId(int id) => id switch
    {
        63 => MySqlCharset.Binary,
        5 or 8 or 15 or 31 or 47 or 48 or 49 or 94 => MySqlCharset.Latin1,
        11 or 65 => MySqlCharset.Ascii,
        33 or 83 or (>= 192 and <= 215) or 223 or 76 => MySqlCharset.Utf8,
        45 or 46 or (>= 224 and <= 247) or (>= 255 and <= 323) => MySqlCharset.Utf8,
        35 or 90 or (>= 128 and <= 151) or 159 => MySqlCharset.Ucs2,
        54 or 55 or (>= 101 and <= 124) or 122 => MySqlCharset.Utf16,
        56 or 62 => MySqlCharset.Utf16Le,
        60 or 61 or (>= 160 and <= 183) => MySqlCharset.Utf32,
        // MariaDB 10.10+ UCA 14.0 collations: 2048 + (charset << 8) + ..., the charset being utf8mb3 0, utf8mb4 1, ucs2 2,
        // utf16 3, utf32 4 (my_uca1400_make_builtin_collation_id).
        >= 2048 and < 2048 + (2 << 8) => MySqlCharset.Utf8,
        >= 2048 + (2 << 8) and < 2048 + (3 << 8) => MySqlCharset.Ucs2,
        >= 2048 + (3 << 8) and < 2048 + (4 << 8) => MySqlCharset.Utf16,
        >= 2048 + (4 << 8) and < 2048 + (5 << 8) => MySqlCharset.Utf32,
        _ => null,
    };

    /// <summary>The largest number of UTF-8 bytes that <paramref name="length"/> bytes of <paramref name="charset"/> become.</summary>
    public static int MaxUtf8Length(MySqlCharset charset, int length) => charset switch
    {
        MySqlCharset.Latin1 => length * 3,
        MySqlCharset.Ucs2 or MySqlCharset.Utf16 or MySqlCharset.Utf16Le => (length / 2 * 3) + 3,
        MySqlCharset.Utf32 => length,
        _ => length,
    };

    /// <summary>Transcodes text of a charset to UTF-8.</summary>
    /// <returns>The number of bytes written to <paramref name="destination"/> (sized with <see cref="MaxUtf8Length"/>).</returns>
    /// <exception cref="FormatException">The bytes are not valid in the charset.</exception>
    public static int ToUtf8(MySqlCharset charset, ReadOnlySpan<byte> source, Span<byte> destination)
    {
        switch (charset)
        {
            case MySqlCharset.Latin1:
                var at = 0;
                foreach (var b in source)
                {
                    if (b < 0x80)
                    {
                        destination[at++] = b;
                        continue;
                    }

                    var c = Latin1Map[b];
                    if (c < 0x800)
                    {
                        destination[at++] = (byte)(0xC0 | (c >> 6));
                        destination[at++] = (byte)(0x80 | (c & 0x3F));
                    }
                    else
                    {
                        destination[at++] = (byte)(0xE0 | (c >> 12));
                        destination[at++] = (byte)(0x80 | ((c >> 6) & 0x3F));
                        destination[at++] = (byte)(0x80 | (c & 0x3F));
                    }
                }

                return at;
            case MySqlCharset.Ascii:
                if (source.ContainsAnyExceptInRange((byte)0, (byte)0x7F))
                {
                    throw new FormatException("an ascii column holds a byte above 0x7F");
                }

                source.CopyTo(destination);
                return source.Length;
            case MySqlCharset.Ucs2 or MySqlCharset.Utf16:
                return Encoding.UTF8.GetBytes(Utf16BigEndian.GetString(source), destination);
            case MySqlCharset.Utf16Le:
                return Encoding.UTF8.GetBytes(Utf16LittleEndian.GetString(source), destination);
            case MySqlCharset.Utf32:
                return Encoding.UTF8.GetBytes(Utf32BigEndian.GetString(source), destination);
            default:
                if (!System.Text.Unicode.Utf8.IsValid(source))
                {
                    throw new FormatException("a utf8 column holds bytes that are not valid UTF-8");
                }

                source.CopyTo(destination);
                return source.Length;
        }
    }

    /// <summary>Decodes text of a charset to a string (the object path).</summary>
    public static string ToString(MySqlCharset charset, ReadOnlySpan<byte> source)
    {
        var buffer = new byte[MaxUtf8Length(charset, source.Length)];
        var length = ToUtf8(charset, source, buffer);
        return Encoding.UTF8.GetString(buffer, 0, length);
    }

    private static char[] BuildLatin1()
    {
        var map = new char[256];
        for (var i = 0; i < 256; i++)
        {
            map[i] = (char)i;
        }

        ReadOnlySpan<char> high =
        [
            '\u20AC', '\u0081', '\u201A', '\u0192', '\u201E', '\u2026', '\u2020', '\u2021', '\u02C6', '\u2030', '\u0160', '\u2039', '\u0152', '\u008D', '\u017D', '\u008F',
            '\u0090', '\u2018', '\u2019', '\u201C', '\u201D', '\u2022', '\u2013', '\u2014', '\u02DC', '\u2122', '\u0161', '\u203A', '\u0153', '\u009D', '\u017E', '\u0178',
        ];
        high.CopyTo(map.AsSpan(0x80));
        return map;
    }
}
