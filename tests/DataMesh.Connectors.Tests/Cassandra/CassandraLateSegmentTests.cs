using System.Reflection;
using DataMesh.Connectors.Cassandra;
using DataMesh.Events;
using DataMesh.Schemas;
using DataMesh.Sources;
using Microsoft.Extensions.Logging.Abstractions;
using Xunit;

namespace DataMesh.Tests.Cassandra;

/// <summary>Cassandra 3.x segments read in order, deleted once acknowledged: what the source remembers of them stays
/// bounded.</summary>
public sealed partial class CassandraSourceTests
{
    [Fact]
    public async Task The_cassandra_3_segments_listed_by_stored_positions_are_forgotten_once_deleted()
    {
        for (var id = 700; id < 720; id++)
        {
            MoveIn(_directory, $"CommitLog-6-{id}.log", SegmentWriter.Plain(6, id, [[Insert(id, 1, id)]], size: 1 << 12));
        }

        var options = Options(OrdersTable());
        _schemas ??= await KafkaSchemaStore.CreateAsync(new KafkaSchemaStoreOptions { EmbeddedCluster = _kafka.EmbeddedCluster, Topic = "schemas-" + Guid.NewGuid().ToString("N") });
        var connector = new CassandraConnector("cass", options, NullLogger.Instance);
        var runtime = new SourceRuntime<CassandraPosition>("cass", connector, options, new ChangeEventOptions { TopicPrefix = _prefix },
            _kafka, _schemas, _positions, null, NullLogger.Instance);
        using var stop = new CancellationTokenSource();
        var run = runtime.RunAsync(stop.Token);
        await ReadAsync(Topic("shop", "orders"), 20);
        await WaitUntilAsync(() => Directory.GetFiles(_directory).Length == 0 && runtime.StoredPosition?.ReadOf(Node) is [], "every segment deleted and a stored position with an empty list");
        await Task.Delay(500);
        await stop.CancelAsync();
        Assert.Equal(SourceOutcome.Stopped, await run);

        // One id per 3.x segment the node ever wrote would be kept (and copied at every loop) for as long as the source runs.
        var storedRead = (HashSet<long>[])typeof(CassandraConnector).GetField("_storedRead", BindingFlags.NonPublic | BindingFlags.Instance)!.GetValue(connector)!;
        Assert.Empty(storedRead[0]);
    }
}
