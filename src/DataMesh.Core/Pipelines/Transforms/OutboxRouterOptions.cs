namespace DataMesh.Pipelines.Transforms;

/// <summary>What the outbox router makes of an update of an outbox row.</summary>
public enum OutboxUpdateHandling
{
    /// <summary>Updates are dropped: an outbox row is an event, written once; only inserts are published.</summary>
    Drop,

    /// <summary>Updates are rejected as per-record errors (<see cref="TransformException"/>), so that the runtime dead-letters them.</summary>
    Reject,
}

/// <summary>
/// Settings of <see cref="Transform.OutboxRouter"/>: the names of the outbox table's columns (by default those of the
/// Producer SDK's <c>OutboxTable</c>) and what updates become.
/// </summary>
public sealed class OutboxRouterOptions
{
    /// <summary>The event id column, a string (uuid or char(36)): the <c>ce_id</c> header when the headers have none. Default <c>id</c>.</summary>
    public string IdColumn { get; init; } = "id";

    /// <summary>The destination topic column, a string. Default <c>topic</c>.</summary>
    public string TopicColumn { get; init; } = "topic";

    /// <summary>The Kafka key column, bytes or null (no key). Default <c>event_key</c>.</summary>
    public string EventKeyColumn { get; init; } = "event_key";

    /// <summary>The event type column, a string: the <c>ce_type</c> header when the headers have none. Default <c>event_type</c>.</summary>
    public string EventTypeColumn { get; init; } = "event_type";

    /// <summary>The Kafka value column, bytes in the Confluent wire format. Default <c>payload</c>.</summary>
    public string PayloadColumn { get; init; } = "payload";

    /// <summary>The Kafka headers column, a JSON object of names to string values (text). Default <c>headers</c>.</summary>
    public string HeadersColumn { get; init; } = "headers";

    /// <summary>What updates of outbox rows become; <see cref="OutboxUpdateHandling.Drop"/> by default.</summary>
    public OutboxUpdateHandling Updates { get; init; }

    /// <summary>The column settings by name, in a fixed order: id, topic, event key, event type, payload, headers.</summary>
    internal (string Setting, string Column)[] Columns =>
    [
        (nameof(IdColumn), IdColumn),
        (nameof(TopicColumn), TopicColumn),
        (nameof(EventKeyColumn), EventKeyColumn),
        (nameof(EventTypeColumn), EventTypeColumn),
        (nameof(PayloadColumn), PayloadColumn),
        (nameof(HeadersColumn), HeadersColumn),
    ];

    /// <summary>Checks the settings.</summary>
    /// <exception cref="ArgumentException">A column name is empty, two settings name the same column, or <see cref="Updates"/> is not defined.</exception>
    internal void Validate()
    {
        var seen = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var (setting, column) in Columns)
        {
            if (string.IsNullOrWhiteSpace(column))
            {
                throw new ArgumentException($"OutboxRouterOptions.{setting} must name a column; it is empty.");
            }

            if (!seen.TryAdd(column, setting))
            {
                throw new ArgumentException($"OutboxRouterOptions.{setting} and OutboxRouterOptions.{seen[column]} both name the column '{column}'; each must name its own.");
            }
        }

        if (!Enum.IsDefined(Updates))
        {
            throw new ArgumentException($"OutboxRouterOptions.Updates is {(int)Updates}, not one of {string.Join(", ", Enum.GetNames<OutboxUpdateHandling>())}.");
        }
    }
}
