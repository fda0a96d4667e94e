using System.Text;
using Confluent.Kafka;
using DataMesh.Connectors.Cassandra;
using DataMesh.Connectors.Cassandra.Schema;
using DataMesh.Events;
using DataMesh.Hosting;
using DataMesh.Schemas;
using DataMesh.Sources;
using Microsoft.Extensions.Logging.Abstractions;
using Xunit;

namespace DataMesh.Tests.Cassandra;

/// <summary>
/// The Cassandra source with its tables from <c>system_schema</c> (<see cref="FakeCassandraServer"/>, no Cassandra runs
/// here) on the embedded Kafka cluster: a table created and a column added while the source runs are read by reading
/// <c>system_schema</c> again, once, instead of stopping the source or passing the mutations over.
/// </summary>
public sealed class CassandraSchemaChangeTests : IAsyncDisposable
{
    private const long T0 = 1_700_000_000_000_000;
    private static readonly Guid ItemsId = Guid.Parse("0d4b2c3b-0000-4000-8000-0000000000f1");
    private static readonly Guid AddedId = Guid.Parse("0d4b2c3b-0000-4000-8000-0000000000f2");

    private readonly string _directory = Directory.CreateTempSubdirectory("datamesh-cdc-raw-").FullName;
    private readonly string _prefix = "cq" + Guid.NewGuid().ToString("N")[..8];
    private readonly KafkaConnection _kafka = new(new KafkaOptions { RequestTimeout = TimeSpan.FromSeconds(10) });
    private readonly PositionStore _positions;
    private readonly FakeCassandraServer _server = new();
    private KafkaSchemaStore? _schemas;

    public CassandraSchemaChangeTests()
    {
        _positions = new PositionStore(_kafka, "positions-" + Guid.NewGuid().ToString("N"));
    }

    [Fact]
    public async Task A_column_added_and_a_table_created_while_the_source_runs_are_read_after_one_more_read_of_system_schema()
    {
        Schema(withNote: false, withAdded: false).AnswerOn(_server);
        var runtime = await RuntimeAsync();
        using var stop = new CancellationTokenSource();
        var run = runtime.RunAsync(stop.Token);
        await WaitUntilAsync(() => _server.Queries(SystemSchemaReader.DroppedQuery) == 1, "the first read of system_schema (its last query)");

        // ALTER TABLE shop.items ADD note text; then writes that use it.
        Schema(withNote: true, withAdded: false).AnswerOn(_server);
        byte[][] first = [Insert(ItemsId, 1, 1, 10, note: null), Insert(ItemsId, 2, 1, 20, note: "written-after-the-add")];
        byte[][] second = [Insert(AddedId, 3, 1, 30, note: null)];
        var writer = new CdcRawWriter(_directory, 7, 100, [first, second]);
        writer.Sync(1);
        var items = await CountAsync(Topic("items"), 2);
        Assert.Equal(2, items.Count);
        Assert.Contains(items, v => Encoding.UTF8.GetString(v).Contains("written-after-the-add", StringComparison.Ordinal));
        Assert.Equal(2, _server.Queries(SystemSchemaReader.TablesQuery));

        // CREATE TABLE shop.added (…) WITH cdc = true; then a write to it.
        Schema(withNote: true, withAdded: true).AnswerOn(_server);
        writer.Sync(2, completed: true);
        Assert.Single(await CountAsync(Topic("added"), 1));
        Assert.Equal(3, _server.Queries(SystemSchemaReader.TablesQuery));
        await stop.CancelAsync();
        Assert.Equal(SourceOutcome.Stopped, await run);
    }

    [Fact]
    public async Task A_column_that_system_schema_still_does_not_know_after_reading_it_again_stops_the_source_naming_table_and_column()
    {
        Schema(withNote: false, withAdded: false).AnswerOn(_server);
        var runtime = await RuntimeAsync();
        var run = runtime.RunAsync(CancellationToken.None);
        byte[][] mutations = [Insert(ItemsId, 1, 1, 10, note: "a column no schema has")];
        new CdcRawWriter(_directory, 7, 100, [mutations]).Sync(1, completed: true);

        Assert.Equal(SourceOutcome.Failed, await run.WaitAsync(TimeSpan.FromSeconds(30)));
        Assert.Contains("table shop.items has no regular column 'note'", runtime.FatalError!.Message, StringComparison.Ordinal);
        Assert.Equal(2, _server.Queries(SystemSchemaReader.TablesQuery));
    }

