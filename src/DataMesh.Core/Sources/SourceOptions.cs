using DataMesh.Events;
using DataMesh.Sources;

namespace DataMesh;

/// <summary>What a source does when a table's new schema breaks its subject's compatibility level.</summary>
public enum IncompatibleSchemaChangePolicy
{
    /// <summary>Stop the source with an error that names the field and the rule (the default).</summary>
    Fail,

    /// <summary>Set the subject's compatibility level to NONE, register the schema as a new version, log a warning and go on.</summary>
    NewVersionWithNone,
}

/// <summary>What happens when a source meets an error it cannot recover from.</summary>
public enum FatalErrorPolicy
{
    /// <summary>Log the error with what to do, mark the source unhealthy, and stop the host gracefully with exit code 1
    /// (the default: a process supervisor then sees the failure).</summary>
    StopHost,

    /// <summary>Log the error with what to do, mark the source unhealthy, and stop only this source; the host and the
    /// other sources and pipelines go on.</summary>
    StopSource,
}

/// <summary>The settings every source has, with the same names for the same concepts; each connector's options derive
/// from it (<c>PostgresSourceOptions</c>, <c>MySqlSourceOptions</c>).</summary>
public abstract class SourceOptions
{
    /// <summary>Tables to capture, as <c>schema.table</c> patterns (MySQL/MariaDB: <c>database.table</c>) where <c>*</c>
    /// matches any run of characters and <c>?</c> one character (<c>public.*</c>, <c>shop.order_*</c>). Empty: every table
    /// outside the system schemas.</summary>
    public IList<string> IncludeTables { get; } = [];

    /// <summary>Tables not to capture, as patterns like <see cref="IncludeTables"/>.</summary>
    public IList<string> ExcludeTables { get; } = [];

    /// <summary>Partitions of the table topics the source creates. Default 1.</summary>
    public int TopicPartitions { get; set; } = 1;

