using System.Diagnostics;
using System.Globalization;
using System.Reflection;
using System.Text.Json.Nodes;
using DataMesh.Cli;
using DataMesh.ControlPlane.Definitions;
using DataMesh.Events;
using DataMesh.Pipelines;
using DataMesh.Schemas;
using DataMesh.Tests.Pipelines;
using Json.Schema;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Xunit;

namespace DataMesh.Tests.ControlPlane;

public sealed class DefinitionTests
{
    private static readonly string Samples = Path.Combine(AppContext.BaseDirectory, "ControlPlane", "Samples");

    [Fact]
    public async Task Sources_that_would_share_a_slot_a_publication_or_a_server_id_on_one_server_are_refused()
    {
        // A new user's pass: shop-x and shop_x both got slot and publication datamesh_shop_x (one source then rewrote the
        // other's publication: changes lost); two MariaDB sources with one server_id made the server drop the first's stream.
        const string Yaml = """
            sources:
              - name: shop-x
                type: postgres
                connection_string: Host=db1;Database=shop;Username=u
              - name: shop_x
                type: postgres
                connection_string: Host=db1;Database=shop;Username=u
              - name: elsewhere
                type: postgres
                connection_string: Host=db2;Database=shop;Username=u
                slot_name: datamesh_shop_x
                publication_name: datamesh_shop_x
              - name: wh
                type: mariadb
                connection_string: Server=db3;User ID=u
                server_id: 4711
              - name: wh2
                type: mariadb
                connection_string: Server=db3;User ID=u
                server_id: 4711
              - name: wh3
                type: mariadb
                connection_string: Server=db4;User ID=u
                server_id: 4711
            """;

        var problems = (await DefinitionFile.ValidateAsync(Yaml, DefinitionTestSupport.Options())).Problems;

        Assert.Equal(["sources[1].publication_name", "sources[1].slot_name", "sources[4].server_id"], problems.Select(p => p.Path).Order());
        Assert.All(problems, p => Assert.Contains(p.Path.StartsWith("sources[1]", StringComparison.Ordinal) ? "'shop-x'" : "'wh'", p.Reason, StringComparison.Ordinal));
        Assert.Contains("datamesh_shop_x", problems[0].Reason, StringComparison.Ordinal);

        // Found by review: a publication the sources do not manage (FOR ALL TABLES) may serve several, each with its own
        // slot; and a definition applied before this check, read back by a runner, still runs.
        const string Shared = """
            sources:
              - {name: orders, type: postgres, connection_string: Host=db1;Database=shop;Username=u, publication_name: all_tables, manage_publication: false, new_tables: poll, include_tables: [public.orders]}
              - {name: customers, type: postgres, connection_string: Host=db1;Database=shop;Username=u, publication_name: all_tables, manage_publication: false, new_tables: poll, include_tables: [public.customers]}
            """;
        Assert.Empty((await DefinitionFile.ValidateAsync(Shared, DefinitionTestSupport.Options())).Problems);
        var stored = new DefinitionValidationOptions { Configuration = DefinitionTestSupport.Options().Configuration, StoredDefinition = true };
        stored.AddConnectorTypes();
        Assert.Empty((await DefinitionFile.ValidateAsync(Yaml, stored)).Problems);
    }

