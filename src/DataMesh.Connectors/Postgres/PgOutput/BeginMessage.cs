namespace DataMesh.Connectors.Postgres;

/// <summary>A BEGIN message: the transaction's commit LSN, commit time and id.</summary>
internal readonly record struct BeginMessage(ulong FinalLsn, long CommitTimeMicros, uint Xid)
{
    public static BeginMessage Parse(ReadOnlySpan<byte> message)
    {
        var reader = new PgOutputReader(message, "Begin");
        reader.ExpectKind(PgOutputKind.Begin);
        return new BeginMessage(reader.ReadUInt64("final LSN"), reader.ReadInt64("commit timestamp"), reader.ReadUInt32("xid"));
    }
}
