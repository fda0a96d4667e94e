using System.Buffers;
using System.Numerics;
using System.Text;
using System.Text.Json;
using DataMesh.Avro;
using DataMesh.Hosting;
using DataMesh.Pipelines;
using DataMesh.Pipelines.Sinks;
using DataMesh.Schemas;
using Microsoft.Extensions.Logging.Abstractions;
using Xunit;

namespace DataMesh.Tests.Pipelines;

/// <summary>The JSON Lines sink with a real <see cref="KafkaSchemaStore"/> on the embedded cluster, writing to a temporary directory.</summary>
public sealed class JsonLinesSinkTests : IAsyncLifetime
{
    private const string Uuid = "0190f3a1-2b3c-7d4e-8f90-a1b2c3d4e5f6";

    private static readonly global::Avro.RecordSchema AllTypes = (global::Avro.RecordSchema)global::Avro.Schema.Parse("""
        {"type":"record","name":"AllTypes","namespace":"test","fields":[
         {"name":"n","type":"null"},
         {"name":"b","type":"boolean"},
         {"name":"i","type":"int"},
         {"name":"l","type":"long"},
         {"name":"f","type":"float"},
         {"name":"d","type":"double"},
         {"name":"nan","type":"double"},
         {"name":"inf","type":"float"},
         {"name":"ninf","type":"double"},
         {"name":"s","type":"string"},
         {"name":"bytes","type":"bytes"},
         {"name":"fx","type":{"type":"fixed","name":"Three","size":3}},
         {"name":"e","type":{"type":"enum","name":"Color","symbols":["RED","GREEN"]}},
         {"name":"arr","type":{"type":"array","items":"int"}},
         {"name":"map","type":{"type":"map","values":"string"}},
         {"name":"rec","type":{"type":"record","name":"Inner","fields":[{"name":"x","type":"int"}]}},
         {"name":"opt","type":["null","string"]},
         {"name":"none","type":["null","string"]},
         {"name":"multi","type":["int","string"]},
         {"name":"dec","type":{"type":"bytes","logicalType":"decimal","precision":12,"scale":2}},
         {"name":"small","type":{"type":"bytes","logicalType":"decimal","precision":12,"scale":4}},
         {"name":"decfixed","type":{"type":"fixed","name":"D8","size":8,"logicalType":"decimal","precision":18,"scale":3}},
         {"name":"huge","type":{"type":"bytes","logicalType":"decimal","precision":60,"scale":10}},
         {"name":"date","type":{"type":"int","logicalType":"date"}},
         {"name":"tmillis","type":{"type":"int","logicalType":"time-millis"}},
         {"name":"tmicros","type":{"type":"long","logicalType":"time-micros"}},
         {"name":"tsmillis","type":{"type":"long","logicalType":"timestamp-millis"}},
         {"name":"tsmicros","type":{"type":"long","logicalType":"timestamp-micros"}},
         {"name":"local","type":{"type":"long","logicalType":"local-timestamp-micros"}},
         {"name":"uuid","type":{"type":"string","logicalType":"uuid"}},
         {"name":"vsd","type":{"type":"record","name":"VariableScaleDecimal","namespace":"io.datamesh.data","fields":[{"name":"scale","type":"int"},{"name":"value","type":"bytes"}]}},
         {"name":"optdec","type":["null",{"type":"bytes","logicalType":"decimal","precision":5,"scale":1}]}
        ]}
        """);

    private static readonly global::Avro.RecordSchema KeySchema = (global::Avro.RecordSchema)global::Avro.Schema.Parse(
        """{"type":"record","name":"Key","namespace":"test","fields":[{"name":"id","type":"long"},{"name":"region","type":"string"}]}""");

    private static readonly global::Avro.RecordSchema SmallSchema = (global::Avro.RecordSchema)global::Avro.Schema.Parse(
        """{"type":"record","name":"Small","namespace":"test","fields":[{"name":"n","type":"int"}]}""");

    private readonly string _suffix = Guid.NewGuid().ToString("N");
    private readonly string _directory = Path.Combine(Path.GetTempPath(), "datamesh-jsonl-" + Guid.NewGuid().ToString("N"));
    private readonly KafkaConnection _kafka = new(new KafkaOptions());
    private KafkaSchemaStore _store = null!;
    private int _keyId;

