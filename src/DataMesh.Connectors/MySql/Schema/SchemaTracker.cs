namespace DataMesh.Connectors.MySql.Schema;

/// <summary>One table's new state after a DDL statement: <see cref="Table"/> null when it was dropped (or renamed away).</summary>
/// <param name="Database">The table's database.</param>
/// <param name="Name">The table's name.</param>
/// <param name="Table">The new state, or null.</param>
internal sealed record TableChange(string Database, string Name, MySqlTable? Table);

/// <summary>
/// The schema of every table as of the binlog position being read: loaded from <c>information_schema</c> (or the
/// schema history) at start, then changed by each DDL statement in the order the binlog gives them.
/// </summary>
internal sealed class SchemaTracker
{
    private readonly Dictionary<(string Database, string Table), MySqlTable> _tables = [];
    private readonly Dictionary<string, string> _databaseCharsets = new(StringComparer.Ordinal);

    /// <summary>The server's default character set, for databases of unknown charset.</summary>
    public string ServerCharset { get; set; } = "utf8mb4";

    /// <summary>Bumped on every change; bindings made before are stale.</summary>
    public int Version { get; private set; }

    public IEnumerable<MySqlTable> Tables => _tables.Values;

    public IReadOnlyDictionary<string, string> DatabaseCharsets => _databaseCharsets;

    public MySqlTable? Find(string database, string table) => _tables.GetValueOrDefault((database, table));

    /// <summary>
    /// The tracked table a statement names (qualified with the event's default database when it names none), or null.
    /// The exact name wins; else the one table whose database and name match ignoring case (servers with
    /// <c>lower_case_table_names</c> 1 or 2 accept any case in statements, and a statement the server logged named an
    /// existing table, so a unique case-insensitive match is that table).
    /// </summary>
    public MySqlTable? Resolve(TableName name, string? defaultDatabase)
    {
        var qualified = name.Qualify(defaultDatabase);
        if (qualified.Database is null)
        {
            return null;
        }

        if (_tables.TryGetValue((qualified.Database, qualified.Name), out var exact))
        {
            return exact;
        }

        MySqlTable? match = null;
        foreach (var ((database, table), value) in _tables)
        {
            if (string.Equals(database, qualified.Database, StringComparison.OrdinalIgnoreCase) && string.Equals(table, qualified.Name, StringComparison.OrdinalIgnoreCase))
            {
                if (match is not null)
                {
                    return null;
                }

                match = value;
            }
        }

        return match;
    }

    public void Put(MySqlTable table)
    {
        _tables[(table.Database, table.Name)] = table;
        Version++;
    }

    public void Remove(string database, string table)
    {
        if (_tables.Remove((database, table)))
        {
            Version++;
        }
    }

    public void SetDatabaseCharset(string database, string? charset)
    {
        if (charset is null)
        {
            _databaseCharsets.Remove(database);
        }
        else
        {
            _databaseCharsets[database] = charset;
        }
    }

    /// <summary>Replaces everything with <paramref name="tables"/> (a restart from the schema history).</summary>
    public void Reset(IEnumerable<MySqlTable> tables, IReadOnlyDictionary<string, string> databaseCharsets)
    {
        _tables.Clear();
        _databaseCharsets.Clear();
        foreach (var table in tables)
        {
            _tables[(table.Database, table.Name)] = table;
        }

        foreach (var (database, charset) in databaseCharsets)
        {
            _databaseCharsets[database] = charset;
        }

        Version++;
    }

