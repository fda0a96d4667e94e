using System.Diagnostics;
using Avro;
using Avro.Generic;
using DataMesh.Hosting;
using DataMesh.Producer;
using DataMesh.Schemas;
using Microsoft.Extensions.DependencyInjection;
using Xunit;

namespace DataMesh.Tests.Producer;

public sealed class RoundTripTests
{
    private static AllTypes Sample(Guid id, string text = "grüße, 世界 🌍") => new()
    {
        Id = id,
        Flag = true,
        Byte = 250,
        SByte = -100,
        Short = -30_000,
        UShort = 65_000,
        Int = int.MinValue,
        UInt = uint.MaxValue,
        Long = long.MaxValue,
        ULong = ulong.MaxValue,
        Float = 3.25f,
        Double = -1e300,
        Char = 'é',
        Text = text,
        MaybeText = null,
        MaybeInt = 42,
        MaybeGuid = null,
        When = new DateTime(2024, 2, 29, 23, 59, 59, DateTimeKind.Utc).AddTicks(1_234_567),
        WhenOffset = new DateTimeOffset(1969, 7, 20, 20, 17, 40, TimeSpan.FromHours(-5)).AddTicks(10),
        Day = new DateOnly(1999, 12, 31),
        Clock = new TimeOnly(13, 45, 30).Add(TimeSpan.FromTicks(4_567_890)),
        Amount = -123456789.123m,
        MaybeAmount = 0.001m,
        Blob = [0, 1, 2, 255],
        MaybeBlob = [],
        Priority = Priority.High,
        MaybePriority = Priority.Low,
        Numbers = [1, -2, 3],
        Tags = ["a", "b"],
        SparseTags = ["x", null],
        Lines = [new Line("sku-1", 2, 9.99m), new Line("sku-2", 1, 100m)],
        Sequence = Yield(),
        Set = ["only"],
        Counts = new() { ["x"] = 1, ["y"] = -1 },
        Addresses = new Dictionary<string, Address> { ["home"] = new("Main St 1", "Springfield", null) },
        Shipping = new("Dock 9", "Rotterdam", "3011"),
        Billing = null,
        Total = new Money(1234.5678m, "EUR"),
        Discount = new Money(-1m, "EUR"),
        Payments = [new Money(1m, "USD"), new Money(2.5m, "CHF")],
        Secret = "must not travel",
    };

    private static IEnumerable<long> Yield()
    {
        yield return 7;
        yield return long.MinValue;
    }

