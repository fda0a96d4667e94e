using System.Globalization;
using System.Numerics;
using Confluent.Kafka;
using DataMesh.Connectors.Postgres;
using DataMesh.IntegrationTests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Xunit;

namespace DataMesh.IntegrationTests.Postgres;

/// <summary>
/// Regression tests for PostgreSQL schema edge cases: partitioned tables, generated columns, DDL made while the
/// connector was not streaming, numeric with unusual scales, and tables created after the source started.
/// </summary>
public sealed class PostgresSchemaEdgeTests(PostgresServer server) : IClassFixture<PostgresServer>
{
    [Fact]
    public async Task Changes_to_a_partitioned_table_arrive_on_the_parent_topic()
    {
        await using var cdc = await PgCdc.CreateAsync(server, """
            CREATE TABLE o (id int, d date, v text, PRIMARY KEY (id, d)) PARTITION BY RANGE (d);
            CREATE TABLE o_2024 PARTITION OF o FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');
            CREATE TABLE o_2025 PARTITION OF o FOR VALUES FROM ('2025-01-01') TO ('2026-01-01');
            """);
        await cdc.StartAsync(o => o.IncludeTables.Add("public.o"));
        await cdc.ExecuteAsync("""
            INSERT INTO o VALUES (1, '2024-05-01', 'a');
            INSERT INTO o VALUES (2, '2025-03-01', 'b');
            UPDATE o SET v = 'a2' WHERE id = 1;
            DELETE FROM o WHERE id = 2;
            INSERT INTO o VALUES (3, '2025-12-31', 'c');
            """);

        var records = await EdgeRead.ReadOrFailAsync(cdc, cdc.Topic("o"), 6, "partitioned table o (inserts into both partitions, an update, a delete)");
        Assert.Equal(["c", "c", "u", "d", null, "c"], records.Select(r => r.Op));
        Assert.Equal([1, 2, 1, 2, 2, 3], records.Select(r => (int)r.Key!["id"]));
        Assert.Equal("a", records[0].After!["v"]);
        Assert.Equal("b", records[1].After!["v"]);
        Assert.Equal("a2", records[2].After!["v"]);
        Assert.Null(records[3].After);
        Assert.Null(records[4].Value);
        Assert.Equal("c", records[5].After!["v"]);
        Assert.All(records.Where(r => r.Value is not null), r => Assert.Equal("o", r.Source["table"]));
        Assert.Contains(records[0].Key!.Schema.Fields, f => f.Name == "d");

        // Nothing is published under the partitions' own names.
        Assert.Equal(0, await cdc.CountAsync(cdc.Topic("o_2024"), TimeSpan.FromMilliseconds(500)));
        Assert.Equal(0, await cdc.CountAsync(cdc.Topic("o_2025"), TimeSpan.Zero));
    }

    [Fact]
    public async Task A_table_with_a_generated_column_and_full_identity_keeps_its_key_nullability_and_tombstones()
    {
        await using var cdc = await PgCdc.CreateAsync(server, """
            CREATE TABLE g (id int PRIMARY KEY, a int NOT NULL, doubled int GENERATED ALWAYS AS (a * 2) STORED);
            ALTER TABLE g REPLICA IDENTITY FULL;
            """);
        await cdc.StartAsync(o => o.IncludeTables.Add("public.g"));
        await cdc.ExecuteAsync("""
            INSERT INTO g (id, a) VALUES (1, 10);
            UPDATE g SET a = 11 WHERE id = 1;
            DELETE FROM g WHERE id = 1;
            """);

        var records = await EdgeRead.ReadOrFailAsync(cdc, cdc.Topic("g"), 4, "table g with a generated column");
        Assert.Equal(["c", "u", "d", null], records.Select(r => r.Op));
        Assert.All(records, r => Assert.True(r.Key is not null && (int)r.Key["id"] == 1, $"every record of g has the key {{id: 1}}; one has {r.Key?.ToString() ?? "no key"}"));
        Assert.Equal(["id"], records[0].Key!.Schema.Fields.Select(f => f.Name));
        Assert.True(records[3].Value is null, "the delete is followed by a tombstone (a record with a null value)");

        var after = records[0].After!;
        var a = after.Schema.Fields.SingleOrDefault(f => f.Name == "a");
        Assert.True(a is not null, $"the after-image has a field 'a'; its fields are [{string.Join(", ", after.Schema.Fields.Select(f => f.Name))}]");
        Assert.True(a.Schema.Tag == global::Avro.Schema.Type.Int, $"column a is NOT NULL, so its Avro type is \"int\"; it is {a.Schema}");
        Assert.DoesNotContain(after.Schema.Fields, f => f.Name == "doubled");
        Assert.Equal(10, after["a"]);
        Assert.Equal(11, records[1].After!["a"]);
        Assert.Equal(10, records[1].Before!["a"]);
        Assert.Equal(11, records[2].Before!["a"]);
        Assert.Null(records[2].After);
    }