    /// <summary>Applies a statement.</summary>
    /// <param name="statement">The parsed statement.</param>
    /// <param name="defaultDatabase">The QUERY event's default database, or null.</param>
    /// <returns>The tables it changed.</returns>
    /// <exception cref="DdlParseException">The statement changes a table this tracker does not know, or a column it does not have.</exception>
    public IReadOnlyList<TableChange> Apply(DdlStatement statement, string? defaultDatabase)
    {
        var changes = new List<TableChange>();
        switch (statement)
        {
            case CreateTableStatement create:
            {
                var name = Qualify(create.Table, defaultDatabase);
                if (create.IfNotExists && _tables.ContainsKey((name.Database!, name.Name)))
                {
                    break;
                }

                var charset = create.DefaultCharset ?? DatabaseCharset(name.Database!);
                // A new table has no rows from before its columns: no column default (as information_schema's view,
                // which snapshots and the first start describe tables from, has none).
                var columns = create.Columns.Select(c => Resolve(c, charset) with { Default = null }).ToList();
                var key = create.PrimaryKey.Select(k => columns.First(c => string.Equals(c.Name, k, StringComparison.OrdinalIgnoreCase)).Name).ToList();
                columns = columns.Select(c => key.Contains(c.Name, StringComparer.OrdinalIgnoreCase) ? c with { Nullable = false } : c).ToList();
                Store(changes, new MySqlTable { Database = name.Database!, Name = name.Name, Columns = columns, PrimaryKey = key, DefaultCharset = charset });
                break;
            }

            case CreateTableLikeStatement like:
            {
                var name = Qualify(like.Table, defaultDatabase);
                if (like.IfNotExists && _tables.ContainsKey((name.Database!, name.Name)))
                {
                    break;
                }

                var source = Require(Qualify(like.Source, defaultDatabase));
                Store(changes, source with { Database = name.Database!, Name = name.Name, Columns = source.Columns.Select(c => c with { Default = null }).ToList() });
                break;
            }

            case DropTablesStatement drop:
                foreach (var table in drop.Tables)
                {
                    var name = Qualify(table, defaultDatabase);
                    if (_tables.Remove((name.Database!, name.Name)))
                    {
                        changes.Add(new TableChange(name.Database!, name.Name, null));
                    }
                }

                break;
            case RenameTablesStatement rename:
                foreach (var (from, to) in rename.Renames)
                {
                    var source = Qualify(from, defaultDatabase);
                    var target = Qualify(to, defaultDatabase);
                    if (rename.IfExists && !_tables.ContainsKey((source.Database!, source.Name)))
                    {
                        continue;
                    }

                    var table = Require(source);
                    _tables.Remove((source.Database!, source.Name));
                    changes.Add(new TableChange(source.Database!, source.Name, null));
                    Store(changes, table with { Database = target.Database!, Name = target.Name });
                }

                break;
            case AlterTableStatement alter:
                ApplyAlter(alter, defaultDatabase, changes);
                break;
            case DatabaseStatement database when database.Dropped:
                _databaseCharsets.Remove(database.Database);
                foreach (var key in _tables.Keys.Where(k => k.Database == database.Database).ToList())
                {
                    _tables.Remove(key);
                    changes.Add(new TableChange(key.Database, key.Table, null));
                }

                break;
            case DatabaseStatement database:
                if (database.DefaultCharset is not null)
                {
                    _databaseCharsets[database.Database] = database.DefaultCharset;
                }

                break;
        }

        if (changes.Count > 0)
        {
            Version++;
        }

        return changes;
    }

    /// <summary>Whether a restated column keeps its values as they are: the same type, parameters, labels and charset.</summary>
    private static bool SameType(MySqlColumn a, MySqlColumn b) =>
        a.TypeName == b.TypeName && a.Unsigned == b.Unsigned && a.Length == b.Length && a.Precision == b.Precision && a.Scale == b.Scale
        && a.Fsp == b.Fsp && a.Charset == b.Charset && a.IsJson == b.IsJson && a.Labels.SequenceEqual(b.Labels, StringComparer.Ordinal);

