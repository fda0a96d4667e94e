using System.Buffers;
using System.Text;
using DataMesh.Avro;
using DataMesh.Events;
using DataMesh.Sources;

namespace DataMesh.Connectors.Postgres;

/// <summary>A relation as the stream describes it: its last RELATION message, schemas and registered ids.</summary>
internal sealed class PgRelation
{
    public PgRelation(RelationMessage message, SourceTable table, PgColumnType[] columnTypes)
    {
        Message = message;
        Table = table;
        ColumnTypes = columnTypes;
    }

    public RelationMessage Message { get; }

    /// <summary>The runtime's table (schemas, ids, topic).</summary>
    public SourceTable Table { get; }

    public PgColumnType[] ColumnTypes { get; }

    public string QualifiedName => $"{Message.Namespace}.{Message.Name}";

    /// <summary>Builds the neutral description of a relation from its RELATION message and what the catalog says now.</summary>
    /// <remarks>
    /// Names, types and order come from the message, which is exact for the stream's position. NOT NULL and the primary
    /// key come from the catalog, which may already be ahead of the stream (a migration applied while the source was
    /// behind), so they are matched by column name and a column is never tightened: a column that was nullable in the
    /// relation's previous description stays nullable, and a NULL met in a column described as NOT NULL relaxes it
    /// (see <paramref name="relaxed"/>).
    /// </remarks>
    /// <param name="message">The RELATION message.</param>
    /// <param name="catalog">The table's columns in the catalog now.</param>
    /// <param name="types">The resolved column types, in message order.</param>
    /// <param name="previous">The relation's previous description in this run, if any.</param>
    /// <param name="relaxed">Columns that met a NULL while described as NOT NULL.</param>
    public static TableDescription Describe(RelationMessage message, CatalogColumns catalog, PgColumnType[] types, TableDescription? previous, IReadOnlySet<string> relaxed)
    {
        var notNull = new Dictionary<string, bool>(StringComparer.Ordinal);
        var missing = new Dictionary<string, (uint TypeOid, string? Value)>(StringComparer.Ordinal);
        for (var i = 0; i < catalog.Names.Count; i++)
        {
            notNull[catalog.Names[i]] = catalog.NotNull[i];
            missing[catalog.Names[i]] = catalog.Missing[i];
        }

        var names = message.Columns.Select(c => c.Name).ToArray();
        var present = names.ToHashSet(StringComparer.Ordinal);
        IReadOnlyList<string> key = [];
        if (message.ReplicaIdentity == 'i' && catalog.IdentityIndex.Count > 0 && catalog.IdentityIndex.All(present.Contains))
        {
            // REPLICA IDENTITY USING INDEX: deletes carry only that index's columns, so it is the key.
            key = catalog.IdentityIndex;
        }
        else if (catalog.PrimaryKey.Count > 0 && catalog.PrimaryKey.All(present.Contains))
        {
            key = catalog.PrimaryKey;
        }
        else if (message.ReplicaIdentity is 'd' or 'i')
        {
            key = message.Columns.Where(c => c.IsKey).Select(c => c.Name).ToArray();
        }

        var columns = new ColumnDescription[names.Length];
        for (var i = 0; i < names.Length; i++)
        {
            var name = names[i];
            var wasNullable = previous?.Columns.FirstOrDefault(c => c.Name == name) is { IsNullable: true };
            var nullable = !key.Contains(name) && (wasNullable || relaxed.Contains(name) || !notNull.GetValueOrDefault(name));
            var was = previous?.Columns.FirstOrDefault(c => c.Name == name);
            columns[i] = new ColumnDescription(name, types[i].DataType, nullable)
            {
                // Only while the catalog's column is still of the stream's type (the catalog may be ahead of it). A default
                // once described is kept while the column's type is the same: a table rewrite (VACUUM FULL, a rewriting
                // ALTER TABLE) clears attmissingval, and the schema would lose its default.
                Default = missing.TryGetValue(name, out var value) && value.Value is { } text && value.TypeOid == message.Columns[i].TypeOid
                    ? EncodeDefault(types[i], text)
                    : was is { Default: { } kept } && was.Type == types[i].DataType ? kept : null,
            };
        }

        return new TableDescription(message.Namespace, message.Name, columns, key);
    }

    /// <summary>A default's text (the type's output form) encoded as the column's values are, or null when it does not
    /// encode (a form the value writer refuses: the column then has no default, as before defaults were carried).</summary>
    private static ColumnDefault? EncodeDefault(PgColumnType type, string text)
    {
        var buffer = new ArrayBufferWriter<byte>(64);
        try
        {
            var writer = new AvroWriter(buffer);
            PgValueWriter.Write(ref writer, type, Encoding.UTF8.GetBytes(text), DecimalHandling.Precise);
            writer.Flush();
        }
        catch (Exception ex) when (ex is FormatException or ArgumentException or OverflowException)
        {
            return null;
        }

        return new ColumnDefault(buffer.WrittenSpan);
    }
}
