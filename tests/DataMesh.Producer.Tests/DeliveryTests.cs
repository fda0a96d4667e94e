using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using DataMesh.Hosting;
using DataMesh.Producer;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Xunit;

namespace DataMesh.Tests.Producer;

public sealed class DeliveryTests
{
    [Fact]
    public async Task Graceful_shutdown_delivers_everything_queued()
    {
        var logs = new LogCollector();
        using var host = ProducerFixture.Build(o => o.AddEvent<OrderPlaced>(), logs: logs);
        await host.StartAsync();
        var emitter = host.Services.GetRequiredService<IEventEmitter>();
        var outcomes = new ConcurrentDictionary<Guid, EventDelivery>();
        var ids = new List<Guid>();
        for (var i = 0; i < 3000; i++)
        {
            ids.Add(emitter.Emit(new OrderPlaced("o-" + (i % 17), i, i, Priority.Normal), d => outcomes[d.EventId] = d));
        }

        // Stop at once: the queue is flushed before the host's stop returns.
        await host.StopAsync();

        Assert.Equal(3000, outcomes.Count);
        Assert.All(outcomes.Values, d => Assert.True(d.Delivered, d.Error?.Message));
        Assert.Equal(ids.Order(), outcomes.Keys.Order());
        var kafka = host.Services.GetRequiredService<KafkaConnection>();
        var messages = ProducerFixture.Read(kafka, ProducerFixture.TopicOf<OrderPlaced>(host), 3000, 3);
        Assert.Equal(ids.Order(), messages.Select(m => Guid.Parse(ProducerFixture.Header(m, "ce_id"))).Order());
        Assert.Contains(logs.Entries, e => e.Id.Id == 3003);
        Assert.Throws<InvalidOperationException>(() => emitter.Emit(new OrderPlaced("late", 0, 0, Priority.Low)));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Emits_that_wait_for_room_enter_the_queue_in_the_order_they_were_made(bool blockingEmitsBetween)
    {
        // Found by review: with the queue full, emits waiting for room were woken on pool threads in any order (and a later
        // call that found a slot free went ahead of them): one key's events, emitted without awaiting each, left out of order.
        using var host = ProducerFixture.Build(o =>
        {
            o.AddEvent<OrderPlaced>();
            o.QueueCapacity = 2;
            o.QueueFullPolicy = QueueFullPolicy.Block;
            o.QueueFullTimeout = TimeSpan.FromMinutes(1);
        });
        await host.StartAsync();
        var emitter = host.Services.GetRequiredService<IEventEmitter>();
        const int Count = 600;
        var sends = new List<Task>();
        for (var i = 0; i < Count; i++)
        {
            if (blockingEmitsBetween && i % 3 == 2)
            {
                emitter.Emit(new OrderPlaced("one-key", i, i, Priority.Normal)); // blocks this thread until accepted, in turn
            }
            else
            {
                sends.Add(emitter.EmitAsync(new OrderPlaced("one-key", i, i, Priority.Normal)).AsTask());
            }
        }

        await Task.WhenAll(sends).WaitAsync(TimeSpan.FromMinutes(2));
        await host.StopAsync();

        var messages = ProducerFixture.Read(host.Services.GetRequiredService<KafkaConnection>(), ProducerFixture.TopicOf<OrderPlaced>(host), Count, 3);
        var sequences = messages.OrderBy(m => m.Offset.Value).Select(m => SequenceOf(m.Message.Value!)).ToList();
        Assert.Equal(Enumerable.Range(0, Count), sequences);
    }

    [Fact]
    public async Task Events_that_cannot_be_delivered_by_the_shutdown_timeout_are_reported_never_dropped_silently()
    {
        var logs = new LogCollector();
        using var host = ProducerFixture.Build(o => { o.AddEvent<OrderPlaced>(); o.ShutdownTimeout = TimeSpan.FromSeconds(1); }, logs: logs);
        await host.StartAsync();
        var emitter = host.Services.GetRequiredService<IEventEmitter>();
        await emitter.EmitAsync(new OrderPlaced("warm", 0, 0, Priority.Low));
        host.Services.GetRequiredService<KafkaConnection>().EmbeddedCluster!.SetBrokerDown(-1);

        var outcomes = new ConcurrentBag<EventDelivery>();
        for (var i = 0; i < 50; i++)
        {
            emitter.Emit(new OrderPlaced("o", i, i, Priority.Normal), outcomes.Add);
        }

        var awaited = emitter.EmitAsync(new OrderPlaced("o", 50, 50, Priority.Normal)).AsTask();
        await host.StopAsync();

        Assert.Equal(50, outcomes.Count);
        Assert.All(outcomes, d => Assert.Equal(EventDeliveryFailure.Shutdown, d.Error?.Failure));
        var error = await Assert.ThrowsAsync<EventDeliveryException>(() => awaited);
        Assert.Equal(EventDeliveryFailure.Shutdown, error.Failure);
        Assert.Contains(logs.Entries, e => e.Id.Id == 3004 && e.Message.Contains("51 events not delivered", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Kafka_down_then_up_delivers_every_event_exactly_once_by_id_and_health_reports_it()
    {
        using var host = ProducerFixture.Build(o => o.AddEvent<OrderPlaced>());
        await host.StartAsync();
        var emitter = host.Services.GetRequiredService<IEventEmitter>();
        var health = host.Services.GetRequiredService<ProducerHealthCheck>();
        var cluster = host.Services.GetRequiredService<KafkaConnection>().EmbeddedCluster!;
        await emitter.EmitAsync(new OrderPlaced("warm", -1, 0, Priority.Low));
        Assert.Equal(HealthStatus.Healthy, (await health.CheckHealthAsync(new HealthCheckContext())).Status);

        cluster.SetBrokerDown(-1);
        var sends = Enumerable.Range(0, 300).Select(i => emitter.EmitAsync(new OrderPlaced("o-" + (i % 7), i, i, Priority.High)).AsTask()).ToList();
        var report = await WaitForAsync(health, HealthStatus.Unhealthy);
        Assert.Contains("Kafka is unreachable", report.Description, StringComparison.Ordinal);
        Assert.DoesNotContain(sends, s => s.IsCompleted);

        cluster.SetBrokerUp(-1);
        await Task.WhenAll(sends).WaitAsync(TimeSpan.FromMinutes(2));
        Assert.Equal(HealthStatus.Healthy, (await health.CheckHealthAsync(new HealthCheckContext())).Status);
        await host.StopAsync();

        var messages = ProducerFixture.Read(host.Services.GetRequiredService<KafkaConnection>(), ProducerFixture.TopicOf<OrderPlaced>(host), 301, 3);
        Assert.Equal(301, messages.Count);
        Assert.Equal(301, messages.Select(m => ProducerFixture.Header(m, "ce_id")).Distinct().Count());
        // Order per key is kept: within a partition, each key's sequence numbers only grow.
        foreach (var partition in messages.GroupBy(m => m.Partition.Value))
        {
            var byKey = partition.OrderBy(m => m.Offset.Value).GroupBy(m => System.Text.Encoding.UTF8.GetString(m.Message.Key!, 6, m.Message.Key!.Length - 6));
            foreach (var key in byKey)
            {
                var sequences = key.Select(m => SequenceOf(m.Message.Value!)).ToList();
                Assert.Equal(sequences.Order(), sequences);
            }
        }
    }

    [Fact]
    public async Task With_a_delivery_timeout_the_SDK_retries_with_backoff_and_duplicates_carry_the_same_event_id()
    {
        var retried = 0L;
        using var meters = new MeterListener();
        meters.InstrumentPublished = (instrument, listener) =>
        {
            if (instrument.Meter.Name == "DataMesh.Producer" && instrument.Name == "datamesh.producer.events.retried")
            {
                listener.EnableMeasurementEvents(instrument);
            }
        };
        meters.SetMeasurementEventCallback<long>((_, value, _, _) => Interlocked.Add(ref retried, value));
        meters.Start();

        using var host = ProducerFixture.Build(o =>
        {
            o.AddEvent<OrderPlaced>();
            o.DeliveryTimeout = TimeSpan.FromMilliseconds(500);
            o.RetryBackoff = TimeSpan.FromMilliseconds(100);
            o.MaxRetryBackoff = TimeSpan.FromMilliseconds(400);
        });
        await host.StartAsync();
        var emitter = host.Services.GetRequiredService<IEventEmitter>();
        var cluster = host.Services.GetRequiredService<KafkaConnection>().EmbeddedCluster!;
        await emitter.EmitAsync(new OrderPlaced("warm", -1, 0, Priority.Low));

        cluster.SetBrokerDown(-1);
        var sends = Enumerable.Range(0, 100).Select(i => emitter.EmitAsync(new OrderPlaced("o-" + (i % 5), i, i, Priority.High)).AsTask()).ToList();
        var deadline = DateTime.UtcNow.AddMinutes(1);
        while (Interlocked.Read(ref retried) == 0 && DateTime.UtcNow < deadline)
        {
            await Task.Delay(50);
        }

        Assert.True(Interlocked.Read(ref retried) > 0, "The SDK never retried while Kafka was down.");

        cluster.SetBrokerUp(-1);
        await Task.WhenAll(sends).WaitAsync(TimeSpan.FromMinutes(2));
        await host.StopAsync();

        var kafka = host.Services.GetRequiredService<KafkaConnection>();
        var topic = ProducerFixture.TopicOf<OrderPlaced>(host);
        var messages = ProducerFixture.Read(kafka, topic, (int)ProducerFixture.Count(kafka, topic, 3), 3);
        var bySequence = messages.GroupBy(m => SequenceOf(m.Message.Value!)).ToDictionary(g => g.Key, g => g.Select(m => ProducerFixture.Header(m, "ce_id")).ToList());
        Assert.Equal(Enumerable.Range(-1, 101), bySequence.Keys.Order());
        // Every emit call is there at least once; a repeated send (if any) is recognisable: it has the same ce_id.
        Assert.All(bySequence.Values, ids => Assert.Single(ids.Distinct()));
        Assert.True(Interlocked.Read(ref retried) > 0);
    }

    [Fact]
    public async Task A_full_queue_makes_EmitAsync_wait_cancellably_and_Emit_follow_its_policy()
    {
        using var host = ProducerFixture.Build(o => { o.AddEvent<OrderPlaced>(); o.QueueCapacity = 5; o.QueueFullPolicy = QueueFullPolicy.Throw; });
        await host.StartAsync();
        var emitter = host.Services.GetRequiredService<IEventEmitter>();
        var cluster = host.Services.GetRequiredService<KafkaConnection>().EmbeddedCluster!;
        await emitter.EmitAsync(new OrderPlaced("warm", -1, 0, Priority.Low));
        cluster.SetBrokerDown(-1);

        var accepted = Enumerable.Range(0, 5).Select(i => emitter.EmitAsync(new OrderPlaced("o", i, i, Priority.Low)).AsTask()).ToList();
        using var cancel = new CancellationTokenSource();
        var waiting = emitter.EmitAsync(new OrderPlaced("o", 5, 5, Priority.Low), cancel.Token).AsTask();
        Assert.False(waiting.IsCompleted);
        var full = Assert.Throws<EventDeliveryException>(() => emitter.Emit(new OrderPlaced("o", 6, 6, Priority.Low)));
        Assert.Equal(EventDeliveryFailure.QueueFull, full.Failure);
        Assert.Contains("DataMesh:Producer:QueueCapacity", full.Message, StringComparison.Ordinal);
        var health = await host.Services.GetRequiredService<ProducerHealthCheck>().CheckHealthAsync(new HealthCheckContext());
        Assert.Equal(5, health.Data["queued"]);

        await cancel.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => waiting);

        cluster.SetBrokerUp(-1);
        await Task.WhenAll(accepted).WaitAsync(TimeSpan.FromMinutes(2));
        await host.StopAsync();
        var messages = ProducerFixture.Read(host.Services.GetRequiredService<KafkaConnection>(), ProducerFixture.TopicOf<OrderPlaced>(host), 6, 3);
        Assert.Equal([-1, 0, 1, 2, 3, 4], messages.Select(m => SequenceOf(m.Message.Value!)).Order());
    }

    [Fact]
    public async Task The_reject_policy_reports_the_event_through_its_callback()
    {
        using var host = ProducerFixture.Build(o => { o.AddEvent<OrderPlaced>(); o.QueueCapacity = 2; o.QueueFullPolicy = QueueFullPolicy.Reject; });
        await host.StartAsync();
        var emitter = host.Services.GetRequiredService<IEventEmitter>();
        var cluster = host.Services.GetRequiredService<KafkaConnection>().EmbeddedCluster!;
        await emitter.EmitAsync(new OrderPlaced("warm", -1, 0, Priority.Low));
        cluster.SetBrokerDown(-1);

        var outcomes = new ConcurrentQueue<EventDelivery>();
        var ids = Enumerable.Range(0, 3).Select(i => emitter.Emit(new OrderPlaced("o", i, i, Priority.Low), outcomes.Enqueue)).ToList();
        var rejected = Assert.Single(outcomes);
        Assert.Equal(ids[2], rejected.EventId);
        Assert.Equal(EventDeliveryFailure.QueueFull, rejected.Error?.Failure);

        cluster.SetBrokerUp(-1);
        await host.StopAsync();
        Assert.Equal(3, outcomes.Count);
        Assert.Equal(2, outcomes.Count(o => o.Delivered));
    }

    private static async Task<HealthCheckResult> WaitForAsync(ProducerHealthCheck health, HealthStatus status)
    {
        var deadline = DateTime.UtcNow.AddMinutes(1);
        while (DateTime.UtcNow < deadline)
        {
            var result = await health.CheckHealthAsync(new HealthCheckContext());
            if (result.Status == status)
            {
                return result;
            }

            await Task.Delay(50);
        }

        Assert.Fail($"The health check did not report {status} within a minute.");
        return default;
    }

    /// <summary>The <c>sequence</c> field of an OrderPlaced value: the second field, after the order id string.</summary>
    internal static int SequenceOf(byte[] value)
    {
        var reader = new DataMesh.Avro.AvroReader(value.AsSpan(5));
        reader.ReadString();
        return reader.ReadInt();
    }
}
