using System.Text;

namespace DataMesh.Connectors.Cassandra.Schema;

/// <summary>Where a column sits in its table.</summary>
internal enum CassandraColumnKind
{
    PartitionKey,
    Clustering,
    Static,
    Regular,
}

/// <summary>One column of a <see cref="CassandraTable"/>.</summary>
internal sealed class CassandraColumn
{
    public CassandraColumn(string name, CqlType type, CassandraColumnKind kind, int position, bool isDropped = false)
    {
        Name = name;
        Utf8Name = Encoding.UTF8.GetBytes(name);
        Type = type;
        Kind = kind;
        Position = position;
        IsDropped = isDropped;
    }

    public string Name { get; }

    /// <summary>The name as mutations carry it.</summary>
    public byte[] Utf8Name { get; }

    public CqlType Type { get; }

    public CassandraColumnKind Kind { get; }

    /// <summary>The column's index in <see cref="CassandraTable.Columns"/> (-1 for a dropped column).</summary>
    public int Position { get; }

    /// <summary>A dropped column: older mutations may still carry cells of it, which a reader skips.</summary>
    public bool IsDropped { get; }

    public override string ToString() => $"{Name} {Type}";
}

/// <summary>
/// A table as the commit-log reader needs it: its id (the UUID every partition update starts with), its partition key
/// and clustering columns in order, its static and regular columns, and the columns dropped from it (older mutations
/// still name them).
/// </summary>
internal sealed class CassandraTable
{
    private readonly CassandraColumn[] _byName;

    /// <summary>Creates a table.</summary>
    /// <param name="id">The table id (<c>system_schema.tables.id</c>).</param>
    /// <param name="keyspace">The keyspace.</param>
    /// <param name="name">The table's name.</param>
    /// <param name="columns">The columns: name, CQL type and kind; partition key and clustering columns in key order.</param>
    /// <param name="userTypes">The keyspace's user-defined types, by lower-case name.</param>
    /// <param name="dropped">Dropped columns and their types.</param>
    /// <param name="clusteringDescending">Per clustering column, whether <c>CLUSTERING ORDER BY</c> says <c>DESC</c>; null
    /// when every one is ascending.</param>
    /// <exception cref="FormatException">A type that cannot be parsed, no partition key, an order for another number of
    /// clustering columns.</exception>
    public CassandraTable(Guid id, string keyspace, string name, IEnumerable<(string Name, string Type, CassandraColumnKind Kind)> columns,
        IReadOnlyDictionary<string, CqlType>? userTypes = null, IEnumerable<(string Name, string Type)>? dropped = null,
        IReadOnlyList<bool>? clusteringDescending = null)
    {
        Id = id;
        Keyspace = keyspace;
        Name = name;
        List<CassandraColumn> all = [];
        foreach (var (columnName, type, kind) in columns)
        {
            CqlType parsed;
            try
            {
                parsed = CqlType.Parse(type, userTypes);
            }
            catch (FormatException ex)
            {
                throw new FormatException($"table {keyspace}.{name}, column '{columnName}': {ex.Message}", ex);
            }

            if (kind is CassandraColumnKind.PartitionKey or CassandraColumnKind.Clustering)
            {
                parsed = parsed.AsFrozen();
            }

            all.Add(new CassandraColumn(columnName, parsed, kind, all.Count));
        }

        Columns = all;
        PartitionKey = [.. all.Where(c => c.Kind == CassandraColumnKind.PartitionKey)];
        Clustering = [.. all.Where(c => c.Kind == CassandraColumnKind.Clustering)];
        if (PartitionKey.Count == 0)
        {
            throw new FormatException($"table {keyspace}.{name} has no partition key column");
        }

        if (clusteringDescending is not null && clusteringDescending.Count != Clustering.Count)
        {
            throw new FormatException($"table {keyspace}.{name} has {Clustering.Count} clustering column(s) but a clustering order for {clusteringDescending.Count}");
        }

        ClusteringDescending = clusteringDescending is null ? new bool[Clustering.Count] : [.. clusteringDescending];

        var droppedColumns = (dropped ?? []).Select(d => new CassandraColumn(d.Name, CqlType.Parse(d.Type, userTypes), CassandraColumnKind.Regular, -1, isDropped: true));
        _byName = [.. all.Where(c => c.Kind is CassandraColumnKind.Static or CassandraColumnKind.Regular), .. droppedColumns];
    }

    public Guid Id { get; }

    public string Keyspace { get; }

    public string Name { get; }

    public string QualifiedName => $"{Keyspace}.{Name}";

    /// <summary>All columns: partition key, clustering, static and regular, in the order given.</summary>
    public IReadOnlyList<CassandraColumn> Columns { get; }

    public IReadOnlyList<CassandraColumn> PartitionKey { get; }

    public IReadOnlyList<CassandraColumn> Clustering { get; }

    /// <summary>Per clustering column, whether the table orders it descending (<c>CLUSTERING ORDER BY (… DESC)</c>): the
    /// commit log writes range bounds in this order.</summary>
    public IReadOnlyList<bool> ClusteringDescending { get; }

    /// <summary>The static or regular column (or dropped one) a mutation names.</summary>
    public CassandraColumn? FindColumn(ReadOnlySpan<byte> utf8Name)
    {
        foreach (var column in _byName)
        {
            if (utf8Name.SequenceEqual(column.Utf8Name))
            {
                return column;
            }
        }

        return null;
    }
}

/// <summary>The tables a reader can decode, by table id: the captured ones, and others it only reads past (a batch on
/// one partition key writes one mutation with an update per table, captured or not, in no set order).</summary>
internal sealed class CassandraSchema
{
    private readonly Dictionary<Guid, (CassandraTable Table, bool Captured)> _tables = [];

    public CassandraSchema(params IEnumerable<CassandraTable> tables)
        : this(tables, [])
    {
    }

    /// <param name="captured">The tables whose changes are published.</param>
    /// <param name="uncaptured">Tables known only to read past their updates.</param>
    public CassandraSchema(IEnumerable<CassandraTable> captured, IEnumerable<CassandraTable> uncaptured)
    {
        foreach (var table in uncaptured)
        {
            _tables[table.Id] = (table, false);
        }

        foreach (var table in captured)
        {
            _tables[table.Id] = (table, true);
        }
    }

    /// <summary>Finds a table, captured or not.</summary>
    public bool TryGetTable(Guid id, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out CassandraTable? table, out bool captured)
    {
        var found = _tables.TryGetValue(id, out var entry);
        (table, captured) = (entry.Table, entry.Captured);
        return found;
    }
}
