using System.Buffers.Binary;
using DataMesh.Connectors.MySql;
using DataMesh.Connectors.MySql.Binlog;
using DataMesh.Connectors.MySql.Protocol;
using Xunit;

namespace DataMesh.Tests.MySql;

/// <summary>
/// Protocol paths that MariaDB 10.11 cannot exercise, against <see cref="FakeMySqlServer"/>, which stands for a MySQL 8
/// server speaking the documented protocol: caching_sha2_password's fast path, its full path with the server's RSA
/// public key (requested, or given in the settings) (over TLS: ReplicationTlsTests), and COM_BINLOG_DUMP_GTID followed by MySQL 8 events
/// (GTID, v2 rows, binary JSON).
/// </summary>
public sealed class FakeServerProtocolTests
{
    private const string Password = "s3cret-pässword";

    [Fact]
    public async Task Caching_sha2_fast_path_authenticates()
    {
        await using var server = new FakeMySqlServer(Password, fullAuthentication: false, offerTls: false);
        await using var connection = await ReplicationConnection.OpenAsync(Settings(server), CancellationToken.None);
        Assert.Equal("caching_sha2_password", connection.AuthPlugin);
        Assert.False(connection.IsMariaDb);
        Assert.Contains("fast", server.Seen);
    }

    [Fact]
    public async Task Caching_sha2_full_path_requests_the_rsa_key_and_sends_the_encrypted_password()
    {
        await using var server = new FakeMySqlServer(Password, fullAuthentication: true, offerTls: false);
        await using var connection = await ReplicationConnection.OpenAsync(Settings(server) with { AllowPublicKeyRetrieval = true }, CancellationToken.None);
        Assert.Equal(["user=repl plugin=caching_sha2_password", "public-key-request", "rsa"], server.Seen);
    }

    [Fact]
    public async Task Caching_sha2_full_path_uses_a_configured_rsa_key_without_asking()
    {
        await using var server = new FakeMySqlServer(Password, fullAuthentication: true, offerTls: false);
        await using var connection = await ReplicationConnection.OpenAsync(Settings(server) with { ServerRsaPublicKey = server.PublicKeyPem }, CancellationToken.None);
        Assert.Equal(["user=repl plugin=caching_sha2_password", "rsa"], server.Seen);
    }

