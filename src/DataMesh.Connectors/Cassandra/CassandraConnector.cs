using System.IO.Hashing;
using System.Text;
using DataMesh.Connectors.Cassandra.Cdc;
using DataMesh.Connectors.Cassandra.CommitLog;
using DataMesh.Connectors.Cassandra.Mutations;
using DataMesh.Connectors.Cassandra.Replicas;
using DataMesh.Connectors.Cassandra.Schema;
using DataMesh.Events;
using DataMesh.Sources;
using Microsoft.Extensions.Logging;

namespace DataMesh.Connectors.Cassandra;

/// <summary>
/// The Cassandra connector on the source runtime: follows one node's <c>cdc_raw</c> directory (<see cref="CdcRawFollower"/>),
/// or several nodes' (<see cref="CassandraSourceOptions.Nodes"/>: directories, or agents over HTTPS) with their copies of each write de-duplicated
/// (<see cref="ReplicaDeduplicator"/>), decodes the mutations of the tables declared in
/// <see cref="CassandraSourceOptions.Tables"/> and hands each row to the runtime (<see cref="CassandraEventWriter"/>). A
/// position is, per node, the end of the last mutation handed over (or the start of its oldest copy still waiting for the
/// consistency level); the runtime stores it only after Kafka acknowledged everything before it, and only then
/// (<see cref="OnPositionStoredAsync"/>) may the segments wholly before it be deleted from <c>cdc_raw</c>.
/// </summary>
internal sealed class CassandraConnector : SourceConnector<CassandraPosition>
{
    /// <summary>Entries handed to the runtime per poll at most: bounds what one flush holds (a 32 MiB segment may hold
    /// hundreds of thousands).</summary>
    internal const int MaxEntriesPerPoll = 20_000;

    /// <summary>How long a Cassandra 3.x segment's length must stay the same before it is read: 3.x moves a segment into
    /// <c>cdc_raw</c> with Java's Files.move, a copy when <c>cdc_raw</c> is on another file system (<see cref="CdcRawFollower.SettleTime"/>).</summary>
    internal static readonly TimeSpan Version30SettleTime = TimeSpan.FromSeconds(1);

    /// <summary>How long a Cassandra 3.x segment that ends inside a compressed or encrypted section must keep its length
    /// before that section is taken as torn at a crash and the segment as read (<see cref="CdcRawFollower.TornSettleTime"/>):
    /// longer than <see cref="Version30SettleTime"/>, as a copy held up there loses the rest of the segment.</summary>
    internal static readonly TimeSpan Version30TornSettleTime = TimeSpan.FromSeconds(30);

    /// <summary>The column after a clustered table's own that holds a range deletion's start bound (JSON; null in every
    /// other event). docs/cassandra.md, "Range deletions".</summary>
    internal const string RangeStartColumn = "_range_start";

    /// <summary>The column that holds a range deletion's end bound.</summary>
    internal const string RangeEndColumn = "_range_end";

    private readonly string _name;
    private readonly CassandraSourceOptions _options;
    private readonly ILogger _logger;
    private readonly TimeProvider _time;
    private readonly IReadOnlyList<(string Name, string Directory)> _nodes;
    private readonly CommitLogPosition[] _stored;

    /// <summary>Per node, the 3.x segments that stored positions listed as read (so their events were acknowledged).</summary>
    private readonly HashSet<long>[] _storedRead;
    private readonly Lock _storedLock = new();

    public CassandraConnector(string name, CassandraSourceOptions options, ILogger logger, TimeProvider? time = null)
    {
        _name = name;
        _options = options;
        _logger = logger;
        _time = time ?? TimeProvider.System;
        _nodes = options.NodeDirectories;
        _stored = new CommitLogPosition[_nodes.Count];
        _storedRead = [.. _nodes.Select(_ => new HashSet<long>())];
    }

    public override string Kind => "cassandra";

    public override IReadOnlyList<SourceField> PositionFields => CassandraSourceBlock.Fields;

    public override string FormatPosition(CassandraPosition position) => position.ToJson();

    public override CassandraPosition ParsePosition(string text) => CassandraPosition.Parse(text);

    public override string Describe(CassandraPosition position) => position.ToString();

