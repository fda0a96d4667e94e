using System.Buffers.Binary;
using DataMesh.Connectors.Compression;

namespace DataMesh.Connectors.MySql.Binlog;

/// <summary>One event as the decoder hands it out: its header, its body without the checksum, and where it is.
/// Valid while the event's bytes are.</summary>
internal readonly ref struct BinlogEvent
{
    public BinlogEvent(BinlogEventHeader header, ReadOnlySpan<byte> data, ReadOnlySpan<byte> body, long position)
        : this(header, header.EventType, data, body, position)
    {
    }

    /// <summary>An event read as another type than its header's: a compressed event inflated (<see cref="CompressedEvent"/>).</summary>
    public BinlogEvent(BinlogEventHeader header, BinlogEventType type, ReadOnlySpan<byte> data, ReadOnlySpan<byte> body, long position)
    {
        Header = header;
        Type = type;
        Data = data;
        Body = body;
        Position = position;
    }

    public BinlogEventHeader Header { get; }

    /// <summary>The type to read the event as: its header's, except for a MariaDB compressed event, which is read as the plain
    /// event it was made from (QUERY, WRITE_ROWS_v1, ...; its <see cref="Header"/> keeps the compressed type).</summary>
    public BinlogEventType Type { get; }

    /// <summary>The whole event, header and checksum included (compressed, for a compressed event).</summary>
    public ReadOnlySpan<byte> Data { get; }

    /// <summary>The bytes after the header, without the checksum (inflated, for a compressed event: valid until the next
    /// event is decoded).</summary>
    public ReadOnlySpan<byte> Body { get; }

    /// <summary>The event's start position in the current file (-1 when unknown, e.g. for artificial events).</summary>
    public long Position { get; }
}

/// <summary>
/// The binlog parser's state across events, the same for a server stream and a file on disk: the current file
/// and position, the format description (checksum algorithm, post-header lengths), the table maps by id. Every
/// event's CRC32 is verified before anything of it is used; unknown event types are skipped by their length and
/// counted.
/// </summary>
internal sealed class BinlogDecoder
{
    private readonly Dictionary<long, TableMapEvent> _tableMaps = [];
    private int _tableIdLength = 6;
    private byte[] _inflated = [];
    private byte[] _payload = [];

    /// <summary>Creates a decoder.</summary>
    /// <param name="file">The file the events come from, or null until a ROTATE names it.</param>
    /// <param name="checksumLength">The checksum bytes of events before the first FORMAT_DESCRIPTION (4 when the
    /// session negotiated CRC32 with the server, 0 otherwise).</param>
    public BinlogDecoder(string? file, int checksumLength)
    {
        File = file;
        ChecksumLength = checksumLength;
    }

    /// <summary>The current binlog file.</summary>
    public string? File { get; private set; }

    /// <summary>The position after the last event decoded (the next event's start), or 4 at a file's start.</summary>
    public long NextPosition { get; private set; } = 4;

    public FormatDescriptionEvent Format { get; private set; } = FormatDescriptionEvent.Default;

    /// <summary>The checksum bytes every event ends with.</summary>
    public int ChecksumLength { get; private set; }

    /// <summary>Events of types this decoder does not know, skipped.</summary>
    public long UnknownEvents { get; private set; }

    /// <summary>Events decoded.</summary>
    public long Events { get; private set; }

    public int TableIdLength => _tableIdLength;

