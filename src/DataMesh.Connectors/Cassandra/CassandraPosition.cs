using System.Text.Json;
using DataMesh.Connectors.Cassandra.CommitLog;
using DataMesh.Sources;

namespace DataMesh.Connectors.Cassandra;

/// <summary>A Cassandra source's position: per node it reads, the end of the last entry (mutation) of its commit log
/// whose events Kafka acknowledged (or, for a source reading several nodes, the start of its oldest copy still waiting
/// for the consistency level). One node is stored as <c>{"node":"…","segment":1699285478684,"offset":1576}</c>, several
/// as <c>{"nodes":{"node1":{"segment":…,"offset":…},…}}</c>. A node that wrote Cassandra 3.x segments adds
/// <c>"read":[…]</c>: the ids of its 3.x segments below the position's segment that were read to their end and are still
/// in <c>cdc_raw</c>. 3.x moves a segment into <c>cdc_raw</c> when it discards it, possibly after a newer one: a 3.x
/// segment below the position that is not listed arrived late and is read (<see cref="Cdc.CdcRawFollower"/>). Without
/// the list (a position stored before it existed, or of a node without 3.x segments) every segment below the position
/// counts as read.</summary>
internal sealed record CassandraPosition
{
    /// <summary>One node's position.</summary>
    public CassandraPosition(string node, CommitLogPosition log, IReadOnlyList<long>? read = null)
    {
        Nodes = [(node, log)];
        Read = [read];
    }

    /// <summary>Several nodes' positions (in <see cref="CassandraSourceOptions.NodeDirectories"/> order), and for each
    /// the 3.x segments read below it (see <see cref="Read"/>; none given: no list for any node).</summary>
    public CassandraPosition(IReadOnlyList<(string Node, CommitLogPosition Log)> nodes, bool replicas, IReadOnlyList<IReadOnlyList<long>?>? read = null)
    {
        Nodes = nodes;
        IsReplicas = replicas;
        Read = read ?? new IReadOnlyList<long>?[nodes.Count];
    }

    /// <summary>The nodes and their positions.</summary>
    public IReadOnlyList<(string Node, CommitLogPosition Log)> Nodes { get; }

    /// <summary>Per node (in <see cref="Nodes"/>' order), the ids of the Cassandra 3.x segments below its position's
    /// segment that were read to their end and are still in <c>cdc_raw</c>, in ascending order; null where the node has no
    /// such list (every segment below its position counts as read).</summary>
    public IReadOnlyList<IReadOnlyList<long>?> Read { get; }

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

    /// <summary>A node's list of 3.x segments read below its position (see <see cref="Read"/>), if this position has one.</summary>
    public IReadOnlyList<long>? ReadOf(string node)
    {
        for (var i = 0; i < Nodes.Count; i++)
        {
            if (Nodes[i].Node == node)
            {
                return Read[i];
            }
        }

        return null;
    }

    public bool Equals(CassandraPosition? other) => other is not null && IsReplicas == other.IsReplicas && Nodes.SequenceEqual(other.Nodes)
        && Read.SequenceEqual(other.Read, ReadComparer.Instance);

    public override int GetHashCode() => HashCode.Combine(Nodes.Count, Nodes[0]);

    public string ToJson() => IsReplicas
        ? JsonSerializer.Serialize(new Dictionary<string, object>
        {
            ["nodes"] = Nodes.Select((n, i) => (n.Node, Fields: Fields(i))).ToDictionary(n => n.Node, n => n.Fields),
        })
        : JsonSerializer.Serialize(new Dictionary<string, object> { ["node"] = Node }.Concat(Fields(0)).ToDictionary());

    public override string ToString() => string.Join(", ", Nodes.Select((n, i) => Read[i] is { Count: > 0 } read ? $"{n.Node}@{n.Log} (3.x segments read below it: {string.Join(", ", read)})" : $"{n.Node}@{n.Log}"));

    private Dictionary<string, object> Fields(int node)
    {
        var fields = new Dictionary<string, object> { ["segment"] = Nodes[node].Log.SegmentId, ["offset"] = Nodes[node].Log.Offset };
        if (Read[node] is { } read)
        {
            fields["read"] = read;
        }

        return fields;
    }

    public static CassandraPosition Parse(string json)
    {
        try
        {
            using var document = JsonDocument.Parse(json);
            var root = document.RootElement;
            if (root.TryGetProperty("nodes", out var nodes))
            {
                List<(string, CommitLogPosition)> list = [];
                List<IReadOnlyList<long>?> read = [];
                foreach (var node in nodes.EnumerateObject())
                {
                    list.Add((node.Name, ReadLog(node.Value)));
                    read.Add(ReadSegments(node.Value));
                }

                if (list.Count == 0)
                {
                    throw new FormatException("nodes is empty");
                }

                return new CassandraPosition(list, replicas: true, read);
            }

            return new CassandraPosition(root.GetProperty("node").GetString() ?? throw new FormatException("node is null"), ReadLog(root), ReadSegments(root));
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

    private static long[]? ReadSegments(JsonElement element)
    {
        if (!element.TryGetProperty("read", out var read))
        {
            return null;
        }

        var ids = read.EnumerateArray().Select(id => id.GetInt64()).ToArray();
        if (ids.Any(id => id < 0))
        {
            throw new FormatException("read holds a negative segment id");
        }

        return ids;
    }

    private sealed class ReadComparer : IEqualityComparer<IReadOnlyList<long>?>
    {
        public static readonly ReadComparer Instance = new();

        public bool Equals(IReadOnlyList<long>? x, IReadOnlyList<long>? y) => x is null ? y is null : y is not null && x.SequenceEqual(y);

        public int GetHashCode(IReadOnlyList<long>? obj) => obj?.Count ?? -1;
    }
}