    [Fact]
    public async Task Caching_sha2_full_path_without_tls_or_key_is_refused_with_advice()
    {
        await using var server = new FakeMySqlServer(Password, fullAuthentication: true, offerTls: false);
        var error = await Assert.ThrowsAsync<MySqlReplicationException>(() => ReplicationConnection.OpenAsync(Settings(server), CancellationToken.None));
        Assert.Contains("AllowPublicKeyRetrieval", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_wrong_password_is_the_servers_error()
    {
        await using var server = new FakeMySqlServer(Password, fullAuthentication: false, offerTls: false);
        var error = await Assert.ThrowsAsync<MySqlReplicationException>(() => ReplicationConnection.OpenAsync(Settings(server) with { Password = "wrong" }, CancellationToken.None));
        Assert.Equal(1045, error.ErrorCode);
        Assert.Equal("28000", error.SqlState);
    }

    [Fact]
    public async Task Binlog_dump_gtid_sends_the_encoded_set_and_reads_mysql8_v2_rows_and_binary_json()
    {
        var source = Guid.Parse("3e11fa47-71ca-11e1-9e33-c80aa9429562");
        byte[]? dumpCommand = null;
        await using var server = new FakeMySqlServer(Password, fullAuthentication: false, offerTls: false, async stream =>
        {
            var (_, register) = await FakeMySqlServer.ReadPacketAsync(stream);
            Assert.Equal(0x15, register[0]);
            await FakeMySqlServer.WritePacketAsync(stream, 1, FakeMySqlServer.Ok());
            (_, dumpCommand) = await FakeMySqlServer.ReadPacketAsync(stream);
            byte sequence = 1;
            foreach (var e in MySql8Events.Stream(source))
            {
                await FakeMySqlServer.WritePacketAsync(stream, sequence++, [0x00, .. e]);
            }

            await FakeMySqlServer.WritePacketAsync(stream, sequence, [0xFE, 0, 0, 2, 0]);
        });
        await using var connection = await ReplicationConnection.OpenAsync(Settings(server), CancellationToken.None);
        await connection.RegisterReplicaAsync(77, "test", CancellationToken.None);
        var gtids = MySqlGtidSet.Parse($"{source}:1-5:7");
        await connection.StartBinlogDumpGtidAsync(77, string.Empty, 4, gtids.Encode(), nonBlocking: true, CancellationToken.None);

        var handler = new CollectingHandler();
        var processor = new BinlogProcessor(new BinlogDecoder(null, 4), new DataMesh.Connectors.MySql.Schema.SchemaTracker(), handler, static (_, _) => true) { MySqlGtids = gtids };
        while (true)
        {
            var data = await connection.ReadEventAsync(CancellationToken.None);
            if (data.IsEmpty)
            {
                break;
            }

            processor.Process(data.Span);
        }

        // COM_BINLOG_DUMP_GTID: 0x1E, flags (BINLOG_THROUGH_GTID | NON_BLOCK), server id, name length 0, position 4,
        // then the set: 1 source, its UUID, 2 intervals [1,6) and [7,8).
        Assert.NotNull(dumpCommand);
        Assert.Equal(0x1E, dumpCommand![0]);
        Assert.Equal(5, BinaryPrimitives.ReadUInt16LittleEndian(dumpCommand.AsSpan(1)));
        Assert.Equal(77u, BinaryPrimitives.ReadUInt32LittleEndian(dumpCommand.AsSpan(3)));
        Assert.Equal(0u, BinaryPrimitives.ReadUInt32LittleEndian(dumpCommand.AsSpan(7)));
        Assert.Equal(4ul, BinaryPrimitives.ReadUInt64LittleEndian(dumpCommand.AsSpan(11)));
        var set = dumpCommand.AsSpan(23).ToArray();
        Assert.Equal(set.Length, (int)BinaryPrimitives.ReadUInt32LittleEndian(dumpCommand.AsSpan(19)));
        Assert.Equal(1L, BinaryPrimitives.ReadInt64LittleEndian(set.AsSpan(0)));
        Assert.Equal(source, new Guid(set.AsSpan(8, 16), bigEndian: true));
        Assert.Equal(2L, BinaryPrimitives.ReadInt64LittleEndian(set.AsSpan(24)));
        Assert.Equal([1L, 6L, 7L, 8L], Enumerable.Range(0, 4).Select(i => BinaryPrimitives.ReadInt64LittleEndian(set.AsSpan(32 + (8 * i)))));

        // "ddl " is the table described from its TABLE_MAP's FULL metadata (it was not in the tracked schema).
        Assert.Equal(["ddl ", $"{source}:8 insert id=1 doc={{\"a\": 1, \"b\": [true, \"x\"]}} big=18446744073709551615", $"commit {source}:8"], handler.Log);
        Assert.Equal($"{source}:1-5:7-8", processor.MySqlGtids.ToString());
    }

    private static ReplicationConnectionSettings Settings(FakeMySqlServer server) =>
        new("127.0.0.1", server.Port, "repl", Password) { Tls = TlsMode.None, ConnectTimeout = TimeSpan.FromSeconds(30) }; // the whole suite on a loaded 2-core machine once took over 10 s for the TLS handshake

    private sealed class CollectingHandler : RecordingHandler
    {
        public override void OnRow(scoped in RowChange change, TransactionState transaction)
        {
            var after = change.After!;
            var values = new List<string>();
            for (var i = 0; i < change.Binding.Columns.Length; i++)
            {
                var column = change.Binding.Columns[i];
                values.Add(column.Name + "=" + CellValues.ToObject(after.Cell(change.Rows, i), column));
            }

            Log.Add($"{transaction.Gtid} {change.Kind.ToString().ToLowerInvariant()} {string.Join(" ", values)}");
        }
    }
}

/// <summary>MySQL 8.0 binlog events built from the documented layouts (FORMAT_DESCRIPTION with CRC32, GTID, QUERY,
/// TABLE_MAP with FULL optional metadata, WRITE_ROWS_v2, XID), each with a CRC32.</summary>
internal static class MySql8Events
{
    private static uint _position = 4;

    public static IEnumerable<byte[]> Stream(Guid source)
    {
        _position = 4;
        yield return Event(4, [.. BitConverter.GetBytes(4UL), .. "binlog.000007"u8], artificial: true, position: 0);
        _position = 4;
        var postHeader = new byte[41];
        postHeader[(int)BinlogEventType.TableMap - 1] = 8;
        postHeader[(int)BinlogEventType.WriteRowsV2 - 1] = 10;
        postHeader[(int)BinlogEventType.Query - 1] = 13;
        var version = new byte[50];
        "8.0.36"u8.CopyTo(version);
        yield return Event(15, [4, 0, .. version, 0, 0, 0, 0, 19, .. postHeader, 1]);
        yield return Event(33, [1, .. source.ToByteArray(bigEndian: true), .. BitConverter.GetBytes(8L), 2, .. new byte[16]]);
        yield return Event(2, [1, 0, 0, 0, 0, 0, 0, 0, 4, 0, 0, 0, 0, .. "shop"u8, 0, .. "BEGIN"u8]);
        // TABLE_MAP of shop.docs (id INT, doc JSON, big BIGINT UNSIGNED): types, metadata (JSON: 4-byte length), null
        // bitmap, then SIGNEDNESS (numeric columns id and big: 0b01) and COLUMN_NAME.
        byte[] names = [2, .. "id"u8, 3, .. "doc"u8, 3, .. "big"u8];
        yield return Event(19, [.. Id(91), 1, 0, 4, .. "shop"u8, 0, 4, .. "docs"u8, 0, 3, 3, 245, 8, 1, 4, 0b110, 1, 1, 0b0100_0000, 4, (byte)names.Length, .. names]);
        byte[] json =
        [
            0x00, 2, 0, 32, 0, 18, 0, 1, 0, 19, 0, 1, 0, 0x05, 1, 0, 0x02, 20, 0, (byte)'a', (byte)'b',
            2, 0, 12, 0, 0x04, 1, 0, 0x0C, 10, 0, 1, (byte)'x',
        ];
        yield return Event(30, [.. Id(91), 1, 0, 2, 0, 3, 0b111, 0, 1, 0, 0, 0, .. BitConverter.GetBytes(json.Length), .. json, .. BitConverter.GetBytes(ulong.MaxValue)]);
        yield return Event(16, BitConverter.GetBytes(1234UL));
    }

    private static byte[] Id(long id) => [(byte)id, (byte)(id >> 8), (byte)(id >> 16), (byte)(id >> 24), 0, 0];

    private static byte[] Event(byte type, byte[] body, bool artificial = false, uint? position = null)
    {
        var size = 19 + body.Length + 4;
        var next = position ?? (_position + (uint)size);
        _position = next == 0 ? _position : next;
        var data = new byte[size];
        BinaryPrimitives.WriteUInt32LittleEndian(data, 1_700_000_000);
        data[4] = type;
        BinaryPrimitives.WriteUInt32LittleEndian(data.AsSpan(5), 1);
        BinaryPrimitives.WriteUInt32LittleEndian(data.AsSpan(9), (uint)size);
        BinaryPrimitives.WriteUInt32LittleEndian(data.AsSpan(13), next);
        BinaryPrimitives.WriteUInt16LittleEndian(data.AsSpan(17), artificial ? (ushort)0x20 : (ushort)0);
        body.CopyTo(data, 19);
        BinaryPrimitives.WriteUInt32LittleEndian(data.AsSpan(size - 4), Crc(data.AsSpan(0, size - 4)));
        return data;
    }

    private static uint Crc(ReadOnlySpan<byte> data)
    {
        var crc = 0xFFFFFFFFu;
        foreach (var b in data)
        {
            crc ^= b;
            for (var k = 0; k < 8; k++)
            {
                crc = (crc & 1) != 0 ? 0xEDB88320u ^ (crc >> 1) : crc >> 1;
            }
        }

        return ~crc;
    }
}
