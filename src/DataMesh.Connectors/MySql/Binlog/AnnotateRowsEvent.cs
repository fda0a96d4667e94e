namespace DataMesh.Connectors.MySql.Binlog;

/// <summary>MariaDB's ANNOTATE_ROWS (160): the statement that produced the row events that follow (with
/// <c>binlog_annotate_row_events</c>). A <see langword="ref struct"/> over the event's bytes: no allocation.</summary>
internal readonly ref struct AnnotateRowsEvent
{
    private AnnotateRowsEvent(ReadOnlySpan<byte> query) => Query = query;

    /// <summary>The statement's text.</summary>
    public ReadOnlySpan<byte> Query { get; }

    /// <summary>Parses the event body (after the header, without the checksum).</summary>
    public static AnnotateRowsEvent Parse(ReadOnlySpan<byte> body) => new(body);
}