    public override bool? IsTransient(Exception exception) => exception switch
    {
        // A segment cut short may be a copy taken while the node wrote it: reading again later may succeed.
        CommitLogFormatException format => format.Error == CommitLogError.Truncated,
        IOException or UnauthorizedAccessException => true,
        _ => null,
    };

    public override ValueTask OnPositionStoredAsync(CassandraPosition position, CancellationToken cancellationToken)
    {
        lock (_storedLock)
        {
            for (var i = 0; i < _nodes.Count; i++)
            {
                if (position.Of(_nodes[i].Name) is { } log && log > _stored[i])
                {
                    _stored[i] = log;
                }

                if (position.ReadOf(_nodes[i].Name) is { } read)
                {
                    _storedRead[i].UnionWith(read);
                }
            }
        }

        return ValueTask.CompletedTask;
    }

    /// <summary>How a table is described to the runtime: the key is the partition key and the clustering columns; the
    /// clustering columns are nullable when the table has them (a partition deletion, a prefix deletion, a range deletion
    /// and the static row leave some null); every other column is nullable. A table with clustering columns has two more,
    /// <see cref="RangeStartColumn"/> and <see cref="RangeEndColumn"/> (JSON text), set only in range deletions.</summary>
    internal static SourceTableInfo TableInfo(CassandraTable table)
    {
        var keyCount = table.PartitionKey.Count + table.Clustering.Count;
        var columns = table.Columns.Select(c => new ColumnDescription(c.Name, CassandraValueWriter.TypeOf(c.Type), c.Kind != CassandraColumnKind.PartitionKey)).ToList();
        if (table.Clustering.Count > 0)
        {
            columns.Add(new ColumnDescription(RangeStartColumn, DataType.Of(DataTypeKind.Json, "range bound"), IsNullable: true));
            columns.Add(new ColumnDescription(RangeEndColumn, DataType.Of(DataTypeKind.Json, "range bound"), IsNullable: true));
        }

        return new SourceTableInfo(new TableDescription(table.Keyspace, table.Name, columns, [.. table.Columns.Take(keyCount).Select(c => c.Name)]), table.Keyspace, null);
    }

    /// <summary>Where each node starts: its stored position, or its oldest segment.</summary>
    private CommitLogPosition[] Starts(CassandraPosition? start)
    {
        var replicas = _options.Nodes.Count > 0;
        var starts = new CommitLogPosition[_nodes.Count];
        if (start is null)
        {
            return starts;
        }

        var names = _nodes.Select(n => n.Name).ToList();
        var stored = start.Nodes.Select(n => n.Node).ToList();
        if (start.IsReplicas != replicas || !stored.Order(StringComparer.Ordinal).SequenceEqual(names, StringComparer.Ordinal))
        {
            throw new SourceException(
                $"Cassandra source '{_name}': the stored position {start} is of node(s) {string.Join(", ", stored)}, but this source reads {string.Join(", ", names)} ({(replicas ? "Nodes" : "Node")}). " +
                "Segment ids and offsets belong to one node: give each node (or each set of nodes) its own source name, or reset the stored position to start afresh.",
                isTransient: false);
        }

        for (var i = 0; i < starts.Length; i++)
        {
            starts[i] = start.Of(names[i])!.Value;
        }

        return starts;
    }

