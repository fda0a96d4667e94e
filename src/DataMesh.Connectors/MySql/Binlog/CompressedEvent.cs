using System.Buffers.Binary;
using DataMesh.Connectors.Compression;

namespace DataMesh.Connectors.MySql.Binlog;

/// <summary>
/// MariaDB's compressed events (<c>log_bin_compress=ON</c>, MariaDB 10.2.3+): QUERY_COMPRESSED (165) and the rows events
/// WRITE/UPDATE/DELETE_ROWS_COMPRESSED_V1 (166–168) and _COMPRESSED (169–171). Each is the uncompressed event with one
/// part compressed: a QUERY's statement text (after the default database and its NUL), a rows event's rows (after the
/// column count and bitmaps). That part is a record: one byte (bit 7 set; bits 4–6 the algorithm, 0 = zlib; bits 0–2
/// the number of length bytes, 1–4), the uncompressed length in that many bytes high byte first, then a zlib stream
/// (MariaDB's <c>binlog_buf_compress</c>/<c>binlog_buf_uncompress</c> and <c>query_event_uncompress</c>/
/// <c>row_log_event_uncompress</c> in <c>sql/log_event.cc</c>). Inflating gives the body of the plain event of the same
/// kind, which the rest of the parser reads as it reads any other.
/// </summary>
internal static class CompressedEvent
{
    /// <summary>The largest statement or rows part accepted (MariaDB's <c>max_allowed_packet</c> cannot exceed 1 GiB, and
    /// no event is larger).</summary>
    internal const int MaxUncompressedLength = 1024 * 1024 * 1024;

    /// <summary>Inflates a compressed event's body into <paramref name="buffer"/> (grown when too small).</summary>
    /// <param name="type">The event's type (QUERY_COMPRESSED or a compressed rows event).</param>
    /// <param name="body">The event's body: after the common header, without the checksum.</param>
    /// <param name="format">The binlog's format description (its post-header lengths).</param>
    /// <param name="buffer">Reused across events.</param>
    /// <param name="length">The plain event's body's length: its first bytes of <paramref name="buffer"/>.</param>
    /// <returns>The plain event's type (QUERY, or the rows event of the same kind and layout).</returns>
    /// <exception cref="BinlogFormatException">A compressed part that cannot be read: an unknown algorithm or length size,
    /// a length over 1 GiB, data that is not zlib, or that inflates to another length than it states.</exception>
    public static BinlogEventType Inflate(BinlogEventType type, ReadOnlySpan<byte> body, FormatDescriptionEvent format, ref byte[] buffer, out int length)
    {
        var name = BinlogEventTypes.Name((byte)type);
        var (plainType, start) = type == BinlogEventType.QueryCompressed ? QueryPart(body, format, name) : RowsPart(type, body, format, name);
        var record = body[start..];
        var recordOffset = BinlogEventHeader.Length + start;
        if (record.Length < 2 || (record[0] & 0x80) == 0)
        {
            throw new BinlogFormatException(name, "compressed_record", recordOffset, "the compressed part does not start with a compressed record's header byte (bit 7 set)");
        }

        var algorithm = (record[0] & 0x70) >> 4;
        if (algorithm != 0)
        {
            throw new BinlogFormatException(name, "compressed_record", recordOffset, $"compression algorithm {algorithm} is not known (MariaDB writes 0, zlib)");
        }

        var lengthBytes = record[0] & 0x07;
        if (lengthBytes is < 1 or > 4 || record.Length < 1 + lengthBytes)
        {
            throw new BinlogFormatException(name, "compressed_record", recordOffset, $"the uncompressed length takes {lengthBytes} bytes; 1 to 4 are valid");
        }

        var stated = 0L;
        foreach (var b in record.Slice(1, lengthBytes))
        {
            stated = (stated << 8) | b;
        }

        if (stated > MaxUncompressedLength)
        {
            throw new BinlogFormatException(name, "compressed_record", recordOffset + 1, $"the uncompressed length {stated} is over 1 GiB, more than any event may hold");
        }

        var data = record[(1 + lengthBytes)..];
        var dataOffset = recordOffset + 1 + lengthBytes;
        if (!ExactDecompression.ZlibCanHold(data.Length, stated))
        {
            // Checked before anything is allocated: a broken length must not make the host allocate up to 1 GiB.
            throw new BinlogFormatException(name, "compressed_record", recordOffset + 1, $"the uncompressed length {stated} is more than {data.Length} bytes of zlib data can inflate to");
        }

        var size = start + (int)stated;
        ExactDecompression.Fit(ref buffer, size);

        body[..start].CopyTo(buffer);
        if (ExactDecompression.Zlib(data, buffer.AsSpan(start, (int)stated)) is { } problem)
        {
            throw new BinlogFormatException(name, "compressed_data", dataOffset, problem);
        }

        length = size;
        return plainType;
    }

    /// <summary>Where a QUERY_COMPRESSED's statement starts: after the post-header, the status variables, the default
    /// database and its NUL.</summary>
    private static (BinlogEventType, int) QueryPart(ReadOnlySpan<byte> body, FormatDescriptionEvent format, string name)
    {
        var postHeader = format.PostHeaderLength(BinlogEventType.QueryCompressed);
        if (postHeader < 13)
        {
            postHeader = 13; // thread id, execution time, database length, error code, status variables' length
        }

        if (body.Length < postHeader)
        {
            throw new BinlogFormatException(name, "post_header", BinlogEventHeader.Length, $"the event's {body.Length} bytes end inside its {postHeader}-byte post-header");
        }

        var databaseLength = body[8];
        var statusLength = BinaryPrimitives.ReadUInt16LittleEndian(body[11..]);
        var start = postHeader + statusLength + databaseLength + 1;
        if (start >= body.Length)
        {
            throw new BinlogFormatException(name, "status_vars_length", BinlogEventHeader.Length + 11, $"the status variables ({statusLength} bytes) and the database name ({databaseLength}) run past the event's end");
        }

        return (BinlogEventType.Query, start);
    }

    /// <summary>Where a compressed rows event's rows start: after the post-header (and a v2 layout's extra data), the
    /// column count and the column bitmap(s). The plain type follows the layout the format description gives, as MariaDB
    /// decides it.</summary>
    private static (BinlogEventType, int) RowsPart(BinlogEventType type, ReadOnlySpan<byte> body, FormatDescriptionEvent format, string name)
    {
        const int headerV1 = 8; // table id (6) and flags (2)
        var v2 = format.PostHeaderLength(type) == headerV1 + 2;
        var kind = type >= BinlogEventType.WriteRowsCompressed ? type - BinlogEventType.WriteRowsCompressed : type - BinlogEventType.WriteRowsCompressedV1;
        var plainType = (BinlogEventType)((byte)(v2 ? BinlogEventType.WriteRowsV2 : BinlogEventType.WriteRowsV1) + kind);
        var reader = new Protocol.PayloadReader(body, name, BinlogEventHeader.Length);
        reader.Skip(headerV1, "post_header");
        if (v2)
        {
            var extra = reader.ReadUInt16("var_header_len");
            if (extra < 2)
            {
                throw new BinlogFormatException(name, "var_header_len", BinlogEventHeader.Length + headerV1, $"the extra data's length {extra} is less than its own 2 bytes");
            }

            reader.Skip(extra - 2, "extra_data");
        }

        var width = reader.ReadLengthEncodedCount("column_count");
        var bitmaps = (int)Math.Min(int.MaxValue, (width + 7L) / 8 * (kind == 1 ? 2 : 1));
        reader.Skip(bitmaps, "columns_present_bitmap");
        return (plainType, reader.Offset);
    }
}
