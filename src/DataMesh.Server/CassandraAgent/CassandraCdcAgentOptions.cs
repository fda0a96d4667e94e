namespace DataMesh;

/// <summary>
/// Settings of the agent that serves one Cassandra node's <c>cdc_raw</c> to a DataMesh Cassandra source over HTTPS
/// (<see cref="CassandraCdcAgentExtensions.MapCassandraCdcAgent"/>; bound from <c>DataMesh:CassandraAgent</c> by
/// <c>samples/CassandraAgent</c>). See docs/cassandra.md, "Agents".
/// </summary>
public sealed class CassandraCdcAgentOptions
{
    /// <summary>The configuration section the sample host binds: <c>DataMesh:CassandraAgent</c>.</summary>
    public const string SectionName = "DataMesh:CassandraAgent";

    /// <summary>The node's <c>cdc_raw</c> directory (<c>cdc_raw_directory</c> in <c>cassandra.yaml</c>). Required.</summary>
    public string CdcRawDirectory { get; set; } = string.Empty;

    /// <summary>The bearer token every request must carry (a secret: never logged); at least 16 characters. Required.
    /// The source's <c>Agent:Token</c>.</summary>
    public string? Token { get; set; }

    /// <summary>Whether the source may delete a completed segment it has acknowledged (default true: the node's
    /// <c>cdc_total_space</c> would fill otherwise). False for an agent that only lets its segments be read (the source's
    /// <c>KeepSegments</c>).</summary>
    public bool AllowDelete { get; set; } = true;
}
