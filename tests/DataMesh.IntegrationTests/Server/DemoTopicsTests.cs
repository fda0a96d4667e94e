using System.Buffers;
using System.Globalization;
using System.Numerics;
using System.Text.Json;
using DataMesh.Avro;
using DataMesh.IntegrationTests.Infrastructure;
using Xunit;
using AvroSchema = global::Avro.Schema;

namespace DataMesh.IntegrationTests.Server;

/// <summary>
/// The demo's topics read by clients that share no code with DataMesh, through DataMesh's HTTP face: Node's kafkajs with
/// @kafkajs/confluent-schema-registry (installed by <c>./build.sh test</c> with <c>npm ci</c> in tests/node) decoding every
/// event through the Schema Registry API; and a Prometheus scrape of the sources' metrics.
/// </summary>
public sealed class DemoTopicsTests(PostgresServer postgres, MariaDbServer mariaDb) : IClassFixture<PostgresServer>, IClassFixture<MariaDbServer>
{
    [Fact]
    public async Task Node_kafkajs_decodes_every_event_of_the_demos_topics_through_the_registry_API_as_DataMesh_reads_it()
    {
        await using var demo = await DemoHost.CreateAsync(postgres, mariaDb);
        await demo.StartAsync();
        await demo.WriteDemoChangesAsync();
        var records = await demo.ReadAllAsync();

        var output = await ScriptRunner.RunAsync(
            "node",
            [NodeClient.Script("decode-topics.js"), demo.Kafka.BootstrapServers, demo.Url, DemoHost.Expected.ToString(CultureInfo.InvariantCulture), .. demo.Topics],
            TimeSpan.FromSeconds(120));
        var theirs = output.Split('\n', StringSplitOptions.RemoveEmptyEntries)
            .Select(line => JsonDocument.Parse(line).RootElement.Clone())
            .ToDictionary(r => (r.GetProperty("topic").GetString()!, r.GetProperty("partition").GetInt32(), long.Parse(r.GetProperty("offset").GetString()!, CultureInfo.InvariantCulture)));

        Assert.Equal(DemoHost.Expected, records.Count);
        Assert.Equal(DemoHost.Expected, theirs.Count);
        var compared = 0;
        foreach (var record in records)
        {
            var where = $"{record.Topic}[{record.Partition.Value}]@{record.Offset.Value}";
            Assert.True(theirs.TryGetValue((record.Topic, record.Partition.Value, record.Offset.Value), out var node), $"{where}: the Node client did not print it");
            compared += await AvroJsonComparison.AssertSameAsync(demo.Store, record.Message.Key, node.GetProperty("key"), where + " key");
            compared += await AvroJsonComparison.AssertSameAsync(demo.Store, record.Message.Value, node.GetProperty("value"), where + " value");
        }

        // Each topic's events: the demo's operations, decoded by Node (in order in orders' one partition).
        var ops = theirs.Values.Where(r => r.GetProperty("value").ValueKind != JsonValueKind.Null)
            .GroupBy(r => r.GetProperty("topic").GetString()!)
            .ToDictionary(g => g.Key, g => string.Concat(g
                .OrderBy(r => r.GetProperty("partition").GetInt32())
                .ThenBy(r => long.Parse(r.GetProperty("offset").GetString()!, CultureInfo.InvariantCulture))
                .Select(r => r.GetProperty("value").GetProperty("op").GetString())));
        Assert.Equal("ccudcc", ops[demo.Topics[0]]);
        Assert.Equal(new string('r', DemoHost.Customers), ops[demo.Topics[1]]);
        Assert.Equal("ccdu", string.Concat(ops[demo.Topics[2]].Order()));
        Assert.True(compared > DemoHost.Expected * 10, $"only {compared} fields compared");
        demo.Logs.AssertNoSecret();
    }

