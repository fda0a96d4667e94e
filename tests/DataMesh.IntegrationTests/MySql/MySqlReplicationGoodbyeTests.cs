using System.Globalization;
using DataMesh.Connectors.MySql.Protocol;
using DataMesh.IntegrationTests.Infrastructure;
using Xunit;

namespace DataMesh.IntegrationTests.MySql;

/// <summary>The replication client says goodbye (<c>COM_QUIT</c>) when it closes a connection that is not streaming: the
/// lease checks the server with one each time it opens its session, and the source with one at every start. Without it
/// MariaDB counted each as an aborted client and wrote "Aborted connection N … (Got an error reading communication
/// packets)" to its error log, which is what operators watch for network trouble.</summary>
public sealed class MySqlReplicationGoodbyeTests(MariaDbServer server) : IClassFixture<MariaDbServer>
{
    [Fact]
    public async Task Closing_an_idle_replication_connection_leaves_no_aborted_connection_in_the_servers_log()
    {
        var log = ServerEnvironment.Require(ServerEnvironment.MariaDbLog);
        var builder = new MySqlConnector.MySqlConnectionStringBuilder(server.ConnectionString);
        var settings = new ReplicationConnectionSettings(builder.Server, (int)builder.Port, builder.UserID, builder.Password) { Tls = TlsMode.None };
        var ids = new List<string>();
        for (var i = 0; i < 3; i++)
        {
            var connection = await ReplicationConnection.OpenAsync(settings, CancellationToken.None);
            ids.Add((await connection.QueryAsync("SELECT CONNECTION_ID()", CancellationToken.None))[0][0]!);
            await connection.DisposeAsync();
        }

        // The server writes the line when its thread for the connection ends: after the close, within moments. A
        // connection still listed has not ended yet.
        await using var admin = await server.OpenConnectionAsync();
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (DateTime.UtcNow < deadline)
        {
            await using var command = new MySqlConnector.MySqlCommand($"SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE ID IN ({string.Join(',', ids)})", admin);
            if (Convert.ToInt64(await command.ExecuteScalarAsync(), CultureInfo.InvariantCulture) == 0)
            {
                break;
            }

            await Task.Delay(50);
        }

        await Task.Delay(200);
        var aborted = File.ReadLines(log).Where(line => ids.Any(id => line.Contains($"Aborted connection {id} ", StringComparison.Ordinal))).ToList();
        Assert.True(aborted.Count == 0, string.Join('\n', aborted));
    }
}