    public override async Task RunAsync(SourceContext<CassandraPosition> context, CassandraPosition? start, CancellationToken cancellationToken)
    {
        var read = Starts(start);
        var filter = new TableFilter(_options, ["system", "system_schema", "system_auth", "system_distributed", "system_traces", "system_views", "system_virtual_schema"]);
        var tableSource = new CassandraTableSource(_name, _options, filter, _logger);
        var definitions = await tableSource.LoadAsync(cancellationToken).ConfigureAwait(false);
        var readerOptions = new CommitLogReaderOptions();
        foreach (var (alias, key) in _options.Keys())
        {
            readerOptions.EncryptionKeys[alias] = key;
        }

        var tables = new Dictionary<CassandraTable, SourceTable>();
        var writer = new CassandraEventWriter(context, _nodes[0].Name, table =>
        {
            if (!tables.TryGetValue(table, out var described))
            {
                tables[table] = described = context.Table(TableInfo(table));
            }

            return described;
        });

        // Every captured table is registered at start, as the other connectors register theirs: its schemas and topic exist
        // (and the source's registration lists it) before its first mutation arrives, which then waits for none of it.
        foreach (var definition in definitions)
        {
            tables[definition.Table] = context.Table(TableInfo(definition.Table));
        }

        await context.RegisterAllAsync(tables.Values, cancellationToken).ConfigureAwait(false);

        var replicas = _options.Nodes.Count > 0;
        var required = _options.Replicas.RequiredCopies(_nodes.Count);
        var metrics = replicas ? new ReplicaMetrics(_name) : null;
        var reader = new EntryReader(this, new MutationDecoder(tableSource.Schema(definitions)), writer,
            replicas ? new ReplicaDeduplicator(_nodes.Count, required, _options.Replicas.Window, _options.Replicas.MaxEntries, _time) : null, metrics, tableSource);
        var stores = _nodes.Select(n => CassandraAgentConnection.IsAgent(n.Directory)
            ? (ICdcRawStore)new CdcRawAgentClient(_name, n.Name, new Uri(n.Directory), _options.Agent, _options.KeepSegments)
            : new CdcRawDirectory(n.Directory)).ToArray();
        using var storesScope = new Disposables(stores);
        var followers = stores.Select(store => new CdcRawFollower(store, readerOptions) { KeepSegments = _options.KeepSegments, SettleTime = Version30SettleTime, TornSettleTime = Version30TornSettleTime, Time = _time, Logger = _logger, Source = _name }).ToArray();
        for (var i = 0; i < followers.Length; i++)
        {
            followers[i].Resume(read[i], start?.ReadOf(_nodes[i].Name));
        }
        lock (_storedLock)
        {
            for (var i = 0; i < read.Length; i++)
            {
                _stored[i] = read[i] > _stored[i] ? read[i] : _stored[i];
            }
        }

        var tableNames = string.Join(", ", definitions.Select(d => d.Table.QualifiedName));
        for (var i = 0; i < _nodes.Count; i++)
        {
            CassandraLog.Starting(_logger, _name, _nodes[i].Directory, _nodes[i].Name, read[i].ToString(), start is null ? "no stored position: the oldest segment in cdc_raw" : "stored position", tableNames);
        }

        if (replicas)
        {
            CassandraLog.Replicas(_logger, _name, _nodes.Count, required, _options.Replicas.ConsistencyLevel, _options.Replicas.Window, _options.Replicas.MaxEntries);
        }

        var last = start;
        var perNode = Math.Max(1, MaxEntriesPerPoll / _nodes.Count);
        var unreachable = new bool[_nodes.Count];
        // Directories are watched; an agent is asked at every poll interval.
        using var changes = new CdcRawWatcher(stores.OfType<CdcRawDirectory>().Select(d => d.Location), (directory, e) => CassandraLog.WatchUnavailable(_logger, _name, directory, e.Message, _options.PollInterval));
        context.StreamingStarted();
        while (!cancellationToken.IsCancellationRequested)
        {
            var entries = 0;
            var full = false;
            for (var i = 0; i < _nodes.Count; i++)
            {
                var before = reader.Entries;
                reader.Node = i;
                reader.Handled = read[i];
                try
                {
                    read[i] = followers[i].Poll(read[i], reader.Handle, perNode, cancellationToken);
                }
                catch (IOException ex) when (replicas && _nodes.Count - unreachable.Count(u => u) - (unreachable[i] ? 0 : 1) >= required)
                {
                    // One node out of reach (its agent down, its volume not mounted) while the others can still bring
                    // every write to the consistency level: they go on. Its position stays where it was (after what was
                    // handed over before the error); it is read again at the next poll. Meanwhile the replica window stands
                    // still, as during backpressure: no copy waiting for it expires, so none that it holds is dropped as
                    // late when it is back. With too few nodes left the error stops the run, which retries from the
                    // stored positions, as before.
                    read[i] = reader.Handled > read[i] ? reader.Handled : read[i];
                    if (!unreachable[i])
                    {
                        if (!unreachable.Any(u => u))
                        {
                            reader.Deduplicator!.Pause();
                        }

                        unreachable[i] = true;
                        CassandraLog.NodeUnreachable(_logger, _name, _nodes[i].Name, ex.Message);
                    }

                    entries += (int)(reader.Entries - before);
                    continue;
                }
                catch (CassandraSchemaChangedException changed)
                {
                    // The schema changed while the source ran: the entries before this one were handed over; read
                    // system_schema again and go on from this entry (once: the same error again stops the source). In a
                    // 3.x segment read late (below the position) the position stays: the follower reads on after the entries
                    // it handed over.
                    tableSource.Rereading(changed.Message);
                    reader.RereadAt = changed.At;
                    read[i] = reader.Handled > read[i] ? reader.Handled : read[i];
                    definitions = await tableSource.LoadAsync(cancellationToken).ConfigureAwait(false);
                    reader.Decoder = new MutationDecoder(tableSource.Schema(definitions));
                }

                if (unreachable[i])
                {
                    unreachable[i] = false;
                    CassandraLog.NodeReachable(_logger, _name, _nodes[i].Name);
                    if (!unreachable.Any(u => u))
                    {
                        reader.Deduplicator!.Resume();
                    }
                }

                entries += (int)(reader.Entries - before);
                full |= reader.Entries - before >= perNode;
            }

            var position = Position(read, reader.Deduplicator);
            if (position != last)
            {
                last = position;
                context.Checkpoint(position);
                CassandraLog.Read(_logger, _name, entries, position.ToString(), writer.Events);
            }

            if (reader.Deduplicator is { } dedup && metrics!.Report(dedup) is > 0 and var expired)
            {
                CassandraLog.Expired(_logger, _name, expired, dedup.Required, dedup.Window);
            }

            if (context.HasPending)
            {
                // Waiting for the sink (backpressure) is not reading: the replica window stands still meanwhile, or
                // copies read before and after a long stall would no longer be matched (docs/cassandra.md). (It stands
                // still already while a node is out of reach.)
                var pause = !unreachable.Any(u => u);
                if (pause)
                {
                    reader.Deduplicator?.Pause();
                }

                try
                {
                    await context.FlushAsync(cancellationToken).ConfigureAwait(false);
                }
                finally
                {
                    if (pause)
                    {
                        reader.Deduplicator?.Resume();
                    }
                }
            }

            for (var i = 0; i < _nodes.Count; i++)
            {
                CommitLogPosition stored;
                HashSet<long>? storedRead;
                lock (_storedLock)
                {
                    // Only the late segments still waiting for a listing matter: the other ids (one per 3.x segment read in
                    // order, listed until deleted) are forgotten, or the set would grow for as long as the source runs.
                    var follower = followers[i];
                    _storedRead[i].RemoveWhere(id => !follower.AwaitsListing(id));
                    stored = _stored[i];
                    storedRead = _storedRead[i].Count > 0 ? [.. _storedRead[i]] : null;
                }

                IReadOnlyList<string> deleted;
                try
                {
                    deleted = followers[i].DeleteAcknowledged(stored, storedRead, cancellationToken);
                }
                catch (IOException ex)
                {
                    // An agent away or a file system error: the segment stays acknowledged and is deleted at a later loop;
                    // restarting the source for it would forget the replica window's state.
                    CassandraLog.DeleteFailed(_logger, _name, _nodes[i].Name, ex.Message);
                    continue;
                }

                if (deleted.Count > 0)
                {
                    CassandraLog.SegmentsDeleted(_logger, _name, deleted.Count, string.Join(", ", deleted));
                }
            }

            context.ReportProgress(0);
            if (!full)
            {
                // A new segment or a grown _cdc.idx wakes the loop at once; the interval is the fallback.
                await changes.WaitAsync(_options.PollInterval, cancellationToken).ConfigureAwait(false);
            }
        }

        CassandraPosition Position(CommitLogPosition[] read, ReplicaDeduplicator? deduplicator)
        {
            if (!replicas)
            {
                return new CassandraPosition(_nodes[0].Name, read[0], followers[0].Read(read[0].SegmentId));
            }

            // Forget what the window has passed first: an update that can no longer be published holds nothing.
            deduplicator!.Expire();
            var safe = _nodes.Select((n, i) => (Node: n.Name, Log: deduplicator.SafePosition(i, read[i]))).ToList();
            // A 3.x segment is listed as read only below the node's safe position: none of its copies still waits.
            return new CassandraPosition(safe, replicas: true, [.. safe.Select((n, i) => followers[i].Read(n.Log.SegmentId))]);
        }
    }