    [Fact]
    public async Task The_sources_metrics_appear_in_the_Prometheus_scrape_with_their_names_and_labels_and_no_secret()
    {
        await using var demo = await DemoHost.CreateAsync(postgres, mariaDb);
        await demo.StartAsync(o => o.Prometheus.Path = "/internal/metrics");
        await demo.WriteDemoChangesAsync();
        await demo.ReadAllAsync();

        using var http = new HttpClient();
        var text = string.Empty;
        double Sample(string name, params string[] labels) =>
            text.Split('\n').Where(l => l.StartsWith(name + "{", StringComparison.Ordinal) && labels.All(label => l.Contains(label, StringComparison.Ordinal)))
                .Select(l => double.Parse(l[(l.LastIndexOf(' ') + 1)..], CultureInfo.InvariantCulture))
                .DefaultIfEmpty(double.NaN)
                .Sum();

        // The exporter caches a scrape for a moment, and acknowledgements land after the records are readable: scrape until the last count is in.
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (Sample("datamesh_source_events_total", "datamesh_source=\"warehouse\"", "datamesh_operation=\"tombstone\"") != 1 && DateTime.UtcNow < deadline)
        {
            await Task.Delay(300);
            using var response = await http.GetAsync(demo.Url + "/internal/metrics");
            Assert.Equal(System.Net.HttpStatusCode.OK, response.StatusCode);
            Assert.StartsWith("text/plain", response.Content.Headers.ContentType!.MediaType, StringComparison.Ordinal);
            text = await response.Content.ReadAsStringAsync();
        }

        const string Shop = "datamesh_source=\"shop\"";
        const string Warehouse = "datamesh_source=\"warehouse\"";
        Assert.Equal(4, Sample("datamesh_source_events_total", "datamesh_connector=\"postgresql\"", Shop, "datamesh_operation=\"c\""));
        Assert.Equal(1, Sample("datamesh_source_events_total", Shop, "datamesh_operation=\"u\""));
        Assert.Equal(1, Sample("datamesh_source_events_total", Shop, "datamesh_operation=\"d\""));
        Assert.Equal(1, Sample("datamesh_source_events_total", Shop, "datamesh_operation=\"tombstone\""));
        Assert.Equal(DemoHost.Customers, Sample("datamesh_source_events_total", Shop, "datamesh_operation=\"r\""));
        Assert.Equal(DemoHost.Customers, Sample("datamesh_source_snapshot_rows_total", Shop, "datamesh_table=\"public.customers\""));
        Assert.Equal(2, Sample("datamesh_source_events_total", "datamesh_connector=\"mysql\"", Warehouse, "datamesh_operation=\"c\""));
        Assert.Equal(1, Sample("datamesh_source_events_total", Warehouse, "datamesh_operation=\"d\""));
        Assert.True(Sample("datamesh_source_transactions_total", Shop) >= 4, text);
        Assert.Equal(2, Sample("datamesh_source_state", Shop)); // running
        Assert.Equal(2, Sample("datamesh_source_state", Warehouse));
        Assert.Contains("# TYPE datamesh_source_events_total counter", text, StringComparison.Ordinal);
        Assert.Contains("# TYPE datamesh_source_lag_time_seconds gauge", text, StringComparison.Ordinal);
        Assert.Contains("datamesh_source_in_flight{otel_scope_name=\"DataMesh.Sources\",otel_scope_version=", text, StringComparison.Ordinal);
        Assert.Equal(0, Sample("datamesh_source_in_flight", "datamesh_connector=\"mysql\"", Warehouse));

        // The default path is not mapped when another is set; no label holds a password of the test servers.
        using (var root = await http.GetAsync(demo.Url + "/metrics"))
        {
            Assert.Equal(System.Net.HttpStatusCode.NotFound, root.StatusCode);
        }

        var scan = new SecretScan(toSuiteLog: false);
        scan.Add(text);
        scan.AssertNoSecret();
    }
}

/// <summary>Where tests/node is: the folder of the repository (the one holding DataMesh.sln) above the test assembly.</summary>
internal static class NodeClient
{
    public static string Script(string name)
    {
        for (var directory = new DirectoryInfo(AppContext.BaseDirectory); directory is not null; directory = directory.Parent)
        {
            if (File.Exists(Path.Combine(directory.FullName, "DataMesh.sln")))
            {
                var folder = Path.Combine(directory.FullName, "tests", "node");
                if (!Directory.Exists(Path.Combine(folder, "node_modules", "kafkajs")))
                {
                    throw new InvalidOperationException($"{folder}/node_modules has no kafkajs: run ./build.sh test, or npm ci in {folder}.");
                }

                return Path.Combine(folder, name);
            }
        }

        throw new InvalidOperationException($"No DataMesh.sln above {AppContext.BaseDirectory}: the Node client's scripts are in the repository's tests/node.");
    }
}

