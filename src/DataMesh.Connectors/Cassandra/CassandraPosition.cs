using System.Text.Json;
using DataMesh.Connectors.Cassandra.CommitLog;
using DataMesh.Sources;

namespace DataMesh.Connectors.Cassandra;

/// <summary>A Cassandra source's position: per node it reads, the end of the last entry (mutation) of its commit log
/// whose events Kafka acknowledged (or, for a source reading several nodes, the start of its oldest copy still waiting
/// for the consistency level). One node is stored as <c>{"node":"…","segment":1699285478684,"offset":1576}</c>, several
/// as <c>{"nodes":{"node1":{"segment":…,"offset":…},…}}</c>.</summary>
internal sealed record CassandraPosition
{
    /// <summary>One node's position.</summary>
    public CassandraPosition(string node, CommitLogPosition log)
    {
        Nodes = [(node, log)];
    }

    /// <summary>Several nodes' positions (in <see cref="CassandraSourceOptions.NodeDirectories"/> order).</summary>
    public CassandraPosition(IReadOnlyList<(string Node, CommitLogPosition Log)> nodes, bool replicas)
    {
        Nodes = nodes;
        IsReplicas = replicas;
    }

    /// <summary>The nodes and their positions.</summary>
    public IReadOnlyList<(string Node, CommitLogPosition Log)> Nodes { get; }

    /// <summary>Whether this is the position of a source reading several nodes (<see cref="CassandraSourceOptions.Nodes"/>).</summary>
    public bool IsReplicas { get; }

    /// <summary>The first node's name (the one node of a one-node source).</summary>
    public string Node => Nodes[0].Node;

    /// <summary>The first node's position.</summary>
    public CommitLogPosition Log => Nodes[0].Log;

    /// <summary>A node's position, if this position has it.</summary>
    public CommitLogPosition? Of(string node)
    {
        foreach (var (name, log) in Nodes)
        {
            if (name == node)
            {
                return log;
            }
        }

        return null;
    }

    public bool Equals(CassandraPosition? other) => other is not null && IsReplicas == other.IsReplicas && Nodes.SequenceEqual(other.Nodes);

    public override int GetHashCode() => HashCode.Combine(Nodes.Count, Nodes[0]);

    public string ToJson() => IsReplicas
        ? JsonSerializer.Serialize(new Dictionary<string, object>
        {
            ["nodes"] = Nodes.ToDictionary(n => n.Node, n => new Dictionary<string, long> { ["segment"] = n.Log.SegmentId, ["offset"] = n.Log.Offset }),
        })
        : JsonSerializer.Serialize(new Dictionary<string, object> { ["node"] = Node, ["segment"] = Log.SegmentId, ["offset"] = Log.Offset });

    public override string ToString() => string.Join(", ", Nodes.Select(n => $"{n.Node}@{n.Log}"));

    public static CassandraPosition Parse(string json)
    {
        try
        {
            using var document = JsonDocument.Parse(json);
            var root = document.RootElement;
            if (root.TryGetProperty("nodes", out var nodes))
            {
                List<(string, CommitLogPosition)> list = [];
                foreach (var node in nodes.EnumerateObject())
                {
                    list.Add((node.Name, ReadLog(node.Value)));
                }

                if (list.Count == 0)
                {
                    throw new FormatException("nodes is empty");
                }

                return new CassandraPosition(list, replicas: true);
            }

            return new CassandraPosition(root.GetProperty("node").GetString() ?? throw new FormatException("node is null"), ReadLog(root));
        }
        catch (Exception ex) when (ex is JsonException or KeyNotFoundException or FormatException or InvalidOperationException)
        {
            throw new SourceException($"The stored position '{json}' of this Cassandra source is not a Cassandra position ({{\"node\":\"…\",\"segment\":…,\"offset\":…}} or {{\"nodes\":{{\"…\":{{\"segment\":…,\"offset\":…}}}}}}): {ex.Message}. Reset the stored position to start afresh.", isTransient: false, ex);
        }
    }

    private static CommitLogPosition ReadLog(JsonElement element)
    {
        var segment = element.GetProperty("segment").GetInt64();
        var offset = element.GetProperty("offset").GetInt64();
        if (segment < 0 || offset < 0)
        {
            throw new FormatException("segment and offset must not be negative");
        }

        return new CommitLogPosition(segment, offset);
    }
}
