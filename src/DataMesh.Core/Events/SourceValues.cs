namespace DataMesh.Events;

/// <summary>
/// The values of one event's <c>source</c> block (see <see cref="SourceDescription"/> for its fields).
/// <c>version</c>, <c>connector</c> and <c>name</c> come from the schemas; the rest is per event.
/// </summary>
public readonly record struct SourceValues
{
    /// <summary>When the change happened in the database (commit time), in milliseconds since the Unix epoch.</summary>
    public long TimestampMs { get; init; }

    /// <summary><c>false</c> for log events; <c>true</c> for snapshot rows, <c>last</c> for a snapshot's last row,
    /// <c>incremental</c> for on-demand snapshot rows.</summary>
    public string Snapshot { get; init; }

    /// <summary>The database name.</summary>
    public string Database { get; init; }

    /// <summary>The PostgreSQL schema; null for MySQL/MariaDB.</summary>
    public string? Schema { get; init; }

    /// <summary>The table's name; null for events not about one table.</summary>
    public string? Table { get; init; }

    /// <summary>The transaction id, if the database has one.</summary>
    public long? TransactionId { get; init; }

    /// <summary>The connector's position fields, in the order and of the types of
    /// <see cref="SourceDescription.PositionFields"/> (<see cref="long"/> or <see cref="string"/>, null where nullable).</summary>
    public IReadOnlyList<object?> Position { get; init; }
}
