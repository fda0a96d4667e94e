namespace DataMesh.Connectors.MySql.Protocol;

/// <summary>Capability flags of the client/server protocol that this client uses.</summary>
internal static class ClientCapabilities
{
    public const ulong LongPassword = 1;
    public const ulong LongFlag = 4;
    public const ulong ConnectWithDb = 8;
    public const ulong Protocol41 = 0x200;
    public const ulong Ssl = 0x800;
    public const ulong Transactions = 0x2000;
    public const ulong SecureConnection = 0x8000;
    public const ulong MultiResults = 0x20000;
    public const ulong PluginAuth = 0x80000;
    public const ulong PluginAuthLengthEncodedData = 0x200000;
}