    /// <summary>Checks, frames and tracks one event. FORMAT_DESCRIPTION, ROTATE and TABLE_MAP update the state here;
    /// the caller handles the rest by <see cref="BinlogEvent.Type"/>.</summary>
    /// <exception cref="BinlogFormatException">A truncated event, a wrong size, a checksum mismatch or an unreadable
    /// FORMAT_DESCRIPTION, ROTATE or TABLE_MAP; the message gives the file and position.</exception>
    public BinlogEvent Decode(ReadOnlySpan<byte> data)
    {
        var start = NextPosition;
        try
        {
            var header = BinlogEventHeader.Parse(data);
            if (header.NextPosition != 0 && !header.IsArtificial)
            {
                start = header.NextPosition - (long)header.EventSize;
            }

            var checksum = header.EventType == BinlogEventType.FormatDescription ? FormatChecksumLength(data) : ChecksumLength;
            if (checksum > 0)
            {
                VerifyChecksum(data, header);
            }

            var body = data[BinlogEventHeader.Length..^checksum];
            Events++;
            switch (header.EventType)
            {
                case BinlogEventType.FormatDescription:
                    Format = FormatDescriptionEvent.Parse(data);
                    ChecksumLength = Format.ChecksumLength;
                    _tableIdLength = Format.PostHeaderLength(BinlogEventType.TableMap) == 6 ? 4 : 6;
                    _tableMaps.Clear();
                    break;
                case BinlogEventType.Rotate:
                    var rotate = RotateEvent.Parse(body);
                    File = rotate.NextFile;
                    NextPosition = rotate.Position;
                    return new BinlogEvent(header, data, body, start);
                case BinlogEventType.TableMap:
                    TrackTableMap(body);
                    break;
                case BinlogEventType.QueryCompressed or >= BinlogEventType.WriteRowsCompressedV1 and <= BinlogEventType.DeleteRowsCompressed:
                    var plainType = CompressedEvent.Inflate(header.EventType, body, Format, ref _inflated, out var inflated);
                    AdvancePast(header);
                    return new BinlogEvent(header, plainType, data, _inflated.AsSpan(0, inflated), start);
                case BinlogEventType.PartialUpdateRows:
                    throw PartialUpdates();
                default:
                    if (!IsKnown(header.EventType))
                    {
                        UnknownEvents++;
                    }

                    break;
            }

            AdvancePast(header);
            return new BinlogEvent(header, data, body, start);
        }
        catch (BinlogFormatException ex)
        {
            throw BinlogFormatException.At(ex, File, start);
        }
    }

    /// <summary>The events a TRANSACTION_PAYLOAD holds (MySQL's <c>binlog_transaction_compression=ON</c>), decompressed, one
    /// after another: each read with <see cref="DecodeEmbedded"/>. Valid until the next payload is unpacked.</summary>
    /// <exception cref="BinlogFormatException">A header that cannot be read, an uncompressed size over 1 GiB, or a payload
    /// that does not decompress to exactly that size.</exception>
    public ReadOnlySpan<byte> UnpackPayload(BinlogEvent payload)
    {
        var e = TransactionPayloadEvent.Parse(payload.Body);
        if (e.UncompressedSize > CompressedEvent.MaxUncompressedLength)
        {
            throw new BinlogFormatException("TRANSACTION_PAYLOAD", "uncompressed_size", BinlogEventHeader.Length, $"the uncompressed size {e.UncompressedSize} is over 1 GiB, more than a transaction's events may hold here");
        }

        if (e.Compression == TransactionPayloadEvent.None)
        {
            return e.UncompressedSize == e.Payload.Length
                ? e.Payload
                : throw new BinlogFormatException("TRANSACTION_PAYLOAD", "uncompressed_size", BinlogEventHeader.Length, $"an uncompressed payload of {e.Payload.Length} bytes gives its size as {e.UncompressedSize}");
        }

        if (!ExactDecompression.ZstdCanHold(e.Payload.Length, e.UncompressedSize))
        {
            // Checked before anything is allocated: a broken size in a small event must not make the host allocate up to 1 GiB.
            throw new BinlogFormatException("TRANSACTION_PAYLOAD", "uncompressed_size", BinlogEventHeader.Length, $"the uncompressed size {e.UncompressedSize} is more than {e.Payload.Length} bytes of zstd data can decompress to");
        }

        var size = (int)e.UncompressedSize;
        ExactDecompression.Fit(ref _payload, size);

        var events = _payload.AsSpan(0, size);
        return ExactDecompression.Zstd(e.Payload, events) is { } problem
            ? throw new BinlogFormatException("TRANSACTION_PAYLOAD", "payload", e.PayloadOffset, problem)
            : events;
    }

    /// <summary>Checks, frames and tracks one event of a TRANSACTION_PAYLOAD (<see cref="UnpackPayload"/>): it has no
    /// checksum, and its header's next position is no place in the file. Every position of it is the payload event's
    /// (<paramref name="position"/>); the decoder's <see cref="NextPosition"/> stays after the payload event, where a
    /// restart resumes once the transaction committed.</summary>
    /// <exception cref="BinlogFormatException">A truncated event, or one that cannot be inside a transaction's payload (a
    /// FORMAT_DESCRIPTION, ROTATE, TRANSACTION_PAYLOAD or compressed event).</exception>
    public BinlogEvent DecodeEmbedded(ReadOnlySpan<byte> data, long position)
    {
        var header = BinlogEventHeader.Parse(data);
        if (header.EventType is BinlogEventType.FormatDescription or BinlogEventType.Rotate or BinlogEventType.TransactionPayload
            || header.EventType is BinlogEventType.QueryCompressed or >= BinlogEventType.WriteRowsCompressedV1 and <= BinlogEventType.DeleteRowsCompressed)
        {
            throw new BinlogFormatException(BinlogEventTypes.Name(header.Type), "type", 4, "this event cannot be inside a TRANSACTION_PAYLOAD");
        }

        var body = data[BinlogEventHeader.Length..];
        Events++;
        if (header.EventType == BinlogEventType.TableMap)
        {
            TrackTableMap(body);
        }
        else if (header.EventType is BinlogEventType.PartialUpdateRows)
        {
            throw PartialUpdates();
        }
        else if (!IsKnown(header.EventType))
        {
            UnknownEvents++;
        }

        return new BinlogEvent(header, data, body, position);
    }

