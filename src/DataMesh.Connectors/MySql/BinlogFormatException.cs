namespace DataMesh.Connectors.MySql;

/// <summary>
/// Binlog or protocol bytes that cannot be decoded: a truncated or corrupt event, a checksum that does not match, a
/// row that does not fit its table map. The message names the event type, the field, the byte offset within the
/// event and the event's position in the binlog (file and offset), so the bad bytes can be found with
/// <c>mariadb-binlog --start-position</c>.
/// </summary>
public sealed class BinlogFormatException : FormatException
{
    /// <summary>Creates an exception with a message only.</summary>
    public BinlogFormatException()
        : this("The binlog could not be decoded.")
    {
    }

    /// <summary>Creates an exception with a message.</summary>
    /// <param name="message">What was wrong.</param>
    public BinlogFormatException(string message)
        : base(message)
    {
    }

    /// <summary>Creates an exception with a message and its cause.</summary>
    /// <param name="message">What was wrong.</param>
    /// <param name="innerException">The cause.</param>
    public BinlogFormatException(string message, Exception innerException)
        : base(message, innerException)
    {
    }

    internal BinlogFormatException(string eventType, string field, int offset, string detail)
        : base($"{eventType} event: {detail} (field '{field}', byte {offset} of the event)")
    {
        EventType = eventType;
        Field = field;
        EventOffset = offset;
    }

    private BinlogFormatException(BinlogFormatException inner, string? file, long position)
        : base($"{inner.Message} at binlog {(file is null ? string.Empty : file + ":")}{position}", inner)
    {
        EventType = inner.EventType;
        Field = inner.Field;
        EventOffset = inner.EventOffset;
        File = file;
        Position = position;
    }

    /// <summary>The event type being decoded (e.g. <c>TABLE_MAP</c>, <c>WRITE_ROWS_v1</c>), or null.</summary>
    public string? EventType { get; }

    /// <summary>The field being read when the problem was found, or null.</summary>
    public string? Field { get; }

    /// <summary>The byte offset within the event (from its header's first byte) where the problem was found, or -1.</summary>
    public int EventOffset { get; } = -1;

    /// <summary>The binlog file of the event, or null when unknown.</summary>
    public string? File { get; }

    /// <summary>The event's start position in <see cref="File"/>, or -1 when unknown.</summary>
    public long Position { get; } = -1;

    /// <summary>Adds the event's place in the binlog to an exception that lacks it.</summary>
    internal static BinlogFormatException At(BinlogFormatException inner, string? file, long position) =>
        inner.Position >= 0 ? inner : new BinlogFormatException(inner, file, position);
}