    /// <summary>How often positions that Kafka acknowledged are stored. Default 1 second.</summary>
    public TimeSpan PositionSaveInterval { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>How often the source hears from its database while idle (its meaning per connector: PostgreSQL's idle
    /// slot advance and heartbeat query, MySQL's server heartbeat period). Default 10 seconds.</summary>
    public TimeSpan HeartbeatInterval { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>The first delay before retrying after a transient failure; it doubles (with ±20% jitter) up to
    /// <see cref="MaxRetryDelay"/>, and starts over after an attempt that made progress. Default 1 second.</summary>
    public TimeSpan RetryDelay { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>The longest delay between retries. Default 30 seconds.</summary>
    public TimeSpan MaxRetryDelay { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>How long a graceful stop waits for Kafka to acknowledge what was produced before storing the last
    /// acknowledged position. Default 30 seconds.</summary>
    public TimeSpan ShutdownTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>How long Kafka may leave produced events unacknowledged, or the log reader stay silent, before the source
    /// is reported stalled (a Warning, and <c>Degraded</c> health). Default (null): 2 minutes or three heartbeats, whichever
    /// is longer; when set, at least three heartbeats.</summary>
    public TimeSpan? StallTimeout { get; set; }

    /// <summary><see cref="StallTimeout"/> or its default.</summary>
    internal TimeSpan EffectiveStallTimeout => StallTimeout ?? TimeSpan.FromTicks(Math.Max(TimeSpan.FromMinutes(2).Ticks, HeartbeatInterval.Ticks * 3));

    /// <summary>What to do when a table's new schema is incompatible with its subject. Default
    /// <see cref="IncompatibleSchemaChangePolicy.Fail"/>.</summary>
    public IncompatibleSchemaChangePolicy IncompatibleSchemaChange { get; set; } = IncompatibleSchemaChangePolicy.Fail;

    /// <summary>What a fatal error does. Default <see cref="FatalErrorPolicy.StopHost"/>.</summary>
    public FatalErrorPolicy OnFatalError { get; set; } = FatalErrorPolicy.StopHost;

    /// <summary>Snapshots of the tables' existing rows (DBLog), where the connector supports them.</summary>
    public SnapshotOptions Snapshot { get; set; } = new();

    /// <summary>Whether the source takes its connector's lease (see <see cref="DataMesh.Sources.Leases.ISourceLease"/>) before it reads, so that
    /// of several processes running the same source exactly one reads it and the others stand by to take over from the
    /// stored position. Default true; connectors without a lease (see the connector's documentation) ignore it.</summary>
    public bool UseLease { get; set; } = true;

    /// <summary>How often the holder checks its lease (stopping at once when it was lost) and a standby process tries to take
    /// it. Default 1 second: a standby takes over about this long after the holder died.</summary>
    public TimeSpan LeaseCheckInterval { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>Whether a leased source stamps every record with its term's fencing epoch (header <c>datamesh.epoch</c>, 8
    /// bytes big-endian), which lets consumers (DataMesh's pipelines do) drop a record a former holder of the lease wrote after
    /// the new holder's. Default false: the header costs about 1.7 µs of CPU per record on the embedded cluster (measured in
    /// <c>docs/benchmarks.md</c>), and the lease's produce gate, on either way, already keeps a former holder from handing
    /// Kafka anything it read after it was frozen; the header is for the records it handed its client before.</summary>
    public bool EpochHeader { get; set; }

    /// <summary>The change-event contract's settings for this source; null to use <c>DataMeshOptions.Events</c>.</summary>
    public ChangeEventOptions? Events { get; set; }

    /// <summary>
    /// What this source holds alone on its database server and no other source may share (a PostgreSQL replication slot
    /// or publication, a MySQL replica's server id): per resource the setting that names it (as a definition file writes
    /// it, <c>slot_name</c>) and a text equal for two sources exactly when they would share it (the server and the name).
    /// A definition with two sources that share one is refused.
    /// </summary>
    /// <param name="sourceName">The source's name (defaults are derived from it).</param>
    /// <returns>The resources; none by default.</returns>
    protected internal virtual IEnumerable<(string Setting, string Resource)> ExclusiveResources(string sourceName) => [];

    /// <summary>What a source with these settings leaves in its database when it is removed, and how to remove it (the
    /// statements with its own names), for the controller's plan; null when it leaves nothing there.</summary>
    /// <param name="sourceName">The source's name (defaults are derived from it).</param>
    /// <returns>The advice, or null.</returns>
    protected internal virtual string? LeftInDatabase(string sourceName) => null;

    /// <summary>Checks the settings; each message names the setting.</summary>
    /// <param name="sourceName">The source's name, for the messages.</param>
    /// <returns>The problems; empty when the settings are valid.</returns>
    public virtual IEnumerable<string> Validate(string sourceName)
    {
        var prefix = $"Source '{sourceName}': ";
        foreach (var (setting, patterns) in new[] { (nameof(IncludeTables), IncludeTables), (nameof(ExcludeTables), ExcludeTables) })
        {
            foreach (var pattern in patterns)
            {
                if (TableFilter.Check(pattern) is { } problem)
                {
                    yield return prefix + $"{setting} entry '{pattern}' {problem}.";
                }
            }
        }

        if (TopicPartitions is < 1 or > 10_000)
        {
            yield return prefix + $"{nameof(TopicPartitions)} must be between 1 and 10000; it is {TopicPartitions}.";
        }

        foreach (var (setting, value) in new[]
        {
            (nameof(PositionSaveInterval), PositionSaveInterval), (nameof(HeartbeatInterval), HeartbeatInterval), (nameof(RetryDelay), RetryDelay),
            (nameof(MaxRetryDelay), MaxRetryDelay), (nameof(ShutdownTimeout), ShutdownTimeout), (nameof(StallTimeout), EffectiveStallTimeout),
            (nameof(LeaseCheckInterval), LeaseCheckInterval),
        })
        {
            if (value < TimeSpan.FromMilliseconds(1) || value > TimeSpan.FromDays(1))
            {
                yield return prefix + $"{setting} must be between 1 ms and 1 day; it is {value}.";
            }
        }

        if (MaxRetryDelay < RetryDelay)
        {
            yield return prefix + $"{nameof(MaxRetryDelay)} ({MaxRetryDelay}) must be at least {nameof(RetryDelay)} ({RetryDelay}).";
        }

        if (StallTimeout is { } stall && stall > TimeSpan.Zero && HeartbeatInterval > TimeSpan.Zero && stall < HeartbeatInterval * 3)
        {
            yield return prefix + $"{nameof(StallTimeout)} ({stall}) must be at least three times {nameof(HeartbeatInterval)} ({HeartbeatInterval}).";
        }

        if (!Enum.IsDefined(IncompatibleSchemaChange))
        {
            yield return prefix + $"{nameof(IncompatibleSchemaChange)} must be one of {string.Join(", ", Enum.GetNames<IncompatibleSchemaChangePolicy>())}.";
        }

        if (!Enum.IsDefined(OnFatalError))
        {
            yield return prefix + $"{nameof(OnFatalError)} must be one of {string.Join(", ", Enum.GetNames<FatalErrorPolicy>())}.";
        }

        foreach (var problem in Snapshot?.Validate(prefix) ?? [prefix + "Snapshot must not be null."])
        {
            yield return problem;
        }

        string? eventsProblem = null;
        try
        {
            Events?.Validate();
        }
        catch (ArgumentException ex)
        {
            eventsProblem = prefix + $"{nameof(Events)}: {ex.Message}";
        }

        if (eventsProblem is not null)
        {
            yield return eventsProblem;
        }
    }
}
