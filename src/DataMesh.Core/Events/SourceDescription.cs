namespace DataMesh.Events;

/// <summary>The Avro type of a connector-specific field of the envelope's <c>source</c> block.</summary>
public enum SourceFieldType
{
    /// <summary>Avro <c>long</c>.</summary>
    Long,

    /// <summary>Avro <c>["null","long"]</c>, default null.</summary>
    NullableLong,

    /// <summary>Avro <c>string</c>.</summary>
    String,

    /// <summary>Avro <c>["null","string"]</c>, default null.</summary>
    NullableString,
}

/// <summary>A connector-specific position field of the <c>source</c> block, such as PostgreSQL's <c>lsn</c> or MySQL's <c>file</c> and <c>pos</c>.</summary>
/// <param name="Name">A valid Avro name.</param>
/// <param name="Type">Its Avro type.</param>
public sealed record SourceField(string Name, SourceFieldType Type);

/// <summary>
/// What a connector says about itself for the envelope's <c>source</c> block. The block always holds, in this
/// order: <c>version</c>, <c>connector</c>, <c>name</c>, <c>ts_ms</c>, <c>snapshot</c>, <c>db</c>, <c>schema</c>,
/// <c>table</c>, <c>txId</c>, then the connector's <see cref="PositionFields"/>.
/// </summary>
/// <param name="Connector">The connector kind, e.g. <c>postgresql</c>, <c>mysql</c>; a valid Avro name.</param>
/// <param name="Name">The source's logical name, which is also the topic's second part.</param>
/// <param name="PositionFields">The connector's own position fields.</param>
public sealed record SourceDescription(string Connector, string Name, IReadOnlyList<SourceField> PositionFields)
{
    /// <summary>The names of the common fields that precede <see cref="PositionFields"/>.</summary>
    public static IReadOnlyList<string> CommonFieldNames { get; } =
        ["version", "connector", "name", "ts_ms", "snapshot", "db", "schema", "table", "txId"];
}