    public async Task InitializeAsync()
    {
        _store = await KafkaSchemaStore.CreateAsync(new KafkaSchemaStoreOptions { EmbeddedCluster = _kafka.EmbeddedCluster, Topic = "_schemas-" + _suffix });
        _keyId = await _store.RegisterAsync("jsonl-" + _suffix + "-key", KeySchema);
    }

    public async Task DisposeAsync()
    {
        await _store.DisposeAsync();
        _kafka.Dispose();
        if (Directory.Exists(_directory))
        {
            Directory.Delete(_directory, recursive: true);
        }
    }

    private delegate void Encode(ref AvroWriter writer);

    private static byte[] Datum(Encode encode)
    {
        var buffer = new ArrayBufferWriter<byte>();
        var writer = new AvroWriter(buffer);
        encode(ref writer);
        writer.Flush();
        return buffer.WrittenSpan.ToArray();
    }

    private static byte[] Small(int n) => Datum((ref AvroWriter w) => w.WriteInt(n));

    private byte[] FramedKey(long id, string region)
    {
        var datum = Datum((ref AvroWriter w) =>
        {
            w.WriteLong(id);
            w.WriteString(region);
        });
        var key = new byte[ConfluentWireFormat.HeaderLength + datum.Length];
        ConfluentWireFormat.WriteHeader(key, _keyId);
        datum.CopyTo(key, ConfluentWireFormat.HeaderLength);
        return key;
    }

    private async Task<JsonLinesSink> StartAsync(string path)
    {
        var sink = new JsonLinesSink(new JsonLinesSinkOptions { Path = path });
        await sink.StartAsync(new SinkContext("jsonl-test", _store, _kafka, NullLoggerFactory.Instance), CancellationToken.None);
        return sink;
    }

    [Fact]
    public async Task Every_type_is_rendered_readably_and_exactly()
    {
        var timestamp = new DateTimeOffset(2026, 1, 2, 3, 4, 5, 123, TimeSpan.Zero);
        var micros = (timestamp.ToUnixTimeMilliseconds() * 1000) + 456;
        var value = Datum((ref AvroWriter w) =>
        {
            w.WriteBoolean(true);
            w.WriteInt(-42);
            w.WriteLong(9_007_199_254_740_993);
            w.WriteFloat(1.5f);
            w.WriteDouble(0.1);
            w.WriteDouble(double.NaN);
            w.WriteFloat(float.PositiveInfinity);
            w.WriteDouble(double.NegativeInfinity);
            w.WriteString("Grüße \"q\"\n");
            w.WriteBytes([1, 2, 3, 255]);
            w.WriteFixed("abc"u8, 3);
            w.WriteEnum(1);
            w.WriteArrayStart(2);
            w.WriteInt(1);
            w.WriteInt(2);
            w.WriteArrayStart(1);
            w.WriteInt(3);
            w.WriteArrayEnd();
            w.WriteMapStart(1);
            w.WriteString("k");
            w.WriteString("v");
            w.WriteMapEnd();
            w.WriteInt(7);
            w.WriteUnionIndex(1);
            w.WriteString("here");
            w.WriteUnionIndex(0);
            w.WriteUnionIndex(1);
            w.WriteString("text");
            w.WriteDecimal(-12.30m, 12, 2);
            w.WriteDecimal(0.0005m, 12, 4);
            w.WriteDecimalFixed(123456.789m, 18, 3, 8);
            w.WriteDecimal(BigInteger.Parse("-123456789012345678901234567890123456789012345", System.Globalization.CultureInfo.InvariantCulture), 60);
            w.WriteDate(new DateOnly(2026, 1, 2));
            w.WriteTimeMillis(3_723_004);
            w.WriteTimeMicros(3_723_000_005);
            w.WriteTimestampMillis(timestamp.ToUnixTimeMilliseconds());
            w.WriteTimestampMicros(micros);
            w.WriteLocalTimestampMicros(micros);
            w.WriteString(Uuid);
            w.WriteInt(3);
            w.WriteBytes(new BigInteger(12345).ToByteArray(isUnsigned: false, isBigEndian: true));
            w.WriteUnionIndex(1);
            w.WriteDecimal(2.5m, 5, 1);
        });
        var batch = new SinkBatch();
        batch.Add("types", default, false, value, AllTypes, new SourcePartition("src", 3), 17);

        var path = Path.Combine(_directory, "types.jsonl");
        await using (var sink = await StartAsync(path))
        {
            await sink.WriteAsync(batch, CancellationToken.None);
        }

        Assert.Equal(0, batch.RejectedCount);
        var expected = "{\"topic\":\"src\",\"partition\":3,\"offset\":17,\"key\":null,\"value\":{"
            + "\"n\":null,\"b\":true,\"i\":-42,\"l\":9007199254740993,\"f\":1.5,\"d\":0.1,\"nan\":\"NaN\",\"inf\":\"Infinity\",\"ninf\":\"-Infinity\","
            + "\"s\":\"Grüße \\\"q\\\"\\n\",\"bytes\":\"AQID/w==\",\"fx\":\"YWJj\",\"e\":\"GREEN\",\"arr\":[1,2,3],\"map\":{\"k\":\"v\"},\"rec\":{\"x\":7},"
            + "\"opt\":\"here\",\"none\":null,\"multi\":\"text\",\"dec\":\"-12.30\",\"small\":\"0.0005\",\"decfixed\":\"123456.789\","
            + "\"huge\":\"-12345678901234567890123456789012345.6789012345\",\"date\":\"2026-01-02\",\"tmillis\":\"01:02:03.004000\","
            + "\"tmicros\":\"01:02:03.000005\",\"tsmillis\":\"2026-01-02T03:04:05.123000Z\",\"tsmicros\":\"2026-01-02T03:04:05.123456Z\","
            + "\"local\":\"2026-01-02T03:04:05.123456\",\"uuid\":\"" + Uuid + "\",\"vsd\":\"12.345\",\"optdec\":\"2.5\"}}\n";
        Assert.Equal(expected, await File.ReadAllTextAsync(path));
    }

