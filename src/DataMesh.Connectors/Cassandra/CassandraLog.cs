using Microsoft.Extensions.Logging;

namespace DataMesh.Connectors.Cassandra;

/// <summary>Log messages of the Cassandra connector (event ids 2400-2499). No cell value is logged.</summary>
internal static partial class CassandraLog
{
    [LoggerMessage(EventId = 2400, Level = LogLevel.Information, Message = "Cassandra source '{Source}' reading {Directory} of node {Node} from {Position} ({Origin}); tables {Tables}")]
    public static partial void Starting(ILogger logger, string source, string directory, string node, string position, string origin, string tables);

    [LoggerMessage(EventId = 2401, Level = LogLevel.Information, Message = "Cassandra source '{Source}' deleted {Count} acknowledged segment(s) from cdc_raw: {Segments}")]
    public static partial void SegmentsDeleted(ILogger logger, string source, int count, string segments);

    [LoggerMessage(EventId = 2402, Level = LogLevel.Debug, Message = "Cassandra source '{Source}' skipped the mutation at {Segment}:{Offset} of table id {TableId}, which is not among the captured tables")]
    public static partial void UnknownTable(ILogger logger, string source, string segment, long offset, Guid tableId);

    [LoggerMessage(EventId = 2403, Level = LogLevel.Debug, Message = "Cassandra source '{Source}' read {Entries} commit-log entries up to {Position}, {Events} events")]
    public static partial void Read(ILogger logger, string source, int entries, string position, long events);

    [LoggerMessage(EventId = 2404, Level = LogLevel.Information, Message = "Cassandra source '{Source}' de-duplicates the copies of {Nodes} nodes: publishes a partition update once {Required} node(s) had it ({Level}), remembers each for {Window} and at most {MaxEntries}")]
    public static partial void Replicas(ILogger logger, string source, int nodes, int required, CassandraConsistencyLevel level, TimeSpan window, int maxEntries);

    [LoggerMessage(EventId = 2405, Level = LogLevel.Warning, Message = "Cassandra source '{Source}' forgot {Count} partition update(s) whose copies did not reach {Required} node(s) within {Window}: not published, or a late copy of an update published before (re-read after a restart, a node far behind); a write not published failed its consistency level, or a node was down or far behind")]
    public static partial void Expired(ILogger logger, string source, long count, int required, TimeSpan window);

    [LoggerMessage(EventId = 2406, Level = LogLevel.Warning, Message = "Cassandra source '{Source}' cannot watch {Directory} for changes ({Reason}): it looks for new entries every {Interval} (PollInterval) only")]
    public static partial void WatchUnavailable(ILogger logger, string source, string directory, string reason, TimeSpan interval);

    [LoggerMessage(EventId = 2407, Level = LogLevel.Warning, Message = "Cassandra source '{Source}' could not delete node {Node}'s acknowledged segments ({Reason}): tried again at the next poll")]
    public static partial void DeleteFailed(ILogger logger, string source, string node, string reason);

    [LoggerMessage(EventId = 2408, Level = LogLevel.Warning, Message = "Cassandra source '{Source}': node {Node} cannot be reached ({Reason}); the other nodes go on (their copies bring writes to the consistency level without it), the replica window stands still until it is back (copies waiting for it keep the other nodes' positions back), and it is asked again at every poll")]
    public static partial void NodeUnreachable(ILogger logger, string source, string node, string reason);

    [LoggerMessage(EventId = 2409, Level = LogLevel.Information, Message = "Cassandra source '{Source}': node {Node} is read again")]
    public static partial void NodeReachable(ILogger logger, string source, string node);

    [LoggerMessage(EventId = 2410, Level = LogLevel.Warning, Message = "Cassandra source '{Source}': completed segment {Segment} in {Location} ends inside its last section, which is torn (written when the node crashed): the section's marker at file offset {Marker} (commit-log offset {Offset}) declares its end at {Next}, the file ends at {Length}, {Missing} bytes short. The segment ends there, as it ended Cassandra's replay; the mutations of that section were lost to the node too")]
    public static partial void TornSection(ILogger logger, string source, string segment, string location, int marker, long offset, int missing, int length, int next);
}
