using System.Buffers;
using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;
using Confluent.Kafka;
using DataMesh.Avro;
using DataMesh.Events;
using DataMesh.Hosting;
using DataMesh.Pipelines;
using DataMesh.Pipelines.Sinks;
using DataMesh.Pipelines.Transforms;
using DataMesh.Schemas;
using Microsoft.Extensions.Logging;
using Xunit;

namespace DataMesh.Tests.Pipelines;

/// <summary>The Kafka-to-Kafka runtime on the embedded cluster: transforms, dead letters, commits and restarts.</summary>
public sealed class KafkaPipelineTests : IAsyncLifetime
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(90);

    private readonly string _suffix = Guid.NewGuid().ToString("N");
    private readonly KafkaConnection _kafka = new(new KafkaOptions());
    private readonly ChangeEventSchemas _schemas = PipelineTestData.SchemasOf();
    private KafkaSchemaStore _store = null!;
    private int _keyId;
    private int _valueId;

    private string Source => "pipeline-src-" + _suffix;

    private string Target => "pipeline-dst-" + _suffix;

    public async Task InitializeAsync()
    {
        _kafka.EmbeddedCluster!.CreateTopic(Source, 2);
        _store = await KafkaSchemaStore.CreateAsync(new KafkaSchemaStoreOptions { EmbeddedCluster = _kafka.EmbeddedCluster, Topic = "_schemas-" + _suffix });
        _keyId = await _store.RegisterAsync(_schemas.KeySubject, _schemas.KeySchema!);
        _valueId = await _store.RegisterAsync(_schemas.ValueSubject, _schemas.EnvelopeSchema);
    }

    public async Task DisposeAsync()
    {
        await _store.DisposeAsync();
        _kafka.Dispose();
    }

    private PipelineOptions Options(string name)
    {
        var options = new PipelineOptions { Name = name, TargetTopic = Target, GroupId = "group-" + _suffix, CommitInterval = TimeSpan.FromMilliseconds(200) };
        options.SourceTopics.Add(Source);

        // The embedded cluster does not let a closed member leave its group: a short session lets the next run join soon.
        options.ConsumerSettings["session.timeout.ms"] = "6000";
        options.ConsumerSettings["heartbeat.interval.ms"] = "500";
        options.Transforms.Add(Transform.Filter("op == 'd' or quantity > 0"));
        options.Transforms.Add(Transform.Unwrap());
        options.Transforms.Add(Transform.Mask(new MaskOptions(), "email"));
        return options;
    }

    private async Task ProduceAsync(IEnumerable<(byte[] Key, byte[]? Value)> records, int? partition = null)
    {
        using var producer = new ProducerBuilder<byte[], byte[]?>(_kafka.CreateProducerConfig()).Build();
        var failed = 0;
        var destination = partition is { } p ? new TopicPartition(Source, p) : new TopicPartition(Source, Partition.Any);
        foreach (var (key, value) in records)
        {
            producer.Produce(destination, new Message<byte[], byte[]?> { Key = key, Value = value }, report =>
            {
                if (report.Error.IsError)
                {
                    Interlocked.Increment(ref failed);
                }
            });
        }

        await Task.Run(() => producer.Flush(Patience));
        Assert.Equal(0, failed);
    }

    private (byte[] Key, byte[]? Value) Event(ChangeOperation op, long id, string status = "NEW", int? quantity = null)
    {
        var encoder = new ChangeEventEncoder(_schemas, _keyId, _valueId);
        var row = PipelineTestData.Row(id, status: status, quantity: quantity ?? (int)(id % 4));
        var key = new ArrayBufferWriter<byte>();
        encoder.WriteKey(key, row);
        var value = new ArrayBufferWriter<byte>();
        encoder.WriteValue(value, op, op == ChangeOperation.Delete ? row : null, op == ChangeOperation.Delete ? null : row,
            new SourceValues { TimestampMs = 1, Database = "shop", Schema = "public", Table = "orders", Position = [1L] }, 2);
        return (key.WrittenSpan.ToArray(), value.WrittenSpan.ToArray());
    }

    /// <summary>
    /// Reads partition 0 of <paramref name="topic"/> until it holds at least <paramref name="atLeast"/> records and nothing
    /// more. With the pipeline's <paramref name="run"/>: a pipeline that stopped meanwhile fails the read with its own error
    /// instead of a timeout, and a timeout says what the pipeline logged (<paramref name="logs"/>) and read.
    /// </summary>
    private List<ConsumeResult<byte[], byte[]?>> ReadAll(string topic, int atLeast, Task? run = null, LogRecorder? logs = null, KafkaPipeline? pipeline = null)
    {
        using var consumer = new ConsumerBuilder<byte[], byte[]?>(_kafka.CreateConsumerConfig(null)).Build();
        consumer.Assign(new TopicPartitionOffset(topic, 0, Offset.Beginning));
        var results = new List<ConsumeResult<byte[], byte[]?>>();
        var deadline = DateTime.UtcNow + Patience;
        while (DateTime.UtcNow < deadline)
        {
            if (run is { IsCompleted: true } && results.Count < atLeast)
            {
                run.GetAwaiter().GetResult(); // a pipeline that failed: its error says why
                Assert.Fail($"The pipeline stopped with '{topic}' holding {results.Count} records; expected at least {atLeast}.{Describe(logs, pipeline)}");
            }

            if (consumer.Consume(TimeSpan.FromMilliseconds(200)) is { Message: not null } result)
            {
                results.Add(result);
                continue;
            }

            // Caught up with what the consumer has fetched: done when the partition holds nothing more.
            var end = consumer.QueryWatermarkOffsets(new TopicPartition(topic, 0), TimeSpan.FromSeconds(10)).High.Value;
            if (results.Count >= atLeast && (results.Count == 0 ? 0 : results[^1].Offset.Value + 1) >= end)
            {
                return results;
            }
        }

        throw new TimeoutException($"'{topic}' holds {results.Count} records after {Patience}; expected at least {atLeast}.{Describe(logs, pipeline)}");
    }

    /// <summary>What a pipeline read and logged (but its commits), for a failure message.</summary>
    private static string Describe(LogRecorder? logs, KafkaPipeline? pipeline)
    {
        var read = pipeline is null ? string.Empty : $" The pipeline read {pipeline.RecordsRead} records, lag {pipeline.Lag}.";
        return logs is null ? read : read + " Its log:" + string.Concat(logs.Entries.Where(e => e.EventId != 5005).TakeLast(40)
            .Select(e => $"{Environment.NewLine}  {e.Level} {e.EventId}: {e.Message}{(e.Exception is null ? string.Empty : " " + e.Exception.Message)}"));
    }

    [Fact]
    public async Task Records_are_transformed_poison_is_dead_lettered_and_a_restart_resumes_from_the_committed_offsets()
    {
        var poison = new byte[ConfluentWireFormat.HeaderLength + 2];
        ConfluentWireFormat.WriteHeader(poison, _valueId);
        poison[^2] = 0xFF;
        var unknownSchema = new byte[ConfluentWireFormat.HeaderLength + 1];
        ConfluentWireFormat.WriteHeader(unknownSchema, 999_999);
        var first = Enumerable.Range(1, 20).Select(i => Event(ChangeOperation.Create, i)).ToList();
        first.Add(Event(ChangeOperation.Delete, 1));
        first.Add((Encoding.UTF8.GetBytes("poison"), poison));
        first.Add((Encoding.UTF8.GetBytes("unknown"), unknownSchema));
        await ProduceAsync(first);

        // 15 creates have quantity > 0 (ids not divisible by 4), the delete becomes a tombstone.
        using (var cts = new CancellationTokenSource())
        {
            var logs = new LogRecorder();
            var pipeline = new KafkaPipeline(Options("first"), _kafka, _store, logs);
            var run = pipeline.RunAsync(cts.Token);
            var target = ReadAll(Target, 16, run, logs, pipeline);
            var dead = ReadAll(Target + ".dlq", 2, run, logs, pipeline);
            await cts.CancelAsync();
            await run;

            Assert.Equal(16, target.Count);
            var tombstone = Assert.Single(target, r => r.Message.Value is null);
            Assert.Equal(Event(ChangeOperation.Delete, 1).Key, tombstone.Message.Key);
            foreach (var record in target.Where(r => r.Message.Value is not null))
            {
                var value = record.Message.Value!;
                ConfluentWireFormat.ReadHeader(value, out var id, out _);
                var schema = (global::Avro.RecordSchema)await _store.GetByIdAsync(id);
                var row = PipelineTestData.Decode(schema, value[ConfluentWireFormat.HeaderLength..]);
                Assert.Equal("***", row["email"]);
                Assert.NotEqual(0, (int)row["quantity"]);
                Assert.Equal(Event(ChangeOperation.Create, (long)row["id"]).Key, record.Message.Key);
            }

            Assert.Equal(15, target.Select(r => r.Message.Key).Distinct(new BytesComparer()).Count());
            // The pipeline masks 'email': a value it cannot read cannot be masked, so the dead letter leaves it out.
            var poisoned = Assert.Single(dead, r => Encoding.UTF8.GetString(r.Message.Key) == "poison");
            Assert.Null(poisoned.Message.Value);
            Assert.Equal("value", Header(poisoned, DeadLetterHeaders.Withheld));
            Assert.Equal("true", Header(poisoned, DeadLetterHeaders.Masked));
            Assert.StartsWith("filter(", Header(poisoned, DeadLetterHeaders.Stage), StringComparison.Ordinal);
            Assert.Equal(Source, Header(poisoned, DeadLetterHeaders.Topic));
            Assert.Equal("first", Header(poisoned, DeadLetterHeaders.Pipeline));
            Assert.True(long.TryParse(Header(poisoned, DeadLetterHeaders.Offset), out _));
            Assert.True(int.TryParse(Header(poisoned, DeadLetterHeaders.Partition), out _));
            var unknown = Assert.Single(dead, r => Encoding.UTF8.GetString(r.Message.Key) == "unknown");
            Assert.Equal("schema", Header(unknown, DeadLetterHeaders.Stage));
            Assert.Contains("999999", Header(unknown, DeadLetterHeaders.Reason), StringComparison.Ordinal);
        }

        // A new run of the same group starts after the committed offsets: only the new records arrive.
        await ProduceAsync(Enumerable.Range(21, 4).Select(i => Event(ChangeOperation.Create, i)));
        using (var cts = new CancellationTokenSource())
        {
            var logs = new LogRecorder();
            var pipeline = new KafkaPipeline(Options("second"), _kafka, _store, logs);
            var run = pipeline.RunAsync(cts.Token);
            var target = ReadAll(Target, 19, run, logs, pipeline);
            await cts.CancelAsync();
            await run;

            Assert.Equal(19, ReadAll(Target, 19).Count);
            Assert.Equal(2, ReadAll(Target + ".dlq", 2).Count);
            Assert.Equal(4, pipeline.RecordsRead);
        }
    }

    [Fact]
    public async Task Under_stop_a_rejected_record_stops_the_pipeline_and_is_not_committed()
    {
        var poison = new byte[ConfluentWireFormat.HeaderLength + 2];
        ConfluentWireFormat.WriteHeader(poison, _valueId);
        poison[^2] = 0xFF;
        await ProduceAsync([Event(ChangeOperation.Create, 1), (Encoding.UTF8.GetBytes("poison"), poison)]);
        var options = Options("stop");
        options.OnError = ErrorHandling.Stop;

        var e = await Assert.ThrowsAsync<PipelineException>(() => new KafkaPipeline(options, _kafka, _store).RunAsync(CancellationToken.None));
        Assert.Contains("filter(", e.Message, StringComparison.Ordinal);

        // The same group meets the poison again after a restart.
        var again = await Assert.ThrowsAsync<PipelineException>(() => new KafkaPipeline(options, _kafka, _store).RunAsync(CancellationToken.None));
        Assert.Contains("filter(", again.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_new_schema_version_mid_stream_is_planned_without_a_restart()
    {
        var v2Table = new TableDescription("public", "orders", [.. PipelineTestData.Orders.Columns, new ColumnDescription("vip", DataType.Of(DataTypeKind.Boolean, "boolean"), true)], ["id"]);
        var v2 = PipelineTestData.SchemasOf(v2Table);
        var v2Id = await _store.RegisterAsync(v2.ValueSubject, v2.EnvelopeSchema);
        var v2Encoder = new ChangeEventEncoder(v2, _keyId, v2Id);
        var records = new List<(byte[] Key, byte[]? Value)> { Event(ChangeOperation.Create, 1), Event(ChangeOperation.Create, 2) };
        for (var id = 3; id <= 4; id++)
        {
            var value = new ArrayBufferWriter<byte>();
            v2Encoder.WriteValue(value, ChangeOperation.Create, null, [.. PipelineTestData.Row(id, quantity: 1), true],
                new SourceValues { TimestampMs = 1, Database = "shop", Schema = "public", Table = "orders", Position = [1L] }, 2);
            records.Add((Event(ChangeOperation.Create, id).Key, value.WrittenSpan.ToArray()));
        }

        await ProduceAsync(records);
        using var cts = new CancellationTokenSource();
        var run = new KafkaPipeline(Options("evolving"), _kafka, _store).RunAsync(cts.Token);
        var target = ReadAll(Target, 4);
        await cts.CancelAsync();
        await run;

        var rows = new Dictionary<long, global::Avro.Generic.GenericRecord>();
        foreach (var record in target)
        {
            var value = record.Message.Value!;
            ConfluentWireFormat.ReadHeader(value, out var id, out _);
            var row = PipelineTestData.Decode((global::Avro.RecordSchema)await _store.GetByIdAsync(id), value[ConfluentWireFormat.HeaderLength..]);
            rows[(long)row["id"]] = row;
        }

        Assert.Equal([1L, 2L, 3L, 4L], rows.Keys.Order());
        Assert.False(rows[1].Schema.TryGetField("vip", out _));
        Assert.Equal(true, rows[4]["vip"]);
        Assert.Equal(2, (await _store.GetVersionsAsync(Target + "-value")).Count);
    }

    [Fact]
    public async Task Stopped_at_random_points_the_target_still_converges_to_the_last_change_of_every_key()
    {
        // 1,000 keys, each created then updated twice; the target's last record of a key must be its last change.
        var events = new List<(byte[] Key, byte[]? Value)>();
        for (var round = 1; round <= 3; round++)
        {
            for (var id = 1; id <= 1000; id++)
            {
                events.Add(Event(round == 1 ? ChangeOperation.Create : ChangeOperation.Update, id, "S" + round, quantity: 1));
            }
        }

        await ProduceAsync(events);
        var random = new Random(1234);
        for (var stop = 0; stop < 3; stop++)
        {
            // Three runs stopped after a random number of records each (plus what they read before the stop lands),
            // far fewer than the 3,000 records, so each run has records to read.
            var at = random.Next(1, 200);
            using var cts = new CancellationTokenSource();
            var pipeline = new KafkaPipeline(Options("stopping"), _kafka, _store);
            var run = pipeline.RunAsync(cts.Token);

            // A run that finds nothing left to read (an earlier one read to the end before its stop landed) stops after 5 s.
            var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(5);
            while (pipeline.RecordsRead < at && !run.IsCompleted && DateTime.UtcNow < deadline)
            {
                await Task.Delay(1);
            }

            await cts.CancelAsync();
            await run;
        }

        using (var cts = new CancellationTokenSource())
        {
            var run = new KafkaPipeline(Options("final"), _kafka, _store).RunAsync(cts.Token);
            var last = new Dictionary<long, string>();
            var deadline = DateTime.UtcNow + Patience;
            while (DateTime.UtcNow < deadline && (last.Count < 1000 || last.Values.Any(v => v != "S3")))
            {
                last.Clear();
                foreach (var record in ReadAll(Target, 1))
                {
                    var value = record.Message.Value!;
                    ConfluentWireFormat.ReadHeader(value, out var id, out _);
                    var row = PipelineTestData.Decode((global::Avro.RecordSchema)await _store.GetByIdAsync(id), value[ConfluentWireFormat.HeaderLength..]);
                    last[(long)row["id"]] = (string)row["status"];
                }
            }

            await cts.CancelAsync();
            await run;
            Assert.Equal(Enumerable.Range(1, 1000).Select(i => (long)i), last.Keys.Order());
            Assert.All(last.Values, status => Assert.Equal("S3", status));
        }
    }

    [Fact]
    public async Task A_record_the_sink_rejects_is_dead_lettered_as_it_was_read_but_masked_and_the_others_are_written_in_key_order()
    {
        // Two rounds over 200 keys on two source partitions and two workers; the sink refuses id 7 of the second round.
        var events = new List<(byte[] Key, byte[]? Value)>();
        for (var round = 1; round <= 2; round++)
        {
            events.AddRange(Enumerable.Range(1, 200).Select(id => Event(round == 1 ? ChangeOperation.Create : ChangeOperation.Update, id, "S" + round, quantity: 1)));
        }

        await ProduceAsync(events);
        var sink = new RecordingSink(r => r.Status == "S2" && r.Id == 7 ? "column 'status' is too long for table 'orders'" : null);
        var options = Options("rejecting");
        options.Sink = sink;
        options.UnmaskedDeadLetterTopic = Target + ".unmasked";
        options.Workers = 2;
        options.MaxBatchSize = 16;
        using var cts = new CancellationTokenSource();
        var run = new KafkaPipeline(options, _kafka, _store).RunAsync(cts.Token);
        var dead = ReadAll(Target + ".dlq", 1);
        await WaitUntil(() => sink.Count >= 399, run);
        await cts.CancelAsync();
        await run;

        // The envelope as it was read, with 'email' masked as the chain masks it; the original only in the unmasked topic.
        var rejected = Assert.Single(dead);
        Assert.Equal(events[206].Key, rejected.Message.Key);
        ConfluentWireFormat.ReadHeader(rejected.Message.Value, out var maskedId, out _);
        var masked = PipelineTestData.Decode((global::Avro.RecordSchema)await _store.GetByIdAsync(maskedId), rejected.Message.Value![ConfluentWireFormat.HeaderLength..]);
        Assert.Equal("***", PipelineTestData.After(masked)["email"]);
        Assert.Equal("S2", PipelineTestData.After(masked)["status"]);
        Assert.Equal("u", masked["op"]);
        Assert.Equal("true", Header(rejected, DeadLetterHeaders.Masked));
        var original = Assert.Single(ReadAll(options.UnmaskedDeadLetterTopic, 1));
        Assert.Equal(events[206].Key, original.Message.Key);
        Assert.Equal(events[206].Value, original.Message.Value);
        Assert.Equal(Header(rejected, DeadLetterHeaders.Reason), Header(original, DeadLetterHeaders.Reason));
        Assert.Equal("recording", Header(rejected, DeadLetterHeaders.Stage));
        Assert.Contains("column 'status'", Header(rejected, DeadLetterHeaders.Reason), StringComparison.Ordinal);
        var byKey = sink.Records.GroupBy(r => r.Id).ToDictionary(g => g.Key, g => g.Select(r => r.Status).ToList());
        Assert.Equal(200, byKey.Count);
        Assert.All(byKey, pair => Assert.Equal(pair.Key == 7 ? ["S1"] : ["S1", "S2"], pair.Value));
        Assert.All(sink.Records.GroupBy(r => r.Partition), g => Assert.Equal(g.Select(r => r.Offset).Order(), g.Select(r => r.Offset)));
    }

    [Fact]
    public async Task A_failing_sink_is_tried_again_then_stops_the_pipeline_and_nothing_it_failed_is_committed()
    {
        await ProduceAsync(Enumerable.Range(1, 50).Select(id => Event(ChangeOperation.Create, id, quantity: 1)));

        // Fails twice, then works: the retries hide it.
        var flaky = new RecordingSink(_ => null) { Failures = 2 };
        var options = Options("flaky");
        options.Sink = flaky;
        using (var cts = new CancellationTokenSource())
        {
            var run = new KafkaPipeline(options, _kafka, _store).RunAsync(cts.Token);
            await WaitUntil(() => flaky.Count >= 50, run);
            await cts.CancelAsync();
            await run;
        }

        Assert.Equal(2, flaky.Attempts - flaky.Successes);

        // Always fails: after SinkRetries the pipeline stops with the sink's error, and commits nothing new.
        await ProduceAsync(Enumerable.Range(51, 10).Select(id => Event(ChangeOperation.Create, id, quantity: 1)));
        var broken = new RecordingSink(_ => null) { Failures = int.MaxValue };
        options.Sink = broken;
        options.SinkRetries = 1;
        var e = await Assert.ThrowsAsync<PipelineException>(() => new KafkaPipeline(options, _kafka, _store).RunAsync(CancellationToken.None));
        Assert.Contains("sink 'recording' failed 2 times", e.Message, StringComparison.Ordinal);
        Assert.Contains("connection refused", e.Message, StringComparison.Ordinal);

        var healed = new RecordingSink(_ => null);
        options.Sink = healed;
        using (var cts = new CancellationTokenSource())
        {
            var run = new KafkaPipeline(options, _kafka, _store).RunAsync(cts.Token);
            await WaitUntil(() => healed.Records.Select(r => r.Id).Distinct().Count() >= 10, run);
            await cts.CancelAsync();
            await run;
        }

        Assert.Equal(Enumerable.Range(51, 10).Select(i => (long)i), healed.Records.Select(r => r.Id).Distinct().Order());
    }

    [Fact]
    public async Task Records_larger_than_a_workers_buffer_pass_through_with_backpressure_and_the_lag_is_measured()
    {
        // 40 records of ~100 KB each through one worker whose pipe pauses the consumer at 64 KB.
        var big = new string('x', 100_000);
        await ProduceAsync(Enumerable.Range(1, 40).Select(id => Event(ChangeOperation.Create, id, big + id, quantity: 1)));
        var (options, sink, gate) = HeldBehindASmallPipe("big");
        using var cts = new CancellationTokenSource();
        var pipeline = new KafkaPipeline(options, _kafka, _store);
        var run = pipeline.RunAsync(cts.Token);

        // The sink holds the first batch: the pipe fills, the consumer stops reading, and the lag shows what is left.
        await WaitUntil(() => pipeline.Lag >= 30, run);
        Assert.True(pipeline.RecordsRead <= 10, $"{pipeline.RecordsRead} records were read past a full 64 KB pipe");
        gate.SetResult();
        await WaitUntil(() => sink.Count >= 40, run);
        await WaitUntil(() => pipeline.Lag == 0, run);
        await cts.CancelAsync();
        await run;
        Assert.Equal(Enumerable.Range(1, 40).Select(id => (long)id), sink.Records.Select(r => r.Id).Order());
        Assert.All(sink.Records, r => Assert.Equal(big + r.Id, r.Status));
    }

    [Fact]
    public async Task A_group_whose_committed_offset_was_dropped_by_the_5_MB_limit_stops_naming_the_lost_range_instead_of_resuming_past_it()
    {
        // A group commits offset 12 of partition 0; then 8 MB are written to it, past the embedded cluster's 5 MB.
        await ProduceAsync(Enumerable.Range(1, 12).Select(id => Event(ChangeOperation.Create, id, quantity: 1)), partition: 0);
        var options = Options("truncated");
        var first = new RecordingSink(_ => null);
        options.Sink = first;
        await RunUntil(options, () => first.Count >= 12);

        var big = new string('x', 100_000);
        await ProduceAsync(Enumerable.Range(100, 80).Select(id => Event(ChangeOperation.Create, id, big, quantity: 1)), partition: 0);
        var low = FirstOffset(0);
        Assert.True(low > 12, $"the partition still starts at {low}: nothing was dropped");

        // The same group stops with the range it lost; it writes nothing from after the gap.
        var logs = new LogRecorder();
        var second = new RecordingSink(_ => null);
        options.Sink = second;
        var e = await Assert.ThrowsAsync<PipelineException>(() => new KafkaPipeline(options, _kafka, _store, logs).RunAsync(CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(60)));
        foreach (var expected in new[] { $"{Source}[0]", "committed offset 12", $"starts at offset {low}", $"offsets 12 to {low - 1}", options.EffectiveGroupId, "BootstrapServers" })
        {
            Assert.Contains(expected, e.Message, StringComparison.Ordinal);
        }

        Assert.Empty(second.Records);
        var logged = Assert.Single(logs.WithId(5011));
        Assert.Equal(LogLevel.Error, logged.Level);
        Assert.Contains($"offsets 12 to {low - 1}", logged.Message, StringComparison.Ordinal);

        // A new group has nothing committed: it starts from the earliest record still there (documented).
        options.GroupId = "fresh-" + _suffix;
        var fresh = new RecordingSink(_ => null);
        options.Sink = fresh;
        await RunUntil(options, () => fresh.Count >= 92 - low);

        Assert.Equal(low, fresh.Records.Where(r => r.Partition == 0).Min(r => r.Offset));
    }

    [Fact]
    public async Task Records_dropped_while_the_pipeline_waits_on_its_sink_stop_it_instead_of_being_skipped()
    {
        var big = new string('x', 10_000);
        await ProduceAsync(Enumerable.Range(1, 40).Select(id => Event(ChangeOperation.Create, id, big + id, quantity: 1)), partition: 0);
        var (options, sink, gate) = HeldBehindASmallPipe("dropped-while-paused");
        var logs = new LogRecorder();
        var pipeline = new KafkaPipeline(options, _kafka, _store, logs);
        using var cts = new CancellationTokenSource();
        var run = pipeline.RunAsync(cts.Token);

        // The sink holds the first batch: the pipe fills and the consumer pauses, short of the end of the partition.
        await WaitUntil(() => pipeline.Lag >= 25, run);
        var read = pipeline.RecordsRead;
        Assert.True(read < 35, $"{read} records were read past a full 64 KB pipe");
        _kafka.EmbeddedCluster!.DeleteRecords(Source, 0, 35);
        var low = FirstOffset(0);

        Assert.InRange(low, read + 1, 35);
        gate.SetResult();

        if (await Task.WhenAny(run, Task.Delay(TimeSpan.FromSeconds(60))) != run)
        {
            var stuck = $"The pipeline did not stop within 60 s of the gate opening (read {read} before the deletion, first offset now {low}); " +
                $"the sink holds offsets [{string.Join(", ", sink.Records.Select(r => r.Offset))}].{Describe(logs, pipeline)}";
            await cts.CancelAsync();
            await Task.WhenAny(run, Task.Delay(TimeSpan.FromSeconds(40)));
            Assert.Fail(stuck);
        }

        var e = await Assert.ThrowsAsync<PipelineException>(() => run);
        Assert.Contains($"{Source}[0]", e.Message, StringComparison.Ordinal);
        Assert.Contains($"starts at offset {low}", e.Message, StringComparison.Ordinal);
        Assert.Contains($" to {low - 1} ", e.Message, StringComparison.Ordinal);
        Assert.Single(logs.WithId(5011));

        // The lag is measured while the consumer still frames what it fetched too, before the pipe is full: it may read a
        // few records more after 'read' was taken (fetched before the deletion, so not lost). What counts is where the gap
        // starts for the pipeline, which the error names: the sink got offsets from 0 on, none skipped, none from the gap on.
        var gap = long.Parse(Regex.Match(e.Message, @"offsets (\d+) to ").Groups[1].Value, CultureInfo.InvariantCulture);
        Assert.InRange(gap, read, low - 1);
        var written = sink.Records.Select(r => r.Offset).Distinct().Order().ToList();
        Assert.Equal(Enumerable.Range(0, written.Count).Select(i => (long)i), written);
        Assert.All(written, offset => Assert.True(offset < gap, $"offset {offset} was written after the gap at {gap}"));
    }

    [Fact]
    public async Task Records_of_an_older_fencing_epoch_after_a_newer_ones_in_a_partition_are_dropped_and_committed()
    {
        // A source process that lost its lease (epoch 5) wrote after the new holder (epoch 6) in partition 0: its late
        // copies must not land after the new holder's. Records without the header (other producers) always pass.
        (byte[] Key, byte[]? Value, long? Epoch) Stamped(long id, string status, long? epoch)
        {
            var (key, value) = Event(ChangeOperation.Update, id, status, quantity: 1);
            return (key, value, epoch);
        }

        var records = new[]
        {
            Stamped(1, "old-1", 5), Stamped(1, "new-1", 6), Stamped(1, "late-1", 5), Stamped(2, "late-2", 5),
            Stamped(3, "plain", null), Stamped(2, "new-2", 6), Stamped(1, "newer-1", 7), Stamped(2, "late-3", 6),
        };
        using (var producer = new ProducerBuilder<byte[], byte[]?>(_kafka.CreateProducerConfig()).Build())
        {
            foreach (var (key, value, epoch) in records)
            {
                var message = new Message<byte[], byte[]?> { Key = key, Value = value };
                if (epoch is { } e)
                {
                    var stamp = new byte[8];
                    System.Buffers.Binary.BinaryPrimitives.WriteInt64BigEndian(stamp, e);
                    message.Headers = new Headers { { "datamesh.epoch", stamp } };
                }

                await producer.ProduceAsync(new TopicPartition(Source, 0), message);
            }
        }

        var logs = new LogRecorder();
        using var cts = new CancellationTokenSource();
        var pipeline = new KafkaPipeline(Options("fenced"), _kafka, _store, logs);
        var run = pipeline.RunAsync(cts.Token);
        var written = ReadAll(Target, 5, run, logs, pipeline);
        var statuses = new List<string>();
        foreach (var record in written)
        {
            var value = record.Message.Value!;
            ConfluentWireFormat.ReadHeader(value, out var id, out _);
            statuses.Add((string)PipelineTestData.Decode((global::Avro.RecordSchema)await _store.GetByIdAsync(id), value[ConfluentWireFormat.HeaderLength..])["status"]);
        }

        Assert.Equal(["old-1", "new-1", "plain", "new-2", "newer-1"], statuses);
        await WaitUntil(() => pipeline.Lag == 0 && logs.WithId(5015).Count() >= 2, run);
        await cts.CancelAsync();
        await run;

        // Logged once per late epoch, naming the partition and both epochs; the dropped records are done: the group's
        // committed offset is past the last of them.
        Assert.Collection(
            logs.WithId(5015).Select(e => e.Message),
            first => Assert.Contains($"{Source}[0] from offset 2: they carry fencing epoch 5", first, StringComparison.Ordinal),
            second => Assert.Contains("fencing epoch 6, written by a source process that had lost its lease to the writer of epoch 7", second, StringComparison.Ordinal));
        using var reader = new ConsumerBuilder<byte[], byte[]?>(_kafka.CreateConsumerConfig("group-" + _suffix)).Build();
        var committed = reader.Committed([new TopicPartition(Source, 0)], TimeSpan.FromSeconds(10)).Single();
        Assert.Equal(records.Length, committed.Offset.Value);
    }

    [Fact]
    public async Task After_a_rebalance_drain_times_out_the_revoked_partitions_frames_are_never_handed_to_the_sink()
    {
        // 50 records on partition 0. Member A's sink blocks on its first batch; its other frames wait in its pipe.
        await ProduceAsync(Enumerable.Range(1, 50).Select(id => Event(ChangeOperation.Create, id, quantity: 1)), partition: 0);
        var writes = new List<(string Member, int Call, long Offset)>();
        var gate = new TaskCompletionSource();
        var logs = new LogRecorder();
        PipelineOptions Member(string name, TaskCompletionSource? memberGate)
        {
            var options = Options("rebalanced");
            options.Sink = new CallRecordingSink(name, writes, memberGate);
            options.Workers = 1;
            options.MaxBatchSize = 5;
            return options;
        }

        var a = new KafkaPipeline(Member("a", gate), _kafka, _store, logs) { DrainTimeout = TimeSpan.FromSeconds(1) };
        var b = new KafkaPipeline(Member("b", null), _kafka, _store, logs) { DrainTimeout = TimeSpan.FromSeconds(1) };
        using var stopA = new CancellationTokenSource();
        using var stopB = new CancellationTokenSource();
        var runA = a.RunAsync(stopA.Token);
        await WaitUntil(() => a.RecordsRead == 50 && Calls(writes, "a") == 1, runA);

        // B joins: A's partitions are revoked; A's drain times out on its blocked sink, and the partition moves on
        // (to B, or back to A under a new generation), whose owner reads it again from the committed offset.
        var runB = b.RunAsync(stopB.Token);
        await WaitUntil(() => logs.WithId(5007).Any(), runA);
        var revoked = DateTime.UtcNow;
        await WaitUntil(() => Count(writes, "b") >= 50 || DateTime.UtcNow - revoked > TimeSpan.FromSeconds(10), runB);

        // Now A's sink lets its blocked batch through: what A still held of the revoked generation must not follow it.
        gate.SetResult();
        await WaitUntil(() => Distinct(writes) == 50, runA);
        await Task.Delay(TimeSpan.FromSeconds(3));
        await stopA.CancelAsync();
        await stopB.CancelAsync();
        await Task.WhenAll(runA, runB);

        List<(string Member, int Call, long Offset)> all;
        lock (writes)
        {
            all = [.. writes];
        }

        var blocked = all.Where(w => w.Member == "a" && w.Call == 1).Select(w => w.Offset).ToHashSet();
        var repeated = all.GroupBy(w => w.Offset).Where(g => g.Count() > 1).Select(g => g.Key).Order().ToList();
        Assert.True(repeated.All(blocked.Contains),
            $"offsets written twice beyond A's blocked batch [{string.Join(", ", blocked.Order())}]: [{string.Join(", ", repeated.Where(o => !blocked.Contains(o)))}]");
        Assert.All(all.GroupBy(w => w.Offset), g => Assert.InRange(g.Count(), 1, 2));
        Assert.Contains(logs.WithId(5013), e => e.Message.Contains($"{Source}[0]", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Partitions_paused_by_backpressure_when_a_rebalance_takes_them_are_read_again_when_they_come_back()
    {
        // 20 records of 10 KB on each partition; the sink holds its first batch: the 64 KB pipe fills and the consumer pauses.
        var big = new string('x', 10_000);
        await ProduceAsync(Enumerable.Range(1, 20).Select(id => Event(ChangeOperation.Create, id, big, quantity: 1)), partition: 0);
        await ProduceAsync(Enumerable.Range(21, 20).Select(id => Event(ChangeOperation.Create, id, big, quantity: 1)), partition: 1);
        var (options, sink, gate) = HeldBehindASmallPipe("paused-through-a-rebalance");
        var logs = new LogRecorder();
        var pipeline = new KafkaPipeline(options, _kafka, _store, logs) { DrainTimeout = TimeSpan.FromSeconds(5) };
        using var cts = new CancellationTokenSource();
        var run = pipeline.RunAsync(cts.Token);
        await WaitUntil(() => pipeline.Lag >= 25, run);
        Assert.True(pipeline.RecordsRead < 20, $"{pipeline.RecordsRead} records were read past a full 64 KB pipe");

        // Another member joins: the partitions are revoked while paused, the sink lets go during the revocation (so the
        // pause ends before the group hands out the partitions again), and the member leaves (its session times out).
        var config = _kafka.CreateConsumerConfig(options.EffectiveGroupId);
        foreach (var (name, value) in options.ConsumerSettings)
        {
            config.Set(name, value);
        }

        using (var other = new ConsumerBuilder<byte[], byte[]>(config).Build())
        {
            other.Subscribe(Source);
            using var stopOther = new CancellationTokenSource();
            var polling = Task.Run(() =>
            {
                while (!stopOther.IsCancellationRequested)
                {
                    other.Consume(TimeSpan.FromMilliseconds(100));
                }
            });
            await WaitUntil(() => logs.WithId(5007).Any(), run);
            gate.SetResult();
            await WaitUntil(() => logs.WithId(5012).Count() >= 2, run);
            await stopOther.CancelAsync();
            await polling;
        }

        // Every record of both partitions arrives, whichever partitions the pipeline holds in between.
        var deadline = DateTime.UtcNow + Patience;
        while (sink.Records.Select(r => r.Id).Distinct().Count() < 40 && DateTime.UtcNow < deadline && !run.IsCompleted)
        {
            await Task.Delay(100);
        }

        var missing = Enumerable.Range(1, 40).Select(id => (long)id).Except(sink.Records.Select(r => r.Id)).ToList();
        await cts.CancelAsync();
        await run;
        Assert.True(missing.Count == 0, $"never written: ids [{string.Join(", ", missing)}] (1-20 on partition 0, 21-40 on 1); lag {pipeline.Lag}.{Describe(logs, pipeline)}");
    }

    /// <summary>Runs a pipeline until <paramref name="condition"/> holds, then stops it.</summary>
    private async Task RunUntil(PipelineOptions options, Func<bool> condition)
    {
        using var cts = new CancellationTokenSource();
        var run = new KafkaPipeline(options, _kafka, _store).RunAsync(cts.Token);
        await WaitUntil(condition, run);
        await cts.CancelAsync();
        await run;
    }

    /// <summary>The low watermark of a source partition: its first offset still in the log.</summary>
    private long FirstOffset(int partition)
    {
        using var probe = new ConsumerBuilder<byte[], byte[]>(_kafka.CreateConsumerConfig(null)).Build();
        return probe.QueryWatermarkOffsets(new TopicPartition(Source, partition), Patience).Low.Value;
    }

    private static int Calls(List<(string Member, int Call, long Offset)> writes, string member)
    {
        lock (writes)
        {
            return writes.Where(w => w.Member == member).Select(w => w.Call).DefaultIfEmpty().Max();
        }
    }

    private static int Count(List<(string Member, int Call, long Offset)> writes, string member)
    {
        lock (writes)
        {
            return writes.Count(w => w.Member == member);
        }
    }

    private static int Distinct(List<(string Member, int Call, long Offset)> writes)
    {
        lock (writes)
        {
            return writes.Select(w => w.Offset).Distinct().Count();
        }
    }

    /// <summary>A sink that logs the source offsets of every call (numbered from 1) to a log shared by several members; its first call waits for <c>gate</c>.</summary>
    private sealed class CallRecordingSink(string member, List<(string Member, int Call, long Offset)> writes, TaskCompletionSource? gate) : PipelineSink
    {
        private int _calls;

        public override string Name => "calls-" + member;

        public override async ValueTask WriteAsync(SinkBatch batch, CancellationToken cancellationToken)
        {
            var call = Interlocked.Increment(ref _calls);
            var offsets = Enumerable.Range(0, batch.Count).Select(i => batch[i].SourceOffset).ToList();
            lock (writes)
            {
                // Logged when handed over: a batch handed to the sink counts even while the sink still holds it.
                writes.AddRange(offsets.Select(o => (member, call, o)));
            }

            if (call == 1 && gate is not null)
            {
                await gate.Task.WaitAsync(cancellationToken);
            }
        }
    }

    /// <summary>One worker with a 64 KB pipe and batches of 3, writing to a sink that holds every write until its gate opens.</summary>
    private (PipelineOptions Options, RecordingSink Sink, TaskCompletionSource Gate) HeldBehindASmallPipe(string name)
    {
        var gate = new TaskCompletionSource();
        var sink = new RecordingSink(_ => null) { Gate = gate };
        var options = Options(name);
        options.Sink = sink;
        options.Workers = 1;
        options.WorkerBufferBytes = 64 * 1024;
        options.MaxBatchSize = 3;
        return (options, sink, gate);
    }

    private static async Task WaitUntil(Func<bool> condition, Task? run = null)
    {
        var deadline = DateTime.UtcNow + Patience;
        while (!condition())
        {
            if (run is { IsCompleted: true })
            {
                await run; // a pipeline that stopped on its own: its error says why
                Assert.Fail("The pipeline stopped before the condition became true.");
            }

            Assert.True(DateTime.UtcNow < deadline, "The condition did not become true in time.");
            await Task.Delay(20);
        }
    }

    /// <summary>A sink that keeps what it is given, rejects what <c>reject</c> names, and fails its first <c>Failures</c> calls.</summary>
    private sealed class RecordingSink(Func<(long Id, string Status), string?> reject) : PipelineSink
    {
        private readonly List<(long Id, string Status, int Partition, long Offset)> _records = [];

        public int Failures { get; set; }

        /// <summary>When set, every write waits for it first (a sink that holds the pipeline back).</summary>
        public TaskCompletionSource? Gate { get; set; }

        public int Attempts { get; private set; }

        public int Successes { get; private set; }

        public override string Name => "recording";

        public int Count
        {
            get
            {
                lock (_records)
                {
                    return _records.Count;
                }
            }
        }

        public List<(long Id, string Status, int Partition, long Offset)> Records
        {
            get
            {
                lock (_records)
                {
                    return [.. _records];
                }
            }
        }

        public override async ValueTask WriteAsync(SinkBatch batch, CancellationToken cancellationToken)
        {
            if (Gate is { } gate)
            {
                await gate.Task.WaitAsync(cancellationToken);
            }

            Write(batch);
        }

        private void Write(SinkBatch batch)
        {
            lock (_records)
            {
                if (Attempts++ < Failures)
                {
                    throw new InvalidOperationException("connection refused");
                }

                Successes++;
                for (var i = 0; i < batch.Count; i++)
                {
                    var record = batch[i];
                    if (record.IsTombstone)
                    {
                        continue;
                    }

                    var row = PipelineTestData.Decode(record.ValueSchema!, record.Value.ToArray());
                    var id = (long)row["id"];
                    var status = (string)row["status"];
                    if (reject((id, status)) is { } reason)
                    {
                        batch.Reject(i, reason);
                        continue;
                    }

                    _records.Add((id, status, record.SourcePartition, record.SourceOffset));
                }
            }
        }
    }

    [Fact]
    public void The_group_session_is_ten_seconds_unless_the_host_the_pipeline_or_its_consumer_settings_say_otherwise()
    {
        (string? Session, string? Heartbeat) Of(Action<PipelineOptions> set, params (string Name, string Value)[] host)
        {
            var options = new PipelineOptions { Name = "p", TargetTopic = "t" };
            options.SourceTopics.Add("s");
            set(options);
            var kafkaOptions = new KafkaOptions { BootstrapServers = "127.0.0.1:9" };
            foreach (var (name, value) in host)
            {
                kafkaOptions.Settings[name] = value;
            }

            using var kafka = new KafkaConnection(kafkaOptions);
            var config = new KafkaPipeline(options, kafka, _store).BuildConsumerConfig();
            return (config.Get("session.timeout.ms"), config.Get("heartbeat.interval.ms"));
        }

        Assert.Equal(("10000", "3000"), Of(_ => { }));
        Assert.Equal(("20000", "3000"), Of(_ => { }, ("session.timeout.ms", "20000")));
        Assert.Equal(("8000", "2666"), Of(o => o.SessionTimeout = TimeSpan.FromSeconds(8), ("session.timeout.ms", "20000")));
        Assert.Equal(("6000", "2000"), Of(o => o.ConsumerSettings["session.timeout.ms"] = "6000"));
        Assert.Equal(("10000", "1000"), Of(_ => { }, ("heartbeat.interval.ms", "1000")));
        Assert.Equal(((string?)null, (string?)null), Of(o => o.ConsumerSettings["group.protocol"] = "consumer"));
        Assert.Equal(((string?)null, (string?)null), Of(_ => { }, ("group.protocol", "consumer")));
    }

    [Fact]
    public async Task A_topic_created_after_a_pattern_pipeline_started_is_read_within_seconds()
    {
        // librdkafka looks for new topics that match a subscribed pattern at its metadata refresh, every 5 minutes by
        // default: a topic created after the pipeline started was read only minutes later.
        await ProduceAsync([Event(ChangeOperation.Create, 1)]);
        var options = Options("pattern");
        options.SourceTopics[0] = "^" + Source + ".*";
        Assert.Equal("5000", new KafkaPipeline(options, _kafka, _store).BuildConsumerConfig().Get("topic.metadata.refresh.interval.ms"));
        using var cts = new CancellationTokenSource();
        var logs = new LogRecorder();
        var pipeline = new KafkaPipeline(options, _kafka, _store, logs);
        var run = pipeline.RunAsync(cts.Token);
        Assert.Single(ReadAll(Target, 1, run, logs, pipeline));

        var late = Source + "-late";
        _kafka.EmbeddedCluster!.CreateTopic(late, 1);
        var created = System.Diagnostics.Stopwatch.StartNew();
        using (var producer = new ProducerBuilder<byte[], byte[]?>(_kafka.CreateProducerConfig()).Build())
        {
            var (key, value) = Event(ChangeOperation.Create, 5);
            await producer.ProduceAsync(late, new Message<byte[], byte[]?> { Key = key, Value = value });
        }

        var target = ReadAll(Target, 2, run, logs, pipeline);
        var elapsed = created.Elapsed;
        await cts.CancelAsync();
        await run;
        Assert.Equal(2, target.Count);
        Assert.True(elapsed < TimeSpan.FromSeconds(30), $"the new topic's record arrived after {elapsed}");

        // A refresh interval set in the pipeline's consumer settings is kept; a pipeline of named topics is left alone.
        options.ConsumerSettings["topic.metadata.refresh.interval.ms"] = "60000";
        Assert.Equal("60000", new KafkaPipeline(options, _kafka, _store).BuildConsumerConfig().Get("topic.metadata.refresh.interval.ms"));
        Assert.Null(new KafkaPipeline(Options("named"), _kafka, _store).BuildConsumerConfig().Get("topic.metadata.refresh.interval.ms"));
    }

    [Fact]
    public void Settings_are_validated_with_their_names()
    {
        Assert.Contains("Name", Assert.Throws<ArgumentException>(() => new PipelineOptions().Validate()).Message, StringComparison.Ordinal);
        var options = new PipelineOptions { Name = "p", TargetTopic = "t" };
        Assert.Contains("SourceTopics", Assert.Throws<ArgumentException>(options.Validate).Message, StringComparison.Ordinal);
        options.SourceTopics.Add("t");
        Assert.Contains("differ from its source topics", Assert.Throws<ArgumentException>(options.Validate).Message, StringComparison.Ordinal);
        options.SourceTopics[0] = "s";
        options.ConsumerSettings["auto.offset.reset"] = "latest";
        Assert.Contains("must not set auto.offset.reset", Assert.Throws<ArgumentException>(options.Validate).Message, StringComparison.Ordinal);
        options.ConsumerSettings.Clear();
        options.SessionTimeout = TimeSpan.FromSeconds(2);
        Assert.Contains("SessionTimeout of pipeline 'p' must be from 6 seconds", Assert.Throws<ArgumentException>(options.Validate).Message, StringComparison.Ordinal);
        options.SessionTimeout = TimeSpan.FromMinutes(6);
        Assert.Contains("to 5 minutes", Assert.Throws<ArgumentException>(options.Validate).Message, StringComparison.Ordinal);
        options.SessionTimeout = TimeSpan.FromSeconds(6);
        options.Validate();
    }

    private static string Header(ConsumeResult<byte[], byte[]?> record, string name) =>
        Encoding.UTF8.GetString(record.Message.Headers.GetLastBytes(name));

    private sealed class BytesComparer : IEqualityComparer<byte[]>
    {
        public bool Equals(byte[]? x, byte[]? y) => x.AsSpan().SequenceEqual(y);

        public int GetHashCode(byte[] obj) => obj.Length == 0 ? 0 : obj[^1];
    }
}
