using System.Globalization;
using DataMesh.Connectors.Postgres;
using DataMesh.Events;
using DataMesh.Sources;
using Npgsql;

namespace DataMesh.Connectors.CockroachDb;

/// <summary>A captured table: its description for the runtime, each column's type (parsed like PostgreSQL's), and the
/// JSON property name of each column as UTF-8.</summary>
internal sealed record CockroachDbTable(SourceTable Table, PgColumnType[] Types, string[] Columns, int[] KeyColumns, bool[] Computed)
{
    public string Name => Table.Schemas.Table.Name;

    /// <summary>The columns' names in UTF-8, as the changefeed's JSON names them (computed from <see cref="Columns"/> when
    /// the table is made; a table is never copied with other columns).</summary>
    public byte[][] Utf8Columns { get; } = [.. Columns.Select(System.Text.Encoding.UTF8.GetBytes)];

    /// <summary>Which columns are JSONB and NOT NULL: their <c>null</c> in a changefeed row can only be JSON's null.</summary>
    public bool[] JsonNotNull { get; } = [.. Table.Schemas.Table.Columns.Select(c => c.Type.Kind == DataTypeKind.Json && !c.IsNullable)];
}

/// <summary>
/// The catalog queries of a CockroachDB source, on its own (pooled-off) connection: the server's version, the clock, the
/// tables, their columns (<c>information_schema.columns</c>, which CockroachDB fills with PostgreSQL's type names in
/// <c>udt_name</c>) and primary keys. Every column is selected as text, so the answers read the same whatever type
/// CockroachDB gives the catalog column.
/// </summary>
internal sealed class CockroachDbCatalog(NpgsqlConnection connection, string sourceName)
{
    /// <summary>Schemas never captured.</summary>
    public static readonly IReadOnlyList<string> SystemSchemas = ["pg_catalog", "information_schema", "crdb_internal", "pg_extension"];

    public async Task<string> VersionAsync(CancellationToken cancellationToken) =>
        (await ScalarAsync("SELECT version()", cancellationToken).ConfigureAwait(false)) ?? string.Empty;

    /// <summary>Whether <c>version()</c>'s text (<c>CockroachDB CCL v24.2.3 (…)</c>) names a release at or after
    /// <paramref name="major"/>.<paramref name="minor"/>; false when it names none.</summary>
    public static bool IsAtLeast(string version, int major, int minor)
    {
        var match = System.Text.RegularExpressions.Regex.Match(version, @"\bv(?<major>\d{1,4})\.(?<minor>\d{1,4})\b");
        return match.Success
            && int.Parse(match.Groups["major"].Value, CultureInfo.InvariantCulture) is var found
            && (found > major || found == major && int.Parse(match.Groups["minor"].Value, CultureInfo.InvariantCulture) >= minor);
    }

