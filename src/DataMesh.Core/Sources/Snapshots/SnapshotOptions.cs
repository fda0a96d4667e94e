using DataMesh.Sources;

namespace DataMesh;

/// <summary>When a source takes a snapshot of its tables' existing rows by itself.</summary>
public enum InitialSnapshot
{
    /// <summary>When the source has no stored position (its first start, or after a reset): every captured table is
    /// snapshotted while the log streams (the default).</summary>
    WhenNoPosition,

    /// <summary>Never by itself: only on demand (the API or the signal table).</summary>
    None,
}

/// <summary>How a snapshot marks each chunk's window (between its low and high watermark) in the log.</summary>
public enum SnapshotWatermarks
{
    /// <summary>Rows written to <see cref="SnapshotOptions.WatermarkTable"/> (created when missing) before and after each chunk's
    /// read; their changes come back through the log and open and close the window (the default; every connector).</summary>
    Table,

    /// <summary>Nothing is created or written in the source database: the connector recognises each window in its log from
    /// what the read itself observed (PostgreSQL 13 or later: the transactions <c>pg_current_snapshot()</c> shows and the WAL
    /// position). Not available on MySQL/MariaDB. See <c>docs/postgres.md</c>.</summary>
    ReadOnly,
}

/// <summary>
/// Full-state capture after DBLog: snapshots read each table in key order, chunk by chunk, interleaved with the live log
/// through watermarks, without locks. See <c>docs/snapshots.md</c>.
/// </summary>
public sealed class SnapshotOptions
{
    /// <summary>When the source snapshots by itself. Default <see cref="InitialSnapshot.WhenNoPosition"/>.</summary>
    public InitialSnapshot Initial { get; set; } = InitialSnapshot.WhenNoPosition;

    /// <summary>Rows per chunk at most (one short read, two watermarks and a window each). Default 16384: each chunk
    /// costs the database two watermark transactions and a query, and Kafka a batch per partition, so small chunks cost
    /// more per row (docs/benchmarks.md, "Chunk size (2026-12-05)"). A table's first chunk asks for 1,024 rows, and each
    /// next one for twice as many up to this, while they stay under <see cref="MaxChunkBytes"/>.</summary>
    public int ChunkSize { get; set; } = 16384;

    /// <summary>Encoded bytes per chunk at most: a chunk's read ends at the row that reaches it, even before
    /// <see cref="ChunkSize"/> rows, and the table's next chunks ask for as many rows as fitted. It bounds the memory each
    /// range chunk holds until its high watermark, however wide the rows (a chunk that reads at most 256 rows again by key
    /// is not bounded by it). Default 16 MiB; 64 KiB to 1 GiB.</summary>
    public int MaxChunkBytes { get; set; } = 16 * 1024 * 1024;

    /// <summary>How many tables are read at once. Default 2.</summary>
    public int ParallelTables { get; set; } = 2;

    /// <summary>How each chunk's window is marked in the log: watermark rows (<see cref="SnapshotWatermarks.Table"/>, the
    /// default) or, writing nothing to the source database, the connector's own log positions
    /// (<see cref="SnapshotWatermarks.ReadOnly"/>, PostgreSQL 13 or later).</summary>
    public SnapshotWatermarks Watermarks { get; set; } = SnapshotWatermarks.Table;

    /// <summary>The watermark table in the source database, created when missing: one row per source, updated twice per
    /// chunk. Default <c>datamesh_watermarks</c> (in the connection's default schema or database). Not used with
    /// <see cref="SnapshotWatermarks.ReadOnly"/>.</summary>
    public string WatermarkTable { get; set; } = "datamesh_watermarks";

    /// <summary>The signal table in the source database (columns <c>id</c>, <c>type</c>, <c>data</c> as JSON, after
    /// Debezium's): a row of type <c>execute-snapshot</c>, <c>pause-snapshot</c>, <c>resume-snapshot</c> or
    /// <c>stop-snapshot</c> inserted there controls snapshots. Null (the default): no signal table.</summary>
    public string? SignalTable { get; set; }

    /// <summary>For tables without a primary key: the unique key to read them by, as <c>schema.table</c> → columns in
    /// order. A table without a key and without an entry here is refused with a message.</summary>
    public IDictionary<string, IList<string>> KeyColumns { get; } = new Dictionary<string, IList<string>>(StringComparer.Ordinal);

    /// <summary>Checks the settings; each message names the setting.</summary>
    /// <param name="prefix">The message prefix naming the source.</param>
    internal IEnumerable<string> Validate(string prefix)
    {
        if (!Enum.IsDefined(Initial))
        {
            yield return prefix + $"Snapshot:Initial must be one of {string.Join(", ", Enum.GetNames<InitialSnapshot>())}.";
        }

        if (!Enum.IsDefined(Watermarks))
        {
            yield return prefix + $"Snapshot:Watermarks must be one of {string.Join(", ", Enum.GetNames<SnapshotWatermarks>())}; it is {(int)Watermarks}.";
        }

        if (ChunkSize is < 1 or > 1_000_000)
        {
            yield return prefix + $"Snapshot:ChunkSize must be between 1 and 1000000; it is {ChunkSize}.";
        }

        if (MaxChunkBytes is < 64 * 1024 or > 1024 * 1024 * 1024)
        {
            yield return prefix + $"Snapshot:MaxChunkBytes must be between 65536 (64 KiB) and 1073741824 (1 GiB); it is {MaxChunkBytes}.";
        }

        if (ParallelTables is < 1 or > 64)
        {
            yield return prefix + $"Snapshot:ParallelTables must be between 1 and 64; it is {ParallelTables}.";
        }

        if (string.IsNullOrWhiteSpace(WatermarkTable) || WatermarkTable.Length > 63)
        {
            yield return prefix + "Snapshot:WatermarkTable must be a table name of 1 to 63 characters.";
        }

        if (SignalTable is { } signal && (signal.Length is 0 or > 63))
        {
            yield return prefix + "Snapshot:SignalTable must be a table name of 1 to 63 characters, or unset.";
        }

        foreach (var (table, columns) in KeyColumns)
        {
            if (TableFilter.Check(table) is not null || columns.Count == 0)
            {
                yield return prefix + $"Snapshot:KeyColumns entry '{table}' {TableFilter.Check(table) ?? "names no column"}.";
            }
        }
    }
}
