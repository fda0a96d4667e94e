namespace DataMesh.Connectors.Postgres;

/// <summary>One column of a RELATION message.</summary>
internal sealed record RelationColumn(string Name, uint TypeOid, int TypeModifier, bool IsKey);

/// <summary>A RELATION message: sent before a relation's first change in a session and after each schema change.</summary>
internal sealed record RelationMessage(uint RelationId, string Namespace, string Name, char ReplicaIdentity, IReadOnlyList<RelationColumn> Columns)
{
    public static RelationMessage Parse(ReadOnlySpan<byte> message)
    {
        var reader = new PgOutputReader(message, "Relation");
        reader.ExpectKind(PgOutputKind.Relation);
        var id = reader.ReadUInt32("relation id");
        var ns = reader.ReadCString("namespace");
        var name = reader.ReadCString("relation name");
        var identity = (char)reader.ReadByte("replica identity");
        var count = reader.ReadInt16("column count");
        if (count < 0)
        {
            throw reader.Error($"negative column count {count}");
        }

        var columns = new RelationColumn[count];
        for (var i = 0; i < count; i++)
        {
            var flags = reader.ReadByte("column flags");
            var column = reader.ReadCString("column name");
            columns[i] = new RelationColumn(column, reader.ReadUInt32("column type"), reader.ReadInt32("column type modifier"), (flags & 1) != 0);
        }

        return new RelationMessage(id, ns, name, identity, columns);
    }
}
