using Avro;
using DataMesh.Kafka;
using DataMesh.Schemas;
using Xunit;

namespace DataMesh.Tests.Schemas;

public sealed class KafkaSchemaStoreTests : IDisposable
{
    private readonly EmbeddedKafkaCluster _cluster = EmbeddedKafkaCluster.Start();
    private readonly string _topic = "_datamesh_schemas-test-" + Guid.NewGuid().ToString("N");

    public void Dispose() => _cluster.Dispose();

    private Task<KafkaSchemaStore> NewStore() =>
        KafkaSchemaStore.CreateAsync(new KafkaSchemaStoreOptions { EmbeddedCluster = _cluster, Topic = _topic });

    private static Schema Record(string name, params string[] fields) =>
        Schema.Parse($$"""{"type":"record","name":"{{name}}","namespace":"test","fields":[{{string.Join(",", fields)}}]}""");

    private const string Id = """{"name":"id","type":"long"}""";

    private static string Optional(string name) => $$"""{"name":"{{name}}","type":["null","string"],"default":null}""";

    [Fact]
    public async Task Register_assigns_offset_based_ids_and_versions_and_is_idempotent()
    {
        await using var store = await NewStore();
        var v1 = Record("Order", Id);
        var v2 = Record("Order", Id, Optional("note"));

        var id1 = await store.RegisterAsync("orders-value", v1);
        var id2 = await store.RegisterAsync("orders-value", v2);

        Assert.Equal(1, id1); // the first record of the topic: offset 0 + 1
        Assert.Equal(2, id2);
        Assert.Equal(id1, await store.RegisterAsync("orders-value", Schema.Parse(v1.ToString())));
        // The same schema under another subject shares the id.
        Assert.Equal(id2, await store.RegisterAsync("orders-copy-value", v2));

        var latest = await store.GetLatestAsync("orders-value");
        Assert.NotNull(latest);
        Assert.Equal(("orders-value", 2, id2), (latest.Subject, latest.Version, latest.Id));
        Assert.Equal(SchemaCanonicalForm.Of(v2), SchemaCanonicalForm.Of(latest.Schema));
        Assert.Equal(SchemaCanonicalForm.Of(v1), SchemaCanonicalForm.Of(await store.GetByIdAsync(id1)));
        Assert.Equal([1, 2], (await store.GetVersionsAsync("orders-value")).Select(v => v.Version));
        Assert.Null(await store.GetLatestAsync("missing-value"));
        await Assert.ThrowsAsync<KeyNotFoundException>(async () => await store.GetByIdAsync(999));
    }

    [Fact]
    public async Task Incompatible_schema_is_refused_with_the_field_and_rule_and_writes_nothing()
    {
        await using var store = await NewStore();
        await store.RegisterAsync("pg.shop.public.orders-value", Record("Order", Id));
        await store.RegisterAsync("pg.shop.public.orders-value", Record("Order", Id, Optional("note")));
        await store.RegisterAsync("pg.shop.public.orders-value", Record("Order", Id, Optional("note"), Optional("status")));

        var error = await Assert.ThrowsAsync<SchemaIncompatibleException>(async () =>
            await store.RegisterAsync("pg.shop.public.orders-value", Record("Order", Id, Optional("note"), Optional("status"), """{"name":"total","type":"double"}""")));

        Assert.Equal(
            "Schema for subject 'pg.shop.public.orders-value' is not BACKWARD compatible with version 3: field 'total' was added without a default",
            error.Message);
        Assert.Equal(3, (await store.GetLatestAsync("pg.shop.public.orders-value"))!.Version);
    }

    [Fact]
    public async Task Compatibility_levels_are_stored_in_the_log_and_apply_to_later_registrations()
    {
        await using var store = await NewStore();
        Assert.Equal(CompatibilityLevel.Backward, await store.GetCompatibilityAsync(null));
        Assert.Equal(CompatibilityLevel.Backward, await store.GetCompatibilityAsync("s-value"));

        await store.RegisterAsync("s-value", Record("S", Id));
        await store.SetCompatibilityAsync("s-value", CompatibilityLevel.None);
        await store.RegisterAsync("s-value", Record("S", """{"name":"id","type":"string"}"""));
        await store.SetCompatibilityAsync(null, CompatibilityLevel.Full);

        await using var other = await NewStore();
        Assert.Equal(CompatibilityLevel.None, await other.GetCompatibilityAsync("s-value"));
        Assert.Equal(CompatibilityLevel.Full, await other.GetCompatibilityAsync("t-value"));
        Assert.Equal(CompatibilityLevel.Full, await other.GetCompatibilityAsync(null));
        await other.RegisterAsync("t-value", Record("T", Id));
        var error = await Assert.ThrowsAsync<SchemaIncompatibleException>(async () =>
            await other.RegisterAsync("t-value", Record("T", Id, """{"name":"x","type":"int"}""")));
        Assert.Equal(CompatibilityLevel.Full, error.Level);
    }