    [Fact]
    public void Edge_values_are_rendered_exactly()
    {
        var schema = (global::Avro.RecordSchema)global::Avro.Schema.Parse("""
            {"type":"record","name":"Edges","fields":[
             {"name":"zero","type":{"type":"bytes","logicalType":"decimal","precision":5,"scale":2}},
             {"name":"neg","type":{"type":"bytes","logicalType":"decimal","precision":5,"scale":2}},
             {"name":"whole","type":{"type":"bytes","logicalType":"decimal","precision":5,"scale":0}},
             {"name":"midnight","type":{"type":"long","logicalType":"time-micros"}},
             {"name":"before","type":{"type":"long","logicalType":"timestamp-micros"}},
             {"name":"day","type":{"type":"int","logicalType":"date"}},
             {"name":"nanf","type":"float"},
             {"name":"fixed16","type":{"type":"fixed","name":"U16","size":16}}
            ]}
            """);
        var datum = Datum((ref AvroWriter w) =>
        {
            w.WriteDecimal(0m, 5, 2);
            w.WriteDecimal(-0.05m, 5, 2);
            w.WriteDecimal(-120m, 5, 0);
            w.WriteTimeMicros(86_400_000_000);
            w.WriteTimestampMicros(-1);
            w.WriteDate(new DateOnly(1969, 12, 31));
            w.WriteFloat(float.NaN);
            w.WriteUuidFixed(Guid.Parse(Uuid));
        });

        Assert.Equal(
            """{"zero":"0.00","neg":"-0.05","whole":"-120","midnight":"24:00:00.000000","before":"1969-12-31T23:59:59.999999Z","day":"1969-12-31","nanf":"NaN","fixed16":"AZDzoSs8fU6PkKGyw9Tl9g=="}""",
            Render(schema, datum));

        Assert.Throws<AvroFormatException>(() => Render(schema, datum[..^3]));
        Assert.Throws<AvroFormatException>(() => Render(SmallSchema, [2, 0]));
    }

