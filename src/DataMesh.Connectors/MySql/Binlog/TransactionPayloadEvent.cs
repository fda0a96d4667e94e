namespace DataMesh.Connectors.MySql.Binlog;

/// <summary>
/// TRANSACTION_PAYLOAD (40), MySQL 8.0.20+ with <c>binlog_transaction_compression=ON</c>: a whole transaction's events
/// (its QUERY BEGIN, TABLE_MAPs, rows events and XID; the GTID event stays outside, before it) written one after another
/// without checksums and compressed together. The body is a header of fields, each a packed integer type, a packed
/// integer length and a packed integer value (1 the payload's size, 2 the compression type: 0 zstd, 255 none, 3 the
/// uncompressed size; others skipped by their length), ended by type 0, then the payload (MySQL's
/// <c>binary_log::codecs::binary::Transaction_payload</c>; "Binary Log Transaction Compression" in the reference manual).
/// A <see langword="ref struct"/> over the event's bytes.
/// </summary>
internal readonly ref struct TransactionPayloadEvent
{
    /// <summary>MySQL's <c>compression::type::ZSTD</c>.</summary>
    public const int Zstd = 0;

    /// <summary>MySQL's <c>compression::type::NONE</c>.</summary>
    public const int None = 255;

    private TransactionPayloadEvent(int compression, long uncompressedSize, ReadOnlySpan<byte> payload, int payloadOffset)
    {
        Compression = compression;
        UncompressedSize = uncompressedSize;
        Payload = payload;
        PayloadOffset = payloadOffset;
    }

    /// <summary><see cref="Zstd"/> or <see cref="None"/>.</summary>
    public int Compression { get; }

    /// <summary>The events' length once decompressed.</summary>
    public long UncompressedSize { get; }

    /// <summary>The compressed events.</summary>
    public ReadOnlySpan<byte> Payload { get; }

    /// <summary>Where <see cref="Payload"/> starts, from the event's first byte.</summary>
    public int PayloadOffset { get; }

    /// <summary>Parses the event body (after the header, without the checksum).</summary>
    /// <exception cref="BinlogFormatException">A header that is cut short, lacks the payload's size or compression type,
    /// names an unknown compression type, or a payload size other than the bytes that follow.</exception>
    public static TransactionPayloadEvent Parse(ReadOnlySpan<byte> body)
    {
        const string name = "TRANSACTION_PAYLOAD";
        var reader = new Protocol.PayloadReader(body, name, BinlogEventHeader.Length);
        long? size = null;
        long? compression = null;
        long? uncompressed = null;
        while (true)
        {
            var type = reader.ReadLengthEncoded("field_type");
            if (type == 0)
            {
                break;
            }

            var length = reader.ReadLengthEncodedCount("field_length");
            switch (type)
            {
                case 1:
                    size = Value(ref reader, "payload_size", length);
                    break;
                case 2:
                    compression = Value(ref reader, "compression_type", length);
                    break;
                case 3:
                    uncompressed = Value(ref reader, "uncompressed_size", length);
                    break;
                default:
                    reader.Skip(length, "unknown_field");
                    break;
            }
        }

        var offset = BinlogEventHeader.Length + reader.Offset;
        if (size is null || compression is null)
        {
            throw new BinlogFormatException(name, size is null ? "payload_size" : "compression_type", offset, "the payload header ends without the payload's size and compression type");
        }

        if (compression is not (Zstd or None))
        {
            throw new BinlogFormatException(name, "compression_type", BinlogEventHeader.Length, $"compression type {compression} is not known (MySQL writes 0, zstd, or 255, none)");
        }

        if (size != reader.Remaining)
        {
            throw new BinlogFormatException(name, "payload_size", offset, $"the header gives the payload {size} bytes, but {reader.Remaining} follow it");
        }

        var payload = reader.ReadSpan(reader.Remaining, "payload");
        // Without an uncompressed size, the payload's own (MySQL does the same).
        return new TransactionPayloadEvent((int)compression.Value, uncompressed is null or 0 ? size.Value : uncompressed.Value, payload, offset);
    }

    /// <summary>A field's value: a packed integer of the field's length (MySQL writes <c>net_length_size(value)</c>).</summary>
    private static long Value(ref Protocol.PayloadReader reader, string field, int length)
    {
        var start = reader.Offset;
        var value = reader.ReadLengthEncoded(field);
        if (reader.Offset - start != length)
        {
            throw new BinlogFormatException("TRANSACTION_PAYLOAD", field, BinlogEventHeader.Length + start, $"the field's length is {length} bytes, but its value takes {reader.Offset - start}");
        }

        return value > long.MaxValue ? long.MaxValue : (long)value;
    }
}
