namespace DataMesh.Connectors.MySql.Protocol;

/// <summary>The server's first packet, protocol version 10: version, connection id, the auth nonce, capabilities and the default auth plugin.</summary>
internal sealed class InitialHandshakePacket
{
    private InitialHandshakePacket(string serverVersion, uint connectionId, byte[] nonce, ulong capabilities, string authPlugin)
    {
        ServerVersion = serverVersion;
        ConnectionId = connectionId;
        Nonce = nonce;
        Capabilities = capabilities;
        AuthPluginName = authPlugin;
    }

    public string ServerVersion { get; }

    /// <summary>Whether the server is MariaDB (its version string says so, or it announces MariaDB's extended capabilities).</summary>
    public bool IsMariaDb => ServerVersion.Contains("MariaDB", StringComparison.OrdinalIgnoreCase) || (Capabilities & ClientCapabilities.LongPassword) == 0;

    public uint ConnectionId { get; }

    /// <summary>The 20-byte scramble (auth-plugin-data, without its trailing NUL).</summary>
    public byte[] Nonce { get; }

    /// <summary>Capabilities: the 32 standard bits, and MariaDB's extended ones shifted by 32.</summary>
    public ulong Capabilities { get; }

    public string AuthPluginName { get; }

    public static InitialHandshakePacket Create(ReadOnlySpan<byte> payload)
    {
        var reader = new PayloadReader(payload, "initial handshake");
        var protocol = reader.ReadByte("protocol_version");
        if (protocol != 10)
        {
            throw reader.Error("protocol_version", $"protocol version {protocol} is not supported (10 is)");
        }

        var version = reader.ReadNullTerminatedString("server_version");
        var connectionId = reader.ReadUInt32("connection_id");
        var nonce1 = reader.ReadSpan(8, "auth_plugin_data_part_1");
        reader.Skip(1, "filler");
        ulong capabilities = reader.ReadUInt16("capability_flags_1");
        string plugin = "mysql_native_password";
        var nonce = nonce1.ToArray();
        if (reader.Remaining > 0)
        {
            reader.ReadByte("character_set");
            reader.ReadUInt16("status_flags");
            capabilities |= (ulong)reader.ReadUInt16("capability_flags_2") << 16;
            var authDataLength = reader.ReadByte("auth_plugin_data_len");
            reader.Skip(6, "reserved");
            var extended = reader.ReadUInt32("mariadb_extended_capabilities");
            if ((capabilities & ClientCapabilities.LongPassword) == 0)
            {
                capabilities |= (ulong)extended << 32;
            }

            if ((capabilities & ClientCapabilities.SecureConnection) != 0)
            {
                var length = Math.Max(13, authDataLength - 8);
                var nonce2 = reader.ReadSpan(Math.Min(length, reader.Remaining), "auth_plugin_data_part_2");
                if (nonce2.Length > 0 && nonce2[^1] == 0)
                {
                    nonce2 = nonce2[..^1];
                }

                nonce = [.. nonce1, .. nonce2];
            }

            if ((capabilities & ClientCapabilities.PluginAuth) != 0 && reader.Remaining > 0)
            {
                var rest = reader.Rest;
                var end = rest.IndexOf((byte)0);
                plugin = System.Text.Encoding.UTF8.GetString(end < 0 ? rest : rest[..end]);
            }
        }

        return new InitialHandshakePacket(version, connectionId, nonce, capabilities, plugin);
    }
}
