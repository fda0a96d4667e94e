using System.Text.Json;
using DataMesh.Connectors.Cassandra.CommitLog;
using DataMesh.Sources;

namespace DataMesh.Connectors.Cassandra;

/// <summary>A Cassandra source's position: the node and, in its commit log, the end of the last entry (mutation) whose
/// events Kafka acknowledged. Stored as <c>{"node":"…","segment":1699285478684,"offset":1576}</c>.</summary>
/// <param name="Node">The node's name (<see cref="CassandraSourceOptions.Node"/>).</param>
/// <param name="Log">The segment id and offset.</param>
internal sealed record CassandraPosition(string Node, CommitLogPosition Log)
{
    public string ToJson() => JsonSerializer.Serialize(new Dictionary<string, object> { ["node"] = Node, ["segment"] = Log.SegmentId, ["offset"] = Log.Offset });

    public override string ToString() => $"{Node}@{Log}";

    public static CassandraPosition Parse(string json)
    {
        try
        {
            using var document = JsonDocument.Parse(json);
            var root = document.RootElement;
            var segment = root.GetProperty("segment").GetInt64();
            var offset = root.GetProperty("offset").GetInt64();
            if (segment < 0 || offset < 0)
            {
                throw new FormatException("segment and offset must not be negative");
            }

            return new CassandraPosition(root.GetProperty("node").GetString() ?? throw new FormatException("node is null"), new CommitLogPosition(segment, offset));
        }
        catch (Exception ex) when (ex is JsonException or KeyNotFoundException or FormatException or InvalidOperationException)
        {
            throw new SourceException($"The stored position '{json}' of this Cassandra source is not a Cassandra position ({{\"node\":\"…\",\"segment\":…,\"offset\":…}}): {ex.Message}. Reset the stored position to start afresh.", isTransient: false, ex);
        }
    }
}
