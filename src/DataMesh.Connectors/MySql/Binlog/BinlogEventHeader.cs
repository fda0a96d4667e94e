using System.Buffers.Binary;

namespace DataMesh.Connectors.MySql.Binlog;

/// <summary>The 19-byte header of a binlog event (format v4): timestamp, type, server id, size, next position, flags.</summary>
internal readonly struct BinlogEventHeader
{
    public const int Length = 19;

    /// <summary>LOG_EVENT_ARTIFICIAL_F: an event the server made up for the stream (a fake ROTATE), not in any file.</summary>
    public const ushort ArtificialFlag = 0x20;

    public BinlogEventHeader(uint timestamp, byte type, uint serverId, uint eventSize, uint nextPosition, ushort flags)
    {
        Timestamp = timestamp;
        Type = type;
        ServerId = serverId;
        EventSize = eventSize;
        NextPosition = nextPosition;
        Flags = flags;
    }

    /// <summary>When the statement began, in seconds since the Unix epoch.</summary>
    public uint Timestamp { get; }

    public byte Type { get; }

    public BinlogEventType EventType => (BinlogEventType)Type;

    public uint ServerId { get; }

    /// <summary>The whole event's size, header and checksum included.</summary>
    public uint EventSize { get; }

    /// <summary>The position of the next event in the binlog file (0 for artificial events and fake FORMAT_DESCRIPTIONs).</summary>
    public uint NextPosition { get; }

    public ushort Flags { get; }

    public bool IsArtificial => (Flags & ArtificialFlag) != 0;

    /// <summary>Reads the header of <paramref name="data"/> (one whole event) and checks the size it declares.</summary>
    /// <exception cref="BinlogFormatException">Fewer than 19 bytes, or a size that is not the event's length.</exception>
    public static BinlogEventHeader Parse(ReadOnlySpan<byte> data)
    {
        if (data.Length < Length)
        {
            throw new BinlogFormatException("event header", "header", 0, $"truncated: an event has at least {Length} bytes, {data.Length} were given");
        }

        var header = new BinlogEventHeader(
            BinaryPrimitives.ReadUInt32LittleEndian(data),
            data[4],
            BinaryPrimitives.ReadUInt32LittleEndian(data[5..]),
            BinaryPrimitives.ReadUInt32LittleEndian(data[9..]),
            BinaryPrimitives.ReadUInt32LittleEndian(data[13..]),
            BinaryPrimitives.ReadUInt16LittleEndian(data[17..]));
        if (header.EventSize != (uint)data.Length)
        {
            throw new BinlogFormatException(BinlogEventTypes.Name(header.Type), "event_size", 9, $"the header says {header.EventSize} bytes but the event has {data.Length}");
        }

        return header;
    }
}