    /// <summary>Keeps a TABLE_MAP's table by its id (parsed again only when its bytes changed).</summary>
    private void TrackTableMap(ReadOnlySpan<byte> body)
    {
        var id = TableMapEvent.ReadTableId(body, _tableIdLength);
        if (!_tableMaps.TryGetValue(id, out var existing) || !existing.Matches(body))
        {
            _tableMaps[id] = TableMapEvent.Parse(body, _tableIdLength);
        }
    }

    private void AdvancePast(BinlogEventHeader header)
    {
        if (header.NextPosition != 0 && !header.IsArtificial)
        {
            NextPosition = header.NextPosition;
        }
    }

    /// <summary>The table map of a table id, from the TABLE_MAP that came before.</summary>
    /// <exception cref="BinlogFormatException">No TABLE_MAP gave the id.</exception>
    public TableMapEvent GetTableMap(long tableId, string eventType, long position)
    {
        if (_tableMaps.TryGetValue(tableId, out var map))
        {
            return map;
        }

        throw BinlogFormatException.At(new BinlogFormatException(eventType, "table_id", BinlogEventHeader.Length, $"no TABLE_MAP came before for table id {tableId}"), File, position);
    }

    /// <summary>Forgets the table maps (a new dump starts) and moves to a file and position.</summary>
    public void Reset(string? file, long position, int checksumLength)
    {
        _tableMaps.Clear();
        File = file;
        NextPosition = position;
        ChecksumLength = checksumLength;
        Format = FormatDescriptionEvent.Default;
    }

    private static BinlogFormatException PartialUpdates() =>
        new("PARTIAL_UPDATE_ROWS", "type", 4, "partial JSON updates (binlog_row_value_options=PARTIAL_JSON) are not supported; set binlog_row_value_options to ''");

    private static int FormatChecksumLength(ReadOnlySpan<byte> data)
    {
        // The algorithm byte sits just before the 4-byte checksum: the event says itself whether it has one.
        if (data.Length < BinlogEventHeader.Length + 57 + 5)
        {
            return 0;
        }

        return data[^5] == FormatDescriptionEvent.ChecksumCrc32 ? 4 : 0;
    }

    private static void VerifyChecksum(ReadOnlySpan<byte> data, BinlogEventHeader header)
    {
        var expected = BinaryPrimitives.ReadUInt32LittleEndian(data[^4..]);
        var actual = Crc32.Compute(data[..^4]);
        if (expected != actual)
        {
            throw new BinlogFormatException(BinlogEventTypes.Name(header.Type), "checksum", data.Length - 4, $"CRC32 mismatch: the event says 0x{expected:X8}, its bytes give 0x{actual:X8} (corrupt event)");
        }
    }

    private static bool IsKnown(BinlogEventType type) => type is BinlogEventType.Query or BinlogEventType.Stop or BinlogEventType.Xid
        or BinlogEventType.Intvar or BinlogEventType.Rand or BinlogEventType.UserVar or BinlogEventType.Heartbeat or BinlogEventType.HeartbeatV2
        or BinlogEventType.RowsQuery or BinlogEventType.MySqlGtid or BinlogEventType.MySqlAnonymousGtid or BinlogEventType.PreviousGtids
        or BinlogEventType.AnnotateRows or BinlogEventType.BinlogCheckpoint or BinlogEventType.MariaDbGtid or BinlogEventType.GtidList
        or BinlogEventType.StartEncryption or BinlogEventType.Incident or BinlogEventType.XaPrepare or BinlogEventType.TransactionContext
        or BinlogEventType.ViewChange or BinlogEventType.Ignorable or BinlogEventType.GtidTagged
        or BinlogEventType.BeginLoadQuery or BinlogEventType.AppendBlock or BinlogEventType.ExecuteLoadQuery or BinlogEventType.DeleteFile
        || RowsEvent.IsRowsEvent(type);
}
