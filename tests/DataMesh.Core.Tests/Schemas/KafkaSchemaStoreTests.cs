using Avro;
using DataMesh.Kafka;
using DataMesh.Schemas;
using Microsoft.Extensions.Logging;
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

        // The store's id base + the record's offset: offset 0 is the store's genesis record, the first registration is at 1.
        Assert.InRange(id1, (1 << 20) + 1, (1 << 30) + 1);
        Assert.Equal(id1 + 1, id2);
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
    public async Task A_version_deleted_through_one_instance_is_gone_in_every_instance_and_its_id_still_resolves()
    {
        await using var first = await NewStore();
        await using var second = await NewStore();
        var id1 = await first.RegisterAsync("orders-value", Record("Order", Id));
        var id2 = await first.RegisterAsync("orders-value", Record("Order", Id, Optional("note")));
        await first.RegisterAsync("other-value", Record("Other", Id));

        Assert.True(await second.DeleteVersionAsync("orders-value", 1));
        Assert.False(await first.DeleteVersionAsync("orders-value", 1));
        Assert.False(await first.DeleteVersionAsync("missing-value", 1));

        foreach (var store in new[] { first, second })
        {
            Assert.Equal([2], (await store.GetVersionsAsync("orders-value")).Select(v => v.Version));
            Assert.Equal(SchemaCanonicalForm.Of(Record("Order", Id)), SchemaCanonicalForm.Of(await store.GetByIdAsync(id1)));
            Assert.Null(await store.FindAsync("orders-value", Record("Order", Id)));
            Assert.Equal(2, (await store.FindAsync("orders-value", Record("Order", Id, Optional("note"))))!.Version);
            Assert.Equal(["orders-value", "other-value"], await store.GetSubjectsAsync());
        }

        Assert.True(await first.DeleteVersionAsync("orders-value", 2));
        Assert.Equal(["other-value"], await second.GetSubjectsAsync());
        Assert.Null(await second.GetLatestAsync("orders-value"));
        Assert.Equal(id2, await second.RegisterAsync("orders-value", Record("Order", Id, Optional("note"))));
        Assert.Equal(3, (await first.GetLatestAsync("orders-value"))!.Version);

        // A new instance replays the deletes to the same state, deleted versions included (the Schema Registry API's
        // deleted=true reads them), also a version whose schema was registered again since.
        await using var third = await NewStore();
        Assert.Equal([(3, id2)], (await third.GetVersionsAsync("orders-value")).Select(v => (v.Version, v.Id)));
        foreach (var store in new[] { first, second, third })
        {
            Assert.Equal([(1, id1), (2, id2)], (await store.GetDeletedVersionsAsync("orders-value")).Select(v => (v.Version, v.Id)));
            Assert.Empty(await store.GetDeletedVersionsAsync("other-value"));
            Assert.Empty(await store.GetDeletedVersionsAsync("missing-value"));
        }
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
    public async Task A_topic_whose_first_records_were_deleted_is_refused_at_load_naming_the_missing_offsets()
    {
        await using (var store = await NewStore())
        {
            await store.RegisterAsync("a-value", Record("A", Id));
            await store.RegisterAsync("b-value", Record("B", Id));
            await store.RegisterAsync("c-value", Record("C", Id));
        }

        // Retention, or the embedded cluster past 5 MB, deletes the oldest records: the genesis and A's registration.
        _cluster.DeleteRecords(_topic, 0, 2);

        var error = await Assert.ThrowsAsync<InvalidOperationException>(NewStore);
        foreach (var expected in new[] { $"topic '{_topic}'", "does not start at offset 0: offsets 0 to 1 are missing", "5 MB per partition", "refuses", "retention.ms=-1" })
        {
            Assert.Contains(expected, error.Message, StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task A_topic_deleted_and_created_again_gives_other_ids_and_stops_the_store_still_running_on_the_old_one()
    {
        var logs = new LogRecorder();
        var options = new KafkaSchemaStoreOptions { EmbeddedCluster = _cluster, Topic = _topic, TopicCheckInterval = TimeSpan.FromSeconds(1) };
        await using var old = await KafkaSchemaStore.CreateAsync(options, logs.CreateLogger<KafkaSchemaStore>());
        var orderV1 = await old.RegisterAsync("orders-value", Record("Order", Id));
        var customer = await old.RegisterAsync("customers-value", Record("Customer", Id));

        _cluster.DeleteTopic(_topic);
        _cluster.CreateTopic(_topic, 1);

        // A new instance on the new topic is a new store: the same registrations get ids the old store never gave.
        await using var renewed = await NewStore();
        var renewedCustomer = await renewed.RegisterAsync("customers-value", Record("Customer", Id));
        var renewedOrder = await renewed.RegisterAsync("orders-value", Record("Order", Id, Optional("note")));
        Assert.Empty(new[] { renewedCustomer, renewedOrder }.Intersect([orderV1, customer]));
        var unknown = await Assert.ThrowsAsync<KeyNotFoundException>(async () => await renewed.GetByIdAsync(orderV1));
        Assert.Contains("this store never gave it", unknown.Message, StringComparison.Ordinal);
        Assert.Contains("deleted and created again", unknown.Message, StringComparison.Ordinal);

        // The instance still on the old topic stops instead of reading the new store's records as its own. When the new
        // topic has as many records as the old one read, its reader sees nothing: its check of the topic's first record
        // (every TopicCheckInterval) notices.
        var stopped = await Assert.ThrowsAsync<InvalidOperationException>(async () =>
        {
            var deadline = DateTime.UtcNow.AddSeconds(60);
            while (DateTime.UtcNow < deadline)
            {
                await old.GetLatestAsync("orders-value");
                await Task.Delay(100);
            }
        });
        Assert.Contains("deleted and created again", stopped.Message, StringComparison.Ordinal);
        await Assert.ThrowsAsync<InvalidOperationException>(async () => await old.GetByIdAsync(orderV1));
        await Assert.ThrowsAsync<InvalidOperationException>(async () => await old.RegisterAsync("orders-value", Record("Order", Id, Optional("other"))));
        Assert.Contains(logs.Entries, e => e.EventId == 4105);

        // The new store is not disturbed by the old one's attempts.
        Assert.Equal(renewedOrder, (await renewed.GetLatestAsync("orders-value"))!.Id);
    }

    [Fact]
    public async Task A_store_whose_topic_was_created_again_with_as_many_records_as_it_read_refuses_to_register()
    {
        // The periodic check is off (an hour): only the check before every append can notice.
        await using var old = await KafkaSchemaStore.CreateAsync(new KafkaSchemaStoreOptions { EmbeddedCluster = _cluster, Topic = _topic, TopicCheckInterval = TimeSpan.FromHours(1) });
        await old.RegisterAsync("a-value", Record("A", Id));
        await old.RegisterAsync("b-value", Record("B", Id));

        // Another store's genesis and two of its registrations: the old reader's position (3) is the new topic's end, so
        // it reads nothing and its fetches never leave the log.
        _cluster.DeleteTopic(_topic);
        _cluster.CreateTopic(_topic, 1);
        var other = Guid.NewGuid();
        using (var producer = new Confluent.Kafka.ProducerBuilder<string, byte[]>(new Confluent.Kafka.ProducerConfig { BootstrapServers = _cluster.BootstrapServers }).Build())
        {
            await producer.ProduceAsync(_topic, new Confluent.Kafka.Message<string, byte[]> { Key = "(genesis)", Value = SchemaLog.EncodeGenesis(other, SchemaLog.NewIdBase()) });
            foreach (var subject in new[] { "x-value", "y-value" })
            {
                await producer.ProduceAsync(_topic, new Confluent.Kafka.Message<string, byte[]>
                {
                    Key = subject,
                    Value = SchemaLog.EncodeRegistration(subject, Record("X", Id)),
                    Headers = new Confluent.Kafka.Headers { { SchemaLog.StoreHeader, other.ToByteArray() } },
                });
            }
        }

        // Registering would append to the other store's log and hand out an id that store never gave. (When the reader's
        // fetch happened to come between the topic's creation and the records, its offset was out of range: it stopped
        // then, with a message that names the offset instead of the other store. Otherwise only the check before the
        // append notices: this failed before it.)
        var refused = await Assert.ThrowsAsync<InvalidOperationException>(async () => await old.RegisterAsync("c-value", Record("C", Id)));
        Assert.Contains("deleted and created again", refused.Message, StringComparison.Ordinal);
        await Assert.ThrowsAsync<InvalidOperationException>(async () => await old.GetLatestAsync("a-value"));

        await using var current = await NewStore();
        Assert.Null(await current.GetLatestAsync("c-value"));
        Assert.NotNull(await current.GetLatestAsync("y-value"));
    }

    [Fact]
    public async Task A_store_of_a_topic_written_before_genesis_records_notices_the_topic_created_again_with_one()
    {
        // A topic written before genesis records: two registrations, no genesis, no stamps (ids are offset + 1).
        _cluster.CreateTopic(_topic, 1);
        using (var producer = new Confluent.Kafka.ProducerBuilder<string, byte[]>(new Confluent.Kafka.ProducerConfig { BootstrapServers = _cluster.BootstrapServers }).Build())
        {
            foreach (var subject in new[] { "a-value", "b-value" })
            {
                await producer.ProduceAsync(_topic, new Confluent.Kafka.Message<string, byte[]> { Key = subject, Value = SchemaLog.EncodeRegistration(subject, Record(subject[..1].ToUpperInvariant(), Id)) });
            }
        }

        await using var old = await KafkaSchemaStore.CreateAsync(new KafkaSchemaStoreOptions { EmbeddedCluster = _cluster, Topic = _topic, TopicCheckInterval = TimeSpan.FromHours(1) });
        Assert.Equal(2, (await old.GetLatestAsync("b-value"))!.Id);

        // Created again by a new store with as many records as the old one read: its genesis and one registration.
        _cluster.DeleteTopic(_topic);
        _cluster.CreateTopic(_topic, 1);
        var other = Guid.NewGuid();
        using (var producer = new Confluent.Kafka.ProducerBuilder<string, byte[]>(new Confluent.Kafka.ProducerConfig { BootstrapServers = _cluster.BootstrapServers }).Build())
        {
            await producer.ProduceAsync(_topic, new Confluent.Kafka.Message<string, byte[]> { Key = "(genesis)", Value = SchemaLog.EncodeGenesis(other, SchemaLog.NewIdBase()) });
            await producer.ProduceAsync(_topic, new Confluent.Kafka.Message<string, byte[]>
            {
                Key = "x-value",
                Value = SchemaLog.EncodeRegistration("x-value", Record("X", Id)),
                Headers = new Confluent.Kafka.Headers { { SchemaLog.StoreHeader, other.ToByteArray() } },
            });
        }

        // Its next registration would land unstamped in the new store's log, under an id (offset + 1) no other instance knows.
        var refused = await Assert.ThrowsAsync<InvalidOperationException>(async () => await old.RegisterAsync("c-value", Record("C", Id)));
        Assert.Contains("deleted and created again", refused.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(500)]
    [InlineData(3_600_001)]
    public async Task A_topic_check_interval_out_of_range_is_refused_at_start_naming_the_setting(int milliseconds)
    {
        var options = new KafkaSchemaStoreOptions { EmbeddedCluster = _cluster, Topic = _topic, TopicCheckInterval = TimeSpan.FromMilliseconds(milliseconds) };
        var error = await Assert.ThrowsAsync<ArgumentOutOfRangeException>(() => KafkaSchemaStore.CreateAsync(options));
        Assert.Contains("KafkaSchemaStoreOptions.TopicCheckInterval", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_registration_stamped_by_another_store_is_skipped_by_every_instance()
    {
        await using var store = await NewStore();
        var a = await store.RegisterAsync("a-value", Record("A", Id));

        // An instance still on an earlier copy of the topic (deleted and created again) appends a registration of its store.
        using (var producer = new Confluent.Kafka.ProducerBuilder<string, byte[]>(new Confluent.Kafka.ProducerConfig { BootstrapServers = _cluster.BootstrapServers }).Build())
        {
            await producer.ProduceAsync(_topic, new Confluent.Kafka.Message<string, byte[]>
            {
                Key = "b-value",
                Value = SchemaLog.EncodeRegistration("b-value", Record("B", Id)),
                Headers = new Confluent.Kafka.Headers { { SchemaLog.StoreHeader, Guid.NewGuid().ToByteArray() } },
            });
        }

        Assert.Null(await store.GetLatestAsync("b-value"));
        await using var other = await NewStore();
        Assert.Null(await other.GetLatestAsync("b-value"));
        Assert.Equal(a, (await other.GetLatestAsync("a-value"))!.Id);

        // Neither instance stopped: a registration after the foreign record is applied by both.
        var b = await other.RegisterAsync("b-value", Record("B", Id));
        Assert.Equal(b, (await store.GetLatestAsync("b-value"))!.Id);
    }

    [Fact]
    public async Task A_topic_written_before_store_identities_keeps_its_offset_plus_one_ids()
    {
        _cluster.CreateTopic(_topic, 1);
        using (var producer = new Confluent.Kafka.ProducerBuilder<string, byte[]>(new Confluent.Kafka.ProducerConfig { BootstrapServers = _cluster.BootstrapServers }).Build())
        {
            await producer.ProduceAsync(_topic, new Confluent.Kafka.Message<string, byte[]> { Key = "old-value", Value = SchemaLog.EncodeRegistration("old-value", Record("Old", Id)) });
        }

        await using var store = await NewStore();
        Assert.Equal(1, (await store.GetLatestAsync("old-value"))!.Id);
        Assert.Equal(2, await store.RegisterAsync("new-value", Record("New", Id)));
        await using var other = await NewStore();
        Assert.Equal(2, (await other.GetLatestAsync("new-value"))!.Id);
    }

    [Fact]
    public async Task Create_uses_an_existing_topic_of_a_cluster_without_the_admin_API_and_asks_it_to_create_nothing()
    {
        // Another process's embedded cluster, reached over TCP as `datamesh plan --kafka` reaches `datamesh run`'s: it
        // answers metadata, produce and fetch requests, never CreateTopics.
        _cluster.CreateTopic(_topic, 1);
        var options = new KafkaSchemaStoreOptions { BootstrapServers = _cluster.BootstrapServers, Topic = _topic, Timeout = TimeSpan.FromSeconds(10) };
        var watch = System.Diagnostics.Stopwatch.StartNew();

        await using var store = await KafkaSchemaStore.CreateAsync(options);
        var id = await store.RegisterAsync("remote-value", Record("Remote", Id));

        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(8), $"the start took {watch.Elapsed} (a CreateTopics request waits out its timeout there)");
        await using var local = await NewStore();
        Assert.Equal(id, (await local.GetLatestAsync("remote-value"))!.Id);
    }

    [Fact]
    public async Task Create_refuses_a_topic_with_more_than_one_partition_and_writes_nothing()
    {
        _cluster.CreateTopic(_topic, 3);

        var error = await Assert.ThrowsAsync<InvalidOperationException>(() => NewStore());

        Assert.Contains("has 3 partitions", error.Message, StringComparison.Ordinal);
        using var consumer = new Confluent.Kafka.ConsumerBuilder<byte[], byte[]>(new Confluent.Kafka.ConsumerConfig { BootstrapServers = _cluster.BootstrapServers, GroupId = "check" }).Build();
        for (var partition = 0; partition < 3; partition++)
        {
            Assert.Equal(0, consumer.QueryWatermarkOffsets(new Confluent.Kafka.TopicPartition(_topic, partition), TimeSpan.FromSeconds(10)).High.Value);
        }
    }

    [Fact]
    public async Task Create_refuses_a_missing_topic_it_may_not_create_at_once_and_does_not_make_the_broker_create_it()
    {
        var options = new KafkaSchemaStoreOptions { EmbeddedCluster = _cluster, Topic = _topic, CreateTopic = false, Timeout = TimeSpan.FromSeconds(10) };
        var watch = System.Diagnostics.Stopwatch.StartNew();

        var error = await Assert.ThrowsAsync<InvalidOperationException>(() => KafkaSchemaStore.CreateAsync(options));

        // The embedded cluster, like a broker with auto.create.topics.enable, creates a topic a client's metadata request
        // may create: the store's clients never let it (it would have the broker's defaults, a time-limited retention).
        Assert.Contains($"Schema topic '{_topic}' is not available", error.Message, StringComparison.Ordinal);
        Assert.Contains("KafkaSchemaStoreOptions.CreateTopic", error.Message, StringComparison.Ordinal);
        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(5), $"the refusal took {watch.Elapsed}, as if it had waited for the timeout");
    }

    [Fact]
    public async Task A_start_cancelled_while_the_cluster_is_down_ends_at_once_and_a_later_start_works()
    {
        _cluster.CreateTopic(_topic, 1);
        _cluster.SetBrokerDown(-1);
        using var cancel = new CancellationTokenSource(TimeSpan.FromMilliseconds(300));
        var options = new KafkaSchemaStoreOptions { EmbeddedCluster = _cluster, Topic = _topic, Timeout = TimeSpan.FromSeconds(5) };
        var watch = System.Diagnostics.Stopwatch.StartNew();

        // The partition check's metadata request is in flight when the start is cancelled: the start ends at once, and the
        // check's client is closed only once its request ended (closing a client under a running request can crash).
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => KafkaSchemaStore.CreateAsync(options, cancellationToken: cancel.Token));

        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(3), $"the cancelled start took {watch.Elapsed}, as if it had waited for the store's timeout");
        _cluster.SetBrokerUp(-1);
        await using var store = await NewStore();
        Assert.True(await store.RegisterAsync("after-value", Record("After", Id)) > 0);
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