    /// <summary>Makes the catalog connection's transactions SERIALIZABLE whatever the role's or database's default:
    /// <c>cluster_logical_timestamp()</c> is refused under READ COMMITTED (23.2+).</summary>
    public async Task SerializableAsync(CancellationToken cancellationToken)
    {
        var command = new NpgsqlCommand("SET default_transaction_isolation = 'serializable'", connection);
        await using var commandScope = command.ConfigureAwait(false);
        await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>The cluster's current HLC (<c>cluster_logical_timestamp()</c>) in the cursor's form.</summary>
    public async Task<string> NowAsync(CancellationToken cancellationToken) =>
        (await ScalarAsync("SELECT cluster_logical_timestamp()::STRING", cancellationToken).ConfigureAwait(false))
        ?? throw new SourceException($"CockroachDB source '{sourceName}': cluster_logical_timestamp() returned NULL.", isTransient: true);

    public async Task<List<(string Schema, string Name)>> TablesAsync(CancellationToken cancellationToken)
    {
        var tables = new List<(string, string)>();
        var command = new NpgsqlCommand(
            "SELECT table_schema::STRING, table_name::STRING FROM information_schema.tables WHERE table_type = 'BASE TABLE' ORDER BY 1, 2", connection);
        await using var commandScope = command.ConfigureAwait(false);
        var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        await using var readerScope = reader.ConfigureAwait(false);
        while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
        {
            tables.Add((reader.GetString(0), reader.GetString(1)));
        }

        return tables;
    }

    /// <summary>Describes a table: its columns in order with types mapped like PostgreSQL's (<c>docs/type-mapping.md</c>),
    /// whether each is computed, and its primary key. Hidden columns are included: a table declared without a primary key
    /// has CockroachDB's hidden <c>rowid</c> as its key, and its changefeed rows carry it.</summary>
    /// <param name="schema">The table's schema.</param>
    /// <param name="table">The table.</param>
    /// <param name="asOf">An HLC to read the catalog as of (<c>AS OF SYSTEM TIME</c>), or null for now.</param>
    /// <param name="omit">Computed columns to leave out (virtual ones, which changefeed rows do not carry), or null.</param>
    /// <param name="cancellationToken">Cancels the queries.</param>
    public async Task<(TableDescription Description, PgColumnType[] Types, bool[] Computed)> DescribeAsync(
        string schema, string table, string? asOf, IReadOnlySet<string>? omit, CancellationToken cancellationToken)
    {
        // An HLC checked by Hlc.IsValid (digits and one point) is safe in the statement's text.
        var at = asOf is not null && Hlc.IsValid(asOf) ? $" AS OF SYSTEM TIME '{asOf}'" : string.Empty;
        var columns = new List<ColumnDescription>();
        var types = new List<PgColumnType>();
        var computed = new List<bool>();
        var command = new NpgsqlCommand(
            "SELECT column_name::STRING, ordinal_position::STRING, data_type::STRING, udt_name::STRING, is_nullable::STRING, numeric_precision::STRING, " +
            "numeric_scale::STRING, character_maximum_length::STRING, crdb_sql_type::STRING, is_generated::STRING FROM information_schema.columns" + at +
            " WHERE table_schema = $1 AND table_name = $2 ORDER BY ordinal_position", connection);
        await using (command.ConfigureAwait(false))
        {
            command.Parameters.Add(new NpgsqlParameter { Value = schema });
            command.Parameters.Add(new NpgsqlParameter { Value = table });
            var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
            await using var readerScope = reader.ConfigureAwait(false);
            while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
            {
                var isComputed = !reader.IsDBNull(9) && reader.GetString(9) is "YES" or "ALWAYS";
                if (isComputed && omit is not null && omit.Contains(reader.GetString(0)))
                {
                    continue;
                }

                computed.Add(isComputed);
                var type = CockroachDbTypes.Resolve(reader.GetString(2), reader.GetString(3), Int(reader, 5), Int(reader, 6), Int(reader, 7), reader.IsDBNull(8) ? null : reader.GetString(8));
                columns.Add(new ColumnDescription(reader.GetString(0), type.DataType, reader.GetString(4) == "YES"));
                types.Add(type);
            }
        }

        if (columns.Count == 0)
        {
            throw new SourceException($"CockroachDB source '{sourceName}': table {schema}.{table} has no columns in information_schema.columns; does it exist, and may the source's user SELECT from it?", isTransient: false);
        }

        var key = new List<string>();
        var keyCommand = new NpgsqlCommand(
            "SELECT k.column_name::STRING FROM information_schema.table_constraints c JOIN information_schema.key_column_usage k " +
            "ON k.constraint_schema = c.constraint_schema AND k.constraint_name = c.constraint_name AND k.table_name = c.table_name" + at +
            " WHERE c.constraint_type = 'PRIMARY KEY' AND c.table_schema = $1 AND c.table_name = $2 ORDER BY k.ordinal_position", connection);
        await using (keyCommand.ConfigureAwait(false))
        {
            keyCommand.Parameters.Add(new NpgsqlParameter { Value = schema });
            keyCommand.Parameters.Add(new NpgsqlParameter { Value = table });
            var reader = await keyCommand.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
            await using var readerScope = reader.ConfigureAwait(false);
            while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
            {
                key.Add(reader.GetString(0));
            }
        }

        return (new TableDescription(schema, table, columns, key), [.. types], [.. computed]);
    }

    private static int? Int(NpgsqlDataReader reader, int ordinal) =>
        reader.IsDBNull(ordinal) ? null : int.Parse(reader.GetString(ordinal), NumberStyles.Integer, CultureInfo.InvariantCulture);

    private async Task<string?> ScalarAsync(string sql, CancellationToken cancellationToken)
    {
        var command = new NpgsqlCommand(sql, connection);
        await using var commandScope = command.ConfigureAwait(false);
        return await command.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false) as string;
    }
}

/// <summary>CockroachDB's column types mapped like PostgreSQL's: <c>information_schema.columns.udt_name</c> carries
/// PostgreSQL's type name (<c>int8</c>, <c>numeric</c>, <c>_text</c> for <c>STRING[]</c>, the enum's own name), which
/// <see cref="PgColumnType.Resolve"/> maps.</summary>
internal static class CockroachDbTypes
{
    public static PgColumnType Resolve(string dataType, string udtName, int? precision, int? scale, int? length, string? crdbType)
    {
        const uint Oid = 1;
        const uint ElementOid = 2;
        var types = new Dictionary<uint, PgTypeInfo>();
        var array = udtName.StartsWith('_') || dataType == "ARRAY";
        var name = array && udtName.StartsWith('_') ? udtName[1..] : udtName;
        var element = new PgTypeInfo(array ? ElementOid : Oid, dataType == "USER-DEFINED" ? "public" : "pg_catalog", name, dataType == "USER-DEFINED" ? 'e' : 'b', 'X', 0, 0, -1, ',');
        types[element.Oid] = element;
        if (array)
        {
            types[Oid] = new PgTypeInfo(Oid, "pg_catalog", "_" + name, 'b', 'A', ElementOid, 0, -1, ',');
        }

        var modifier = name switch
        {
            "numeric" when precision is { } p && scale is { } s && crdbType is not null && crdbType.Contains('(', StringComparison.Ordinal) => (p << 16 | (s & 0x7FF)) + 4,
            "varchar" or "bpchar" when length is { } l => l + 4,
            "bit" or "varbit" when length is { } l => l,
            _ => -1,
        };
        return PgColumnType.Resolve(Oid, modifier, types, moneyScale: 2);
    }
}
