namespace DataMesh.Connectors.MySql.Protocol;

/// <summary>An OK packet: 0x00 (or 0xFE with CLIENT_DEPRECATE_EOF), affected rows, last insert id, status, warnings.</summary>
internal sealed class OkPacket
{
    private OkPacket(ulong affectedRows, ushort status, ushort warnings)
    {
        AffectedRows = affectedRows;
        Status = status;
        Warnings = warnings;
    }

    public ulong AffectedRows { get; }

    public ushort Status { get; }

    public ushort Warnings { get; }

    public static bool IsOk(ReadOnlySpan<byte> payload) => payload.Length >= 7 && payload[0] == 0x00;

    public static OkPacket Create(ReadOnlySpan<byte> payload)
    {
        var reader = new PayloadReader(payload, "OK packet");
        if (reader.ReadByte("header") is not (0x00 or 0xFE))
        {
            throw reader.Error("header", "not an OK packet");
        }

        var affected = reader.ReadLengthEncoded("affected_rows");
        reader.ReadLengthEncoded("last_insert_id");
        var status = reader.ReadUInt16("status_flags");
        var warnings = reader.ReadUInt16("warnings");
        return new OkPacket(affected, status, warnings);
    }
}