    [Fact]
    public async Task DDL_made_while_the_connector_was_stopped_does_not_break_the_changes_before_it()
    {
        await using var cdc = await PgCdc.CreateAsync(server, "CREATE TABLE t (id int PRIMARY KEY, c text)");
        await cdc.StartAsync(o => o.IncludeTables.Add("public.t"));
        var firstKafka = cdc.Kafka;
        // A new Kafka has no stored position, which would start a new initial snapshot: this test is about the log.
        await EdgeRead.RestartAsync(cdc, o => { o.IncludeTables.Add("public.t"); o.Snapshot.Initial = InitialSnapshot.None; }, beforeStart: () => cdc.ExecuteAsync("""
            INSERT INTO t (id, c) VALUES (1, NULL);
            UPDATE t SET c = 'x';
            ALTER TABLE t ALTER COLUMN c SET NOT NULL;
            ALTER TABLE t ADD COLUMN b int;
            INSERT INTO t VALUES (2, 'y', 5);
            """));

        // The same slot, a new embedded Kafka (so an empty position store: the source resumed from the slot).
        Assert.Equal(1L, await cdc.ScalarAsync<long>($"SELECT count(*) FROM pg_replication_slots WHERE slot_name = '{cdc.Slot}' AND active"));
        Assert.Equal(1L, await cdc.ScalarAsync<long>($"SELECT count(*) FROM pg_replication_slots WHERE database = current_database()"));
        // The connection, not its address: the new cluster's listener may get the port the old one freed.
        Assert.NotSame(firstKafka, cdc.Kafka);

        var records = await EdgeRead.ReadOrFailAsync(cdc, cdc.Topic("t"), 3, "changes made before the DDL, while the connector was stopped");
        Assert.Equal(["c", "u", "c"], records.Select(r => r.Op));
        Assert.Equal([1, 1, 2], records.Select(r => (int)r.After!["id"]));
        Assert.True(records[0].After!["c"] is null, $"the first insert had c = NULL; the topic says {records[0].After!["c"]}");
        Assert.Equal("x", records[1].After!["c"]);
        Assert.Equal("y", records[2].After!["c"]);
        Assert.Equal(5, records[2].After!["b"]);
        Assert.DoesNotContain(records[0].After!.Schema.Fields, f => f.Name == "b");

        // The source keeps running: a later change arrives too.
        Assert.False(EdgeRead.Stopped(cdc), "the source stopped after the changes made before the DDL");
        await cdc.ExecuteAsync("INSERT INTO t VALUES (3, 'z', 6)");
        var more = await EdgeRead.ReadOrFailAsync(cdc, cdc.Topic("t"), 4, "a change made after the restart");
        Assert.Equal("c", more[3].Op);
        Assert.Equal(6, more[3].After!["b"]);
        Assert.False(EdgeRead.Stopped(cdc), "the source stopped");
    }

