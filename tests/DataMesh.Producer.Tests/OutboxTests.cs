using System.Data.Common;
using DataMesh.Hosting;
using DataMesh.Producer;
using Microsoft.Extensions.DependencyInjection;
using MySqlConnector;
using Npgsql;
using Xunit;

namespace DataMesh.Tests.Producer;

/// <summary>Against the real PostgreSQL 15 and MariaDB 10.11 that <c>./build.sh test</c> starts.</summary>
public sealed class OutboxTests
{
    public sealed record AccountEvent([property: EventKey] string Account, int Sequence, [property: AvroDecimal(18, 2)] decimal Balance);

    [Theory]
    [InlineData(OutboxDialect.PostgreSql)]
    [InlineData(OutboxDialect.MySql)]
    public async Task A_rolled_back_transaction_emits_nothing_and_a_committed_one_exactly_its_events_in_order_per_key(OutboxDialect dialect)
    {
        await using var dataSource = DataSource(dialect);
        var suffix = Guid.NewGuid().ToString("N")[..12];
        var table = "outbox_" + suffix;
        var accounts = "accounts_" + suffix;
        await ExecuteAsync(dataSource, $"CREATE TABLE {accounts} (id VARCHAR(32) PRIMARY KEY, balance DECIMAL(18, 2) NOT NULL)");
        try
        {
            using var host = ProducerFixture.Build(o =>
            {
                o.AddEvent<AccountEvent>();
                o.Outbox.Table = table;
                o.Outbox.PollInterval = TimeSpan.FromMilliseconds(50);
                o.Outbox.BatchSize = 4;
                o.Outbox.UseRelay(_ => dataSource);
            });
            await host.StartAsync();
            var emitter = host.Services.GetRequiredService<IEventEmitter>();
            var kafka = host.Services.GetRequiredService<KafkaConnection>();
            var topic = ProducerFixture.TopicOf<AccountEvent>(host);

            var rolledBack = new List<Guid>();
            await using (var connection = await dataSource.OpenConnectionAsync())
            await using (var transaction = await connection.BeginTransactionAsync())
            {
                await ExecuteAsync(connection, transaction, $"INSERT INTO {accounts} (id, balance) VALUES ('ghost', 1)");
                rolledBack.Add(await emitter.EmitAsync(new AccountEvent("ghost", 0, 1m), transaction));
                rolledBack.Add(await emitter.EmitAsync(new AccountEvent("a", 0, 1m), transaction));
                await transaction.RollbackAsync();
            }

            var committed = new List<Guid>();
            var sequences = new Dictionary<string, int>();
            for (var round = 0; round < 4; round++)
            {
                await using var connection = await dataSource.OpenConnectionAsync();
                await using var transaction = await connection.BeginTransactionAsync();
                foreach (var account in new[] { "a", "b", "c" })
                {
                    var sequence = sequences[account] = sequences.GetValueOrDefault(account) + 1;
                    var upsert = dialect == OutboxDialect.PostgreSql
                        ? $"INSERT INTO {accounts} (id, balance) VALUES ('{account}', {sequence}) ON CONFLICT (id) DO UPDATE SET balance = {sequence}"
                        : $"INSERT INTO {accounts} (id, balance) VALUES ('{account}', {sequence}) ON DUPLICATE KEY UPDATE balance = {sequence}";
                    await ExecuteAsync(connection, transaction, upsert);
                    committed.Add(await emitter.EmitAsync(new AccountEvent(account, sequence, sequence), transaction));
                }

                await transaction.CommitAsync();
            }

            var messages = ProducerFixture.Read(kafka, topic, committed.Count, 3);
            await WaitForEmptyAsync(dataSource, table);
            await host.StopAsync();

            // Exactly the committed events, each once; none of the rolled-back ones.
            Assert.Equal(committed.Count, ProducerFixture.Count(kafka, topic, 3));
            var ids = messages.Select(m => Guid.Parse(ProducerFixture.Header(m, "ce_id"))).ToList();
            Assert.Equal(committed.Order(), ids.Order());
            Assert.Empty(ids.Intersect(rolledBack));
            // In order per key: each account's events in one partition, in sequence order.
            foreach (var account in messages.GroupBy(m => System.Text.Encoding.UTF8.GetString(m.Message.Key!, 6, m.Message.Key!.Length - 6)))
            {
                Assert.Single(account.Select(m => m.Partition.Value).Distinct());
                Assert.Equal([1, 2, 3, 4], account.OrderBy(m => m.Offset.Value).Select(m => DeliveryTests.SequenceOf(m.Message.Value!)));
            }

            // The payload is the same Confluent-framed Avro as a direct emit.
            var decoded = Assert.IsType<global::Avro.Generic.GenericRecord>(await ProducerFixture.DecodeAsync(host.Services.GetRequiredService<DataMesh.Schemas.ISchemaStore>(), messages[0].Message.Value!));
            Assert.Contains(decoded["account"], new object[] { "a", "b", "c" });
            Assert.Equal("DataMesh.Tests.Producer.OutboxTests.AccountEvent", ProducerFixture.Header(messages[0], "ce_type"));
        }
        finally
        {
            await ExecuteAsync(dataSource, $"DROP TABLE IF EXISTS {accounts}");
            await ExecuteAsync(dataSource, $"DROP TABLE IF EXISTS {table}");
            await ExecuteAsync(dataSource, $"DROP TABLE IF EXISTS {table}_lease");
        }
    }

