namespace DataMesh.Connectors.Postgres;

/// <summary>What a PostgreSQL source does when a table's new schema breaks its subject's compatibility level.</summary>
public enum IncompatibleSchemaChangePolicy
{
    /// <summary>Stop the connector with an error that names the field and the rule (the default).</summary>
    Fail,

    /// <summary>Set the subject's compatibility level to NONE, register the schema as a new version, log a warning and go on.</summary>
    NewVersionWithNone,
}

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

/// <summary>Settings of one PostgreSQL source (logical replication with pgoutput).</summary>
public sealed class PostgresSourceOptions
{
    /// <summary>The default text that stands for an unchanged TOASTed value PostgreSQL did not send.</summary>
    public const string DefaultUnavailableValuePlaceholder = "__datamesh_unavailable_value";

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
    /// event trigger it looks every <see cref="HeartbeatInterval"/>, to warn about tables it cannot capture. Default 2 seconds.
    /// </summary>
    public TimeSpan NewTablePollInterval { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>Tables to capture, as <c>schema.table</c> patterns where <c>*</c> matches any run of characters and <c>?</c> one
    /// character (<c>public.*</c>, <c>sales.order_*</c>). Empty: every table outside the system schemas.</summary>
    public IList<string> IncludeTables { get; } = [];

    /// <summary>Tables not to capture, as patterns like <see cref="IncludeTables"/>.</summary>
    public IList<string> ExcludeTables { get; } = [];

    /// <summary>Partitions of the table topics the connector creates. Default 1.</summary>
    public int TopicPartitions { get; set; } = 1;

    /// <summary>How often acknowledged positions are stored and confirmed to the slot. Default 1 second.</summary>
    public TimeSpan CommitInterval { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>How often, when idle, the slot is moved to the server's position (so WAL does not pile up on idle or
    /// filtered databases) and <see cref="HeartbeatActionQuery"/> runs. Default 10 seconds.</summary>
    public TimeSpan HeartbeatInterval { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>An optional statement run at each heartbeat, e.g. an upsert into a heartbeat table that is part of the
    /// publication, so that a database with no captured traffic still produces changes. Default none.</summary>
    public string? HeartbeatActionQuery { get; set; }

    /// <summary>What to do when a table's new schema is incompatible with its subject. Default <see cref="IncompatibleSchemaChangePolicy.Fail"/>.</summary>
    public IncompatibleSchemaChangePolicy IncompatibleSchemaChange { get; set; } = IncompatibleSchemaChangePolicy.Fail;

    /// <summary>
    /// The value of a column whose unchanged TOASTed value PostgreSQL did not send (an UPDATE that did not touch a large
    /// value, on a table without REPLICA IDENTITY FULL). Text-like columns carry this text, bytea columns its UTF-8 bytes;
    /// for other types the connector stops and asks for REPLICA IDENTITY FULL. With REPLICA IDENTITY FULL the real value is
    /// always sent. Default <c>__datamesh_unavailable_value</c>.
    /// </summary>
    public string UnavailableValuePlaceholder { get; set; } = DefaultUnavailableValuePlaceholder;

    /// <summary>How long to wait for a slot held by another connection (e.g. a connector that just died) before refusing. Default 15 seconds.</summary>
    public TimeSpan SlotBusyTimeout { get; set; } = TimeSpan.FromSeconds(15);

    /// <summary>The first delay before reconnecting after a transient failure; it doubles up to <see cref="MaxRetryDelay"/>. Default 1 second.</summary>
    public TimeSpan RetryDelay { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>The longest delay between reconnection attempts. Default 30 seconds.</summary>
    public TimeSpan MaxRetryDelay { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>How long a graceful stop waits for Kafka to acknowledge what was produced. Default 30 seconds.</summary>
    public TimeSpan ShutdownTimeout { get; set; } = TimeSpan.FromSeconds(30);

    internal string Slot(string sourceName) => SlotName ?? "datamesh_" + Identifier(sourceName);

    internal string Publication(string sourceName) => PublicationName ?? "datamesh_" + Identifier(sourceName);

    /// <summary>Checks the settings; each message names the setting.</summary>
    internal IEnumerable<string> Validate(string sourceName)
    {
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

        foreach (var pattern in IncludeTables.Concat(ExcludeTables))
        {
            if (string.IsNullOrWhiteSpace(pattern) || pattern.Count(c => c == '.') != 1)
            {
                yield return prefix + $"table pattern '{pattern}' must have the form schema.table (wildcards * and ? allowed).";
            }
        }

        if (TopicPartitions is < 1 or > 10_000)
        {
            yield return prefix + $"TopicPartitions must be between 1 and 10000; it is {TopicPartitions}.";
        }

        foreach (var (setting, value) in new[] { ("CommitInterval", CommitInterval), ("HeartbeatInterval", HeartbeatInterval), ("NewTablePollInterval", NewTablePollInterval), ("SlotBusyTimeout", SlotBusyTimeout), ("RetryDelay", RetryDelay), ("MaxRetryDelay", MaxRetryDelay), ("ShutdownTimeout", ShutdownTimeout) })
        {
            if (value <= TimeSpan.Zero)
            {
                yield return prefix + $"{setting} must be positive; it is {value}.";
            }
        }

        if (!Enum.IsDefined(IncompatibleSchemaChange))
        {
            yield return prefix + $"IncompatibleSchemaChange must be one of {string.Join(", ", Enum.GetNames<IncompatibleSchemaChangePolicy>())}.";
        }

        if (!Enum.IsDefined(NewTables))
        {
            yield return prefix + $"NewTables must be one of {string.Join(", ", Enum.GetNames<NewTableCapture>())}.";
        }
        else if (NewTables == NewTableCapture.EventTrigger && !ManagePublication)
        {
            yield return prefix + "NewTables is EventTrigger, but ManagePublication is off: the trigger adds tables to the publication the source manages. Turn ManagePublication on, or set NewTables to Poll.";
        }

        if (string.IsNullOrEmpty(UnavailableValuePlaceholder))
        {
            yield return prefix + "UnavailableValuePlaceholder must not be empty.";
        }
    }

    private static string Identifier(string name) =>
        new(name.ToLowerInvariant().Select(c => c is (>= 'a' and <= 'z') or (>= '0' and <= '9') ? c : '_').ToArray());
}
