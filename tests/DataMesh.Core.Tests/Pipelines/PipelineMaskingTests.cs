using System.Buffers;
using System.Security.Cryptography;
using System.Text;
using Confluent.Kafka;
using DataMesh.Avro;
using DataMesh.Events;
using DataMesh.Hosting;
using DataMesh.Pipelines;
using DataMesh.Pipelines.Transforms;
using DataMesh.Schemas;
using Xunit;

namespace DataMesh.Tests.Pipelines;

/// <summary>
/// A masked column stays masked wherever the pipeline sends it: the value, the Kafka key, the headers, the dead letters,
/// the logs and the errors. On the embedded cluster, with customers keyed by their e-mail address.
/// </summary>
public sealed class PipelineMaskingTests : IAsyncLifetime
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(90);
    private static readonly byte[] Secret = "a secret of 32 bytes, not in git"u8.ToArray();

    private static readonly TableDescription Customers = new("public", "customers",
    [
        new("email", DataType.Of(DataTypeKind.String, "text"), false),
        new("name", DataType.Of(DataTypeKind.String, "text"), false),
        new("level", DataType.Of(DataTypeKind.String, "text"), false),
    ], ["email"]);

    private readonly string _suffix = Guid.NewGuid().ToString("N");
    private readonly KafkaConnection _kafka = new(new KafkaOptions());
    private readonly ChangeEventSchemas _schemas = ChangeEventSchemas.Build(Customers, PipelineTestData.Source);
    private KafkaSchemaStore _store = null!;
    private int _keyId;
    private int _valueId;

    private string Source => "masking-src-" + _suffix;

    private string Target => "masking-dst-" + _suffix;

    public async Task InitializeAsync()
    {
        _kafka.EmbeddedCluster!.CreateTopic(Source, 3);
        _store = await KafkaSchemaStore.CreateAsync(new KafkaSchemaStoreOptions { EmbeddedCluster = _kafka.EmbeddedCluster, Topic = "_schemas-" + _suffix });
        _keyId = await _store.RegisterAsync(_schemas.KeySubject, _schemas.KeySchema!);
        _valueId = await _store.RegisterAsync(_schemas.ValueSubject, _schemas.EnvelopeSchema);
    }

    public async Task DisposeAsync()
    {
        await _store.DisposeAsync();
        _kafka.Dispose();
    }

    private static string Email(int i) => $"customer{i}@example.com";

    private static string Hash(string text) => Convert.ToHexStringLower(HMACSHA256.HashData(Secret, Encoding.UTF8.GetBytes(text)));

    private PipelineOptions Options(string name, params Transform[] transforms)
    {
        var options = new PipelineOptions { Name = name, TargetTopic = Target, GroupId = "group-" + _suffix, TargetPartitions = 3, CommitInterval = TimeSpan.FromMilliseconds(200) };
        options.SourceTopics.Add(Source);
        options.ConsumerSettings["session.timeout.ms"] = "6000";
        options.ConsumerSettings["heartbeat.interval.ms"] = "500";
        foreach (var transform in transforms)
        {
            options.Transforms.Add(transform);
        }

        return options;
    }

    private (byte[] Key, byte[]? Value) Event(ChangeOperation op, int customer, string level)
    {
        var encoder = new ChangeEventEncoder(_schemas, _keyId, _valueId);
        object?[] row = [Email(customer), "Customer " + customer, level];
        var key = new ArrayBufferWriter<byte>();
        encoder.WriteKey(key, row);
        var value = new ArrayBufferWriter<byte>();
        encoder.WriteValue(value, op, op == ChangeOperation.Create ? null : row, op == ChangeOperation.Delete ? null : row,
            new SourceValues { TimestampMs = 1, Database = "shop", Schema = "public", Table = "customers", Position = [1L] }, 2);
        return (key.WrittenSpan.ToArray(), value.WrittenSpan.ToArray());
    }

    [Fact]
    public async Task A_masked_key_column_is_hashed_in_the_key_as_in_the_value_and_each_customer_keeps_one_partition()
    {
        var events = new List<(byte[] Key, byte[]? Value)>();
        for (var round = 0; round < 2; round++)
        {
            events.AddRange(Enumerable.Range(1, 30).Select(i => Event(round == 0 ? ChangeOperation.Create : ChangeOperation.Update, i, "L" + round)));
        }

        events.Add(Event(ChangeOperation.Delete, 1, "L1"));
        await ProduceAsync(Source, events);
        var options = Options("hashing", Transform.Unwrap(), Transform.Mask(new MaskOptions { Mode = MaskMode.Hash, HashKey = Secret }, "email"));

        var target = await RunUntilAsync(options, Target, events.Count);

        Assert.Equal(events.Count, target.Count);
        foreach (var record in target)
        {
            var key = await DecodeAsync(record.Message.Key);
            var hash = (string)key["email"];
            Assert.Equal(64, hash.Length);
            if (record.Message.Value is { } value)
            {
                Assert.Equal(hash, (string)(await DecodeAsync(value))["email"]);
            }
        }

        // The same customer always gets the same masked key, so all its changes share a partition and keep their order.
        var byKey = target.GroupBy(r => Convert.ToHexString(r.Message.Key)).ToList();
        Assert.Equal(30, byKey.Count);
        Assert.All(byKey, g => Assert.Single(g.Select(r => r.Partition.Value).Distinct()));
        var first = Assert.Single(byKey, g => g.Any(r => r.Message.Value is null));
        Assert.Equal(Hash(Email(1)), (string)(await DecodeAsync(first.First().Message.Key))["email"]);
        Assert.Equal(3, first.Count());

        // The masked key schema is registered for the target topic, by record name.
        Assert.Single(await _store.GetVersionsAsync($"{Target}-{_schemas.KeySchema!.Fullname}"));
        AssertNoClearEmail(target);
    }

    [Fact]
    public async Task A_mask_naming_a_column_the_records_lack_withholds_their_dead_letters_instead_of_sending_them_in_clear()
    {
        // A new user's pass: "Email" for the column email (or a column renamed in the source) let every record fail the mask
        // and go to the dead-letter topic with the clear address in key and value, marked masked.
        var events = Enumerable.Range(1, 4).Select(i => Event(ChangeOperation.Create, i, "L1")).ToList();
        await ProduceAsync(Source, events);
        var options = Options("misspelt", Transform.Unwrap(), Transform.Mask(new MaskOptions { Mode = MaskMode.Hash, HashKey = Secret }, "Email"));
        options.OnError = ErrorHandling.DeadLetter;

        await RunUntilAsync(options, options.EffectiveDeadLetterTopic, 4);
        var dead = ReadAll(options.EffectiveDeadLetterTopic, 4);

        Assert.Equal(4, dead.Count);
        AssertNoClearEmail(dead);
        Assert.All(dead, letter =>
        {
            Assert.Null(letter.Message.Key);
            Assert.Null(letter.Message.Value);
            Assert.Equal("key,value", Header(letter, DeadLetterHeaders.Withheld));
            Assert.Contains("did you mean 'email'", Header(letter, DeadLetterHeaders.Reason), StringComparison.Ordinal);
        });
    }

    [Fact]
    public async Task Dead_letters_of_a_pipeline_with_masks_hold_the_masked_record_and_only_the_unmasked_topic_holds_the_original()
    {
        // Levels that are not numbers fail the cast: those records are dead-lettered. A value that is not Avro cannot be masked.
        var events = Enumerable.Range(1, 10).Select(i => Event(ChangeOperation.Create, i, i % 2 == 0 ? "L" + i : i.ToString(System.Globalization.CultureInfo.InvariantCulture))).ToList();
        var poison = new byte[ConfluentWireFormat.HeaderLength + 2];
        ConfluentWireFormat.WriteHeader(poison, _valueId);
        poison[^2] = 0xFF;
        events.Add((Event(ChangeOperation.Create, 11, "1").Key, poison));
        await ProduceAsync(Source, events);
        var options = Options("dead-letters",
            Transform.Cast(("level", CastType.Int)),
            Transform.Mask(new MaskOptions { Mode = MaskMode.Hash, HashKey = Secret }, "email"),
            Transform.Mask(new MaskOptions(), "name"));
        options.UnmaskedDeadLetterTopic = Target + ".dlq-unmasked";
        var logs = new LogRecorder();

        var target = await RunUntilAsync(options, Target, 5, logs);
        var dead = ReadAll(options.EffectiveDeadLetterTopic, 6);

        Assert.Equal(5, target.Count);
        Assert.Equal(6, dead.Count);
        AssertNoClearEmail(dead);
        foreach (var letter in dead)
        {
            Assert.Equal("true", Header(letter, DeadLetterHeaders.Masked));
            var key = await DecodeAsync(letter.Message.Key);
            Assert.Equal(64, ((string)key["email"]).Length);
            Assert.StartsWith("cast(", Header(letter, DeadLetterHeaders.Stage), StringComparison.Ordinal);
            if (letter.Message.Value is null)
            {
                // The poison: its value cannot be read, so it cannot be masked, and is withheld.
                Assert.Equal("value", Header(letter, DeadLetterHeaders.Withheld));
                continue;
            }

            var envelope = await DecodeAsync(letter.Message.Value);
            var after = (global::Avro.Generic.GenericRecord)envelope["after"];
            Assert.Equal(key["email"], after["email"]);
            Assert.Equal("***", after["name"]);
            Assert.StartsWith("L", (string)after["level"], StringComparison.Ordinal);
            Assert.False(letter.Message.Headers.TryGetLastBytes(DeadLetterHeaders.Withheld, out _));
        }

        // The unmasked topic holds exactly what was read, with the same headers and no masking mark.
        var originals = ReadAll(options.UnmaskedDeadLetterTopic, 6);
        var read = events.Where((_, i) => i % 2 == 1 || i == 10).ToList();
        Assert.Equal(read.Select(e => Convert.ToHexString(e.Key)).Order(), originals.Select(o => Convert.ToHexString(o.Message.Key)).Order());
        Assert.Contains(originals, o => o.Message.Value.AsSpan().SequenceEqual(poison));
        Assert.All(originals, o => Assert.False(o.Message.Headers.TryGetLastBytes(DeadLetterHeaders.Masked, out _)));
        Assert.All(originals, o => Assert.NotEmpty(Header(o, DeadLetterHeaders.Reason)));

        AssertNoClearEmail(target);
        foreach (var (_, _, _, message, exception) in logs.Entries)
        {
            Assert.DoesNotContain("@example.com", message + exception, StringComparison.Ordinal);
            Assert.DoesNotContain("Customer ", message + exception, StringComparison.Ordinal);
        }
    }

    private static void AssertNoClearEmail(IEnumerable<ConsumeResult<byte[], byte[]?>> records)
    {
        foreach (var record in records)
        {
            foreach (var bytes in new[] { record.Message.Key ?? [], record.Message.Value ?? [] }.Concat(record.Message.Headers?.Select(h => h.GetValueBytes() ?? []) ?? []))
            {
                Assert.DoesNotContain("@example.com", Encoding.UTF8.GetString(bytes), StringComparison.Ordinal);
            }
        }
    }

    private async Task<global::Avro.Generic.GenericRecord> DecodeAsync(byte[] framed)
    {
        ConfluentWireFormat.ReadHeader(framed, out var id, out _);
        var schema = (global::Avro.RecordSchema)await _store.GetByIdAsync(id);
        return PipelineTestData.Decode(schema, framed[ConfluentWireFormat.HeaderLength..]);
    }

    private async Task<List<ConsumeResult<byte[], byte[]?>>> RunUntilAsync(PipelineOptions options, string topic, int count, LogRecorder? logs = null)
    {
        using var cts = new CancellationTokenSource();
        var run = new KafkaPipeline(options, _kafka, _store, logs ?? new LogRecorder()).RunAsync(cts.Token);
        try
        {
            return await Task.Run(() => ReadAll(topic, count));
        }
        finally
        {
            await cts.CancelAsync();
            await run;
        }
    }

    private async Task ProduceAsync(string topic, IEnumerable<(byte[] Key, byte[]? Value)> records)
    {
        using var producer = new ProducerBuilder<byte[], byte[]?>(_kafka.CreateProducerConfig()).Build();
        foreach (var (key, value) in records)
        {
            // One partition per customer, as a source connector would choose.
            producer.Produce(topic, new Message<byte[], byte[]?> { Key = key, Value = value });
        }

        await Task.Run(() => producer.Flush(Patience));
    }

    private List<ConsumeResult<byte[], byte[]?>> ReadAll(string topic, int atLeast)
    {
        using var consumer = new ConsumerBuilder<byte[], byte[]?>(_kafka.CreateConsumerConfig(null)).Build();
        var partitions = Enumerable.Range(0, 3).Select(p => new TopicPartitionOffset(topic, p, Offset.Beginning)).ToList();
        consumer.Assign(partitions);
        var results = new List<ConsumeResult<byte[], byte[]?>>();
        var deadline = DateTime.UtcNow + Patience;
        while (DateTime.UtcNow < deadline)
        {
            if (consumer.Consume(TimeSpan.FromMilliseconds(200)) is { Message: not null } result)
            {
                results.Add(result);
                continue;
            }

            if (results.Count >= atLeast)
            {
                return results;
            }
        }

        throw new TimeoutException($"'{topic}' holds {results.Count} records after {Patience}; expected at least {atLeast}.");
    }

    private static string Header(ConsumeResult<byte[], byte[]?> record, string name) =>
        record.Message.Headers.TryGetLastBytes(name, out var bytes) ? Encoding.UTF8.GetString(bytes) : string.Empty;
}
