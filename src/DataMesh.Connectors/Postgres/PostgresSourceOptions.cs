namespace DataMesh.Connectors.Postgres;

/// <summary>Settings of one PostgreSQL source (logical replication with pgoutput). The settings every source has
/// (tables, partitions, intervals, retries, policies) are in <see cref="SourceOptions"/>.</summary>
public sealed class PostgresSourceOptions : SourceOptions
{
    /// <summary>An Npgsql connection string. The user needs the REPLICATION attribute and SELECT on the captured tables
    /// (and ownership of them or CREATE on the database to create the publication). Required.</summary>
    public string ConnectionString { get; set; } = string.Empty;

    /// <summary>The replication slot; default <c>datamesh_&lt;source name&gt;</c>.</summary>
    public string? SlotName { get; set; }

    /// <summary>The publication; default <c>datamesh_&lt;source name&gt;</c>.</summary>
    public string? PublicationName { get; set; }

    /// <summary>Create the slot when it is missing. Default true.</summary>
    public bool CreateSlot { get; set; } = true;

    /// <summary>Create the publication when it is missing, and keep its table list equal to the captured tables. Default true.</summary>
    public bool ManagePublication { get; set; } = true;

    /// <summary>An optional statement run at each heartbeat (<see cref="SourceOptions.HeartbeatInterval"/>), e.g. an upsert
    /// into a heartbeat table that is part of the publication, so that a database with no captured traffic still produces
    /// changes. Default none.</summary>
    public string? HeartbeatActionQuery { get; set; }

    /// <summary>How long to wait for a slot held by another connection (e.g. a connector that just died) before refusing. Default 15 seconds.</summary>
    public TimeSpan SlotBusyTimeout { get; set; } = TimeSpan.FromSeconds(15);

    internal string Slot(string sourceName) => SlotName ?? "datamesh_" + Identifier(sourceName);

    internal string Publication(string sourceName) => PublicationName ?? "datamesh_" + Identifier(sourceName);

    /// <inheritdoc />
    public override IEnumerable<string> Validate(string sourceName)
    {
        foreach (var problem in base.Validate(sourceName))
        {
            yield return problem;
        }

        var prefix = $"PostgreSQL source '{sourceName}': ";
        if (string.IsNullOrWhiteSpace(ConnectionString))
        {
            yield return prefix + "ConnectionString is required.";
        }
        else
        {
            string? error = null;
            try
            {
                _ = new Npgsql.NpgsqlConnectionStringBuilder(ConnectionString);
            }
            catch (ArgumentException ex)
            {
                error = prefix + "ConnectionString is not a valid Npgsql connection string: " + ex.Message;
            }

            if (error is not null)
            {
                yield return error;
            }
        }

        foreach (var (setting, value) in new[] { ("SlotName", Slot(sourceName)), ("PublicationName", Publication(sourceName)) })
        {
            if (value.Length is 0 or > 63 || !value.All(c => c is (>= 'a' and <= 'z') or (>= '0' and <= '9') or '_'))
            {
                yield return prefix + $"{setting} '{value}' must be 1 to 63 characters of lower-case letters, digits and underscores.";
            }
        }

        if (SlotBusyTimeout <= TimeSpan.Zero)
        {
            yield return prefix + $"SlotBusyTimeout must be positive; it is {SlotBusyTimeout}.";
        }
    }

    private static string Identifier(string name) =>
        new(name.ToLowerInvariant().Select(c => c is (>= 'a' and <= 'z') or (>= '0' and <= '9') ? c : '_').ToArray());
}
