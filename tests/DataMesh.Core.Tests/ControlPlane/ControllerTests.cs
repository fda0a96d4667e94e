using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using DataMesh.ControlPlane.Controller;
using DataMesh.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Xunit;

namespace DataMesh.Tests.ControlPlane;

/// <summary>The controller on the embedded cluster, without databases: what it refuses, and an apply stopped midway
/// (the controller's process killed) that the next controller finishes. The runs against real databases are in the
/// integration tests (<c>ControlPlane/ControllerTests</c>).</summary>
public sealed class ControllerTests
{
    private const string Pipelines = """
        pipelines:
          - name: first
            source_topics: [in.one]
            sink:
              kafka: {topic: out.one, partitions: 2}
          - name: second
            source_topics: [in.two]
            on_error: stop
            sink:
              kafka: {topic: out.two}
        """;

    [Fact]
    public async Task A_secret_written_in_the_file_is_refused_by_plan_and_apply_naming_the_setting_not_the_secret()
    {
        using var kafka = new KafkaConnection(new KafkaOptions());
        using var controller = Controller(kafka);
        const string text = """
            sources:
              - name: shop
                type: postgres
                connection_string: "Host=db;Username=u;Password=hunter2-secret"
            """;

        foreach (var attempt in new Func<Task>[] { () => controller.PlanAsync(text), () => controller.ApplyAsync(text) })
        {
            var refused = await Assert.ThrowsAsync<DefinitionInvalidException>(attempt);
            var problem = Assert.Single(refused.Problems);
            Assert.Equal(("sources[0].connection_string", 4, 24), (problem.Path, problem.Line, problem.Column));
            Assert.Equal("holds a secret written in the file; the controller keeps applied definitions in Kafka, so a secret must be a reference: write ${env:NAME} or ${config:Key}", problem.Reason);
            Assert.DoesNotContain("hunter2", refused.ToString(), StringComparison.Ordinal);
        }

        Assert.Equal(0, (await controller.GetStatusAsync()).Generation);

        // A password beside a reference, or under another of its names, is as literal.
        foreach (var connection in new[]
        {
            "Host=${env:HOME};Username=u;Password=hunter2-secret", "Host=db;Username=u;PSW=hunter2-secret",
            "Host=db;Username=u;Password=${env:HOME};SSL Password=hunter2-secret", "Host=db;Username=u;Password=${env:HOME};CertificatePassword=hunter2-secret",

            // Found by a new user: a password only partly a reference was taken for a reference, and stored.
            "Host=db;Username=u;Password=${env:HOME}hunter2-secret", "Host=db;Username=u;Password=hunter2-${env:HOME}", "Host=db;Username=u;Password='${env:HOME} hunter2'",
        })
        {
            var refused = await Assert.ThrowsAsync<DefinitionInvalidException>(() => controller.PlanAsync(text.Replace("Host=db;Username=u;Password=hunter2-secret", connection, StringComparison.Ordinal)));
            Assert.Equal("sources[0].connection_string", Assert.Single(refused.Problems).Path);
        }
    }

    [Fact]
    public async Task A_plan_shows_a_setting_as_written_never_the_value_its_reference_resolved_to()
    {
        // Found by a new-user pass: a topic, path or group named with ${env:...} showed the variable's value in the plan,
        // so any API client could read any environment variable of the server.
        const string Variable = "DATAMESH_TEST_PLAN_SECRET_7f3a";
        Environment.SetEnvironmentVariable(Variable, "s3cr3t-value-of-the-server");
        try
        {
            using var kafka = new KafkaConnection(new KafkaOptions());
            using var controller = Controller(kafka);
            var plan = await controller.PlanAsync($$"""
                pipelines:
                  - name: leak
                    source_topics: [in.one]
                    on_error: dead_letter
                    sink:
                      kafka: {topic: "leak.${env:{{Variable}}}"}
                """);
            var text = string.Join("\n", plan.Changes.Select(c => c.ToString()).Concat(plan.Notes));
            Assert.DoesNotContain("s3cr3t", text, StringComparison.Ordinal);
            Assert.Contains("+   topic leak.***: sink of pipeline leak", text, StringComparison.Ordinal);
        }
        finally
        {
            Environment.SetEnvironmentVariable(Variable, null);
        }
    }