    /// <summary>Hands each entry of a poll to the decoder and the event writer; for several nodes, first to the
    /// deduplicator, partition update by partition update, so that only the copies that reach the consistency level are
    /// written (from the copy that reached it: its node, segment and offset are the event's).</summary>
    private sealed class EntryReader(CassandraConnector connector, MutationDecoder decoder, CassandraEventWriter eventWriter, ReplicaDeduplicator? deduplicator, ReplicaMetrics? metrics, CassandraTableSource tableSource)
    {
        private readonly byte[][] _nodeNames = [.. connector._nodes.Select(n => Encoding.UTF8.GetBytes(n.Name))];
        private readonly List<bool> _publish = [];
        private NoHandler _scan;

        public ReplicaDeduplicator? Deduplicator => deduplicator;

        /// <summary>The node being polled (its index).</summary>
        public int Node { get; set; }

        /// <summary>Entries handled since created.</summary>
        public long Entries { get; private set; }

        /// <summary>The decoder, replaced when <c>system_schema</c> is read again.</summary>
        public MutationDecoder Decoder
        {
            get => decoder;
            set => decoder = value;
        }

        /// <summary>Where the last entry of the node being polled that was handed over ends (set before each poll).</summary>
        public CommitLogPosition Handled { get; set; }

        /// <summary>The entry that last made the source read <c>system_schema</c> again: the same error there stops it.</summary>
        public CommitLogPosition? RereadAt { get; set; }

