using DataMesh.Avro;

namespace DataMesh.Sources;

/// <summary>
/// What the source runtime's snapshots (DBLog) need of one database: the watermarks that mark each chunk's window in the
/// log, the signal table, and chunked reads in key order. A connector that supports snapshots returns one from
/// <see cref="SourceConnector{TPosition}.CreateSnapshotDialect"/>; it must also capture the watermark and signal tables
/// (<see cref="SnapshotTables"/>) and hand their changes to the context like any other table's (the runtime recognises
/// them and never produces them).
/// </summary>
/// <remarks>
/// <para>One window per chunk, one state machine in the runtime: the window opens at the low watermark, the log's events of
/// the chunk's table inside it drop the chunk's rows of their keys, and at the high watermark the chunk's other rows are
/// emitted. The dialect decides how a watermark is taken (<see cref="TakeWatermarkAsync"/>) and how the log shows it,
/// after <see cref="SnapshotOptions.Watermarks"/>:</para>
/// <para><see cref="SnapshotWatermarks.Table"/>: a row of the watermark table, written (and committed) when taken; the
/// log brings it back as a change of that table and the context recognises it.</para>
/// <para><see cref="SnapshotWatermarks.ReadOnly"/>: nothing is written. No log event brings the low watermark: the runtime
/// opens the window itself before taking it, and the dialect's low watermark returns only once every transaction the log
/// delivered before is visible to the chunk's read. The high watermark is a position taken after the read; the connector
/// reports it (<see cref="SourceContext{TPosition}.Watermark"/>) when its log has passed every transaction the read could
/// see, and before any event of a transaction it could not.</para>
/// </remarks>
public interface ISnapshotDialect : IAsyncDisposable
{
    /// <summary>The watermark and signal tables, as the log names them.</summary>
    SnapshotTables Tables { get; }

    /// <summary>How the database quotes text: a snapshot's condition is checked with it when requested, so that it stays
    /// inside the parentheses the chunk's query puts it in. The default assumes PostgreSQL's standard strings; a dialect
    /// of another database says how it quotes.</summary>
    SqlQuoting ConditionQuoting => new(BackslashEscapes: false, PostgresStrings: true, HashComments: false);

    /// <summary>Creates the watermark table (and the signal table, if named) when missing: watermark table
    /// <c>(source varchar PRIMARY KEY, watermark varchar)</c>, signal table <c>(id varchar PRIMARY KEY, type varchar, data text)</c>.
    /// With <see cref="SnapshotWatermarks.ReadOnly"/> nothing is created: it checks that the server can take read-only
    /// watermarks and that the signal table, if named, exists.</summary>
    /// <param name="cancellationToken">Cancels the work.</param>
    Task PrepareAsync(CancellationToken cancellationToken);

    /// <summary>Takes a chunk's low watermark (before its read) or high watermark (after it). Table watermarks: writes
    /// (inserts or updates, and commits) the row of <paramref name="source"/> in the watermark table with
    /// <paramref name="watermark"/>, so that the change appears in the log. Read-only watermarks: see the remarks of
    /// <see cref="ISnapshotDialect"/>.</summary>
    /// <param name="source">The source's name (the row's key).</param>
    /// <param name="watermark">The watermark.</param>
    /// <param name="kind">Low or high.</param>
    /// <param name="cancellationToken">Cancels the work.</param>
    Task TakeWatermarkAsync(string source, string watermark, WatermarkKind kind, CancellationToken cancellationToken);

    /// <summary>The captured tables (for a snapshot of every table), described as the log would describe them now.</summary>
    /// <param name="cancellationToken">Cancels the work.</param>
    Task<IReadOnlyList<SourceTableInfo>> ListTablesAsync(CancellationToken cancellationToken);

    /// <summary>Describes one table now (a snapshot of some tables; a table's first chunk, and the next one after a chunk
    /// found the table changed).</summary>
    /// <param name="schema">Its schema (MySQL: database).</param>
    /// <param name="name">Its name.</param>
    /// <param name="cancellationToken">Cancels the work.</param>
    /// <returns>The description, or null when the table does not exist or is not captured.</returns>
    Task<SourceTableInfo?> DescribeTableAsync(string schema, string name, CancellationToken cancellationToken);

    /// <summary>A cheap estimate of a table's row count (statistics), or null.</summary>
    /// <param name="table">The table.</param>
    /// <param name="cancellationToken">Cancels the work.</param>
    Task<long?> EstimateRowsAsync(SourceTable table, CancellationToken cancellationToken);