    [Fact]
    public async Task A_new_instance_replays_the_log_to_the_same_ids()
    {
        int id;
        await using (var first = await NewStore())
        {
            await first.RegisterAsync("a-value", Record("A", Id));
            id = await first.RegisterAsync("b-value", Record("B", Id));
        }

        await using var second = await NewStore();
        Assert.Equal(id, (await second.GetLatestAsync("b-value"))!.Id);
        Assert.Equal(id, await second.RegisterAsync("b-value", Record("B", Id)));
    }

    [Fact]
    public async Task Four_instances_registering_overlapping_schemas_at_once_agree_on_every_id_and_version()
    {
        var stores = await Task.WhenAll(Enumerable.Range(0, 4).Select(_ => NewStore()));
        try
        {
            // 16 mutually compatible variants of one subject (the same core, optional fields with defaults),
            // registered by every instance in its own order, all at once.
            var optional = new[] { "a", "b", "c", "d" };
            var variants = Enumerable.Range(0, 16)
                .Select(mask => Record("Order", [Id, .. optional.Where((_, bit) => (mask & (1 << bit)) != 0).Select(Optional)]))
                .ToArray();
            // Two incompatible schemas for a contested subject: whichever reaches the log first wins version 1.
            var contested = new[] { Record("C", """{"name":"x","type":"int"}"""), Record("C", """{"name":"x","type":"string"}""") };

            var results = await Task.WhenAll(stores.Select((store, i) => Task.Run(async () =>
            {
                var order = variants.Select((v, n) => (v, n)).OrderBy(p => (p.n * 7 + i * 5) % 16).ToArray();
                var tasks = order.Select(async p => (p.n, id: await store.RegisterAsync("orders-value", p.v))).ToList();
                var contestedResult = await TryRegister(store, "contested-value", contested[i % 2]);
                var ids = await Task.WhenAll(tasks);
                return (ids: ids.OrderBy(x => x.n).Select(x => x.id).ToArray(), contested: contestedResult);
            })));

            // Every instance got the same id for every variant, and the ids are distinct per variant.
            Assert.All(results, r => Assert.Equal(results[0].ids, r.ids));
            Assert.Equal(16, results[0].ids.Distinct().Count());
            Assert.All(results[0].ids, id => Assert.True(id > 0));

            // Every instance sees the same versions, in the same order, with the same ids.
            var views = await Task.WhenAll(stores.Select(async s => (await s.GetVersionsAsync("orders-value")).Select(v => (v.Version, v.Id)).ToArray()));
            Assert.All(views, v => Assert.Equal(views[0], v));
            Assert.Equal(16, views[0].Length);
            Assert.Equal(Enumerable.Range(1, 16), views[0].Select(v => v.Version));

            // Exactly one of the two incompatible schemas was accepted, and every instance agrees which.
            var contestedViews = await Task.WhenAll(stores.Select(async s => (await s.GetVersionsAsync("contested-value")).Select(v => v.Id).ToArray()));
            Assert.All(contestedViews, v => Assert.Equal(contestedViews[0], v));
            var winner = Assert.Single(contestedViews[0]);
            Assert.All(results, r => Assert.True(r.contested == winner || r.contested == -1));
            Assert.Contains(results, r => r.contested == -1);
        }
        finally
        {
            foreach (var store in stores)
            {
                await store.DisposeAsync();
            }
        }
    }

    [Fact]
    public async Task A_thousand_distinct_schemas_from_four_instances_get_distinct_ids_that_every_instance_resolves()
    {
        var stores = await Task.WhenAll(Enumerable.Range(0, 4).Select(_ => NewStore()));
        try
        {
            const int Count = 1_000;
            var schemas = Enumerable.Range(0, Count)
                .Select(i => Record("R" + i, Id, $$"""{"name":"f{{i}}","type":"string","default":"{{i}}"}"""))
                .ToArray();

            var ids = await Task.WhenAll(schemas.Select((schema, i) => stores[i % 4].RegisterAsync("subject-" + i, schema).AsTask()));

            Assert.Equal(Count, ids.Distinct().Count());
            Assert.All(ids, id => Assert.True(id > 0));
            for (var i = 0; i < Count; i += 37)
            {
                foreach (var store in stores)
                {
                    Assert.Equal(SchemaCanonicalForm.Of(schemas[i]), SchemaCanonicalForm.Of(await store.GetByIdAsync(ids[i])));
                }
            }
        }
        finally
        {
            foreach (var store in stores)
            {
                await store.DisposeAsync();
            }
        }
    }

    [Fact]
    public async Task Create_refuses_a_topic_with_more_than_one_partition()
    {
        _cluster.CreateTopic(_topic, 3);

        var error = await Assert.ThrowsAsync<InvalidOperationException>(() => NewStore());

        Assert.Contains("has 3 partitions", error.Message, StringComparison.Ordinal);
    }

    private static async Task<int> TryRegister(KafkaSchemaStore store, string subject, Schema schema)
    {
        try
        {
            return await store.RegisterAsync(subject, schema);
        }
        catch (SchemaIncompatibleException)
        {
            return -1;
        }
    }
}
