using DataMesh.Sources;
using Npgsql;

namespace DataMesh.Connectors.Postgres;

/// <summary>A captured table as found in the catalog.</summary>
internal sealed record CapturedTable(uint Oid, string Schema, string Name, char ReplicaIdentity, bool HasPrimaryKey)
{
    public string QualifiedName => $"{Schema}.{Name}";

    public string Quoted => $"{Quote(Schema)}.{Quote(Name)}";

    public static string Quote(string identifier) => "\"" + identifier.Replace("\"", "\"\"", StringComparison.Ordinal) + "\"";
}

/// <summary>A table's columns as the catalog has them now: names in order, NOT NULL flags and key columns.</summary>
internal sealed record CatalogColumns(IReadOnlyList<string> Names, IReadOnlyList<bool> NotNull, IReadOnlyList<string> PrimaryKey, IReadOnlyList<string> IdentityIndex);

/// <summary>Checks and queries on the source database's catalog through an ordinary connection.</summary>
internal sealed class PostgresCatalog(NpgsqlConnection connection, string sourceName)
{
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
    public async Task<IReadOnlyList<CapturedTable>> ResolveTablesAsync(PostgresSourceOptions options, CancellationToken cancellationToken)
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
        var filter = new TableFilter(options, PostgresConnector.SystemSchemas);
        var tables = new List<CapturedTable>();
        var denied = new List<string>();
        var command = new NpgsqlCommand(Sql, connection);
        await using (command.ConfigureAwait(false))
        {
            var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
            await using var readerScope = reader.ConfigureAwait(false);
            while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
            {
                var table = new CapturedTable(reader.GetFieldValue<uint>(0), reader.GetString(1), reader.GetString(2), reader.GetChar(3), reader.GetBoolean(4));
                if (!filter.Captures(table.Schema, table.Name))
                {
                    continue;
                }

                if (!reader.GetBoolean(5))
                {
                    denied.Add(table.Quoted);
                }

                tables.Add(table);
            }
        }

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

        var unidentified = tables.Where(t => t.ReplicaIdentity == 'n' || (t.ReplicaIdentity == 'd' && !t.HasPrimaryKey)).ToList();
        if (unidentified.Count > 0)
        {
            throw new PostgresSourceException(
                $"PostgreSQL source '{sourceName}': {string.Join(", ", unidentified.Select(t => t.Quoted))} {(unidentified.Count == 1 ? "has" : "have")} no replica identity, so updates and deletes cannot be captured. " +
                $"Add a primary key, or run ALTER TABLE {unidentified[0].Quoted} REPLICA IDENTITY FULL; (or exclude the table).");
        }

        return tables;
    }

    /// <summary>Creates the publication or sets its tables to exactly <paramref name="tables"/>.</summary>
    /// <returns>True when the publication changed.</returns>
    public async Task<bool> EnsurePublicationAsync(string publication, IReadOnlyList<CapturedTable> tables, bool manage, CancellationToken cancellationToken)
    {
        bool? allTables = null;
        var lookup = new NpgsqlCommand("SELECT puballtables FROM pg_publication WHERE pubname = @p", connection);
        await using (lookup.ConfigureAwait(false))
        {
            var command = lookup;
            command.Parameters.AddWithValue("p", publication);
            allTables = (bool?)await command.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false);
        }

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

        var current = new HashSet<uint>();
        var members = new NpgsqlCommand("SELECT prrelid FROM pg_publication_rel r JOIN pg_publication p ON p.oid = r.prpubid WHERE p.pubname = @p", connection);
        await using (members.ConfigureAwait(false))
        {
            var command = members;
            command.Parameters.AddWithValue("p", publication);
            var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
            await using var readerScope = reader.ConfigureAwait(false);
            while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
            {
                current.Add(reader.GetFieldValue<uint>(0));
            }
        }

        if (current.SetEquals(tables.Select(t => t.Oid)))
        {
            return false;
        }

        await ExecuteAsync($"ALTER PUBLICATION {CapturedTable.Quote(publication)} SET TABLE {list}", cancellationToken).ConfigureAwait(false);
        return true;
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

    /// <summary>The money type's fraction digits under the server's lc_monetary.</summary>
    public Task<int> MoneyScaleAsync(CancellationToken cancellationToken) => ScalarAsync<int>("SELECT scale('1'::money::numeric)", cancellationToken);

    /// <summary>The table's columns as the catalog has them now.</summary>
    public async Task<CatalogColumns> GetColumnsAsync(uint relationId, CancellationToken cancellationToken)
    {
        const string Sql = """
            SELECT a.attname, a.attnotnull,
                   COALESCE((SELECT k.ord FROM pg_index i, unnest(i.indkey) WITH ORDINALITY AS k(attnum, ord) WHERE i.indrelid = a.attrelid AND i.indisprimary AND k.attnum = a.attnum), 0)::int,
                   COALESCE((SELECT k.ord FROM pg_index i, unnest(i.indkey) WITH ORDINALITY AS k(attnum, ord) WHERE i.indrelid = a.attrelid AND i.indisreplident AND k.attnum = a.attnum), 0)::int
            FROM pg_attribute a WHERE a.attrelid = @r AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated = '' ORDER BY a.attnum
            """;
        var names = new List<string>();
        var notNull = new List<bool>();
        var primary = new SortedList<int, string>();
        var identity = new SortedList<int, string>();
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
        }

        return new CatalogColumns(names, notNull, [.. primary.Values], [.. identity.Values]);
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

    private static async Task ExecuteAndDisposeAsync(NpgsqlCommand command, CancellationToken cancellationToken)
    {
        await using (command.ConfigureAwait(false))
        {
            await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    private async Task<T> ScalarAsync<T>(string sql, CancellationToken cancellationToken)
    {
        var command = new NpgsqlCommand(sql, connection);
        await using var commandScope = command.ConfigureAwait(false);
        return (T)(await command.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false))!;
    }
}
