namespace DataMesh;

/// <summary>What a CockroachDB source does when CockroachDB refuses its stored position because the changes since then
/// were garbage-collected (older than the tables' <c>gc.ttlseconds</c>).</summary>
public enum ExpiredCursorPolicy
{
    /// <summary>Stop with an error that says what to do (the default): nothing is lost silently.</summary>
    Fail,

    /// <summary>Start a new changefeed with an initial scan of the tables as they are now, and log a warning: the rows
    /// deleted between the stored position and now are never seen as deletes (their rows are simply absent from the scan).</summary>
    Rescan,
}

/// <summary>What CockroachDB does with a changefeed when a captured table's schema changes (its
/// <c>schema_change_policy</c> option).</summary>
public enum CockroachDbSchemaChangePolicy
{
    /// <summary><c>backfill</c> (the default): after a column is added with a default or dropped, CockroachDB emits every
    /// row again in its new shape; the source registers the table's new schema version and writes those rows as updates.</summary>
    Backfill,

    /// <summary><c>stop</c>: CockroachDB ends the changefeed at the schema change; the source stops with an error saying so.</summary>
    Stop,
}

/// <summary>Settings of one CockroachDB source (a sinkless changefeed over pgwire). The settings every source has
/// (tables, partitions, intervals, retries, policies, the initial snapshot) are in <see cref="SourceOptions"/>; the initial
/// state is CockroachDB's own <c>initial_scan</c>, taken when <see cref="SnapshotOptions.Initial"/> is
/// <see cref="InitialSnapshot.WhenNoPosition"/> and the source has no stored position.</summary>
public sealed class CockroachDbSourceOptions : SourceOptions
{
    /// <summary>An Npgsql connection string to a CockroachDB node (v22.1 or later). The user needs SELECT on the captured
    /// tables and the CHANGEFEED privilege (or, before v22.2, the admin role). Required.</summary>
    public string ConnectionString { get; set; } = string.Empty;

    /// <summary>How often CockroachDB sends a resolved timestamp (the changefeed's <c>resolved</c> and
    /// <c>min_checkpoint_frequency</c> options: without the second, CockroachDB sends one every 30 s at most): the source's
    /// positions move only at resolved timestamps, and a graceful stop waits for one past its last change. Default
    /// 1 second; at least 1 ms (CockroachDB advises against less than 500 ms).</summary>
    public TimeSpan ResolvedInterval { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>What to do when the stored position is older than the garbage-collection threshold. Default
    /// <see cref="ExpiredCursorPolicy.Fail"/>.</summary>
    public ExpiredCursorPolicy ExpiredCursor { get; set; } = ExpiredCursorPolicy.Fail;

    /// <summary>The changefeed's <c>schema_change_policy</c>. Default <see cref="CockroachDbSchemaChangePolicy.Backfill"/>.</summary>
    public CockroachDbSchemaChangePolicy SchemaChangePolicy { get; set; } = CockroachDbSchemaChangePolicy.Backfill;

    /// <summary>How often the source looks in <c>information_schema.tables</c> for tables that match
    /// <see cref="SourceOptions.IncludeTables"/> and its changefeed does not watch yet (tables created while it runs). A table
    /// found is added: its rows as of a resolved timestamp are emitted as creates, then one changefeed of every table
    /// resumes from that timestamp (<c>docs/cockroachdb.md</c>, "Tables created while the source runs"). Default 2 seconds;
    /// between 1 ms and 1 hour.</summary>
    public TimeSpan NewTablePollInterval { get; set; } = TimeSpan.FromSeconds(2);

    /// <inheritdoc />
    public override IEnumerable<string> Validate(string sourceName)
    {
        foreach (var problem in base.Validate(sourceName))
        {
            yield return problem;
        }

        var prefix = $"CockroachDB source '{sourceName}': ";
        if (Connectors.ConnectionStringErrors.CheckNpgsql(prefix, ConnectionString) is { } connectionStringProblem)
        {
            yield return connectionStringProblem;
        }

        if (ResolvedInterval < TimeSpan.FromMilliseconds(1) || ResolvedInterval > TimeSpan.FromHours(1))
        {
            yield return prefix + $"ResolvedInterval must be between 1 ms and 1 hour; it is {ResolvedInterval}.";
        }

        if (NewTablePollInterval < TimeSpan.FromMilliseconds(1) || NewTablePollInterval > TimeSpan.FromHours(1))
        {
            yield return prefix + $"NewTablePollInterval must be between 1 ms and 1 hour; it is {NewTablePollInterval}.";
        }

        if (!Enum.IsDefined(ExpiredCursor))
        {
            yield return prefix + $"ExpiredCursor must be one of {string.Join(", ", Enum.GetNames<ExpiredCursorPolicy>())}.";
        }

        if (!Enum.IsDefined(SchemaChangePolicy))
        {
            yield return prefix + $"SchemaChangePolicy must be one of {string.Join(", ", Enum.GetNames<CockroachDbSchemaChangePolicy>())}.";
        }

        if (Snapshot is { Watermarks: SnapshotWatermarks.ReadOnly })
        {
            yield return prefix + "Snapshot.Watermarks ReadOnly is a PostgreSQL setting; a CockroachDB source takes its initial state with the changefeed's initial_scan.";
        }
    }
}
