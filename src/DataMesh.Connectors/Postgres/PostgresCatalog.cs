using DataMesh.Sources;
using Npgsql;

namespace DataMesh.Connectors.Postgres;

/// <summary>A captured table as found in the catalog.</summary>
internal sealed record CapturedTable(uint Oid, string Schema, string Name, char ReplicaIdentity, bool HasPrimaryKey)
{
    public string QualifiedName => $"{Schema}.{Name}";

    public string Quoted => $"{Quote(Schema)}.{Quote(Name)}";

    /// <summary>Whether updates and deletes can be published: a primary key, or REPLICA IDENTITY FULL or USING INDEX.</summary>
    public bool HasReplicaIdentity => ReplicaIdentity is 'f' or 'i' || (ReplicaIdentity == 'd' && HasPrimaryKey);

    public static string Quote(string identifier) => "\"" + identifier.Replace("\"", "\"\"", StringComparison.Ordinal) + "\"";
}

/// <summary>A table's columns as the catalog has them now: names in order, NOT NULL flags, key columns and added columns' values.</summary>
/// <param name="Names">The columns' names, in attribute order.</param>
/// <param name="NotNull">Per column, whether it is NOT NULL.</param>
/// <param name="PrimaryKey">The primary key's columns, in key order.</param>
/// <param name="IdentityIndex">The replica identity index's columns, in index order.</param>
/// <param name="Missing">Per column, its type and the text of the value rows written before it was added read as
/// (<c>pg_attribute.attmissingval</c>, PostgreSQL 11+: a column added with a non-volatile default), or null.</param>
internal sealed record CatalogColumns(IReadOnlyList<string> Names, IReadOnlyList<bool> NotNull, IReadOnlyList<string> PrimaryKey, IReadOnlyList<string> IdentityIndex, IReadOnlyList<(uint TypeOid, string? Value)> Missing);

/// <summary>Checks and queries on the source database's catalog through an ordinary connection.</summary>
internal sealed class PostgresCatalog(NpgsqlConnection connection, string sourceName)
{
    /// <summary>The session setting <see cref="UseCMoneyAsync"/> keeps the database's money fraction digits in.</summary>
    public const string MoneyScaleSetting = "datamesh.money_scale";

    private readonly Dictionary<uint, PgTypeInfo> _types = [];

    /// <summary>Refuses, with the fix in the message, a server or a user that cannot do logical replication.</summary>
    public async Task CheckServerAsync(CancellationToken cancellationToken)
    {
        var walLevel = await ScalarAsync<string>("SHOW wal_level", cancellationToken).ConfigureAwait(false);
        if (walLevel != "logical")
        {
            throw new PostgresSourceException(
                $"PostgreSQL source '{sourceName}': wal_level is '{walLevel}' on {connection.Host}:{connection.Port}; logical replication needs wal_level = logical. " +
                "Run ALTER SYSTEM SET wal_level = logical; and restart PostgreSQL.");
        }

        var encoding = await ScalarAsync<string>("SHOW server_encoding", cancellationToken).ConfigureAwait(false);
        if (encoding is not "UTF8")
        {
            throw new PostgresSourceException($"PostgreSQL source '{sourceName}': the database's encoding is {encoding}; the connector needs UTF8 (text values travel as Avro strings, which are UTF-8).");
        }

        var command = new NpgsqlCommand("SELECT current_user, rolreplication OR rolsuper FROM pg_roles WHERE rolname = current_user", connection);
        await using var commandScope = command.ConfigureAwait(false);
        var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        await using var readerScope = reader.ConfigureAwait(false);
        await reader.ReadAsync(cancellationToken).ConfigureAwait(false);
        var user = reader.GetString(0);
        if (!reader.GetBoolean(1))
        {
            throw new PostgresSourceException(
                $"PostgreSQL source '{sourceName}': user '{user}' lacks the REPLICATION attribute. Run ALTER ROLE {CapturedTable.Quote(user)} WITH REPLICATION; as a superuser.");
        }
    }