    [Theory]
    [InlineData(OutboxDialect.PostgreSql)]
    [InlineData(OutboxDialect.MySql)]
    public async Task The_outbox_table_has_the_documented_layout(OutboxDialect dialect)
    {
        await using var dataSource = DataSource(dialect);
        var table = "outbox_" + Guid.NewGuid().ToString("N")[..12];
        await using var connection = await dataSource.OpenConnectionAsync();
        await OutboxTable.EnsureCreatedAsync(connection, OutboxDialect.Auto, table);
        await OutboxTable.EnsureCreatedAsync(connection, OutboxDialect.Auto, table);
        try
        {
            var columns = new List<string>();
            await using (var command = connection.CreateCommand())
            {
                command.CommandText = $"SELECT * FROM {table} WHERE 1 = 0";
                await using var reader = await command.ExecuteReaderAsync();
                for (var i = 0; i < reader.FieldCount; i++)
                {
                    columns.Add(reader.GetName(i));
                }
            }

            Assert.Equal(["sequence", "id", "topic", "aggregate_id", "event_key", "event_type", "payload", "headers", "created_at"], columns);
        }
        finally
        {
            await ExecuteAsync(dataSource, $"DROP TABLE IF EXISTS {table}");
            await ExecuteAsync(dataSource, $"DROP TABLE IF EXISTS {table}_lease");
        }
    }

    private static DbDataSource DataSource(OutboxDialect dialect)
    {
        var variable = dialect == OutboxDialect.PostgreSql ? "DATAMESH_PG_CONNECTION" : "DATAMESH_MARIADB_CONNECTION";
        var connectionString = Environment.GetEnvironmentVariable(variable);
        if (string.IsNullOrEmpty(connectionString))
        {
            Assert.Fail($"{variable} is not set: run the tests with ./build.sh test, or start the servers with ./build.sh servers and source the env.sh it prints.");
        }

        return dialect == OutboxDialect.PostgreSql ? NpgsqlDataSource.Create(connectionString) : new MySqlDataSource(connectionString);
    }

    private static async Task WaitForEmptyAsync(DbDataSource dataSource, string table)
    {
        var deadline = DateTime.UtcNow.AddMinutes(1);
        while (DateTime.UtcNow < deadline)
        {
            await using var command = dataSource.CreateCommand($"SELECT COUNT(*) FROM {table}");
            if (Convert.ToInt64(await command.ExecuteScalarAsync(), System.Globalization.CultureInfo.InvariantCulture) == 0)
            {
                return;
            }

            await Task.Delay(50);
        }

        Assert.Fail($"The relay did not empty {table} within a minute.");
    }

    private static async Task ExecuteAsync(DbDataSource dataSource, string sql)
    {
        await using var command = dataSource.CreateCommand(sql);
        await command.ExecuteNonQueryAsync();
    }

    private static async Task ExecuteAsync(DbConnection connection, DbTransaction transaction, string sql)
    {
        await using var command = connection.CreateCommand();
        command.Transaction = transaction;
        command.CommandText = sql;
        await command.ExecuteNonQueryAsync();
    }
}
