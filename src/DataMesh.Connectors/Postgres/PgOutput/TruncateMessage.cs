namespace DataMesh.Connectors.Postgres;

/// <summary>A TRUNCATE message.</summary>
internal sealed record TruncateMessage(bool Cascade, bool RestartIdentity, uint[] RelationIds)
{
    public static TruncateMessage Parse(ReadOnlySpan<byte> message)
    {
        var reader = new PgOutputReader(message, "Truncate");
        reader.ExpectKind(PgOutputKind.Truncate);
        var count = reader.ReadInt32("relation count");
        var options = reader.ReadByte("options");
        if (count < 0 || count > reader.Remaining / 4)
        {
            throw reader.Error($"relation count {count} does not fit the {reader.Remaining} bytes remaining");
        }

        var ids = new uint[count];
        for (var i = 0; i < count; i++)
        {
            ids[i] = reader.ReadUInt32("relation id");
        }

        return new TruncateMessage((options & 1) != 0, (options & 2) != 0, ids);
    }
}
