using System.Text.Json;

namespace DataMesh.Sources;

/// <summary>What a checkpoint stores: the connector's position and, while a snapshot runs, its progress as of that
/// position (so a restart resumes both from what Kafka acknowledged).</summary>
/// <typeparam name="TPosition">The connector's position.</typeparam>
/// <param name="Position">The connector's position.</param>
/// <param name="Snapshot">The snapshot state, or null when no snapshot runs.</param>
internal sealed record SourceCheckpoint<TPosition>(TPosition Position, SnapshotState? Snapshot)
    where TPosition : class
{
    /// <summary>The stored text: the connector's own text, or with a snapshot running
    /// <c>{"log": "&lt;connector's text&gt;", "snapshot": {...}}</c>.</summary>
    public string Format(SourceConnector<TPosition> connector)
    {
        var log = connector.FormatPosition(Position);
        if (Snapshot is null || Snapshot.IsIdle)
        {
            return log;
        }

        return "{\"log\":" + JsonSerializer.Serialize(log) + ",\"snapshot\":" + Snapshot.ToJson() + "}";
    }

    /// <summary>Reads what <see cref="Format"/> wrote.</summary>
    public static SourceCheckpoint<TPosition> Parse(string text, SourceConnector<TPosition> connector)
    {
        if (text.StartsWith("{\"log\":", StringComparison.Ordinal))
        {
            SnapshotState snapshot;
            string log;
            try
            {
                using var document = JsonDocument.Parse(text);
                log = document.RootElement.GetProperty("log").GetString() ?? throw new JsonException("log is null");
                snapshot = SnapshotState.FromJson(document.RootElement.GetProperty("snapshot"));
            }
            catch (Exception ex) when (ex is JsonException or KeyNotFoundException or InvalidOperationException)
            {
                throw new SourceException($"The stored position '{text}' is not a position with snapshot progress: {ex.Message}. Reset the stored position to start afresh.", isTransient: false, ex);
            }

            return new SourceCheckpoint<TPosition>(connector.ParsePosition(log), snapshot);
        }

        return new SourceCheckpoint<TPosition>(connector.ParsePosition(text), null);
    }
}
