namespace DataMesh.Connectors.Postgres;

/// <summary>A COMMIT message.</summary>
internal readonly record struct CommitMessage(ulong CommitLsn, ulong EndLsn, long CommitTimeMicros)
{
    public static CommitMessage Parse(ReadOnlySpan<byte> message)
    {
        var reader = new PgOutputReader(message, "Commit");
        reader.ExpectKind(PgOutputKind.Commit);
        reader.ReadByte("flags");
        return new CommitMessage(reader.ReadUInt64("commit LSN"), reader.ReadUInt64("end LSN"), reader.ReadInt64("commit timestamp"));
    }
}
