using DataMesh.IntegrationTests.Infrastructure;
using Npgsql;
using Npgsql.Replication;
using Npgsql.Replication.PgOutput;
using Xunit;

namespace DataMesh.IntegrationTests;

/// <summary>The PostgreSQL that ./build.sh starts is what the PostgreSQL connector needs.</summary>
public sealed class PostgresServerTests(PostgresServer server) : IClassFixture<PostgresServer>
{
    [Fact]
    public async Task Server_is_PostgreSQL_15()
    {
        var version = int.Parse(
            await server.ScalarAsync<string>("SHOW server_version_num"), System.Globalization.CultureInfo.InvariantCulture);

        Assert.InRange(version, 150000, 159999);
    }

    [Fact]
    public async Task Logical_decoding_is_configured()
    {
        await using var connection = await server.OpenConnectionAsync();

        Assert.Equal("logical", await PostgresServer.ScalarAsync<string>(connection, "SHOW wal_level"));
        Assert.True(int.Parse(await PostgresServer.ScalarAsync<string>(connection, "SHOW max_replication_slots"), System.Globalization.CultureInfo.InvariantCulture) >= 32);
        Assert.True(int.Parse(await PostgresServer.ScalarAsync<string>(connection, "SHOW max_wal_senders"), System.Globalization.CultureInfo.InvariantCulture) >= 32);
        Assert.True(int.Parse(await PostgresServer.ScalarAsync<string>(connection, "SHOW max_connections"), System.Globalization.CultureInfo.InvariantCulture) >= 100);
        Assert.True(await PostgresServer.ScalarAsync<bool>(
            connection, "SELECT rolreplication AND rolsuper FROM pg_roles WHERE rolname = current_user"));
    }

    [Fact]
    public async Task Server_listens_on_loopback_only()
    {
        var listen = await server.ScalarAsync<string>("SHOW listen_addresses");

        Assert.Equal("127.0.0.1", listen);
        Assert.Equal("127.0.0.1", new NpgsqlConnectionStringBuilder(server.ConnectionString).Host);
    }

    [Fact]
    public async Task A_pgoutput_slot_decodes_an_insert_and_is_dropped()
    {
        await using var table = await server.CreateTableAsync("id int PRIMARY KEY, name text NOT NULL", "slot_test");
        var slot = UniqueName.Create("slot");
        var publication = UniqueName.Create("pub");
        await using var connection = await server.OpenConnectionAsync();
        try
        {
            await Execute(connection, $"CREATE PUBLICATION {publication} FOR TABLE {table.Name}");
            var created = await PostgresServer.ScalarAsync<string>(
                connection, $"SELECT slot_name::text FROM pg_create_logical_replication_slot('{slot}', 'pgoutput')");
            Assert.Equal(slot, created);

            await Execute(connection, $"INSERT INTO {table.Name} VALUES (1, 'first'), (2, 'second')");

            // pgoutput messages: B(egin), R(elation), I(nsert) x2, C(ommit).
            var kinds = new List<char>();
            await using (var peek = new NpgsqlCommand(
                $"SELECT data FROM pg_logical_slot_peek_binary_changes('{slot}', NULL, NULL, 'proto_version', '1', 'publication_names', '{publication}')",
                connection))
            await using (var reader = await peek.ExecuteReaderAsync())
            {
                while (await reader.ReadAsync())
                {
                    kinds.Add((char)reader.GetFieldValue<byte[]>(0)[0]);
                }
            }

            Assert.Equal(['B', 'R', 'I', 'I', 'C'], kinds);
        }
        finally
        {
            await server.DropReplicationSlotIfExistsAsync(slot);
            await Execute(connection, $"DROP PUBLICATION IF EXISTS {publication}");
        }

        Assert.Equal(0L, await PostgresServer.ScalarAsync<long>(
            connection, $"SELECT count(*) FROM pg_replication_slots WHERE slot_name = '{slot}'"));
    }

    [Fact]
    public async Task A_replication_connection_over_tcp_streams_pgoutput()
    {
        await using var table = await server.CreateTableAsync("id int PRIMARY KEY, name text NOT NULL", "stream_test");
        var publication = UniqueName.Create("pub");
        var slotName = UniqueName.Create("slot");
        await server.ExecuteAsync($"CREATE PUBLICATION {publication} FOR TABLE {table.Name}");
        try
        {
            await using var replication = new LogicalReplicationConnection(server.ConnectionString);
            await replication.Open();
            var system = await replication.IdentifySystem();
            Assert.True(system.XLogPos.ToString() != "0/0");

            var slot = await replication.CreatePgOutputReplicationSlot(slotName, temporarySlot: true);
            Assert.Equal(slotName, slot.Name);
            await server.ExecuteAsync($"INSERT INTO {table.Name} VALUES (42, 'streamed')");

            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
            var options = new PgOutputReplicationOptions(publication, PgOutputProtocolVersion.V1);
            string? inserted = null;
            await foreach (var message in replication.StartReplication(slot, options, timeout.Token))
            {
                if (message is Npgsql.Replication.PgOutput.Messages.InsertMessage insert)
                {
                    Assert.Equal(table.Name, insert.Relation.RelationName);
                    var values = new List<string>();
                    await foreach (var value in insert.NewRow)
                    {
                        values.Add(await value.Get<string>(timeout.Token));
                    }

                    inserted = string.Join(',', values);
                }

                replication.SetReplicationStatus(message.WalEnd);
                if (message is Npgsql.Replication.PgOutput.Messages.CommitMessage && inserted is not null)
                {
                    break;
                }
            }

            Assert.Equal("42,streamed", inserted);
        }
        finally
        {
            await server.DropReplicationSlotIfExistsAsync(slotName);
            await server.ExecuteAsync($"DROP PUBLICATION IF EXISTS {publication}");
        }
    }

    [Fact]
    public async Task A_temporary_database_is_created_and_dropped()
    {
        string name;
        await using (var database = await server.CreateDatabaseAsync("harness"))
        {
            name = database.Name;
            await using var table = await server.CreateTableAsync("id bigint PRIMARY KEY", connectionString: database.ConnectionString);
            await using var connection = await database.OpenConnectionAsync();
            await Execute(connection, $"INSERT INTO {table.Name} VALUES (1), (2)");
            Assert.Equal(2L, await PostgresServer.ScalarAsync<long>(connection, $"SELECT count(*) FROM {table.Name}"));
            Assert.Equal(name, await PostgresServer.ScalarAsync<string>(connection, "SELECT current_database()::text"));
        }

        Assert.Equal(0L, await server.ScalarAsync<long>($"SELECT count(*) FROM pg_database WHERE datname = '{name}'"));
    }

    private static async Task Execute(NpgsqlConnection connection, string sql)
    {
        await using var command = new NpgsqlCommand(sql, connection);
        await command.ExecuteNonQueryAsync();
    }
}
