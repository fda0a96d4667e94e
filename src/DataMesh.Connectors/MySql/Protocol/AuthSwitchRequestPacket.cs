namespace DataMesh.Connectors.MySql.Protocol;

/// <summary>The server asks to authenticate with another plugin: 0xFE, the plugin name, NUL, the plugin's data (a new nonce).</summary>
internal sealed class AuthSwitchRequestPacket
{
    private AuthSwitchRequestPacket(string plugin, byte[] data)
    {
        PluginName = plugin;
        Data = data;
    }

    public string PluginName { get; }

    /// <summary>The plugin data without a trailing NUL.</summary>
    public byte[] Data { get; }

    public static AuthSwitchRequestPacket Create(ReadOnlySpan<byte> payload)
    {
        var reader = new PayloadReader(payload, "auth switch request");
        if (reader.ReadByte("header") != 0xFE)
        {
            throw reader.Error("header", "not an auth switch request");
        }

        var plugin = reader.ReadNullTerminatedString("plugin_name");
        var data = reader.Rest;
        if (data.Length > 0 && data[^1] == 0)
        {
            data = data[..^1];
        }

        return new AuthSwitchRequestPacket(plugin, data.ToArray());
    }
}