    /// <summary>
    /// Applies an ALTER TABLE's actions in written order. As on the server, the old name that a CHANGE, MODIFY, DROP or RENAME
    /// COLUMN gives is a column of the table as it was before the statement, whatever the actions before it renamed
    /// (<c>CHANGE a b INT, CHANGE b a INT</c> swaps two columns; <c>CHANGE a b INT, DROP b</c> drops the former b), while an
    /// AFTER and the columns of ADD PRIMARY KEY name columns of the new table. Each column is therefore followed by its
    /// identity (its index before the statement, or a new one for an added column), and so is the key.
    /// </summary>
    private void ApplyAlter(AlterTableStatement alter, string? defaultDatabase, List<TableChange> changes)
    {
        var name = Qualify(alter.Table, defaultDatabase);
        var table = Require(name);
        var columns = table.Columns.ToList();
        var ids = Enumerable.Range(0, columns.Count).ToList();
        var nextId = columns.Count;
        var key = table.PrimaryKey.Select(table.IndexOf).Where(i => i >= 0).ToList();
        var tableKey = key; // the key before the statement: a primary key the statement adds replaces the list
        var charset = table.DefaultCharset ?? DatabaseCharset(name.Database!);
        var target = name;

        // Where the column the statement names by its name before the statement is now, or -1 (dropped, or never there).
        int IndexOfOld(string old)
        {
            var id = table.IndexOf(old);
            return id < 0 ? -1 : ids.IndexOf(id);
        }

        // The columns of the table before the statement that a CHANGE or MODIFY changed: the server matches each to the first
        // that names it, and a later one is taken for one of a column the statement adds (below).
        var changedOld = new HashSet<int>();

        // The nullability of the columns the statement defines or redefines (ADD, CHANGE, MODIFY) as written: the server makes
        // such a column NOT NULL for the key the statement leaves, not for one it drops (MODIFY id BIGINT, DROP PRIMARY KEY
        // makes id nullable, wherever the DROP is written); a column it does not redefine keeps what it had.
        var written = new Dictionary<int, bool>();

        // MariaDB: a MODIFY or CHANGE of no column of the table before the statement (or of one an earlier clause changed)
        // whose new name is that of a column the statement adds, ignoring case, replaces that column's definition with its
        // own, at the end of the table unless it says FIRST or AFTER (ADD c INT FIRST, MODIFY c BIGINT puts c last).
        void ChangeAddedColumn(ChangeColumnAction change)
        {
            var newName = change.Definition.Column.Name;
            var added = IndexOf(columns, newName);
            if (added < 0 || ids[added] < table.Columns.Count)
            {
                throw new DdlParseException($"ALTER TABLE {name} changes column '{change.OldName}', which the tracked schema does not have");
            }

            var id = ids[added];
            columns.RemoveAt(added);
            ids.RemoveAt(added);

            // A new column: the rows from before the statement get the value of this definition's default.
            var definition = Resolve(change.Definition, charset);
            written[id] = definition.Nullable;
            if (change.Definition.InlinePrimaryKey)
            {
                key = [id];
            }

            if (key.Contains(id))
            {
                definition = definition with { Nullable = false };
            }

            var placeAt = change.Placement.First || change.Placement.After is not null ? Place(columns, change.Placement, columns.Count, name) : columns.Count;
            columns.Insert(placeAt, definition);
            ids.Insert(placeAt, id);
        }

        foreach (var action in alter.Actions)
        {
            switch (action)
            {
                case AddColumnAction add:
                    if (IndexOf(columns, add.Definition.Column.Name) >= 0)
                    {
                        if (add.IfNotExists)
                        {
                            continue;
                        }

                        throw new DdlParseException($"ALTER TABLE {name} adds column '{add.Definition.Column.Name}', which the tracked schema already has");
                    }

                    var addAt = Place(columns, add.Placement, columns.Count, name);
                    columns.Insert(addAt, Resolve(add.Definition, charset));
                    ids.Insert(addAt, nextId++);
                    written[ids[addAt]] = columns[addAt].Nullable;
                    if (add.Definition.InlinePrimaryKey)
                    {
                        // ADD c ... PRIMARY KEY (or KEY): the column is the key (the server refuses it beside another one).
                        key = [ids[addAt]];
                    }

                    break;
                case DropColumnAction drop:
                    var dropAt = IndexOfOld(drop.Name);
                    if (dropAt < 0)
                    {
                        if (drop.IfExists)
                        {
                            continue;
                        }

                        throw new DdlParseException($"ALTER TABLE {name} drops column '{drop.Name}', which the tracked schema does not have");
                    }

                    key.Remove(ids[dropAt]);
                    columns.RemoveAt(dropAt);
                    ids.RemoveAt(dropAt);
                    break;
                case ChangeColumnAction change:
                    var oldId = table.IndexOf(change.OldName);
                    var at = oldId >= 0 && changedOld.Add(oldId) ? ids.IndexOf(oldId) : -1;
                    if (at < 0)
                    {
                        if (change.IfExists)
                        {
                            continue;
                        }

                        ChangeAddedColumn(change);
                        break;
                    }

                    // The rows from before the column was added keep the value they got then, whatever the new DEFAULT; a
                    // new type converts their values, which is not repeated here (no default then).
                    var resolved = Resolve(change.Definition, charset);
                    resolved = resolved with { Default = SameType(resolved, columns[at]) ? columns[at].Default : null };
                    var changed = ids[at];
                    written[changed] = resolved.Nullable;
                    if (change.Definition.InlinePrimaryKey)
                    {
                        // MODIFY / CHANGE c ... PRIMARY KEY: the column becomes the key.
                        key = [changed];
                    }

                    if (key.Contains(changed))
                    {
                        resolved = resolved with { Nullable = false };
                    }

                    columns.RemoveAt(at);
                    ids.RemoveAt(at);
                    var placeAt = change.Placement.First || change.Placement.After is not null ? Place(columns, change.Placement, at, name) : at;
                    columns.Insert(placeAt, resolved);
                    ids.Insert(placeAt, changed);
                    break;
                case RenameColumnAction rename:
                    var renameAt = IndexOfOld(rename.OldName);
                    if (renameAt < 0)
                    {
                        throw new DdlParseException($"ALTER TABLE {name} renames column '{rename.OldName}', which the tracked schema does not have");
                    }

                    columns[renameAt] = columns[renameAt] with { Name = rename.NewName };
                    break;
                case AddPrimaryKeyAction primary:
                    key = primary.Columns.Select(c =>
                    {
                        var index = IndexOf(columns, c);
                        return index >= 0 ? ids[index] : throw new DdlParseException($"ALTER TABLE {name} adds a primary key on column '{c}', which the tracked schema does not have");
                    }).ToList();
                    for (var i = 0; i < columns.Count; i++)
                    {
                        if (key.Contains(ids[i]))
                        {
                            columns[i] = columns[i] with { Nullable = false };
                        }
                    }

                    break;
                case DropPrimaryKeyAction:
                    // DROP PRIMARY KEY drops the table's key as it was before the statement, wherever it is written: a key
                    // the statement adds (ADD PRIMARY KEY, a column's PRIMARY KEY) stays, also when written before it.
                    if (ReferenceEquals(key, tableKey))
                    {
                        key.Clear();
                    }

                    break;
                case RenameTableAction renameTable:
                    target = Qualify(renameTable.NewName, name.Database);
                    break;
                case ConvertCharsetAction convert:
                    charset = convert.Charset;
                    for (var i = 0; i < columns.Count; i++)
                    {
                        if ((columns[i].IsCharacter || columns[i].TypeName is "enum" or "set") && columns[i].Charset != "binary")
                        {
                            columns[i] = columns[i] with { Charset = convert.Charset };
                        }
                    }

                    break;
                case DefaultCharsetAction defaultCharset:
                    charset = defaultCharset.Charset;
                    break;
            }
        }

        for (var i = 0; i < columns.Count; i++)
        {
            if (written.TryGetValue(ids[i], out var nullable) && !key.Contains(ids[i]))
            {
                columns[i] = columns[i] with { Nullable = nullable };
            }
        }

        var primaryKey = key.Select(id => columns[ids.IndexOf(id)].Name).ToList();
        var updated = table with { Database = target.Database!, Name = target.Name, Columns = columns, PrimaryKey = primaryKey, DefaultCharset = charset };
        if (target != name)
        {
            _tables.Remove((name.Database!, name.Name));
            changes.Add(new TableChange(name.Database!, name.Name, null));
        }

        Store(changes, updated);
    }

