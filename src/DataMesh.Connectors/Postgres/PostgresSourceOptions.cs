namespace DataMesh.Connectors.Postgres;

/// <summary>How a PostgreSQL source adds tables created while it runs (that its patterns select) to its publication.</summary>
public enum NewTableCapture
{
    /// <summary><see cref="EventTrigger"/> when the source's user is a superuser, else <see cref="Poll"/> with a warning at start (the default).</summary>
    Automatic,

    /// <summary>
    /// An event trigger named after the publication adds each new table that has a replica identity to the publication in
    /// the transaction that creates it, so its changes are captured from the first row, also when a script drops and
    /// re-creates a table. Needs a superuser (PostgreSQL lets only superusers create event triggers) and
    /// <see cref="PostgresSourceOptions.ManagePublication"/>; the source refuses to start otherwise.
    /// </summary>
    EventTrigger,

    /// <summary>
    /// The source looks for new tables every <see cref="PostgresSourceOptions.NewTablePollInterval"/> and adds them then:
    /// changes made to a new table before it joins the publication are not captured. A trigger installed earlier is removed.
    /// </summary>
    Poll,
}

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

    /// <summary>
    /// How tables created while the source runs join the publication (with <see cref="ManagePublication"/>). Default
    /// <see cref="NewTableCapture.Automatic"/>: an event trigger when the user is a superuser, polling otherwise.
    /// </summary>
    public NewTableCapture NewTables { get; set; } = NewTableCapture.Automatic;

    /// <summary>
    /// How often the source looks for new tables when it polls (<see cref="NewTableCapture.Poll"/>, or no superuser). With the
    /// event trigger it looks every <see cref="SourceOptions.HeartbeatInterval"/>, to warn about tables it cannot capture. Default 2 seconds.
    /// </summary>
    public TimeSpan NewTablePollInterval { get; set; } = TimeSpan.FromSeconds(2);

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
        if (ConnectionStringErrors.CheckNpgsql(prefix, ConnectionString) is { } connectionStringProblem)
        {
            yield return connectionStringProblem;
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

        if (NewTablePollInterval <= TimeSpan.Zero)
        {
            yield return prefix + $"NewTablePollInterval must be positive; it is {NewTablePollInterval}.";
        }

        if (!Enum.IsDefined(NewTables))
        {
            yield return prefix + $"NewTables must be one of {string.Join(", ", Enum.GetNames<NewTableCapture>())}.";
        }
        else if (NewTables == NewTableCapture.EventTrigger && !ManagePublication)
        {
            yield return prefix + "NewTables is EventTrigger, but ManagePublication is off: the trigger adds tables to the publication the source manages. Turn ManagePublication on, or set NewTables to Poll.";
        }
    }

    /// <inheritdoc/>
    protected override IEnumerable<(string Setting, string Resource)> ExclusiveResources(string sourceName)
    {
        Npgsql.NpgsqlConnectionStringBuilder builder;
        try
        {
            builder = new Npgsql.NpgsqlConnectionStringBuilder(ConnectionString);
        }
        catch (ArgumentException)
        {
            yield break; // Validate says why
        }

        // A slot belongs to the server, a publication to a database; one the source does not manage (FOR ALL TABLES, made
        // by a DBA) may serve several sources, each with its own slot.
        var server = (builder.Host ?? string.Empty).ToLowerInvariant() + ":" + builder.Port.ToString(System.Globalization.CultureInfo.InvariantCulture);
        yield return ("slot_name", $"replication slot '{Slot(sourceName)}' on {server}");
        if (ManagePublication)
        {
            yield return ("publication_name", $"publication '{Publication(sourceName)}' in database '{builder.Database ?? builder.Username}' on {server}");
        }
    }

    /// <inheritdoc/>
    protected override string? LeftInDatabase(string sourceName)
    {
        var slot = Slot(sourceName).Replace("'", "''", StringComparison.Ordinal);
        var publication = CapturedTable.Quote(Publication(sourceName));
        var trigger = CapturedTable.Quote(PublicationManager.TriggerName(Publication(sourceName)));
        return $"a PostgreSQL source's slot keeps its WAL until dropped: SELECT pg_drop_replication_slot('{slot}');" +
            (ManagePublication ? $" DROP PUBLICATION {publication}; and, as a superuser, DROP EVENT TRIGGER IF EXISTS {trigger}; DROP FUNCTION IF EXISTS <schema>.{trigger}(); (the schema the source's user created it in, public by default)" : string.Empty) +
            " (docs/postgres.md)";
    }

    private static string Identifier(string name) =>
        new(name.ToLowerInvariant().Select(c => c is (>= 'a' and <= 'z') or (>= '0' and <= '9') ? c : '_').ToArray());
}
