using DataMesh.Connectors.Cassandra.Native;

namespace DataMesh.Connectors.Cassandra.Schema;

/// <summary>What <see cref="SystemSchemaReader"/> read: the captured tables, as <see cref="CqlSchemaParser"/> gives them
/// from statements, the selected tables left out because CDC is off, and every table id of the cluster.</summary>
/// <param name="Tables">The tables that <c>captures</c> selected and that have CDC on.</param>
/// <param name="CdcOff">The tables that <c>captures</c> selected but have CDC off (<c>keyspace.table</c>); not built.</param>
/// <param name="AllTableIds">The ids of every table of every keyspace (system ones too).</param>
/// <param name="Uncaptured">The other tables of the captured tables' keyspaces, to read past their updates in a
/// mutation that also updates a captured table (a batch on one partition key).</param>
internal sealed record SystemSchema(IReadOnlyList<CqlTableDefinition> Tables, IReadOnlyList<string> CdcOff, IReadOnlySet<Guid> AllTableIds, IReadOnlyList<CassandraTable> Uncaptured);

/// <summary>
/// Reads tables from <c>system_schema</c> (Cassandra 3.0+) into the model the commit-log reader uses, the same one that
/// <see cref="CqlSchemaParser"/> builds from <c>CREATE TABLE</c> statements: <c>tables</c> (id, flags, <c>cdc</c>),
/// <c>columns</c> (kind, position, clustering order, the type as CQL text, parsed by <see cref="CqlType.Parse"/>),
/// <c>types</c> (user-defined types, in the order they depend on each other) and <c>dropped_columns</c>.
/// </summary>
/// <remarks>Columns come in key order (partition key, then clustering columns, by <c>position</c>), then the static and
/// regular columns by name: <c>system_schema</c> does not keep the order of a <c>CREATE TABLE</c>.</remarks>
internal static class SystemSchemaReader
{
    internal const string TablesQuery = "SELECT * FROM system_schema.tables";
    internal const string ColumnsQuery = "SELECT keyspace_name, table_name, column_name, clustering_order, kind, position, type FROM system_schema.columns";
    internal const string TypesQuery = "SELECT keyspace_name, type_name, field_names, field_types FROM system_schema.types";
    internal const string DroppedQuery = "SELECT keyspace_name, table_name, column_name, type FROM system_schema.dropped_columns";

    /// <summary>Reads the schema.</summary>
    /// <param name="connection">An open connection.</param>
    /// <param name="pageSize">Rows per page.</param>
    /// <param name="captures">Which tables (keyspace, table) to build (those with CDC on); the others only give their
    /// ids.</param>
    /// <param name="cancellationToken">Cancels.</param>
    /// <exception cref="FormatException">A captured table whose columns cannot be read (a counter, an unknown type); the
    /// message names the table and column.</exception>
    public static async Task<SystemSchema> ReadAsync(CqlConnection connection, int pageSize, Func<string, string, bool> captures, CancellationToken cancellationToken)
    {
        var tables = await connection.QueryAsync(TablesQuery, pageSize, cancellationToken).ConfigureAwait(false);
        var columns = await connection.QueryAsync(ColumnsQuery, pageSize, cancellationToken).ConfigureAwait(false);
        var types = await connection.QueryAsync(TypesQuery, pageSize, cancellationToken).ConfigureAwait(false);
        var dropped = await connection.QueryAsync(DroppedQuery, pageSize, cancellationToken).ConfigureAwait(false);
        return Build(tables, columns, types, dropped, captures);
    }

    /// <summary>Builds the schema from the four results.</summary>
    internal static SystemSchema Build(CqlRows tables, CqlRows columns, CqlRows types, CqlRows dropped, Func<string, string, bool> captures)
    {
        var ids = new HashSet<Guid>();
        var userTypes = UserTypes(types);
        var columnsByTable = columns.Rows.GroupBy(r => (Text(columns, r, "keyspace_name"), Text(columns, r, "table_name"))).ToDictionary(g => g.Key, g => g.ToList());
        var droppedByTable = dropped.Rows.GroupBy(r => (Text(dropped, r, "keyspace_name"), Text(dropped, r, "table_name"))).ToDictionary(g => g.Key, g => g.ToList());
        List<CqlTableDefinition> definitions = [];
        List<string> cdcOff = [];
        List<object?[]> others = [];
        foreach (var row in tables.Rows)
        {
            var keyspace = Text(tables, row, "keyspace_name");
            var name = Text(tables, row, "table_name");
            var id = tables.Get<Guid>(row, "id");
            ids.Add(id);
            if (!captures(keyspace, name))
            {
                others.Add(row);
                continue;
            }

            if (!Cdc(tables, row))
            {
                cdcOff.Add($"{keyspace}.{name}");
                others.Add(row);
                continue;
            }

            var flags = tables.Get<List<object?>>(row, "flags")?.OfType<string>().ToHashSet(StringComparer.OrdinalIgnoreCase) ?? [];
            CassandraTable table;
            try
            {
                table = Table(keyspace, name, id);
            }
            catch (FormatException ex)
            {
                throw new FormatException($"system_schema: {ex.Message}", ex);
            }

            // COMPACT STORAGE: a dense or super table, or one without the compound flag (a "static" compact table).
            var compact = flags.Contains("dense") || flags.Contains("super") || !flags.Contains("compound");
            definitions.Add(new CqlTableDefinition(table, Cdc: true, compact));
        }

        var keyspaces = definitions.Select(d => d.Table.Keyspace).ToHashSet(StringComparer.Ordinal);
        List<CassandraTable> uncaptured = [];
        foreach (var row in others.Where(r => keyspaces.Contains(Text(tables, r, "keyspace_name"))))
        {
            try
            {
                uncaptured.Add(Table(Text(tables, row, "keyspace_name"), Text(tables, row, "table_name"), tables.Get<Guid>(row, "id")));
            }
            catch (FormatException)
            {
                // Not captured: a table the reader cannot model stays unknown (a mutation updating it with a captured
                // table then stops the source, naming its id).
            }
        }

        return new SystemSchema(definitions, cdcOff, ids, uncaptured);

        CassandraTable Table(string keyspace, string name, Guid id)
        {
            var own = columnsByTable.GetValueOrDefault((keyspace, name)) ?? [];
            var keyed = own.Select(r => (Row: r, Kind: Kind(columns, r, keyspace, name))).ToList();
            var ordered = keyed.Where(c => c.Kind == CassandraColumnKind.PartitionKey).OrderBy(c => columns.Get<int>(c.Row, "position"))
                .Concat(keyed.Where(c => c.Kind == CassandraColumnKind.Clustering).OrderBy(c => columns.Get<int>(c.Row, "position")))
                .Concat(keyed.Where(c => c.Kind is CassandraColumnKind.Static or CassandraColumnKind.Regular).OrderBy(c => Text(columns, c.Row, "column_name"), StringComparer.Ordinal))
                .ToList();
            var descending = ordered.Where(c => c.Kind == CassandraColumnKind.Clustering)
                .Select(c => string.Equals(columns.Get<string>(c.Row, "clustering_order"), "desc", StringComparison.OrdinalIgnoreCase)).ToList();
            var droppedColumns = (droppedByTable.GetValueOrDefault((keyspace, name)) ?? []).Select(r => (Text(dropped, r, "column_name"), Text(dropped, r, "type")));
            return new CassandraTable(id, keyspace, name, ordered.Select(c => (Text(columns, c.Row, "column_name"), Text(columns, c.Row, "type"), c.Kind)),
                userTypes.GetValueOrDefault(keyspace), droppedColumns, descending);
        }
    }