    /// <summary>The tables the include and exclude patterns select, each checked for SELECT and a replica identity.</summary>
    public async Task<IReadOnlyList<CapturedTable>> ResolveTablesAsync(PostgresSourceOptions options, TableFilter filter, CancellationToken cancellationToken)
    {
        var listed = await ListTablesAsync(filter, cancellationToken).ConfigureAwait(false);
        var tables = listed.Select(t => t.Table).ToList();
        var denied = listed.Where(t => !t.CanSelect).Select(t => t.Table.Quoted).ToList();
        if (tables.Count == 0)
        {
            throw new PostgresSourceException(
                $"PostgreSQL source '{sourceName}': no table matches IncludeTables [{string.Join(", ", options.IncludeTables)}] minus ExcludeTables [{string.Join(", ", options.ExcludeTables)}] in database '{connection.Database}'.");
        }

        if (denied.Count > 0)
        {
            throw new PostgresSourceException(
                $"PostgreSQL source '{sourceName}': user '{connection.UserName}' lacks SELECT on {string.Join(", ", denied)}. Run GRANT SELECT ON {string.Join(", ", denied)} TO {CapturedTable.Quote(connection.UserName ?? "user")};");
        }

        var unidentified = tables.Where(t => !t.HasReplicaIdentity).ToList();
        if (unidentified.Count > 0)
        {
            throw new PostgresSourceException(
                $"PostgreSQL source '{sourceName}': {string.Join(", ", unidentified.Select(t => t.Quoted))} {(unidentified.Count == 1 ? "has" : "have")} no replica identity, so updates and deletes cannot be captured. " +
                $"Add a primary key, or run ALTER TABLE {unidentified[0].Quoted} REPLICA IDENTITY FULL; (or exclude the table).");
        }

        return tables;
    }

    /// <summary>The tables <paramref name="filter"/> selects, unchecked, each with whether the user may SELECT it.</summary>
    public async Task<IReadOnlyList<(CapturedTable Table, bool CanSelect)>> ListTablesAsync(TableFilter filter, CancellationToken cancellationToken)
    {
        const string Sql = """
            SELECT c.oid, n.nspname, c.relname, c.relreplident,
                   EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = c.oid AND i.indisprimary),
                   has_table_privilege(current_user, c.oid, 'SELECT')
            FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition
              AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\_toast%' AND n.nspname NOT LIKE 'pg\_temp%'
            ORDER BY n.nspname, c.relname
            """;
        var tables = new List<(CapturedTable, bool)>();
        var command = new NpgsqlCommand(Sql, connection);
        await using (command.ConfigureAwait(false))
        {
            var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
            await using var readerScope = reader.ConfigureAwait(false);
            while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
            {
                var table = new CapturedTable(reader.GetFieldValue<uint>(0), reader.GetString(1), reader.GetString(2), reader.GetChar(3), reader.GetBoolean(4));
                if (filter.Captures(table.Schema, table.Name))
                {
                    tables.Add((table, reader.GetBoolean(5)));
                }
            }
        }

        return tables;
    }

    /// <summary>The user's name, whether it is a superuser, and the connection's current schema (null when the search path has none).</summary>
    public async Task<(string User, bool Superuser, string? Schema)> RoleAsync(CancellationToken cancellationToken)
    {
        var command = new NpgsqlCommand("SELECT current_user, rolsuper, current_schema() FROM pg_roles WHERE rolname = current_user", connection);
        await using var commandScope = command.ConfigureAwait(false);
        var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        await using var readerScope = reader.ConfigureAwait(false);
        await reader.ReadAsync(cancellationToken).ConfigureAwait(false);
        return (reader.GetString(0), reader.GetBoolean(1), reader.IsDBNull(2) ? null : reader.GetString(2));
    }