    [Fact]
    public async Task Numeric_with_a_negative_scale_or_a_scale_above_the_precision_arrives_exactly()
    {
        await using var cdc = await PgCdc.CreateAsync(server, "CREATE TABLE n (id int PRIMARY KEY, neg numeric(5,-2), tiny numeric(3,5))");
        await cdc.StartAsync(o => o.IncludeTables.Add("public.n"));
        await cdc.ExecuteAsync("""
            INSERT INTO n VALUES (1, 12300, 0.00123);
            INSERT INTO n VALUES (2, 12345, 0.001234);
            INSERT INTO n VALUES (3, -9999900, -0.00999);
            """);
        Assert.Equal(12300m, await cdc.ScalarAsync<decimal>("SELECT neg FROM n WHERE id = 2"));

        var records = await EdgeRead.ReadOrFailAsync(cdc, cdc.Topic("n"), 3, "table n with numeric(5,-2) and numeric(3,5)");
        (BigInteger Unscaled, int Scale)[][] expected =
        [
            [(12300, 0), (123, 5)],
            [(12300, 0), (123, 5)], // PostgreSQL rounds on insert: 12345 -> 12300, 0.001234 -> 0.00123
            [(-9999900, 0), (-999, 5)],
        ];
        for (var row = 0; row < records.Count; row++)
        {
            var columns = new[] { "neg", "tiny" };
            for (var column = 0; column < columns.Length; column++)
            {
                var raw = records[row].After![columns[column]];
                if (raw is not global::Avro.AvroDecimal value)
                {
                    Assert.Fail($"row {row + 1}, column {columns[column]}: an Avro decimal; it is {raw?.GetType().Name ?? "null"} {raw}");
                    return;
                }

                var (unscaled, scale) = expected[row][column];
                Assert.True(
                    value.UnscaledValue == unscaled && value.Scale == scale,
                    $"row {row + 1}, column {columns[column]}: expected unscaled {unscaled} scale {scale}, the topic says unscaled {value.UnscaledValue} scale {value.Scale} ({value})");
            }
        }
    }

    [Fact]
    public async Task A_table_created_after_the_start_that_matches_the_pattern_is_captured()
    {
        await using var cdc = await PgCdc.CreateAsync(server, "CREATE TABLE first (id int PRIMARY KEY)");
        await cdc.StartAsync(o => o.IncludeTables.Add("public.*"));
        await cdc.ExecuteAsync("INSERT INTO first VALUES (1)");
        await EdgeRead.ReadOrFailAsync(cdc, cdc.Topic("first"), 1, "table first, present at the start");

        await cdc.ExecuteAsync("CREATE TABLE later (id int PRIMARY KEY, v text)");
        // The source re-resolves its tables at heartbeats (every 500 ms here): wait until it added the table to its
        // publication, then a couple of heartbeats more.
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (await cdc.ScalarAsync<bool>("SELECT EXISTS (SELECT 1 FROM pg_publication_tables WHERE schemaname = 'public' AND tablename = 'later')") is false)
        {
            Assert.True(DateTime.UtcNow < deadline, "the table 'later', created after the source started and matching public.*, was not added to a publication within 30 s");
            Assert.False(EdgeRead.Stopped(cdc), "the source stopped after the table 'later' was created");
            await Task.Delay(200);
        }

        await Task.Delay(TimeSpan.FromSeconds(1));
        await cdc.ExecuteAsync("""
            INSERT INTO later VALUES (1, 'one'), (2, 'two');
            UPDATE later SET v = 'uno' WHERE id = 1;
            INSERT INTO first VALUES (2);
            """);

        var records = await EdgeRead.ReadOrFailAsync(cdc, cdc.Topic("later"), 3, "table 'later', created after the source started");
        Assert.Equal(["c", "c", "u"], records.Select(r => r.Op));
        Assert.Equal(["one", "two", "uno"], records.Select(r => (string)r.After!["v"]));
        Assert.Equal([1, 2, 1], records.Select(r => (int)r.Key!["id"]));
        await EdgeRead.ReadOrFailAsync(cdc, cdc.Topic("first"), 2, "table first, after 'later' was added");
        Assert.False(EdgeRead.Stopped(cdc), "the source stopped");
    }
}