    /// <summary>Why the columns named for a table in <see cref="SnapshotOptions.KeyColumns"/> cannot order its chunks, or null
    /// when they can: they must hold a unique key and be NOT NULL, else the reads after a key skip the rows that share it
    /// or whose key is NULL. The runtime refuses the table with the reason. The default checks nothing.</summary>
    /// <param name="table">The table, as described for the snapshot.</param>
    /// <param name="keyColumns">The named columns, in order.</param>
    /// <param name="cancellationToken">Cancels the work.</param>
    Task<string?> CheckKeyAsync(SourceTable table, IReadOnlyList<string> keyColumns, CancellationToken cancellationToken) => Task.FromResult<string?>(null);

    /// <summary>Reads the next chunk: first, in the read's own transaction and under a lock that keeps the table's
    /// definition (PostgreSQL: ACCESS SHARE), checks that the table still has the chunk's shape
    /// (<see cref="SnapshotRowWriter.Matches"/>) and returns <see cref="SnapshotChunkRead.Changed"/> when not; then the rows whose key (the <paramref name="request"/>'s key columns, compared as a row
    /// value) is greater than <see cref="SnapshotChunkRequest.After"/>, in key order, at most
    /// <see cref="SnapshotChunkRequest.Limit"/>, that also satisfy <see cref="SnapshotChunkRequest.Condition"/>; hands each to
    /// <paramref name="writer"/>, and stops after the row that makes <see cref="SnapshotRowWriter.IsFull"/> true. One short read: no lock held after it, no long transaction.</summary>
    /// <param name="request">The chunk.</param>
    /// <param name="writer">Takes each row.</param>
    /// <param name="cancellationToken">Cancels the read.</param>
    /// <returns>The rows read and the last row's key in the dialect's own form (what <see cref="SnapshotChunkRequest.After"/>
    /// takes), null when none was read.</returns>
    Task<SnapshotChunkRead> ReadChunkAsync(SnapshotChunkRequest request, SnapshotRowWriter writer, CancellationToken cancellationToken);

    /// <summary>Writes the connector's position fields of the <c>source</c> block of a snapshot row (no log position:
    /// nullable fields null, others their zero).</summary>
    /// <param name="writer">The writer.</param>
    void WritePositionFields(ref AvroWriter writer);
}

/// <summary>The watermark and signal tables of a source.</summary>
/// <param name="Schema">Their schema (PostgreSQL) or database (MySQL).</param>
/// <param name="Watermark">The watermark table, or null with <see cref="SnapshotWatermarks.ReadOnly"/> (none).</param>
/// <param name="Signal">The signal table, or null.</param>
public sealed record SnapshotTables(string Schema, string? Watermark, string? Signal);

/// <summary>Which of a chunk's two watermarks.</summary>
public enum WatermarkKind
{
    /// <summary>Taken before the chunk's read: opens its window.</summary>
    Low,

    /// <summary>Taken after the chunk's read: closes its window, where the chunk's rows are emitted.</summary>
    High,
}

/// <summary>One chunk to read.</summary>
/// <param name="Table">The table, as described for this chunk.</param>
/// <param name="KeyColumns">The columns the table is read by (its key, or the unique key named for it), in order.</param>
/// <param name="After">The last key already read, in the dialect's form, or null for the first chunk.</param>
/// <param name="Limit">At most this many rows.</param>
/// <param name="Condition">A SQL condition the rows must also satisfy (on-demand snapshots of some rows), or null.</param>
/// <param name="Keys">When not null, read the rows of these keys (each in the dialect's form, as
/// <see cref="SnapshotRowWriter.Row"/> was given it), in key order, instead of the range after <paramref name="After"/>.</param>
/// <param name="MaxBytes">A range chunk's budget of encoded bytes: once its rows reach it,
/// <see cref="SnapshotRowWriter.IsFull"/> tells the dialect to stop reading (the rest of the range is the next chunk's).</param>
public sealed record SnapshotChunkRequest(SourceTable Table, IReadOnlyList<string> KeyColumns, string? After, int Limit, string? Condition, IReadOnlyList<string>? Keys = null, int MaxBytes = int.MaxValue);

/// <summary>What a chunk read gave.</summary>
/// <param name="Rows">Rows read.</param>
/// <param name="LastKey">The last row's key in the dialect's form, or null when none.</param>
public readonly record struct SnapshotChunkRead(int Rows, string? LastKey)
{
    /// <summary>The table no longer has the shape the chunk was described with (a schema change came between the
    /// description and the read; see <see cref="SnapshotRowWriter.Matches"/>): nothing was read, the runtime describes
    /// the table again and reads the chunk again.</summary>
    public static SnapshotChunkRead Changed { get; } = new(0, null) { TableChanged = true };

    /// <summary>Whether the read was refused because the table changed (<see cref="Changed"/>).</summary>
    public bool TableChanged { get; private init; }
}