    [Fact]
    public async Task The_plan_for_a_removed_source_names_what_it_left_in_its_database_by_its_own_names()
    {
        // A new user's pass: the advice always named datamesh_<name> unnormalised (datamesh_shop-x: not the slot, and a syntax
        // error), ignored slot_name, gave PostgreSQL statements for MariaDB, and could name another running source's slot.
        using var kafka = new KafkaConnection(new KafkaOptions());
        using var controller = Controller(kafka);
        await controller.ApplyAsync("""
            sources:
              - {name: shop-x, type: postgres, connection_string: "Host=db;Username=u", include_tables: [public.orders]}
              - {name: named, type: postgres, connection_string: "Host=db;Username=u", slot_name: cpu_slot, publication_name: cpu_pub, include_tables: [public.orders]}
              - {name: wh, type: mariadb, connection_string: "Server=db;User ID=u", include_tables: [shop.orders]}
            """ + "\n" + Pipelines);

        var plan = await controller.PlanAsync(Pipelines);

        string Stop(string name) => plan.Changes.Single(c => c.Kind == "source" && c.Name == name).ToString();
        Assert.Contains("SELECT pg_drop_replication_slot('datamesh_shop_x'); DROP PUBLICATION \"datamesh_shop_x\";", Stop("shop-x"), StringComparison.Ordinal);
        Assert.Contains("SELECT pg_drop_replication_slot('cpu_slot'); DROP PUBLICATION \"cpu_pub\";", Stop("named"), StringComparison.Ordinal);
        Assert.DoesNotContain("datamesh_named", Stop("named"), StringComparison.Ordinal);
        Assert.DoesNotContain("pg_drop", Stop("wh"), StringComparison.Ordinal);
        Assert.Contains("its topics and position are kept", Stop("wh"), StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_snapshot_of_a_table_the_source_does_not_capture_is_refused_naming_the_nearest_one()
    {
        // A new user's pass: a misspelt table was accepted (exit 0) and then skipped by the runner, seen only in its log.
        using var kafka = new KafkaConnection(new KafkaOptions());
        using var controller = Controller(kafka);
        await controller.ApplyAsync("""
            sources:
              - {name: shop, type: postgres, connection_string: "Host=db;Username=u", include_tables: [public.orders, public.customers]}
              - {name: wild, type: postgres, connection_string: "Host=db;Username=u", include_tables: [public.*], exclude_tables: [public.secret]}
            """ + "\n" + Pipelines);

        var misspelt = await Assert.ThrowsAsync<SnapshotRequestException>(() => controller.RequestSnapshotAsync("shop", ["public.ordres"]));
        Assert.Equal("Table 'public.ordres' cannot be snapshotted: source 'shop' does not capture it (include_tables: public.orders, public.customers); did you mean 'public.orders'?", misspelt.Message);
        var excluded = await Assert.ThrowsAsync<SnapshotRequestException>(() => controller.RequestSnapshotAsync("wild", ["public.secret"]));
        Assert.Contains("exclude_tables: public.secret", excluded.Message, StringComparison.Ordinal);

        await controller.RequestSnapshotAsync("shop", ["public.orders"]);
        await controller.RequestSnapshotAsync("wild", ["public.anything"]);
    }

    [Fact]
    public async Task An_apply_stopped_midway_keeps_what_it_made_and_the_next_controller_finishes_it()
    {
        using var kafka = new KafkaConnection(new KafkaOptions());
        using (var first = Controller(kafka))
        {
            var plan = await first.PlanAsync(Pipelines);
            Assert.Equal(
                [
                    "+   pipeline first", "+   consumer group datamesh-pipeline-first", "+   pipeline second", "+   consumer group datamesh-pipeline-second",
                    "+   topic out.one", "+   topic out.one.dlq", "+   topic out.two",
                ],
                plan.Changes.Select(c => c.ToString().Split(':')[0]));
            Assert.Equal("+   topic out.one: sink of pipeline first; 2 partitions, cleanup.policy=delete", plan.Changes[4].ToString());
            Assert.Equal(1, plan.Generation);

            // The controller "dies" right after creating its first topic: the definition is not recorded, the topic stays.
            using var dies = new CancellationTokenSource();
            var made = new List<string>();
            await Assert.ThrowsAnyAsync<OperationCanceledException>(() => first.ApplyAsync(Pipelines, new Stop(made, dies), dies.Token));
            Assert.Equal(["+   topic out.one"], made.Where(m => m.Contains("topic", StringComparison.Ordinal)));
            Assert.Equal(0, (await first.GetStatusAsync()).Generation);
        }

        using var next = Controller(kafka);
        var rest = await next.PlanAsync(Pipelines);
        Assert.Equal(PlanAction.Unchanged, rest.Changes.Single(c => c.Name == "out.one").Action);
        Assert.Equal(PlanAction.Create, rest.Changes.Single(c => c.Name == "out.two").Action);
        var applied = await next.ApplyAsync(Pipelines);
        Assert.Equal(1, applied.Generation);
        Assert.Equal(2, await kafka.PartitionCountAsync("out.one", CancellationToken.None));
        var again = await next.PlanAsync(Pipelines);
        Assert.False(again.HasChanges);
        Assert.Equal("Plan: 0 to create, 0 to update, 0 to restart, 0 to stop or delete, 7 unchanged.", again.ToString().Split('\n')[0]);

        var status = await next.GetStatusAsync();
        Assert.Equal(1, status.Generation);
        Assert.Equal(["pipeline/first", "pipeline/second"], status.Components.Select(c => c.Component));
        Assert.All(status.Components, c => Assert.Equal(("running", 0), (c.Desired, c.Runners.Count)));

        var unknown = await Assert.ThrowsAsync<ArgumentException>(() => next.PauseAsync(["pipeline/frist"]));
        Assert.Equal("'pipeline/frist' is not in the applied definition; did you mean 'pipeline/first'? (its components: pipeline/first, pipeline/second).", unknown.Message);
        var table = await Assert.ThrowsAsync<SnapshotRequestException>(() => next.RequestSnapshotAsync("shop", ["orders"]));
        Assert.Equal("Table 'orders' cannot be snapshotted: it must have the form schema.table (MySQL: database.table).", table.Message);

        // A pattern was accepted here and refused by the source's runner, after the API had answered 200 (found by a new user).
        var pattern = await Assert.ThrowsAsync<SnapshotRequestException>(() => next.RequestSnapshotAsync("shop", ["public.*"]));
        Assert.Equal("Table 'public.*' cannot be snapshotted: it is a pattern: a snapshot takes exact schema.table names (MySQL: database.table).", pattern.Message);
    }

    [Fact]
    public async Task A_changed_default_partition_count_restarts_only_the_pipelines_that_run_with_it()
    {
        using var kafka = new KafkaConnection(new KafkaOptions());
        using var controller = Controller(kafka);
        await controller.ApplyAsync(Pipelines);

        // 'first' names its sink's partitions, so the default does not reach it; 'second' takes the default.
        var plan = await controller.PlanAsync("settings:\n  topic_partitions: 3\n" + Pipelines);
        Assert.Equal(["-/+ pipeline second"], plan.Changes.Where(c => c.Kind == "pipeline" && c.Action != PlanAction.Unchanged).Select(c => c.ToString().Split(':')[0]));
    }

    [Fact]
    public async Task A_runners_source_takes_the_hosts_change_event_settings_under_the_definitions_topic_prefix()
    {
        var options = new DataMeshControllerOptions();
        options.AddConnectorTypes();
        var text = """
            settings: {topic_prefix: mesh}
            sources:
              - name: shop
                type: postgres
                connection_string: "Host=db;Username=u;Password=${env:HOME}"
              - name: own
                type: postgres
                connection_string: "Host=db;Username=u;Password=${env:HOME}"
                events: {topic_prefix: own, tombstones: true}
            """;
        var definition = await AppliedDefinition.ReadAsync(text, options, CancellationToken.None);
        var host = new DataMesh.Events.ChangeEventOptions { TopicPrefix = "host", Tombstones = false, EmitTruncates = false, DecimalHandling = DataMesh.Events.DecimalHandling.String, UnavailableValuePlaceholder = "n/a" };

        var shop = DefinitionRunner.SourceOptionsOf(definition.Definition.Sources[0], definition, host).Events!;
        Assert.Equal(("mesh", false, false, DataMesh.Events.DecimalHandling.String, "n/a"), (shop.TopicPrefix, shop.Tombstones, shop.EmitTruncates, shop.DecimalHandling, shop.UnavailableValuePlaceholder));
        Assert.Equal("host", host.TopicPrefix);

        // A source that sets its own keeps them.
        var own = DefinitionRunner.SourceOptionsOf(definition.Definition.Sources[1], definition, host).Events!;
        Assert.Equal(("own", true), (own.TopicPrefix, own.Tombstones));
    }

    [Fact]
    public async Task Applies_and_what_a_runner_starts_pauses_and_runs_are_on_the_control_plane_meter()
    {
        using var kafka = new KafkaConnection(new KafkaOptions());
        kafka.EmbeddedCluster!.CreateTopic("in.one", 1);
        kafka.EmbeddedCluster.CreateTopic("in.two", 1);
        var stateTopic = "datamesh.controller.metrics-" + Guid.NewGuid().ToString("N")[..8];
        var runner = "runner-" + Guid.NewGuid().ToString("N")[..8];
        var measured = new ConcurrentDictionary<string, long>(StringComparer.Ordinal);
        using var listener = new MeterListener();
        listener.InstrumentPublished = (instrument, l) =>
        {
            if (instrument.Meter.Name == "DataMesh.ControlPlane")
            {
                l.EnableMeasurementEvents(instrument);
            }
        };
        void Measured(Instrument instrument, long value, ReadOnlySpan<KeyValuePair<string, object?>> tags)
        {
            var tagged = tags.ToArray().ToDictionary(t => t.Key, t => t.Value?.ToString());
            if (tagged.GetValueOrDefault("datamesh.runner") != runner && tagged.GetValueOrDefault("datamesh.state_topic") != stateTopic)
            {
                return; // another test's controller or runner
            }

            var key = instrument.Name + "|" + string.Join(",", tagged.Where(t => t.Key is not ("datamesh.runner" or "datamesh.state_topic")).OrderBy(t => t.Key, StringComparer.Ordinal).Select(t => t.Value));
            if (instrument is ObservableGauge<long> or ObservableGauge<int>)
            {
                measured[key] = value;
            }
            else
            {
                measured.AddOrUpdate(key, value, (_, sum) => sum + value);
            }
        }

        listener.SetMeasurementEventCallback<long>((instrument, value, tags, _) => Measured(instrument, value, tags));
        listener.SetMeasurementEventCallback<int>((instrument, value, tags, _) => Measured(instrument, value, tags));
        listener.Start();

        using var controller = Controller(kafka, stateTopic);
        await controller.ApplyAsync(Pipelines);
        await controller.ApplyAsync(Pipelines);
        await Assert.ThrowsAsync<DefinitionInvalidException>(() => controller.ApplyAsync("pipelines: [{name: broken}]"));
        Assert.Equal((1, 1, 1), (measured.GetValueOrDefault("datamesh.controller.applies|applied"), measured.GetValueOrDefault("datamesh.controller.applies|unchanged"), measured.GetValueOrDefault("datamesh.controller.applies|refused")));

        var builder = Host.CreateApplicationBuilder();
        builder.Services.AddSingleton(kafka);
        builder.Services.AddDataMesh().AddDefinitionRunner(o =>
        {
            o.AddConnectorTypes();
            o.StateTopic = stateTopic;
            o.RunnerId = runner;
            o.PollInterval = TimeSpan.FromMilliseconds(200);
        });
        using var host = builder.Build();
        await host.StartAsync();
        try
        {
            async Task WaitFor(string what, Func<bool> done)
            {
                var deadline = DateTime.UtcNow.AddSeconds(60);
                while (!done())
                {
                    Assert.True(DateTime.UtcNow < deadline, $"{what} was not measured; measured: {string.Join("; ", measured.OrderBy(m => m.Key, StringComparer.Ordinal))}");
                    listener.RecordObservableInstruments();
                    await Task.Delay(100);
                }
            }

            await WaitFor("generation 1 with two running pipelines", () =>
                measured.GetValueOrDefault("datamesh.runner.generation|") == 1 && measured.GetValueOrDefault("datamesh.runner.components|running") == 2);
            Assert.Equal(1, measured["datamesh.runner.component.changes|started,pipeline/first"]);
            Assert.Equal(1, measured["datamesh.runner.component.changes|started,pipeline/second"]);
            Assert.Equal(0, measured["datamesh.runner.components|failed"]);

            await controller.PauseAsync(["pipeline/second"]);
            await WaitFor("pipeline/second paused", () =>
                measured.GetValueOrDefault("datamesh.runner.component.changes|paused,pipeline/second") == 1 && measured.GetValueOrDefault("datamesh.runner.components|running") == 1);
            Assert.False(measured.ContainsKey("datamesh.runner.component.changes|paused,pipeline/first"));

            // A resume starts what is paused and restarts what failed: the running pipeline is not touched (datamesh
            // resume FILE names every component of the file).
            await controller.ResumeAsync(["pipeline/first", "pipeline/second"]);
            await WaitFor("pipeline/second started again", () =>
                measured.GetValueOrDefault("datamesh.runner.component.changes|started,pipeline/second") == 2 && measured.GetValueOrDefault("datamesh.runner.components|running") == 2);
            Assert.Equal(1, measured["datamesh.runner.component.changes|started,pipeline/first"]);
            Assert.False(measured.ContainsKey("datamesh.runner.component.changes|restarted,pipeline/first"));
        }
        finally
        {
            await host.StopAsync();
        }

        Assert.Equal(1, measured["datamesh.runner.component.changes|stopped,pipeline/first"]);
    }

    [Fact]
    public async Task A_runner_that_cannot_run_a_new_generation_says_why_in_every_components_status()
    {
        // A new user's pass: a generation whose reference the runner could not resolve stopped everything it ran, logged as
        // "stopped (no longer declared)", and the status said "running; no runner reports it".
        using var kafka = new KafkaConnection(new KafkaOptions());
        var stateTopic = "datamesh.controller.refused-" + Guid.NewGuid().ToString("N")[..8];
        var controllerOptions = new DataMeshControllerOptions
        {
            StateTopic = stateTopic,
            Configuration = Microsoft.Extensions.Configuration.MemoryConfigurationBuilderExtensions
                .AddInMemoryCollection(new Microsoft.Extensions.Configuration.ConfigurationBuilder(), new Dictionary<string, string?> { ["Topics:Third"] = "out.three" }).Build(),
        };
        controllerOptions.AddConnectorTypes();
        using var controller = new DataMeshController(kafka, DefinitionTestSupport.OrdersStore(), controllerOptions);
        await controller.ApplyAsync(Pipelines);

        var builder = Host.CreateApplicationBuilder();
        builder.Services.AddSingleton(kafka);
        builder.Services.AddDataMesh().AddDefinitionRunner(o =>
        {
            o.AddConnectorTypes();
            o.StateTopic = stateTopic;
            o.RunnerId = "refusing";
            o.PollInterval = TimeSpan.FromMilliseconds(200);
        });
        using var host = builder.Build();
        await host.StartAsync();
        try
        {
            async Task<DataMeshStatus> WaitFor(string what, Func<DataMeshStatus, bool> done)
            {
                var deadline = DateTime.UtcNow.AddSeconds(60);
                while (true)
                {
                    var status = await controller.GetStatusAsync();
                    if (done(status))
                    {
                        return status;
                    }

                    Assert.True(DateTime.UtcNow < deadline, $"{what}: {string.Join("; ", status.Components.Select(c => $"{c.Component} {string.Join(",", c.Runners.Select(r => r.State + " " + r.Message))}"))}");
                    await Task.Delay(200);
                }
            }

            await WaitFor("both pipelines running", s => s.Components.Count == 2 && s.Components.All(c => c.Runners.Any(r => r.State == "running")));
            await controller.ApplyAsync(Pipelines + """

                  - name: third
                    source_topics: [in.three]
                    sink:
                      kafka: {topic: "${config:Topics:Third}"}
                """);

            var refused = await WaitFor("every component refused", s => s.Components.Count == 3 && s.Components.All(c => c.Runners.Any(r => r.State == "refused")));
            Assert.All(refused.Components, c => Assert.Contains("cannot run generation 2 of the definition", Assert.Single(c.Runners).Message, StringComparison.Ordinal));
            Assert.All(refused.Components, c => Assert.Contains("Topics:Third", Assert.Single(c.Runners).Message, StringComparison.Ordinal));
        }
        finally
        {
            await host.StopAsync();
        }
    }

    [Fact]
    public async Task Two_snapshot_requests_made_before_a_runner_reads_them_are_both_kept_and_one_handled_leaves_the_other()
    {
        using var kafka = new KafkaConnection(new KafkaOptions());
        var stateTopic = "datamesh.controller.snapshots-" + Guid.NewGuid().ToString("N")[..8];
        using var controller = Controller(kafka, stateTopic);
        using var store = new ControllerStore(kafka, stateTopic);
        await store.WriteAsync(ControllerStore.DefinitionKey, new DefinitionRecord(1, DateTimeOffset.UtcNow, "sources: []", new() { ["source/shop"] = "h" }), CancellationToken.None);

        await controller.RequestSnapshotAsync("shop", ["public.orders"]);
        await controller.RequestSnapshotAsync("shop", ["public.customers"], "id > 10");
        var state = await store.ReadAsync(CancellationToken.None);
        Assert.Equal([["public.orders"], ["public.customers"]], state.Snapshots.Values.OrderBy(r => r.RequestedAt).Select(r => r.Tables));
        Assert.All(state.Snapshots.Keys, k => Assert.Equal("shop", ControllerState.SnapshotSource(k)));

        // The runner that handled the first removes that request only.
        var first = state.Snapshots.Single(r => r.Value.Tables[0] == "public.orders").Key;
        await store.WriteAsync("snapshot/" + first, null, CancellationToken.None);
        var left = Assert.Single((await store.ReadAsync(CancellationToken.None)).Snapshots.Values);
        Assert.Equal(["public.customers"], left.Tables);
        Assert.Equal("id > 10", left.Condition);

        // 'datamesh status' needs no file: it reads what is applied.
        using var output = new StringWriter();
        using var error = new StringWriter();
        Assert.Equal(0, await DataMesh.Cli.CliCommands.RunAsync(["status", "--kafka", kafka.EmbeddedCluster!.BootstrapServers, "--state-topic", stateTopic], output, error, CancellationToken.None));
        Assert.StartsWith("Generation 1, applied ", output.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Plan_and_apply_refuse_a_pipeline_whose_transforms_cannot_run_on_its_topics_registered_schema_and_skip_topics_without_one()
    {
        using var kafka = new KafkaConnection(new KafkaOptions());
        using var controller = Controller(kafka, "datamesh.controller.schemas-" + Guid.NewGuid().ToString("N")[..8]);
        const string text = """
            pipelines:
              - name: big-orders
                source_topics: [dm.shop.public.orders]
                transforms:
                  - filter: "quantity >= 10"
                  - unwrap: {deletes: drop}
                  - keep: [id, quantitty]
                sink:
                  kafka: {topic: big-orders}
              - name: not-registered-yet
                source_topics: [dm.shop.public.customers]
                transforms:
                  - keep: [anything]
                sink:
                  kafka: {topic: customers-copy}
            """;

        foreach (var attempt in new Func<Task>[] { () => controller.PlanAsync(text), () => controller.ApplyAsync(text) })
        {
            var refused = await Assert.ThrowsAsync<DefinitionInvalidException>(attempt);
            var problem = Assert.Single(refused.Problems);
            Assert.Equal("pipelines[0].transforms[2].keep", problem.Path);
            Assert.Contains("quantitty", problem.Reason, StringComparison.Ordinal);
        }

        Assert.Equal(0, (await controller.GetStatusAsync()).Generation);
        var applied = await controller.ApplyAsync(text.Replace("quantitty", "quantity", StringComparison.Ordinal));
        Assert.Equal(1, applied.Generation);

        // A topic another pipeline of the definition writes is not checked against its registered schema: the same
        // apply may change what that pipeline writes.
        const string chained = """
            pipelines:
              - name: writer
                source_topics: [in.orders]
                sink:
                  kafka: {topic: dm.shop.public.orders}
              - name: reader
                source_topics: [dm.shop.public.orders]
                transforms:
                  - keep: [added_by_writer]
                sink:
                  kafka: {topic: reader-out}
            """;
        Assert.True((await controller.PlanAsync(chained)).HasChanges);
    }

    [Fact]
    public async Task Plan_lists_the_topics_of_the_tables_a_pattern_sources_runner_registered_and_leaves_later_ones_to_the_source()
    {
        using var kafka = new KafkaConnection(new KafkaOptions());
        var stateTopic = "datamesh.controller.patterns-" + Guid.NewGuid().ToString("N")[..8];
        using var controller = Controller(kafka, stateTopic);
        const string text = """
            settings: {topic_partitions: 3}
            sources:
              - name: shop
                type: postgres
                connection_string: "Host=db;Username=u;Password=${env:HOME}"
                include_tables: [public.customers, public.order*]
                exclude_tables: [public.orders_archive]
              - name: named
                type: postgres
                connection_string: "Host=db;Username=u;Password=${env:HOME}"
                include_tables: [public.items]
            """;
        static IEnumerable<string> Topics(DataMeshPlan plan) => plan.Changes.Where(c => c.Kind == "topic").Select(c => c.ToString());

        // Before any runner reports the source: its exact table only, and a note that says why.
        var before = await controller.PlanAsync(text);
        Assert.Equal(
            [
                "+   topic dm.shop.public.customers: table topic of source shop; 3 partitions, cleanup.policy=compact",
                "+   topic dm.named.public.items: table topic of source named; 3 partitions, cleanup.policy=compact",
            ],
            Topics(before));
        Assert.Contains("Source shop captures tables by pattern (public.customers, public.order* except public.orders_archive): no runner reports tables of it yet, so no topic of them is planned; the source creates each matched table's topic as it finds it.", before.Notes);
        Assert.DoesNotContain(before.Notes, n => n.Contains("Source named", StringComparison.Ordinal));

        // The runner holding the source reports what the source registered; an older report of a runner gone is not believed.
        using var store = new ControllerStore(kafka, stateTopic);
        await store.WriteStatusAsync(new StatusRecord("source/shop", "r1", "running", null, "h", DateTimeOffset.UtcNow, null, "0/16B3748",
            [
                new("dm.shop.public.customers", 1, 1, "public.customers", 2),
                new("dm.shop.public.orders", 3, 2, "public.orders", 4),
                new("dm.shop.public.order_lines", 5, 1, "public.order_lines", null),
                new("dm.shop.public.orders_archive", 7, 1, "public.orders_archive", 8),
                new("dm.shop.public.invoices", 9, 1, "public.invoices", 10),
                new("dm.shop.public.order_notes", 11, 1),
            ]), CancellationToken.None);
        await store.WriteStatusAsync(new StatusRecord("source/shop", "r0", "running", null, "h", DateTimeOffset.UtcNow.AddHours(-1), null, null,
            [new("dm.shop.public.order_gone", 12, 1, "public.order_gone", 13)]), CancellationToken.None);

        var plan = await controller.PlanAsync(text);
        Assert.Equal(
            [
                "+   topic dm.shop.public.customers: table topic of source shop; 3 partitions, cleanup.policy=compact",
                "+   topic dm.shop.public.order_lines: table topic of source shop (table public.order_lines, registered by its runner); 3 partitions, cleanup.policy=compact",
                "+   topic dm.shop.public.orders: table topic of source shop (table public.orders, registered by its runner); 3 partitions, cleanup.policy=compact",
                "+   topic dm.named.public.items: table topic of source named; 3 partitions, cleanup.policy=compact",
            ],
            Topics(plan));
        Assert.Contains("Source shop captures tables by pattern (public.customers, public.order* except public.orders_archive): the topics of the 2 tables its runner registered are planned; a table it matches later gets its topic from the source as the source finds it.", plan.Notes);

        // Apply makes them as it makes the named tables' topics.
        await controller.ApplyAsync(text);
        Assert.Equal(3, await kafka.PartitionCountAsync("dm.shop.public.orders", CancellationToken.None));
        Assert.All(Topics(await controller.PlanAsync(text)), t => Assert.StartsWith("=", t, StringComparison.Ordinal));

        // 'datamesh status' prints the registration a line a table; --json gives the same fields.
        using var output = new StringWriter();
        using var error = new StringWriter();
        Assert.Equal(0, await DataMesh.Cli.CliCommands.RunAsync(["status", "--kafka", kafka.EmbeddedCluster!.BootstrapServers, "--state-topic", stateTopic], output, error, CancellationToken.None));
        var lines = output.ToString().Split(Environment.NewLine);
        var registration = Array.IndexOf(lines, "  registered by r1: position 0/16B3748; 6 tables");
        Assert.True(registration > 0, output.ToString());
        Assert.Equal(
            [
                "    public.customers: topic dm.shop.public.customers, key schema 2, value schema 1 (v1)",
                "    public.orders: topic dm.shop.public.orders, key schema 4, value schema 3 (v2)",
                "    public.order_lines: topic dm.shop.public.order_lines, no key (keyless), value schema 5 (v1)",
            ],
            lines[(registration + 1)..(registration + 4)]);
        Assert.Contains("    (table not reported): topic dm.shop.public.order_notes, key schema not reported, value schema 11 (v1)", lines);
        output.GetStringBuilder().Clear();
        Assert.Equal(0, await DataMesh.Cli.CliCommands.RunAsync(["status", "--json", "--kafka", kafka.EmbeddedCluster!.BootstrapServers, "--state-topic", stateTopic], output, error, CancellationToken.None));
        var json = System.Text.Json.JsonDocument.Parse(output.ToString()).RootElement;
        var orders = json.GetProperty("components").EnumerateArray().Single(c => c.GetProperty("component").GetString() == "source/shop")
            .GetProperty("runners").EnumerateArray().Single(r => r.GetProperty("runner").GetString() == "r1")
            .GetProperty("tables")[1];
        Assert.Equal(("public.orders", "dm.shop.public.orders", 4, 3, 2),
            (orders.GetProperty("table").GetString(), orders.GetProperty("topic").GetString(), orders.GetProperty("key_schema_id").GetInt32(),
                orders.GetProperty("value_schema_id").GetInt32(), orders.GetProperty("value_schema_version").GetInt32()));
    }

    [Fact]
    public async Task A_definition_applied_before_a_rule_was_added_is_still_read_as_it_was_applied_by_runners_status_and_delete()
    {
        // Found by review: runners read the applied definition with the validation of new files, so a file applied before a
        // bare number was refused as a duration (or a second source name, a password only partly a reference) would stop
        // every source and pipeline after an upgrade. New files are refused; what is stored is read as it was.
        var options = new DataMeshControllerOptions();
        options.AddConnectorTypes();
        const string text = """
            pipelines:
              - name: first
                source_topics: [in.one]
                commit_interval: 5
                sink:
                  kafka: {topic: out.one}
            """;

        var refused = await Assert.ThrowsAsync<DefinitionInvalidException>(() => AppliedDefinition.ReadAsync(text, options, CancellationToken.None));
        Assert.Contains("commit_interval", Assert.Single(refused.Problems).Path, StringComparison.Ordinal);
        var stored = await AppliedDefinition.ReadAsync(text, options, CancellationToken.None, stored: true);
        Assert.Equal(TimeSpan.FromDays(5), stored.Definition.Pipelines[0].CommitInterval);

        var emptied = await AppliedDefinition.ReadAsync("sources: []\npipelines: []\n", options, CancellationToken.None, stored: true);
        Assert.Empty(emptied.Components);
    }

    [Fact]
    public async Task A_state_record_that_is_not_json_is_reported_with_its_topic_offset_and_key()
    {
        using var kafka = new KafkaConnection(new KafkaOptions());
        var stateTopic = "datamesh.controller.corrupt-" + Guid.NewGuid().ToString("N")[..8];
        using var store = new ControllerStore(kafka, stateTopic);
        await store.WriteAsync("paused/source/shop", true, CancellationToken.None);
        using (var producer = new Confluent.Kafka.ProducerBuilder<byte[], byte[]>(kafka.CreateProducerConfig()).Build())
        {
            await producer.ProduceAsync(stateTopic, new() { Key = "definition"u8.ToArray(), Value = "{\"generation\": 2, trunc"u8.ToArray() });
        }

        var failed = await Assert.ThrowsAsync<InvalidDataException>(() => store.ReadAsync(CancellationToken.None));
        Assert.StartsWith($"The controller's state in topic '{stateTopic}': the record at offset 1 (key 'definition') cannot be read: ", failed.Message, StringComparison.Ordinal);
        Assert.IsType<System.Text.Json.JsonException>(failed.InnerException);

        // The tool says the same on one line, with exit code 1.
        using var output = new StringWriter();
        using var error = new StringWriter();
        Assert.Equal(1, await DataMesh.Cli.CliCommands.RunAsync(["status", "--kafka", kafka.EmbeddedCluster!.BootstrapServers, "--state-topic", stateTopic], output, error, CancellationToken.None));
        Assert.Contains("the record at offset 1 (key 'definition') cannot be read", error.ToString(), StringComparison.Ordinal);
    }

    private static DataMeshController Controller(KafkaConnection kafka, string? stateTopic = null)
    {
        var options = new DataMeshControllerOptions();
        options.AddConnectorTypes();
        options.StateTopic = stateTopic ?? options.StateTopic;

        return new DataMeshController(kafka, DefinitionTestSupport.OrdersStore(), options);
    }

    /// <summary>Cancels the apply once it has made a topic, as a process killed there would stop it.</summary>
    private sealed class Stop(List<string> made, CancellationTokenSource dies) : IProgress<PlanChange>
    {
        public void Report(PlanChange value)
        {
            made.Add(value.ToString().Split(':')[0]);
            if (value.Kind == "topic")
            {
                dies.Cancel();
            }
        }
    }
}
