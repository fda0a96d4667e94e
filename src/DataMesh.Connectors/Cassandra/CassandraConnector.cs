using DataMesh.Connectors.Cassandra.Cdc;
using DataMesh.Connectors.Cassandra.CommitLog;
using DataMesh.Connectors.Cassandra.Mutations;
using DataMesh.Connectors.Cassandra.Schema;
using DataMesh.Events;
using DataMesh.Sources;
using Microsoft.Extensions.Logging;

namespace DataMesh.Connectors.Cassandra;

/// <summary>
/// The Cassandra connector on the source runtime: follows one node's <c>cdc_raw</c> directory (<see cref="CdcRawFollower"/>),
/// decodes the mutations of the tables declared in <see cref="CassandraSourceOptions.Tables"/> and hands each row to the
/// runtime (<see cref="CassandraEventWriter"/>). A position is the node and the end of the last mutation handed over; the
/// runtime stores it only after Kafka acknowledged everything before it, and only then (<see cref="OnPositionStoredAsync"/>)
/// may the segments wholly before it be deleted from <c>cdc_raw</c>.
/// </summary>
internal sealed class CassandraConnector : SourceConnector<CassandraPosition>
{
    /// <summary>Entries handed to the runtime per poll at most: bounds what one flush holds (a 32 MiB segment may hold
    /// hundreds of thousands).</summary>
    internal const int MaxEntriesPerPoll = 20_000;

    private readonly string _name;
    private readonly CassandraSourceOptions _options;
    private readonly ILogger _logger;
    private CommitLogPosition _stored;
    private readonly Lock _storedLock = new();

    public CassandraConnector(string name, CassandraSourceOptions options, ILogger logger)
    {
        _name = name;
        _options = options;
        _logger = logger;
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
            if (position.Log > _stored)
            {
                _stored = position.Log;
            }
        }

        return ValueTask.CompletedTask;
    }

    /// <summary>How a table is described to the runtime: the key is the partition key and the clustering columns; the
    /// clustering columns are nullable when the table has them (a partition deletion, a prefix deletion and the static row
    /// leave some null); every other column is nullable.</summary>
    internal static SourceTableInfo TableInfo(CassandraTable table)
    {
        var keyCount = table.PartitionKey.Count + table.Clustering.Count;
        var columns = table.Columns.Select(c => new ColumnDescription(c.Name, CassandraValueWriter.TypeOf(c.Type), c.Kind != CassandraColumnKind.PartitionKey)).ToList();
        return new SourceTableInfo(new TableDescription(table.Keyspace, table.Name, columns, [.. table.Columns.Take(keyCount).Select(c => c.Name)]), table.Keyspace, null);
    }

    public override async Task RunAsync(SourceContext<CassandraPosition> context, CassandraPosition? start, CancellationToken cancellationToken)
    {
        var node = _options.EffectiveNode;
        if (start is not null && start.Node != node)
        {
            throw new SourceException(
                $"Cassandra source '{_name}': the stored position {start} is of node '{start.Node}', but this source reads node '{node}' (Node). " +
                "Segment ids and offsets belong to one node: give each node its own source name, or reset the stored position to start afresh.",
                isTransient: false);
        }

        var filter = new TableFilter(_options, ["system", "system_schema", "system_auth", "system_distributed", "system_traces", "system_views", "system_virtual_schema"]);
        var tableSource = new CassandraTableSource(_name, _options, filter, _logger);
        var definitions = await tableSource.LoadAsync(cancellationToken).ConfigureAwait(false);
        var readerOptions = new CommitLogReaderOptions();
        foreach (var (alias, key) in _options.Keys())
        {
            readerOptions.EncryptionKeys[alias] = key;
        }

        var decoder = new MutationDecoder(new CassandraSchema(definitions.Select(d => d.Table)));
        var follower = new CdcRawFollower(_options.CdcRawDirectory, readerOptions) { KeepSegments = _options.KeepSegments };
        var tables = new Dictionary<CassandraTable, SourceTable>();
        var writer = new CassandraEventWriter(context, node, table =>
        {
            if (!tables.TryGetValue(table, out var described))
            {
                tables[table] = described = context.Table(TableInfo(table));
            }

            return described;
        });

        var position = start?.Log ?? new CommitLogPosition(0, 0);
        lock (_storedLock)
        {
            _stored = position > _stored ? position : _stored;
        }

        CassandraLog.Starting(_logger, _name, _options.CdcRawDirectory, node, position.ToString(), start is null ? "no stored position: the oldest segment in cdc_raw" : "stored position",
            string.Join(", ", definitions.Select(d => d.Table.QualifiedName)));
        context.StreamingStarted();
        CommitLogPosition? rereadAt = null;
        while (!cancellationToken.IsCancellationRequested)
        {
            var entries = 0;
            var handled = position;
            CommitLogPosition read;
            try
            {
                read = follower.Poll(position, (string segment, in CommitLogEntry entry) =>
                {
                    entries++;
                    writer.Begin(segment, entry.SegmentId, entry.End);
                    MutationOutcome outcome;
                    try
                    {
                        outcome = decoder.Decode(entry.Mutation, segment, entry.Offset + 8, ref writer);
                        writer.End();
                    }
                    catch (FormatException ex) when (ex is not CommitLogFormatException)
                    {
                        throw new SourceException($"Cassandra source '{_name}': a value in commit-log segment {segment} at offset {entry.Offset} cannot be read: {ex.Message}", isTransient: false, ex);
                    }
                    catch (CommitLogFormatException ex) when (ex.Error == CommitLogError.Unsupported && tableSource.FromSystemSchema && rereadAt != entry.Position)
                    {
                        throw new CassandraSchemaChangedException(entry.Position, ex.Message, ex);
                    }

                    if (outcome == MutationOutcome.UnknownTable)
                    {
                        if (tableSource.ShouldReread(decoder.UnknownTableId))
                        {
                            throw new CassandraSchemaChangedException(entry.Position, $"a mutation of table id {decoder.UnknownTableId}, which the schema read did not know");
                        }

                        CassandraLog.UnknownTable(_logger, _name, segment, entry.Offset, decoder.UnknownTableId);
                    }

                    handled = entry.Position;
                }, MaxEntriesPerPoll);
            }
            catch (CassandraSchemaChangedException changed)
            {
                // The schema changed while the source ran: the entries before this one were handed over; read
                // system_schema again and go on from this entry (once: the same error again stops the source).
                tableSource.Rereading(changed.Message);
                rereadAt = changed.At;
                read = handled;
                definitions = await tableSource.LoadAsync(cancellationToken).ConfigureAwait(false);
                decoder = new MutationDecoder(new CassandraSchema(definitions.Select(d => d.Table)));
            }

            if (read != position)
            {
                position = read;
                context.Checkpoint(new CassandraPosition(node, position));
                CassandraLog.Read(_logger, _name, entries, position.ToString(), writer.Events);
            }

            if (context.HasPending)
            {
                await context.FlushAsync(cancellationToken).ConfigureAwait(false);
            }

            CommitLogPosition stored;
            lock (_storedLock)
            {
                stored = _stored;
            }

            var deleted = follower.DeleteAcknowledged(stored);
            if (deleted.Count > 0)
            {
                CassandraLog.SegmentsDeleted(_logger, _name, deleted.Count, string.Join(", ", deleted));
            }

            context.ReportProgress(0);
            if (entries < MaxEntriesPerPoll)
            {
                await Task.Delay(_options.PollInterval, cancellationToken).ConfigureAwait(false);
            }
        }
    }
}