    [Fact]
    public void Dates_and_timestamps_beyond_years_1_to_9999_are_written_as_their_numbers_not_refused()
    {
        // The sources' sentinels (PostgreSQL's infinity, MySQL's zero dates: int/long Min and MaxValue, docs/type-mapping.md)
        // and PostgreSQL's own far dates have no yyyy-MM-dd form; they were sent to the dead-letter topic.
        var schema = global::Avro.Schema.Parse("""
            {"type":"record","name":"Edges","fields":[
              {"name":"zero","type":{"type":"int","logicalType":"date"}},
              {"name":"inf","type":{"type":"int","logicalType":"date"}},
              {"name":"far","type":{"type":"int","logicalType":"date"}},
              {"name":"ts","type":{"type":"long","logicalType":"timestamp-micros"}},
              {"name":"lts","type":{"type":"long","logicalType":"local-timestamp-micros"}},
              {"name":"ok","type":{"type":"int","logicalType":"date"}}]}
            """);
        var datum = Datum((ref AvroWriter w) =>
        {
            w.WriteInt(int.MinValue);
            w.WriteInt(int.MaxValue);
            w.WriteInt(2_146_764_000);
            w.WriteLong(long.MaxValue);
            w.WriteLong(long.MinValue);
            w.WriteInt(0);
        });

        Assert.Equal(
            """{"zero":-2147483648,"inf":2147483647,"far":2146764000,"ts":9223372036854775807,"lts":-9223372036854775808,"ok":"1970-01-01"}""",
            Render(schema, datum));
    }

    private static string Render(global::Avro.Schema schema, byte[] datum)
    {
        var buffer = new ArrayBufferWriter<byte>();
        using var json = new Utf8JsonWriter(buffer, new JsonWriterOptions { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping });
        AvroJsonWriter.For(schema).Write(json, datum);
        json.Flush();
        return Encoding.UTF8.GetString(buffer.WrittenSpan);
    }

    [Fact]
    public void Rendering_allocates_nothing_per_record_in_steady_state()
    {
        var datum = Datum((ref AvroWriter w) =>
        {
            w.WriteBoolean(false);
            w.WriteInt(1);
            w.WriteLong(2);
            w.WriteFloat(3);
            w.WriteDouble(4);
            w.WriteDouble(double.NaN);
            w.WriteFloat(5);
            w.WriteDouble(6);
            w.WriteString("s");
            w.WriteBytes([1]);
            w.WriteFixed("abc"u8, 3);
            w.WriteEnum(0);
            w.WriteArrayStart(1);
            w.WriteInt(1);
            w.WriteArrayEnd();
            w.WriteMapStart(1);
            w.WriteString("k");
            w.WriteString("v");
            w.WriteMapEnd();
            w.WriteInt(7);
            w.WriteUnionIndex(0);
            w.WriteUnionIndex(0);
            w.WriteUnionIndex(0);
            w.WriteInt(1);
            w.WriteDecimal(-12.30m, 12, 2);
            w.WriteDecimal(1m, 12, 4);
            w.WriteDecimalFixed(1m, 18, 3, 8);
            w.WriteDecimal(12m, 60, 10);
            w.WriteDate(new DateOnly(2026, 1, 2));
            w.WriteTimeMillis(1);
            w.WriteTimeMicros(1);
            w.WriteTimestampMillis(1);
            w.WriteTimestampMicros(1);
            w.WriteLocalTimestampMicros(1);
            w.WriteString(Uuid);
            w.WriteInt(3);
            w.WriteBytes([1]);
            w.WriteUnionIndex(0);
        });
        var writer = AvroJsonWriter.For(AllTypes);
        var buffer = new ArrayBufferWriter<byte>(64 * 1024);
        using var json = new Utf8JsonWriter(buffer);
        Assert.Equal(0, PipelineTestData.AllocatedBytes(Once));

        void Once()
        {
            buffer.ResetWrittenCount();
            json.Reset(buffer);
            writer.Write(json, datum);
            json.Flush();
        }
    }

    [Fact]
    public async Task Keys_are_decoded_through_the_schema_store_or_written_as_base64_and_tombstones_have_a_null_value()
    {
        var unknownId = new byte[] { 0, 0x7F, 0, 0, 1, 2 };
        var badDatum = new byte[ConfluentWireFormat.HeaderLength + 1];
        ConfluentWireFormat.WriteHeader(badDatum, _keyId);
        badDatum[5] = 3; // a long, then no string
        var batch = new SinkBatch();
        batch.Add("t", FramedKey(42, "eu"), true, Small(1), SmallSchema, new SourcePartition("src", 0), 1);
        batch.Add("t", FramedKey(42, "eu"), true, default, null, new SourcePartition("src", 0), 2);
        batch.Add("t", "plain"u8, true, Small(2), SmallSchema, new SourcePartition("src", 0), 3);
        batch.Add("t", unknownId, true, Small(3), SmallSchema, new SourcePartition("src", 0), 4);
        batch.Add("t", badDatum, true, Small(4), SmallSchema, new SourcePartition("src", 0), 5);
        batch.Add("t", default, false, Small(5), SmallSchema, new SourcePartition("src", 0), 6);

        var path = Path.Combine(_directory, "keys.jsonl");
        await using (var sink = await StartAsync(path))
        {
            await sink.WriteAsync(batch, CancellationToken.None);
        }

        Assert.Equal(
        [
            """{"topic":"src","partition":0,"offset":1,"key":{"id":42,"region":"eu"},"value":{"n":1}}""",
            """{"topic":"src","partition":0,"offset":2,"key":{"id":42,"region":"eu"},"value":null}""",
            """{"topic":"src","partition":0,"offset":3,"key":"cGxhaW4=","value":{"n":2}}""",
            """{"topic":"src","partition":0,"offset":4,"key":"AH8AAAEC","value":{"n":3}}""",
            $$$"""{"topic":"src","partition":0,"offset":5,"key":"{{{Convert.ToBase64String(badDatum)}}}","value":{"n":4}}""",
            """{"topic":"src","partition":0,"offset":6,"key":null,"value":{"n":5}}""",
        ], await File.ReadAllLinesAsync(path));
    }