    /// <summary>Null when the publication does not exist, else whether it is FOR ALL TABLES.</summary>
    public async Task<bool?> PublicationForAllTablesAsync(string publication, CancellationToken cancellationToken)
    {
        var command = new NpgsqlCommand("SELECT puballtables FROM pg_publication WHERE pubname = @p", connection);
        await using var commandScope = command.ConfigureAwait(false);
        command.Parameters.AddWithValue("p", publication);
        return (bool?)await command.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>The tables in the publication's table list, by oid.</summary>
    public async Task<Dictionary<uint, (string Schema, string Name)>> PublicationTablesAsync(string publication, CancellationToken cancellationToken)
    {
        var tables = new Dictionary<uint, (string, string)>();
        var command = new NpgsqlCommand(
            "SELECT c.oid, n.nspname, c.relname FROM pg_publication_rel r JOIN pg_publication p ON p.oid = r.prpubid JOIN pg_class c ON c.oid = r.prrelid JOIN pg_namespace n ON n.oid = c.relnamespace WHERE p.pubname = @p",
            connection);
        await using var commandScope = command.ConfigureAwait(false);
        command.Parameters.AddWithValue("p", publication);
        var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        await using var readerScope = reader.ConfigureAwait(false);
        while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
        {
            tables[reader.GetFieldValue<uint>(0)] = (reader.GetString(1), reader.GetString(2));
        }

        return tables;
    }

    /// <summary>
    /// Whether event trigger <paramref name="name"/> and function <paramref name="schema"/>.<paramref name="name"/>() exist:
    /// null when not, true when their comment starts with <paramref name="marker"/>, false when it does not.
    /// </summary>
    public async Task<(bool? Trigger, bool? Function)> DescribedObjectsAsync(string schema, string name, string marker, CancellationToken cancellationToken)
    {
        var command = new NpgsqlCommand(
            """
            SELECT (SELECT coalesce(starts_with(obj_description(e.oid, 'pg_event_trigger'), @m), false) FROM pg_event_trigger e WHERE e.evtname = @n),
                   (SELECT coalesce(starts_with(obj_description(p.oid, 'pg_proc'), @m), false) FROM pg_proc p JOIN pg_namespace s ON s.oid = p.pronamespace
                    WHERE p.proname = @n AND s.nspname = @s AND p.pronargs = 0)
            """,
            connection);
        await using var commandScope = command.ConfigureAwait(false);
        command.Parameters.AddWithValue("n", name);
        command.Parameters.AddWithValue("s", schema);
        command.Parameters.AddWithValue("m", marker);
        var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        await using var readerScope = reader.ConfigureAwait(false);
        await reader.ReadAsync(cancellationToken).ConfigureAwait(false);
        return (reader.IsDBNull(0) ? null : reader.GetBoolean(0), reader.IsDBNull(1) ? null : reader.GetBoolean(1));
    }

    /// <summary>
    /// Creates the publication with <paramref name="tables"/>, or adds those it lacks and drops the tables
    /// <paramref name="filter"/> no longer selects. A table that the filter selects and that is not in <paramref name="tables"/>
    /// (created since they were listed, and added by the source's event trigger) stays.
    /// </summary>
    /// <returns>True when the publication changed.</returns>
    public async Task<bool> EnsurePublicationAsync(string publication, IReadOnlyList<CapturedTable> tables, TableFilter filter, bool manage, CancellationToken cancellationToken)
    {
        var allTables = await PublicationForAllTablesAsync(publication, cancellationToken).ConfigureAwait(false);
        var list = string.Join(", ", tables.Select(t => t.Quoted));
        if (allTables is null)
        {
            if (!manage)
            {
                throw new PostgresSourceException(
                    $"PostgreSQL source '{sourceName}': publication '{publication}' does not exist and ManagePublication is off. " +
                    $"Run CREATE PUBLICATION {CapturedTable.Quote(publication)} FOR TABLE {list} WITH (publish_via_partition_root = true);");
            }

            // Changes of a partitioned table's partitions are published as the partitioned table's own.
            await ExecuteAsync($"CREATE PUBLICATION {CapturedTable.Quote(publication)} FOR TABLE {list} WITH (publish_via_partition_root = true)", cancellationToken).ConfigureAwait(false);
            return true;
        }

        if (!manage)
        {
            return false;
        }

        await ExecuteAsync($"ALTER PUBLICATION {CapturedTable.Quote(publication)} SET (publish_via_partition_root = true)", cancellationToken).ConfigureAwait(false);
        if (allTables.Value)
        {
            return false;
        }

        var current = await PublicationTablesAsync(publication, cancellationToken).ConfigureAwait(false);
        var missing = tables.Where(t => !current.ContainsKey(t.Oid)).Select(t => t.Quoted).ToList();
        var stale = current.Values.Where(t => !filter.Captures(t.Schema, t.Name)).Select(t => $"{CapturedTable.Quote(t.Schema)}.{CapturedTable.Quote(t.Name)}").ToList();
        if (missing.Count > 0)
        {
            await ExecuteAsync($"ALTER PUBLICATION {CapturedTable.Quote(publication)} ADD TABLE {string.Join(", ", missing)}", cancellationToken).ConfigureAwait(false);
        }

        if (stale.Count > 0)
        {
            await ExecuteAsync($"ALTER PUBLICATION {CapturedTable.Quote(publication)} DROP TABLE {string.Join(", ", stale)}", cancellationToken).ConfigureAwait(false);
        }

        return missing.Count + stale.Count > 0;
    }

    /// <summary>The slot's state: null when missing; refuses a slot of another plugin or database.</summary>
    public async Task<(int? ActivePid, ulong ConfirmedFlush)?> GetSlotAsync(string slot, CancellationToken cancellationToken)
    {
        var command = new NpgsqlCommand("SELECT active_pid, plugin, database, confirmed_flush_lsn::text FROM pg_replication_slots WHERE slot_name = @s", connection);
        await using var commandScope = command.ConfigureAwait(false);
        command.Parameters.AddWithValue("s", slot);
        var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        await using var readerScope = reader.ConfigureAwait(false);
        if (!await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
        {
            return null;
        }

        var plugin = reader.IsDBNull(1) ? "(physical)" : reader.GetString(1);
        var database = reader.IsDBNull(2) ? null : reader.GetString(2);
        if (plugin != "pgoutput" || database != connection.Database)
        {
            throw new PostgresSourceException(
                $"PostgreSQL source '{sourceName}': replication slot '{slot}' exists for plugin '{plugin}' in database '{database}', not pgoutput in '{connection.Database}'. Choose another SlotName or drop that slot.");
        }

        int? pid = reader.IsDBNull(0) ? null : reader.GetInt32(0);
        var confirmed = reader.IsDBNull(3) ? 0UL : (ulong)NpgsqlTypes.NpgsqlLogSequenceNumber.Parse(reader.GetString(3));
        return (pid, confirmed);
    }

    /// <summary>
    /// Reads the money type's fraction digits under the session's own <c>lc_monetary</c> (the database's or role's setting,
    /// as the database's users read money), keeps them in the session as <see cref="MoneyScaleSetting"/>, and sets
    /// <c>lc_monetary</c> to <c>C</c> for the rest of the session, as the replication connection does (its startup
    /// options): money's text then has one form whatever the database's locale, <see cref="PgValueWriter"/>'s.
    /// </summary>
    /// <returns>The fraction digits: the scale of every money value the source writes.</returns>
    public async Task<int> UseCMoneyAsync(CancellationToken cancellationToken)
    {
        // RESET first: a pooled session kept without a reset (No Reset On Close) may still be in C.
        var batch = new NpgsqlBatch(connection)
        {
            BatchCommands =
            {
                new NpgsqlBatchCommand("RESET lc_monetary"),
                new NpgsqlBatchCommand($"SELECT set_config('{MoneyScaleSetting}', scale('1'::money::numeric)::text, false)::int"),
                new NpgsqlBatchCommand("SET lc_monetary TO 'C'"),
            },
        };
        await using var batchScope = batch.ConfigureAwait(false);
        return await FirstValueAsync<int?>(batch, cancellationToken).ConfigureAwait(false) ?? throw new InvalidOperationException("The money scale query returned no row.");
    }

    /// <summary>The first value of the first row of the last of a batch's statements that return rows (those that do not, such as <c>LOCK</c> or
    /// <c>SET</c>, passed over), or the default when none returns a row.</summary>
    public static async Task<T?> FirstValueAsync<T>(NpgsqlBatch batch, CancellationToken cancellationToken)
    {
        var reader = await batch.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        await using var readerScope = reader.ConfigureAwait(false);
        T? result = default;
        do
        {
            if (reader.FieldCount > 0 && await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
            {
                result = reader.GetFieldValue<T>(0);
            }
        }
        while (await reader.NextResultAsync(cancellationToken).ConfigureAwait(false));

        return result;
    }

    /// <summary>The money fraction digits <see cref="UseCMoneyAsync"/> read in this session.</summary>
    public Task<int> MoneyScaleAsync(CancellationToken cancellationToken) =>
        ScalarAsync<int>($"SELECT current_setting('{MoneyScaleSetting}')::int", cancellationToken);

    /// <summary>The table's columns as the catalog has them now.</summary>
    public async Task<CatalogColumns> GetColumnsAsync(uint relationId, CancellationToken cancellationToken)
    {
        // attmissingval: the value of a column added with a non-volatile default, as an array of one element (PostgreSQL 11+;
        // attgenerated needs 12+ already).
        const string Sql = """
            SELECT a.attname, a.attnotnull,
                   COALESCE((SELECT k.ord FROM pg_index i, unnest(i.indkey) WITH ORDINALITY AS k(attnum, ord) WHERE i.indrelid = a.attrelid AND i.indisprimary AND k.attnum = a.attnum), 0)::int,
                   COALESCE((SELECT k.ord FROM pg_index i, unnest(i.indkey) WITH ORDINALITY AS k(attnum, ord) WHERE i.indrelid = a.attrelid AND i.indisreplident AND k.attnum = a.attnum), 0)::int,
                   a.atttypid,
                   CASE WHEN a.atthasmissing AND cardinality(a.attmissingval::text::text[]) = 1 THEN (a.attmissingval::text::text[])[1] END
            FROM pg_attribute a WHERE a.attrelid = @r AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated = '' ORDER BY a.attnum
            """;
        var names = new List<string>();
        var notNull = new List<bool>();
        var primary = new SortedList<int, string>();
        var identity = new SortedList<int, string>();
        var missing = new List<(uint, string?)>();
        var command = new NpgsqlCommand(Sql, connection);
        await using var commandScope = command.ConfigureAwait(false);
        command.Parameters.AddWithValue("r", NpgsqlTypes.NpgsqlDbType.Oid, relationId);
        var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        await using var readerScope = reader.ConfigureAwait(false);
        while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
        {
            names.Add(reader.GetString(0));
            notNull.Add(reader.GetBoolean(1));
            if (reader.GetInt32(2) > 0)
            {
                primary.Add(reader.GetInt32(2), reader.GetString(0));
            }

            if (reader.GetInt32(3) > 0)
            {
                identity.Add(reader.GetInt32(3), reader.GetString(0));
            }

            missing.Add((reader.GetFieldValue<uint>(4), reader.IsDBNull(5) ? null : reader.GetString(5)));
        }

        return new CatalogColumns(names, notNull, [.. primary.Values], [.. identity.Values], missing);
    }

    /// <summary>pg_type rows of the given types and every element and base type they reach.</summary>
    public async Task<IReadOnlyDictionary<uint, PgTypeInfo>> GetTypesAsync(IEnumerable<uint> oids, CancellationToken cancellationToken)
    {
        var missing = oids.Where(o => !_types.ContainsKey(o)).Distinct().ToArray();
        while (missing.Length > 0)
        {
            var command = new NpgsqlCommand(
                "SELECT t.oid, n.nspname, t.typname, t.typtype, t.typcategory, t.typelem, t.typbasetype, t.typtypmod, t.typdelim FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace WHERE t.oid = ANY(@o)",
                connection);
            await using (command.ConfigureAwait(false))
            {
                command.Parameters.AddWithValue("o", NpgsqlTypes.NpgsqlDbType.Array | NpgsqlTypes.NpgsqlDbType.Oid, missing);
                var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
                await using var readerScope = reader.ConfigureAwait(false);
                while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
                {
                    var info = new PgTypeInfo(reader.GetFieldValue<uint>(0), reader.GetString(1), reader.GetString(2), reader.GetChar(3), reader.GetChar(4), reader.GetFieldValue<uint>(5), reader.GetFieldValue<uint>(6), reader.GetInt32(7), reader.GetChar(8));
                    _types[info.Oid] = info;
                }
            }

            foreach (var oid in missing)
            {
                if (!_types.ContainsKey(oid))
                {
                    throw new PostgresSourceException($"PostgreSQL source '{sourceName}': type {oid} is not in pg_type (was it dropped?).");
                }
            }

            missing = missing.SelectMany(o => new[] { _types[o].ElementOid, _types[o].BaseOid }).Where(o => o != 0 && !_types.ContainsKey(o)).Distinct().ToArray();
        }

        return _types;
    }

    public Task ExecuteAsync(string sql, CancellationToken cancellationToken)
    {
        var command = new NpgsqlCommand(sql, connection);
        return ExecuteAndDisposeAsync(command, cancellationToken);
    }

    /// <summary>Runs <paramref name="sql"/> (several statements) in one transaction.</summary>
    public async Task ExecuteInTransactionAsync(string sql, CancellationToken cancellationToken)
    {
        var transaction = await connection.BeginTransactionAsync(cancellationToken).ConfigureAwait(false);
        await using (transaction.ConfigureAwait(false))
        {
            await ExecuteAndDisposeAsync(new NpgsqlCommand(sql, connection, transaction), cancellationToken).ConfigureAwait(false);
            await transaction.CommitAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    private static async Task ExecuteAndDisposeAsync(NpgsqlCommand command, CancellationToken cancellationToken)
    {
        await using (command.ConfigureAwait(false))
        {
            await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>The database's current MVCC snapshot as text (<see cref="PostgresSnapshotDialect.CurrentSnapshot"/>).</summary>
    public Task<string> CurrentSnapshotAsync(CancellationToken cancellationToken) => ScalarAsync<string>(PostgresSnapshotDialect.CurrentSnapshotQuery(connection), cancellationToken);

    private async Task<T> ScalarAsync<T>(string sql, CancellationToken cancellationToken)
    {
        var command = new NpgsqlCommand(sql, connection);
        await using var commandScope = command.ConfigureAwait(false);
        return (T)(await command.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false))!;
    }
}
