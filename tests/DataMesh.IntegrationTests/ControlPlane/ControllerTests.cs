using Confluent.Kafka;
using DataMesh.Hosting;
using DataMesh.IntegrationTests.Infrastructure;
using DataMesh.Schemas;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Xunit;

namespace DataMesh.IntegrationTests.ControlPlane;

/// <summary>
/// The controller and a definition runner against real PostgreSQL and MariaDB with the embedded Kafka cluster: plan
/// lists what a definition needs, apply creates it and the runner runs it, and each later apply touches only what
/// changed — a changed transform restarts its pipeline and nothing else, a changed source setting restarts that source and
/// nothing else, an unchanged apply changes nothing, a removed pipeline stops; pause, resume and delete act on the runner.
/// What a runner started and stopped is read from its log (events 9001), so that "not touched" is observed, not assumed.
/// </summary>
public sealed class ControllerTests(PostgresServer postgres, MariaDbServer mariaDb) : IClassFixture<PostgresServer>, IClassFixture<MariaDbServer>
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(60);

    [Fact]
    public async Task A_sources_status_never_repeats_a_value_a_reference_resolved_to()
    {
        // Found by a new-user pass: the driver's message of a source that cannot start (the database named by a
        // reference does not exist) reached the status, and so the API and the status topic, with the value in it.
        var source = UniqueName.Create("ctlsecret");
        var database = "dm_secret_" + Guid.NewGuid().ToString("N")[..12];
        var runner = await Runner.StartAsync(new() { ["Pg"] = postgres.ConnectionString, ["Db"] = database });
        try
        {
            await runner.Controller.ApplyAsync($$"""
                sources:
                  - name: {{source}}
                    type: postgres
                    connection_string: "${config:Pg};Database=${config:Db}"
                """);
            var report = await WaitForAsync(async () => (await runner.Controller.GetStatusAsync()).Components.Single(c => c.Component == $"source/{source}").Runners
                .SingleOrDefault(r => r.Message?.Contains("3D000", StringComparison.Ordinal) == true));
            Assert.DoesNotContain(database, report.Message, StringComparison.Ordinal);
            Assert.Contains("***", report.Message, StringComparison.Ordinal);
            // The runner went on (on_fatal_error defaults to stop_source in a definition), and its log says so.
            Assert.False(runner.Lifetime.ApplicationStopping.IsCancellationRequested);
            Assert.DoesNotContain(runner.Logs.Entries, e => e.Message.Contains("stopping the host", StringComparison.Ordinal));
        }
        finally
        {
            await runner.DisposeAsync();
        }
    }

    [Fact]
    public async Task A_source_declared_with_on_fatal_error_stop_host_stops_the_runners_process_when_it_fails()
    {
        // Found by a new-user pass: the log said "stopping the host with exit code 1" and the runner went on.
        var source = UniqueName.Create("ctlstop");
        var runner = await Runner.StartAsync(new() { ["Pg"] = postgres.ConnectionString, ["Db"] = "dm_missing_" + Guid.NewGuid().ToString("N")[..12] });
        try
        {
            var stopping = new TaskCompletionSource();
            using var registration = runner.Lifetime.ApplicationStopping.Register(() => stopping.TrySetResult());
            await runner.Controller.ApplyAsync($$"""
                sources:
                  - name: {{source}}
                    type: postgres
                    connection_string: "${config:Pg};Database=${config:Db}"
                    on_fatal_error: stop_host
                """);
            await stopping.Task.WaitAsync(Wait);
            Assert.Contains(runner.Logs.Entries, e => e.Message.Contains("stopping the host with exit code 1", StringComparison.Ordinal));
        }
        finally
        {
            await runner.DisposeAsync();
            Environment.ExitCode = 0; // the test process's, which the stop set
        }
    }

    [Fact]
    public async Task Plan_and_apply_against_PostgreSQL_then_an_update_touches_only_what_changed()
    {
        var source = UniqueName.Create("ctl");
        await using var table = await postgres.CreateTableAsync("id int PRIMARY KEY, qty int NOT NULL", "ctl");
        await postgres.ExecuteAsync($"INSERT INTO \"{table.Name}\" VALUES (1, 5), (2, 20)");
        var runner = await Runner.StartAsync(new() { ["Pg"] = postgres.ConnectionString });
        try
        {
            string Definition(string filter, bool withAll) => $$"""
                sources:
                  - name: {{source}}
                    type: postgres
                    connection_string: "${config:Pg}"
                    include_tables: [public.{{table.Name}}]
                pipelines:
                  - name: {{source}}-big
                    source: {{source}}
                    tables: [public.{{table.Name}}]
                    transforms:
                      - filter: "{{filter}}"
                    sink:
                      kafka: {topic: {{source}}.big}
                """ + (withAll ? $$"""

                  - name: {{source}}-all
                    source: {{source}}
                    tables: [public.{{table.Name}}]
                    transforms:
                      - unwrap:
                    sink:
                      kafka: {topic: {{source}}.all}
                """ : string.Empty);

            var v1 = Definition("qty >= 10", withAll: true);
            var plan = await runner.Controller.PlanAsync(v1);
            var tableTopic = $"dm.{source}.public.{table.Name}";
            Assert.Equal(
                [
                    $"+ source {source}", $"+ replication slot datamesh_{source.Replace('-', '_')}", $"+ publication datamesh_{source.Replace('-', '_')}",
                    $"+ pipeline {source}-big", $"+ consumer group datamesh-pipeline-{source}-big",
                    $"+ pipeline {source}-all", $"+ consumer group datamesh-pipeline-{source}-all",
                    $"+ topic {tableTopic}", $"+ topic {source}.big", $"+ topic {source}.big.dlq", $"+ topic {source}.all", $"+ topic {source}.all.dlq",
                ],
                plan.Changes.Select(Short));
            Assert.DoesNotContain(postgres.ConnectionString, plan.ToString(), StringComparison.Ordinal);

            await runner.Controller.ApplyAsync(v1);
            await runner.WaitForRecordsAsync($"{source}.big", 1);
            await runner.WaitForRecordsAsync($"{source}.all", 2);
            Assert.False((await runner.Controller.PlanAsync(v1)).HasChanges);

            // A changed filter: only its pipeline restarts (from its committed offsets); the source keeps reading.
            var v2 = Definition("qty >= 1", withAll: true);
            plan = await runner.Controller.PlanAsync(v2);
            Assert.Equal([$"-/+ pipeline {source}-big"], plan.Changes.Where(c => c.Action != PlanAction.Unchanged).Select(Short));
            await runner.Controller.ApplyAsync(v2);
            await runner.WaitForLogAsync($"pipeline/{source}-big started", 2);
            await postgres.ExecuteAsync($"INSERT INTO \"{table.Name}\" VALUES (3, 7)");
            await runner.WaitForRecordsAsync($"{source}.big", 2);
            await runner.WaitForRecordsAsync($"{source}.all", 3);
            Assert.Equal(1, runner.Count($"source/{source} started"));
            Assert.Equal(1, runner.Count($"pipeline/{source}-all started"));

            // A pipeline no longer declared stops; the others are not touched.
            var v3 = Definition("qty >= 1", withAll: false);
            plan = await runner.Controller.PlanAsync(v3);
            Assert.Equal([$"- pipeline {source}-all"], plan.Changes.Where(c => c.Action != PlanAction.Unchanged).Select(Short));
            await runner.Controller.ApplyAsync(v3);
            await runner.WaitForLogAsync($"pipeline/{source}-all stopped (no longer declared)", 1);
            Assert.Equal(1, runner.Count($"source/{source} started"));
            Assert.Equal(2, runner.Count($"pipeline/{source}-big started"));

            // Pause and resume the source; the status says what the runner runs.
            await runner.Controller.PauseAsync([$"source/{source}"]);
            await runner.WaitForLogAsync($"source/{source} paused", 1);
            await postgres.ExecuteAsync($"INSERT INTO \"{table.Name}\" VALUES (4, 40)");
            await runner.Controller.ResumeAsync([$"source/{source}"]);
            await runner.WaitForRecordsAsync($"{source}.big", 3);
            // Lag 0 once the pipeline committed what it wrote (it commits every CommitInterval, not on each record).
            var status = await WaitForAsync(async () => await runner.Controller.GetStatusAsync() is { } s && s.Components.All(c => c.Runners.Any(r => r.State == "running" && r.Current)) && s.Components[0].Lag == 0 ? s : null);
            Assert.Equal([$"pipeline/{source}-big", $"source/{source}"], status.Components.Select(c => c.Component));
            var registered = Assert.Single(status.Components[1].Runners);
            Assert.NotNull(registered.Position);
            Assert.Contains(registered.Tables, t => t.Topic == tableTopic && t.ValueSchemaVersion == 1);

            // A schema change the pipeline cannot run on (its filter's column is dropped) is refused before it reaches
            // Kafka: the source stops and says which pipeline and field; the pipeline is not touched.
            await postgres.ExecuteAsync($"ALTER TABLE \"{table.Name}\" DROP COLUMN qty; INSERT INTO \"{table.Name}\" VALUES (5)");
            var refused = await WaitForAsync(async () => (await runner.Controller.GetStatusAsync()).Components.Single(c => c.Component == $"source/{source}").Runners.SingleOrDefault(r => r.State == "failed"));
            var message = refused.Message ?? string.Empty;
            Assert.Contains($"is refused: pipeline '{source}-big' cannot run on it: transforms[0] filter(qty >= 1)", message, StringComparison.Ordinal);
            Assert.Contains("'qty'", message[message.IndexOf("transforms[0]", StringComparison.Ordinal)..], StringComparison.Ordinal);
            Assert.Equal(3, await runner.RecordsAsync($"{source}.big"));
            Assert.Equal(2, runner.Count($"pipeline/{source}-big started"));

            var deleted = await runner.Controller.DeleteAsync(v3, withResources: true);
            Assert.Contains(deleted.Changes, c => c is { Action: PlanAction.Delete, Kind: "position" } && c.Name == source);

            // What the source made in PostgreSQL goes too: a slot left behind keeps the server's WAL for ever.
            var made = "datamesh_" + source.Replace('-', '_');
            Assert.Contains($"- replication slot {made}", deleted.Changes.Select(Short));
            Assert.Contains($"- publication {made}", deleted.Changes.Select(Short));
            Assert.Equal(0L, await postgres.ScalarAsync<long>($"SELECT count(*) FROM pg_replication_slots WHERE slot_name = '{made}'"));
            Assert.Equal(0L, await postgres.ScalarAsync<long>($"SELECT count(*) FROM pg_publication WHERE pubname = '{made}'"));
            Assert.Equal(0L, await postgres.ScalarAsync<long>($"SELECT count(*) FROM pg_event_trigger WHERE evtname = '{made}'"));
            await runner.WaitForLogAsync($"source/{source} stopped (no longer declared)", 1);
            await runner.WaitForLogAsync($"pipeline/{source}-big stopped (no longer declared)", 1);
            Assert.Equal(0, (await runner.Controller.GetStatusAsync()).Generation);
            runner.Logs.AssertNoSecret();
        }
        finally
        {
            await runner.DisposeAsync();
            await DropSourceObjectsAsync(source);
        }
    }

    [Fact]
    public async Task Delete_with_resources_keeps_a_slot_and_publication_named_in_the_definition()
    {
        // Named objects may be someone else's (a DBA's slot, a FOR ALL TABLES publication other subscribers read).
        var source = UniqueName.Create("ctlk");
        var named = "named_" + source.Replace('-', '_');
        await postgres.ExecuteAsync($"SELECT pg_create_logical_replication_slot('{named}', 'pgoutput'); CREATE PUBLICATION \"{named}\" FOR ALL TABLES");
        var runner = await Runner.StartAsync(new() { ["Pg"] = postgres.ConnectionString });
        try
        {
            var text = $$"""
                sources:
                  - name: {{source}}
                    type: postgres
                    connection_string: "${config:Pg}"
                    slot_name: {{named}}
                    publication_name: {{named}}
                """;
            await runner.Controller.ApplyAsync(text);
            await runner.WaitForLogAsync($"source/{source} started", 1);

            var deleted = await runner.Controller.DeleteAsync(text, withResources: true);
            var slot = Assert.Single(deleted.Changes, c => c.Kind == "replication slot");
            var publication = Assert.Single(deleted.Changes, c => c.Kind == "publication");
            Assert.Equal((PlanAction.Unchanged, named), (slot.Action, slot.Name));
            Assert.StartsWith("kept: it may not be DataMesh's", slot.Detail, StringComparison.Ordinal);
            Assert.Equal((PlanAction.Unchanged, named), (publication.Action, publication.Name));
            Assert.StartsWith("kept: it may not be DataMesh's", publication.Detail, StringComparison.Ordinal);
            Assert.Equal(1L, await postgres.ScalarAsync<long>($"SELECT count(*) FROM pg_replication_slots WHERE slot_name = '{named}'"));
            Assert.Equal(1L, await postgres.ScalarAsync<long>($"SELECT count(*) FROM pg_publication WHERE pubname = '{named}'"));
        }
        finally
        {
            await runner.DisposeAsync();
            await postgres.DropReplicationSlotIfExistsAsync(named);
            await postgres.ExecuteAsync($"DROP PUBLICATION IF EXISTS \"{named}\"");
        }
    }

    [Fact]
    public async Task A_changed_MariaDB_source_restarts_alone_and_its_pipeline_is_not_touched()
    {
        var source = UniqueName.Create("ctlm");
        await using var database = await mariaDb.CreateDatabaseAsync("ctl");
        await using (var connection = await database.OpenConnectionAsync())
        {
            await using var command = connection.CreateCommand();
            command.CommandText = "CREATE TABLE items (id INT PRIMARY KEY, name VARCHAR(20) NOT NULL); INSERT INTO items VALUES (1, 'a'), (2, 'b');";
            await command.ExecuteNonQueryAsync();
        }

        await using var runner = await Runner.StartAsync(new() { ["Maria"] = database.ConnectionString });
        string Definition(string heartbeat) => $$"""
            sources:
              - name: {{source}}
                type: mariadb
                connection_string: "${config:Maria}"
                include_tables: [{{database.Name}}.items]
                heartbeat_interval: {{heartbeat}}
            pipelines:
              - name: {{source}}-items
                source: {{source}}
                tables: [{{database.Name}}.items]
                transforms:
                  - unwrap:
                sink:
                  kafka: {topic: {{source}}.items}
            """;

        await runner.Controller.ApplyAsync(Definition("10s"));
        await runner.WaitForRecordsAsync($"{source}.items", 2);
        var plan = await runner.Controller.PlanAsync(Definition("5s"));
        Assert.Equal([$"-/+ source {source}"], plan.Changes.Where(c => c.Action != PlanAction.Unchanged).Select(Short));
        await runner.Controller.ApplyAsync(Definition("5s"));
        await runner.WaitForLogAsync($"source/{source} started", 2);
        await using (var connection = await database.OpenConnectionAsync())
        {
            await using var command = connection.CreateCommand();
            command.CommandText = "INSERT INTO items VALUES (3, 'c')";
            await command.ExecuteNonQueryAsync();
        }

        await runner.WaitForRecordsAsync($"{source}.items", 3);
        Assert.Equal(1, runner.Count($"pipeline/{source}-items started"));
        await runner.Controller.DeleteAsync(Definition("5s"), withResources: false);
        await runner.WaitForLogAsync($"source/{source} stopped (no longer declared)", 1);
        runner.Logs.AssertNoSecret();
    }

    [Fact]
    public async Task A_running_source_registers_its_tables_with_their_schemas_a_new_column_shows_and_plan_lists_the_topics_its_pattern_matched()
    {
        var source = UniqueName.Create("reg");
        var stem = UniqueName.Create("reg");
        await postgres.ExecuteAsync($"CREATE TABLE \"{stem}_a\" (id int PRIMARY KEY, qty int NOT NULL); CREATE TABLE \"{stem}_b\" (id int PRIMARY KEY, name text); " +
            $"INSERT INTO \"{stem}_a\" VALUES (1, 5); INSERT INTO \"{stem}_b\" VALUES (1, 'one')");
        var runner = await Runner.StartAsync(new() { ["Pg"] = postgres.ConnectionString });
        try
        {
            string Definition(string exclude) => $$"""
                sources:
                  - name: {{source}}
                    type: postgres
                    connection_string: "${config:Pg}"
                    include_tables: ["public.{{stem}}_*"]{{exclude}}
                """;
            var text = Definition(string.Empty);
            var topics = new[] { $"dm.{source}.public.{stem}_a", $"dm.{source}.public.{stem}_b" };

            // Before the source runs, its tables are not known: plan says the source makes their topics.
            var plan = await runner.Controller.PlanAsync(text);
            Assert.DoesNotContain(plan.Changes, c => c.Kind == "topic");
            Assert.Contains($"Source {source} captures tables by pattern (public.{stem}_*): no runner reports tables of it yet", string.Join('\n', plan.Notes), StringComparison.Ordinal);

            // The running source registers each table it produces: the table, its topic, its key and value schemas.
            await runner.Controller.ApplyAsync(text);
            var registered = await RegisteredAsync(runner, source, tables => tables.Count == 2);
            Assert.Equal([$"public.{stem}_a", $"public.{stem}_b"], registered.Select(t => t.Table));
            Assert.Equal(topics, registered.Select(t => t.Topic));
            foreach (var table in registered)
            {
                Assert.Equal((await runner.Schemas.GetLatestAsync(table.Topic + "-key"))!.Id, table.KeySchemaId);
                Assert.Equal((await runner.Schemas.GetLatestAsync(table.Topic + "-value"))!.Id, table.ValueSchemaId);
                Assert.Equal(1, table.ValueSchemaVersion);
            }

            // A new column and a change: the next report shows the table's new value schema.
            var before = registered[0];
            await postgres.ExecuteAsync($"ALTER TABLE \"{stem}_a\" ADD COLUMN note text; INSERT INTO \"{stem}_a\" VALUES (2, 7, 'wider')");
            registered = await RegisteredAsync(runner, source, tables => tables.Count == 2 && tables[0].ValueSchemaId != before.ValueSchemaId);
            var latest = (await runner.Schemas.GetLatestAsync(topics[0] + "-value"))!;
            Assert.Equal((latest.Id, 2), (registered[0].ValueSchemaId, registered[0].ValueSchemaVersion));
            Assert.Equal((before.Table, before.Topic, before.KeySchemaId), (registered[0].Table, registered[0].Topic, registered[0].KeySchemaId));

            // Plan now lists the topics of the tables the pattern matched, with the partitions and compaction of named ones.
            plan = await runner.Controller.PlanAsync(text);
            Assert.Equal(topics.Select(t => "= topic " + t), plan.Changes.Where(c => c.Kind == "topic").Select(Short));
            Assert.Equal($"table topic of source {source} (table public.{stem}_b, registered by its runner)", plan.Changes.Single(c => c.Name == topics[1]).Detail);
            Assert.Contains($"the topics of the 2 tables its runner registered are planned; a table it matches later gets its topic from the source", string.Join('\n', plan.Notes), StringComparison.Ordinal);

            // A version of the definition that no longer matches one of them plans the other only.
            plan = await runner.Controller.PlanAsync(Definition($"\n    exclude_tables: [public.{stem}_b]"));
            Assert.Equal([$"= topic {topics[0]}"], plan.Changes.Where(c => c.Kind == "topic").Select(Short));
            runner.Logs.AssertNoSecret();
        }
        finally
        {
            await runner.DisposeAsync();
            await DropSourceObjectsAsync(source);
            await postgres.ExecuteAsync($"DROP TABLE IF EXISTS \"{stem}_a\", \"{stem}_b\"");
        }
    }

    /// <summary>Waits until the source's runner reports registered tables that <paramref name="done"/> accepts.</summary>
    private static async Task<IReadOnlyList<TableRegistration>> RegisteredAsync(Runner runner, string source, Func<IReadOnlyList<TableRegistration>, bool> done)
    {
        var deadline = DateTime.UtcNow + Wait;
        while (true)
        {
            var reports = (await runner.Controller.GetStatusAsync()).Components.SingleOrDefault(c => c.Component == $"source/{source}")?.Runners ?? [];
            if (reports.Select(r => r.Tables).FirstOrDefault(t => done(t)) is { } tables)
            {
                return tables;
            }

            Assert.True(DateTime.UtcNow < deadline, $"the runner did not report the registration waited for within {Wait.TotalSeconds} s; it reported: " +
                string.Join("; ", reports.Select(r => $"{r.Runner} {r.State} {r.Message} [{string.Join(", ", r.Tables)}]")) + "; the runner logged:\n" +
                string.Join('\n', runner.Logs.Entries.Where(e => e.Level >= LogLevel.Information).Select(e => e.Message).TakeLast(30)));
            await Task.Delay(200);
        }
    }

    /// <summary>The change as plan prints it, up to its detail, with single spaces: <c>+ topic x</c>.</summary>
    private static string Short(PlanChange change) => string.Join(' ', change.ToString().Split(':')[0].Split(' ', StringSplitOptions.RemoveEmptyEntries));

    private static async Task<T> WaitForAsync<T>(Func<Task<T?>> probe)
        where T : class
    {
        var deadline = DateTime.UtcNow + Wait;
        while (true)
        {
            if (await probe() is { } value)
            {
                return value;
            }

            Assert.True(DateTime.UtcNow < deadline, "timed out");
            await Task.Delay(200);
        }
    }

    private async Task DropSourceObjectsAsync(string source)
    {
        var name = "datamesh_" + source.Replace('-', '_');
        await postgres.DropReplicationSlotIfExistsAsync(name);
        await postgres.ExecuteAsync($"DROP EVENT TRIGGER IF EXISTS \"{name}\"; DROP FUNCTION IF EXISTS public.\"{name}\"(); DROP PUBLICATION IF EXISTS \"{name}\"");
    }

    /// <summary>A host with the embedded cluster and a definition runner, and a controller on the same cluster.</summary>
    private sealed class Runner : IAsyncDisposable
    {
        private readonly IHost _host;

        private Runner(IHost host, DataMeshController controller, LogCollector logs)
        {
            _host = host;
            Controller = controller;
            Logs = logs;
        }

        public DataMeshController Controller { get; }

        public LogCollector Logs { get; }

        public ISchemaStore Schemas => _host.Services.GetRequiredService<ISchemaStore>();

        public IHostApplicationLifetime Lifetime => _host.Services.GetRequiredService<IHostApplicationLifetime>();

        public static async Task<Runner> StartAsync(Dictionary<string, string?> secrets)
        {
            var configuration = new ConfigurationBuilder().AddInMemoryCollection(secrets).Build();
            var logs = new LogCollector();
            var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
            builder.Logging.AddProvider(logs);
            builder.Services.AddDataMesh().AddDefinitionRunner(o => Configure(o, configuration));
            var host = builder.Build();
            await host.StartAsync();
            var options = new DataMeshControllerOptions();
            Configure(options, configuration);
            return new Runner(host, new DataMeshController(host.Services.GetRequiredService<KafkaConnection>(), host.Services.GetRequiredService<ISchemaStore>(), options), logs);
        }

        public int Count(string message) => Logs.Entries.Count(e => e.Id.Id == 9001 && e.Message.EndsWith(message, StringComparison.Ordinal));

        public async Task WaitForLogAsync(string message, int count)
        {
            var deadline = DateTime.UtcNow + Wait;
            while (Count(message) < count)
            {
                Assert.True(DateTime.UtcNow < deadline, $"the runner did not log '{message}' {count} time(s) within {Wait.TotalSeconds} s; it logged:\n" +
                    string.Join('\n', Logs.Entries.Where(e => e.Id.Id >= 9000 && e.Id.Id < 9100).Select(e => e.Message)));
                await Task.Delay(100);
            }
        }

        /// <summary>The records <paramref name="topic"/> holds.</summary>
        public async Task<long> RecordsAsync(string topic)
        {
            var kafka = _host.Services.GetRequiredService<KafkaConnection>();
            using var consumer = new ConsumerBuilder<Ignore, Ignore>(kafka.CreateConsumerConfig(groupId: null)).Build();
            var partitions = (await kafka.ListTopicsAsync(CancellationToken.None)).GetValueOrDefault(topic);
            return Enumerable.Range(0, partitions).Sum(p => consumer.QueryWatermarkOffsets(new TopicPartition(topic, p), TimeSpan.FromSeconds(5)).High.Value);
        }

        /// <summary>Waits until <paramref name="topic"/> holds at least <paramref name="count"/> records.</summary>
        public async Task WaitForRecordsAsync(string topic, long count)
        {
            var deadline = DateTime.UtcNow + Wait;
            long held = 0;
            while (DateTime.UtcNow < deadline)
            {
                held = await RecordsAsync(topic);
                if (held >= count)
                {
                    return;
                }

                await Task.Delay(200);
            }

            Assert.Fail($"topic '{topic}' held {held} records, not {count}, after {Wait.TotalSeconds} s; the runner logged:\n" +
                string.Join('\n', Logs.Entries.Where(e => e.Level >= LogLevel.Warning || (e.Id.Id >= 9000 && e.Id.Id < 9100)).Select(e => e.Message).TakeLast(30)));
        }

        public async ValueTask DisposeAsync()
        {
            Controller.Dispose();
            await _host.StopAsync();
            _host.Dispose();
        }

        private static void Configure(DataMeshControllerOptions options, IConfiguration configuration)
        {
            options.Configuration = configuration;
            options.PollInterval = TimeSpan.FromMilliseconds(200);
            options.AddConnectorTypes();
        }
    }
}