    [Fact]
    public async Task A_template_gives_each_topic_its_file_and_refuses_topics_that_cannot_name_one()
    {
        var batch = new SinkBatch();
        batch.Add("orders", default, false, Small(1), SmallSchema, new SourcePartition("src", 0), 1);
        batch.Add("customers", default, false, Small(2), SmallSchema, new SourcePartition("src", 0), 2);
        batch.Add("orders", default, false, Small(3), SmallSchema, new SourcePartition("src", 0), 3);
        batch.Add("../escape", default, false, Small(4), SmallSchema, new SourcePartition("src", 0), 4);

        await using (var sink = await StartAsync(Path.Combine(_directory, "{topic}", "{topic}.jsonl")))
        {
            await sink.WriteAsync(batch, CancellationToken.None);
            Assert.Equal(1, batch.RejectedCount);
            Assert.Contains("'../escape' cannot name a file", batch.GetRejection(3), StringComparison.Ordinal);

            // A second batch appends.
            var next = new SinkBatch();
            next.Add("orders", default, false, Small(5), SmallSchema, new SourcePartition("src", 1), 9);
            await sink.WriteAsync(next, CancellationToken.None);
        }

        Assert.Equal(
        [
            """{"topic":"src","partition":0,"offset":1,"key":null,"value":{"n":1}}""",
            """{"topic":"src","partition":0,"offset":3,"key":null,"value":{"n":3}}""",
            """{"topic":"src","partition":1,"offset":9,"key":null,"value":{"n":5}}""",
        ], await File.ReadAllLinesAsync(Path.Combine(_directory, "orders", "orders.jsonl")));
        Assert.Equal(["""{"topic":"src","partition":0,"offset":2,"key":null,"value":{"n":2}}"""], await File.ReadAllLinesAsync(Path.Combine(_directory, "customers", "customers.jsonl")));
        Assert.Equal(["customers", "orders"], Directory.GetDirectories(_directory).Select(Path.GetFileName).Order(StringComparer.Ordinal));
    }

    [Fact]
    public async Task Concurrent_batches_are_serialized_per_file_and_keep_their_order()
    {
        const int Partitions = 6;
        const int Batches = 30;
        const int PerBatch = 25;
        var path = Path.Combine(_directory, "all.jsonl");
        await using (var sink = await StartAsync(path))
        {
            await Task.WhenAll(Enumerable.Range(0, Partitions).Select(p => Task.Run(async () =>
            {
                var source = new SourcePartition("src", p);
                var batch = new SinkBatch();
                for (var b = 0; b < Batches; b++)
                {
                    batch.Clear();
                    for (var r = 0; r < PerBatch; r++)
                    {
                        var offset = (b * PerBatch) + r;
                        batch.Add("t", default, false, Small(offset), SmallSchema, source, offset);
                    }

                    await sink.WriteAsync(batch, CancellationToken.None);
                }
            })));
        }

        var lines = await File.ReadAllLinesAsync(path);
        Assert.Equal(Partitions * Batches * PerBatch, lines.Length);
        var next = new long[Partitions];
        for (var i = 0; i < lines.Length; i++)
        {
            using var line = JsonDocument.Parse(lines[i]);
            var partition = line.RootElement.GetProperty("partition").GetInt32();
            var offset = line.RootElement.GetProperty("offset").GetInt64();
            Assert.Equal(next[partition]++, offset);
            Assert.Equal(offset, line.RootElement.GetProperty("value").GetProperty("n").GetInt64());

            // The lines of one batch are adjacent.
            if (offset % PerBatch != 0)
            {
                Assert.Equal(partition, JsonDocument.Parse(lines[i - 1]).RootElement.GetProperty("partition").GetInt32());
            }
        }
    }

