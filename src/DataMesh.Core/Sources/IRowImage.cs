using DataMesh.Avro;

namespace DataMesh.Sources;

/// <summary>What a row image holds for one column.</summary>
public enum ColumnValueState : byte
{
    /// <summary>A value, written by <see cref="IRowImage.WriteValue"/>.</summary>
    Value,

    /// <summary>SQL NULL.</summary>
    Null,

    /// <summary>The log did not carry the column in this image (PostgreSQL's unchanged TOASTed value or key-only old
    /// tuple, MySQL's <c>binlog_row_image=MINIMAL</c>). The runtime takes it from the other image of the change where that
    /// one has it, or writes the placeholder where the table allows one, or stops with an error naming the column.</summary>
    Missing,
}

/// <summary>
/// One image (before or after) of a changed row, as a connector decoded it, read by the source runtime while it writes
/// the key and the envelope. Connectors implement it as a <c>ref struct</c> over the bytes of the log message in hand, so
/// that nothing is allocated per row: the runtime's methods are generic over the image type
/// (<c>allows ref struct</c>) and read the image only during the call.
/// </summary>
/// <remarks>Columns are numbered as in the table's <see cref="Events.TableDescription.Columns"/>.</remarks>
public interface IRowImage
{
    /// <summary>Whether the image has a value, NULL, or nothing for a column.</summary>
    /// <param name="column">The column's index.</param>
    ColumnValueState State(int column);

    /// <summary>Writes a column's value as its Avro type (see <c>docs/type-mapping.md</c>), without the union branch of a
    /// nullable column (the runtime writes it). Called only for columns whose state is <see cref="ColumnValueState.Value"/>.</summary>
    /// <param name="writer">The writer.</param>
    /// <param name="column">The column's index.</param>
    /// <exception cref="FormatException">The value cannot be read; the runtime adds the table, column and position.</exception>
    void WriteValue(ref AvroWriter writer, int column);
}

/// <summary>
/// The per-event part of the envelope's <c>source</c> block: the commit time, the transaction id and the connector's
/// position fields (<see cref="Events.SourceDescription.PositionFields"/>). The runtime writes the common fields (version,
/// connector, name, snapshot, db, schema, table) itself. Connectors implement it as a struct or <c>ref struct</c>.
/// </summary>
public interface ISourceBlock
{
    /// <summary>When the change was committed in the database, in milliseconds since the Unix epoch.</summary>
    long CommitTimestampMs { get; }

    /// <summary>The transaction id, if the database has one.</summary>
    long? TransactionId { get; }

    /// <summary>Writes the connector's position fields, in the order and the Avro types of
    /// <see cref="Events.SourceDescription.PositionFields"/>.</summary>
    /// <param name="writer">The writer.</param>
    void WritePositionFields(ref AvroWriter writer);
}

/// <summary>How a change's rows were read: from the log, or by a snapshot (<c>source.snapshot</c>).</summary>
public enum SnapshotMarker
{
    /// <summary>A log event: <c>false</c>.</summary>
    None,

    /// <summary>A snapshot row: <c>true</c>.</summary>
    Snapshot,

    /// <summary>The last row of a snapshot: <c>last</c>.</summary>
    Last,

    /// <summary>A row of an incremental (on-demand, interleaved) snapshot: <c>incremental</c>.</summary>
    Incremental,
}