    [Fact]
    public async Task A_kafka_sink_topic_with_one_part_after_the_source_is_no_table_topic_and_is_accepted()
    {
        // A table's topic has two parts after <prefix>.<source> (schema and table, their own dots replaced): with an empty
        // prefix, the sample's 'shop.big-orders' for source 'shop' can never be one; 'shop.public.orders_big' can.
        const string Yaml = """
            settings: {topic_prefix: ""}
            sources:
              - {name: shop, type: postgres, connection_string: Host=db;Username=u, include_tables: [public.orders]}
            pipelines:
              - {name: big, source: shop, tables: [public.orders], sink: {kafka: {topic: shop.big-orders}}}
              - {name: mixed, source: shop, tables: [public.orders], sink: {kafka: {topic: shop.public.orders_big}}}
            """;

        var problems = (await DefinitionFile.ValidateAsync(Yaml, DefinitionTestSupport.Options())).Problems;

        Assert.Equal(["pipelines[1].sink.kafka.topic"], problems.Select(p => p.Path));
        Assert.Contains("among the topics of source 'shop'", problems[0].Reason, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Pipelines_that_would_share_a_consumer_group_are_refused()
    {
        // A new user's pass: two pipelines with one group_id split the partitions between them, each reading only part.
        const string Yaml = """
            pipelines:
              - {name: a, source_topics: [t1], group_id: shared, sink: {kafka: {topic: o1}}}
              - {name: b, source_topics: [t1], group_id: shared, sink: {kafka: {topic: o2}}}
              - {name: c, source_topics: [t1], group_id: datamesh-pipeline-d, sink: {kafka: {topic: o3}}}
              - {name: d, source_topics: [t1], sink: {kafka: {topic: o4}}}
            """;

        var problems = (await DefinitionFile.ValidateAsync(Yaml, DefinitionTestSupport.Options())).Problems;

        Assert.Equal(["pipelines[1].group_id", "pipelines[3].group_id"], problems.Select(p => p.Path));
        Assert.Contains("as pipeline 'a' does", problems[0].Reason, StringComparison.Ordinal);
        Assert.Contains("consumer group 'datamesh-pipeline-d', as pipeline 'c' does", problems[1].Reason, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_duration_longer_than_a_timespan_holds_is_a_problem_not_a_crash()
    {
        // A new user's pass: retention: 99999999999d ended `datamesh validate` with an unhandled OverflowException (exit 134).
        var problems = (await DefinitionFile.ValidateAsync("settings:\n  retention: 99999999999d\n", DefinitionTestSupport.Options())).Problems;

        var problem = Assert.Single(problems, p => p.Path == "settings.retention");
        Assert.Contains("duration", problem.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_shop_sample_parses_to_its_sources_pipelines_and_settings()
    {
        var validation = await DefinitionFile.ValidateAsync(await File.ReadAllTextAsync(Path.Combine(Samples, "shop.yaml")), DefinitionTestSupport.Options());
        Assert.Empty(validation.Problems);
        var definition = validation.Definition!;

        Assert.Equal(new DefinitionSettings("dm", 3, true, TimeSpan.FromDays(7), CompatibilityLevel.Backward), definition.Settings);

        Assert.Equal(["shop", "billing"], definition.Sources.Select(s => s.Name));
        var shop = definition.Sources[0];
        Assert.Equal("postgres", shop.Type);
        Assert.Equal(["public.orders", "public.customers"], shop.IncludeTables);
        Assert.Empty(shop.ExcludeTables);
        Assert.Equal(InitialSnapshot.WhenNoPosition, shop.InitialSnapshot);
        Assert.Equal("Host=localhost;Port=5432;Database=shop;Username=datamesh;Password=${env:SHOP_PG_PASSWORD}", shop.Settings["connection_string"]);
        Assert.Equal("4096", shop.Settings["snapshot:chunk_size"]);
        Assert.Equal("public.customers", shop.Settings["include_tables:1"]);
        var billing = definition.Sources[1];
        Assert.Equal(("mariadb", InitialSnapshot.None, "4242"), (billing.Type, billing.InitialSnapshot, billing.Settings["server_id"]));

        var orders = definition.Pipelines[0];
        Assert.Equal(("big-orders", "shop"), (orders.Name, orders.Source));
        Assert.Equal(["public.orders"], orders.Tables);
        Assert.Equal(["dm.shop.public.orders"], orders.SourceTopics);
        Assert.Equal(["filter", "unwrap", "keep", "mask", "rename"], orders.Transforms.Select(t => t.Kind));
        Assert.Equal("filter(op != 'd' and quantity >= 10)", orders.Transforms[0].Description);
        Assert.Equal("${env:MASK_KEY}", orders.Transforms[3].Settings["mask:hash_key"]);
        Assert.Equal(new SinkDefinition(SinkKind.Kafka, "shop.big-orders", 3, null), orders.Sink);
        Assert.Equal((4, ErrorHandling.DeadLetter, "shop.big-orders.dlq"), (orders.Workers, orders.OnError, orders.DeadLetterTopic));

        var archive = definition.Pipelines[1];
        Assert.Equal(["dm.billing.billing.invoices"], archive.SourceTopics);
        Assert.Equal(new SinkDefinition(SinkKind.JsonLines, null, null, "/var/lib/datamesh/{topic}.jsonl"), archive.Sink);
        Assert.Equal((ErrorHandling.Stop, TimeSpan.FromSeconds(5), (int?)null), (archive.OnError, archive.CommitInterval, archive.Workers));
        Assert.Equal((TimeSpan?)TimeSpan.FromSeconds(20), archive.SessionTimeout);
        Assert.Null(orders.SessionTimeout);
    }

    [Fact]
    public async Task The_json_ledger_sample_parses_like_yaml()
    {
        var validation = await DefinitionFile.ValidateAsync(await File.ReadAllTextAsync(Path.Combine(Samples, "ledger.json")), DefinitionTestSupport.Options());
        Assert.Empty(validation.Problems);
        var definition = validation.Definition!;
        Assert.Equal(new DefinitionSettings("dm", 6, true, Timeout.InfiniteTimeSpan, CompatibilityLevel.FullTransitive), definition.Settings);
        Assert.Equal(("ledger", "cockroachdb", "2s"), (definition.Sources[0].Name, definition.Sources[0].Type, definition.Sources[0].Settings["resolved_interval"]));
        Assert.Equal(["dm.ledger.public.entries"], definition.Pipelines[0].SourceTopics);
        var events = definition.Pipelines[1];
        Assert.Null(events.Source);
        Assert.Equal(["shop.order-events"], events.SourceTopics);
        Assert.Equal(["filter", "add_constant"], events.Transforms.Select(t => t.Kind));
        Assert.Equal((2, ErrorHandling.Stop, "order-events-v1"), (events.Workers, events.OnError, events.GroupId));
    }

    [Fact]
    public async Task The_shop_sample_plans_against_the_registered_orders_schema()
    {
        var text = (await File.ReadAllTextAsync(Path.Combine(Samples, "shop.yaml"))).Replace("  - name: invoices-archive", "  - name: invoices-archive\n    workers: 1", StringComparison.Ordinal);
        var lines = await DefinitionTestSupport.LinesAsync("shop.yaml", text, DefinitionTestSupport.OrdersStore());

        // The orders pipeline plans (filter, unwrap, keep, mask, rename); only billing's table has no schema in this store.
        Assert.Equal(["shop.yaml:48:14: pipelines[1].tables[0]: no value schema is registered for topic 'dm.billing.billing.invoices' (subject dm.billing.billing.invoices-value)"], lines);
    }

    [Fact]
    public async Task A_password_never_appears_in_the_validation_output()
    {
        const string Literal = "Literal-Pa55word-in-the-file";
        var text = $$"""
            sources:
              - name: shop
                type: postgres
                connection_string: "Host=db;Username=u;Password=${env:SHOP_PG_PASSWORD};Colour=blue"
                slot_name: ${env:SHOP_PG_PASSWORD}
                topic_partitions: ${env:SHOP_PG_PASSWORD}
              - name: billing
                type: mariadb
                connection_string: "Server=db;User ID=u;Password={{Literal}};Bogus=1"
                password: {{Literal}}
                server_id: ${env:SHOP_PG_PASSWORD}
            pipelines:
              - name: orders
                source: shop
                tables: [public.orders]
                transforms:
                  - mask: {fields: [email], mode: hash, hash_key: "${env:SHORT_MASK_KEY}", hash_format: "${env:SHOP_PG_PASSWORD}"}
                sink:
                  kafka: {topic: "${env:SHOP_PG_PASSWORD}"}
                on_error: ${env:SHOP_PG_PASSWORD}
            """;
        var lines = await DefinitionTestSupport.LinesAsync("secrets.yaml", text);

        Assert.True(lines.Length >= 8, string.Join('\n', lines));
        foreach (var secret in new[] { DefinitionTestSupport.ShopPassword, DefinitionTestSupport.ShortMaskKey, Literal })
        {
            Assert.DoesNotContain(lines, line => line.Contains(secret, StringComparison.Ordinal));
        }

        // The messages still name the setting.
        Assert.Contains(lines, line => line.Contains("sources[0].topic_partitions: must be a whole number", StringComparison.Ordinal));
        Assert.Contains(lines, line => line.Contains("pipelines[0].transforms[0].mask.hash_key: must hold a secret of at least 16 bytes", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Problems_carry_the_line_and_column_of_yaml_and_json_alike()
    {
        var yaml = await DefinitionTestSupport.LinesAsync("a.yaml", "sources:\n  - name: shop\n    type: postgres\n    connection_string: \"Host=db\"\n    topic_partitions: zero\n");
        var json = await DefinitionTestSupport.LinesAsync("a.json", "{\"sources\": [\n  {\"name\": \"shop\", \"type\": \"postgres\", \"connection_string\": \"Host=db\",\n   \"topic_partitions\": \"zero\"}]}");

        Assert.Equal(["a.yaml:5:23: sources[0].topic_partitions: must be a whole number, not 'zero'"], yaml);
        Assert.Equal(["a.json:3:24: sources[0].topic_partitions: must be a whole number, not 'zero'"], json);

        // A new user's pass: a tab on line 4 was reported at line 1.
        var tab = await DefinitionTestSupport.LinesAsync("t.yaml", "sources:\n  - name: wh\n    type: mariadb\n\t  server_id: 4711\n    include_tables: [a.b]\n");
        Assert.StartsWith("t.yaml:4:", Assert.Single(tab), StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_redacting_mask_needs_no_hash_key_and_an_invalid_mode_is_reported_as_the_mode()
    {
        // A key left out became an empty key, and was refused as too short, in redact mode too.
        const string Definition = "pipelines:\n  - name: p\n    source_topics: [t]\n    transforms:\n      - mask: {fields: [email]MODE}\n    sink:\n      kafka: {topic: out}\n";
        foreach (var mode in new[] { string.Empty, ", mode: redact" })
        {
            var validation = await DefinitionFile.ValidateAsync(Definition.Replace("MODE", mode, StringComparison.Ordinal), DefinitionTestSupport.Options());
            Assert.Empty(validation.Problems);
            var planned = validation.Parts!.Transforms["p"].Single().Plan(PipelineTestData.SchemasOf().EnvelopeSchema);
            var after = PipelineTestData.After(PipelineTestData.Run(planned, PipelineTestData.Envelope(ChangeOperation.Create, null, PipelineTestData.Row(5))).Record!);
            Assert.Equal("***", after["email"]);
        }

        Assert.Equal(["d.yaml:5:39: pipelines[0].transforms[0].mask.mode: must be one of redact, hash, not 'scramble'"],
            await DefinitionTestSupport.LinesAsync("d.yaml", Definition.Replace("MODE", ", mode: scramble", StringComparison.Ordinal)));
    }

    [Fact]
    public async Task Nesting_past_the_limit_is_a_syntax_problem_where_it_starts_not_a_stack_overflow()
    {
        // 30,000 levels of [ overflowed the stack: the process ended, an HTTP server's with it.
        const int Limit = DefinitionReader.MaxDepth;
        Assert.NotNull(DefinitionReader.Read(new string('[', Limit) + new string(']', Limit)));
        var reason = $"(syntax): lists and mappings nest deeper than {Limit} levels here; a definition needs far fewer";
        foreach (var levels in new[] { Limit + 1, 1_000_000 })
        {
            Assert.Equal([$"d.json:1:{Limit + 1}: {reason}"], await DefinitionTestSupport.LinesAsync("d.json", new string('[', levels) + new string(']', levels)));
            Assert.Equal([$"d.json:1:{(6 * Limit) + 1}: {reason}"],
                await DefinitionTestSupport.LinesAsync("d.json", string.Concat(Enumerable.Repeat("{\"a\": ", levels)) + "1" + new string('}', levels)));
            Assert.Equal([$"d.yaml:1:{(2 * Limit) + 1}: {reason}"], await DefinitionTestSupport.LinesAsync("d.yaml", string.Concat(Enumerable.Repeat("- ", levels)) + "x\n"));
        }

        // Aliases count as their anchored nodes: anchors of 40 levels, each holding the one before, stack past the limit
        // (found by review: each anchor alone is within it).
        var stacked = new System.Text.StringBuilder("a0: &a0 " + new string('[', 40) + new string(']', 40) + "\n");
        for (var i = 1; i < 4; i++)
        {
            stacked.Append(System.Globalization.CultureInfo.InvariantCulture, $"a{i}: &a{i} {new string('[', 39)}*a{i - 1}{new string(']', 39)}\n");
        }

        var lines = await DefinitionTestSupport.LinesAsync("d.yaml", stacked.ToString());
        Assert.Contains(lines, l => l.EndsWith(reason, StringComparison.Ordinal));
    }

    [Theory]
    [InlineData("customer_id", "custmer_id", true)]
    [InlineData("quantity", "quantiy", true)]
    [InlineData("postgres", "postgresql", true)]
    [InlineData("backward", "forward", false)]
    [InlineData("id", "email", false)]
    public void The_nearest_name_is_offered_only_when_it_is_a_likely_typo(string valid, string written, bool offered)
    {
        Assert.Equal(offered ? valid : null, NearestName.Find(written, ["id", "email", valid]));
    }

    [Fact]
    public async Task The_json_schema_accepts_every_sample_and_refuses_what_the_validator_refuses()
    {
        var schema = JsonSchema.FromText(await File.ReadAllTextAsync(Path.Combine(AppContext.BaseDirectory, "ControlPlane", "datamesh.schema.json")));
        var samples = Directory.GetFiles(Samples);
        Assert.True(samples.Length >= 2);
        foreach (var sample in samples)
        {
            var result = schema.Evaluate(ToJson(DefinitionReader.Read(await File.ReadAllTextAsync(sample))!), new EvaluationOptions { OutputFormat = OutputFormat.List });
            Assert.True(result.IsValid, $"{Path.GetFileName(sample)}: " + string.Join("; ", result.Details.Where(d => d.Errors is not null).SelectMany(d => d.Errors!.Select(e => $"{d.InstanceLocation}: {e.Value}"))));
        }

        foreach (var invalid in new[] { "08-unknown-source-type.yaml", "11-unknown-source-setting.yaml", "37-missing-sink.yaml", "47-unknown-transform.yaml", "42-invalid-pipeline-numbers.yaml" })
        {
            var node = ToJson(DefinitionReader.Read(await File.ReadAllTextAsync(Path.Combine(AppContext.BaseDirectory, "ControlPlane", "Invalid", invalid)))!);
            Assert.False(schema.Evaluate(node).IsValid, invalid);
        }
    }

    [Fact]
    public async Task The_json_schema_names_every_setting_of_every_source_type()
    {
        var schema = JsonNode.Parse(await File.ReadAllTextAsync(Path.Combine(AppContext.BaseDirectory, "ControlPlane", "datamesh.schema.json")))!;
        var source = schema["$defs"]!["source"]!;
        var inSchema = source["properties"]!.AsObject().Select(p => p.Key).Order(StringComparer.Ordinal).ToArray();
        var inCode = ConnectorSourceTypes.All.SelectMany(t => OptionsBinder.SettingNames(t.CreateOptions().GetType())).Append("name").Append("type")
            .Distinct().Order(StringComparer.Ordinal).ToArray();
        Assert.Equal(inCode, inSchema);
        Assert.Equal(
            OptionsBinder.SettingNames(typeof(SnapshotOptions)).Order(StringComparer.Ordinal),
            source["properties"]!["snapshot"]!["properties"]!.AsObject().Select(p => p.Key).Order(StringComparer.Ordinal));
        Assert.Equal(
            OptionsBinder.SettingNames(typeof(global::DataMesh.Events.ChangeEventOptions)).Order(StringComparer.Ordinal),
            source["properties"]!["events"]!["properties"]!.AsObject().Select(p => p.Key).Order(StringComparer.Ordinal));
    }

    [Fact]
    public async Task The_tool_validates_a_file_and_exits_with_the_codes_scripts_rely_on()
    {
        var folder = Directory.CreateTempSubdirectory("datamesh-cli-");
        try
        {
            var valid = Path.Combine(folder.FullName, "valid.yaml");
            await File.WriteAllTextAsync(valid, "sources:\n  - name: shop\n    type: postgres\n    connection_string: \"Host=db;Username=u\"\n");
            var invalid = Path.Combine(folder.FullName, "invalid.yaml");
            await File.WriteAllTextAsync(invalid, "sources:\n  - name: shop\n    type: postgress\n");

            Assert.Equal((0, $"{valid}: OK (1 source, 0 pipelines)\n", string.Empty), await RunAsync("validate", valid));
            Assert.Equal((2, $"{invalid}:3:11: sources[0].type: there is no source type 'postgress'; did you mean 'postgres'? (the types: postgres, mysql, mariadb, cockroachdb, cassandra)\n", string.Empty),
                await RunAsync("validate", invalid));

            var (code, output, error) = await RunAsync("validate", Path.Combine(folder.FullName, "missing.yaml"));
            Assert.Equal((64, string.Empty), (code, output));
            Assert.StartsWith("datamesh: cannot read", error, StringComparison.Ordinal);
            Assert.Contains("usage: datamesh COMMAND FILE", error, StringComparison.Ordinal);
            Assert.Equal(64, (await RunAsync()).Code);
            Assert.Equal(64, (await RunAsync("validate")).Code);
            Assert.Equal(64, (await RunAsync("lint", valid)).Code);
            Assert.Equal(64, (await RunAsync("validate", valid, "--schema-registry", "localhost:8081")).Code);

            // A registry that cannot be reached is not a verdict on the file: exit 1, naming the registry without credentials.
            var pipeline = Path.Combine(folder.FullName, "pipeline.yaml");
            await File.WriteAllTextAsync(pipeline, "pipelines:\n  - name: p\n    source_topics: [orders]\n    sink:\n      kafka: {topic: out}\n");
            var unreachable = await RunAsync("validate", pipeline, "--schema-registry", "http://user:registry-secret@127.0.0.1:1");
            Assert.Equal((1, string.Empty), (unreachable.Code, unreachable.Output));
            Assert.StartsWith("datamesh: the schema registry at http://127.0.0.1:1 could not be read", unreachable.Error, StringComparison.Ordinal);
            Assert.DoesNotContain("registry-secret", unreachable.Error, StringComparison.Ordinal);
            foreach (var command in new[] { "plan", "apply", "status", "pause", "resume", "snapshot", "delete" })
            {
                // Without a cluster there is nothing to act on: the embedded one would end with the command.
                var result = await RunAsync(command, valid);
                Assert.Equal((64, string.Empty), (result.Code, result.Output));
                Assert.Equal($"datamesh: '{command}' needs a Kafka cluster: --kafka HOST:PORT (for the embedded cluster, the address 'datamesh run' printed)\n", result.Error);
            }

            Assert.Equal(64, (await RunAsync("plan", valid, "--with-resources")).Code);
            Assert.Equal(64, (await RunAsync("status", valid, "--kafka")).Code);
            Assert.Equal(64, (await RunAsync("apply", "--kafka", "x:1")).Code);

            // A usage error says what is wrong, on the first line, before the usage.
            foreach (var (args, problem) in new (string[] Args, string Problem)[]
            {
                ([], "no command given"),
                (["lint", valid], "unknown command 'lint'"),
                (["validate"], "'validate' needs a definition file: datamesh validate FILE [OPTIONS]"),
                (["apply", "--kafka", "x:1"], "'apply' needs a definition file: datamesh apply FILE [OPTIONS]"),
                (["plan", valid, "--kafka"], "--kafka needs a value"),
                (["status", "--kafka"], "--kafka needs a value"),
                (["plan", valid, "--kafka", "x:1", "--kafka", "y:1"], "--kafka is given twice"),
                (["plan", valid, "--dry-run"], "unknown option '--dry-run'"),
                (["plan", valid, valid], $"'plan' takes one definition file; '{valid}' is one too many"),
            })
            {
                var result = await RunAsync(args);
                Assert.Equal((64, string.Empty), (result.Code, result.Output));
                Assert.Equal("datamesh: " + problem, result.Error.Split('\n')[0]);
                Assert.Contains("usage: datamesh COMMAND FILE", result.Error, StringComparison.Ordinal);
            }
        }
        finally
        {
            folder.Delete(recursive: true);
        }
    }

    [Fact]
    public async Task The_tool_checks_tables_and_columns_against_a_schema_registry()
    {
        var app = DataMesh.Server.Tests.RegistryHost.Build(DefinitionTestSupport.OrdersStore(), configure: null);
        await using (app.ConfigureAwait(false))
        {
            await app.StartAsync();
            var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.Single();
            var url = address + app.Services.GetRequiredService<IOptions<DataMeshServerOptions>>().Value.SchemaRegistry.PathPrefix;
            System.Environment.SetEnvironmentVariable("SHOP_PG_PASSWORD", DefinitionTestSupport.ShopPassword);
            foreach (var name in new[] { "58-schema-unknown-columns", "59-schema-not-registered" })
            {
                var file = Path.Combine(AppContext.BaseDirectory, "ControlPlane", "Invalid", name + ".yaml");
                var (code, output, error) = await RunAsync("validate", file, "--schema-registry", url);

                var expected = await File.ReadAllLinesAsync(Path.ChangeExtension(file, ".expected"));
                Assert.True(code == 2, $"exit {code.ToString(CultureInfo.InvariantCulture)}: {error}");
                Assert.Equal(expected.Select(line => file + line[line.IndexOf(':', StringComparison.Ordinal)..]), output.Split('\n', StringSplitOptions.RemoveEmptyEntries));
            }

            await app.StopAsync();
        }
    }

    [Theory]
    [InlineData("--help")]
    [InlineData("help")]
    [InlineData("plan", "--help")]
    [InlineData("status", "-h")]
    [InlineData("run", "shop.yaml", "--help")]
    [InlineData("help", "delete")]
    public async Task Help_anywhere_prints_the_usage_and_exits_0(params string[] args)
    {
        var (code, output, error) = await RunAsync(args);

        Assert.Equal(CliCommands.Ok, code);
        Assert.Contains("usage: datamesh COMMAND FILE [OPTIONS]", output, StringComparison.Ordinal);
        Assert.Equal(string.Empty, error);
    }

    [Theory]
    [InlineData("--version")]
    [InlineData("version")]
    public async Task Version_prints_the_tools_version_and_exits_0(string argument)
    {
        var (code, output, error) = await RunAsync(argument);

        Assert.Equal(CliCommands.Ok, code);
        var expected = typeof(CliCommands).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()!.InformationalVersion;
        Assert.Equal($"datamesh {expected}\n", output);
        Assert.Matches(@"^datamesh \d+\.\d+\.\d+", output);
        Assert.Equal(string.Empty, error);
    }

    [Fact]
    public void Status_lines_put_what_runners_report_first_and_the_desired_state_in_brackets()
    {
        var at = new DateTimeOffset(2026, 12, 7, 21, 0, 0, TimeSpan.Zero);
        var status = new DataMeshStatus(3, at,
        [
            new ComponentStatus("source/shop", "running",
                [
                    new RunnerReport("runner-a", "failed", "PostgreSQL refused the login", at, true, [], null, []),
                    new RunnerReport("runner-b", "standby", null, at, false, [], null, []),
                ], null),
            new ComponentStatus("pipeline/orders", "paused", [], 12),
        ]);

        Assert.Equal(
            [
                "Generation 3, applied 2026-12-07 21:00:00Z",
                "source/shop [desired: running]: runner-a failed: PostgreSQL refused the login; runner-b standby (an older version)",
                "pipeline/orders [desired: paused]: no runner reports it; lag 12 records",
            ],
            CliCommands.StatusLines(status));
        Assert.Equal(["Nothing is applied."], CliCommands.StatusLines(new DataMeshStatus(0, null, [])));
    }

    [Fact]
    public async Task The_built_tool_process_prints_one_line_per_problem_and_exits_2()
    {
        var tool = Path.Combine(AppContext.BaseDirectory, "datamesh.dll");
        Assert.True(File.Exists(tool), $"{tool} was not built beside the tests");
        var file = Path.Combine(AppContext.BaseDirectory, "ControlPlane", "Invalid", "42-invalid-pipeline-numbers.yaml");
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var argument in new[] { tool, "validate", file })
        {
            start.ArgumentList.Add(argument);
        }

        start.Environment["SHOP_PG_PASSWORD"] = DefinitionTestSupport.ShopPassword;
        using var process = Process.Start(start)!;
        var output = await process.StandardOutput.ReadToEndAsync();
        var error = await process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();

        Assert.True(process.ExitCode == 2, $"exit {process.ExitCode.ToString(CultureInfo.InvariantCulture)}: {error}");
        var expected = await File.ReadAllLinesAsync(Path.ChangeExtension(file, ".expected"));
        Assert.Equal(expected.Select(line => file + line[line.IndexOf(':', StringComparison.Ordinal)..]), output.Split('\n', StringSplitOptions.RemoveEmptyEntries));
    }

    private static async Task<(int Code, string Output, string Error)> RunAsync(params string[] args)
    {
        using var output = new StringWriter { NewLine = "\n" };
        using var error = new StringWriter { NewLine = "\n" };
        var code = await CliCommands.RunAsync(args, output, error, CancellationToken.None);
        return (code, output.ToString(), error.ToString());
    }

    /// <summary>A definition as JSON, typed as YAML types its plain scalars.</summary>
    private static JsonNode? ToJson(DefinitionNode node) => node switch
    {
        MappingNode mapping => new JsonObject(mapping.Entries.Select(e => KeyValuePair.Create(e.Key, ToJson(e.Value)))),
        SequenceNode sequence => new JsonArray([.. sequence.Items.Select(ToJson)]),
        ScalarNode { IsNull: true } => null,
        ScalarNode { Plain: true } scalar when long.TryParse(scalar.Text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var number) => JsonValue.Create(number),
        ScalarNode { Plain: true, Text: "true" or "false" } scalar => JsonValue.Create(scalar.Text == "true"),
        ScalarNode scalar => JsonValue.Create(scalar.Text),
        _ => throw new InvalidOperationException(),
    };
}