        public void Handle(string segment, in CommitLogEntry entry)
        {
            Entries++;
            var writer = eventWriter;
            try
            {
                if (deduplicator is null)
                {
                    writer.Begin(segment, entry.SegmentId, entry.End);
                    Report(segment, entry, decoder.Decode(entry.Mutation, segment, entry.Offset + 8, ref writer));
                    writer.End();
                    Handled = entry.Position;
                    return;
                }

                // First the digests: which partition updates this copy publishes.
                if (!Report(segment, entry, decoder.Decode(entry.Mutation, segment, entry.Offset + 8, ref _scan)))
                {
                    Handled = entry.Position;
                    return;
                }

                _publish.Clear();
                var any = false;
                for (var i = 0; i < decoder.PartitionCount; i++)
                {
                    var (start, length) = decoder.PartitionBytes(i);
                    var decision = deduplicator.Observe(XxHash128.HashToUInt128(entry.Mutation.Slice(start, length)), Node, new CommitLogPosition(entry.SegmentId, entry.Offset));
                    metrics!.Copy(decision);
                    _publish.Add(decision == CopyDecision.Publish);
                    any |= decision == CopyDecision.Publish;
                }

                if (any)
                {
                    writer.Begin(segment, entry.SegmentId, entry.End, _nodeNames[Node], _publish);
                    decoder.Decode(entry.Mutation, segment, entry.Offset + 8, ref writer);
                    writer.End();
                }

                Handled = entry.Position;
            }
            catch (CommitLogFormatException ex) when (ex.Error == CommitLogError.Unsupported && tableSource.FromSystemSchema && RereadAt != entry.Position)
            {
                throw new CassandraSchemaChangedException(entry.Position, ex.Message, ex);
            }
            catch (FormatException ex) when (ex is not CommitLogFormatException)
            {
                throw new SourceException($"Cassandra source '{connector._name}': a value in commit-log segment {segment} of node {connector._nodes[Node].Name} at offset {entry.Offset} cannot be read: {ex.Message}", isTransient: false, ex);
            }
        }

        private bool Report(string segment, in CommitLogEntry entry, MutationOutcome outcome)
        {
            if (outcome == MutationOutcome.UnknownTable)
            {
                if (tableSource.ShouldReread(decoder.UnknownTableId))
                {
                    throw new CassandraSchemaChangedException(entry.Position, $"a mutation of table id {decoder.UnknownTableId}, which the schema read did not know");
                }

                CassandraLog.UnknownTable(connector._logger, connector._name, segment, entry.Offset, decoder.UnknownTableId);
                return false;
            }

            return true;
        }
    }

    /// <summary>Disposes the nodes' stores (an agent's HTTP client) when the run ends.</summary>
    private sealed class Disposables(IEnumerable<IDisposable> items) : IDisposable
    {
        public void Dispose()
        {
            foreach (var item in items)
            {
                item.Dispose();
            }
        }
    }
}