    /// <summary>The table's <c>cdc</c> column (Cassandra 3.8+), else a <c>cdc</c> entry of its <c>extensions</c>.</summary>
    private static bool Cdc(CqlRows tables, object?[] row)
    {
        if (tables.Has("cdc"))
        {
            return tables.Get<bool>(row, "cdc");
        }

        if (tables.Has("extensions") && tables.Get<List<KeyValuePair<object, object?>>>(row, "extensions") is { } extensions)
        {
            return extensions.Any(e => e.Key is "cdc" && e.Value switch
            {
                byte[] bytes => bytes.Length > 0 && (bytes[0] == 1 || System.Text.Encoding.UTF8.GetString(bytes).Equals("true", StringComparison.OrdinalIgnoreCase)),
                string text => text.Equals("true", StringComparison.OrdinalIgnoreCase),
                bool flag => flag,
                _ => false,
            });
        }

        return false;
    }

    private static CassandraColumnKind Kind(CqlRows columns, object?[] row, string keyspace, string table) => Text(columns, row, "kind") switch
    {
        "partition_key" => CassandraColumnKind.PartitionKey,
        "clustering" => CassandraColumnKind.Clustering,
        "static" => CassandraColumnKind.Static,
        "regular" => CassandraColumnKind.Regular,
        var other => throw new FormatException($"system_schema.columns: column '{Text(columns, row, "column_name")}' of {keyspace}.{table} has kind '{other}' (expected partition_key, clustering, static or regular)"),
    };

    /// <summary>The user-defined types by keyspace, each by lower-case name and <c>keyspace.name</c>, as
    /// <see cref="CqlSchemaParser"/> keeps them; a type is built once the types its fields use are.</summary>
    private static Dictionary<string, Dictionary<string, CqlType>> UserTypes(CqlRows types)
    {
        var byKeyspace = new Dictionary<string, Dictionary<string, CqlType>>(StringComparer.Ordinal);
        var pending = types.Rows.ToList();
        while (pending.Count > 0)
        {
            List<object?[]> later = [];
            FormatException? problem = null;
            foreach (var row in pending)
            {
                var keyspace = Text(types, row, "keyspace_name");
                var name = Text(types, row, "type_name");
                if (!byKeyspace.TryGetValue(keyspace, out var known))
                {
                    byKeyspace[keyspace] = known = new Dictionary<string, CqlType>(StringComparer.Ordinal);
                }

                var names = types.Get<List<object?>>(row, "field_names") ?? [];
                var fieldTypes = types.Get<List<object?>>(row, "field_types") ?? [];
                if (names.Count != fieldTypes.Count)
                {
                    throw new FormatException($"system_schema.types: type {keyspace}.{name} has {names.Count} field names and {fieldTypes.Count} field types");
                }

                try
                {
                    var fields = names.Zip(fieldTypes, (n, t) => ((string)n!, CqlType.Parse((string)t!, known))).ToList();
                    var udt = CqlType.UserDefined(name, fields, frozen: false);
                    known[name.ToLowerInvariant()] = udt;
                    known[$"{keyspace}.{name}".ToLowerInvariant()] = udt;
                }
                catch (FormatException ex)
                {
                    // Perhaps a field of a type not built yet: try again after the others.
                    problem ??= new FormatException($"system_schema.types: type {keyspace}.{name}: {ex.Message}", ex);
                    later.Add(row);
                }
            }

            if (later.Count == pending.Count)
            {
                throw problem!;
            }

            pending = later;
        }

        return byKeyspace;
    }

    private static string Text(CqlRows rows, object?[] row, string column) =>
        rows.Get<string>(row, column) ?? throw new FormatException($"system_schema: a row without {column}");
}