    [Fact]
    public async Task Every_supported_type_round_trips_through_Kafka_and_Apache_Avro_generic_reader()
    {
        using var host = ProducerFixture.Build(o => o.AddEvent<AllTypes>().AddEvent<Reading>().AddEvent<OrderPlaced>().AddEvent<TreeEvent>().AddEvent<Heartbeat>());
        await host.StartAsync();
        var emitter = host.Services.GetRequiredService<IEventEmitter>();
        var kafka = host.Services.GetRequiredService<KafkaConnection>();
        var store = host.Services.GetRequiredService<ISchemaStore>();

        var id = Guid.NewGuid();
        using (var listener = new ActivityListener { ShouldListenTo = s => s.Name == "DataMesh.Producer", Sample = (ref _) => ActivitySamplingResult.AllDataAndRecorded })
        using (var parent = new Activity("test-request").SetIdFormat(ActivityIdFormat.W3C).Start())
        {
            ActivitySource.AddActivityListener(listener);
            await emitter.EmitAsync(Sample(id));
            var reading = new Reading { Sensor = "s-1", Value = 21.5, At = new DateTime(2024, 1, 1, 0, 0, 0, DateTimeKind.Utc) };
            await emitter.EmitAsync(reading);
            await emitter.EmitAsync(new TreeEvent(1, new TreeNode("root", [new TreeNode("leaf", [])])));
            await emitter.EmitAsync(new Heartbeat(reading.At, "beat"));

            var message = Assert.Single(ProducerFixture.Read(kafka, ProducerFixture.TopicOf<AllTypes>(host), 1, 3));
            Assert.Equal(id, Assert.IsType<Guid>(await ProducerFixture.DecodeAsync(store, message.Message.Key!)));
            var record = Assert.IsType<GenericRecord>(await ProducerFixture.DecodeAsync(store, message.Message.Value!));
            AssertAllTypes(record, id);

            // CloudEvents headers and the W3C trace of the caller's activity (through the SDK's own "send" span).
            Assert.True(Guid.TryParse(ProducerFixture.Header(message, "ce_id"), out _));
            Assert.Equal("1.0", ProducerFixture.Header(message, "ce_specversion"));
            Assert.Equal("tests", ProducerFixture.Header(message, "ce_source"));
            Assert.Equal("DataMesh.Tests.Producer.AllTypes", ProducerFixture.Header(message, "ce_type"));
            var time = DateTimeOffset.Parse(ProducerFixture.Header(message, "ce_time"), System.Globalization.CultureInfo.InvariantCulture);
            Assert.Equal(message.Message.Timestamp.UnixTimestampMs, time.ToUnixTimeMilliseconds());
            var traceParent = ProducerFixture.Header(message, "traceparent");
            Assert.Matches("^00-[0-9a-f]{32}-[0-9a-f]{16}-0[01]$", traceParent);
            Assert.Equal(parent.TraceId.ToHexString(), traceParent[3..35]);
            Assert.NotEqual(parent.SpanId.ToHexString(), traceParent[36..52]);

            var readingMessage = Assert.Single(ProducerFixture.Read(kafka, "structs", 1, 3));
            Assert.Equal("s-1", await ProducerFixture.DecodeAsync(store, readingMessage.Message.Key!));
            var readingRecord = Assert.IsType<GenericRecord>(await ProducerFixture.DecodeAsync(store, readingMessage.Message.Value!));
            Assert.Equal(21.5, readingRecord["value"]);
            Assert.Equal(reading.At, readingRecord["at"]);

            var treeMessage = Assert.Single(ProducerFixture.Read(kafka, ProducerFixture.TopicOf<TreeEvent>(host), 1, 3));
            var tree = Assert.IsType<GenericRecord>(await ProducerFixture.DecodeAsync(store, treeMessage.Message.Value!));
            var root = Assert.IsType<GenericRecord>(tree["root"]);
            Assert.Equal("root", root["name"]);
            var leaf = Assert.IsType<GenericRecord>(Assert.Single(Assert.IsType<object[]>(root["children"])));
            Assert.Equal("leaf", leaf["name"]);
            Assert.Empty(Assert.IsType<object[]>(leaf["children"]));

            var heartbeat = Assert.Single(ProducerFixture.Read(kafka, ProducerFixture.TopicOf<Heartbeat>(host), 1, 3));
            Assert.Null(heartbeat.Message.Key);
            Assert.Equal("beat", Assert.IsType<GenericRecord>(await ProducerFixture.DecodeAsync(store, heartbeat.Message.Value!))["note"]);
        }

        await host.StopAsync();
    }