    private static int Place(List<MySqlColumn> columns, ColumnPlacement placement, int fallback, TableName table)
    {
        if (placement.First)
        {
            return 0;
        }

        if (placement.After is { } after)
        {
            var index = IndexOf(columns, after);
            return index >= 0 ? index + 1 : throw new DdlParseException($"ALTER TABLE {table} places a column after '{after}', which the tracked schema does not have");
        }

        return fallback;
    }

    private static int IndexOf(List<MySqlColumn> columns, string name) =>
        columns.FindIndex(c => string.Equals(c.Name, name, StringComparison.OrdinalIgnoreCase));

    private static MySqlColumn Resolve(ColumnDefinition definition, string tableCharset)
    {
        var column = definition.Column;
        if (column.Charset is null && (column.IsCharacter || column.TypeName is "enum" or "set"))
        {
            return column with { Charset = tableCharset };
        }

        if (column.TypeName == "json")
        {
            // MariaDB's JSON is LONGTEXT utf8mb4 with a json_valid check; MySQL's is binary JSON. Both are JSON text to us.
            return column with { IsJson = true, Charset = "utf8mb4" };
        }

        return column;
    }

    private string DatabaseCharset(string database) => _databaseCharsets.GetValueOrDefault(database) ?? ServerCharset;

    private static TableName Qualify(TableName name, string? defaultDatabase)
    {
        var qualified = name.Qualify(defaultDatabase);
        return qualified.Database is null
            ? throw new DdlParseException($"table {name} has no database and the statement has no default database")
            : qualified;
    }

    private MySqlTable Require(TableName name) =>
        _tables.GetValueOrDefault((name.Database!, name.Name))
        ?? throw new DdlParseException($"the statement changes table {name}, which the tracked schema does not have (was it created before the schema history began?)") { UnknownTable = name };

    private void Store(List<TableChange> changes, MySqlTable table)
    {
        _tables[(table.Database, table.Name)] = table;
        changes.Add(new TableChange(table.Database, table.Name, table));
    }
}