/// <summary>
/// Compares a Confluent-framed Avro message, as DataMesh's <see cref="AvroJsonWriter"/> renders it with the writer schema
/// from the store, with what @kafkajs/confluent-schema-registry (avsc) decoded, printed by tests/node/decode-topics.js:
/// field by field, each logical type converted from avsc's raw value (decimals' bytes, dates' days, timestamps' ticks).
/// </summary>
internal static class AvroJsonComparison
{
    /// <summary>Asserts both agree; returns the number of leaf values compared.</summary>
    public static async Task<int> AssertSameAsync(DataMesh.Schemas.ISchemaStore store, byte[]? message, JsonElement theirs, string path)
    {
        if (message is null)
        {
            Assert.True(theirs.ValueKind == JsonValueKind.Null, $"{path}: null in Kafka, {theirs} from Node");
            return 1;
        }

        ConfluentWireFormat.ReadHeader(message, out var id, out _);
        var schema = await store.GetByIdAsync(id);
        ConfluentWireFormat.ReadHeader(message, out _, out var payload);
        var buffer = new ArrayBufferWriter<byte>();
        using (var json = new Utf8JsonWriter(buffer))
        {
            AvroJsonWriter.For(schema).Write(json, payload);
        }

        using var ours = JsonDocument.Parse(buffer.WrittenMemory);
        return Compare(schema, ours.RootElement, theirs, path);
    }

    private static int Compare(AvroSchema schema, JsonElement ours, JsonElement theirs, string path)
    {
        switch (schema)
        {
            case global::Avro.UnionSchema union:
                if (ours.ValueKind == JsonValueKind.Null)
                {
                    Assert.True(theirs.ValueKind == JsonValueKind.Null, $"{path}: ours null, Node's {theirs}");
                    return 1;
                }

                var branches = union.Schemas.Where(s => s.Tag != AvroSchema.Type.Null).ToList();
                if (branches.Count == 1)
                {
                    return Compare(branches[0], ours, theirs, path);
                }

                // avsc wraps a union of several non-null branches: {"branch name": value}.
                var wrapped = Assert.Single(theirs.EnumerateObject());
                var branch = branches.Single(b => b.Fullname == wrapped.Name || b.Name == wrapped.Name || (b is global::Avro.LogicalSchema l && l.BaseSchema.Name == wrapped.Name));
                return Compare(branch, ours, wrapped.Value, path);
            case global::Avro.RecordSchema record when record.Fullname == "io.datamesh.data.VariableScaleDecimal":
                Assert.Equal(ours.GetString(), Decimal(theirs.GetProperty("value"), theirs.GetProperty("scale").GetInt32()));
                return 1;
            case global::Avro.RecordSchema record:
                Assert.Equal(record.Fields.Count, ours.EnumerateObject().Count());
                Assert.Equal(record.Fields.Count, theirs.EnumerateObject().Count());
                return record.Fields.Sum(f => Compare(f.Schema, ours.GetProperty(f.Name), theirs.GetProperty(f.Name), path + "." + f.Name));
            case global::Avro.LogicalSchema logical:
                return CompareLogical(logical, ours, theirs, path);
            case global::Avro.ArraySchema array:
                Assert.Equal(ours.GetArrayLength(), theirs.GetArrayLength());
                return ours.EnumerateArray().Zip(theirs.EnumerateArray()).Select((pair, i) => Compare(array.ItemSchema, pair.First, pair.Second, $"{path}[{i}]")).Sum();
            case global::Avro.MapSchema map:
                Assert.Equal(ours.EnumerateObject().Count(), theirs.EnumerateObject().Count());
                return ours.EnumerateObject().Sum(p => Compare(map.ValueSchema, p.Value, theirs.GetProperty(p.Name), path + "." + p.Name));
            case global::Avro.FixedSchema:
                Assert.True(ours.GetString() == Bytes(theirs), $"{path}: ours {ours}, Node's {theirs}");
                return 1;
            case global::Avro.EnumSchema:
                Assert.True(ours.GetString() == theirs.GetString(), $"{path}: ours {ours}, Node's {theirs}");
                return 1;
            default:
                ComparePrimitive(schema.Tag, ours, theirs, path);
                return 1;
        }
    }