    [Fact]
    public async Task A_value_that_does_not_match_its_schema_is_rejected_and_the_others_are_written()
    {
        var batch = new SinkBatch();
        batch.Add("t", default, false, Small(1), SmallSchema, new SourcePartition("src", 0), 1);
        batch.Add("t", default, false, [0x80], SmallSchema, new SourcePartition("src", 0), 2);
        batch.Add("t", default, false, [2, 4], SmallSchema, new SourcePartition("src", 0), 3);
        batch.Add("t", default, false, Small(4), SmallSchema, new SourcePartition("src", 0), 4);

        var path = Path.Combine(_directory, "bad.jsonl");
        await using (var sink = await StartAsync(path))
        {
            await sink.WriteAsync(batch, CancellationToken.None);
        }

        Assert.Equal(2, batch.RejectedCount);
        Assert.Contains("does not match its schema test.Small", batch.GetRejection(1), StringComparison.Ordinal);
        Assert.Contains("1 bytes follow the end of the datum", batch.GetRejection(2), StringComparison.Ordinal);
        Assert.Equal(
        [
            """{"topic":"src","partition":0,"offset":1,"key":null,"value":{"n":1}}""",
            """{"topic":"src","partition":0,"offset":4,"key":null,"value":{"n":4}}""",
        ], await File.ReadAllLinesAsync(path));
    }

    [Fact]
    public async Task A_line_cut_by_a_crash_is_left_alone_and_the_next_starts_on_a_new_line()
    {
        Directory.CreateDirectory(_directory);
        var path = Path.Combine(_directory, "torn.jsonl");
        await File.WriteAllTextAsync(path, "{\"topic\":\"src\",\"partition\":0,\"offset\":1,\"key\":null,\"value\":{\"n\":1}}\n{\"topic\":\"sr");
        var batch = new SinkBatch();
        batch.Add("t", default, false, Small(2), SmallSchema, new SourcePartition("src", 0), 2);

        await using (var sink = await StartAsync(path))
        {
            await sink.WriteAsync(batch, CancellationToken.None);
        }

        Assert.Equal(
        [
            """{"topic":"src","partition":0,"offset":1,"key":null,"value":{"n":1}}""",
            """{"topic":"sr""",
            """{"topic":"src","partition":0,"offset":2,"key":null,"value":{"n":2}}""",
        ], await File.ReadAllLinesAsync(path));
    }

    [Fact]
    public async Task Bad_options_and_misuse_are_refused()
    {
        string Refused(string path) => Assert.Throws<ArgumentException>(() => new JsonLinesSink(new JsonLinesSinkOptions { Path = path })).Message;

        Assert.Contains("JsonLinesSinkOptions.Path must name a file", Refused(" "), StringComparison.Ordinal);
        Assert.Contains("JsonLinesSinkOptions.Path '/tmp/{table}.jsonl' has a placeholder other than {topic}", Refused("/tmp/{table}.jsonl"), StringComparison.Ordinal);
        Assert.Contains("names a directory", Refused(Path.GetTempPath()), StringComparison.Ordinal);
        Assert.Contains("names a directory", Refused("/tmp/out/"), StringComparison.Ordinal);
        Assert.Contains("not allowed in a path", Refused("/tmp/a\0b"), StringComparison.Ordinal);
        Assert.Throws<ArgumentNullException>(() => new JsonLinesSink(null!));

        var sink = new JsonLinesSink(new JsonLinesSinkOptions { Path = Path.Combine(_directory, "x.jsonl") });
        Assert.Equal("jsonl(" + Path.Combine(_directory, "x.jsonl") + ")", sink.Name);
        await Assert.ThrowsAsync<InvalidOperationException>(async () => await sink.WriteAsync(new SinkBatch(), CancellationToken.None));
        await sink.DisposeAsync();
        await Assert.ThrowsAsync<ObjectDisposedException>(async () => await sink.WriteAsync(new SinkBatch(), CancellationToken.None));
    }
}