/// <summary>Helpers of the edge-case and no-loss tests: restart on the same slot, reads that fail with an assertion.</summary>
internal static class EdgeRead
{
    /// <summary>Whether the host running the source is stopping (the source stopped it, or the test did).</summary>
    public static bool Stopped(PgCdc cdc) =>
        cdc.Host.Services.GetRequiredService<IHostApplicationLifetime>().ApplicationStopping.IsCancellationRequested;

    /// <summary>
    /// Stops the host, runs <paramref name="beforeStart"/>, and starts a new host on the same slot. The new host has a new
    /// embedded Kafka cluster, so its position store is empty and the source resumes from the slot's confirmed position.
    /// </summary>
    public static async Task RestartAsync(PgCdc cdc, Action<PostgresSourceOptions>? configure = null, Func<Task>? beforeStart = null)
    {
        var old = cdc.Host;
        await cdc.StopAsync();
        old.Dispose();
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (await cdc.ScalarAsync<bool?>($"SELECT active FROM pg_replication_slots WHERE slot_name = '{cdc.Slot}'") == true)
        {
            Assert.True(DateTime.UtcNow < deadline, $"slot '{cdc.Slot}' was still active 30 s after the host stopped");
            await Task.Delay(100);
        }

        if (beforeStart is not null)
        {
            await beforeStart();
        }

        await cdc.StartAsync(configure);
    }

    /// <summary>
    /// Reads the first <paramref name="count"/> records of partition 0 of <paramref name="topic"/>; fails the test with
    /// what did arrive, and whether the source stopped, when they do not arrive within <paramref name="timeout"/>.
    /// </summary>
    public static async Task<List<CdcRecord>> ReadOrFailAsync(PgCdc cdc, string topic, int count, string what, TimeSpan? timeout = null)
    {
        var wait = timeout ?? TimeSpan.FromSeconds(60);
        var raw = await Task.Run(() =>
        {
            using var consumer = new ConsumerBuilder<byte[]?, byte[]?>(cdc.Kafka.CreateConsumerConfig(null)).Build();
            consumer.Assign(new TopicPartitionOffset(topic, 0, Offset.Beginning));
            var records = new List<ConsumeResult<byte[]?, byte[]?>>();
            var deadline = DateTime.UtcNow + wait;
            while (records.Count < count && DateTime.UtcNow < deadline)
            {
                if (consumer.Consume(TimeSpan.FromMilliseconds(200)) is { } result)
                {
                    records.Add(result);
                }
            }

            return records;
        });

        var decoded = new List<CdcRecord>(raw.Count);
        foreach (var record in raw)
        {
            decoded.Add(new CdcRecord(
                await CdcRecord.DecodeAsync(cdc.Store, record.Message.Key),
                await CdcRecord.DecodeAsync(cdc.Store, record.Message.Value),
                record.Offset.Value,
                record.Partition.Value));
        }

        if (decoded.Count < count)
        {
            var seen = string.Join("; ", decoded.Select(Describe));
            Assert.Fail($"{what}: topic '{topic}' gave {decoded.Count} of the {count} records expected within {wait.TotalSeconds} s " +
                $"(the source {(Stopped(cdc) ? "has STOPPED" : "is still running")}). Records: [{seen}]");
        }

        return decoded;
    }

    public static string Describe(CdcRecord record) =>
        string.Create(CultureInfo.InvariantCulture, $"{record.Op ?? (record.Value is null ? "tombstone" : "?")} key={record.Key?.ToString() ?? "null"} after={record.After?.ToString() ?? "null"}");
}