    public async ValueTask DisposeAsync()
    {
        await _server.DisposeAsync();
        _positions.Dispose();
        _schemas?.Dispose();
        _kafka.Dispose();
        Directory.Delete(_directory, recursive: true);
    }

    private async Task<SourceRuntime<CassandraPosition>> RuntimeAsync()
    {
        var options = new CassandraSourceOptions
        {
            CdcRawDirectory = _directory,
            Node = "node1",
            PollInterval = TimeSpan.FromMilliseconds(20),
            PositionSaveInterval = TimeSpan.FromMilliseconds(50),
        };
        options.SchemaConnection.ContactPoint = _server.ContactPoint;
        Assert.Empty(options.Validate("cass"));
        _schemas = await KafkaSchemaStore.CreateAsync(new KafkaSchemaStoreOptions { EmbeddedCluster = _kafka.EmbeddedCluster, Topic = "schemas-" + Guid.NewGuid().ToString("N") });
        return new SourceRuntime<CassandraPosition>("cass", new CassandraConnector("cass", options, NullLogger.Instance), options,
            new ChangeEventOptions { TopicPrefix = _prefix }, _kafka, _schemas, _positions, null, NullLogger.Instance);
    }

    private static FakeSystemSchema Schema(bool withNote, bool withAdded)
    {
        var schema = new FakeSystemSchema()
            .Table("shop", "items", ItemsId, cdc: true)
            .Column("shop", "items", "id", "partition_key", 0, "int")
            .Column("shop", "items", "line", "clustering", 0, "int", "asc")
            .Column("shop", "items", "qty", "regular", -1, "int");
        if (withNote)
        {
            schema.Column("shop", "items", "note", "regular", -1, "text");
        }

        if (withAdded)
        {
            schema.Table("shop", "added", AddedId, cdc: true)
                .Column("shop", "added", "id", "partition_key", 0, "int")
                .Column("shop", "added", "line", "clustering", 0, "int", "asc")
                .Column("shop", "added", "qty", "regular", -1, "int");
        }

        return schema;
    }

    /// <summary>INSERT INTO shop.&lt;table&gt; (id, line, qty[, note]) VALUES (…).</summary>
    private static byte[] Insert(Guid table, int id, int line, int qty, string? note)
    {
        var writer = new MutationWriter().UVInt(1).Partition(table, MutationWriter.Int(id), 0, T0, MutationWriter.DeletionTimeEpoch, 0)
            .Columns(note is null ? ["qty"] : ["note", "qty"])
            .Byte(0x24).ClusteringHeader().Raw(MutationWriter.Int(line)).Timestamp(T0);
        if (note is not null)
        {
            writer.Byte(0x08).VText(note);
        }

        return writer.Byte(0x08).Raw(MutationWriter.Int(qty)).Byte(0x01).ToArray();
    }

    private string Topic(string table) => TopicNames.ForTable(_prefix, "cass", "shop", table);

    /// <summary>The values of a topic's first <paramref name="count"/> records (and any more within half a second).</summary>
    private async Task<List<byte[]>> CountAsync(string topic, int count) => await Task.Run(() =>
    {
        var values = new List<byte[]>();
        using var consumer = new ConsumerBuilder<byte[]?, byte[]?>(_kafka.CreateConsumerConfig(groupId: null)).Build();
        consumer.Assign(new TopicPartitionOffset(topic, 0, Offset.Beginning));
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (DateTime.UtcNow < deadline && values.Count < count)
        {
            if (consumer.Consume(TimeSpan.FromMilliseconds(100)) is { IsPartitionEOF: false, Message.Value: { } value })
            {
                values.Add(value);
            }
        }

        while (consumer.Consume(TimeSpan.FromMilliseconds(500)) is { IsPartitionEOF: false, Message.Value: { } more })
        {
            values.Add(more);
        }

        return values;
    });

    private static async Task WaitUntilAsync(Func<bool> condition, string what)
    {
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (!condition())
        {
            Assert.True(DateTime.UtcNow < deadline, $"waited 30 s for {what}");
            await Task.Delay(20);
        }
    }
}
