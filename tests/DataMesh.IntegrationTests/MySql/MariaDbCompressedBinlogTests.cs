using DataMesh.IntegrationTests.Infrastructure;
using Xunit;

namespace DataMesh.IntegrationTests.MySql;

/// <summary>
/// A MariaDB source on a server with <c>log_bin_compress=ON</c>: DDL arrives as QUERY_COMPRESSED and rows as
/// *_ROWS_COMPRESSED_V1 events (zlib). It used to stop at the first of them. The setting is global and dynamic: the test
/// turns it on for its own statements only, and runs alone (<see cref="ServerRestartCollection"/>).
/// </summary>
[Collection(ServerRestartCollection.Name)]
public sealed class MariaDbCompressedBinlogTests(MariaDbServer server) : IClassFixture<MariaDbServer>
{
    [Fact]
    public async Task A_source_reads_compressed_DDL_rows_and_XA_rows_and_resumes_among_them_after_a_restart()
    {
        await using var cdc = await MySqlCdc.CreateAsync(server, "CREATE TABLE t (id INT PRIMARY KEY, body TEXT NOT NULL)");
        await cdc.StartAsync();
        await cdc.WaitForSavedPositionAsync();
        var body = string.Concat(Enumerable.Repeat("compressible text ", 40));
        var xid = MySqlXaTests.NewXid();
        await server.ExecuteAsync("SET GLOBAL log_bin_compress = ON; SET GLOBAL log_bin_compress_min_len = 10");
        try
        {
            await cdc.ExecuteAsync($"INSERT INTO t VALUES (1, '{body}1'), (2, '{body}2'), (3, '{body}3')");
            // A compressed QUERY the schema tracker must read: the later rows carry the new column.
            await cdc.ExecuteAsync("ALTER TABLE t ADD COLUMN note VARCHAR(200) NOT NULL DEFAULT 'added by a compressed ALTER TABLE statement'");
            await cdc.ExecuteAsync($"UPDATE t SET body = '{body}updated', note = 'n2' WHERE id = 2");
            await cdc.ExecuteAsync("DELETE FROM t WHERE id = 3");
            // Rows held until the XA COMMIT are the inflated bytes, not the decoder's buffer, which the next event reuses.
            await MySqlXaTests.PrepareAsync(server.ConnectionStringFor(cdc.Database), xid, $"INSERT INTO t VALUES (4, '{body}4', 'xa')");
            await cdc.ExecuteAsync($"INSERT INTO t VALUES (5, '{body}5', 'between')");
            await cdc.ExecuteAsync($"XA COMMIT '{xid}'");

            var records = (await cdc.ReadAsync(cdc.Topic("t"), 8, TimeSpan.FromSeconds(30))).Where(r => r.Value is not null).ToList();
            Assert.Equal(["c1", "c2", "c3", "u2", "d3", "c5", "c4"], records.Select(r => $"{r.Op}{(r.After ?? r.Before)!["id"]}"));
            Assert.Equal(body + "1", records[0].After!["body"]);
            Assert.DoesNotContain(records[0].After!.Schema.Fields, f => f.Name == "note");
            Assert.Equal(body + "updated", records[3].After!["body"]);
            Assert.Equal("n2", records[3].After!["note"]);
            Assert.Equal("added by a compressed ALTER TABLE statement", records[3].Before!["note"]);
            Assert.Equal(body + "5", records[5].After!["body"]);
            Assert.Equal(body + "4", records[6].After!["body"]);
            Assert.Equal("xa", records[6].After!["note"]);

            // A restart resumes from a position stored among compressed events.
            await Task.Delay(500); // positions are saved every 100 ms
            await cdc.StopAsync();
            await cdc.ExecuteAsync($"INSERT INTO t VALUES (6, '{body}6', 'after the restart')");
            await cdc.StartAsync();
            // At least once: events after the stored position may come again before row 6.
            var after = new List<CdcRecord>();
            for (var count = 9; count < 40 && !after.Any(r => r.After is { } a && (int)a["id"] == 6); count++)
            {
                after = (await cdc.ReadAsync(cdc.Topic("t"), count, TimeSpan.FromSeconds(30))).Where(r => r.Value is not null).ToList();
            }

            Assert.Equal(body + "6", after.Last().After!["body"]);
            Assert.Equal([1, 2, 3, 4, 5, 6], after.Select(r => (int)(r.After ?? r.Before)!["id"]).Distinct().Order());
        }
        finally
        {
            await server.ExecuteAsync("SET GLOBAL log_bin_compress = OFF; SET GLOBAL log_bin_compress_min_len = 256");
        }
    }
}