    private static void ComparePrimitive(AvroSchema.Type type, JsonElement ours, JsonElement theirs, string path)
    {
        var same = type switch
        {
            AvroSchema.Type.Null => ours.ValueKind == JsonValueKind.Null && theirs.ValueKind == JsonValueKind.Null,
            AvroSchema.Type.Boolean => ours.GetBoolean() == theirs.GetBoolean(),
            AvroSchema.Type.Int or AvroSchema.Type.Long => ours.GetInt64() == theirs.GetInt64(),
            AvroSchema.Type.Float or AvroSchema.Type.Double => ours.ValueKind == JsonValueKind.String
                ? ours.GetString() == theirs.GetRawText().Trim('"')
                : ours.GetDouble().Equals(theirs.GetDouble()),
            AvroSchema.Type.String => ours.GetString() == theirs.GetString(),
            AvroSchema.Type.Bytes => ours.GetString() == Bytes(theirs),
            _ => false,
        };
        Assert.True(same, $"{path} ({type}): ours {ours}, Node's {theirs}");
    }

    private static int CompareLogical(global::Avro.LogicalSchema logical, JsonElement ours, JsonElement theirs, string path)
    {
        var epoch = DateTime.UnixEpoch;
        var text = ours.ValueKind == JsonValueKind.String ? ours.GetString() : null;
        var same = logical.LogicalTypeName switch
        {
            "decimal" => text == Decimal(theirs, int.Parse(logical.GetProperty("scale") ?? "0", CultureInfo.InvariantCulture)),
            "date" => text == DateOnly.FromDateTime(epoch.AddDays(theirs.GetInt64())).ToString("yyyy-MM-dd", CultureInfo.InvariantCulture),
            "timestamp-millis" or "local-timestamp-millis" => Instant(text!) == epoch.AddMilliseconds(theirs.GetInt64()),
            "timestamp-micros" or "local-timestamp-micros" => Instant(text!) == epoch.AddTicks(theirs.GetInt64() * 10),
            "time-millis" => TimeOfDay(text!) == theirs.GetInt64() * 1000,
            "time-micros" => TimeOfDay(text!) == theirs.GetInt64(),
            "uuid" => text == theirs.GetString(),
            _ => Compare(logical.BaseSchema, ours, theirs, path) > 0,
        };
        Assert.True(same, $"{path} ({logical.LogicalTypeName}): ours {ours}, Node's {theirs}");
        return 1;
    }

    /// <summary>Node prints bytes as <c>{"$bytes": base64}</c>.</summary>
    private static string Bytes(JsonElement theirs) => theirs.GetProperty("$bytes").GetString()!;

    /// <summary>Big-endian two's-complement unscaled bytes with a scale, written as DataMesh writes decimals (<c>-12.30</c>).</summary>
    private static string Decimal(JsonElement theirs, int scale)
    {
        var unscaled = new BigInteger(Convert.FromBase64String(Bytes(theirs)), isUnsigned: false, isBigEndian: true);
        var digits = BigInteger.Abs(unscaled).ToString(CultureInfo.InvariantCulture).PadLeft(scale + 1, '0');
        var text = scale == 0 ? digits : digits[..^scale] + "." + digits[^scale..];
        return unscaled.Sign < 0 ? "-" + text : text;
    }

    private static DateTime Instant(string text) =>
        DateTime.Parse(text, CultureInfo.InvariantCulture, DateTimeStyles.AdjustToUniversal | DateTimeStyles.AssumeUniversal);

    /// <summary>Microseconds of <c>HH:mm:ss.ffffff</c> (hours beyond 23 allowed).</summary>
    private static long TimeOfDay(string text)
    {
        var parts = text.Split(':', '.');
        var micros = parts.Length > 3 ? long.Parse(parts[3].PadRight(6, '0'), CultureInfo.InvariantCulture) : 0;
        return (((long.Parse(parts[0], CultureInfo.InvariantCulture) * 60) + long.Parse(parts[1], CultureInfo.InvariantCulture)) * 60 + long.Parse(parts[2], CultureInfo.InvariantCulture)) * 1_000_000 + micros;
    }
}
