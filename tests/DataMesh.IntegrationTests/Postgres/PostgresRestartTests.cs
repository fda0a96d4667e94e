using DataMesh.IntegrationTests.Infrastructure;
using Npgsql;
using Xunit;

namespace DataMesh.IntegrationTests.Postgres;

/// <summary>Nothing lost when PostgreSQL restarts mid-stream (the kill test is in PostgresNoLossTests).</summary>
[Collection(ServerRestartCollection.Name)]
public sealed class PostgresRestartTests(PostgresServer server) : IClassFixture<PostgresServer>
{
    [Fact]
    public async Task A_PostgreSQL_restart_mid_stream_is_survived()
    {
        await using var cdc = await PgCdc.CreateAsync(server, "CREATE TABLE kv (id int PRIMARY KEY, v bigint NOT NULL)");
        await cdc.StartAsync();
        var workload = Task.Run(async () =>
        {
            for (var attempt = 0; ; attempt++)
            {
                try
                {
                    await WorkloadAsync(cdc.ConnectionString, changes: 30_000, keys: 1_000, seed: 11);
                    return;
                }
                catch (Exception ex) when (ex is NpgsqlException && attempt < 3)
                {
                    // The restart broke the workload's own connection: the table's final state is what is compared.
                    await Task.Delay(500);
                }
            }
        });
        await Task.Delay(1500);
        await server.RestartAsync();
        await workload;
        var expected = await TableAsync(cdc.ConnectionString);

        var state = new Dictionary<int, long>();
        var deadline = DateTime.UtcNow.AddMinutes(3);
        var offset = 0;
        while (!Same(state, expected))
        {
            Assert.True(DateTime.UtcNow < deadline, $"After {offset} records the topic's state differs from the table: {FirstDifference(state, expected)}");
            var count = await cdc.CountAsync(cdc.Topic("kv"), TimeSpan.FromMilliseconds(500));
            foreach (var record in (await cdc.ReadAsync(cdc.Topic("kv"), count)).Skip(offset))
            {
                var id = (int)record.Key!["id"];
                if (record.After is { } after)
                {
                    state[id] = (long)after["v"];
                }
                else
                {
                    state.Remove(id);
                }
            }

            offset = count;
        }

        Assert.Equal(expected, state);
    }

    /// <summary>Random inserts, updates and deletes over <paramref name="keys"/> keys, in transactions of 1 to 50 changes.</summary>
    internal static async Task WorkloadAsync(string connectionString, int changes, int keys, int seed)
    {
        var random = new Random(seed);
        await using var connection = new NpgsqlConnection(connectionString);
        await connection.OpenAsync();
        var done = 0;
        long version = 0;
        while (done < changes)
        {
            await using var transaction = await connection.BeginTransactionAsync();
            var batch = new NpgsqlBatch(connection, transaction);
            var size = Math.Min(random.Next(1, 51), changes - done);
            for (var i = 0; i < size; i++)
            {
                var id = random.Next(keys);
                var command = random.Next(10) switch
                {
                    < 6 => new NpgsqlBatchCommand($"INSERT INTO kv VALUES ({id}, {++version}) ON CONFLICT (id) DO UPDATE SET v = EXCLUDED.v"),
                    < 9 => new NpgsqlBatchCommand($"UPDATE kv SET v = {++version} WHERE id = {id}"),
                    _ => new NpgsqlBatchCommand($"DELETE FROM kv WHERE id = {id}"),
                };
                batch.BatchCommands.Add(command);
            }

            await batch.ExecuteNonQueryAsync();
            await transaction.CommitAsync();
            done += size;
        }
    }

    internal static async Task<Dictionary<int, long>> TableAsync(string connectionString)
    {
        var table = new Dictionary<int, long>();
        await using var connection = new NpgsqlConnection(connectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand("SELECT id, v FROM kv", connection);
        await using var reader = await command.ExecuteReaderAsync();
        while (await reader.ReadAsync())
        {
            table[reader.GetInt32(0)] = reader.GetInt64(1);
        }

        return table;
    }

    private static bool Same(Dictionary<int, long> a, Dictionary<int, long> b) => a.Count == b.Count && a.All(kv => b.TryGetValue(kv.Key, out var v) && v == kv.Value);

    private static string FirstDifference(Dictionary<int, long> topic, Dictionary<int, long> table)
    {
        foreach (var (id, v) in table)
        {
            if (!topic.TryGetValue(id, out var seen) || seen != v)
            {
                return $"key {id}: table {v}, topic {(topic.ContainsKey(id) ? seen.ToString(System.Globalization.CultureInfo.InvariantCulture) : "absent")}";
            }
        }

        var extra = topic.Keys.Except(table.Keys).FirstOrDefault();
        return topic.ContainsKey(extra) ? $"key {extra} is in the topic, not in the table" : "none";
    }
}