    private static void AssertAllTypes(GenericRecord r, Guid id)
    {
        var expected = Sample(id);
        Assert.Equal(id, r["id"]);
        Assert.Equal(true, r["flag"]);
        Assert.Equal(250, r["byte"]);
        Assert.Equal(-100, r["sByte"]);
        Assert.Equal(-30_000, r["short"]);
        Assert.Equal(65_000, r["uShort"]);
        Assert.Equal(int.MinValue, r["int"]);
        Assert.Equal((long)uint.MaxValue, r["uInt"]);
        Assert.Equal(long.MaxValue, r["long"]);
        Assert.Equal((decimal)ulong.MaxValue, Decimal(r["uLong"]));
        Assert.Equal(3.25f, r["float"]);
        Assert.Equal(-1e300, r["double"]);
        Assert.Equal("é", r["char"]);
        Assert.Equal(expected.Text, r["text"]);
        Assert.Null(r["maybeText"]);
        Assert.Equal(42, r["maybeInt"]);
        Assert.Null(r["maybeGuid"]);
        // timestamp-micros: the 100 ns digit is truncated, nothing else.
        Assert.Equal(expected.When.AddTicks(-(expected.When.Ticks % 10)), r["when"]);
        Assert.Equal(expected.WhenOffset.UtcDateTime, r["whenOffset"]);
        Assert.Equal(new DateTime(1999, 12, 31, 0, 0, 0, DateTimeKind.Utc), r["day"]);
        Assert.Equal(TimeSpan.FromTicks(expected.Clock.Ticks - (expected.Clock.Ticks % 10)), r["clock"]);
        Assert.Equal(-123456789.123m, Decimal(r["amount"]));
        Assert.Equal(0.001m, Decimal(r["maybeAmount"]));
        Assert.Equal(new byte[] { 0, 1, 2, 255 }, r["blob"]);
        Assert.Equal(Array.Empty<byte>(), r["maybeBlob"]);
        Assert.Equal("High", Assert.IsType<GenericEnum>(r["priority"]).Value);
        Assert.Equal("Low", Assert.IsType<GenericEnum>(r["maybePriority"]).Value);
        Assert.Equal(new object[] { 1, -2, 3 }, r["numbers"]);
        Assert.Equal(new object[] { "a", "b" }, r["tags"]);
        Assert.Equal(new object?[] { "x", null }, r["sparseTags"]);
        var lines = Assert.IsType<object[]>(r["lines"]).Cast<GenericRecord>().ToList();
        Assert.Equal(["sku-1", "sku-2"], lines.Select(l => l["sku"]));
        Assert.Equal([2, 1], lines.Select(l => l["quantity"]));
        Assert.Equal([9.99m, 100m], lines.Select(l => Decimal(l["price"])));
        Assert.Equal(new object[] { 7L, long.MinValue }, r["sequence"]);
        Assert.Equal(new object[] { "only" }, r["set"]);
        Assert.Equal(new Dictionary<string, object> { ["x"] = 1, ["y"] = -1 }, r["counts"]);
        var home = Assert.IsType<GenericRecord>(Assert.IsType<Dictionary<string, object>>(r["addresses"])["home"]);
        Assert.Equal("Springfield", home["city"]);
        Assert.Null(home["zip"]);
        var shipping = Assert.IsType<GenericRecord>(r["shipping"]);
        Assert.Equal("3011", shipping["zip"]);
        Assert.Null(r["billing"]);
        var total = Assert.IsType<GenericRecord>(r["total"]);
        Assert.Equal(1234.5678m, Decimal(total["amount"]));
        Assert.Equal("EUR", total["currency"]);
        Assert.Equal(-1m, Decimal(Assert.IsType<GenericRecord>(r["discount"])["amount"]));
        Assert.Equal(["USD", "CHF"], Assert.IsType<object[]>(r["payments"]).Cast<GenericRecord>().Select(p => p["currency"]));
        Assert.False(r.TryGetValue("secret", out _));
        Assert.Equal(40, r.Schema.Fields.Count);
    }

    /// <summary>From the unscaled value and scale (Apache.Avro 1.12.2's AvroDecimal.ToDecimal recurses until the stack overflows).</summary>
    private static decimal Decimal(object? value)
    {
        var avro = Assert.IsType<AvroDecimal>(value);
        var result = (decimal)avro.UnscaledValue;
        for (var i = 0; i < avro.Scale; i++)
        {
            result /= 10;
        }

        return result;
    }

    [Fact]
    public async Task A_value_that_does_not_fit_its_schema_throws_on_emit_naming_the_member()
    {
        using var host = ProducerFixture.Build(o => o.AddEvent<AllTypes>().AddEvent<OrderPlaced>());
        await host.StartAsync();
        var emitter = host.Services.GetRequiredService<IEventEmitter>();

        var nullText = await Assert.ThrowsAsync<ArgumentException>(async () => await emitter.EmitAsync(Sample(Guid.NewGuid(), null!)));
        Assert.Contains("'AllTypes.Text' is null", nullText.Message, StringComparison.Ordinal);
        var scale = Assert.Throws<ArgumentException>(() => emitter.Emit(new OrderPlaced("o-1", 1, 1.005m, Priority.Normal)));
        Assert.Contains("'OrderPlaced.Total' is 1.005, which does not fit decimal(18, 2)", scale.Message, StringComparison.Ordinal);
        var undefined = Assert.Throws<ArgumentException>(() => emitter.Emit(new OrderPlaced("o-1", 1, 1m, (Priority)17)));
        Assert.Contains("'OrderPlaced.Priority' is 17", undefined.Message, StringComparison.Ordinal);
        var notAdded = Assert.Throws<InvalidOperationException>(() => emitter.Emit(new TreeEvent(1, new TreeNode("n", []))));
        Assert.Contains("AddEvent<TreeEvent>()", notAdded.Message, StringComparison.Ordinal);

        // Nothing was queued by the failed calls: the one good event is the only one in the topic.
        await emitter.EmitAsync(new OrderPlaced("o-1", 1, 1m, Priority.Normal));
        await host.StopAsync();
        Assert.Equal(1, ProducerFixture.Count(host.Services.GetRequiredService<KafkaConnection>(), ProducerFixture.TopicOf<OrderPlaced>(host), 3));
    }
}
