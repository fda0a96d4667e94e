using DataMesh.Events;

namespace DataMesh.Connectors.Postgres;

/// <summary>A relation as the stream describes it: its last RELATION message, schemas and registered ids.</summary>
internal sealed class PgRelation
{
    public PgRelation(RelationMessage message, ChangeEventSchemas schemas, PgColumnType[] columnTypes, int keySchemaId, int valueSchemaId, bool captured)
    {
        Message = message;
        Schemas = schemas;
        ColumnTypes = columnTypes;
        KeySchemaId = keySchemaId;
        ValueSchemaId = valueSchemaId;
        Captured = captured;
        Encoder = new ChangeEventEncoder(schemas, keySchemaId, valueSchemaId);
        Nullable = schemas.Table.Columns.Select(c => c.IsNullable).ToArray();
        KeyIndexes = [.. schemas.KeyColumnIndexes];
    }

    public RelationMessage Message { get; }

    public ChangeEventSchemas Schemas { get; }

    public ChangeEventEncoder Encoder { get; }

    public PgColumnType[] ColumnTypes { get; }

    public bool[] Nullable { get; }

    public int[] KeyIndexes { get; }

    public int KeySchemaId { get; }

    public int ValueSchemaId { get; }

    /// <summary>Whether the include/exclude settings select this table (a publication for all tables sends others too).</summary>
    public bool Captured { get; }

    public string QualifiedName => $"{Message.Namespace}.{Message.Name}";

    /// <summary>Builds the neutral description of a relation from its RELATION message and what the catalog says now.</summary>
    /// <remarks>
    /// Names, types and order come from the message, which is exact for the stream's position. NOT NULL and the primary
    /// key come from the catalog, which may already be ahead of the stream: they are used only when the catalog's
    /// columns are the message's columns; otherwise every column is nullable and the key is the replica identity.
    /// </remarks>
    public static TableDescription Describe(RelationMessage message, CatalogColumns catalog, PgColumnType[] types)
    {
        var names = message.Columns.Select(c => c.Name).ToArray();
        var current = catalog.Names.SequenceEqual(names, StringComparer.Ordinal);
        var columns = new ColumnDescription[names.Length];
        for (var i = 0; i < names.Length; i++)
        {
            columns[i] = new ColumnDescription(names[i], types[i].DataType, IsNullable: !(current && catalog.NotNull[i]));
        }

        IReadOnlyList<string> key = [];
        if (current && message.ReplicaIdentity == 'i' && catalog.IdentityIndex.Count > 0)
        {
            // REPLICA IDENTITY USING INDEX: deletes carry only that index's columns, so it is the key.
            key = catalog.IdentityIndex;
        }
        else if (current && catalog.PrimaryKey.Count > 0)
        {
            key = catalog.PrimaryKey;
        }
        else if (message.ReplicaIdentity is 'd' or 'i')
        {
            key = message.Columns.Where(c => c.IsKey).Select(c => c.Name).ToArray();
        }

        // A key column travels in the key record, which cannot hold a NULL: key columns are NOT NULL in PostgreSQL too.
        for (var i = 0; i < columns.Length; i++)
        {
            if (key.Contains(columns[i].Name))
            {
                columns[i] = columns[i] with { IsNullable = false };
            }
        }

        return new TableDescription(message.Namespace, message.Name, columns, key);
    }
}
